import { PGVectorStore } from '@langchain/community/vectorstores/pgvector'
import type { EmbeddingsInterface } from '@langchain/core/embeddings'
import pg from 'pg'
import { matchesFilter, normaliseTitle, paperYear, sourceFile } from '../../corpus/index.js'
import { AppError } from '../../errors.js'
import type { ChunkOptions } from '../chunk.js'
import type { EmbedderInfo } from '../embedders/index.js'
import type {
  ChunkNeighbour,
  CorpusBatch,
  CorpusReader,
  CorpusWriter,
  PaperFilter,
  ScoredId,
  StoreInfo,
  StoredChunk,
  StoredPaper,
  TermStats,
  WriteSession,
} from '../store/index.js'
import { storeError } from './_errors.js'
import { acquireWriteLock, type WriteLease } from './_lock.js'
import { addDocumentFrequencies, insertPaperTerms, LATEST, migrate, termRows } from './_schema.js'
import { BM25, bm25Idf, paperFields, queryTerms, scoreFields } from './_terms.js'
import { vectorArgument, vectorArray } from './_vectors.js'
import { parseStoreUrl, type StoreTarget } from './_url.js'

export interface PostgresStoreOptions {
  /** postgres://user:password@host:port/database */
  url: string
  /** Where the URL came from, named in messages (default `--store / ASKPAPERS_STORE_URL`). */
  urlFlag?: string
  /** The PostgreSQL schema holding this corpus; several corpora can share a database. */
  schema?: string
  /** Pool size: connections this process opens at most (a writer holds one for its lock); default the URL's `?pool_max=`, else 4. */
  maxConnections?: number
  /** Every statement is cancelled after this long (PostgreSQL's `statement_timeout`); default the URL's `?statement_timeout=`, else 30 s. */
  statementTimeoutMs?: number
  connectTimeoutMs?: number
  /** pgvector's HNSW candidate list (`hnsw.ef_search`); a query gets at most this many neighbours. */
  efSearch?: number
  /** Migrate the schema up to this version (tests of older schemas); default the latest. */
  schemaVersion?: number
  /**
   * How `keywordPapers` ranks: BM25 from the stored term statistics (the embedded store's scores,
   * the default) or PostgreSQL's `ts_rank_cd` over the weighted tsvector (kept to measure the difference).
   */
  keywordRanking?: 'bm25' | 'ts_rank'
  /**
   * keywordPapers reads a query's rarest posting lists whole up to this many rows (at least one
   * list) and takes the other terms one at a time by MaxScore (default 5,000; measured at 100 k
   * papers through PGlite, 1–20,000, see README; tests lower it to 1 and raise it to Infinity).
   */
  keywordScanLimit?: number
  /** `maintenance_work_mem` for building the HNSW index after a bulk load (halved on out-of-memory); default 1536 MB. */
  indexBuildMemoryMB?: number
  /** Write-lock tuning (see _lock.ts); tests shorten these. */
  lock?: { pollMs?: number; staleMs?: number; heartbeatMs?: number }
}

interface ChunkRow {
  id: string
  paper_id: string
  idx: number
  text: string
  hash: string
}

interface CorpusRow {
  version: string
  embedder: EmbedderInfo | null
  chunking: ChunkOptions | null
  partial: StoreInfo['partial'] | null
  papers: number
  chunks: number
}

// Rows per INSERT … unnest(): a statement per row is a round trip each; one huge message is slow through pglite-socket (see ROWS_PER_STATEMENT).
const PAPERS_PER_STATEMENT = 2000
const CHUNKS_PER_STATEMENT = 1000
// Ids or hashes per statement when reading many rows.
const READ_SLICE = 5000

const SCHEMA_NAME = /^[a-z_][a-z0-9_]{0,62}$/

// PGVectorStore only stores and searches vectors it is handed; askpapers embeds through its Embedder.
const NO_EMBEDDINGS: EmbeddingsInterface = {
  embedDocuments: () => Promise.reject(new Error('PostgresStore stores vectors it is given; it does not embed')),
  embedQuery: () => Promise.reject(new Error('PostgresStore stores vectors it is given; it does not embed')),
}

/**
 * The corpus in PostgreSQL + pgvector (issue 11): papers, chunks and their vectors in tables made by
 * versioned migrations (see _schema.ts), in LangChain's PGVectorStore layout (filtered vector
 * searches go through it; bulk writes and the unfiltered search of every query are our own
 * statements, measured several times faster through PGlite), BM25 computed in SQL from term
 * statistics stored at write time, and one writer at a time per corpus through an advisory lock. Any number of processes may open the same corpus;
 * `refresh()` lets a long-running one notice what others committed.
 */
export class PostgresStore implements CorpusReader, CorpusWriter {
  private current: StoreInfo
  private sourceFiles: { version: string; files: string[] } | undefined
  private vectorType: number | undefined
  /** keywordStats' answers, keyed by the corpus version they were read at, level and terms (see keywordStats). */
  private readonly statsCache = new Map<string, KeywordStats>()
  /** chunkRows' reads in flight, by corpus version and paper ids. */
  private readonly chunkReads = new Map<string, Promise<ChunkRow[]>>()

  private constructor(
    private readonly pool: pg.Pool,
    private readonly target: StoreTarget,
    private readonly schema: string,
    private readonly options: PostgresStoreOptions,
    row: CorpusRow,
  ) {
    this.current = this.toInfo(row)
  }

