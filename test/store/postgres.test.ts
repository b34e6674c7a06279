import { spawn } from 'node:child_process'
import { createServer } from 'node:net'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pg from 'pg'
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest'
import { PostgresStore, PostgresView, storeError, parseStoreUrl, type PostgresStoreOptions } from '../../src/index/postgres/index.js'
import { LATEST } from '../../src/index/postgres/_schema.js'
import { queryTerms } from '../../src/index/postgres/_terms.js'
import { copyCorpus, embeddedSource, postgresSource } from '../../src/cli/migrate.js'
import { defaultSeedDir, loadPapers, paperYear } from '../../src/corpus/index.js'
import { createEmbedder } from '../../src/index/embedders/index.js'
import { PaperIndex } from '../../src/index/store/index.js'
import { DEFAULT_FUSION, Retriever } from '../../src/retrieve/hybrid.js'
import { KeywordIndex } from '../../src/retrieve/keyword.js'
import { watch } from '../helpers/processes.js'
import { startPglite, type PgliteServer } from '../helpers/pglite.js'
import { startStubOllama } from '../helpers/stub-ollama.js'
import { storeContract } from './contract.js'
import { CONTRACT_CHUNKING, CONTRACT_EMBEDDER, contractBatch, numberedSpec, Q, SPECS, storedPaper } from './fixtures/corpus.js'
import type { CorpusBatch, CorpusReader } from '../../src/index/store/index.js'

const queryTermsCount = (q: string): number => new Set(queryTerms(q)).size

let server: PgliteServer
// The server without pgvector (for the missing-extension error) starts alongside, not in its test.
let bare: Promise<PgliteServer | Error>
let schemas = 0
const opened: PostgresStore[] = []

beforeAll(async () => {
  bare = startPglite({ vector: false, maxConnections: 2 }).catch((error: Error) => error)
  server = await startPglite({ maxConnections: 8 })
})
// PGlite serves a fixed number of connections (-m): every store's pool is closed after its test.
afterEach(async () => {
  for (const store of opened.splice(0)) await store.close().catch(() => undefined)
})
afterAll(async () => {
  const other = await bare
  if (!(other instanceof Error)) await other.stop()
  await server?.stop()
})

/** A store on a schema of its own: every test gets an empty corpus on the one server. */
async function openStore(options: Partial<PostgresStoreOptions> = {}): Promise<PostgresStore> {
  const store = await PostgresStore.open({ url: server.url(), schema: `corpus_${process.pid}_${++schemas}`, maxConnections: 2, lock: { pollMs: 10 }, ...options })
  opened.push(store)
  return store
}

async function sql<T extends pg.QueryResultRow>(text: string, params: unknown[] = []): Promise<T[]> {
  const client = new pg.Client({ connectionString: server.url() })
  await client.connect()
  try {
    return (await client.query<T>(text, params)).rows
  } finally {
    await client.end()
  }
}

// The engine reads a PostgreSQL corpus through a view holding its paper records (some answers come from them).
const readers: [string, (store: PostgresStore) => Promise<CorpusReader>][] = [
  ['postgres (PGlite over the wire)', async (store) => store],
  ['postgres, read through a PostgresView', (store) => PostgresView.load(store)],
]
for (const [name, read] of readers) {
  storeContract(name, async () => {
    const store = await openStore()
    return {
      writer: store,
      reader: async () => {
        await store.refresh()
        return read(store)
      },
      close: async () => {
        opened.splice(opened.indexOf(store), 1)
        await store.close()
      },
    }
  })
}

