import { mkdir, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import hnswlib from 'hnswlib-node'
import { z } from 'zod'
import { paperContentHash, type Paper } from '../../corpus/index.js'
import type { ChunkOptions } from '../chunk.js'
import type { EmbedderInfo } from '../embedders/index.js'
import { digestFile, exists, fsyncPath, writeFileAtomic, type FileDigest } from './_files.js'
import { decodeMeta, LineReader, linkInto, readGraph, segmentFiles, type SegmentBuilder, type SegmentMeta } from './_segment.js'

/*
 * On-disk layout of a data directory (format 3):
 *
 *   CURRENT              one line naming the live generation; replaced by an atomic rename
 *   gen-000007/          an immutable, complete generation
 *     seg-000003.*       its segments (see _segment.ts): hard links to the files an earlier
 *                        generation wrote, plus the one segment this commit wrote or extended
 *     manifest.json      written last: counts, embedder, chunking, the segments with their dead
 *                        papers, and the size + sha256 of every segment file
 *     verified.json      which files open has already hashed (size, mtime, inode): not trusted for content
 *     *.json             notes (derived, re-measurable, not checksummed: e.g. fusion-calibration.json)
 *   write.lock/, write.lock.json   the writers' lock and its holder
 *
 * A commit costs what it changes: files of untouched segments are linked, not copied; the newest
 * segment is extended (its graph grown with addPoint) while it is small, else a new one is started.
 *
 * Checksums: every file's sha256 is computed once, when it is written, and recorded in the manifest.
 * Open verifies a file by its size always, and by its sha256 unless its (size, mtime, inode) are the
 * ones recorded when it was written or last hashed: hashing a 100 k-paper index (~1.5 GB) would cost
 * more than the whole 2 s open budget. Anything that rewrites a file changes its mtime, so every
 * damage a person or a program does is hashed and caught; a bit flipped by the disk under an
 * unchanged mtime is not (`askpapers repair --check` hashes everything).
 */

export const FORMAT_VERSION = 3
export const CURRENT = 'CURRENT'
export const MANIFEST_FILE = 'manifest.json'
export const VERIFIED_FILE = 'verified.json'

export interface StoredPaper extends Paper {
  contentHash: string
  /** The abstract with LaTeX leftovers cleaned (`0.1\\%` → `0.1%`): what is chunked, searched, quoted and shown. `abstract` stays as the source gave it. */
  plainAbstract: string
}

const StatSchema = z.object({ mtimeMs: z.number(), ino: z.number() })
const DigestSchema = z.object({ bytes: z.number().int().nonnegative(), sha256: z.string().regex(/^[0-9a-f]{64}$/), written: StatSchema.optional() })
const SegmentSchema = z.object({
  name: z.string().regex(/^seg-\d{6,}$/),
  /** Rows in the segment, dead ones included. */
  papers: z.number().int().nonnegative(),
  chunks: z.number().int().nonnegative(),
  /** Rows of this segment whose paper was replaced by a newer version or removed. */
  dead: z.array(z.number().int().nonnegative()),
})
const ManifestSchema = z.object({
  formatVersion: z.literal(FORMAT_VERSION),
  embedder: z.object({ provider: z.enum(['use-lite', 'ollama', 'openai']), model: z.string(), dimensions: z.number().int().positive() }),
  chunking: z.object({ size: z.number().int().nonnegative(), overlap: z.number().int().nonnegative() }),
  /** Live papers and chunks. */
  papers: z.number().int().nonnegative(),
  chunks: z.number().int().nonnegative(),
  segments: z.array(SegmentSchema),
  nextSegment: z.number().int().positive(),
  files: z.record(z.string(), DigestSchema),
  updatedAt: z.string(),
  /** Present on a batch committed by an ingest that had more to do (see `ingest`): what a resume continues. */
  partial: z.object({ papersDone: z.number().int().nonnegative(), papersPlanned: z.number().int().nonnegative(), startedAt: z.string() }).optional(),
})

export type ManifestSegment = z.infer<typeof SegmentSchema>
export type Manifest = z.infer<typeof ManifestSchema> & { embedder: EmbedderInfo; chunking: ChunkOptions }
type ListedDigest = z.infer<typeof DigestSchema>

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
    throw new Damage(
      generation,
      MANIFEST_FILE,
      version === 2
        ? 'was written by an older askpapers (format 2, rebuilt whole on every change): repair converts it to the current layout, reusing its vectors'
        : typeof version === 'number' && version < FORMAT_VERSION
          ? 'was written by an older askpapers, without checksums'
          : 'is of an unknown format version',
    )
  }
  const parsed = ManifestSchema.safeParse(json)
  if (!parsed.success) throw new Damage(generation, MANIFEST_FILE, `is not a valid manifest (${parsed.error.issues[0]?.path.join('.') || 'shape'})`)
  return parsed.data as Manifest
}

