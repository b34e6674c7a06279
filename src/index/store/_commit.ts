import { join } from 'node:path'
import { AppError } from '../../errors.js'
import type { ChunkOptions } from '../chunk.js'
import type { EmbedderInfo } from '../embedders/index.js'
import type { CorpusBatch } from './_contract.js'
import {
  CURRENT,
  FORMAT_VERSION,
  generationName,
  listGenerations,
  loadGeneration,
  readCurrent,
  removeSuperseded,
  swapCurrent,
  writeGeneration,
  type LoadedGeneration,
  type LoadedSegment,
  type StoredPaper,
  type Manifest,
  type ManifestSegment,
  type WriteGenerationOptions,
} from './_generation.js'
import type { WriteLock } from './_lock.js'
import { SegmentBuilder, segmentName, type SegmentRow } from './_segment.js'

/** What `CURRENT` said when a writer read its base: a commit swaps only over exactly that. */
export type CurrentToken = string
export const currentToken = async (dataDir: string): Promise<CurrentToken> => {
  const c = await readCurrent(dataDir).catch(() => ({ kind: 'garbled' as const, text: 'unreadable' }))
  return c.kind === 'absent' ? '' : c.kind === 'names' ? c.name : `?${c.text}`
}

/**
 * The newest segment is extended (its graph grown with addPoint, its files rewritten) while it
 * stays under this many chunks; a larger batch starts a segment of its own. Small, so that adding a
 * few papers to a large index rewrites at most this much.
 */
export const EXTEND_BELOW = 16_384
/**
 * Once this many segments at the end are each under `COMPACT_BELOW` live chunks, they are merged
 * into one (with the batch being committed), so many small ingests do not leave many small graphs
 * for every search to visit. Bulk batches make segments above it, which are never rewritten.
 */
export const COMPACT_RUN = 6
export const COMPACT_BELOW = 32_768

/** A writer's state between its commits: the newest segment it extends stays in memory. */
export interface CommitState {
  head: LoadedGeneration | undefined
  /** The `CURRENT` the head was read under. */
  token: CurrentToken
  open?: { name: string; builder: SegmentBuilder }
}

/** Where a live paper is in the head generation. */
export type Locate = (id: string) => { segment: string; row: number } | undefined

/**
 * Commits one batch as the generation after the head: the dead rows of the papers it replaces or
 * removes are listed, its papers go into the newest segment (extended in place: hnswlib's
 * `resizeIndex` + `addPoint`) or a new one, every other segment is hard-linked. Swaps `CURRENT`
 * only while this process holds the write lock and `CURRENT` is what the head was read under.
 */