describe('postgres store: schema', () => {
  it('migrates an empty database to the latest version, fixing the vector dimension and its HNSW index at the first commit', async () => {
    const store = await openStore()
    const schema = `corpus_${process.pid}_${schemas}`
    expect(await sql(`SELECT version, name FROM "${schema}".schema_migrations ORDER BY version`)).toEqual([
      { version: 1, name: 'papers, chunks and vectors' },
      { version: 2, name: 'keyword leg: term statistics and tsvector' },
      { version: 3, name: 'document frequencies kept per term; chunk BM25 from the chunk texts' },
      { version: 4, name: 'term rows keyed with their BM25 columns' },
    ])
    const typeOf = async () => (await sql<{ t: string }>(`SELECT format_type(atttypid, atttypmod) AS t FROM pg_attribute WHERE attrelid = '"${schema}".chunks'::regclass AND attname = 'embedding'`))[0]?.t
    expect(await typeOf()).toBe('vector')
    const session = await store.lock({ wait: false })
    await session.commit(contractBatch())
    await session.release()
    expect(await typeOf()).toBe('vector(3)')
    // The load that built the vector index also vacuumed and analysed: the keyword leg's index-only scans hold from its first query.
    expect(await sql(`SELECT relallvisible > 0 AS visible, reltuples > 0 AS analysed FROM pg_class WHERE oid = '"${schema}".paper_terms'::regclass`)).toEqual([{ visible: true, analysed: true }])
    const indexes = await sql<{ indexdef: string }>(`SELECT indexdef FROM pg_indexes WHERE schemaname = $1 AND indexname IN ('chunks_embedding_hnsw', 'papers_search')`, [schema])
    expect(indexes.map((i) => i.indexdef.replace(/.* USING (\w+) .*/, '$1')).sort()).toEqual(['gin', 'hnsw'])

    // With the dimension fixed, the planner can use the HNSW index for the nearest-neighbour order.
    const client = new pg.Client({ connectionString: server.url() })
    await client.connect()
    try {
      await client.query('SET enable_seqscan = off')
      const plan = (await client.query<{ 'QUERY PLAN': string }>(`EXPLAIN SELECT id FROM "${schema}".chunks ORDER BY embedding <=> '[1,0,0]' LIMIT 3`)).rows.map((r) => r['QUERY PLAN']).join('\n')
      expect(plan).toContain('chunks_embedding_hnsw')
    } finally {
      await client.query('RESET enable_seqscan')
      await client.end()
    }
  })

  it('migrates a database left at version 1 through version 2: term statistics are backfilled, then kept as document frequencies, and keyword search and counts work', async () => {
    const old = await openStore({ schemaVersion: 1 })
    const schema = `corpus_${process.pid}_${schemas}`
    expect(await sql(`SELECT max(version) AS v FROM "${schema}".schema_migrations`)).toEqual([{ v: 1 }])
    // What version 1 wrote: records, chunks with their vectors, the corpus row.
    const [lora, flash] = contractBatch().upsert
    for (const u of [lora!, flash!]) {
      await sql(`INSERT INTO "${schema}".papers (id, record, content_hash, year, source_files) VALUES ($1, $2, $3, $4, $5)`, [u.paper.id, JSON.stringify(u.paper), u.paper.contentHash, null, []])
      for (const { chunk, vector } of u.chunks) {
        await sql(`INSERT INTO "${schema}".chunks (id, text, metadata, embedding) VALUES ($1, $2, $3, $4)`, [chunk.id, chunk.text, { paperId: chunk.paperId, index: chunk.index, hash: chunk.hash }, `[${vector.join(',')}]`])
      }
    }
    await sql(`UPDATE "${schema}".corpus SET version = 1, papers = 2, chunks = 4, embedder = $1, chunking = $2`, [JSON.stringify(CONTRACT_EMBEDDER), JSON.stringify({ size: 300, overlap: 0 })])
    await old.close()
    opened.splice(opened.indexOf(old), 1)

    // Version 2 backfills the term rows; version 3 turns them into document frequencies and drops the chunk rows.
    const v2 = await PostgresStore.open({ url: server.url(), schema, maxConnections: 2, schemaVersion: 2 })
    expect(await sql(`SELECT max(version) AS v FROM "${schema}".schema_migrations`)).toEqual([{ v: 2 }])
    expect(await sql(`SELECT count(DISTINCT chunk_id)::integer AS n FROM "${schema}".chunk_terms`)).toEqual([{ n: 4 }])
    const [{ n: chunkTermRows } = { n: -1 }] = await sql<{ n: number }>(`SELECT count(*)::integer AS n FROM "${schema}".chunk_terms`)
    await v2.close()
    const store = await PostgresStore.open({ url: server.url(), schema, maxConnections: 2 })
    opened.push(store)
    expect(await sql(`SELECT max(version) AS v FROM "${schema}".schema_migrations`)).toEqual([{ v: LATEST }])
    expect(await sql(`SELECT to_regclass('"${schema}".chunk_terms') AS t`)).toEqual([{ t: null }])
    expect(await sql(`SELECT count(*)::integer AS n FROM "${schema}".paper_terms WHERE dl = 0`)).toEqual([{ n: 0 }])
    expect(await sql(`SELECT sum(df)::integer AS n FROM "${schema}".chunk_df`)).toEqual([{ n: chunkTermRows }])
    expect(store.info()).toMatchObject({ version: 'v1', papers: 2, chunks: 4 })
    const reference = new KeywordIndex([lora!, flash!].map(({ paper: p }) => ({ id: p.id, fields: [{ text: p.title, weight: 2 }, { text: p.plainAbstract, weight: 1 }] })))
    const hits = await store.keywordPapers('low-rank memory attention', { limit: 5 })
    expect(hits.map((h) => h.id)).toEqual(['p-lora', 'p-flash'])
    expect(hits.map((h) => h.id)).toEqual(reference.search('low-rank memory attention').map((h) => h.id))
    hits.forEach((h, i) => expect(h.score).toBeCloseTo(reference.search('low-rank memory attention')[i]!.score, 9))
    expect((await store.keywordChunks('memory', ['p-flash'])).map((h) => h.id)).toEqual(['p-flash#1'])
    expect((await store.termStats(['attent'])).documentFrequency('attent')).toBe(1)
    expect((await sql<{ id: string }>(`SELECT id FROM "${schema}".papers WHERE search @@ websearch_to_tsquery('english', 'matrices')`)).map((r) => r.id)).toEqual(['p-lora'])
    expect((await store.nearestChunks(Q, 1))[0]?.chunkId).toBe('p-lora#0')
  })

  it('migrates a corpus written at version 3 to 4: the term rows\' key then carries tf and dl, and keyword search gives the same scores', async () => {
    const old = await openStore({ schemaVersion: 3 })
    const schema = `corpus_${process.pid}_${schemas}`
    const session = await old.lock({ wait: false })
    await session.commit(contractBatch())
    await session.release()
    const key = async () => (await sql<{ d: string }>(`SELECT indexdef AS d FROM pg_indexes WHERE schemaname = $1 AND indexname = 'paper_terms_pkey'`, [schema]))[0]?.d
    expect(await key()).not.toContain('INCLUDE')
    const before = await old.keywordPapers('low-rank memory attention', { limit: 5 })
    await old.close()
    opened.splice(opened.indexOf(old), 1)
    const store = await PostgresStore.open({ url: server.url(), schema, maxConnections: 2 })
    opened.push(store)
    expect(await sql(`SELECT max(version) AS v FROM "${schema}".schema_migrations`)).toEqual([{ v: 4 }])
    expect(await key()).toContain('(term, paper_id) INCLUDE (tf, dl)')
    expect(before.length).toBeGreaterThan(0)
    expect(await store.keywordPapers('low-rank memory attention', { limit: 5 })).toEqual(before)
  })
})

