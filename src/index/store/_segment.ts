import { closeSync, openSync, readSync } from 'node:fs'
import { link, readFile, writeFile } from 'node:fs/promises'
import { availableParallelism } from 'node:os'
import { join } from 'node:path'
import hnswlib from 'hnswlib-node'
import pLimit from 'p-limit'
import { normaliseTitle, paperYear, type Paper } from '../../corpus/index.js'
import { paperDocument, termFrequencies } from '../../retrieve/index.js'
import type { StoredChunk } from './_contract.js'
import { digestOf, digestFile, fsyncPath, type FileDigest } from './_files.js'

/*
 * A segment: an immutable slice of the corpus, written once and then shared by every later
 * generation through hard links (a generation lists its segments in its manifest).
 *
 *   seg-000004.papers.jsonl  the paper records, one a line (the primary copy)
 *   seg-000004.chunks.jsonl  the chunks in label order; each paper's first carries a second copy of its record
 *   seg-000004.meta.bin      what open needs, so it parses no JSON of records and tokenizes nothing:
 *                            ids, content hashes, years, sources, line offsets, BM25 postings and
 *                            lengths of papers and chunks, chunk → paper rows, chunk hashes, and a
 *                            hash of each normalised title (an ingest's duplicate check reads only
 *                            the records whose title hash matches)
 *   seg-000004.hnsw          hnswlib's graph of the segment's chunk vectors, label = chunk row
 *
 * Rows are never renumbered: a replaced or removed paper stays in its segment and is listed as dead
 * by the manifest (its chunks are marked deleted in the graph when the segment is loaded).
 */

export const HNSW_M = 16
export const HNSW_EF_CONSTRUCTION = 200
/** hnswlib's default ef (10) loses true neighbours once k grows; 200 keeps recall ~1 at k = 120. */
export const HNSW_EF = 200

/**
 * Graph reads at a time. A read is mostly the kernel filling fresh memory (hnswlib copies the whole
 * graph into memory it allocates), and more reads than cores contend for the process's page tables:
 * 10 graphs of 130 MB took 10.2 s one at a time, 17.5 s four at a time (libuv's default pool).
 */
const readingGraphs = pLimit(Math.max(1, availableParallelism()))

/** Reads a graph file whose checksum the caller has verified: at most `readingGraphs` at a time. */
export const readGraph = (path: string, dimensions: number): Promise<hnswlib.HierarchicalNSW> =>
  readingGraphs(async () => {
    const graph = new hnswlib.HierarchicalNSW('cosine', dimensions)
    await graph.readIndex(path)
    graph.setEf(HNSW_EF)
    return graph
  })

export const segmentName = (n: number): string => `seg-${String(n).padStart(6, '0')}`
export const segmentFiles = (name: string) => ({
  papers: `${name}.papers.jsonl`,
  chunks: `${name}.chunks.jsonl`,
  meta: `${name}.meta.bin`,
  hnsw: `${name}.hnsw`,
})
export type SegmentFileKind = keyof ReturnType<typeof segmentFiles>

export interface StoredPaperLike extends Paper {
  contentHash: string
  plainAbstract: string
}

/** A row to write: one paper with its chunks (in abstract order) and their vectors. */
export interface SegmentRow {
  paper: StoredPaperLike
  chunks: { chunk: StoredChunk; vector: readonly number[] }[]
}

interface MetaHeader {
  format: 'askpapers-segment-1'
  dimensions: number
  papers: number
  chunks: number
  ids: string[]
  contentHashes: string[]
  years: (number | null)[]
  /** Source files (without `:line`) named by this segment's papers; `paperSources[row]` indexes it. */
  sourceFiles: string[]
  paperSources: number[][]
  /**
   * The BM25 vocabulary of papers and of chunks, in the order of the posting lists: sorted and
   * joined by newlines (tokens have none), so open splits one string and looks a term up by binary
   * search. Segments written before that hold an array in first-seen order.
   */
  terms: string | string[]
  chunkTerms: string | string[]
  /** Int32 array lengths, in order, after the header. */
  arrays: Record<ArrayName, number>
}