  /**
   * Connects (failing with STORE_UNAVAILABLE naming the host, database and fix), brings the schema up
   * to date and reads the corpus's state.
   */
  static async open(options: PostgresStoreOptions): Promise<PostgresStore> {
    const target = parseStoreUrl(options.url, 'store', options.urlFlag)
    const { schema = 'askpapers', maxConnections = target.poolMax ?? 4, statementTimeoutMs = target.statementTimeoutMs ?? DEFAULT_STATEMENT_TIMEOUT_MS, connectTimeoutMs = 10_000, efSearch = 200 } = options
    if (!SCHEMA_NAME.test(schema)) throw new AppError('CONFIG', `The store schema "${schema}" must be a lower-case SQL name (letters, digits, _).`, { field: 'schema' })
    const pool = new pg.Pool({
      connectionString: target.url,
      max: maxConnections,
      connectionTimeoutMillis: connectTimeoutMs,
      idleTimeoutMillis: 30_000,
      application_name: 'askpapers',
      // Set per session rather than as startup options, which PGlite and some poolers ignore; awaited
      // before the connection is handed out, so no query is sent while these run. Two statements: a
      // failed SET rolls back the others sent with it, and once pgvector is loaded in a backend it
      // refuses what it does not know (0.7 has no iterative scan) or a value out of range.
      // JIT off: it compiles any plan costed above jit_above_cost, and the keyword leg's MaxScore
      // statement is costed high for branches it never runs (measured on PostgreSQL 15 at 100 k:
      // 25–30 ms of compiling for 5 ms of work; keyword p95 50 → 18 ms with it off).
      onConnect: async (client) => {
        await client.query(`SET statement_timeout = ${Math.trunc(statementTimeoutMs)}; SET jit = off`)
        await client.query(`SET hnsw.ef_search = ${Math.trunc(efSearch)}; SET hnsw.iterative_scan = relaxed_order`).catch(() => undefined)
      },
    })
    // An idle connection that breaks (server restart) must not crash the process; the next query reconnects.
    pool.on('error', () => undefined)
    try {
      const client = await pool.connect()
      try {
        await migrate(client, schema, options.schemaVersion === undefined ? {} : { to: options.schemaVersion })
      } finally {
        client.release()
      }
      const row = await readCorpus(pool, schema)
      return new PostgresStore(pool, target, schema, { ...options, statementTimeoutMs }, row)
    } catch (error) {
      await pool.end().catch(() => undefined)
      throw storeError(error, target, { statementTimeoutMs })
    }
  }

  info(): StoreInfo {
    return this.current
  }

  /** Re-reads the corpus's state; true when another process committed since (the version moved). */
  async refresh(): Promise<boolean> {
    const before = this.current.version
    this.current = this.toInfo(await this.run(() => readCorpus(this.pool, this.schema)))
    return this.current.version !== before
  }

  async close(): Promise<void> {
    await this.pool.end()
  }

  /** Refuses to query or extend vectors built by another embedder, as the embedded store does. */
  assertCompatible(info: Pick<EmbedderInfo, 'provider' | 'model'> & { dimensions?: number }): void {
    const built = this.current.embedder
    if (built && !sameEmbedder(built, info)) throw this.mismatch(built, info)
  }

  async papers(ids: readonly string[]): Promise<StoredPaper[]> {
    if (ids.length === 0) return []
    // In slices: a view of 100 k papers reads ~200 MB of records, which as one statement outlasts the statement timeout.
    const byId = new Map<string, StoredPaper>()
    for (let i = 0; i < ids.length; i += READ_SLICE) {
      const rows = await this.query<{ id: string; record: StoredPaper }>(`SELECT id, record FROM ${this.t('papers')} WHERE id = ANY($1)`, [ids.slice(i, i + READ_SLICE)])
      for (const r of rows) byId.set(r.id, r.record)
    }
    return ids.flatMap((id) => {
      const paper = byId.get(id)
      return paper ? [paper] : []
    })
  }

  /** The papers with one of these ids or normalised titles, in id order: what an ingest's diff needs, without reading every record. */
  async findPapers({ ids, titles }: { ids: readonly string[]; titles: readonly string[] }): Promise<StoredPaper[]> {
    if (this.current.papers === 0) return []
    const keys = [...new Set(titles.map(normaliseTitle))]
    const wanted = [...new Set(ids)]
    const found = new Map<string, StoredPaper>()
    for (let i = 0; i < Math.max(wanted.length, keys.length); i += READ_SLICE) {
      const rows = await this.query<{ id: string; record: StoredPaper }>(`SELECT id, record FROM ${this.t('papers')} WHERE id = ANY($1) OR title_key = ANY($2)`, [
        wanted.slice(i, i + READ_SLICE),
        keys.slice(i, i + READ_SLICE),
      ])
      for (const r of rows) found.set(r.id, r.record)
    }
    return [...found.values()].sort((a, b) => compare(a.id, b.id))
  }

  async paperIds(filter?: PaperFilter): Promise<string[]> {
    const where = await this.filterSql(filter, 1)
    if (!where) return []
    const rows = await this.query<{ id: string }>(`SELECT id FROM ${this.t('papers')} p WHERE ${where.sql} ORDER BY id COLLATE "C"`, where.params)
    return rows.map((r) => r.id)
  }

  async chunksOf(paperIds: readonly string[]): Promise<Map<string, StoredChunk[]>> {
    const out = new Map<string, StoredChunk[]>()
    if (paperIds.length === 0) return out
    for (const r of await this.chunkRows(paperIds)) {
      const chunk: StoredChunk = { id: r.id, paperId: r.paper_id, index: r.idx, text: r.text, hash: r.hash }
      const list = out.get(r.paper_id)
      if (list) list.push(chunk)
      else out.set(r.paper_id, [chunk])
    }
    return out
  }

  /**
   * The chunk rows of `paperIds`. A search asks for the same papers' chunks twice at once (their
   * passages, and their texts for the chunk-level BM25), and through PGlite each statement waits its
   * turn: a read still in flight is shared by an identical request rather than sent again.
   */
  private chunkRows(paperIds: readonly string[]): Promise<ChunkRow[]> {
    const key = [this.current.version, ...paperIds].join('\u0000')
    const pending = this.chunkReads.get(key)
    if (pending) return pending
    const read = this.query<ChunkRow>(`SELECT id, paper_id, idx, text, hash FROM ${this.t('chunks')} WHERE paper_id = ANY($1) ORDER BY paper_id, idx`, [[...paperIds]])
    this.chunkReads.set(key, read)
    const forget = (): void => {
      if (this.chunkReads.get(key) === read) this.chunkReads.delete(key)
    }
    read.then(forget, forget)
    return read
  }