describe('postgres store: embedder and keyword ranking', () => {
  it('findPapers finds papers by id or by normalised title without reading the others; vectorsByHash looks only among the given papers', async () => {
    const store = await openStore()
    const session = await store.lock({ wait: false })
    try {
      await session.commit(contractBatch())
      const found = await store.findPapers({ ids: ['p-lora', 'p-unknown'], titles: ['flashattention — FAST and memory efficient, exact attention!'] })
      expect(found.map((p) => p.id)).toEqual(['p-flash', 'p-lora'])
      expect(await store.findPapers({ ids: [], titles: ['No Such Paper'] })).toEqual([])
      const lora = contractBatch().upsert.find((u) => u.paper.id === 'p-lora')!
      const hash = lora.chunks[0]!.chunk.hash
      expect([...(await session.vectorsByHash([hash], ['p-lora'])).keys()]).toEqual([hash])
      expect((await session.vectorsByHash([hash], ['p-flash'])).size).toBe(0)
      expect((await session.vectorsByHash([hash], [])).size).toBe(0)
    } finally {
      await session.release()
    }
  })

  it('keywordPapers gives the exact BM25 top k when it skips common words\' posting lists, and reads them while they can still matter', async () => {
    const { papers } = await loadPapers([defaultSeedDir()])
    // Dated across five years, for a filter beside the terms.
    const stored = papers.map((p, i) => storedPaper({ ...p, date: `Mar 1, ${2020 + (i % 5)}` }))
    const batch: CorpusBatch = { upsert: stored.map((paper) => ({ paper, chunks: [] })), remove: [], embedder: CONTRACT_EMBEDDER, chunking: CONTRACT_CHUNKING }
    const pruning = await openStore({ keywordScanLimit: 1 })
    const session = await pruning.lock({ wait: false })
    await session.commit(batch)
    await session.release()
    const scanning = await PostgresStore.open({ url: server.url(), schema: `corpus_${process.pid}_${schemas}`, maxConnections: 2, keywordScanLimit: Number.POSITIVE_INFINITY })
    opened.push(scanning)
    const reference = new KeywordIndex(stored.map((p) => ({ id: p.id, fields: [{ text: p.title, weight: 2 }, { text: p.plainAbstract, weight: 1 }] })))
    // A rare word with common ones (pruned), only common ones (each one's postings read), one word,
    // a deep top, more papers asked for than hold a term, ten stages; then the same under a year
    // filter.
    const recent = new Set(stored.filter((p) => paperYear(p)! >= 2023).map((p) => p.id))
    const cases = [['LoRA low-rank adaptation of the model', 5], ['the model of a language', 10], ['attention', 3], ['sparse mixture of experts routing', 50], ['diffusion video reward', 400], ['model language large data training tasks results methods performance learning', 50]] as const
    for (const years of [undefined, { from: 2023 }]) {
      for (const [query, limit] of cases) {
        const expected = reference.search(query, stored.length).filter((h) => !years || recent.has(h.id)).slice(0, limit)
        for (const store of [pruning, scanning]) {
          const hits = await store.keywordPapers(query, { limit, ...(years ? { filter: { years } } : {}) })
          expect(hits.map((h) => h.id)).toEqual(expected.map((h) => h.id))
          hits.forEach((h, i) => expect(h.score).toBeCloseTo(expected[i]!.score, 9))
        }
      }
    }
    // A whole abstract as the query: more terms than MaxScore takes in stages, so read whole.
    const long = stored[7]!.plainAbstract
    const expectedLong = reference.search(long, 20)
    expect(queryTermsCount(long)).toBeGreaterThan(50)
    const longHits = await pruning.keywordPapers(long, { limit: 20 })
    expect(longHits.map((h) => h.id)).toEqual(expectedLong.map((h) => h.id))
    longHits.forEach((h, i) => expect(h.score).toBeCloseTo(expectedLong[i]!.score, 9))
    const some = stored.slice(0, 40).map((p) => p.id)
    const filtered = reference.search('language model training', stored.length).filter((h) => some.includes(h.id)).slice(0, 4)
    expect((await pruning.keywordPapers('language model training', { limit: 4, filter: { ids: some } })).map((h) => h.id)).toEqual(filtered.map((h) => h.id))

    // Given papers alone, through a view: scored from the records it holds, as the SQL scores their term rows.
    const view = await PostgresView.load(pruning)
    for (const query of ['language model training', 'LoRA low-rank adaptation of the model', 'the', 'zebra']) {
      const fromRows = await pruning.keywordPapers(query, { limit: 30, filter: { ids: [...some, 'not-a-paper'] } })
      const fromRecords = await view.keywordPapers(query, { limit: 30, filter: { ids: [...some, 'not-a-paper'] } })
      expect(fromRecords.map((h) => h.id)).toEqual(fromRows.map((h) => h.id))
      fromRecords.forEach((h, i) => expect(h.score).toBeCloseTo(fromRows[i]!.score, 9))
    }
    expect((await view.keywordPapers('language model', { limit: 30, filter: { ids: some } })).length).toBeGreaterThan(5)
    // With another condition beside the ids, the SQL decides.
    const years = { ids: some, years: { to: 2000 } }
    expect(await view.keywordPapers('language model', { limit: 30, filter: years })).toEqual(await pruning.keywordPapers('language model', { limit: 30, filter: years }))
  })

  it('a hybrid search through a view sends 4 statements, 3 once its terms are known, and finds what a search of the store itself finds', async () => {
    const store = await openStore()
    const session = await store.lock({ wait: false })
    await session.commit(contractBatch())
    await session.release()
    const view = await PostgresView.load(store)
    const options = { ...DEFAULT_FUSION, fusionDepth: 2, denseCandidates: 2 }
    const { pool } = store as unknown as { pool: pg.Pool }
    const sent = vi.spyOn(pool, 'query')
    // Depth 2 leaves hits outside the keyword top: their keyword scores come from the view's records.
    const hits = await new Retriever(view, undefined, options).rank('low-rank memory attention', Q, 4, 'hybrid')
    expect(sent).toHaveBeenCalledTimes(4) // term statistics, keyword top, nearest chunks, the hits' chunks
    expect(hits.filter((h) => h.keyword > 0).length).toBeGreaterThan(2)
    await new Retriever(view, undefined, options).rank('attention memory low-rank', [0, 0, 1], 4, 'hybrid')
    expect(sent).toHaveBeenCalledTimes(7)
    sent.mockRestore()
    expect(await new Retriever(store, undefined, options).rank('low-rank memory attention', Q, 4, 'hybrid')).toEqual(hits)
  })

  it('refuses vectors of another embedder unless the batch replaces every paper (a rebuild), which may change the dimension', async () => {
    const store = await openStore()
    const session = await store.lock({ wait: false })
    try {
      await session.commit(contractBatch())
      const other = { provider: 'openai' as const, model: 'text-embedding-3-small', dimensions: 4 }
      const partly = contractBatch(SPECS.slice(0, 1), { embedder: other })
      partly.upsert[0]!.chunks.forEach((c) => (c.vector = [...c.vector, 0]))
      await expect(session.commit(partly)).rejects.toMatchObject({
        code: 'EMBEDDER_MISMATCH',
        message: expect.stringContaining('was built with ollama (contract-3d, 3 dimensions), not openai (text-embedding-3-small, 4 dimensions); use --embedder ollama'),
      })
      expect(() => store.assertCompatible({ provider: 'openai', model: 'text-embedding-3-small' })).toThrow(/askpapers ingest --rebuild/)

      const rebuild = contractBatch(SPECS, { embedder: other })
      rebuild.upsert.forEach((u) => u.chunks.forEach((c) => (c.vector = [0, ...c.vector])))
      await session.commit(rebuild)
      expect(store.info()).toMatchObject({ embedder: other, papers: 4, chunks: 7 })
      expect((await store.nearestChunks([0, 1, 0, 0], 1))[0]?.chunkId).toBe('p-lora#0')
    } finally {
      await session.release()
    }
  })

  it("ts_rank mode ranks with PostgreSQL's own full-text search over the weighted tsvector", async () => {
    const bm25 = await openStore()
    const session = await bm25.lock({ wait: false })
    await session.commit(contractBatch())
    await session.release()
    const schema = `corpus_${process.pid}_${schemas}`
    const tsRank = await PostgresStore.open({ url: server.url(), schema, maxConnections: 1, keywordRanking: 'ts_rank' })
    opened.push(tsRank)
    // "memory" is in FlashAttention's title (weight A) and QLoRA's abstract (weight B).
    const hits = await tsRank.keywordPapers('memory', { limit: 5 })
    expect(hits.map((h) => h.id)).toEqual(['p-flash', 'p-qlora'])
    expect(hits[0]!.score).toBeGreaterThan(hits[1]!.score)
    // Where the tokenizers differ: the project's joins "pre-trained" into "pretrain", as LoRA's "pretrained"
    // is indexed; Postgres's english parser splits it into "pre" and "train", which LoRA's abstract lacks.
    expect(await tsRank.keywordPapers('pre-trained', { limit: 5 })).toEqual([])
    expect((await bm25.keywordPapers('pre-trained', { limit: 5 })).map((h) => h.id)).toEqual(['p-lora'])
  })
})