const ARRAYS = [
  'paperOffsets',
  'paperLengths',
  'paperChunkStart',
  'postingStart',
  'postingDoc',
  'postingTf',
  'chunkPostingStart',
  'chunkPostingDoc',
  'chunkOffsets',
  'chunkPaper',
  'chunkIndex',
  'chunkLengths',
  // Added after the first segments were written: absent from their headers (then undefined).
  'titleHashes',
  /** Occurrences of each chunk term in each chunk of its posting list (chunk BM25 without tokenizing). */
  'chunkPostingTf',
] as const
type ArrayName = (typeof ARRAYS)[number]
const OPTIONAL_ARRAYS: ReadonlySet<ArrayName> = new Set(['titleHashes', 'chunkPostingTf'])

/** 32-bit FNV-1a of a normalised title, as stored in `titleHashes`. */
export function titleHash(title: string): number {
  const key = normaliseTitle(title)
  let h = 0x811c9dc5
  for (let i = 0; i < key.length; i++) h = Math.imul(h ^ key.charCodeAt(i), 0x01000193)
  return h | 0
}

/** A segment's vocabulary: term → its row in the posting arrays. */
export interface TermTable {
  get(term: string): number | undefined
  entries(): Iterable<[string, number]>
  readonly size: number
}

/**
 * A sorted vocabulary, looked up by binary search. Building a Map of it instead cost 254 ms of a
 * 100 k-paper open (10 segments, ~60 k terms each), on the main thread, for the few query terms a
 * search looks up.
 */
class SortedTerms implements TermTable {
  /** The terms looked up lately: a search asks for its few terms once per candidate paper. */
  private readonly recent = new Map<string, number | undefined>()

  constructor(private readonly list: readonly string[]) {}

  get size(): number {
    return this.list.length
  }

  get(term: string): number | undefined {
    if (this.recent.has(term)) return this.recent.get(term)
    if (this.recent.size >= 4096) this.recent.clear()
    const at = this.search(term)
    this.recent.set(term, at)
    return at
  }

  private search(term: string): number | undefined {
    let lo = 0
    let hi = this.list.length - 1
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1
      const t = this.list[mid]!
      if (t === term) return mid
      if (t < term) lo = mid + 1
      else hi = mid - 1
    }
    return undefined
  }

  *entries(): Iterable<[string, number]> {
    for (let i = 0; i < this.list.length; i++) yield [this.list[i]!, i]
  }
}

/** Reads a header's vocabulary (either form, see MetaHeader.terms); throws when a sorted one is not. */
function termTable(terms: string | string[]): TermTable {
  if (Array.isArray(terms)) return new Map(terms.map((t, i) => [t, i]))
  if (typeof terms !== 'string') throw new Error('has an unreadable header')
  const list = terms === '' ? [] : terms.split('\n')
  for (let i = 1; i < list.length; i++) if (!(list[i - 1]! < list[i]!)) throw new Error('has an unsorted vocabulary')
  return new SortedTerms(list)
}

/** The parsed meta.bin of a segment: everything but the texts and the vectors. */
export interface SegmentMeta extends Omit<MetaHeader, 'arrays' | 'terms' | 'chunkTerms'> {
  terms: TermTable
  chunkTerms: TermTable
  arrays: Record<Exclude<ArrayName, 'titleHashes' | 'chunkPostingTf'>, Int32Array> & { titleHashes?: Int32Array; chunkPostingTf?: Int32Array }
  /** sha256 of each chunk's embedded text, 32 bytes a chunk. */
  hashes: Buffer
}

export const sourceFile = (source: string): string => source.replace(/:\d+$/, '')

/** BM25 document of a paper: the title counted twice, then the plain abstract. */
export const paperTerms = (paper: Pick<StoredPaperLike, 'title' | 'plainAbstract'>): { tf: Map<string, number>; length: number } =>
  termFrequencies(paperDocument(paper))

/** BM25 counts of a chunk's passage. */
const chunkTerms = (text: string): { tf: Map<string, number>; length: number } => termFrequencies([{ text, weight: 1 }])

