import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { cleanLatex, paperContentHash, type Paper } from '../../corpus/index.js'
import { embeddingText, type ChunkOptions } from '../chunk.js'
import type { EmbedderInfo } from '../embedders/index.js'
import { digestFile, digestOf, sha256 } from './_files.js'
import { isIntactRecord, type StoredPaper } from './_generation.js'
import { readGraph } from './_segment.js'

/*
 * Format 2 (askpapers before segments): one generation = papers.json, hnsw/{args.json,
 * docstore.json, hnswlib.index} and a manifest with the sha256 of each. It is not opened for
 * search any more (every commit rebuilt it whole); `askpapers repair` converts it, reusing every
 * vector whose checksum holds.
 */

const PAPERS_FILE = 'papers.json'
const INDEX_FILE = 'hnsw/hnswlib.index'
const DOCSTORE_FILE = 'hnsw/docstore.json'

interface LegacyManifest {
  formatVersion: 2
  embedder: EmbedderInfo
  chunking: ChunkOptions
  chunks: number
  chunkList: string
  files: Record<string, { bytes: number; sha256: string }>
}

interface ChunkMeta {
  chunkId: string
  paperId: string
  index: number
  hash: string
  record?: Paper
}

export interface LegacySalvage {
  manifest: LegacyManifest | undefined
  /** Records by trust: a checksum-verified file first, then the intact records of a damaged one. */
  records: StoredPaper[][]
  vectors: Map<string, number[]>
}

/** Whether a generation directory is laid out as format 2 (it has a papers.json). */
export const isFormat2 = (dir: string): Promise<boolean> => readFile(join(dir, PAPERS_FILE)).then(
  () => true,
  () => false,
)

/** What a format-2 generation still holds that can be trusted. */
export async function salvageFormat2(dir: string): Promise<LegacySalvage> {
  const out: LegacySalvage = { manifest: undefined, records: [], vectors: new Map() }
  try {
    const m = JSON.parse(await readFile(join(dir, 'manifest.json'), 'utf8')) as LegacyManifest
    if (m.formatVersion === 2 && m.files && m.embedder && m.chunkList) out.manifest = m
  } catch {
    // no usable manifest: records only
  }
  const m = out.manifest
  const verified = async (file: string): Promise<unknown> => {
    const expected = m?.files[file]
    const data = await readFile(join(dir, file))
    const actual = digestOf(data)
    if (!expected || actual.bytes !== expected.bytes || actual.sha256 !== expected.sha256) throw new Error('checksum')
    return JSON.parse(data.toString('utf8'))
  }
  const raw = async (file: string): Promise<unknown> => JSON.parse(await readFile(join(dir, file), 'utf8'))
  const papersVerified = await verified(PAPERS_FILE).catch(() => undefined)
  const docstoreVerified = await verified(DOCSTORE_FILE).catch(() => undefined)
  const papersRaw = papersVerified ?? (await raw(PAPERS_FILE).catch(() => undefined))
  const docstoreRaw = docstoreVerified ?? (await raw(DOCSTORE_FILE).catch(() => undefined))
  const fromPapers = Array.isArray(papersRaw) ? papersRaw.filter(isIntactRecord).map((p) => ({ ...p, plainAbstract: p.plainAbstract ?? cleanLatex(p.abstract) })) : []
  const fromDocstore = docstoreRecords(docstoreRaw)
  out.records = papersVerified ? [fromPapers, fromDocstore] : docstoreVerified ? [fromDocstore, fromPapers] : [fromPapers, fromDocstore]
  if (!m || !Array.isArray(docstoreVerified)) return out
  const hashes = docstoreVerified.map((entry: unknown) => ((Array.isArray(entry) ? entry[1] : undefined) as { metadata?: Partial<ChunkMeta> } | undefined)?.metadata?.hash)
  if (hashes.some((h) => typeof h !== 'string') || hashes.length !== m.chunks || sha256(hashes.join('\n')) !== m.chunkList) return out
  const index = m.files[INDEX_FILE]
  const actual = await digestFile(join(dir, INDEX_FILE))
  if (!index || !actual || actual.bytes !== index.bytes || actual.sha256 !== index.sha256) return out
  const graph = await readGraph(join(dir, INDEX_FILE), m.embedder.dimensions)
  if (graph.getCurrentCount() !== hashes.length) return out
  hashes.forEach((hash, label) => out.vectors.set(hash as string, graph.getPoint(label)))
  return out
}

/** The paper records kept on each paper's first chunk, where that chunk's own hash still vouches for the title. */
function docstoreRecords(json: unknown): StoredPaper[] {
  if (!Array.isArray(json)) return []
  const out: StoredPaper[] = []
  for (const entry of json) {
    const doc = (Array.isArray(entry) ? entry[1] : undefined) as { pageContent?: unknown; metadata?: Partial<ChunkMeta> } | undefined
    const record = doc?.metadata?.record
    if (typeof doc?.pageContent !== 'string' || !record || typeof record.title !== 'string' || typeof record.abstract !== 'string' || !Array.isArray(record.sources)) continue
    if (record.id !== doc.metadata?.paperId || sha256(embeddingText(record.title, { text: doc.pageContent })) !== doc.metadata.hash) continue
    out.push({ ...record, contentHash: paperContentHash(record), plainAbstract: cleanLatex(record.abstract) })
  }
  return out
}
