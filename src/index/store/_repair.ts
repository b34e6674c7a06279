import { readdir, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { cleanLatex, paperContentHash, type Paper } from '../../corpus/index.js'
import { AppError } from '../../errors.js'
import { embeddingText, type ChunkOptions } from '../chunk.js'
import type { Embedder, EmbedderInfo } from '../embedders/index.js'
import { commitBatch, currentToken } from './_commit.js'
import { digestFile, sha256 } from './_files.js'
import {
  Damage,
  isCommitted,
  isIntactRecord,
  listGenerations,
  loadGeneration,
  readCurrent,
  readManifest,
  swapCurrent,
  type Manifest,
  type SaveStep,
  type StoredPaper,
} from './_generation.js'
import { chunkCache, embedWithProgress } from './_ingest.js'
import { isFormat2, salvageFormat2 } from './_legacy.js'
import { lockDataDir, type LockOptions } from './_lock.js'
import { decodeMeta, readGraph, segmentFiles } from './_segment.js'

export interface RepairOptions extends LockOptions {
  /** The embedder to re-embed with, given the one the index recorded (undefined when no manifest survives). */
  embedder: (recorded: EmbedderInfo | undefined) => Promise<Embedder>
  /** Chunking when no manifest survives to say how the index was chunked. */
  chunking: ChunkOptions
  onPlan?: (plan: { papers: number; chunksToEmbed: number; chunksReused: number }) => void
  onProgress?: (done: number, total: number) => void
  onStep?: (step: SaveStep) => void | Promise<void>
}

export interface RepairReport {
  /** `intact`: nothing to do; `pointed`: CURRENT now names the newest complete generation; `rebuilt`: a new generation from what was salvaged. */
  action: 'intact' | 'pointed' | 'rebuilt'
  generation: string
  papers: number
  chunks: number
  reused: number
  embedded: number
  /** Every damaged file found, as `gen-…/file: reason`. */
  damage: string[]
}

/** What one generation still holds that can be trusted. */
interface Salvage {
  embedder: EmbedderInfo | undefined
  chunking: ChunkOptions | undefined
  /** Whether the embedder and chunking come from a manifest that verified (else a hint from a damaged one). */
  trusted: boolean
  /** Records by trust: a checksum-verified file first, then the intact records of a damaged one. */
  records: StoredPaper[][]
  vectors: Map<string, number[]>
}

/**
 * Rebuilds a damaged index from whatever is intact, holding the write lock: records from the
 * segments' papers files or the copies on each paper's first chunk (only records whose content
 * hash or chunk hash still matches), across every generation, newest first; vectors from every
 * graph whose checksum holds (mapped to chunks by a verified chunks file); the rest is re-embedded.
 * Every file is hashed here, whatever its mtime says. A format-2 index is converted the same way.
 * A missing or dangling `CURRENT` beside an intact generation is just pointed at it.
 */
export async function repairIndex(dataDir: string, options: RepairOptions): Promise<RepairReport> {
  const lock = await lockDataDir(dataDir, options)
  try {
    const token = await currentToken(dataDir)
    const current = await readCurrent(dataDir).catch(() => ({ kind: 'garbled' as const, text: '' }))
    const committed: { name: string; number: number }[] = []
    for (const g of await listGenerations(dataDir)) if (await isCommitted(dataDir, g.name)) committed.push(g)
    const named = current.kind === 'names' ? committed.find((g) => g.name === current.name) : undefined
    const damage: string[] = []
    const check = async (name: string) => {
      try {
        return await loadGeneration(dataDir, name, { hashAll: true })
      } catch (error) {
        if (!(error instanceof Damage)) throw error
        damage.push(`${name}/${error.file} ${error.reason}`)
        return undefined
      }
    }
    if (named) {
      const loaded = await check(named.name)
      if (loaded) return { action: 'intact', generation: named.name, papers: loaded.manifest.papers, chunks: loaded.manifest.chunks, reused: 0, embedded: 0, damage }
    } else {
      damage.push(current.kind === 'absent' ? 'CURRENT is missing' : current.kind === 'garbled' ? 'CURRENT does not name a generation' : `CURRENT names ${current.name}, which was never completed`)
      // Only the pointer is lost: point it at the newest complete generation (nothing newer was ever committed).
      const newest = committed[0]
      const loaded = newest && (await check(newest.name))
      if (newest && loaded) {
        await lock.assertHeld()
        await swapCurrent(dataDir, newest.name, options)
        return { action: 'pointed', generation: newest.name, papers: loaded.manifest.papers, chunks: loaded.manifest.chunks, reused: loaded.manifest.chunks, embedded: 0, damage }
      }
    }
    // Committed generations only, the one CURRENT names first: an uncommitted one is an ingest that never finished.
    const ordered = named ? [named, ...committed.filter((g) => g !== named)] : committed

    const salvaged: Salvage[] = []
    for (const g of ordered) salvaged.push(await salvage(join(dataDir, g.name)))
    const recorded = salvaged.find((s) => s.trusted && s.embedder)
    const byId = new Map<string, StoredPaper>()
    for (const s of salvaged) for (const list of s.records) for (const p of list) if (!byId.has(p.id)) byId.set(p.id, p)
    if (byId.size === 0) {
      throw new AppError('INDEX_CORRUPT', `Nothing in ${dataDir} can be salvaged (${damage.join('; ') || 'no generation'}): move it aside and ingest your sources again, e.g. \`askpapers ingest PATH --data-dir NEW_DIR\`.`)
    }
    const papers = [...byId.values()]
    const hint = salvaged.find((s) => s.embedder)
    const chunking = recorded?.chunking ?? hint?.chunking ?? options.chunking
    const chunksOf = chunkCache(chunking)
    const vectors = new Map<string, number[]>()
    let info = recorded?.embedder
    for (const s of salvaged) {
      if (!info || !s.embedder || sameEmbedder(s.embedder, info)) for (const [hash, v] of s.vectors) if (!vectors.has(hash)) vectors.set(hash, v)
    }
    const missing: { text: string; hash: string }[] = []
    let total = 0
    for (const paper of papers) {
      for (const c of await chunksOf(paper)) {
        total++
        if (!vectors.has(c.chunk.hash)) missing.push({ text: c.text, hash: c.chunk.hash })
      }
    }
    options.onPlan?.({ papers: papers.length, chunksToEmbed: missing.length, chunksReused: total - missing.length })
    if (missing.length > 0 || !info) {
      const embedder = await options.embedder(recorded?.embedder ?? hint?.embedder)
      if (info && !sameEmbedder(info, embedder.info)) {
        throw new AppError('EMBEDDER_MISMATCH', `The index in ${dataDir} was built with ${embedder.info.provider === info.provider ? info.model : info.provider}; repair needs that embedder to re-embed ${missing.length} chunks.`)
      }
      info = embedder.info
      for (let i = 0; i < missing.length; i += 32) {
        const slice = missing.slice(i, i + 32)
        const fresh = await embedWithProgress(embedder, slice.map((m) => m.text), (n) => options.onProgress?.(i + n, missing.length))
        slice.forEach((m, j) => vectors.set(m.hash, fresh[j] ?? []))
      }
    }
    const upsert = []
    for (const paper of papers) upsert.push({ paper, chunks: (await chunksOf(paper)).map((c) => ({ chunk: c.chunk, vector: vectors.get(c.chunk.hash) ?? [] })) })
    const state = { head: undefined, token }
    const next = await commitBatch(dataDir, state, { upsert, remove: [], embedder: info, chunking, reset: true }, () => undefined, lock, options)
    return { action: 'rebuilt', generation: next.name, papers: papers.length, chunks: next.manifest.chunks, reused: total - missing.length, embedded: missing.length, damage }
  } finally {
    await lock.release()
  }
}

async function salvage(dir: string): Promise<Salvage> {
  if (await isFormat2(dir)) {
    const legacy = await salvageFormat2(dir)
    return { embedder: legacy.manifest?.embedder, chunking: legacy.manifest?.chunking, trusted: legacy.manifest !== undefined, records: legacy.records, vectors: legacy.vectors }
  }
  const name = dir.slice(dir.lastIndexOf('/') + 1)
  const manifest = await readManifest(dir.slice(0, dir.lastIndexOf('/')), name).catch(() => undefined)
  const hint = manifest ?? (await readFile(join(dir, 'manifest.json'), 'utf8').then(manifestHint, () => ({}) as Partial<Manifest>))
  const out: Salvage = { embedder: hint.embedder, chunking: hint.chunking, trusted: manifest !== undefined, records: [], vectors: new Map() }
  // Segments newest first (a newer row of a paper is its newer version); the manifest says which rows are dead.
  const listed = manifest?.segments ?? (await readdir(dir).catch(() => [] as string[])).flatMap((f) => (/^(seg-\d+)\.papers\.jsonl$/.exec(f) ? [{ name: f.slice(0, -'.papers.jsonl'.length), dead: [] as number[] }] : []))
  const segments = [...listed].sort((a, b) => b.name.localeCompare(a.name))
  const verified: StoredPaper[] = []
  const fallback: StoredPaper[] = []
  for (const s of segments) {
    const files = segmentFiles(s.name)
    const dead = new Set(s.dead)
    const holds = async (file: string): Promise<boolean> => {
      const expected = manifest?.files[file]
      const actual = await digestFile(join(dir, file)).catch(() => undefined)
      return expected !== undefined && actual !== undefined && actual.bytes === expected.bytes && actual.sha256 === expected.sha256
    }
    const papersOk = await holds(files.papers)
    const chunksOk = await holds(files.chunks)
    const paperLines = await lines(join(dir, files.papers))
    const chunkLines = await lines(join(dir, files.chunks))
    paperLines.forEach((line, row) => {
      if (dead.has(row)) return
      const p = parse(line)
      if (isIntactRecord(p)) (papersOk ? verified : fallback).push({ ...p, plainAbstract: p.plainAbstract ?? cleanLatex(p.abstract) })
    })
    // The second copies: on each paper's first chunk, vouched for by that chunk's own hash.
    const deadIds = new Set([...dead].map((row) => (parse(paperLines[row] ?? '') as { id?: string } | undefined)?.id))
    for (const line of chunkLines) {
      const c = parse(line) as { paperId?: unknown; index?: unknown; hash?: unknown; text?: unknown; record?: Paper } | undefined
      const r = c?.record
      if (!r || c.index !== 0 || typeof c.text !== 'string' || typeof r.title !== 'string' || typeof r.abstract !== 'string' || !Array.isArray(r.sources) || r.id !== c.paperId) continue
      if (deadIds.has(r.id) || sha256(embeddingText(r.title, { text: c.text })) !== c.hash) continue
      ;(papersOk ? fallback : chunksOk ? verified : fallback).push({ ...r, contentHash: paperContentHash(r), plainAbstract: cleanLatex(r.abstract) })
    }
    // Vectors: only from a graph whose checksum holds, mapped to chunk hashes by a verified chunks file,
    // read with the dimensions its verified meta.bin records (the manifest itself has no checksum).
    if (!manifest || !chunksOk || !(await holds(files.hnsw)) || !(await holds(files.meta))) continue
    let dimensions: number
    try {
      dimensions = decodeMeta(await readFile(join(dir, files.meta))).dimensions
    } catch {
      continue
    }
    if (out.embedder && out.embedder.dimensions !== dimensions) out.embedder = { ...out.embedder, dimensions }
    const graph = await readGraph(join(dir, files.hnsw), dimensions)
    if (graph.getCurrentCount() !== chunkLines.length) continue
    chunkLines.forEach((line, label) => {
      const hash = (parse(line) as { hash?: unknown } | undefined)?.hash
      if (typeof hash === 'string' && !out.vectors.has(hash)) out.vectors.set(hash, graph.getPoint(label))
    })
  }
  out.records = [verified, fallback]
  return out
}

const lines = async (file: string): Promise<string[]> =>
  readFile(file, 'utf8').then(
    (t) => t.split('\n').filter((l) => l.length > 0),
    () => [],
  )

function parse(line: string): unknown {
  try {
    return JSON.parse(line)
  } catch {
    return undefined
  }
}

function manifestHint(text: string): Partial<Manifest> {
  try {
    const m = JSON.parse(text) as { embedder?: Partial<EmbedderInfo>; chunking?: Partial<ChunkOptions> }
    const e = m.embedder
    const c = m.chunking
    return {
      ...(e && ['use-lite', 'ollama', 'openai'].includes(e.provider ?? '') && typeof e.model === 'string' && Number.isInteger(e.dimensions) ? { embedder: e as EmbedderInfo } : {}),
      ...(c && Number.isInteger(c.size) && Number.isInteger(c.overlap) ? { chunking: c as ChunkOptions } : {}),
    }
  } catch {
    return {}
  }
}

const sameEmbedder = (a: Pick<EmbedderInfo, 'provider' | 'model' | 'dimensions'>, b: Pick<EmbedderInfo, 'provider' | 'model' | 'dimensions'>): boolean =>
  a.provider === b.provider && a.model === b.model && a.dimensions === b.dimensions
