import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import hnswlib from 'hnswlib-node'
import { cleanLatex, paperContentHash, type Paper } from '../../corpus/index.js'
import { AppError } from '../../errors.js'
import { embeddingText, type ChunkOptions } from '../chunk.js'
import type { Embedder, EmbedderInfo } from '../embedders/index.js'
import { chunkCache, commitGeneration, currentToken, embedWithProgress } from './_commit.js'
import { sha256 } from './_files.js'
import {
  chunkListDigest,
  Damage,
  DOCSTORE_FILE,
  INDEX_FILE,
  isCommitted,
  isIntactRecord,
  listGenerations,
  loadGeneration,
  PAPERS_FILE,
  parseDocstore,
  readCurrent,
  readManifest,
  readVerified,
  swapCurrent,
  verifyFile,
  type ChunkMeta,
  type Manifest,
  type SaveStep,
  type StoredPaper,
} from './_generation.js'
import { lockDataDir, type LockOptions } from './_lock.js'

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
  manifest: Manifest | undefined
  /** Records by trust: a checksum-verified file first, then the intact records of a damaged one. */
  records: StoredPaper[][]
  vectors: Map<string, number[]>
  /** Embedder and chunking from a manifest that does not verify (an older format, or damaged but parseable). */
  hint: { embedder?: EmbedderInfo; chunking?: ChunkOptions }
}