  async nearestChunks(vector: readonly number[], n: number, filter?: PaperFilter): Promise<ChunkNeighbour[]> {
    if (n <= 0 || this.current.chunks === 0) return []
    let found: { chunkId: string; paperId: string; distance: number }[]
    if (filter) {
      // A filtered search through LangChain's PGVectorStore and its metadata filter language.
      const metadata = await this.metadataFilter(filter)
      if (!metadata) return []
      const store = this.vectorStore(this.pool)
      const results = await this.run(() => store.similaritySearchVectorWithScore([...vector], n, metadata))
      found = results.map(([doc, distance]) => ({ chunkId: String(doc.id), paperId: String(doc.metadata.paperId), distance }))
    } else {
      // The search of every query, in its own statement: PGVectorStore's selects every column, so each
      // of the ~120 neighbours comes back with its vector as ~10 KB of decimal text (measured through
      // PGlite: 6 ms in the index, ~60 ms formatting and sending vectors nobody reads).
      const rows = await this.query<{ id: string; paper_id: string; distance: number }>(
        `SELECT id, paper_id, embedding <=> $1::vector AS distance FROM ${this.t('chunks')} ORDER BY embedding <=> $1::vector LIMIT $2`,
        [vectorArgument(vector), n],
      )
      found = rows.map((r) => ({ chunkId: r.id, paperId: r.paper_id, distance: Number(r.distance) }))
    }
    return found
      .map((h) => ({ chunkId: h.chunkId, paperId: h.paperId, similarity: 1 - h.distance }))
      .sort((a, b) => b.similarity - a.similarity || compare(a.chunkId, b.chunkId))
  }

  async chunkSimilarities(paperIds: readonly string[], vector: readonly number[]): Promise<Map<string, number>> {
    if (paperIds.length === 0) return new Map()
    // `<#>` is the negative inner product: for unit vectors, the cosine similarity.
    const rows = await this.query<{ id: string; similarity: number }>(
      `SELECT id, -(embedding <#> $2::vector) AS similarity FROM ${this.t('chunks')} WHERE paper_id = ANY($1) ORDER BY paper_id, idx`,
      [paperIds, vectorArgument(vector)],
    )
    return new Map(rows.map((r) => [r.id, Number(r.similarity)]))
  }

  async keywordPapers(query: string, { limit, filter }: { limit: number; filter?: PaperFilter }): Promise<ScoredId[]> {
    if (limit <= 0) return []
    if (this.options.keywordRanking === 'ts_rank') {
      const where = await this.filterSql(filter, 3)
      return where ? this.tsRankPapers(query, limit, where) : []
    }
    const where = await this.filterSql(filter, 4)
    if (!where) return []
    const { n, averageLength, df } = await this.keywordStats('paper', queryTerms(query))
    // Rarest first: their postings are short and their weights high.
    const terms = [...df.keys()].sort((a, b) => (df.get(a) ?? 0) - (df.get(b) ?? 0) || compare(a, b))
    if (terms.length === 0) return []
    const idf = terms.map((t) => bm25Idf(df.get(t) ?? 0, n))
    const join = filter ? `JOIN ${this.t('papers')} p ON p.id = t.paper_id` : ''
    const score = `sum(${bm25Term('w.idf')})`
    const order = `GROUP BY t.paper_id ORDER BY score DESC, t.paper_id COLLATE "C" LIMIT $2`
    const words = `unnest($1::text[], ${afterFilter(where, 0)}::float8[]) AS w(term, idf)`
    // The papers holding one of the terms in $1, each scored by all of them: every posting read.
    const whole = `SELECT t.paper_id AS id, ${score} AS score FROM ${this.t('paper_terms')} t JOIN ${words} USING (term) ${join} WHERE t.term = ANY($1::text[]) AND ${where.sql} GROUP BY t.paper_id`
    // One term row by key per (paper, term); OFFSET 0 keeps the planner from turning the probes into a scan of every posting (measured: a hash join over 1.3 M rows, 1.9 s at 10 k papers).
    const probe = `SELECT r.paper_id, r.tf, r.dl FROM ${this.t('paper_terms')} r WHERE r.term = w.term AND r.paper_id = c.paper_id OFFSET 0`
    // The rarest terms are read whole (postings up to keywordScanLimit, at least one term); every
    // other term is taken one at a time, by MaxScore (Turtle & Flood 1995) below.
    const { keywordScanLimit = 5_000 } = this.options
    let essential = 0
    for (let postings = 0; essential < terms.length && (essential === 0 || postings + (df.get(terms[essential]!) ?? 0) <= keywordScanLimit); essential++) postings += df.get(terms[essential]!) ?? 0
    const params = [terms, limit, averageLength, ...where.params, idf]
    if (filter?.ids && filter.ids.length <= READ_SLICE) {
      // A few given papers (the hits outside the keyword leg's top): their term rows by key, nothing scanned.
      const rows = await this.query<{ id: string; score: number }>(
        `SELECT t.paper_id AS id, ${score} AS score
         FROM unnest(${afterFilter(where, 1)}::text[]) AS c(paper_id) CROSS JOIN ${words} CROSS JOIN LATERAL (${probe}) t ${join}
         WHERE ${where.sql} ${order}`,
        [...params, [...new Set(filter.ids)]],
      )
      return rows.map((r) => ({ id: r.id, score: Number(r.score) }))
    }
    // A stage per term, up to MAX_STAGES; a longer query (a pasted abstract) is read whole, which
    // costs less than that many stages (measured at 10 k papers, mean per query: ~100 terms 278 ms
    // staged against 260 ms read whole; ~300 terms 1,380 against 335 ms; ~60 terms 103 against 182 ms).
    if (essential < terms.length && terms.length - essential <= MAX_STAGES) {
      const staged = this.maxScoreSql(terms.slice(essential), idf.slice(essential), { where, join, whole })
      const rows = await this.query<{ id: string; score: number }>(staged.sql, [terms.slice(0, essential), limit, averageLength, ...where.params, idf.slice(0, essential), ...staged.params])
      return rows.map((r) => ({ id: r.id, score: Number(r.score) }))
    }
    const rows = await this.query<{ id: string; score: number }>(`${whole} ORDER BY score DESC, t.paper_id COLLATE "C" LIMIT $2`, params)
    return rows.map((r) => ({ id: r.id, score: Number(r.score) }))
  }

