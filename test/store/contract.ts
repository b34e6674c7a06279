import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { paperContentHash } from '../../src/corpus/index.js'
import type { CorpusBatch, CorpusReader, CorpusWriter, StoredChunk, StoredPaper } from '../../src/index/store/index.js'
import { KeywordIndex } from '../../src/retrieve/keyword.js'
import { tokenize } from '../../src/retrieve/tokenize.js'
import { BY_SIMILARITY, CONTRACT_CHUNKING, CONTRACT_EMBEDDER, contractBatch, Q, SPECS, storedPaper, upsertOf, type Spec } from './fixtures/corpus.js'

export { contractBatch, numberedSpec } from './fixtures/corpus.js'

/**
 * The store contract (src/index/store/_contract.ts) as one suite, run against every implementation:
 * `storeContract('postgres', open)` in postgres.test.ts, and the embedded store's own test file.
 * Everything is written through `WriteSession.commit` with 3-dimensional unit vectors chosen so that
 * every similarity is a distinct, known number; keyword scores are checked against the project's own
 * BM25 (`retrieve/keyword.ts`) over the same documents.
 */
export interface StoreFixture {
  writer: CorpusWriter
  /** A reader of the corpus as committed now (a store opened afresh, or refreshed). */
  reader(): Promise<CorpusReader>
  close(): Promise<void>
}

async function commit(writer: CorpusWriter, batch: CorpusBatch): Promise<void> {
  const session = await writer.lock({ wait: false })
  try {
    await session.commit(batch)
  } finally {
    await session.release()
  }
}

/** The embedded store's BM25 over the same documents: the reference the keyword leg must reproduce. */
function referencePapers(papers: StoredPaper[]): KeywordIndex {
  return new KeywordIndex(papers.map((p) => ({ id: p.id, fields: [{ text: p.title, weight: 2 }, { text: p.plainAbstract, weight: 1 }] })))
}
function referenceChunks(chunks: StoredChunk[]): KeywordIndex {
  return new KeywordIndex(chunks.map((c) => ({ id: c.id, fields: [{ text: c.text, weight: 1 }] })))
}

const allPapers = (): StoredPaper[] => SPECS.map((s) => storedPaper(s.paper))
const allChunks = (): StoredChunk[] => SPECS.flatMap((s) => upsertOf(s).chunks.map((c) => c.chunk))
const ids = (hits: { id: string }[]): string[] => hits.map((h) => h.id)