describe('postgres store: many processes', () => {
  it('two readers on one corpus see each other’s commits after refresh()', async () => {
    const a = await openStore()
    const schema = `corpus_${process.pid}_${schemas}`
    const b = await PostgresStore.open({ url: server.url(), schema, maxConnections: 2 })
    opened.push(b)
    expect(await a.refresh()).toBe(false)
    const session = await b.lock({ wait: false })
    await session.commit(contractBatch(SPECS.slice(0, 2)))
    await session.release()
    expect(a.info().papers).toBe(0)
    expect(await a.refresh()).toBe(true)
    expect(a.info()).toMatchObject({ papers: 2, version: b.info().version })
    expect((await a.keywordPapers('attention', { limit: 5 })).map((h) => h.id)).toEqual(['p-flash'])
    expect(await a.keywordPapers('low-rank', { limit: 5 })).toEqual(await b.keywordPapers('low-rank', { limit: 5 }))
    expect(await a.refresh()).toBe(false)
  })

  it('term statistics kept in memory are those of the version a reader holds: a refresh after another process commits reads them again', async () => {
    const a = await openStore()
    const schema = `corpus_${process.pid}_${schemas}`
    const b = await PostgresStore.open({ url: server.url(), schema, maxConnections: 2 })
    opened.push(b)
    let session = await a.lock({ wait: false })
    await session.commit(contractBatch(SPECS.slice(0, 2))) // p-lora, p-flash: one paper says low-rank
    await session.release()
    const before = await a.keywordPapers('low-rank adaptation', { limit: 5 })
    expect((await a.termStats(['low', 'rank'])).documentFrequency('low')).toBe(1)
    session = await b.lock({ wait: false })
    await b.refresh()
    await session.commit(contractBatch(SPECS.slice(2))) // p-qlora also says low-rank
    await session.release()
    // Still the version a holds: the same statistics, so the same scores for the same paper.
    expect(a.info().papers).toBe(2)
    expect((await a.termStats(['rank', 'low'])).documentFrequency('low')).toBe(1)
    expect(await a.refresh()).toBe(true)
    expect((await a.termStats(['low', 'rank'])).documentFrequency('low')).toBe(2)
    const after = await a.keywordPapers('low-rank adaptation', { limit: 5 })
    expect(after).toEqual(await b.keywordPapers('low-rank adaptation', { limit: 5 }))
    expect(after.map((h) => h.id)).toEqual(['p-lora', 'p-qlora'])
    // Two papers of four now hold "low": its idf fell, and p-lora's score with it.
    expect(after[0]!.score).toBeLessThan(before[0]!.score)
  })

  it('two processes racing 5 commits each lose no paper: the lock is held by one at a time', async () => {
    const store = await openStore()
    const schema = `corpus_${process.pid}_${schemas}`
    const [one, two] = [writer('alpha', schema), writer('beta', schema)]
    const [e1, e2] = await Promise.all([one.exited, two.exited])
    expect({ code: e1.code, stderr: one.stderr() }).toEqual({ code: 0, stderr: '' })
    expect({ code: e2.code, stderr: two.stderr() }).toEqual({ code: 0, stderr: '' })

    await store.refresh()
    expect(store.info()).toMatchObject({ papers: 40, chunks: 40, version: 'v10' })
    const expected = ['alpha', 'beta'].flatMap((p) => Array.from({ length: 20 }, (_, n) => numberedSpec(p, n).paper.id))
    expect((await store.paperIds()).sort()).toEqual(expected.sort())
    const held = [one, two].flatMap((w) => [...w.stdout().matchAll(/^held (\S+) (\S+)$/gm)].map((m) => [Number(m[1]), Number(m[2])] as const)).sort((x, y) => x[0] - y[0])
    expect(held).toHaveLength(10)
    for (let i = 1; i < held.length; i++) expect(held[i]![0]).toBeGreaterThanOrEqual(held[i - 1]![1])
  })

  it('a writer killed while holding the lock does not block the corpus: its lock is taken over once it stops heartbeating', async () => {
    const store = await openStore({ lock: { pollMs: 20, staleMs: 1_000 } })
    const schema = `corpus_${process.pid}_${schemas}`
    const holder = writer('hold', schema)
    await holder.waitFor(/^locked$/m)
    await expect(store.lock({ wait: false })).rejects.toMatchObject({ code: 'INDEX_LOCKED', message: expect.stringContaining(`pid ${holder.child.pid} on`) })
    holder.child.kill('SIGKILL')
    await holder.exited
    // On PostgreSQL the advisory lock goes with the dead connection at once; PGlite shares one session, so the stale row decides.
    const session = await store.lock({ wait: true })
    await session.commit(contractBatch(SPECS.slice(0, 1)))
    await session.release()
    expect(store.info().papers).toBe(1)
  })
})