  /**
   * The exact BM25 top k of keywordPapers, reading each common term's postings only while they can
   * still matter (MaxScore, Turtle & Flood 1995), as one statement of chained stages. Stage 0 scores
   * the papers holding one of the rarest terms ($1, read whole). Each later stage takes the next term:
   * a paper's score so far is a lower bound of its full score, so the k-th best of them is a floor for
   * the k-th best full score; `rest` bounds what this term and those after it can still add (each
   * adds < idf × (k1 + 1)). So a paper with score + rest below the floor is dropped unprobed, and the
   * term's own postings are read only while rest reaches the floor (a one-time filter: past that
   * point no paper outside the stages can enter the top k, and the floor only rises, so no later term
   * is read either); otherwise the papers so far are probed for it by key. A paper dropped at one
   * stage and met again in a later term's postings comes back with only that term's part of its
   * score; it was dropped because its full score stays below the floor, which only rises, so it
   * stays out of the top k (the k papers holding the floor are never dropped). Before, the rarer terms'
   * postings were read up to 20,000 rows at once and every paper near the floor probed for all
   * common terms, falling back to a full scan when the bound failed (measured at 100 k: 50–215 ms on
   * queries of several common words).
   */
  private maxScoreSql(
    terms: readonly string[],
    idf: readonly number[],
    { where, join, whole }: { where: { sql: string; params: unknown[] }; join: string; whole: string },
  ): { sql: string; params: unknown[] } {
    const params: unknown[] = []
    const param = (value: unknown, type: string): string => {
      params.push(value)
      return `${afterFilter(where, params.length)}::${type}`
    }
    const rest = (from: number): number => idf.slice(from).reduce((sum, w) => sum + w * (BM25.k1 + 1), 0) * (1 + 1e-9)
    const stages = [
      `s0 (paper_id, score) AS (${whole})`,
    ]
    terms.forEach((term, i) => {
      const [prev, floor, term$, w, bound, after] = [`s${i}`, `f${i}`, param(term, 'text'), param(idf[i], 'float8'), param(rest(i), 'float8'), param(rest(i + 1), 'float8')]
      const reach = `(SELECT v FROM ${floor})`
      stages.push(
        `${floor} AS (SELECT coalesce((SELECT score FROM ${prev} ORDER BY score DESC OFFSET $2 - 1 LIMIT 1), 0) AS v)`,
        `s${i + 1} AS (
           SELECT c.paper_id, c.score + coalesce((SELECT ${bm25Term(w)} FROM ${this.t('paper_terms')} t WHERE t.term = ${term$} AND t.paper_id = c.paper_id), 0) AS score
           FROM ${prev} c WHERE c.score + ${bound} >= ${reach}
           UNION ALL
           SELECT t.paper_id, ${bm25Term(w)} FROM ${this.t('paper_terms')} t ${join}
           WHERE t.term = ${term$} AND ${bound} >= ${reach} AND ${bm25Term(w)} + ${after} >= ${reach} AND ${where.sql}
             AND NOT EXISTS (SELECT 1 FROM ${prev} c WHERE c.paper_id = t.paper_id))`,
      )
    })
    return { sql: `WITH ${stages.join(',\n')}\nSELECT paper_id AS id, score FROM s${terms.length} ORDER BY score DESC, paper_id COLLATE "C" LIMIT $2`, params }
  }

  async keywordChunks(query: string, paperIds: readonly string[]): Promise<ScoredId[]> {
    if (paperIds.length === 0) return []
    const { n, averageLength, df } = await this.keywordStats('chunk', queryTerms(query))
    if (df.size === 0) return []
    // The chunks' term frequencies from their texts, by the embedded chunk index's own scoring; idf
    // and average length over every chunk of the corpus, as it computes them.
    const rows = await this.chunkRows(paperIds)
    const idf = (term: string): number => bm25Idf(df.get(term) ?? 0, n)
    return bm25Ranked(query, rows.map((r) => ({ id: r.id, fields: [{ text: r.text, weight: 1 }] })), idf, averageLength)
  }

  /**
   * keywordPapers for a reader holding the corpus's paper records (PostgresView). A filter of nothing
   * but paper ids (a search's hits outside its keyword top) is scored from those records: the stored
   * term rows were counted from the same fields by the same tokenizer, so it is the same BM25 without
   * a statement. Anything else, and ts_rank ranking, goes to keywordPapers.
   */
  async keywordPapersAmong(records: ReadonlyMap<string, StoredPaper>, query: string, options: { limit: number; filter?: PaperFilter }): Promise<ScoredId[]> {
    const { limit, filter } = options
    const onlyIds = filter?.ids !== undefined && Object.entries(filter).every(([name, value]) => name === 'ids' || value === undefined)
    if (!onlyIds || this.options.keywordRanking === 'ts_rank') return this.keywordPapers(query, options)
    if (limit <= 0) return []
    const { n, averageLength, df } = await this.keywordStats('paper', queryTerms(query))
    // As the SQL sums: only terms some paper holds.
    const idf = (term: string): number => (df.has(term) ? bm25Idf(df.get(term)!, n) : 0)
    const papers = [...new Set(filter.ids)].flatMap((id) => {
      const paper = records.get(id)
      return paper ? [{ id, fields: paperFields(paper) }] : []
    })
    return bm25Ranked(query, papers, idf, averageLength).slice(0, limit)
  }

  /** N, mean keyword length and the document frequency of each of `terms` that occurs, at paper or chunk level. */
  private async keywordStats(level: Level, terms: readonly string[]): Promise<KeywordStats> {
    if (terms.length === 0) return { n: 0, averageLength: 1, df: new Map() }
    // A search asks for its terms' paper statistics twice (its top, then the hits outside it) and for
    // their chunk statistics once, and through PGlite every statement waits its turn: both levels are
    // read in one statement and answered again from memory while this reader holds the same corpus
    // version (the version is part of the key: a commit or a refresh that moves it leaves the older
    // entries to age out).
    const key = (at: Level): string => [this.current.version, at, ...[...new Set(terms)].sort(compare)].join('\u0000')
    const wanted = key(level)
    const kept = this.statsCache.get(wanted)
    if (kept) {
      this.statsCache.delete(wanted) // re-inserted: the Map's order is the LRU order
      this.statsCache.set(wanted, kept)
      return kept
    }
    const read = await this.readKeywordStats(terms)
    for (const at of LEVELS) {
      this.statsCache.set(key(at), read[at])
      if (this.statsCache.size > STATS_CACHE_SIZE) this.statsCache.delete(this.statsCache.keys().next().value!)
    }
    return read[level]
  }

