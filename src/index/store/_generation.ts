import { mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { HNSWLib } from '@langchain/community/vectorstores/hnswlib'
import type { Document } from '@langchain/core/documents'
import type { EmbeddingsInterface } from '@langchain/core/embeddings'
import { SynchronousInMemoryDocstore } from '@langchain/community/stores/doc/in_memory'
import hnswlib from 'hnswlib-node'
import { z } from 'zod'
import { paperContentHash, type Paper } from '../../corpus/index.js'
import type { ChunkOptions } from '../chunk.js'
import type { EmbedderInfo } from '../embedders/index.js'
import { digestFile, digestOf, exists, fsyncPath, sha256, type FileDigest } from './_files.js'

/*
 * On-disk layout of a data directory:
 *
 *   CURRENT              one line naming the live generation; replaced by an atomic rename
 *   gen-000007/          an immutable, complete generation
 *     papers.json        the paper records (the primary copy)
 *     hnsw/args.json     HNSWLib's arguments (space, dimensions)
 *     hnsw/docstore.json chunk label → passage and ChunkMeta; each paper's first chunk also carries its record
 *     hnsw/hnswlib.index the vectors and graph (native format: read only after its checksum holds)
 *     manifest.json      written last: counts, embedder, chunking and the size + sha256 of every file above
 *     *.json             notes (derived, re-measurable, not checksummed: e.g. fusion-calibration.json)
 *   write.lock/, write.lock.json   the writers' lock and its holder
 *
 * `manifest.files` is a map so that a later store that appends segments to a generation (instead of
 * rewriting it) can list each segment with its own checksum.
 */

export const FORMAT_VERSION = 2
export const CURRENT = 'CURRENT'
export const PAPERS_FILE = 'papers.json'
export const MANIFEST_FILE = 'manifest.json'
export const INDEX_FILE = 'hnsw/hnswlib.index'
export const ARGS_FILE = 'hnsw/args.json'
export const DOCSTORE_FILE = 'hnsw/docstore.json'
export const GENERATION_FILES = [PAPERS_FILE, ARGS_FILE, DOCSTORE_FILE, INDEX_FILE] as const

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
  /** On each paper's first chunk: the paper's record, a second copy that `repair` can fall back on. */
  record?: Paper
}

const DigestSchema = z.object({ bytes: z.number().int().nonnegative(), sha256: z.string().regex(/^[0-9a-f]{64}$/) })
const ManifestSchema = z.object({
  formatVersion: z.literal(FORMAT_VERSION),
  embedder: z.object({ provider: z.enum(['use-lite', 'ollama', 'openai']), model: z.string(), dimensions: z.number().int().positive() }),
  chunking: z.object({ size: z.number().int().nonnegative(), overlap: z.number().int().nonnegative() }),
  papers: z.number().int().nonnegative(),
  chunks: z.number().int().positive(),
  /** sha256 of the chunk hashes in label order: ties vectors to chunk texts even when the docstore is lost. */
  chunkList: z.string().regex(/^[0-9a-f]{64}$/),
  files: z.record(z.string(), DigestSchema),
  updatedAt: z.string(),
  /** Present on a batch committed by an ingest that had more to do (see `ingest`): what a resume continues. */
  partial: z.object({ papersDone: z.number().int().nonnegative(), papersPlanned: z.number().int().nonnegative(), startedAt: z.string() }).optional(),
})

export type Manifest = z.infer<typeof ManifestSchema> & { embedder: EmbedderInfo; chunking: ChunkOptions }

/** A generation file that is missing or does not hold what its manifest says; `file` is relative to the generation. */
export class Damage extends Error {
  constructor(
    readonly generation: string,
    readonly file: string,
    readonly reason: string,
  ) {
    super(`${generation}/${file} ${reason}`)
    this.name = 'Damage'
  }
}

export const generationName = (n: number): string => `gen-${String(n).padStart(6, '0')}`
export const parseGeneration = (name: string): number | undefined => {
  const m = /^gen-(\d{6,})$/.exec(name)
  return m ? Number(m[1]) : undefined
}

/** Generation directories, newest first. */
export async function listGenerations(dataDir: string): Promise<{ name: string; number: number }[]> {
  const names = await readdir(dataDir).catch(() => [] as string[])
  return names
    .flatMap((name) => {
      const number = parseGeneration(name)
      return number === undefined ? [] : [{ name, number }]
    })
    .sort((a, b) => b.number - a.number)
}