/**
 * Accumulates the rows of one segment in memory (a new segment, or the newest one being extended)
 * and writes its four files. The graph is grown with `resizeIndex` + `addPoint`; nothing already in
 * it is rebuilt.
 */
export class SegmentBuilder {
  private readonly paperLines: Buffer[] = []
  private readonly chunkLines: Buffer[] = []
  private readonly header: Omit<MetaHeader, 'arrays' | 'format' | 'dimensions' | 'papers' | 'chunks' | 'terms' | 'chunkTerms'> = {
    ids: [],
    contentHashes: [],
    years: [],
    sourceFiles: [],
    paperSources: [],
  }
  private readonly sourceIndex = new Map<string, number>()
  private readonly postings = new Map<string, { docs: number[]; tfs: number[] }>()
  private readonly chunkPostings = new Map<string, { docs: number[]; tfs: number[] }>()
  private readonly ints: Record<'paperLengths' | 'chunkPaper' | 'chunkIndex' | 'chunkLengths' | 'paperOffsets' | 'chunkOffsets' | 'paperChunkStart' | 'titleHashes', number[]> = {
    titleHashes: [],
    paperLengths: [],
    chunkPaper: [],
    chunkIndex: [],
    chunkLengths: [],
    paperOffsets: [0],
    chunkOffsets: [0],
    paperChunkStart: [0],
  }
  private hashes: Buffer[] = []

  private constructor(
    readonly dimensions: number,
    readonly index: hnswlib.HierarchicalNSW,
    /** Bytes of the inherited papers and chunks files, kept as they are. */
    private readonly inherited: { papers: Buffer; chunks: Buffer } | undefined,
  ) {}

  static create(dimensions: number, capacity: number): SegmentBuilder {
    const index = new hnswlib.HierarchicalNSW('cosine', dimensions)
    index.initIndex(Math.max(16, capacity), HNSW_M, HNSW_EF_CONSTRUCTION)
    index.setEf(HNSW_EF)
    return new SegmentBuilder(dimensions, index, undefined)
  }

  /** Continues a written segment: its rows stay as they are (labels unchanged), new ones follow. */
  static async extend(dir: string, name: string, meta: SegmentMeta, extra: number): Promise<SegmentBuilder> {
    const files = segmentFiles(name)
    const index = await readGraph(join(dir, files.hnsw), meta.dimensions)
    index.resizeIndex(Math.max(index.getMaxElements(), meta.chunks + extra))
    const [papers, chunks] = await Promise.all([readFile(join(dir, files.papers)), readFile(join(dir, files.chunks))])
    const b = new SegmentBuilder(meta.dimensions, index, { papers, chunks })
    b.header.ids.push(...meta.ids)
    b.header.contentHashes.push(...meta.contentHashes)
    b.header.years.push(...meta.years)
    meta.sourceFiles.forEach((f, i) => b.sourceIndex.set(f, i))
    b.header.sourceFiles.push(...meta.sourceFiles)
    b.header.paperSources.push(...meta.paperSources)
    const a = meta.arrays
    for (const [term, t] of meta.terms.entries()) {
      const from = a.postingStart[t] ?? 0
      const to = a.postingStart[t + 1] ?? 0
      b.postings.set(term, { docs: Array.from(a.postingDoc.subarray(from, to)), tfs: Array.from(a.postingTf.subarray(from, to)) })
    }
    for (const [term, t] of meta.chunkTerms.entries()) {
      const from = a.chunkPostingStart[t] ?? 0
      const to = a.chunkPostingStart[t + 1] ?? 0
      b.chunkPostings.set(term, { docs: Array.from(a.chunkPostingDoc.subarray(from, to)), tfs: a.chunkPostingTf ? Array.from(a.chunkPostingTf.subarray(from, to)) : [] })
    }
    if (!a.chunkPostingTf) {
      // A segment written before chunk term counts were stored: counted once from its texts (at most EXTEND_BELOW chunks).
      const counts = Array.from({ length: meta.chunks }, (_, c) => chunkTerms((JSON.parse(lineOf(chunks, a.chunkOffsets, c)) as { text: string }).text).tf)
      for (const [term, list] of b.chunkPostings) list.tfs = list.docs.map((c) => counts[c]?.get(term) ?? 0)
    }
    if (a.titleHashes) b.ints.titleHashes.push(...a.titleHashes)
    else for (let row = 0; row < meta.papers; row++) b.ints.titleHashes.push(titleHash((JSON.parse(lineOf(papers, a.paperOffsets, row)) as { title: string }).title))
    b.ints.paperLengths.push(...a.paperLengths)
    b.ints.chunkPaper.push(...a.chunkPaper)
    b.ints.chunkIndex.push(...a.chunkIndex)
    b.ints.chunkLengths.push(...a.chunkLengths)
    b.ints.paperOffsets = Array.from(a.paperOffsets)
    b.ints.chunkOffsets = Array.from(a.chunkOffsets)
    b.ints.paperChunkStart = Array.from(a.paperChunkStart)
    b.hashes = [meta.hashes]
    return b
  }