  private async readKeywordStats(terms: readonly string[]): Promise<Record<Level, KeywordStats>> {
    const rows = await this.query<{ level: Level; term: string | null; df: number; n: string; length: string }>(
      LEVELS.map(
        (level) =>
          `SELECT '${level}' AS level, d.term, d.df, c.${level}s AS n, c.${level}_length AS length FROM ${this.t('corpus')} c LEFT JOIN ${this.t(`${level}_df`)} d ON d.term = ANY($1) AND d.df > 0`,
      ).join(' UNION ALL '),
      [[...terms]],
    )
    const stats = (level: Level): KeywordStats => {
      const mine = rows.filter((r) => r.level === level)
      const n = Number(mine[0]?.n ?? 0)
      const length = Number(mine[0]?.length ?? 0)
      const df = new Map(mine.flatMap((r) => (r.term === null ? [] : [[r.term, Number(r.df)] as const])))
      return { n, averageLength: n > 0 && length > 0 ? length / n : 1, df }
    }
    return { paper: stats('paper'), chunk: stats('chunk') }
  }

  async termStats(terms: readonly string[]): Promise<TermStats> {
    const { n, df } = await this.keywordStats('paper', [...new Set(terms)])
    if (terms.length === 0) return termStats((await this.query<{ papers: number }>(`SELECT papers FROM ${this.t('corpus')}`))[0]?.papers ?? 0, df)
    return termStats(n, df)
  }

  async readNote<T>(name: string): Promise<T | undefined> {
    const rows = await this.query<{ value: T }>(`SELECT value FROM ${this.t('notes')} WHERE name = $1 AND version = $2`, [name, versionNumber(this.current.version)])
    return rows[0]?.value
  }

  /** Kept with the version this reader has open: a note measured on an older corpus is never filed under a newer one. */
  async writeNote(name: string, value: unknown): Promise<void> {
    const version = versionNumber(this.current.version)
    await this.query(
      `INSERT INTO ${this.t('notes')} (name, version, value) SELECT $1, $2, $3::jsonb WHERE EXISTS (SELECT 1 FROM ${this.t('corpus')} WHERE version = $2)
       ON CONFLICT (name) DO UPDATE SET version = excluded.version, value = excluded.value`,
      [name, version, JSON.stringify(value)],
    )
  }

  async lock({ wait, onWait }: { wait: boolean; onWait?: (holder: string) => void }): Promise<WriteSession> {
    const lease = await this.run(() => acquireWriteLock(this.pool, this.schema, { wait, onWait, location: this.target.location, ...this.options.lock }))
    return this.session(lease)
  }

  private session(lease: WriteLease): WriteSession {
    return {
      reader: async () => {
        this.current = this.toInfo(await this.run(() => lease.exclusive(() => readCorpus(lease.client, this.schema))))
        return this
      },
      vectorsByHash: async (hashes, among) => {
        const out = new Map<string, number[]>()
        if (hashes.length === 0 || this.current.chunks === 0 || among?.length === 0) return out
        const within = among ? ` AND paper_id = ANY($2)` : ''
        const papers = among ? [[...new Set(among)]] : []
        // In slices: the hashes of a 100 k-paper ingest are 40 MB of parameters, too much for one statement through PGlite.
        const all = [...hashes]
        for (let i = 0; i < all.length; i += READ_SLICE) {
          const rows = await this.run(() =>
            lease.exclusive(() => lease.client.query<{ hash: string; embedding: string }>(`SELECT DISTINCT ON (hash) hash, embedding::text AS embedding FROM ${this.t('chunks')} WHERE hash = ANY($1)${within}`, [all.slice(i, i + READ_SLICE), ...papers])),
          )
          for (const r of rows.rows) out.set(r.hash, JSON.parse(r.embedding) as number[])
        }
        return out
      },
      contentHashes: async () => {
        const rows = await this.run(() => lease.exclusive(() => lease.client.query<{ id: string; content_hash: string }>(`SELECT id, content_hash FROM ${this.t('papers')}`)))
        return new Map(rows.rows.map((r) => [r.id, r.content_hash]))
      },
      commit: async (batch) => {
        await this.run(() => lease.exclusive(() => this.commit(lease, batch)))
        // On the lock's connection: a writer needs no second one from the pool.
        this.current = this.toInfo(await this.run(() => lease.exclusive(() => readCorpus(lease.client, this.schema))))
      },
      release: () => lease.release(),
    }
  }