/** What `CURRENT` says: absent, a generation name, or something else (damage). */
export async function readCurrent(dataDir: string): Promise<{ kind: 'absent' } | { kind: 'names'; name: string; number: number } | { kind: 'garbled'; text: string }> {
  let text: string
  try {
    text = await readFile(join(dataDir, CURRENT), 'utf8')
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { kind: 'absent' }
    throw error
  }
  const name = text.trim()
  const number = parseGeneration(name)
  return number === undefined ? { kind: 'garbled', text: name.slice(0, 40) } : { kind: 'names', name, number }
}

/** A generation has been committed once its manifest exists: the manifest is written last. */
export const isCommitted = (dataDir: string, name: string): Promise<boolean> => exists(join(dataDir, name, MANIFEST_FILE))

export async function readManifest(dataDir: string, generation: string): Promise<Manifest> {
  let text: string
  try {
    text = await readFile(join(dataDir, generation, MANIFEST_FILE), 'utf8')
  } catch (error) {
    throw new Damage(generation, MANIFEST_FILE, (error as NodeJS.ErrnoException).code === 'ENOENT' ? 'is missing' : `cannot be read (${(error as Error).message})`)
  }
  let json: unknown
  try {
    json = JSON.parse(text)
  } catch {
    throw new Damage(generation, MANIFEST_FILE, 'is truncated or not JSON')
  }
  const version = (json as { formatVersion?: unknown } | null)?.formatVersion
  if (version !== FORMAT_VERSION) {
    throw new Damage(generation, MANIFEST_FILE, typeof version === 'number' && version < FORMAT_VERSION ? 'was written by an older askpapers, without checksums' : 'is of an unknown format version')
  }
  const parsed = ManifestSchema.safeParse(json)
  if (!parsed.success) throw new Damage(generation, MANIFEST_FILE, `is not a valid manifest (${parsed.error.issues[0]?.path.join('.') || 'shape'})`)
  return parsed.data as Manifest
}

/** Reads a generation file whose checksum the manifest lists; throws Damage unless it matches. */
export async function readVerified(dataDir: string, generation: string, manifest: Manifest, file: string): Promise<Buffer> {
  const expected = listedDigest(generation, manifest, file)
  let data: Buffer
  try {
    data = await readFile(join(dataDir, generation, file))
  } catch (error) {
    throw new Damage(generation, file, (error as NodeJS.ErrnoException).code === 'ENOENT' ? 'is missing' : `cannot be read (${(error as Error).message})`)
  }
  checkDigest(generation, file, digestOf(data), expected)
  return data
}

/** Checks a (possibly large) generation file against the manifest without holding it in memory. */
export async function verifyFile(dataDir: string, generation: string, manifest: Manifest, file: string): Promise<void> {
  const expected = listedDigest(generation, manifest, file)
  const actual = await digestFile(join(dataDir, generation, file))
  if (!actual) throw new Damage(generation, file, 'is missing')
  checkDigest(generation, file, actual, expected)
}

function listedDigest(generation: string, manifest: Manifest, file: string): FileDigest {
  const expected = manifest.files[file]
  if (!expected) throw new Damage(generation, MANIFEST_FILE, `lists no checksum for ${file}`)
  return expected
}

function checkDigest(generation: string, file: string, actual: FileDigest, expected: FileDigest): void {
  if (actual.bytes !== expected.bytes) throw new Damage(generation, file, `is ${actual.bytes} bytes long; ${MANIFEST_FILE} says ${expected.bytes}`)
  if (actual.sha256 !== expected.sha256) throw new Damage(generation, file, `does not match its checksum in ${MANIFEST_FILE}`)
}

export const parseJson = (generation: string, file: string, data: Buffer): unknown => {
  try {
    return JSON.parse(data.toString('utf8'))
  } catch {
    throw new Damage(generation, file, 'is not valid JSON')
  }
}

/** A stored record is intact when its content hash still matches its title and abstract. */
export const isIntactRecord = (value: unknown): value is StoredPaper => {
  const p = value as Partial<StoredPaper> | null
  return (
    typeof p?.id === 'string' &&
    typeof p.title === 'string' &&
    typeof p.abstract === 'string' &&
    typeof p.contentHash === 'string' &&
    Array.isArray(p.sources) &&
    p.contentHash === paperContentHash({ title: p.title, abstract: p.abstract })
  )
}