export function storeContract(name: string, open: () => Promise<StoreFixture>): void {
  describe(`store contract: ${name}`, () => {
    let store: StoreFixture
    beforeEach(async () => {
      store = await open()
    })
    afterEach(async () => {
      await store.close()
    })

    it('an empty store has no version, papers, chunks or embedder, and finds nothing', async () => {
      const reader = await store.reader()
      const info = reader.info()
      expect([info.version, info.papers, info.chunks, info.embedder, info.partial]).toEqual(['', 0, 0, undefined, undefined])
      expect(await reader.paperIds()).toEqual([])
      expect(await reader.papers(['p-lora'])).toEqual([])
      expect(await reader.nearestChunks(Q, 5)).toEqual([])
      expect(await reader.keywordPapers('low-rank adaptation', { limit: 5 })).toEqual([])
      expect((await reader.termStats(['rank'])).papers).toBe(0)
    })

    it('a committed batch is there in full: info, records, chunks in abstract order, vectors by hash, content hashes', async () => {
      await commit(store.writer, contractBatch())
      const reader = await store.reader()
      const info = reader.info()
      expect(info).toMatchObject({ papers: 4, chunks: 7, embedder: CONTRACT_EMBEDDER, chunking: CONTRACT_CHUNKING })
      expect(info.version).not.toBe('')
      expect(info.partial).toBeUndefined()
      expect(await reader.papers(['p-qlora', 'nope', 'p-lora'])).toEqual([storedPaper(SPECS[2]!.paper), storedPaper(SPECS[0]!.paper)])
      expect((await reader.papers(['p-qlora']))[0]?.plainAbstract).toBe('We finetune quantized models with low-rank adapters. Memory drops to a single GPU of 48% less.')
      expect((await reader.paperIds()).sort()).toEqual(['p-flash', 'p-lora', 'p-moe', 'p-qlora'])
      const chunks = await reader.chunksOf(['p-qlora', 'p-moe', 'nope'])
      expect([...chunks.keys()].sort()).toEqual(['p-moe', 'p-qlora'])
      expect(chunks.get('p-qlora')).toEqual(upsertOf(SPECS[2]!).chunks.map((c) => c.chunk))

      const session = await store.writer.lock({ wait: false })
      try {
        const wanted = upsertOf(SPECS[0]!).chunks
        const vectors = await session.vectorsByHash([...wanted.map((c) => c.chunk.hash), 'f'.repeat(64)])
        expect([...vectors.keys()].sort()).toEqual(wanted.map((c) => c.chunk.hash).sort())
        for (const c of wanted) expect(vectors.get(c.chunk.hash)!.map((x) => Math.fround(x))).toEqual(c.vector.map((x) => Math.fround(x)))
        const hashes = await session.contentHashes()
        expect(Object.fromEntries(hashes)).toEqual(Object.fromEntries(SPECS.map((s) => [s.paper.id, paperContentHash(s.paper)])))
        expect((await session.reader()).info().papers).toBe(4)
      } finally {
        await session.release()
      }
    })

    it('paperIds lists the same ids in the same order every time, and filters by year, source file and id', async () => {
      await commit(store.writer, contractBatch())
      const reader = await store.reader()
      const first = await reader.paperIds()
      expect(await reader.paperIds()).toEqual(first)
      expect((await reader.paperIds({ years: { from: 2022 } })).sort()).toEqual(['p-flash', 'p-qlora'])
      expect(await reader.paperIds({ years: { from: 2021, to: 2021 } })).toEqual(['p-lora'])
      // A paper without a year matches no year condition, not even an open one.
      expect(await reader.paperIds({ years: {} })).not.toContain('p-moe')
      expect((await reader.paperIds({ sources: ['extra/c.jsonl'] })).sort()).toEqual(['p-moe', 'p-qlora'])
      expect((await reader.paperIds({ sources: ['a.txt'] })).sort()).toEqual(['p-lora', 'p-qlora'])
      expect(await reader.paperIds({ sources: ['nowhere.txt'] })).toEqual([])
      expect(await reader.paperIds({ ids: ['p-moe', 'nope'], sources: ['extra/c.jsonl'] })).toEqual(['p-moe'])
      expect(await reader.paperIds({ ids: [] })).toEqual([])
    })

    it('nearestChunks: nearest first with cosine similarities, at most n, only papers matching the filter', async () => {
      await commit(store.writer, contractBatch())
      const reader = await store.reader()
      const all = await reader.nearestChunks(Q, 10)
      expect(all.map((h) => h.chunkId)).toEqual(BY_SIMILARITY.map(([id]) => id))
      all.forEach((h, i) => {
        expect(h.similarity).toBeCloseTo(BY_SIMILARITY[i]![1], 5)
        expect(h.paperId).toBe(h.chunkId.slice(0, h.chunkId.indexOf('#')))
      })
      expect((await reader.nearestChunks(Q, 3)).map((h) => h.chunkId)).toEqual(['p-lora#0', 'p-qlora#0', 'p-lora#1'])
      expect((await reader.nearestChunks(Q, 10, { years: { from: 2022 } })).map((h) => h.chunkId)).toEqual(['p-qlora#0', 'p-qlora#1', 'p-flash#0', 'p-flash#1'])
      expect((await reader.nearestChunks(Q, 10, { sources: ['extra/c.jsonl'] })).map((h) => h.chunkId)).toEqual(['p-qlora#0', 'p-qlora#1', 'p-moe#0'])
      expect((await reader.nearestChunks(Q, 1, { ids: ['p-flash'] })).map((h) => h.chunkId)).toEqual(['p-flash#0'])
      expect(await reader.nearestChunks(Q, 10, { ids: [] })).toEqual([])
    })

    it('chunkSimilarities gives every chunk of the asked papers its similarity to the vector', async () => {
      await commit(store.writer, contractBatch())
      const sims = await (await store.reader()).chunkSimilarities(['p-qlora', 'p-moe'], Q)
      expect([...sims.keys()].sort()).toEqual(['p-moe#0', 'p-qlora#0', 'p-qlora#1'])
      expect(sims.get('p-qlora#0')).toBeCloseTo(0.8, 5)
      expect(sims.get('p-qlora#1')).toBeCloseTo(0.352, 5)
      expect(sims.get('p-moe#0')).toBeCloseTo(-1, 5)
    })

    it.each([
      ['low-rank adaptation', ['p-lora', 'p-qlora']],
      ['memory of attention?', ['p-flash', 'p-qlora']],
      ['LoRA', ['p-lora']],
      ['pre-trained weights', ['p-lora']],
      ['how does it work', []],
    ])('keywordPapers ranks "%s" by BM25, title twice + abstract, as the reference does', async (query, expected) => {
      await commit(store.writer, contractBatch())
      const hits = await (await store.reader()).keywordPapers(query, { limit: 10 })
      const reference = referencePapers(allPapers()).search(query, 10)
      expect(ids(hits)).toEqual(expected)
      expect(ids(hits)).toEqual(ids(reference))
      hits.forEach((h, i) => expect(h.score).toBeCloseTo(reference[i]!.score, 9))
    })

    it('keywordPapers keeps the limit, and with filter.ids scores just those papers whatever their rank', async () => {
      await commit(store.writer, contractBatch())
      const reader = await store.reader()
      expect(ids(await reader.keywordPapers('low-rank memory', { limit: 1 }))).toHaveLength(1)
      const full = referencePapers(allPapers()).search('low-rank memory attention', 10)
      const last = full.at(-1)!
      const only = await reader.keywordPapers('low-rank memory attention', { limit: 1, filter: { ids: [last.id, 'p-moe'] } })
      expect(only).toHaveLength(1)
      expect(only[0]!.id).toBe(last.id)
      expect(only[0]!.score).toBeCloseTo(last.score, 9)
      expect(ids(await reader.keywordPapers('low-rank', { limit: 10, filter: { years: { to: 2022 } } }))).toEqual(['p-lora'])
    })

    it('keywordChunks scores chunks of the given papers with corpus-wide chunk statistics', async () => {
      await commit(store.writer, contractBatch())
      const hits = await (await store.reader()).keywordChunks('trainable low-rank memory', ['p-lora', 'p-qlora'])
      const reference = referenceChunks(allChunks())
        .search('trainable low-rank memory', 100)
        .filter((h) => h.id.startsWith('p-lora#') || h.id.startsWith('p-qlora#'))
      expect(ids(hits)).toEqual(ids(reference))
      expect(ids(hits)).toEqual(['p-lora#0', 'p-qlora#0', 'p-qlora#1', 'p-lora#1'])
      hits.forEach((h, i) => expect(h.score).toBeCloseTo(reference[i]!.score, 9))
    })

    it('termStats counts papers containing each tokenized term in title or abstract, with BM25 idf', async () => {
      await commit(store.writer, contractBatch())
      const [rank, memory, attention, lora, unseen] = ['rank', 'memory', 'attention', 'lora', 'zebra'].map((w) => tokenize(w)[0]!)
      const stats = await (await store.reader()).termStats([rank!, memory!, attention!, lora!, unseen!])
      expect(stats.papers).toBe(4)
      expect([rank, memory, attention, lora, unseen].map((t) => stats.documentFrequency(t!))).toEqual([2, 2, 1, 1, 0])
      expect(stats.idf(memory!)).toBeCloseTo(Math.log(1 + (4 - 2 + 0.5) / (2 + 0.5)), 12)
      expect(stats.idf(unseen!)).toBeCloseTo(Math.log(1 + 4.5 / 0.5), 12)
      expect(stats.documentFrequency('not-asked')).toBe(0)
    })

    it('a later batch replaces papers with their chunks, removes papers, and changes the version', async () => {
      await commit(store.writer, contractBatch())
      const before = (await store.reader()).info().version
      const changed: Spec = { paper: { ...SPECS[1]!.paper, abstract: 'Tiling keeps attention in fast memory.' }, chunks: [['Tiling keeps attention in fast memory.', [0, 0, 1]]] }
      await commit(store.writer, contractBatch([changed], { remove: ['p-moe'] }))
      const reader = await store.reader()
      expect(reader.info()).toMatchObject({ papers: 3, chunks: 5 })
      expect(reader.info().version).not.toBe(before)
      expect((await reader.paperIds()).sort()).toEqual(['p-flash', 'p-lora', 'p-qlora'])
      expect((await reader.chunksOf(['p-flash'])).get('p-flash')?.map((c) => c.text)).toEqual(['Tiling keeps attention in fast memory.'])
      expect((await reader.nearestChunks([0, 0, 1], 1))[0]).toMatchObject({ chunkId: 'p-flash#0', paperId: 'p-flash' })
      expect(ids(await reader.keywordPapers('router experts', { limit: 5 }))).toEqual([])
      expect(ids(await reader.keywordPapers('tiling', { limit: 5 }))).toEqual(['p-flash'])
      const now = [storedPaper(SPECS[0]!.paper), storedPaper(changed.paper), storedPaper(SPECS[2]!.paper)]
      const reference = referencePapers(now).search('memory attention', 10)
      const hits = await reader.keywordPapers('memory attention', { limit: 10 })
      expect(ids(hits)).toEqual(ids(reference))
      hits.forEach((h, i) => expect(h.score).toBeCloseTo(reference[i]!.score, 9))
      expect((await reader.termStats([tokenize('experts')[0]!])).documentFrequency(tokenize('experts')[0]!)).toBe(0)
    })

    it('partial marks an unfinished ingest until a batch without it', async () => {
      const partial = { papersDone: 2, papersPlanned: 4, startedAt: '2026-01-01T00:00:00.000Z' }
      await commit(store.writer, contractBatch(SPECS.slice(0, 2), { partial }))
      expect((await store.reader()).info().partial).toEqual(partial)
      await commit(store.writer, contractBatch(SPECS.slice(2)))
      const info = (await store.reader()).info()
      expect(info.partial).toBeUndefined()
      expect(info.papers).toBe(4)
    })

    it('a batch that fails leaves the corpus as it was', async () => {
      await commit(store.writer, contractBatch(SPECS.slice(0, 1)))
      const before = (await store.reader()).info()
      const bad = contractBatch(SPECS.slice(1, 3))
      bad.upsert[1]!.chunks[0]!.vector = [1, 0]
      await expect(commit(store.writer, bad)).rejects.toThrow()
      const reader = await store.reader()
      expect(reader.info()).toMatchObject({ version: before.version, papers: 1, chunks: 2 })
      expect(await reader.paperIds()).toEqual(['p-lora'])
    })

    it('notes are kept with the corpus version they were written for', async () => {
      await commit(store.writer, contractBatch(SPECS.slice(0, 2)))
      const reader = await store.reader()
      expect(await reader.readNote('calibration')).toBeUndefined()
      await reader.writeNote('calibration', { denseWeight: 0.35, papers: [1, 2] })
      expect(await (await store.reader()).readNote('calibration')).toEqual({ denseWeight: 0.35, papers: [1, 2] })
      await commit(store.writer, contractBatch(SPECS.slice(2)))
      expect(await (await store.reader()).readNote('calibration')).toBeUndefined()
    })

    it('one writer at a time: INDEX_LOCKED without waiting, the holder named while waiting, then the lock', async () => {
      const first = await store.writer.lock({ wait: false })
      await expect(store.writer.lock({ wait: false })).rejects.toMatchObject({ code: 'INDEX_LOCKED' })
      const holders: string[] = []
      const second = store.writer.lock({ wait: true, onWait: (holder) => holders.push(holder) })
      await expect.poll(() => holders.length).toBe(1)
      expect(holders[0]).toContain(String(process.pid))
      await first.commit(contractBatch(SPECS.slice(0, 1)))
      await first.release()
      const session = await second
      try {
        expect((await session.reader()).info().papers).toBe(1)
        await session.commit(contractBatch(SPECS.slice(1)))
      } finally {
        await session.release()
      }
      expect((await store.reader()).info().papers).toBe(4)
    })
  })
}