  get papers(): number {
    return this.header.ids.length
  }

  get chunks(): number {
    return this.ints.chunkPaper.length
  }

  chunksOfRow(row: number): number {
    return (this.ints.paperChunkStart[row + 1] ?? 0) - (this.ints.paperChunkStart[row] ?? 0)
  }

  add(row: SegmentRow): void {
    const { paper } = row
    const r = this.papers
    const { plainAbstract: _plain, contentHash: _hash, ...record } = paper
    const line = Buffer.from(`${JSON.stringify(paper)}\n`)
    this.paperLines.push(line)
    this.ints.paperOffsets.push((this.ints.paperOffsets.at(-1) ?? 0) + line.length)
    this.header.ids.push(paper.id)
    this.header.contentHashes.push(paper.contentHash)
    this.header.years.push(paperYear(paper) ?? null)
    this.ints.titleHashes.push(titleHash(paper.title))
    const sources: number[] = []
    for (const file of new Set(paper.sources.map(sourceFile))) {
      let s = this.sourceIndex.get(file)
      if (s === undefined) {
        s = this.header.sourceFiles.length
        this.header.sourceFiles.push(file)
        this.sourceIndex.set(file, s)
      }
      sources.push(s)
    }
    this.header.paperSources.push(sources)
    const { tf, length } = paperTerms(paper)
    for (const [term, count] of tf) {
      let list = this.postings.get(term)
      if (!list) this.postings.set(term, (list = { docs: [], tfs: [] }))
      list.docs.push(r)
      list.tfs.push(count)
    }
    this.ints.paperLengths.push(length)
    if (this.index.getMaxElements() < this.chunks + row.chunks.length) this.index.resizeIndex(Math.max(16, 2 * (this.chunks + row.chunks.length)))
    for (const { chunk, vector } of row.chunks) {
      const label = this.chunks
      if (vector.length !== this.dimensions) throw new Error(`chunk ${chunk.id} has a vector of ${vector.length} dimensions, not ${this.dimensions}`)
      this.index.addPoint(vector as number[], label)
      const cline = Buffer.from(`${JSON.stringify({ paperId: chunk.paperId, index: chunk.index, hash: chunk.hash, text: chunk.text, ...(chunk.index === 0 ? { record } : {}) })}\n`)
      this.chunkLines.push(cline)
      this.ints.chunkOffsets.push((this.ints.chunkOffsets.at(-1) ?? 0) + cline.length)
      this.ints.chunkPaper.push(r)
      this.ints.chunkIndex.push(chunk.index)
      const { tf: counts, length: chunkLength } = chunkTerms(chunk.text)
      this.ints.chunkLengths.push(chunkLength)
      for (const [term, count] of counts) {
        let list = this.chunkPostings.get(term)
        if (!list) this.chunkPostings.set(term, (list = { docs: [], tfs: [] }))
        list.docs.push(label)
        list.tfs.push(count)
      }
      this.hashes.push(Buffer.from(chunk.hash, 'hex'))
    }
    this.ints.paperChunkStart.push(this.chunks)
  }

