import { readFile, rename, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { HNSWLib } from '@langchain/community/vectorstores/hnswlib'
import type { Document } from '@langchain/core/documents'
import { cleanLatex, mergeIntoIndexed, paperContentHash, type MergeConflict, type MergedRecord, type Paper } from '../../corpus/index.js'
import { AppError } from '../../errors.js'
import type { Chunk, ChunkOptions } from '../chunk.js'
import type { Embedder, EmbedderInfo } from '../embedders/index.js'
import { chunkCache, commitGeneration, embedWithProgress, type ChunksOf } from './_commit.js'
import {
  Damage,
  generationName,
  isCommitted,
  listGenerations,
  loadGeneration,
  readCurrent,
  type ChunkMeta,
  type Manifest,
  type SaveStep,
  type StoredPaper,
} from './_generation.js'
import { lockDataDir, type LockOptions, type WriteLock } from './_lock.js'

export interface IngestCounts {
  added: number
  updated: number
  unchanged: number
}

/** What an ingest did beyond the counts (issue 14). */
export interface IngestDetails {
  /** Papers whose text did not change but that were embedded again (a rebuild, a new chunking). */
  reembedded: number
  /** Records whose title or abstract differs from the indexed paper's: kept unless `replace`. */
  conflicts: MergeConflict[]
  /** Records merged into an indexed paper with another id (same normalised title). */
  merged: MergedRecord[]
}

export interface IngestPlan {
  papers: number
  chunksToEmbed: number
  chunksReused: number
  /** Set when the index holds a batch committed by an ingest that was interrupted: what was kept of it. */
  resumed?: { papers: number; of: number }
}

export interface IngestOptions extends LockOptions {
  /** Called while new chunks are embedded. */
  onProgress?: (done: number, total: number) => void
  /** Called once the number of chunks to embed is known (0 when nothing changed). */
  onPlan?: (plan: IngestPlan) => void
  /** Re-embed every indexed paper too (a new embedder): nothing is reused, and nothing is committed before the end. */
  rebuild?: boolean
  /** Let a record's title or abstract replace the indexed paper's (otherwise a reported conflict, kept). */
  replace?: boolean
  /** Ingest only into a data directory that holds no index at all (seeding a fresh clone); otherwise do nothing. */
  onlyIfEmpty?: boolean
  /**
   * Work is committed as a generation every `chunks` newly embedded chunks or `seconds` of embedding,
   * whichever comes first, so a kill loses at most that much; a resume embeds only the rest.
   */
  batch?: { chunks?: number; seconds?: number }
  /** Test hook, awaited before each step of every commit. */
  onStep?: (step: SaveStep | 'locked') => void | Promise<void>
}

const DEFAULT_BATCH = { chunks: 256, seconds: 60 }

/**
 * The persistent index: paper records, their chunks in a LangChain HNSWLib vector store, and the
 * embedder that built it. An instance is one immutable generation; `ingest` takes the directory's
 * write lock, builds on whatever generation is current by then, and commits new generations (a
 * complete directory, then an atomic swap of `CURRENT`), so readers and a kill at any moment always
 * find the previous complete one.
 */
export class PaperIndex {
  private constructor(
    readonly dataDir: string,
    readonly manifest: Manifest | undefined,
    readonly papers: Map<string, StoredPaper>,
    readonly vectors: HNSWLib | undefined,
    private readonly generation: number,
  ) {}

  /**
   * The current generation, verified (see `loadGeneration`). An empty index only when the directory
   * holds no committed generation at all; a missing or dangling `CURRENT` beside committed
   * generations is damage to repair, never a reason to start over.
   */
  static async open(dataDir: string): Promise<PaperIndex> {
    const current = await readCurrent(dataDir).catch((error: Error) => {
      throw corrupt(dataDir, `${join(dataDir, 'CURRENT')} cannot be read (${error.message})`)
    })
    if (current.kind !== 'names' || !(await isCommitted(dataDir, current.name))) {
      const committed = await committedGenerations(dataDir)
      if (current.kind === 'absent' && committed.length === 0) return new PaperIndex(dataDir, undefined, new Map(), undefined, 0)
      const pointer = join(dataDir, 'CURRENT')
      const what =
        current.kind === 'absent'
          ? `${pointer} is missing`
          : current.kind === 'garbled'
            ? `${pointer} does not name a generation ("${current.text}")`
            : `${pointer} names ${current.name}, which ${(await listGenerations(dataDir)).some((g) => g.name === current.name) ? 'was never completed' : 'does not exist'}`
      const newest = await newestIntact(dataDir, committed)
      throw corrupt(dataDir, `${what}; ${newest ? `the newest complete generation is ${newest.name} (${newest.papers} papers)` : 'no generation is complete'}`)
    }
    try {
      const g = await loadGeneration(dataDir, current.name)
      // hnswlib's default ef (10) loses true neighbours once k grows; 200 keeps recall ~1 at this size.
      g.vectors.index.setEf(200)
      return new PaperIndex(dataDir, g.manifest, new Map(g.papers.map((p) => [p.id, p])), g.vectors, g.number)
    } catch (error) {
      if (error instanceof Damage) throw corrupt(dataDir, `${join(dataDir, error.generation, error.file)} ${error.reason}`, error)
      throw corrupt(dataDir, `${join(dataDir, current.name)} cannot be read (${(error as Error).message})`, error)
    }
  }

  /**
   * What `CURRENT` names now, reading only the pointer (no hashing): a running server compares it
   * with `version` to notice a generation another process committed. Undefined when none is named.
   */
  static async committedVersion(dataDir: string): Promise<string | undefined> {
    const current = await readCurrent(dataDir).catch(() => undefined)
    return current?.kind === 'names' ? current.name : undefined
  }

  /** The generation this index was opened from ("gen-000012"); empty for an empty index. */
  get version(): string {
    return this.generation > 0 ? generationName(this.generation) : ''
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
   * Adds new papers and updates changed ones (`mergeIntoIndexed`: duplicates by id or title, a
   * different text is a conflict kept unless `replace`); papers not in `incoming` are kept (nothing
   * is removed silently). Only chunks whose text is new are embedded. Holds the directory's write lock
   * throughout and builds on the generation that is current once it has it, so concurrent ingests
   * queue instead of losing each other's papers. Returns the counts and the new index.
   */
  async ingest(
    incoming: Paper[],
    embedder: Embedder | (() => Promise<Embedder>),
    chunking: ChunkOptions,
    options: IngestOptions = {},
  ): Promise<{ counts: IngestCounts; index: PaperIndex; details: IngestDetails }> {
    const lock = await lockDataDir(this.dataDir, options)
    try {
      await options.onStep?.('locked')
      const base = await this.reopenUnderLock()
      if (options.onlyIfEmpty && !base.isEmpty) {
        options.onPlan?.({ papers: base.papers.size, chunksToEmbed: 0, chunksReused: 0 })
        return { counts: { added: 0, updated: 0, unchanged: 0 }, index: base, details: { reembedded: 0, conflicts: [], merged: [] } }
      }
      return await base.ingestLocked(incoming, embedder, chunking, options, lock)
    } finally {
      await lock.release()
    }
  }

  /**
   * Removes these papers and their chunks (`papers remove`): under the write lock, on the generation
   * current by then, committed as a new generation like an ingest; every other vector is reused.
   * Ids not indexed (any more) are left out of `removed`; nothing is committed when none is.
   */
  async remove(ids: readonly string[], options: Pick<IngestOptions, 'wait' | 'onWait' | 'onStep'> = {}): Promise<{ removed: StoredPaper[]; index: PaperIndex }> {
    const lock = await lockDataDir(this.dataDir, options)
    try {
      await options.onStep?.('locked')
      const base = await this.reopenUnderLock()
      const removed = unique([...ids]).flatMap((id) => base.papers.get(id) ?? [])
      if (removed.length === 0 || !base.manifest || !base.vectors) return { removed: [], index: base }
      if (removed.length === base.papers.size) {
        throw new AppError('BAD_INPUT', `That would remove all ${base.papers.size} papers in ${base.dataDir}; to start over, delete the directory and run \`askpapers ingest\` again.`)
      }
      const gone = new Set(removed.map((p) => p.id))
      const vectors = new Map<string, number[]>()
      for (const [label, doc] of base.vectors.docstore._docs) vectors.set((doc.metadata as ChunkMeta).hash, base.vectors.index.getPoint(Number(label)))
      const { embedder: info, chunking, partial } = base.manifest
      const keep = [...base.papers.values()].filter((p) => !gone.has(p.id))
      const index = await base.commit(keep, chunkCache(chunking), vectors, { info, chunking, ...(partial ? { partial } : {}) }, lock, options)
      return { removed, index }
    } finally {
      await lock.release()
    }
  }

  /** This generation if it is still the current one, else the one another writer committed meanwhile. */
  private async reopenUnderLock(): Promise<PaperIndex> {
    const current = await readCurrent(this.dataDir).catch(() => undefined)
    const unchanged = current?.kind === 'names' ? current.number === this.generation && this.manifest !== undefined : current?.kind === 'absent' && !this.manifest
    return unchanged ? this : PaperIndex.open(this.dataDir)
  }

  private async ingestLocked(
    incoming: Paper[],
    embedder: Embedder | (() => Promise<Embedder>),
    chunking: ChunkOptions,
    options: IngestOptions,
    lock: WriteLock,
  ): Promise<{ counts: IngestCounts; index: PaperIndex; details: IngestDetails }> {
    const startedAt = new Date().toISOString()
    // The diff (duplicates by id or title, conflicts, metadata and sources merged) is the corpus's rule.
    const diff = mergeIntoIndexed(this.papers, incoming, { replace: options.replace === true })
    const counts: IngestCounts = diff.counts
    const details: IngestDetails = { reembedded: 0, conflicts: diff.conflicts, merged: diff.merged }
    const merged = new Map(this.papers)
    const changed = new Set<string>()
    for (const paper of diff.changed) {
      merged.set(paper.id, { ...paper, contentHash: paperContentHash(paper), plainAbstract: cleanLatex(paper.abstract) })
      changed.add(paper.id)
    }
    const rebuild = options.rebuild === true
    const chunkingChanged = this.manifest !== undefined && !sameChunking(this.manifest.chunking, chunking)
    const partial = this.manifest?.partial
    if (changed.size === 0 && !chunkingChanged && !rebuild && !partial) {
      options.onPlan?.({ papers: merged.size, chunksToEmbed: 0, chunksReused: 0 })
      return { counts, index: this, details }
    }

    // Vectors of unchanged chunk texts are reused from the current generation (not on a rebuild: it changes the embedder).
    const reusable = new Map<string, number[]>()
    if (this.vectors && !rebuild) {
      for (const [label, doc] of this.vectors.docstore._docs) reusable.set((doc.metadata as ChunkMeta).hash, this.vectors.index.getPoint(Number(label)))
    }
    const chunksOf = chunkCache(chunking)
    const final = [...merged.values()]
    const work: { paper: StoredPaper; missing: { doc: Document; text: string }[] }[] = []
    let total = 0
    for (const paper of final) {
      const chunks = await chunksOf(paper)
      total += chunks.length
      const missing = chunks.filter((c) => !reusable.has((c.doc.metadata as ChunkMeta).hash))
      if (missing.length > 0) work.push({ paper, missing })
    }
    const toEmbed = work.reduce((n, w) => n + w.missing.length, 0)
    details.reembedded = work.filter((w) => !diff.newText.has(w.paper.id)).length
    options.onPlan?.({
      papers: merged.size,
      chunksToEmbed: toEmbed,
      chunksReused: total - toEmbed,
      ...(partial ? { resumed: { papers: partial.papersDone, of: partial.papersPlanned } } : {}),
    })

    let info = rebuild ? undefined : this.manifest?.embedder
    let resolved: Embedder | undefined
    if (toEmbed > 0) {
      resolved = typeof embedder === 'function' ? await embedder() : embedder
      if (!rebuild) this.assertCompatible(resolved.info)
      info = resolved.info
    }
    if (!info) throw new AppError('BAD_INPUT', 'Nothing to index: no paper has any text.')

    // Intermediate batches are committed only while every vector in them comes from one embedder and one chunking.
    const batched = !rebuild && !chunkingChanged
    const limits = { ...DEFAULT_BATCH, ...options.batch }
    // Whole papers per embedding call, as many as fill a slice: the embedder batches (and pads) within one call.
    const slice = Math.max(1, Math.min(resolved?.info.provider === 'use-lite' ? 128 : 64, limits.chunks))
    let head: PaperIndex = this
    let done = 0
    let sinceCommit = 0
    let batchStarted = performance.now()
    const finished = new Set<string>()
    for (let w = 0; w < work.length; ) {
      const group: typeof work = []
      let size = 0
      while (w < work.length && (group.length === 0 || size + work[w]!.missing.length <= slice)) {
        group.push(work[w]!)
        size += work[w]!.missing.length
        w++
      }
      const chunks = group.flatMap((g) => g.missing)
      const vectors = await embedWithProgress(resolved!, chunks.map((c) => c.text), (n) => options.onProgress?.(done + n, toEmbed))
      chunks.forEach((c, j) => reusable.set((c.doc.metadata as ChunkMeta).hash, vectors[j] ?? []))
      for (const g of group) finished.add(g.paper.id)
      done += chunks.length
      sinceCommit += chunks.length
      const due = sinceCommit >= limits.chunks || performance.now() - batchStarted >= limits.seconds * 1000
      if (batched && w < work.length && due) {
        // The papers finished so far in their new version, every other one as the current generation has it.
        const papers = final.flatMap((p) => (!changed.has(p.id) || finished.has(p.id) ? [p] : this.papers.has(p.id) ? [this.papers.get(p.id)!] : []))
        const papersDone = [...changed].filter((id) => finished.has(id)).length
        head = await head.commit(papers, chunksOf, reusable, { info, chunking, partial: { papersDone, papersPlanned: changed.size, startedAt } }, lock, options)
        sinceCommit = 0
        batchStarted = performance.now()
      }
    }
    const index = await head.commit(final, chunksOf, reusable, { info, chunking }, lock, options)
    return { counts, index, details }
  }

  /** Commits `papers` (every chunk's vector is in `vectors`) as the generation after this one. */
  private async commit(
    papers: StoredPaper[],
    chunksOf: ChunksOf,
    vectors: Map<string, number[]>,
    { info, chunking, partial }: { info: EmbedderInfo; chunking: ChunkOptions; partial?: Manifest['partial'] },
    lock: WriteLock,
    options: IngestOptions,
  ): Promise<PaperIndex> {
    const replaces = { token: this.manifest ? generationName(this.generation) : '', generation: this.manifest ? this.generation : undefined }
    const { manifest, number, store } = await commitGeneration(this.dataDir, { papers, chunksOf, vectors, info, chunking, replaces, ...(partial ? { partial } : {}) }, lock, options)
    return new PaperIndex(this.dataDir, manifest, new Map(papers.map((p) => [p.id, p])), store, number)
  }

  /** Wraps an already loaded, verified generation (used by `repair`). */
  static fromGeneration(dataDir: string, manifest: Manifest, papers: StoredPaper[], vectors: HNSWLib, generation: number): PaperIndex {
    return new PaperIndex(dataDir, manifest, new Map(papers.map((p) => [p.id, p])), vectors, generation)
  }
}

async function committedGenerations(dataDir: string): Promise<{ name: string; number: number }[]> {
  const out: { name: string; number: number }[] = []
  for (const g of await listGenerations(dataDir)) if (await isCommitted(dataDir, g.name)) out.push(g)
  return out
}

/** The newest generation that verifies completely, if any. */
export async function newestIntact(dataDir: string, committed: { name: string }[]): Promise<{ name: string; papers: number } | undefined> {
  for (const { name } of committed) {
    try {
      return { name, papers: (await loadGeneration(dataDir, name)).papers.length }
    } catch {
      // damaged: try an older one
    }
  }
  return undefined
}

const repairCommand = (dataDir: string): string => `askpapers repair --data-dir ${shellQuote(dataDir)}`
const shellQuote = (s: string): string => (/^[\w@%+=:,./-]+$/.test(s) ? s : `'${s.replaceAll("'", `'\\''`)}'`)

function corrupt(dataDir: string, what: string, cause?: unknown): AppError {
  return new AppError('INDEX_CORRUPT', `The index in ${dataDir} is damaged: ${what}. Run \`${repairCommand(dataDir)}\` to rebuild it from what is intact.`, { cause })
}

const unique = <T>(items: T[]): T[] => [...new Set(items)]
const sameChunking = (a: ChunkOptions, b: ChunkOptions): boolean => a.size === b.size && a.overlap === b.overlap
const describe = (info: { provider: string; model: string; dimensions?: number }): string =>
  `${info.provider} (${info.model}${info.dimensions ? `, ${info.dimensions} dimensions` : ''})`
