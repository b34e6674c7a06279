import { PGVectorStore } from '@langchain/community/vectorstores/pgvector'
import { Document } from '@langchain/core/documents'
import type { EmbeddingsInterface } from '@langchain/core/embeddings'
import pg from 'pg'
import { matchesFilter, paperYear, sourceFile } from '../../corpus/index.js'
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
import { LATEST, migrate, writeChunkTerms, writePaperTerms } from './_schema.js'
import { BM25, queryTerms } from './_terms.js'
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
  /** Write-lock tuning (see _lock.ts); tests shorten these. */
  lock?: { pollMs?: number; staleMs?: number; heartbeatMs?: number }
}

interface CorpusRow {
  version: string
  embedder: EmbedderInfo | null
  chunking: ChunkOptions | null
  partial: StoreInfo['partial'] | null
  papers: number
  chunks: number
}

const SCHEMA_NAME = /^[a-z_][a-z0-9_]{0,62}$/

// PGVectorStore only stores and searches vectors it is handed; askpapers embeds through its Embedder.
const NO_EMBEDDINGS: EmbeddingsInterface = {
  embedDocuments: () => Promise.reject(new Error('PostgresStore stores vectors it is given; it does not embed')),
  embedQuery: () => Promise.reject(new Error('PostgresStore stores vectors it is given; it does not embed')),
}

/**
 * The corpus in PostgreSQL + pgvector (issue 11): papers, chunks and their vectors in tables made by
 * versioned migrations (see _schema.ts), vectors written and searched through LangChain's
 * PGVectorStore, BM25 computed in SQL from term statistics stored at write time, and one writer at a
 * time per corpus through an advisory lock. Any number of processes may open the same corpus;
 * `refresh()` lets a long-running one notice what others committed.
 */