export const chunkListDigest = (hashes: readonly string[]): string => sha256(hashes.join('\n'))

export interface LoadedGeneration {
  name: string
  number: number
  manifest: Manifest
  papers: StoredPaper[]
  vectors: HNSWLib
}

/**
 * Loads a generation after verifying every file against the manifest's checksums and cross-checking
 * the counts (papers, chunks, labels, dimensions). The native index is read last, and only once its
 * checksum holds: hnswlib trusts its input and crashes the process on a damaged file.
 */
export async function loadGeneration(dataDir: string, name: string): Promise<LoadedGeneration> {
  const number = parseGeneration(name) ?? 0
  const manifest = await readManifest(dataDir, name)
  const papers = parseJson(name, PAPERS_FILE, await readVerified(dataDir, name, manifest, PAPERS_FILE))
  if (!Array.isArray(papers) || papers.length !== manifest.papers) {
    throw new Damage(name, PAPERS_FILE, `holds ${Array.isArray(papers) ? papers.length : 'no list of'} papers; ${MANIFEST_FILE} says ${manifest.papers}`)
  }
  const ids = new Set<string>()
  for (const [i, paper] of papers.entries()) {
    if (!isIntactRecord(paper)) throw new Damage(name, PAPERS_FILE, `record ${i + 1} does not match its content hash`)
    if (ids.has(paper.id)) throw new Damage(name, PAPERS_FILE, `lists paper ${paper.id} twice`)
    ids.add(paper.id)
  }
  const args = parseJson(name, ARGS_FILE, await readVerified(dataDir, name, manifest, ARGS_FILE)) as { space?: unknown; numDimensions?: unknown }
  if (args.space !== 'cosine' || args.numDimensions !== manifest.embedder.dimensions) {
    throw new Damage(name, ARGS_FILE, `says ${String(args.space)} space of ${String(args.numDimensions)} dimensions; ${MANIFEST_FILE} says cosine of ${manifest.embedder.dimensions}`)
  }
  const entries = parseDocstore(name, parseJson(name, DOCSTORE_FILE, await readVerified(dataDir, name, manifest, DOCSTORE_FILE)), manifest.chunks)
  for (const [, doc] of entries) {
    if (!ids.has((doc.metadata as ChunkMeta).paperId)) throw new Damage(name, DOCSTORE_FILE, `has a chunk of paper ${(doc.metadata as ChunkMeta).paperId}, which is not in ${PAPERS_FILE}`)
  }
  if (chunkListDigest(entries.map(([, doc]) => (doc.metadata as ChunkMeta).hash)) !== manifest.chunkList) {
    throw new Damage(name, DOCSTORE_FILE, `lists other chunks than ${MANIFEST_FILE}`)
  }
  await verifyFile(dataDir, name, manifest, INDEX_FILE)
  const index = new hnswlib.HierarchicalNSW('cosine', manifest.embedder.dimensions)
  await index.readIndex(join(dataDir, name, INDEX_FILE))
  if (index.getCurrentCount() !== manifest.chunks) throw new Damage(name, INDEX_FILE, `holds ${index.getCurrentCount()} vectors; ${MANIFEST_FILE} says ${manifest.chunks}`)
  const vectors = new HNSWLib(NO_EMBEDDINGS, { space: 'cosine', numDimensions: manifest.embedder.dimensions, index, docstore: new SynchronousInMemoryDocstore(new Map(entries)) })
  return { name, number, manifest, papers: papers as StoredPaper[], vectors }
}

/** docstore.json: `[[label, {pageContent, metadata}], …]` with labels 0…n−1 in order. */
export function parseDocstore(generation: string, json: unknown, expected: number | undefined): [string, Document][] {
  if (!Array.isArray(json)) throw new Damage(generation, DOCSTORE_FILE, 'is not a list of chunks')
  if (expected !== undefined && json.length !== expected) throw new Damage(generation, DOCSTORE_FILE, `holds ${json.length} chunks; ${MANIFEST_FILE} says ${expected}`)
  return json.map((entry: unknown, i) => {
    const [label, doc] = Array.isArray(entry) ? (entry as [unknown, Partial<Document> | undefined]) : []
    const meta = doc?.metadata as Partial<ChunkMeta> | undefined
    if (label !== String(i) || typeof doc?.pageContent !== 'string' || typeof meta?.paperId !== 'string' || typeof meta.hash !== 'string') {
      throw new Damage(generation, DOCSTORE_FILE, `chunk ${i + 1} is malformed`)
    }
    return [label, doc as Document]
  })
}