  /**
   * Writes the four files into `dir` (fsynced) and returns their digests; `onStep` is awaited
   * before the graph and before the records, as the crash tests expect.
   */
  async write(dir: string, name: string, onStep: (step: 'hnsw' | 'papers') => Promise<void>): Promise<Record<string, FileDigest>> {
    const files = segmentFiles(name)
    await onStep('hnsw')
    await this.index.writeIndex(join(dir, files.hnsw))
    await onStep('papers')
    const papers = Buffer.concat([...(this.inherited ? [this.inherited.papers] : []), ...this.paperLines])
    const chunks = Buffer.concat([...(this.inherited ? [this.inherited.chunks] : []), ...this.chunkLines])
    const meta = this.encodeMeta()
    await writeFile(join(dir, files.papers), papers)
    await writeFile(join(dir, files.chunks), chunks)
    await writeFile(join(dir, files.meta), meta)
    for (const f of Object.values(files)) await fsyncPath(join(dir, f))
    const hnsw = await digestFile(join(dir, files.hnsw))
    if (!hnsw) throw new Error(`${join(dir, files.hnsw)} vanished while it was being written`)
    return { [files.papers]: digestOf(papers), [files.chunks]: digestOf(chunks), [files.meta]: digestOf(meta), [files.hnsw]: hnsw }
  }

  private encodeMeta(): Buffer {
    // Sorted by code unit, the order `<` compares in (SortedTerms).
    const terms = [...this.postings.keys()].sort()
    const chunkTerms = [...this.chunkPostings.keys()].sort()
    const { start: postingStart, docs: postingDoc, tfs: postingTf } = flattenPostings(terms, this.postings)
    const { start: chunkPostingStart, docs: chunkPostingDoc, tfs: chunkPostingTf } = flattenPostings(chunkTerms, this.chunkPostings)
    const arrays: Record<ArrayName, number[]> = {
      paperOffsets: this.ints.paperOffsets,
      paperLengths: this.ints.paperLengths,
      paperChunkStart: this.ints.paperChunkStart,
      postingStart,
      postingDoc,
      postingTf,
      chunkPostingStart,
      chunkPostingDoc,
      chunkOffsets: this.ints.chunkOffsets,
      chunkPaper: this.ints.chunkPaper,
      chunkIndex: this.ints.chunkIndex,
      chunkLengths: this.ints.chunkLengths,
      titleHashes: this.ints.titleHashes,
      chunkPostingTf,
    }
    const header: MetaHeader = {
      format: 'askpapers-segment-1',
      dimensions: this.dimensions,
      papers: this.papers,
      chunks: this.chunks,
      ...this.header,
      terms: terms.join('\n'),
      chunkTerms: chunkTerms.join('\n'),
      arrays: Object.fromEntries(ARRAYS.map((a) => [a, arrays[a].length])) as Record<ArrayName, number>,
    }
    const json = Buffer.from(JSON.stringify(header))
    const pad = (4 - ((4 + json.length) % 4)) % 4
    const lengthPrefix = Buffer.alloc(4)
    lengthPrefix.writeUInt32LE(json.length + pad)
    const ints = ARRAYS.map((a) => Buffer.from(Int32Array.from(arrays[a]).buffer))
    return Buffer.concat([lengthPrefix, json, Buffer.alloc(pad, 0x20), ...ints, ...this.hashes])
  }
}