  /** One batch as one transaction, on the lock's own connection, checked to still hold the lock. */
  private async commit(lease: WriteLease, batch: CorpusBatch): Promise<void> {
    const client = lease.client
    const dims = batch.embedder.dimensions
    for (const { chunks } of batch.upsert) {
      for (const { chunk, vector } of chunks) {
        if (vector.length !== dims) throw new AppError('BAD_INPUT', `Chunk ${chunk.id} has a vector of ${vector.length} dimensions; ${describe(batch.embedder)} makes ${dims}.`)
      }
    }
    const touched = [...new Set([...batch.upsert.map((u) => u.paper.id), ...batch.remove])]
    // Whether this commit builds the vector index (a load's last batch): it is tidied up after the commit.
    let building = false
    await client.query('BEGIN')
    try {
      await lease.verify()
      const row = (await client.query<CorpusRow>(`SELECT version, embedder, chunking, partial, papers, chunks FROM ${this.t('corpus')} FOR UPDATE`)).rows[0]
      const built = row?.embedder ?? undefined
      if (built && !sameEmbedder(built, batch.embedder)) {
        // Another embedder only by replacing every stored paper (a rebuild): vectors of two models never mix.
        const left = await client.query<{ n: number }>(`SELECT count(*)::integer AS n FROM ${this.t('papers')} WHERE NOT (id = ANY($1))`, [touched])
        if ((left.rows[0]?.n ?? 0) > 0) throw this.mismatch(built, batch.embedder)
      }
      const before = await this.touchedCounts(client, touched)
      // The replaced rows leave the document frequencies first (their chunks' terms counted from their texts).
      await client.query(
        `UPDATE ${this.t('paper_df')} d SET df = d.df - o.n FROM (SELECT term, count(*)::integer AS n FROM ${this.t('paper_terms')} WHERE paper_id = ANY($1) GROUP BY term) o WHERE d.term = o.term`,
        [touched],
      )
      const replaced = await client.query<{ id: string; text: string }>(`SELECT id, text FROM ${this.t('chunks')} WHERE paper_id = ANY($1)`, [touched])
      if (replaced.rows.length > 0) {
        const gone = termRows(replaced.rows.map((c) => ({ id: c.id, fields: [{ text: c.text, weight: 1 }] }))).df
        await addDocumentFrequencies(client, this.schema, 'chunk_df', new Map([...gone].map(([term, n]) => [term, -n])))
      }
      await client.query(`DELETE FROM ${this.t('chunks')} WHERE paper_id = ANY($1)`, [touched])
      await client.query(`DELETE FROM ${this.t('paper_terms')} WHERE paper_id = ANY($1)`, [touched])
      await client.query(`DELETE FROM ${this.t('papers')} WHERE id = ANY($1)`, [touched])
      if (!built || built.dimensions !== dims) await this.fixDimension(client, dims)

      const papers = batch.upsert.map((u) => u.paper)
      const paperTerms = termRows(papers.map((p) => ({ id: p.id, fields: paperFields(p) })))
      for (let i = 0; i < papers.length; i += PAPERS_PER_STATEMENT) {
        const slice = papers.slice(i, i + PAPERS_PER_STATEMENT)
        await client.query(
          `INSERT INTO ${this.t('papers')} (id, record, content_hash, year, source_files, kw_length, title_key)
           SELECT r->>'id', r, r->>'contentHash', y, ARRAY(SELECT jsonb_array_elements_text(f)), l, k FROM unnest($1::jsonb[], $2::integer[], $3::jsonb[], $4::integer[], $5::text[]) AS u(r, y, f, l, k)`,
          [
            slice.map((p) => JSON.stringify(p)),
            slice.map((p) => paperYear(p) ?? null),
            slice.map((p) => JSON.stringify(unique(p.sources.map(sourceFile)))),
            slice.map((p) => paperTerms.lengths.get(p.id) ?? 0),
            slice.map((p) => normaliseTitle(p.title)),
          ],
        )
      }
      await insertPaperTerms(client, this.schema, paperTerms)
      await addDocumentFrequencies(client, this.schema, 'paper_df', paperTerms.df)
      const chunks = batch.upsert.flatMap((u) => u.chunks.map((c) => ({ ...c, paper: u.paper })))
      if (chunks.length > 0) {
        // A load that at least doubles the corpus builds the HNSW index once, after its last batch,
        // instead of inserting every vector into the graph (pgvector: "add indexes after loading the
        // initial data"; measured here ~8 ms a vector maintained vs ~1.5 ms built).
        const stored = Number(row?.chunks ?? 0) - before.chunks
        if (chunks.length >= stored && (await this.hasVectorIndex(client))) await client.query(`DROP INDEX "${this.schema}".chunks_embedding_hnsw`)
        const chunkTerms = termRows(chunks.map((c) => ({ id: c.chunk.id, fields: [{ text: c.chunk.text, weight: 1 }] })))
        const vectorOid = await this.vectorOid(client)
        // The rows of LangChain's PGVectorStore layout (id, text, metadata, embedding), which reads and
        // searches them; written here rather than by its addVectors, which sends each vector as
        // decimal text in a VALUES list (~70 chunks/s through PGlite).
        for (let i = 0; i < chunks.length; i += CHUNKS_PER_STATEMENT) {
          const slice = chunks.slice(i, i + CHUNKS_PER_STATEMENT)
          await client.query(
            `INSERT INTO ${this.t('chunks')} (id, text, metadata, embedding, kw_length) SELECT * FROM unnest($1::text[], $2::text[], $3::jsonb[], $4::vector[], $5::integer[])`,
            [
              slice.map((c) => c.chunk.id),
              slice.map((c) => c.chunk.text.replace(/\0/g, '')),
              slice.map((c) =>
                JSON.stringify({ paperId: c.chunk.paperId, index: c.chunk.index, hash: c.chunk.hash, year: paperYear(c.paper) ?? null, sourceFiles: unique(c.paper.sources.map(sourceFile)) }),
              ),
              vectorArray(vectorOid, slice.map((c) => c.vector), dims),
              slice.map((c) => chunkTerms.lengths.get(c.chunk.id) ?? 0),
            ],
          )
        }
        await addDocumentFrequencies(client, this.schema, 'chunk_df', chunkTerms.df)
      }
      // The index is built by the load's last batch (and by any later one, should an interrupted load have left it out).
      building = !batch.partial && !(await this.hasVectorIndex(client))
      if (building) await this.buildVectorIndex(client, dims)
      const after = await this.touchedCounts(client, touched)
      // Counts and total keyword lengths (BM25's N and average lengths) move by what this batch changed.
      await client.query(
        `UPDATE ${this.t('corpus')} SET version = version + 1, embedder = $1, chunking = $2, partial = $3, updated_at = now(),
           papers = papers + $4, chunks = chunks + $5, paper_length = paper_length + $6, chunk_length = chunk_length + $7`,
        [
          JSON.stringify(batch.embedder),
          JSON.stringify({ size: batch.chunking.size, overlap: batch.chunking.overlap }),
          batch.partial ? JSON.stringify(batch.partial) : null,
          after.papers - before.papers,
          after.chunks - before.chunks,
          after.paperLength - before.paperLength,
          after.chunkLength - before.chunkLength,
        ],
      )
      await client.query(`DELETE FROM ${this.t('notes')} WHERE version < (SELECT version FROM ${this.t('corpus')})`)
      await client.query('COMMIT')
    } catch (error) {
      await client.query('ROLLBACK').catch(() => undefined)
      throw error
    }
    // After the commit, outside the transaction (VACUUM cannot run in one): nothing here to roll back.
    if (building) await this.tidyAfterLoad(client)
  }

  /**
   * After a load: the visibility map set (until then the keyword leg's index-only scans read the
   * table too) and the planner's statistics taken. A server's autovacuum would get there later;
   * PGlite has none.
   */
  private async tidyAfterLoad(client: pg.ClientBase): Promise<void> {
    await client.query('SET statement_timeout = 0')
    try {
      await client.query(`VACUUM (ANALYZE) ${this.t('paper_terms')}`)
      await client.query(`ANALYZE ${this.t('papers')}, ${this.t('chunks')}`)
    } finally {
      await client.query(`SET statement_timeout = ${Math.trunc(this.options.statementTimeoutMs ?? DEFAULT_STATEMENT_TIMEOUT_MS)}`)
    }
  }

