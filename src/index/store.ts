import { createHash } from 'node:crypto'
import { mkdir, open, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { HNSWLib } from '@langchain/community/vectorstores/hnswlib'
import { Document } from '@langchain/core/documents'
import type { EmbeddingsInterface } from '@langchain/core/embeddings'
import { cleanLatex, paperContentHash, type Paper } from '../corpus/index.js'
import { AppError } from '../errors.js'
import { createChunker, embeddingText, type Chunk, type ChunkOptions } from './chunk.js'
import type { Embedder, EmbedderInfo } from './embedders/index.js'

const FORMAT_VERSION = 1
const CURRENT = 'CURRENT'

export interface StoredPaper extends Paper {
  contentHash: string
  /** The abstract with LaTeX leftovers cleaned (`0.1\\%` → `0.1%`): what is chunked, searched, quoted and shown. `abstract` stays as the source gave it. */
  plainAbstract: string
}

export interface ChunkMeta {
  chunkId: string
  paperId: string
  index: number
  /** sha256 of the embedded text: a vector is reused while this is unchanged. */
  hash: string
}

export interface Manifest {
  formatVersion: number
  embedder: EmbedderInfo
  chunking: ChunkOptions
  papers: number
  chunks: number
  updatedAt: string
}

export interface IngestCounts {
  added: number
  updated: number
  unchanged: number
}

export interface IngestOptions {
  /** Called while new chunks are embedded. */
  onProgress?: (done: number, total: number) => void
  /** Called once the number of chunks to embed is known (0 when nothing changed). */
  onPlan?: (plan: { papers: number; chunksToEmbed: number; chunksReused: number }) => void
}

/**
 * The persistent index: paper records, their chunks in a LangChain HNSWLib vector store, and the
 * embedder that built it. Every save writes a complete new generation directory and then swaps the
 * one-line `CURRENT` pointer with an atomic rename, so a kill at any moment leaves the previous
 * generation loadable; stale generations are removed only after the swap.
 */
export class PaperIndex {
  private constructor(
    readonly dataDir: string,
    readonly manifest: Manifest | undefined,
    readonly papers: Map<string, StoredPaper>,
    readonly vectors: HNSWLib | undefined,
    private readonly generation: number,
  ) {}

  static async open(dataDir: string): Promise<PaperIndex> {
    const current = await readCurrent(dataDir)
    if (!current) return new PaperIndex(dataDir, undefined, new Map(), undefined, 0)
    const dir = join(dataDir, current.name)
    try {
      const manifest = JSON.parse(await readFile(join(dir, 'manifest.json'), 'utf8')) as Manifest
      if (manifest.formatVersion !== FORMAT_VERSION) {
        throw new AppError('INDEX_CORRUPT', `The index in ${dataDir} was written by another version of askpapers; run \`askpapers ingest --rebuild\`.`)
      }
      // Indexes written before LaTeX cleaning have no plainAbstract: derive it.
      const papers = (JSON.parse(await readFile(join(dir, 'papers.json'), 'utf8')) as StoredPaper[]).map((p) => ({ ...p, plainAbstract: p.plainAbstract ?? cleanLatex(p.abstract) }))
      const vectors = manifest.chunks > 0 ? await HNSWLib.load(join(dir, 'hnsw'), NO_EMBEDDINGS) : undefined
      // hnswlib's default ef (10) loses true neighbours once k grows; 200 keeps recall ~1 at this size.
      vectors?.index.setEf(200)
      return new PaperIndex(dataDir, manifest, new Map(papers.map((p) => [p.id, p])), vectors, current.generation)
    } catch (error) {
      if (error instanceof AppError) throw error
      throw new AppError('INDEX_CORRUPT', `The index in ${dataDir} cannot be read (${(error as Error).message}); run \`askpapers ingest --rebuild\`.`, { cause: error })
    }
  }

  /** A fresh, empty index over the same directory: `--rebuild` fills it and swaps it in on save. */
  static async empty(dataDir: string): Promise<PaperIndex> {
    return new PaperIndex(dataDir, undefined, new Map(), undefined, await highestGeneration(dataDir))
  }

  get isEmpty(): boolean {
    return this.papers.size === 0
  }

  /** Chunks in index order, with their paper, straight from the vector store's docstore. */
  chunks(): { chunk: Chunk; label: number }[] {
    if (!this.vectors) return []
    const out: { chunk: Chunk; label: number }[] = []
    for (const [label, doc] of this.vectors.docstore._docs) {
      const meta = doc.metadata as ChunkMeta
      out.push({ label: Number(label), chunk: { id: meta.chunkId, paperId: meta.paperId, index: meta.index, text: doc.pageContent } })
    }
    return out.sort((a, b) => a.label - b.label)
  }

  /** The `n` chunks nearest to a unit-length vector, nearest first, with cosine similarity. */
  nearestChunks(vector: number[], n: number): { label: number; similarity: number }[] {
    if (!this.vectors) return []
    const result = this.vectors.index.searchKnn(vector, Math.min(n, this.vectors.index.getCurrentCount()))
    return result.neighbors.map((label, i) => ({ label, similarity: 1 - (result.distances[i] ?? 1) }))
  }

  /**
   * A small derived record kept beside the current generation (e.g. the fusion calibration); undefined
   * when absent or unreadable, since it can always be measured again.
   */
  async readNote<T>(name: string): Promise<T | undefined> {
    if (!this.manifest) return undefined
    try {
      return JSON.parse(await readFile(join(this.dataDir, generationName(this.generation), `${name}.json`), 'utf8')) as T
    } catch {
      return undefined
    }
  }

  /** Writes a note atomically (temporary file, then rename); a failure only costs re-measuring later. */
  async writeNote(name: string, value: unknown): Promise<void> {
    if (!this.manifest) return
    const file = join(this.dataDir, generationName(this.generation), `${name}.json`)
    const tmp = `${file}.${process.pid}.tmp`
    try {
      await writeFile(tmp, JSON.stringify(value, null, 2))
      await rename(tmp, file)
    } catch {
      await rm(tmp, { force: true }).catch(() => undefined)
    }
  }

  /**
   * Refuses to mix embedders: vectors from two models live in different spaces, so adding to or
   * querying an index built by another embedder would silently return nonsense.
   */
  assertCompatible(info: Pick<EmbedderInfo, 'provider' | 'model'> & { dimensions?: number }): void {
    const built = this.manifest?.embedder
    if (!built) return
    const sameModel = built.provider === info.provider && built.model === info.model
    const sameDims = info.dimensions === undefined || info.dimensions === built.dimensions
    if (!sameModel || !sameDims) {
      throw new AppError(
        'EMBEDDER_MISMATCH',
        `The index in ${this.dataDir} was built with ${describe(built)}, not ${describe(info)}; ` +
          `use --embedder ${built.provider} to query it, or rebuild it with \`askpapers ingest --rebuild\`.`,
      )
    }
  }

  /**
   * Adds new papers and updates changed ones; papers not in `incoming` are kept (nothing is removed
   * silently). Only chunks whose text is new are embedded. Returns the counts and the new index.
   */
  async ingest(
    incoming: Paper[],
    embedder: Embedder | (() => Promise<Embedder>),
    chunking: ChunkOptions,
    options: IngestOptions = {},
  ): Promise<{ counts: IngestCounts; index: PaperIndex }> {
    const counts: IngestCounts = { added: 0, updated: 0, unchanged: 0 }
    const merged = new Map(this.papers)
    for (const paper of incoming) {
      const contentHash = paperContentHash(paper)
      const old = merged.get(paper.id)
      const next: StoredPaper = { ...paper, contentHash, plainAbstract: cleanLatex(paper.abstract), sources: unique([...(old?.sources ?? []), ...paper.sources]) }
      if (!old) counts.added++
      else if (old.contentHash !== contentHash || !sameRecord(old, next)) counts.updated++
      else {
        counts.unchanged++
        continue
      }
      merged.set(paper.id, next)
    }
    const chunkingChanged = this.manifest !== undefined && !sameChunking(this.manifest.chunking, chunking)
    if (counts.added === 0 && counts.updated === 0 && !chunkingChanged) {
      options.onPlan?.({ papers: merged.size, chunksToEmbed: 0, chunksReused: 0 })
      return { counts, index: this }
    }

    // Vectors of unchanged chunk texts are reused from the current generation.
    const reusable = new Map<string, number[]>()
    if (this.vectors) {
      for (const [label, doc] of this.vectors.docstore._docs) {
        reusable.set((doc.metadata as ChunkMeta).hash, this.vectors.index.getPoint(Number(label)))
      }
    }
    const chunker = createChunker(chunking)
    const docs: Document[] = []
    const texts: string[] = []
    for (const paper of merged.values()) {
      for (const chunk of await chunker({ ...paper, abstract: paper.plainAbstract })) {
        const text = embeddingText(paper.title, chunk)
        const meta: ChunkMeta = { chunkId: chunk.id, paperId: paper.id, index: chunk.index, hash: sha256(text) }
        docs.push(new Document({ pageContent: chunk.text, metadata: meta }))
        texts.push(text)
      }
    }
    const missing = docs.flatMap((doc, i) => (reusable.has((doc.metadata as ChunkMeta).hash) ? [] : [i]))
    options.onPlan?.({ papers: merged.size, chunksToEmbed: missing.length, chunksReused: docs.length - missing.length })

    let info = this.manifest?.embedder
    if (missing.length > 0) {
      const resolved = typeof embedder === 'function' ? await embedder() : embedder
      this.assertCompatible(resolved.info)
      info = resolved.info
      const fresh = await embedWithProgress(resolved, missing.map((i) => texts[i] ?? ''), options.onProgress)
      missing.forEach((docIndex, j) => reusable.set((docs[docIndex]?.metadata as ChunkMeta).hash, fresh[j] ?? []))
    }
    if (!info) throw new AppError('BAD_INPUT', 'Nothing to index: no paper has any text.')

    const vectors = new HNSWLib(NO_EMBEDDINGS, { space: 'cosine', numDimensions: info.dimensions })
    await vectors.addVectors(
      docs.map((doc) => reusable.get((doc.metadata as ChunkMeta).hash) ?? []),
      docs,
    )
    vectors.index.setEf(200)
    const manifest: Manifest = {
      formatVersion: FORMAT_VERSION,
      embedder: info,
      chunking,
      papers: merged.size,
      chunks: docs.length,
      updatedAt: new Date().toISOString(),
    }
    const generation = await this.save(manifest, [...merged.values()], vectors)
    return { counts, index: new PaperIndex(this.dataDir, manifest, merged, vectors, generation) }
  }

  private async save(manifest: Manifest, papers: StoredPaper[], vectors: HNSWLib): Promise<number> {
    await mkdir(this.dataDir, { recursive: true })
    const generation = Math.max(this.generation, await highestGeneration(this.dataDir)) + 1
    const name = generationName(generation)
    const dir = join(this.dataDir, name)
    await rm(dir, { recursive: true, force: true })
    await mkdir(dir, { recursive: true })
    await vectors.save(join(dir, 'hnsw'))
    await writeFile(join(dir, 'papers.json'), JSON.stringify(papers))
    await writeFile(join(dir, 'manifest.json'), JSON.stringify(manifest, null, 2))
    for (const file of ['hnsw/hnswlib.index', 'hnsw/args.json', 'hnsw/docstore.json', 'papers.json', 'manifest.json']) {
      await fsyncPath(join(dir, file))
    }
    await fsyncPath(dir)
    // The swap: CURRENT names the complete generation only after all of it is on disk.
    const tmp = join(this.dataDir, `${CURRENT}.${process.pid}.tmp`)
    await writeFile(tmp, `${name}\n`)
    await fsyncPath(tmp)
    await rename(tmp, join(this.dataDir, CURRENT))
    await fsyncPath(this.dataDir)
    await removeStaleGenerations(this.dataDir, name)
    return generation
  }
}

/** Ingest only ever stores vectors it computed itself; queries embed through the configured embedder. */
const NO_EMBEDDINGS: EmbeddingsInterface = {
  embedDocuments: () => Promise.reject(new Error('PaperIndex embeds through its Embedder, not the vector store')),
  embedQuery: () => Promise.reject(new Error('PaperIndex embeds through its Embedder, not the vector store')),
}

type ProgressEmbeddings = EmbeddingsInterface & {
  embedDocuments(texts: string[], options?: { onProgress?: (done: number, total: number) => void }): Promise<number[][]>
}

async function embedWithProgress(embedder: Embedder, texts: string[], onProgress?: (done: number, total: number) => void): Promise<number[][]> {
  const embeddings = embedder.embeddings as ProgressEmbeddings
  if (embedder.info.provider === 'use-lite') return embeddings.embedDocuments(texts, { onProgress })
  // Remote embedders get modest batches so the progress bar moves and one request stays small.
  const out: number[][] = []
  for (let i = 0; i < texts.length; i += 64) {
    out.push(...(await embeddings.embedDocuments(texts.slice(i, i + 64))))
    onProgress?.(out.length, texts.length)
  }
  return out
}

async function readCurrent(dataDir: string): Promise<{ name: string; generation: number } | undefined> {
  let text: string
  try {
    text = await readFile(join(dataDir, CURRENT), 'utf8')
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw new AppError('INDEX_CORRUPT', `Cannot read ${join(dataDir, CURRENT)}: ${(error as Error).message}`)
  }
  const name = text.trim()
  const generation = parseGeneration(name)
  if (generation === undefined) {
    throw new AppError('INDEX_CORRUPT', `${join(dataDir, CURRENT)} does not name an index generation; run \`askpapers ingest --rebuild\`.`)
  }
  return { name, generation }
}

const generationName = (n: number): string => `gen-${String(n).padStart(6, '0')}`
const parseGeneration = (name: string): number | undefined => {
  const m = /^gen-(\d{6,})$/.exec(name)
  return m ? Number(m[1]) : undefined
}

async function highestGeneration(dataDir: string): Promise<number> {
  const names = await readdir(dataDir).catch(() => [] as string[])
  return Math.max(0, ...names.map((n) => parseGeneration(n) ?? 0))
}

async function removeStaleGenerations(dataDir: string, keep: string): Promise<void> {
  for (const name of await readdir(dataDir)) {
    if ((parseGeneration(name) !== undefined && name !== keep) || /^CURRENT\.\d+\.tmp$/.test(name)) {
      await rm(join(dataDir, name), { recursive: true, force: true })
    }
  }
}

async function fsyncPath(path: string): Promise<void> {
  const handle = await open(path, 'r')
  try {
    await handle.sync()
  } finally {
    await handle.close()
  }
}

const sha256 = (text: string): string => createHash('sha256').update(text).digest('hex')
const unique = <T>(items: T[]): T[] => [...new Set(items)]
const sameChunking = (a: ChunkOptions, b: ChunkOptions): boolean => a.size === b.size && a.overlap === b.overlap
const describe = (info: { provider: string; model: string; dimensions?: number }): string =>
  `${info.provider} (${info.model}${info.dimensions ? `, ${info.dimensions} dimensions` : ''})`

function sameRecord(a: StoredPaper, b: StoredPaper): boolean {
  return JSON.stringify({ ...a, sources: undefined }) === JSON.stringify({ ...b, sources: undefined }) && a.sources.length === b.sources.length
}