type Seen = Record<string, { bytes: number; mtimeMs: number; ino: number }>

/**
 * Checks one file against the manifest: its size always; its sha256 unless its stat is the one
 * recorded when it was written or last hashed. `hashAll` hashes regardless (repair).
 */
async function verify(dataDir: string, generation: string, manifest: Manifest, file: string, seen: Seen, hashAll: boolean): Promise<boolean> {
  const expected: ListedDigest | undefined = manifest.files[file]
  if (!expected) throw new Damage(generation, MANIFEST_FILE, `lists no checksum for ${file}`)
  const path = join(dataDir, generation, file)
  const info = await stat(path).catch(() => undefined)
  if (!info?.isFile()) throw new Damage(generation, file, 'is missing')
  if (info.size !== expected.bytes) throw new Damage(generation, file, `is ${info.size} bytes long; ${MANIFEST_FILE} says ${expected.bytes}`)
  const same = (s: { mtimeMs: number; ino: number } | undefined): boolean => s !== undefined && s.mtimeMs === info.mtimeMs && s.ino === info.ino
  if (!hashAll && (same(expected.written) || (same(seen[file]) && seen[file]?.bytes === info.size))) return false
  const actual = (await digestFile(path)) as FileDigest
  if (actual.sha256 !== expected.sha256) throw new Damage(generation, file, `does not match its checksum in ${MANIFEST_FILE}`)
  seen[file] = { bytes: info.size, mtimeMs: info.mtimeMs, ino: info.ino }
  return true
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

/** One segment as a loaded generation holds it. */
export interface LoadedSegment {
  name: string
  meta: SegmentMeta
  index: hnswlib.HierarchicalNSW
  papers: LineReader
  chunks: LineReader
  /** Dead paper rows (replaced or removed), and their chunks' labels, marked deleted in `index`. */
  deadRows: Set<number>
  /** Labels at or above this are not part of this generation (the writer's graph may have grown since). */
  chunkRows: number
}

export interface LoadedGeneration {
  name: string
  number: number
  manifest: Manifest
  segments: LoadedSegment[]
}

/**
 * Loads a generation after checking every file against the manifest (see the top of this file)
 * and cross-checking the counts (papers, chunks, dimensions, dead papers). A graph is read only
 * once its checksum holds: hnswlib trusts its input and crashes the process on a damaged file.
 * `reuse` hands in segments already loaded (by the writer that just committed, or by the previous
 * generation), so a commit does not re-read what it did not change.
 */
export async function loadGeneration(
  dataDir: string,
  name: string,
  {
    hashAll = false,
    reuse = new Map<string, LoadedSegment>(),
    reuseIndex = new Map<string, hnswlib.HierarchicalNSW>(),
  }: { hashAll?: boolean; reuse?: Map<string, LoadedSegment>; reuseIndex?: Map<string, hnswlib.HierarchicalNSW> } = {},
): Promise<LoadedGeneration> {
  const number = parseGeneration(name) ?? 0
  const manifest = await readManifest(dataDir, name)
  const dims = manifest.embedder.dimensions
  const seenFile = join(dataDir, name, VERIFIED_FILE)
  const seen = (await readFile(seenFile, 'utf8').then(
    (t) => JSON.parse(t) as Seen,
    () => ({}),
  )) as Seen
  let hashed = false
  const segments = await Promise.all(
    manifest.segments.map(async (s): Promise<LoadedSegment> => {
      const files = segmentFiles(s.name)
      for (const f of Object.values(files)) if (await verify(dataDir, name, manifest, f, seen, hashAll)) hashed = true
      const reused = reuse.get(s.name)
      // The graph read starts first (once its checksum holds): it is most of an open and runs off
      // the main thread, while the meta below is decoded on it.
      const known = reused?.index ?? reuseIndex.get(s.name)
      const reading = known ? undefined : readGraph(join(dataDir, name, files.hnsw), dims)
      reading?.catch(() => undefined)
      let meta: SegmentMeta
      if (reused) meta = reused.meta
      else {
        try {
          meta = decodeMeta(await readFile(join(dataDir, name, files.meta)))
        } catch (error) {
          throw new Damage(name, files.meta, (error as Error).message)
        }
      }
      if (meta.papers !== s.papers || meta.chunks !== s.chunks) throw new Damage(name, files.meta, `holds ${meta.papers} papers and ${meta.chunks} chunks; ${MANIFEST_FILE} says ${s.papers} and ${s.chunks}`)
      if (meta.dimensions !== dims) throw new Damage(name, MANIFEST_FILE, `says ${dims} dimensions; ${files.meta} says ${meta.dimensions}`)
      const deadRows = new Set<number>()
      for (const row of s.dead) {
        if (row >= meta.papers) throw new Damage(name, MANIFEST_FILE, `lists row ${row} of ${s.name} as dead; it holds ${meta.papers}`)
        deadRows.add(row)
      }
      const index = known ?? (await reading!)
      if (reading && index.getCurrentCount() !== s.chunks) throw new Damage(name, files.hnsw, `holds ${index.getCurrentCount()} vectors; ${MANIFEST_FILE} says ${s.chunks}`)
      const deleted = new Set(reused ? [...reused.deadRows] : [])
      for (const row of deadRows) {
        if (deleted.has(row)) continue
        for (let c = meta.arrays.paperChunkStart[row] ?? 0; c < (meta.arrays.paperChunkStart[row + 1] ?? 0); c++) markDeleted(index, c)
      }
      return {
        name: s.name,
        meta,
        index,
        papers: reused?.papers ?? new LineReader(join(dataDir, name, files.papers)),
        chunks: reused?.chunks ?? new LineReader(join(dataDir, name, files.chunks)),
        deadRows,
        chunkRows: s.chunks,
      }
    }),
  )
  let papers = 0
  let chunks = 0
  for (const s of segments) {
    papers += s.meta.papers - s.deadRows.size
    let dead = 0
    for (const row of s.deadRows) dead += (s.meta.arrays.paperChunkStart[row + 1] ?? 0) - (s.meta.arrays.paperChunkStart[row] ?? 0)
    chunks += s.meta.chunks - dead
  }
  if (papers !== manifest.papers || chunks !== manifest.chunks) throw new Damage(name, MANIFEST_FILE, `says ${manifest.papers} papers in ${manifest.chunks} chunks; its segments hold ${papers} in ${chunks}`)
  if (hashed) await writeFileAtomic(seenFile, JSON.stringify(seen)).catch(() => undefined)
  return { name, number, manifest, segments }
}

/** Marks a label deleted; a graph written after an earlier mark already has it (hnswlib throws then). */
export function markDeleted(index: hnswlib.HierarchicalNSW, label: number): void {
  try {
    index.markDelete(label)
  } catch {
    // already marked
  }
}

export type SaveStep = 'generation' | 'hnsw' | 'papers' | 'manifest' | 'current' | 'swap' | 'cleanup'

export interface WriteGenerationOptions {
  /** Test hook: awaited before each step of a save, so a test can pause or kill the writer at exact points. */
  onStep?: (step: SaveStep) => void | Promise<void>
}

/**
 * Writes a complete generation directory: links of the kept segments' files from `base`, the files
 * of the segment `written` (if any), fsynced, and the manifest with every checksum last. Nothing
 * points at it yet; `swapCurrent` does that.
 */
export async function writeGeneration(
  dataDir: string,
  name: string,
  contents: { manifest: Omit<Manifest, 'files'>; base: { dir: string; manifest: Manifest } | undefined; written: { name: string; builder: SegmentBuilder } | undefined },
  { onStep }: WriteGenerationOptions = {},
): Promise<Manifest> {
  const dir = join(dataDir, name)
  await onStep?.('generation')
  // A number above every existing generation: mkdir fails rather than write into a directory someone else made.
  await mkdir(dir)
  const files: Manifest['files'] = {}
  for (const s of contents.manifest.segments) {
    if (s.name === contents.written?.name) continue
    if (!contents.base) throw new Error(`segment ${s.name} has no generation to link it from`)
    for (const f of Object.values(segmentFiles(s.name))) {
      await linkInto(contents.base.dir, dir, f)
      const listed = contents.base.manifest.files[f]
      if (!listed) throw new Error(`${contents.base.dir}/${MANIFEST_FILE} lists no checksum for ${f}`)
      files[f] = listed
    }
  }
  if (contents.written) {
    const digests = await contents.written.builder.write(dir, contents.written.name, async (step) => {
      await onStep?.(step)
    })
    for (const [f, digest] of Object.entries(digests)) {
      const info = await stat(join(dir, f))
      files[f] = { ...digest, written: { mtimeMs: info.mtimeMs, ino: info.ino } }
    }
  } else {
    await onStep?.('hnsw')
    await onStep?.('papers')
  }
  const manifest: Manifest = { ...contents.manifest, files }
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
 * Removing a directory only unlinks: segments shared with newer generations keep their data, and a
 * reader that still has a file open keeps reading it.
 */
export async function removeSuperseded(dataDir: string, replaced: number): Promise<void> {
  for (const { name, number } of await listGenerations(dataDir)) {
    if (number < replaced) await rm(join(dataDir, name), { recursive: true, force: true })
  }
}
