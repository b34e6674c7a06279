import { readFile, rename, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { matchesFilter, normaliseTitle, type Paper } from '../../corpus/index.js'
import { AppError } from '../../errors.js'
import { bm25Idf, tokenize } from '../../retrieve/index.js'
import type { ChunkOptions } from '../chunk.js'
import type { Embedder, EmbedderInfo } from '../embedders/index.js'
import { commitBatch, currentToken, type CommitState } from './_commit.js'
import type {
  ChunkNeighbour,
  CorpusBatch,
  CorpusReader,
  CorpusWriter,
  PaperFilter,
  ScoredId,
  StoreInfo,
  StoredChunk,
  TermStats,
  WriteSession,
} from './_contract.js'
import {
  Damage,
  generationName,
  isCommitted,
  listGenerations,
  loadGeneration,
  readCurrent,
  type LoadedGeneration,
  type LoadedSegment,
  type Manifest,
  type SaveStep,
  type StoredPaper,
} from './_generation.js'
import { ingestPapers, assertEmbedder, type IngestCounts, type IngestDetails, type IngestOptions } from './_ingest.js'
import { lockDataDir, type LockOptions } from './_lock.js'
import { HNSW_EF, titleHash } from './_segment.js'
import { topAcross } from './_top.js'

const K1 = 1.2
const B = 0.75

interface Loc {
  /** Position of the segment in the generation. */
  s: number
  row: number
}

/**
 * The embedded store: a data directory of immutable generations (see `_generation.ts`), each a
 * list of segments. An instance is one generation, loaded once: the BM25 postings, lengths and
 * chunk → paper rows of every segment, and its HNSW graph; paper records and chunk texts are read
 * from their files on demand (through descriptors held open, so a generation a writer removes stays
 * readable). Writers go through `lock()` (or `ingest`, which uses it): one at a time per directory.
 */
export class PaperIndex implements CorpusReader, CorpusWriter {
  private readonly where = new Map<string, Loc>()
  private readonly order: string[] = []
  private readonly segments: LoadedSegment[]
  private readonly totalLength: number
  private readonly liveChunks: number
  private readonly totalChunkLength: number
  private readonly dfCache = new Map<string, number>()
  private readonly chunkDfCache = new Map<string, number>()
  /** Row key = segment base + row; the last entry is the number of rows. */
  private readonly bases: number[] = []
  private scratch: Float64Array | undefined
  private locations: Map<string, { s: number; label: number }> | undefined
  /** The records of this generation as a read-only map, each read from its file when asked for. */
  readonly records: ReadonlyMap<string, StoredPaper>

  private constructor(
    readonly dataDir: string,
    private readonly gen: LoadedGeneration | undefined,
  ) {
    this.segments = gen?.segments ?? []
    let rows = 0
    for (const seg of this.segments) {
      this.bases.push(rows)
      rows += seg.meta.papers
    }
    this.bases.push(rows)
    let total = 0
    let chunks = 0
    let chunkLength = 0
    this.segments.forEach((seg, s) => {
      const a = seg.meta.arrays
      for (let row = 0; row < seg.meta.papers; row++) {
        if (seg.deadRows.has(row)) continue
        const id = seg.meta.ids[row] ?? ''
        this.where.set(id, { s, row })
        this.order.push(id)
        total += a.paperLengths[row] ?? 0
        for (let c = a.paperChunkStart[row] ?? 0; c < (a.paperChunkStart[row + 1] ?? 0); c++) {
          chunks++
          chunkLength += a.chunkLengths[c] ?? 0
        }
      }
    })
    this.totalLength = total
    this.liveChunks = chunks
    this.totalChunkLength = chunkLength
    this.records = new LazyRecords(this)
  }

  /**
   * The current generation, verified (see `loadGeneration`). An empty index only when the directory
   * holds no committed generation at all; a missing or dangling `CURRENT` beside committed
   * generations is damage to repair, never a reason to start over. Segments `previous` already
   * loaded are reused (a server swapping in a new generation reads only what changed).
   */
  static async open(dataDir: string, { previous }: { previous?: PaperIndex } = {}): Promise<PaperIndex> {
    const current = await readCurrent(dataDir).catch((error: Error) => {
      throw corrupt(dataDir, `${join(dataDir, 'CURRENT')} cannot be read (${error.message})`)
    })
    if (current.kind !== 'names' || !(await isCommitted(dataDir, current.name))) {
      const committed = await committedGenerations(dataDir)
      if (current.kind === 'absent' && committed.length === 0) return new PaperIndex(dataDir, undefined)
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
      const reuse = new Map((previous?.segments ?? []).map((s) => [s.name, s]))
      return new PaperIndex(dataDir, await loadGeneration(dataDir, current.name, { reuse }))
    } catch (error) {
      if (error instanceof Damage) throw corrupt(dataDir, `${join(dataDir, error.generation, error.file)} ${error.reason}`, error)
      throw corrupt(dataDir, `${join(dataDir, current.name)} cannot be read (${(error as Error).message})`, error)
    }
  }

  /** Wraps a generation a writer just committed. */
  static fromGeneration(dataDir: string, gen: LoadedGeneration): PaperIndex {
    return new PaperIndex(dataDir, gen)
  }

  /**
   * What `CURRENT` names now, reading only the pointer (no hashing): a running server compares it
   * with `version` to notice a generation another process committed. Undefined when none is named.
   */
  static async committedVersion(dataDir: string): Promise<string | undefined> {
    const current = await readCurrent(dataDir).catch(() => undefined)
    return current?.kind === 'names' ? current.name : undefined
  }

  get manifest(): Manifest | undefined {
    return this.gen?.manifest
  }

  /** The generation this index was opened from ("gen-000012"); empty for an empty index. */
  get version(): string {
    return this.gen ? generationName(this.gen.number) : ''
  }

  get isEmpty(): boolean {
    return this.order.length === 0
  }

  info(): StoreInfo {
    const m = this.gen?.manifest
    return {
      kind: 'embedded',
      location: this.dataDir,
      version: this.version,
      papers: this.order.length,
      chunks: this.liveChunks,
      ...(m ? { embedder: m.embedder, chunking: m.chunking } : {}),
      ...(m?.partial ? { partial: m.partial } : {}),
    }
  }

  /** Refuses to mix embedders (see `assertEmbedder`). */
  assertCompatible(info: Pick<EmbedderInfo, 'provider' | 'model'> & { dimensions?: number }): void {
    assertEmbedder(this.info(), info)
  }

  /** Vectors in the graphs that belong to live chunks: a cross-check independent of the records. */
  graphVectors(): number {
    let n = 0
    for (const seg of this.segments) {
      n += Math.min(seg.index.getCurrentCount(), seg.chunkRows)
      for (const row of seg.deadRows) n -= this.chunkRange(seg, row).length
    }
    return n
  }

  // ---- CorpusReader ----

  async papers(ids: readonly string[]): Promise<StoredPaper[]> {
    return ids.flatMap((id) => {
      const p = this.recordOf(id)
      return p ? [p] : []
    })
  }

  async paperIds(filter?: PaperFilter): Promise<string[]> {
    if (!filter) return [...this.order]
    const match = this.matcher(filter)
    return this.order.filter((id) => {
      const at = this.where.get(id) as Loc
      return match(at.s, at.row)
    })
  }

  async chunksOf(paperIds: readonly string[]): Promise<Map<string, StoredChunk[]>> {
    const out = new Map<string, StoredChunk[]>()
    for (const id of paperIds) {
      const at = this.where.get(id)
      if (!at) continue
      const seg = this.segments[at.s] as LoadedSegment
      const range = this.chunkRange(seg, at.row)
      // A paper's chunk lines are contiguous: one read for all of them.
      const a = seg.meta.arrays
      const base = a.chunkOffsets[range[0] ?? 0] ?? 0
      let bytes: Buffer
      try {
        bytes = range.length > 0 ? seg.chunks.bytes(base, a.chunkOffsets[(range.at(-1) ?? 0) + 1] ?? 0) : Buffer.alloc(0)
      } catch (error) {
        throw corrupt(this.dataDir, `${join(this.dataDir, `${this.gen?.name}/${seg.name}.chunks.jsonl`)} cannot be read at chunk ${(range[0] ?? 0) + 1} (${(error as Error).message})`)
      }
      out.set(
        id,
        range.map((c) => this.chunkAt(seg, c, bytes.subarray((a.chunkOffsets[c] ?? 0) - base, (a.chunkOffsets[c + 1] ?? 0) - base).toString('utf8'))),
      )
    }
    return out
  }

  /** One graph per segment, merged by `topAcross` (each asked for a share of `n`). */
  async nearestChunks(vector: readonly number[], n: number, filter?: PaperFilter): Promise<ChunkNeighbour[]> {
    const match = filter ? this.matcher(filter) : undefined
    const live = this.segments.map((seg) => {
      let count = seg.chunkRows
      for (const row of seg.deadRows) count -= this.chunkRange(seg, row).length
      return count
    })
    const several = this.segments.length > 1
    return topAcross(live, n, (s, k) => {
      const seg = this.segments[s] as LoadedSegment
      const a = seg.meta.arrays
      const grown = seg.index.getCurrentCount() > seg.chunkRows
      const keep = match || grown ? (label: number) => label < seg.chunkRows && (!match || match(s, a.chunkPaper[label] ?? -1)) : undefined
      // With several graphs, ef scales with k as the single-graph setting has it (200 at 120), never
      // under 100: against exact search at 100 k papers (10 graphs, 40 queries) recall@120 was
      // 0.9998 with that floor, 0.992 with 48, 1.0 asking every graph for 120 at a cost 1.7× higher.
      seg.index.setEf(several ? Math.max(k, Math.ceil((HNSW_EF * k) / 120), 100) : HNSW_EF)
      const result = keep ? seg.index.searchKnn(vector as number[], k, keep) : seg.index.searchKnn(vector as number[], k)
      return result.neighbors.map((label, i) => {
        const row = a.chunkPaper[label] ?? -1
        const paperId = seg.meta.ids[row] ?? ''
        return { chunkId: `${paperId}#${a.chunkIndex[label] ?? 0}`, paperId, similarity: 1 - (result.distances[i] ?? 1) }
      })
    })
  }

  async chunkSimilarities(paperIds: readonly string[], vector: readonly number[]): Promise<Map<string, number>> {
    const out = new Map<string, number>()
    for (const id of paperIds) {
      const at = this.where.get(id)
      if (!at) continue
      const seg = this.segments[at.s] as LoadedSegment
      for (const c of this.chunkRange(seg, at.row)) {
        const v = seg.index.getPoint(c)
        let dot = 0
        for (let i = 0; i < v.length; i++) dot += (v[i] ?? 0) * (vector[i] ?? 0)
        out.set(`${id}#${seg.meta.arrays.chunkIndex[c] ?? 0}`, dot)
      }
    }
    return out
  }

  async keywordPapers(query: string, { limit, filter }: { limit: number; filter?: PaperFilter }): Promise<ScoredId[]> {
    const match = filter ? this.matcher(filter) : undefined
    const n = this.order.length
    const avg = n ? this.totalLength / n : 0
    // A few named papers (the final hits' scores): their rows are looked up in each posting list
    // (sorted by row) instead of walking the lists, which at 100 k papers run to 100 k entries.
    if (filter?.ids && filter.ids.length <= 1000) {
      const out: ScoredId[] = []
      const terms = [...new Set(tokenize(query))].map((term) => ({ term, df: this.documentFrequency(term) })).filter((t) => t.df > 0)
      for (const id of new Set(filter.ids)) {
        const at = this.where.get(id)
        if (!at || !(match as (s: number, row: number) => boolean)(at.s, at.row)) continue
        const seg = this.segments[at.s] as LoadedSegment
        const a = seg.meta.arrays
        let score = 0
        for (const { term, df } of terms) {
          const t = seg.meta.terms.get(term)
          if (t === undefined) continue
          const p = findRow(a.postingDoc, a.postingStart[t] ?? 0, a.postingStart[t + 1] ?? 0, at.row)
          if (p < 0) continue
          const tf = a.postingTf[p] as number
          score += bm25Gain(bm25Idf(df, n), tf, a.paperLengths[at.row] as number, avg)
        }
        if (score > 0) out.push({ id, score })
      }
      return out.sort((x, y) => y.score - x.score || x.id.localeCompare(y.id)).slice(0, limit)
    }
    // Scores accumulate in a typed array over every row (a Map per query cost 10× more at 10 k papers).
    const scores = (this.scratch ??= new Float64Array(this.bases.at(-1) ?? 0))
    const touched: number[] = []
    const terms = [...new Set(tokenize(query))].flatMap((term) => {
      const df = this.documentFrequency(term)
      return df === 0 ? [] : [{ term, idf: bm25Idf(df, n) }]
    })
    const gain = (idf: number, tf: number, length: number): number => bm25Gain(idf, tf, length, avg)
    /** The stored tf of a term in one row key, by binary search in the term's posting list (0: absent). */
    const tfAt = (term: string, key: number): { tf: number; length: number } => {
      const s = this.segmentOfKey(key)
      const seg = this.segments[s] as LoadedSegment
      const row = key - (this.bases[s] ?? 0)
      const a = seg.meta.arrays
      const t = seg.meta.terms.get(term)
      const p = t === undefined ? -1 : findRow(a.postingDoc, a.postingStart[t] ?? 0, a.postingStart[t + 1] ?? 0, row)
      return { tf: p < 0 ? 0 : (a.postingTf[p] as number), length: a.paperLengths[row] as number }
    }
    // Exact top `limit` with MaxScore pruning: rare terms first, walking their posting lists; once
    // what the terms left could add (each at most idf·(K1+1)) is below the current limit-th score, no
    // paper not yet seen can make the top, so the common terms (whose lists at 100 k papers run to
    // 100 k rows) are only looked up for the papers still in reach. Scores of the finalists are then
    // summed again in the query's term order, so they are the very numbers the plain walk gives.
    const order = terms.map((t, i) => ({ ...t, i })).sort((x, y) => y.idf - x.idf || x.i - y.i)
    let rest = order.reduce((r, t) => r + t.idf * (K1 + 1), 0)
    let reach: number[] | undefined
    for (const { term, idf } of order) {
      rest -= idf * (K1 + 1)
      if (reach) {
        for (const key of reach) {
          const { tf, length } = tfAt(term, key)
          if (tf > 0) scores[key] = (scores[key] as number) + gain(idf, tf, length)
        }
        const floor = kthBest(reach, scores, limit) - MARGIN
        reach = reach.filter((key) => (scores[key] as number) + rest >= floor)
        continue
      }
      let best = 0
      this.segments.forEach((seg, s) => {
        const t = seg.meta.terms.get(term)
        if (t === undefined) return
        const a = seg.meta.arrays
        const base = this.bases[s] ?? 0
        const dead = seg.deadRows.size > 0 ? seg.deadRows : undefined
        const to = a.postingStart[t + 1] ?? 0
        for (let p = a.postingStart[t] ?? 0; p < to; p++) {
          const row = a.postingDoc[p] as number
          if ((dead && dead.has(row)) || (match && !match(s, row))) continue
          const key = base + row
          if (scores[key] === 0) touched.push(key)
          const score = (scores[key] as number) + gain(idf, a.postingTf[p] as number, a.paperLengths[row] as number)
          scores[key] = score
          if (score > best) best = score
        }
      })
      if (limit > 0 && touched.length > limit && rest < best - MARGIN) {
        const floor = kthBest(touched, scores, limit) - MARGIN
        if (rest < floor) reach = touched.filter((key) => (scores[key] as number) + rest >= floor)
      }
    }
    let pool = reach ?? touched
    if (reach || order.some((t, j) => t.i !== j)) {
      // Summed in another order than the query's: the finalists' scores are summed again in it.
      const floor = pool.length > limit ? kthBest(pool, scores, limit) - MARGIN : -Infinity
      pool = pool.filter((key) => (scores[key] as number) >= floor)
      for (const key of pool) {
        let score = 0
        for (const { term, idf } of terms) {
          const { tf, length } = tfAt(term, key)
          if (tf > 0) score += gain(idf, tf, length)
        }
        scores[key] = score
      }
    }
    const top = bestKeys(pool, scores, limit, (key) => this.idOfKey(key))
    const out = top.map((key) => ({ id: this.idOfKey(key), score: scores[key] as number }))
    for (const key of touched) scores[key] = 0
    return out
  }

  private segmentOfKey(key: number): number {
    let s = this.segments.length - 1
    while (s > 0 && (this.bases[s] ?? 0) > key) s--
    return s
  }

  /** The paper id of a row key (segment base + row). */
  private idOfKey(key: number): string {
    const s = this.segmentOfKey(key)
    return this.segments[s]?.meta.ids[key - (this.bases[s] ?? 0)] ?? ''
  }

  async keywordChunks(query: string, paperIds: readonly string[]): Promise<ScoredId[]> {
    const terms = [...new Set(tokenize(query))]
    const n = this.liveChunks
    const avg = n ? this.totalChunkLength / n : 0
    const idf = new Map(terms.map((t) => [t, this.chunkDf(t)] as const).filter(([, df]) => df > 0).map(([t, df]) => [t, bm25Idf(df, n)]))
    const out: ScoredId[] = []
    // Segments that store chunk term counts are scored from them (no text read, nothing tokenized);
    // older ones from the chunk texts. Papers in the order asked, chunks in abstract order, as before.
    const counted = (id: string): boolean => {
      const at = this.where.get(id)
      return at !== undefined && this.segments[at.s]?.meta.arrays.chunkPostingTf !== undefined
    }
    const texts = await this.chunksOf(paperIds.filter((id) => !counted(id)))
    for (const id of new Set(paperIds)) {
      const at = this.where.get(id)
      if (!at) continue
      if (!counted(id)) {
        for (const chunk of texts.get(id) ?? []) {
          const tf = new Map<string, number>()
          const tokens = tokenize(chunk.text)
          for (const t of tokens) tf.set(t, (tf.get(t) ?? 0) + 1)
          let score = 0
          for (const term of terms) {
            const f = tf.get(term)
            const w = idf.get(term)
            if (f && w !== undefined) score += bm25Gain(w, f, tokens.length, avg)
          }
          if (score > 0) out.push({ id: chunk.id, score })
        }
        continue
      }
      const seg = this.segments[at.s] as LoadedSegment
      const a = seg.meta.arrays
      const tfs = a.chunkPostingTf as Int32Array
      for (const c of this.chunkRange(seg, at.row)) {
        let score = 0
        for (const term of terms) {
          const w = idf.get(term)
          const t = seg.meta.chunkTerms.get(term)
          if (w === undefined || t === undefined) continue
          const p = findRow(a.chunkPostingDoc, a.chunkPostingStart[t] ?? 0, a.chunkPostingStart[t + 1] ?? 0, c)
          const f = p < 0 ? 0 : (tfs[p] as number)
          if (f) score += bm25Gain(w, f, a.chunkLengths[c] as number, avg)
        }
        if (score > 0) out.push({ id: `${id}#${a.chunkIndex[c] ?? 0}`, score })
      }
    }
    return out.sort((x, y) => y.score - x.score)
  }

  async findPapers({ ids, titles }: { ids: readonly string[]; titles: readonly string[] }): Promise<StoredPaper[]> {
    const wantedIds = new Set(ids)
    const keys = new Set(titles.map(normaliseTitle))
    const hashes = new Set(titles.map(titleHash))
    const out: StoredPaper[] = []
    this.segments.forEach((seg) => {
      const th = seg.meta.arrays.titleHashes
      for (let row = 0; row < seg.meta.papers; row++) {
        if (seg.deadRows.has(row)) continue
        const id = seg.meta.ids[row] ?? ''
        const byId = wantedIds.has(id)
        // A segment written before title hashes were stored: every record is read (as before).
        if (!byId && th && !hashes.has(th[row] ?? 0)) continue
        const p = this.recordOf(id) as StoredPaper
        if (byId || keys.has(normaliseTitle(p.title))) out.push(p)
      }
    })
    return out
  }

  async termStats(terms: readonly string[]): Promise<TermStats> {
    const n = this.order.length
    const df = new Map(terms.map((t) => [t, this.documentFrequency(t)]))
    return {
      papers: n,
      averageLength: n ? this.totalLength / n : 0,
      documentFrequency: (term) => df.get(term) ?? 0,
      idf: (term) => {
        const d = df.get(term) ?? 0
        return bm25Idf(d, n)
      },
    }
  }

  /**
   * A small derived record kept beside the current generation (e.g. the fusion calibration); undefined
   * when absent or unreadable, since it can always be measured again.
   */
  async readNote<T>(name: string): Promise<T | undefined> {
    if (!this.gen) return undefined
    try {
      return JSON.parse(await readFile(join(this.dataDir, this.gen.name, `${name}.json`), 'utf8')) as T
    } catch {
      return undefined
    }
  }

  /** Writes a note atomically (temporary file, then rename); a failure only costs re-measuring later. */
  async writeNote(name: string, value: unknown): Promise<void> {
    if (!this.gen) return
    const file = join(this.dataDir, this.gen.name, `${name}.json`)
    const tmp = `${file}.${process.pid}.tmp`
    try {
      await writeFile(tmp, JSON.stringify(value, null, 2))
      await rename(tmp, file)
    } catch {
      await rm(tmp, { force: true }).catch(() => undefined)
    }
  }

  // ---- CorpusWriter ----

  async lock(options: { wait: boolean; onWait?: (holder: string) => void; onStep?: (step: string) => void | Promise<void> } & Omit<LockOptions, 'onWait' | 'wait'>): Promise<WriteSession> {
    const { onWait, onStep, ...rest } = options
    const lock = await lockDataDir(this.dataDir, { ...rest, ...(onWait ? { onWait: (message: string) => onWait(message) } : {}) })
    return new EmbeddedSession(this, lock, onStep)
  }

  /**
   * Adds new papers and updates changed ones (see `ingestPapers`): the store-agnostic ingest,
   * run on this directory. Returns the counts and the index as committed.
   */
  async ingest(
    incoming: Paper[],
    embedder: Embedder | (() => Promise<Embedder>),
    chunking: ChunkOptions,
    options: IngestOptions = {},
  ): Promise<{ counts: IngestCounts; index: PaperIndex; details: IngestDetails }> {
    const result = await ingestPapers(this, incoming, embedder, chunking, options)
    return { counts: result.counts, index: result.reader as PaperIndex, details: result.details }
  }

  /**
   * Removes these papers and their chunks (`papers remove`): `ingestPapers` with nothing to add, so
   * under the write lock, on the generation current by then, committed like an ingest (the dead rows
   * listed, nothing rewritten). Ids not indexed (any more) are left out of `removed`; nothing is
   * committed when none is.
   */
  async remove(ids: readonly string[], options: Pick<IngestOptions, 'wait' | 'onWait' | 'onStep'> = {}): Promise<{ removed: StoredPaper[]; index: PaperIndex }> {
    const noEmbedder = (): Promise<Embedder> => Promise.reject(new Error('removing papers embeds nothing'))
    const chunking = this.info().chunking ?? { size: 300, overlap: 0 }
    const result = await ingestPapers(this, [], noEmbedder, chunking, { ...options, remove: ids })
    const index = result.reader as PaperIndex
    // Another writer may have changed the chunking meanwhile: then this is a no-op on its generation.
    return { removed: result.removedPapers, index }
  }

  // ---- internals ----

  /** A paper's record read from its line, checked against its content hash. */
  recordOf(id: string): StoredPaper | undefined {
    const at = this.where.get(id)
    if (!at) return undefined
    const seg = this.segments[at.s] as LoadedSegment
    const a = seg.meta.arrays
    const file = `${this.gen?.name}/${seg.name}.papers.jsonl`
    let record: unknown
    try {
      record = JSON.parse(seg.papers.read(a.paperOffsets[at.row] ?? 0, a.paperOffsets[at.row + 1] ?? 0))
    } catch (error) {
      throw corrupt(this.dataDir, `${join(this.dataDir, file)} cannot be read at record ${at.row + 1} (${(error as Error).message})`)
    }
    const p = record as StoredPaper
    if (p?.id !== id || p.contentHash !== seg.meta.contentHashes[at.row]) throw corrupt(this.dataDir, `${join(this.dataDir, file)} record ${at.row + 1} is not the one indexed`)
    return p
  }

  private chunkAt(seg: LoadedSegment, c: number, text?: string): StoredChunk {
    const a = seg.meta.arrays
    let line: { paperId?: unknown; index?: unknown; hash?: unknown; text?: unknown }
    try {
      line = JSON.parse(text ?? seg.chunks.read(a.chunkOffsets[c] ?? 0, a.chunkOffsets[c + 1] ?? 0)) as typeof line
    } catch (error) {
      throw corrupt(this.dataDir, `${join(this.dataDir, `${this.gen?.name}/${seg.name}.chunks.jsonl`)} cannot be read at chunk ${c + 1} (${(error as Error).message})`)
    }
    const paperId = seg.meta.ids[a.chunkPaper[c] ?? -1] ?? ''
    if (line.paperId !== paperId || typeof line.text !== 'string' || line.hash !== seg.meta.hashes.subarray(32 * c, 32 * c + 32).toString('hex')) {
      throw corrupt(this.dataDir, `${join(this.dataDir, `${this.gen?.name}/${seg.name}.chunks.jsonl`)} chunk ${c + 1} is not the one indexed`)
    }
    const index = a.chunkIndex[c] ?? 0
    return { id: `${paperId}#${index}`, paperId, index, text: line.text, hash: line.hash }
  }

  private chunkRange(seg: LoadedSegment, row: number): number[] {
    const a = seg.meta.arrays
    const out: number[] = []
    for (let c = a.paperChunkStart[row] ?? 0; c < (a.paperChunkStart[row + 1] ?? 0); c++) out.push(c)
    return out
  }

  /** Papers whose title or abstract contains a tokenized term (live papers only). */
  private documentFrequency(term: string): number {
    const cached = this.dfCache.get(term)
    if (cached !== undefined) return cached
    let df = 0
    for (const seg of this.segments) {
      const t = seg.meta.terms.get(term)
      if (t === undefined) continue
      const a = seg.meta.arrays
      const from = a.postingStart[t] ?? 0
      const to = a.postingStart[t + 1] ?? 0
      if (seg.deadRows.size === 0) df += to - from
      else for (let p = from; p < to; p++) if (!seg.deadRows.has(a.postingDoc[p] ?? -1)) df++
    }
    if (this.dfCache.size > 50_000) this.dfCache.clear()
    this.dfCache.set(term, df)
    return df
  }

  private chunkDf(term: string): number {
    const cached = this.chunkDfCache.get(term)
    if (cached !== undefined) return cached
    let df = 0
    for (const seg of this.segments) {
      const t = seg.meta.chunkTerms.get(term)
      if (t === undefined) continue
      const a = seg.meta.arrays
      const from = a.chunkPostingStart[t] ?? 0
      const to = a.chunkPostingStart[t + 1] ?? 0
      if (seg.deadRows.size === 0) df += to - from
      else for (let p = from; p < to; p++) if (!seg.deadRows.has(a.chunkPaper[a.chunkPostingDoc[p] ?? -1] ?? -1)) df++
    }
    if (this.chunkDfCache.size > 50_000) this.chunkDfCache.clear()
    this.chunkDfCache.set(term, df)
    return df
  }

  /** A test of (segment, row) for a filter; rows are live ones (callers skip the dead). */
  private matcher(filter: PaperFilter): (s: number, row: number) => boolean {
    const ids = filter.ids ? new Set(filter.ids) : undefined
    const from = filter.years?.from
    const to = filter.years?.to
    // A source matches as `matchesFilter` says (the file, a directory holding it, or its bare name), decided once per file.
    const sources = filter.sources
    const sourceHits = sources ? this.segments.map((seg) => seg.meta.sourceFiles.map((f) => matchesFilter({ id: '', sources: [f] }, { sources }))) : undefined
    return (s, row) => {
      const seg = this.segments[s]
      if (!seg || seg.deadRows.has(row)) return false
      if (ids && !ids.has(seg.meta.ids[row] ?? '')) return false
      // Any year condition, even an open one, needs a year (as `matchesFilter` and the PostgreSQL store say).
      if (filter.years) {
        const year = seg.meta.years[row]
        if (year === null || year === undefined || (from !== undefined && year < from) || (to !== undefined && year > to)) return false
      }
      if (sourceHits && !(seg.meta.paperSources[row] ?? []).some((i) => sourceHits[s]?.[i])) return false
      return true
    }
  }

  /** For the session: where a live paper is, by segment name. */
  locate(id: string): { segment: string; row: number } | undefined {
    const at = this.where.get(id)
    return at ? { segment: (this.segments[at.s] as LoadedSegment).name, row: at.row } : undefined
  }

  /** For the session: every live chunk's hash with where its vector is. */
  vectorLocations(): Map<string, { s: number; label: number }> {
    const out = new Map<string, { s: number; label: number }>()
    this.segments.forEach((seg, s) => {
      for (let row = 0; row < seg.meta.papers; row++) {
        if (seg.deadRows.has(row)) continue
        for (const c of this.chunkRange(seg, row)) out.set(seg.meta.hashes.subarray(32 * c, 32 * c + 32).toString('hex'), { s, label: c })
      }
    })
    return out
  }

  /**
   * Stored vectors by chunk-text hash (live chunks), read without the write lock: this generation
   * never changes. With `among`, only those papers' chunks are looked at: adding 100 papers to a
   * 100 k-paper index must not map 600 k chunk hashes.
   */
  vectorsByHash(hashes: readonly string[], among?: readonly string[]): Map<string, number[]> {
    const locations = among ? this.locationsOf(among) : (this.locations ??= this.vectorLocations())
    const out = new Map<string, number[]>()
    for (const h of hashes) {
      const at = locations.get(h)
      if (at && !out.has(h)) out.set(h, this.vectorAt(at.s, at.label))
    }
    return out
  }

  private locationsOf(ids: readonly string[]): Map<string, { s: number; label: number }> {
    const out = new Map<string, { s: number; label: number }>()
    for (const id of ids) {
      const at = this.where.get(id)
      if (!at) continue
      const seg = this.segments[at.s] as LoadedSegment
      for (const c of this.chunkRange(seg, at.row)) out.set(seg.meta.hashes.subarray(32 * c, 32 * c + 32).toString('hex'), { s: at.s, label: c })
    }
    return out
  }

  vectorAt(s: number, label: number): number[] {
    return (this.segments[s] as LoadedSegment).index.getPoint(label)
  }

  /** For the session: the loaded generation to build on. */
  get generation(): LoadedGeneration | undefined {
    return this.gen
  }
}

/** The embedded store's write session: the directory's lock, and the generation current under it. */
class EmbeddedSession implements WriteSession {
  private index: PaperIndex | undefined
  private state: CommitState | undefined

  constructor(
    private readonly opened: PaperIndex,
    private readonly held: Awaited<ReturnType<typeof lockDataDir>>,
    private readonly onStep: ((step: SaveStep) => void | Promise<void>) | undefined,
  ) {}

  /** This generation if it is still the current one, else the one another writer committed meanwhile. */
  async reader(): Promise<PaperIndex> {
    if (this.index) return this.index
    const dataDir = this.opened.dataDir
    const token = await currentToken(dataDir)
    const base = token === this.opened.version ? this.opened : await PaperIndex.open(dataDir, { previous: this.opened })
    this.index = base
    this.state = { head: base.generation, token }
    return base
  }

  async vectorsByHash(hashes: readonly string[], among?: readonly string[]): Promise<Map<string, number[]>> {
    return (await this.reader()).vectorsByHash(hashes, among)
  }

  async contentHashes(): Promise<Map<string, string>> {
    const index = await this.reader()
    const out = new Map<string, string>()
    for (const p of await index.papers(await index.paperIds())) out.set(p.id, p.contentHash)
    return out
  }

  async commit(batch: CorpusBatch): Promise<void> {
    const index = await this.reader()
    const state = this.state as CommitState
    const next = await commitBatch(index.dataDir, state, batch, (id) => index.locate(id), this.held, this.onStep ? { onStep: this.onStep } : {})
    this.index = PaperIndex.fromGeneration(index.dataDir, next)
  }

  release(): Promise<void> {
    return this.held.release()
  }
}

/** The records of an index as a read-only map, each read from its file when asked for. */
class LazyRecords implements ReadonlyMap<string, StoredPaper> {
  constructor(private readonly index: PaperIndex) {}

  private ids(): string[] {
    return (this.index as unknown as { order: string[] }).order
  }

  get size(): number {
    return this.ids().length
  }

  get(id: string): StoredPaper | undefined {
    return this.index.recordOf(id)
  }

  has(id: string): boolean {
    return this.index.locate(id) !== undefined
  }

  forEach(callback: (value: StoredPaper, key: string, map: ReadonlyMap<string, StoredPaper>) => void, thisArg?: unknown): void {
    for (const [k, v] of this.entries()) callback.call(thisArg, v, k, this)
  }

  *entries(): MapIterator<[string, StoredPaper]> {
    for (const id of this.ids()) yield [id, this.index.recordOf(id) as StoredPaper]
  }

  *keys(): MapIterator<string> {
    yield* this.ids()
  }

  *values(): MapIterator<StoredPaper> {
    for (const id of this.ids()) yield this.index.recordOf(id) as StoredPaper
  }

  [Symbol.iterator](): MapIterator<[string, StoredPaper]> {
    return this.entries()
  }
}

/** One term's BM25 share of a document's score (the one formula every keyword path here uses). */
function bm25Gain(idf: number, tf: number, length: number, avg: number): number {
  const norm = K1 * (1 - B + (B * length) / (avg || 1))
  return (idf * tf * (K1 + 1)) / (tf + norm)
}

/** Slack for float rounding in the pruning bounds: far above it, far below any score difference that matters. */
const MARGIN = 1e-9

/** The `k`-th best score among these keys (-Infinity when there are fewer): a heap of `k`. */
function kthBest(keys: readonly number[], scores: Float64Array, k: number): number {
  if (k <= 0 || keys.length < k) return -Infinity
  const heap: number[] = []
  for (const key of keys) {
    const v = scores[key] as number
    if (heap.length < k) {
      heap.push(v)
      for (let i = heap.length - 1; i > 0; ) {
        const parent = (i - 1) >> 1
        if ((heap[parent] as number) <= (heap[i] as number)) break
        ;[heap[i], heap[parent]] = [heap[parent] as number, heap[i] as number]
        i = parent
      }
    } else if (v > (heap[0] as number)) {
      heap[0] = v
      for (let i = 0; ; ) {
        const l = 2 * i + 1
        const r = l + 1
        let m = i
        if (l < k && (heap[l] as number) < (heap[m] as number)) m = l
        if (r < k && (heap[r] as number) < (heap[m] as number)) m = r
        if (m === i) break
        ;[heap[i], heap[m]] = [heap[m] as number, heap[i] as number]
        i = m
      }
    }
  }
  return heap[0] as number
}

/** The position of `row` in the sorted `list[from, to)`, or -1. */
function findRow(list: Int32Array, from: number, to: number, row: number): number {
  let lo = from
  let hi = to - 1
  while (lo <= hi) {
    const mid = (lo + hi) >> 1
    const v = list[mid] as number
    if (v === row) return mid
    if (v < row) lo = mid + 1
    else hi = mid - 1
  }
  return -1
}

/**
 * The `limit` best keys by score, ties by paper id: a heap of `limit`, so a query whose terms
 * occur in most papers does not sort all of them.
 */
function bestKeys(keys: number[], scores: Float64Array, limit: number, idOf: (key: number) => string): number[] {
  // worse(a, b): a ranks below b.
  const worse = (a: number, b: number): boolean => (scores[a] as number) < (scores[b] as number) || ((scores[a] as number) === (scores[b] as number) && idOf(a).localeCompare(idOf(b)) > 0)
  const heap: number[] = []
  const down = (i: number): void => {
    for (;;) {
      const l = 2 * i + 1
      const r = l + 1
      let m = i
      if (l < heap.length && worse(heap[l] as number, heap[m] as number)) m = l
      if (r < heap.length && worse(heap[r] as number, heap[m] as number)) m = r
      if (m === i) return
      ;[heap[i], heap[m]] = [heap[m] as number, heap[i] as number]
      i = m
    }
  }
  for (const key of keys) {
    if (heap.length < limit) {
      heap.push(key)
      for (let i = heap.length - 1; i > 0; ) {
        const parent = (i - 1) >> 1
        if (!worse(heap[i] as number, heap[parent] as number)) break
        ;[heap[i], heap[parent]] = [heap[parent] as number, heap[i] as number]
        i = parent
      }
    } else if (limit > 0 && worse(heap[0] as number, key)) {
      heap[0] = key
      down(0)
    }
  }
  return heap.sort((a, b) => (worse(a, b) ? 1 : worse(b, a) ? -1 : 0))
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
      return { name, papers: (await loadGeneration(dataDir, name)).manifest.papers }
    } catch {
      // damaged: try an older one
    }
  }
  return undefined
}

const repairCommand = (dataDir: string): string => `askpapers repair --data-dir ${shellQuote(dataDir)}`
const shellQuote = (s: string): string => (/^[\w@%+=:,./-]+$/.test(s) ? s : `'${s.replaceAll("'", `'\\''`)}'`)

export function corrupt(dataDir: string, what: string, cause?: unknown): AppError {
  return new AppError('INDEX_CORRUPT', `The index in ${dataDir} is damaged: ${what}. Run \`${repairCommand(dataDir)}\` to rebuild it from what is intact.`, { cause })
}