export async function commitBatch(
  dataDir: string,
  state: CommitState,
  batch: CorpusBatch & { reset?: boolean },
  locate: Locate,
  lock: WriteLock,
  options: WriteGenerationOptions,
): Promise<LoadedGeneration> {
  const head = batch.reset ? undefined : state.head
  const dims = batch.embedder.dimensions
  if (head && head.manifest.embedder.dimensions !== dims) throw new Error(`a batch of ${dims}-dimensional vectors for an index of ${head.manifest.embedder.dimensions}`)
  const segments: ManifestSegment[] = head ? head.manifest.segments.map((s) => ({ ...s, dead: [...s.dead] })) : []
  for (const id of [...batch.upsert.map((u) => u.paper.id), ...batch.remove]) {
    const at = head ? locate(id) : undefined
    const s = at && segments.find((x) => x.name === at.segment)
    if (at && s && !s.dead.includes(at.row)) s.dead.push(at.row)
  }
  let nextSegment = Math.max(state.head?.manifest.nextSegment ?? 1, state.open ? Number(state.open.name.slice(4)) + 1 : 1)
  const newChunks = batch.upsert.reduce((n, u) => n + u.chunks.length, 0)
  let written: { name: string; builder: SegmentBuilder } | undefined
  const liveOf = (s: ManifestSegment): number => {
    const loaded = head?.segments.find((x) => x.name === s.name)
    const starts = loaded?.meta.arrays.paperChunkStart
    return s.chunks - s.dead.reduce((n, row) => n + (starts ? (starts[row + 1] ?? 0) - (starts[row] ?? 0) : 0), 0)
  }
  let run = 0
  while (run < segments.length && liveOf(segments[segments.length - 1 - run] as ManifestSegment) < COMPACT_BELOW) run++
  if (head && run >= COMPACT_RUN) {
    // Compaction: the small segments at the end, live rows only, and the batch, into one new segment.
    const merged = segments.splice(segments.length - run, run)
    const builder = SegmentBuilder.create(dims, merged.reduce((n, s) => n + liveOf(s), 0) + newChunks)
    for (const s of merged) {
      const loaded = head.segments.find((x) => x.name === s.name)
      if (!loaded) throw new Error(`segment ${s.name} is not loaded`)
      for (const row of liveRows(loaded, new Set(s.dead))) builder.add(row)
    }
    for (const row of batch.upsert) builder.add({ paper: row.paper, chunks: row.chunks })
    written = { name: segmentName(nextSegment++), builder }
    segments.push({ name: written.name, papers: builder.papers, chunks: builder.chunks, dead: [] })
  } else if (batch.upsert.length > 0) {
    const last = segments.at(-1)
    let builder: SegmentBuilder
    let dead: number[] = []
    if (head && last && last.chunks + newChunks <= EXTEND_BELOW) {
      // The open builder is this writer's own, already holding `last`; otherwise read `last` back.
      const loaded = head.segments.find((s) => s.name === last.name)
      builder = state.open?.name === last.name ? state.open.builder : await SegmentBuilder.extend(join(dataDir, head.name), last.name, loaded!.meta, newChunks)
      dead = last.dead
      segments.pop()
    } else {
      builder = SegmentBuilder.create(dims, newChunks)
    }
    for (const row of batch.upsert) builder.add({ paper: row.paper, chunks: row.chunks })
    written = { name: segmentName(nextSegment++), builder }
    segments.push({ name: written.name, papers: builder.papers, chunks: builder.chunks, dead })
  }
  const live = segments.filter((s) => s.dead.length < s.papers || s.name === written?.name)
  let papers = 0
  let chunks = 0
  for (const s of live) {
    const loaded = head?.segments.find((x) => x.name === s.name)
    papers += s.papers - s.dead.length
    chunks += s.chunks
    for (const row of s.dead) {
      const starts = loaded ? loaded.meta.arrays.paperChunkStart : undefined
      const deadChunks = starts ? (starts[row + 1] ?? 0) - (starts[row] ?? 0) : written?.name === s.name ? written.builder.chunksOfRow(row) : 0
      chunks -= deadChunks
    }
  }
  const number = Math.max(state.head?.number ?? 0, ...(await listGenerations(dataDir)).map((g) => g.number)) + 1
  const name = generationName(number)
  const manifest: Omit<Manifest, 'files'> = {
    formatVersion: FORMAT_VERSION,
    embedder: batch.embedder as EmbedderInfo,
    chunking: batch.chunking as ChunkOptions,
    papers,
    chunks,
    segments: live,
    nextSegment,
    updatedAt: new Date().toISOString(),
    ...(batch.partial ? { partial: batch.partial } : {}),
  }
  await writeGeneration(dataDir, name, { manifest, base: state.head ? { dir: join(dataDir, state.head.name), manifest: state.head.manifest } : undefined, written }, options)
  // Guards against a lock broken as stale while this writer was frozen: never swap over another writer's commit.
  await lock.assertHeld()
  if ((await currentToken(dataDir)) !== state.token) {
    throw new AppError('INDEX_LOCKED', `Another writer changed ${join(dataDir, CURRENT)} during this ingest; nothing more was committed. Run it again.`)
  }
  await swapCurrent(dataDir, name, options)
  await options.onStep?.('cleanup')
  if (state.head) await removeSuperseded(dataDir, state.head.number)
  const reuse = new Map((state.head?.segments ?? []).map((s) => [s.name, s]))
  const next = await loadGeneration(dataDir, name, { reuse, reuseIndex: new Map(written ? [[written.name, written.builder.index]] : []) })
  state.head = next
  state.token = name
  if (written) state.open = written
  return next
}

/** The live rows of a loaded segment, read back: records, chunks and their vectors. */
function* liveRows(seg: LoadedSegment, dead: Set<number>): Generator<SegmentRow> {
  const a = seg.meta.arrays
  for (let row = 0; row < seg.meta.papers; row++) {
    if (dead.has(row)) continue
    const paper = JSON.parse(seg.papers.read(a.paperOffsets[row] ?? 0, a.paperOffsets[row + 1] ?? 0)) as StoredPaper
    const chunks: SegmentRow['chunks'] = []
    for (let c = a.paperChunkStart[row] ?? 0; c < (a.paperChunkStart[row + 1] ?? 0); c++) {
      const line = JSON.parse(seg.chunks.read(a.chunkOffsets[c] ?? 0, a.chunkOffsets[c + 1] ?? 0)) as { index: number; hash: string; text: string }
      chunks.push({ chunk: { id: `${paper.id}#${line.index}`, paperId: paper.id, index: line.index, text: line.text, hash: line.hash }, vector: seg.index.getPoint(c) })
    }
    yield { paper, chunks }
  }
}