export type SaveStep = 'generation' | 'hnsw' | 'papers' | 'manifest' | 'current' | 'swap' | 'cleanup'

export interface WriteGenerationOptions {
  /** Test hook: awaited before each step of a save, so a test can pause or kill the writer at exact points. */
  onStep?: (step: SaveStep) => void | Promise<void>
}

/**
 * Writes a complete generation directory: every file, fsynced, and the manifest with their checksums
 * last. Nothing points at it yet; `swapCurrent` does that.
 */
export async function writeGeneration(
  dataDir: string,
  name: string,
  contents: { manifest: Omit<Manifest, 'files' | 'chunkList'>; papers: StoredPaper[]; vectors: HNSWLib },
  { onStep }: WriteGenerationOptions = {},
): Promise<Manifest> {
  const dir = join(dataDir, name)
  await onStep?.('generation')
  // A number above every existing generation: mkdir fails rather than write into a directory someone else made.
  await mkdir(dir)
  await mkdir(join(dir, 'hnsw'))
  await onStep?.('hnsw')
  const { vectors } = contents
  const entries = [...vectors.docstore._docs.entries()]
  await vectors.index.writeIndex(join(dir, INDEX_FILE))
  const args = JSON.stringify({ space: 'cosine', numDimensions: contents.manifest.embedder.dimensions })
  const docstore = JSON.stringify(entries)
  await writeFile(join(dir, ARGS_FILE), args)
  await writeFile(join(dir, DOCSTORE_FILE), docstore)
  await onStep?.('papers')
  const papers = JSON.stringify(contents.papers)
  await writeFile(join(dir, PAPERS_FILE), papers)
  for (const file of GENERATION_FILES) await fsyncPath(join(dir, file))
  await fsyncPath(join(dir, 'hnsw'))
  const index = await digestFile(join(dir, INDEX_FILE))
  if (!index) throw new Error(`${join(dir, INDEX_FILE)} vanished while it was being written`)
  const manifest: Manifest = {
    ...contents.manifest,
    chunkList: chunkListDigest(entries.map(([, doc]) => (doc.metadata as ChunkMeta).hash)),
    files: { [PAPERS_FILE]: digestOf(papers), [ARGS_FILE]: digestOf(args), [DOCSTORE_FILE]: digestOf(docstore), [INDEX_FILE]: index },
  }
  await onStep?.('manifest')
  await writeFile(join(dir, MANIFEST_FILE), JSON.stringify(manifest, null, 2))
  await fsyncPath(join(dir, MANIFEST_FILE))
  await fsyncPath(dir)
  return manifest
}

/** Points `CURRENT` at a generation: write a temporary file of this process, fsync, rename over. */
export async function swapCurrent(dataDir: string, name: string, { onStep }: WriteGenerationOptions = {}): Promise<void> {
  await onStep?.('current')
  const tmp = join(dataDir, `${CURRENT}.${process.pid}.tmp`)
  try {
    await writeFile(tmp, `${name}\n`)
    await fsyncPath(tmp)
    await onStep?.('swap')
    await rename(tmp, join(dataDir, CURRENT))
  } catch (error) {
    await rm(tmp, { force: true }).catch(() => undefined)
    throw error
  }
  await fsyncPath(dataDir)
}

/**
 * After `CURRENT` moved from `replaced` to a newer generation, removes the generations older than
 * `replaced`. `replaced` itself stays: a reader that read `CURRENT` just before the swap may still be
 * loading it, and it is one more intact copy for `repair`. Older ones were already superseded when
 * `replaced` was committed, by this directory's single writer, so no reader should start on them.
 */
export async function removeSuperseded(dataDir: string, replaced: number): Promise<void> {
  for (const { name, number } of await listGenerations(dataDir)) {
    if (number < replaced) await rm(join(dataDir, name), { recursive: true, force: true })
  }
}

/** Ingest only ever stores vectors it computed itself; queries embed through the configured embedder. */
export const NO_EMBEDDINGS: EmbeddingsInterface = {
  embedDocuments: () => Promise.reject(new Error('PaperIndex embeds through its Embedder, not the vector store')),
  embedQuery: () => Promise.reject(new Error('PaperIndex embeds through its Embedder, not the vector store')),
}