describe('postgres store: errors a person can act on', () => {
  it('names host, port and database, and the fix, when nothing listens; the password is never shown', async () => {
    const port = await freePort()
    const url = `postgres://reader:hunter2@127.0.0.1:${port}/corpus`
    const error = await PostgresStore.open({ url, connectTimeoutMs: 2_000 }).then(
      () => undefined,
      (e: unknown) => e,
    )
    expect(error).toMatchObject({ code: 'STORE_UNAVAILABLE' })
    const message = (error as Error).message
    expect(message).toBe(`Cannot reach PostgreSQL at 127.0.0.1:${port} (database "corpus"): connection refused (nothing listens there). Start the server or fix the host and port in --store / ASKPAPERS_STORE_URL.`)
    expect(message).not.toContain('hunter2')
  })

  it('names CREATE EXTENSION vector when the server has no pgvector', async () => {
    const started = await bare
    if (started instanceof Error) throw started
    {
      const error = await PostgresStore.open({ url: started.url({ database: 'papers', password: 'hunter2' }) }).then(
        () => undefined,
        (e: unknown) => e,
      )
      expect(error).toMatchObject({ code: 'STORE_UNAVAILABLE' })
      expect((error as Error).message).toBe(
        `The pgvector extension is not available in database "papers" on 127.0.0.1:${started.port}: install pgvector on the server, then run \`CREATE EXTENSION vector;\` in that database as its owner or a superuser.`,
      )
      // Nothing was left half-made: the failed migration rolled back.
      const client = new pg.Client({ connectionString: started.url() })
      await client.connect()
      expect((await client.query(`SELECT count(*)::int AS n FROM information_schema.tables WHERE table_schema = 'askpapers'`)).rows).toEqual([{ n: 0 }])
      await client.end()
    }
  })

  // PGlite accepts any user and password, so a refused login cannot be produced here; these are the
  // SQLSTATEs a real server sends (28P01 wrong password, 28000 pg_hba.conf, 3D000 no such database).
  it.each([
    ['28P01', 'password authentication failed for user "reader"', 'PostgreSQL at db.example:6543 refused user "reader" for database "corpus" (wrong password). Fix the user and password in --store / ASKPAPERS_STORE_URL.'],
    ['28000', 'no pg_hba.conf entry for host', 'PostgreSQL at db.example:6543 refused user "reader" for database "corpus" (not allowed by pg_hba.conf). Fix the user and password in --store / ASKPAPERS_STORE_URL.'],
    ['3D000', 'database "corpus" does not exist', 'PostgreSQL at db.example:6543 has no database "corpus". Create it (`createdb corpus`) or fix the database name in --store / ASKPAPERS_STORE_URL.'],
  ])('a server answering %s gets a message naming the fix', (code, serverMessage, expected) => {
    const target = parseStoreUrl('postgres://reader:hunter2@db.example:6543/corpus')
    const mapped = storeError(Object.assign(new Error(serverMessage), { code }), target) as Error & { code: string }
    expect({ code: mapped.code, message: mapped.message }).toEqual({ code: 'STORE_UNAVAILABLE', message: expected })
  })

  it('every pooled connection carries the statement timeout, JIT off and the HNSW settings, even when a pgvector setting is refused', async () => {
    // A server of its own: PGlite serves every connection from one session, so another store's SETs
    // would otherwise be what this one reads.
    const own = await startPglite({ maxConnections: 4 })
    const ownStores: PostgresStore[] = []
    try {
      const settings = async (options: Partial<PostgresStoreOptions>): Promise<Record<string, string>> => {
        const store = await PostgresStore.open({ url: own.url(), maxConnections: 1, ...options })
        ownStores.push(store)
        const { pool } = store as unknown as { pool: pg.Pool }
        const names = { t: 'statement_timeout', jit: 'jit', ef: 'hnsw.ef_search' }
        return (await pool.query<Record<string, string>>(`SELECT ${Object.entries(names).map(([as, name]) => `current_setting('${name}', true) AS ${as}`).join(', ')}`)).rows[0]!
      }
      expect(await settings({ statementTimeoutMs: 1234, efSearch: 77 })).toEqual({ t: '1234ms', jit: 'off', ef: '77' })
      // pgvector is loaded now (a fresh backend takes any hnsw.* value as a placeholder), and
      // hnsw.ef_search must be 1–1000: the refused setting leaves the timeout as asked.
      expect(await settings({ statementTimeoutMs: 4321, efSearch: 5000 })).toEqual({ t: '4321ms', jit: 'off', ef: '77' })
    } finally {
      await Promise.all(ownStores.map((s) => s.close()))
      await own.stop()
    }
  })

  // PGlite does not enforce statement_timeout (no timers in its wasm backend): this is the SQLSTATE a real server sends.
  it('a statement cancelled by the timeout is a TIMEOUT naming the server and how to raise it', () => {
    const target = parseStoreUrl('postgres://reader:hunter2@db.example:6543/corpus')
    const mapped = storeError(Object.assign(new Error('canceling statement due to statement timeout'), { code: '57014' }), target, { statementTimeoutMs: 30_000 }) as Error & { code: string }
    expect({ code: mapped.code, message: mapped.message }).toEqual({
      code: 'TIMEOUT',
      message: 'A query to PostgreSQL at db.example:6543 (database "corpus") ran longer than the statement timeout (30000 ms); raise it by adding ?statement_timeout=MS to the URL (--store / ASKPAPERS_STORE_URL), or check the server\'s load.',
    })
  })

  it('shows the URL without its password, and takes pool size and statement timeout from it', () => {
    expect(parseStoreUrl('postgres://reader:hunter2@db.example/corpus?pool_max=8&statement_timeout=5000&sslmode=require')).toEqual({
      url: 'postgres://reader:hunter2@db.example/corpus?sslmode=require',
      host: 'db.example',
      port: 5432,
      database: 'corpus',
      user: 'reader',
      location: 'postgres://reader:***@db.example/corpus?sslmode=require',
      poolMax: 8,
      statementTimeoutMs: 5000,
      flag: '--store / ASKPAPERS_STORE_URL',
    })
    expect(() => parseStoreUrl('postgres://db.example/corpus?pool_max=lots')).toThrow(/pool_max must be a whole number/)
    expect(parseStoreUrl('postgres://reader:hunter2@db.example:6543/corpus?sslmode=require').location).toBe('postgres://reader:***@db.example:6543/corpus?sslmode=require')
    expect(() => parseStoreUrl('mysql://reader:hunter2@db/x')).toThrow(/must start with postgres:\/\//)
    expect(() => parseStoreUrl('not a url hunter2')).toThrow(expect.objectContaining({ message: expect.not.stringContaining('hunter2') }))
  })
})

describe('askpapers migrate: copying a corpus with its vectors', () => {
  it('copies an embedded index into Postgres without embedding anything, resumes by skipping what is there, and copies Postgres to Postgres', async () => {
    const ollama = await startStubOllama({ models: ['nomic-embed-text'], dimensions: 16 })
    const dir = await mkdtemp(join(tmpdir(), 'askpapers-migrate-'))
    const embedder = await createEmbedder({ provider: 'ollama', host: ollama.url, model: 'nomic-embed-text' })
    try {
      const { papers } = await loadPapers([defaultSeedDir()])
      const { index } = await (await PaperIndex.open(dir)).ingest(papers.slice(0, 24), embedder, { size: 300, overlap: 0 })
      const embedCalls = ollama.requests.length
      const target = await openStore()
      const report = await copyCorpus(await embeddedSource(dir), target, { batchPapers: 10 })
      expect(ollama.requests.length).toBe(embedCalls)
      const chunks = [...(await index.chunksOf(await index.paperIds())).values()].flat()
      expect(report).toEqual({ papers: 24, chunks: chunks.length, skipped: 0, batches: 3 })
      expect(target.info()).toMatchObject({ papers: 24, chunks: chunks.length, embedder: index.manifest!.embedder, chunking: { size: 300, overlap: 0 } })
      expect(target.info().partial).toBeUndefined()
      expect(await target.papers(await index.paperIds())).toEqual(await index.papers(await index.paperIds()))

      // The same neighbours in the same order, from the copied vectors.
      const query = await embedder.embeddings.embedQuery('low-rank adaptation of language models')
      const embedded = await index.nearestChunks(query, 8)
      const copied = await target.nearestChunks(query, 8)
      expect(copied.map((h) => h.chunkId)).toEqual(embedded.map((h) => h.chunkId))
      copied.forEach((h, i) => expect(h.similarity).toBeCloseTo(embedded[i]!.similarity, 5))
      const reference = new KeywordIndex((await index.papers(await index.paperIds())).map((p) => ({ id: p.id, fields: [{ text: p.title, weight: 2 }, { text: p.plainAbstract, weight: 1 }] })))
      expect((await target.keywordPapers('low-rank adaptation memory', { limit: 10 })).map((h) => h.id)).toEqual(reference.search('low-rank adaptation memory', 10).map((h) => h.id))

      expect(await copyCorpus(await embeddedSource(dir), target)).toEqual({ papers: 0, chunks: 0, skipped: 24, batches: 0 })

      const second = await openStore()
      const source = await postgresSource(target)
      try {
        expect(await copyCorpus(source, second, { batchPapers: 7 })).toEqual({ papers: 24, chunks: chunks.length, skipped: 0, batches: 4 })
      } finally {
        await source.close()
      }
      expect((await second.nearestChunks(query, 8)).map((h) => h.chunkId)).toEqual(copied.map((h) => h.chunkId))
      expect(await second.papers(await index.paperIds())).toEqual(await index.papers(await index.paperIds()))
    } finally {
      await embedder.close()
      await ollama.close()
      await rm(dir, { recursive: true, force: true })
    }
  })
})

const FIXTURES = join(import.meta.dirname, 'fixtures')

/** A race-writer child (fixtures/race-writer.ts) running the TypeScript sources on this Node. */
function writer(prefix: string, schema: string) {
  return watch(
    spawn(process.execPath, ['--experimental-transform-types', '--no-warnings', '--import', join(FIXTURES, 'ts-hooks.mjs'), join(FIXTURES, 'race-writer.ts'), server.url(), schema, prefix, '5', '4'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    }),
  )
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer()
    probe.once('error', reject)
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as { port: number }
      probe.close(() => resolve(port))
    })
  })
}