/**
 * Rebuilds a damaged index from whatever is intact, holding the write lock: records from
 * `papers.json` or the copies in the docstore (only records whose content hash or chunk hash still
 * matches), across every generation, newest first; vectors from every `hnswlib.index` whose checksum
 * holds (mapped to chunks by a verified docstore or a chunk list matching the manifest); the rest is
 * re-embedded. A missing or dangling `CURRENT` beside an intact generation is just pointed at it.
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
        return await loadGeneration(dataDir, name)
      } catch (error) {
        if (!(error instanceof Damage)) throw error
        damage.push(`${name}/${error.file} ${error.reason}`)
        return undefined
      }
    }
    if (named) {
      const loaded = await check(named.name)
      if (loaded) return { action: 'intact', generation: named.name, papers: loaded.papers.length, chunks: loaded.manifest.chunks, reused: 0, embedded: 0, damage }
    } else {
      damage.push(current.kind === 'absent' ? 'CURRENT is missing' : current.kind === 'garbled' ? 'CURRENT does not name a generation' : `CURRENT names ${current.name}, which was never completed`)
      // Only the pointer is lost: point it at the newest complete generation (nothing newer was ever committed).
      const newest = committed[0]
      const loaded = newest && (await check(newest.name))
      if (newest && loaded) {
        await lock.assertHeld()
        await swapCurrent(dataDir, newest.name, options)
        return { action: 'pointed', generation: newest.name, papers: loaded.papers.length, chunks: loaded.manifest.chunks, reused: loaded.manifest.chunks, embedded: 0, damage }
      }
    }
    // Committed generations only, the one CURRENT names first: an uncommitted one is an ingest that never finished.
    const ordered = named ? [named, ...committed.filter((g) => g !== named)] : committed

    const salvaged: Salvage[] = []
    for (const g of ordered) salvaged.push(await salvage(dataDir, g.name))
    const recorded = salvaged.find((s) => s.manifest)?.manifest
    const byId = new Map<string, StoredPaper>()
    for (const s of salvaged) for (const list of s.records) for (const p of list) if (!byId.has(p.id)) byId.set(p.id, p)
    if (byId.size === 0) {
      throw new AppError('INDEX_CORRUPT', `Nothing in ${dataDir} can be salvaged (${damage.join('; ') || 'no generation'}): move it aside and ingest your sources again, e.g. \`askpapers ingest PATH --data-dir NEW_DIR\`.`)
    }
    const papers = [...byId.values()]
    const hint = salvaged.find((s) => s.hint.embedder)?.hint
    const chunking = recorded?.chunking ?? hint?.chunking ?? options.chunking
    const chunksOf = chunkCache(chunking)
    const vectors = new Map<string, number[]>()
    let info = recorded?.embedder
    for (const s of salvaged) {
      if (!info || !s.manifest || sameEmbedder(s.manifest.embedder, info)) for (const [hash, v] of s.vectors) if (!vectors.has(hash)) vectors.set(hash, v)
    }
    const missing: { text: string; hash: string }[] = []
    let total = 0
    for (const paper of papers) {
      for (const c of await chunksOf(paper)) {
        total++
        const hash = (c.doc.metadata as ChunkMeta).hash
        if (!vectors.has(hash)) missing.push({ text: c.text, hash })
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
    const { number, manifest } = await commitGeneration(dataDir, { papers, chunksOf, vectors, info, chunking, replaces: { token, generation: named?.number } }, lock, options)
    return { action: 'rebuilt', generation: `gen-${String(number).padStart(6, '0')}`, papers: papers.length, chunks: manifest.chunks, reused: total - missing.length, embedded: missing.length, damage }
  } finally {
    await lock.release()
  }
}

async function salvage(dataDir: string, name: string): Promise<Salvage> {
  const out: Salvage = { manifest: undefined, records: [], vectors: new Map(), hint: {} }
  out.manifest = await readManifest(dataDir, name).catch(() => undefined)
  if (!out.manifest) out.hint = await readFile(join(dataDir, name, 'manifest.json'), 'utf8').then(manifestHint, () => ({}))
  const m = out.manifest
  const verified = async (file: string): Promise<unknown> => (m ? JSON.parse((await readVerified(dataDir, name, m, file)).toString('utf8')) : Promise.reject(new Error('no manifest')))
  const raw = async (file: string): Promise<unknown> => JSON.parse(await readFile(join(dataDir, name, file), 'utf8'))

  const papersVerified = await verified(PAPERS_FILE).catch(() => undefined)
  const docstoreVerified = await verified(DOCSTORE_FILE).catch(() => undefined)
  const papersRaw = papersVerified ?? (await raw(PAPERS_FILE).catch(() => undefined))
  const docstoreRaw = docstoreVerified ?? (await raw(DOCSTORE_FILE).catch(() => undefined))
  const fromPapers = Array.isArray(papersRaw) ? papersRaw.filter(isIntactRecord).map((p) => ({ ...p, plainAbstract: p.plainAbstract ?? cleanLatex(p.abstract) })) : []
  const fromDocstore = docstoreRecords(docstoreRaw)
  out.records = papersVerified ? [fromPapers, fromDocstore] : docstoreVerified ? [fromDocstore, fromPapers] : [fromPapers, fromDocstore]

  // Vectors: only from an index whose checksum holds, mapped to chunk hashes by a source the manifest vouches for.
  if (!m) return out
  let hashes: string[] | undefined
  try {
    if (docstoreVerified) hashes = parseDocstore(name, docstoreVerified, m.chunks).map(([, doc]) => (doc.metadata as ChunkMeta).hash)
  } catch {
    hashes = undefined
  }
  if (!hashes && Array.isArray(papersVerified)) {
    const chunksOf = chunkCache(m.chunking)
    const derived: string[] = []
    for (const p of fromPapers) for (const c of await chunksOf(p)) derived.push((c.doc.metadata as ChunkMeta).hash)
    hashes = derived
  }
  if (!hashes || chunkListDigest(hashes) !== m.chunkList) return out
  try {
    await verifyFile(dataDir, name, m, INDEX_FILE)
  } catch {
    return out
  }
  const index = new hnswlib.HierarchicalNSW('cosine', m.embedder.dimensions)
  await index.readIndex(join(dataDir, name, INDEX_FILE))
  if (index.getCurrentCount() !== hashes.length) return out
  hashes.forEach((hash, label) => out.vectors.set(hash, index.getPoint(label)))
  return out
}

/** The paper records kept on each paper's first chunk, where that chunk's own hash still vouches for the title. */
function docstoreRecords(json: unknown): StoredPaper[] {
  if (!Array.isArray(json)) return []
  const out: StoredPaper[] = []
  for (const entry of json) {
    const doc = (Array.isArray(entry) ? entry[1] : undefined) as { pageContent?: unknown; metadata?: Partial<ChunkMeta> } | undefined
    const record = doc?.metadata?.record as Paper | undefined
    if (typeof doc?.pageContent !== 'string' || !record || typeof record.title !== 'string' || typeof record.abstract !== 'string' || !Array.isArray(record.sources)) continue
    if (record.id !== doc.metadata?.paperId || sha256(embeddingText(record.title, { text: doc.pageContent })) !== doc.metadata.hash) continue
    out.push({ ...record, contentHash: paperContentHash(record), plainAbstract: cleanLatex(record.abstract) })
  }
  return out
}

function manifestHint(text: string): Salvage['hint'] {
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