  /** Rows and keyword lengths of these papers and their chunks, as they are now (indexed look-ups, no scan). */
  private async touchedCounts(client: pg.ClientBase, ids: string[]): Promise<{ papers: number; chunks: number; paperLength: number; chunkLength: number }> {
    const rows = await client.query<{ papers: string; chunks: string; paper_length: string; chunk_length: string }>(
      `SELECT (SELECT count(*) FROM ${this.t('papers')} WHERE id = ANY($1)) AS papers,
              (SELECT coalesce(sum(kw_length), 0) FROM ${this.t('papers')} WHERE id = ANY($1)) AS paper_length,
              (SELECT count(*) FROM ${this.t('chunks')} WHERE paper_id = ANY($1)) AS chunks,
              (SELECT coalesce(sum(kw_length), 0) FROM ${this.t('chunks')} WHERE paper_id = ANY($1)) AS chunk_length`,
      [ids],
    )
    const r = rows.rows[0]
    return { papers: Number(r?.papers ?? 0), chunks: Number(r?.chunks ?? 0), paperLength: Number(r?.paper_length ?? 0), chunkLength: Number(r?.chunk_length ?? 0) }
  }

  /** Fixes the vector column to `dims` and (re)builds the HNSW index on it: pgvector uses the index only for vector(N). */
  private async fixDimension(client: pg.ClientBase, dims: number): Promise<void> {
    const left = await client.query<{ n: number }>(`SELECT count(*)::integer AS n FROM ${this.t('chunks')}`)
    if ((left.rows[0]?.n ?? 0) > 0) throw new AppError('BAD_INPUT', `The vectors in ${this.target.location} are not all replaced; cannot change their dimension to ${dims}.`)
    await client.query(`DROP INDEX IF EXISTS "${this.schema}".chunks_embedding_hnsw`)
    await client.query(`ALTER TABLE ${this.t('chunks')} ALTER COLUMN embedding TYPE vector(${Math.trunc(dims)})`)
    await client.query(`CREATE INDEX chunks_embedding_hnsw ON ${this.t('chunks')} USING hnsw ${VECTOR_INDEX_KEY}`)
  }

  private async hasVectorIndex(client: pg.ClientBase): Promise<boolean> {
    const rows = await client.query(`SELECT 1 FROM pg_indexes WHERE schemaname = $1 AND indexname = 'chunks_embedding_hnsw'`, [this.schema])
    return rows.rowCount === 1
  }

  /** Builds the HNSW index over every stored vector: with the graph in memory (pgvector builds far slower once it outgrows `maintenance_work_mem`) and no statement timeout. */
  private async buildVectorIndex(client: pg.ClientBase, dims: number): Promise<void> {
    await client.query('SET LOCAL statement_timeout = 0')
    // A column left without its dimension (rows copied in by schema version 1) gets it first: the index needs it.
    const typmod = await client.query<{ dims: number }>(`SELECT atttypmod AS dims FROM pg_attribute WHERE attrelid = '${this.t('chunks')}'::regclass AND attname = 'embedding'`)
    if ((typmod.rows[0]?.dims ?? -1) <= 0) await client.query(`ALTER TABLE ${this.t('chunks')} ALTER COLUMN embedding TYPE vector(${Math.trunc(dims)})`)
    // The graph wants ~2.6 KB a 512-dimension vector in memory; a server that cannot give that much
    // (PGlite has 2 GB of WebAssembly memory in all) fails with out_of_memory, and the build is
    // tried again with half as much, finishing the graph on disk.
    for (let memoryMB = Math.trunc(this.options.indexBuildMemoryMB ?? 1536); ; memoryMB = Math.trunc(memoryMB / 2)) {
      await client.query(`SET LOCAL maintenance_work_mem = '${memoryMB}MB'`)
      await client.query('SAVEPOINT vector_index')
      try {
        await client.query(`CREATE INDEX chunks_embedding_hnsw ON ${this.t('chunks')} USING hnsw ${VECTOR_INDEX_KEY}`)
        return
      } catch (error) {
        if ((error as { code?: string }).code !== '53200' || memoryMB <= 64) throw error
        await client.query('ROLLBACK TO SAVEPOINT vector_index')
      }
    }
  }

  private async vectorOid(client: pg.ClientBase): Promise<number> {
    this.vectorType ??= Number((await client.query<{ oid: number }>(`SELECT 'vector'::regtype::oid AS oid`)).rows[0]?.oid)
    return this.vectorType
  }

  private async tsRankPapers(query: string, limit: number, where: { sql: string; params: unknown[] }): Promise<ScoredId[]> {
    // websearch_to_tsquery ANDs bare words; a question's words are alternatives, as in BM25.
    const words = query.normalize('NFKC').match(/[\p{L}\p{N}]+/gu) ?? []
    if (words.length === 0) return []
    const rows = await this.query<{ id: string; score: number }>(
      `SELECT p.id, ts_rank_cd(p.search, q) AS score FROM ${this.t('papers')} p, websearch_to_tsquery('english', $1) q
       WHERE p.search @@ q AND ${where.sql} ORDER BY score DESC, p.id COLLATE "C" LIMIT $2`,
      [words.join(' or '), limit, ...where.params],
    )
    return rows.map((r) => ({ id: r.id, score: Number(r.score) }))
  }

  /** The filter as a condition on `papers p`, parameters from `$first` on; undefined when nothing can match. */
  private async filterSql(filter: PaperFilter | undefined, first: number): Promise<{ sql: string; params: unknown[] } | undefined> {
    const clauses: string[] = ['true']
    const params: unknown[] = []
    const param = (value: unknown): string => {
      params.push(value)
      return `$${first + params.length - 1}`
    }
    if (filter?.ids) {
      if (filter.ids.length === 0) return undefined
      clauses.push(`p.id = ANY(${param(filter.ids)}::text[])`)
    }
    if (filter?.years) {
      clauses.push('p.year IS NOT NULL')
      if (filter.years.from !== undefined) clauses.push(`p.year >= ${param(filter.years.from)}::integer`)
      if (filter.years.to !== undefined) clauses.push(`p.year <= ${param(filter.years.to)}::integer`)
    }
    if (filter?.sources) {
      const files = await this.matchingSourceFiles(filter.sources)
      if (files.length === 0) return undefined
      clauses.push(`p.source_files && ${param(files)}::text[]`)
    }
    return { sql: clauses.join(' AND '), params }
  }