export class PostgresStore implements CorpusReader, CorpusWriter {
  private current: StoreInfo
  private sourceFiles: { version: string; files: string[] } | undefined

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
    const { schema = 'askpapers', maxConnections = target.poolMax ?? 4, statementTimeoutMs = target.statementTimeoutMs ?? 30_000, connectTimeoutMs = 10_000, efSearch = 200 } = options
    if (!SCHEMA_NAME.test(schema)) throw new AppError('CONFIG', `The store schema "${schema}" must be a lower-case SQL name (letters, digits, _).`, { field: 'schema' })
    const pool = new pg.Pool({
      connectionString: target.url,
      max: maxConnections,
      connectionTimeoutMillis: connectTimeoutMs,
      idleTimeoutMillis: 30_000,
      application_name: 'askpapers',
      // Set per session rather than as startup options, which PGlite and some poolers ignore; awaited
      // before the connection is handed out, so no query is sent while these run.
      onConnect: async (client) => {
        await client.query(`SET statement_timeout = ${Math.trunc(statementTimeoutMs)}; SET hnsw.ef_search = ${Math.trunc(efSearch)}; SET hnsw.iterative_scan = relaxed_order`).catch(() => undefined)
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
    const rows = await this.query<{ id: string; record: StoredPaper }>(`SELECT id, record FROM ${this.t('papers')} WHERE id = ANY($1)`, [ids])
    const byId = new Map(rows.map((r) => [r.id, r.record]))
    return ids.flatMap((id) => {
      const paper = byId.get(id)
      return paper ? [paper] : []
    })
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
    const rows = await this.query<{ id: string; paper_id: string; idx: number; text: string; hash: string }>(
      `SELECT id, paper_id, idx, text, hash FROM ${this.t('chunks')} WHERE paper_id = ANY($1) ORDER BY paper_id, idx`,
      [paperIds],
    )
    for (const r of rows) {
      const chunk: StoredChunk = { id: r.id, paperId: r.paper_id, index: r.idx, text: r.text, hash: r.hash }
      const list = out.get(r.paper_id)
      if (list) list.push(chunk)
      else out.set(r.paper_id, [chunk])
    }
    return out
  }

  async nearestChunks(vector: readonly number[], n: number, filter?: PaperFilter): Promise<ChunkNeighbour[]> {
    if (n <= 0 || this.current.chunks === 0) return []
    const metadata = await this.metadataFilter(filter)
    if (!metadata) return []
    const store = this.vectorStore(this.pool)
    const results = await this.run(() => store.similaritySearchVectorWithScore([...vector], n, metadata))
    return results
      .map(([doc, distance]) => ({ chunkId: String(doc.id), paperId: String(doc.metadata.paperId), similarity: 1 - distance }))
      .sort((a, b) => b.similarity - a.similarity || compare(a.chunkId, b.chunkId))
  }

  async chunkSimilarities(paperIds: readonly string[], vector: readonly number[]): Promise<Map<string, number>> {
    if (paperIds.length === 0) return new Map()
    // `<#>` is the negative inner product: for unit vectors, the cosine similarity.
    const rows = await this.query<{ id: string; similarity: number }>(
      `SELECT id, -(embedding <#> $2::vector) AS similarity FROM ${this.t('chunks')} WHERE paper_id = ANY($1) ORDER BY paper_id, idx`,
      [paperIds, toVector(vector)],
    )
    return new Map(rows.map((r) => [r.id, Number(r.similarity)]))
  }

  async keywordPapers(query: string, { limit, filter }: { limit: number; filter?: PaperFilter }): Promise<ScoredId[]> {
    if (limit <= 0) return []
    const where = await this.filterSql(filter, 3)
    if (!where) return []
    if (this.options.keywordRanking === 'ts_rank') return this.tsRankPapers(query, limit, where)
    const terms = queryTerms(query)
    if (terms.length === 0) return []
    const rows = await this.query<{ id: string; score: number }>(
      `WITH df AS (SELECT term, count(*)::float8 AS df FROM ${this.t('paper_terms')} WHERE term = ANY($1) GROUP BY term),
            c AS (SELECT papers::float8 AS n, CASE WHEN papers > 0 AND paper_length > 0 THEN paper_length::float8 / papers ELSE 1 END AS avgdl FROM ${this.t('corpus')})
       SELECT t.paper_id AS id,
              sum(ln(1 + (c.n - df.df + 0.5) / (df.df + 0.5)) * t.tf * ${BM25.k1 + 1} / (t.tf + ${BM25.k1} * (1 - ${BM25.b} + ${BM25.b} * p.kw_length / c.avgdl))) AS score
       FROM ${this.t('paper_terms')} t JOIN df USING (term) JOIN ${this.t('papers')} p ON p.id = t.paper_id CROSS JOIN c
       WHERE t.term = ANY($1) AND ${where.sql}
       GROUP BY t.paper_id ORDER BY score DESC, t.paper_id COLLATE "C" LIMIT $2`,
      [terms, limit, ...where.params],
    )
    return rows.map((r) => ({ id: r.id, score: Number(r.score) }))
  }

  async keywordChunks(query: string, paperIds: readonly string[]): Promise<ScoredId[]> {
    const terms = queryTerms(query)
    if (terms.length === 0 || paperIds.length === 0) return []
    // idf and average length over every chunk of the corpus, as the embedded chunk index computes them.
    const rows = await this.query<{ id: string; score: number }>(
      `WITH df AS (SELECT term, count(*)::float8 AS df FROM ${this.t('chunk_terms')} WHERE term = ANY($1) GROUP BY term),
            c AS (SELECT chunks::float8 AS n, CASE WHEN chunks > 0 AND chunk_length > 0 THEN chunk_length::float8 / chunks ELSE 1 END AS avgdl FROM ${this.t('corpus')})
       SELECT t.chunk_id AS id,
              sum(ln(1 + (c.n - df.df + 0.5) / (df.df + 0.5)) * t.tf * ${BM25.k1 + 1} / (t.tf + ${BM25.k1} * (1 - ${BM25.b} + ${BM25.b} * ch.kw_length / c.avgdl))) AS score
       FROM ${this.t('chunk_terms')} t JOIN df USING (term) JOIN ${this.t('chunks')} ch ON ch.id = t.chunk_id CROSS JOIN c
       WHERE t.term = ANY($1) AND ch.paper_id = ANY($2)
       GROUP BY t.chunk_id ORDER BY score DESC, t.chunk_id COLLATE "C"`,
      [terms, paperIds],
    )
    return rows.map((r) => ({ id: r.id, score: Number(r.score) }))
  }

  async termStats(terms: readonly string[]): Promise<TermStats> {
    const wanted = [...new Set(terms)]
    const rows = wanted.length
      ? await this.query<{ term: string; df: number }>(`SELECT term, count(*)::integer AS df FROM ${this.t('paper_terms')} WHERE term = ANY($1) GROUP BY term`, [wanted])
      : []
    const counts = await this.query<{ papers: number }>(`SELECT papers FROM ${this.t('corpus')}`)
    return termStats(counts[0]?.papers ?? 0, new Map(rows.map((r) => [r.term, r.df])))
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
        this.current = this.toInfo(await this.run(() => readCorpus(lease.client, this.schema)))
        return this
      },
      vectorsByHash: async (hashes) => {
        const out = new Map<string, number[]>()
        if (hashes.length === 0) return out
        const rows = await this.run(() =>
          lease.client.query<{ hash: string; embedding: string }>(`SELECT DISTINCT ON (hash) hash, embedding::text AS embedding FROM ${this.t('chunks')} WHERE hash = ANY($1)`, [[...hashes]]),
        )
        for (const r of rows.rows) out.set(r.hash, JSON.parse(r.embedding) as number[])
        return out
      },
      contentHashes: async () => {
        const rows = await this.run(() => lease.client.query<{ id: string; content_hash: string }>(`SELECT id, content_hash FROM ${this.t('papers')}`))
        return new Map(rows.rows.map((r) => [r.id, r.content_hash]))
      },
      commit: async (batch) => {
        await this.run(() => lease.exclusive(() => this.commit(lease, batch)))
        // On the lock's connection: a writer needs no second one from the pool.
        this.current = this.toInfo(await this.run(() => readCorpus(lease.client, this.schema)))
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
      await client.query(`DELETE FROM ${this.t('chunk_terms')} WHERE chunk_id IN (SELECT id FROM ${this.t('chunks')} WHERE paper_id = ANY($1))`, [touched])
      await client.query(`DELETE FROM ${this.t('chunks')} WHERE paper_id = ANY($1)`, [touched])
      await client.query(`DELETE FROM ${this.t('paper_terms')} WHERE paper_id = ANY($1)`, [touched])
      await client.query(`DELETE FROM ${this.t('papers')} WHERE id = ANY($1)`, [touched])
      if (!built || built.dimensions !== dims) await this.fixDimension(client, dims)

      const papers = batch.upsert.map((u) => u.paper)
      if (papers.length > 0) {
        await client.query(
          `INSERT INTO ${this.t('papers')} (id, record, content_hash, year, source_files)
           SELECT r->>'id', r, r->>'contentHash', y, ARRAY(SELECT jsonb_array_elements_text(f)) FROM unnest($1::jsonb[], $2::integer[], $3::jsonb[]) AS u(r, y, f)`,
          [papers.map((p) => JSON.stringify(p)), papers.map((p) => paperYear(p) ?? null), papers.map((p) => JSON.stringify(unique(p.sources.map(sourceFile))))],
        )
        await writePaperTerms(client, this.schema, papers)
      }
      const chunks = batch.upsert.flatMap((u) => u.chunks.map((c) => ({ ...c, paper: u.paper })))
      if (chunks.length > 0) {
        // The vectors go in through LangChain's store, bound to this transaction's connection: it only
        // needs a `query` method, and a pool would commit each insert on its own.
        const store = this.vectorStore(client as unknown as pg.Pool)
        await store.addVectors(
          chunks.map((c) => [...c.vector]),
          chunks.map(
            (c) =>
              new Document({
                pageContent: c.chunk.text,
                metadata: { paperId: c.chunk.paperId, index: c.chunk.index, hash: c.chunk.hash, year: paperYear(c.paper) ?? null, sourceFiles: unique(c.paper.sources.map(sourceFile)) },
              }),
          ),
          { ids: chunks.map((c) => c.chunk.id) },
        )
        await writeChunkTerms(client, this.schema, chunks.map((c) => ({ id: c.chunk.id, text: c.chunk.text })))
      }
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
    await client.query(`CREATE INDEX chunks_embedding_hnsw ON ${this.t('chunks')} USING hnsw (embedding vector_cosine_ops)`)
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

function termStats(papers: number, df: Map<string, number>): TermStats {
  return {
    papers,
    documentFrequency: (term) => df.get(term) ?? 0,
    idf: (term) => {
      const d = df.get(term) ?? 0
      return Math.log(1 + (papers - d + 0.5) / (d + 0.5))
    },
  }
}

const versionNumber = (version: string): number => (version ? Number(version.slice(1)) : 0)
const toVector = (v: readonly number[]): string => `[${v.join(',')}]`
const unique = <T>(items: T[]): T[] => [...new Set(items)]
const compare = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0)
const sameEmbedder = (a: EmbedderInfo, b: Pick<EmbedderInfo, 'provider' | 'model'> & { dimensions?: number }): boolean =>
  a.provider === b.provider && a.model === b.model && (b.dimensions === undefined || a.dimensions === b.dimensions)
const describe = (info: { provider: string; model: string; dimensions?: number }): string => `${info.provider} (${info.model}${info.dimensions ? `, ${info.dimensions} dimensions` : ''})`

export { LATEST as SCHEMA_VERSION }