/** Parses meta.bin; throws a plain Error on anything inconsistent (the caller names the file). */
export function decodeMeta(data: Buffer): SegmentMeta {
  if (data.length < 4) throw new Error('is truncated')
  const headerLength = data.readUInt32LE(0)
  if (4 + headerLength > data.length) throw new Error('is truncated')
  let header: MetaHeader
  try {
    header = JSON.parse(data.subarray(4, 4 + headerLength).toString('utf8')) as MetaHeader
  } catch {
    throw new Error('has an unreadable header')
  }
  if (header.format !== 'askpapers-segment-1') throw new Error('is not a segment index')
  // Views on the file's bytes (no copy: at 100 k papers the copies cost 200 MB and their page faults);
  // copied only when the buffer is not 4-byte aligned, as Int32Array views need.
  let offset = 4 + headerLength
  const arrays = {} as SegmentMeta['arrays']
  for (const name of ARRAYS) {
    const n = header.arrays[name]
    if (n === undefined && OPTIONAL_ARRAYS.has(name)) continue
    if (!Number.isInteger(n) || offset + 4 * n > data.length) throw new Error('is truncated')
    const at = data.byteOffset + offset
    let view: Int32Array
    if (at % 4 === 0) view = new Int32Array(data.buffer, at, n)
    else {
      view = new Int32Array(n)
      new Uint8Array(view.buffer).set(data.subarray(offset, offset + 4 * n))
    }
    arrays[name] = view
    offset += 4 * n
  }
  const hashes = data.subarray(offset)
  if (hashes.length !== 32 * header.chunks) throw new Error(`holds ${hashes.length / 32} chunk hashes; its header says ${header.chunks}`)
  const terms = termTable(header.terms)
  const chunkTerms = termTable(header.chunkTerms)
  if (
    header.ids.length !== header.papers ||
    arrays.paperLengths.length !== header.papers ||
    arrays.paperOffsets.length !== header.papers + 1 ||
    arrays.chunkPaper.length !== header.chunks ||
    arrays.chunkOffsets.length !== header.chunks + 1 ||
    arrays.postingStart.length !== terms.size + 1 ||
    arrays.chunkPostingStart.length !== chunkTerms.size + 1 ||
    (arrays.titleHashes !== undefined && arrays.titleHashes.length !== header.papers) ||
    (arrays.chunkPostingTf !== undefined && arrays.chunkPostingTf.length !== arrays.chunkPostingDoc.length)
  ) {
    throw new Error('has inconsistent counts')
  }
  const { arrays: _a, terms: _t, chunkTerms: _c, ...rest } = header
  return { ...rest, terms, chunkTerms, arrays, hashes }
}

/** Posting lists laid end to end in term order: `start[t]..start[t + 1]` are term t's rows and counts. */
function flattenPostings(terms: readonly string[], lists: ReadonlyMap<string, { docs: number[]; tfs: number[] }>): { start: number[]; docs: number[]; tfs: number[] } {
  const start = [0]
  const docs: number[] = []
  const tfs: number[] = []
  for (const term of terms) {
    const list = lists.get(term)!
    for (let i = 0; i < list.docs.length; i++) {
      docs.push(list.docs[i]!)
      tfs.push(list.tfs[i]!)
    }
    start.push(docs.length)
  }
  return { start, docs, tfs }
}

/** Line `row` of a JSONL buffer, by its offsets. */
const lineOf = (data: Buffer, offsets: Int32Array, row: number): string => data.subarray(offsets[row] ?? 0, offsets[row + 1] ?? 0).toString('utf8')

/** Reads byte ranges of a file through a descriptor kept open: an unlinked generation stays readable. */
export class LineReader {
  private fd: number | undefined

  constructor(private readonly path: string) {
    this.fd = openSync(path, 'r')
  }

  read(from: number, to: number): string {
    return this.bytes(from, to).toString('utf8')
  }

  bytes(from: number, to: number): Buffer {
    if (this.fd === undefined) this.fd = openSync(this.path, 'r')
    const buf = Buffer.alloc(to - from)
    let done = 0
    while (done < buf.length) {
      const n = readSync(this.fd, buf, done, buf.length - done, from + done)
      if (n === 0) throw new Error(`${this.path} ends before byte ${to}`)
      done += n
    }
    return buf
  }

  close(): void {
    if (this.fd !== undefined) closeSync(this.fd)
    this.fd = undefined
  }
}

/** Hard-links a segment file of an earlier generation into a new one (the same bytes, no copy). */
export const linkInto = (fromDir: string, toDir: string, file: string): Promise<void> => link(join(fromDir, file), join(toDir, file))