  /** The same conditions on chunk metadata, as LangChain's PGVectorStore filters; undefined when nothing can match. */
  private async metadataFilter(filter: PaperFilter | undefined): Promise<PGVectorStore['FilterType'] | undefined> {
    const out: PGVectorStore['FilterType'] = {}
    if (filter?.ids) {
      if (filter.ids.length === 0) return undefined
      out.paperId = { in: filter.ids }
    }
    if (filter?.years) {
      // A missing year is JSON null: `(metadata->>'year')::numeric` is NULL and fails every comparison.
      out.year = { gte: filter.years.from ?? -1e9, lte: filter.years.to ?? 1e9 }
    }
    if (filter?.sources) {
      const files = await this.matchingSourceFiles(filter.sources)
      if (files.length === 0) return undefined
      out.sourceFiles = { arrayContains: files }
    }
    return out
  }

  /** The stored source files a `sources` condition matches, by the corpus's own rule (`matchesFilter`). */
  private async matchingSourceFiles(sources: string[]): Promise<string[]> {
    if (this.sourceFiles?.version !== this.current.version) {
      const rows = await this.query<{ f: string }>(`SELECT DISTINCT unnest(source_files) AS f FROM ${this.t('papers')}`)
      this.sourceFiles = { version: this.current.version, files: rows.map((r) => r.f) }
    }
    return this.sourceFiles.files.filter((file) => matchesFilter({ id: '', sources: [file] }, { sources }))
  }

  private vectorStore(pool: pg.Pool): PGVectorStore {
    return new PGVectorStore(NO_EMBEDDINGS, {
      pool,
      tableName: 'chunks',
      schemaName: this.schema,
      columns: { idColumnName: 'id', contentColumnName: 'text', metadataColumnName: 'metadata', vectorColumnName: 'embedding' },
      distanceStrategy: 'cosine',
      // The table is made by our migrations (with a fixed dimension), never by LangChain.
      skipInitializationCheck: true,
    })
  }

  private t(table: string): string {
    return `"${this.schema}".${table}`
  }

  private async query<T extends pg.QueryResultRow>(sql: string, params: unknown[] = []): Promise<T[]> {
    return (await this.run(() => this.pool.query<T>(sql, params))).rows
  }

  private async run<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await fn()
    } catch (error) {
      throw storeError(error, this.target, this.options.statementTimeoutMs === undefined ? {} : { statementTimeoutMs: this.options.statementTimeoutMs })
    }
  }

  private mismatch(built: EmbedderInfo, info: Pick<EmbedderInfo, 'provider' | 'model'> & { dimensions?: number }): AppError {
    return new AppError(
      'EMBEDDER_MISMATCH',
      `The index in ${this.target.location} was built with ${describe(built)}, not ${describe(info)}; ` +
        `use --embedder ${built.provider} to query it, or rebuild it with \`askpapers ingest --rebuild\`.`,
    )
  }

  private toInfo(row: CorpusRow): StoreInfo {
    const version = Number(row.version)
    return {
      kind: 'postgres',
      location: this.target.location,
      version: version > 0 ? `v${version}` : '',
      papers: Number(row.papers),
      chunks: Number(row.chunks),
      ...(row.embedder ? { embedder: row.embedder } : {}),
      ...(row.chunking ? { chunking: row.chunking } : {}),
      ...(row.partial ? { partial: row.partial } : {}),
    }
  }
}

async function readCorpus(pool: pg.Pool | pg.ClientBase, schema: string): Promise<CorpusRow> {
  const rows = await pool.query<CorpusRow>(`SELECT version, embedder, chunking, partial, papers, chunks FROM "${schema}".corpus`)
  const row = rows.rows[0]
  if (!row) throw new AppError('INDEX_CORRUPT', `The corpus table of schema "${schema}" has no row; it was not made by askpapers' migrations.`)
  return row
}

function termStats(papers: number, df: ReadonlyMap<string, number>): TermStats {
  return { papers, documentFrequency: (term) => df.get(term) ?? 0, idf: (term) => bm25Idf(df.get(term) ?? 0, papers) }
}

// pgvector uses the index only on a column of fixed dimension (vector(N)). (Half precision, `halfvec`,
// would make the graph 40 % smaller, but its distances are ~10× slower in PGlite's WebAssembly:
// measured 59 ms against 6 ms for one search of 6 k chunks.)
const VECTOR_INDEX_KEY = '(embedding vector_cosine_ops)'

const DEFAULT_STATEMENT_TIMEOUT_MS = 30_000
const STATS_CACHE_SIZE = 1024

/** Documents scored by the project's BM25 (`scoreFields`) with the corpus's idf and mean length, best first; those sharing no term with the query left out. */
function bm25Ranked(query: string, docs: readonly { id: string; fields: { text: string; weight: number }[] }[], idf: (term: string) => number, averageLength: number): ScoredId[] {
  return docs
    .map((d) => ({ id: d.id, score: scoreFields(query, d.fields, { idf }, averageLength, BM25.k1, BM25.b) }))
    .filter((h) => h.score > 0)
    .sort((a, b) => b.score - a.score || compare(a.id, b.id))
}

type Level = 'paper' | 'chunk'
const LEVELS: readonly Level[] = ['paper', 'chunk']

interface KeywordStats {
  n: number
  averageLength: number
  df: ReadonlyMap<string, number>
}

// keywordPapers' parameters: $1 terms, $2 limit, $3 average length, the filter's, then these by
// position (0: the terms' idf; 1: paper ids; or, from 1 on, maxScoreSql's own).
const afterFilter = (where: { params: unknown[] }, i: number): string => `$${4 + i + where.params.length}`
/** keywordPapers' MaxScore: at most this many stages in its statement; beyond, postings are read whole. */
const MAX_STAGES = 64
/** One term's BM25 weight in a paper, from its term row `t` (tf, dl), the term's idf and the mean length in $3. */
const bm25Term = (idf: string): string => `${idf} * t.tf * ${BM25.k1 + 1} / (t.tf + ${BM25.k1} * (1 - ${BM25.b} + ${BM25.b} * t.dl / $3::float8))`

const versionNumber = (version: string): number => (version ? Number(version.slice(1)) : 0)
const unique = <T>(items: T[]): T[] => [...new Set(items)]
const compare = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0)
const sameEmbedder = (a: EmbedderInfo, b: Pick<EmbedderInfo, 'provider' | 'model'> & { dimensions?: number }): boolean =>
  a.provider === b.provider && a.model === b.model && (b.dimensions === undefined || a.dimensions === b.dimensions)
const describe = (info: { provider: string; model: string; dimensions?: number }): string => `${info.provider} (${info.model}${info.dimensions ? `, ${info.dimensions} dimensions` : ''})`

export { LATEST as SCHEMA_VERSION }
