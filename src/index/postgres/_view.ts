import type { ChunkNeighbour, CorpusReader, PaperFilter, ScoredId, StoreInfo, StoredChunk, StoredPaper, TermStats } from '../store/index.js'
import type { EmbedderInfo } from '../embedders/index.js'
import type { PostgresStore } from './_store.js'

/**
 * One version of a PostgreSQL corpus as the engine holds it: the store's contract, plus the
 * members the front ends read synchronously of either store (`records`, `version`, `isEmpty`),
 * loaded once per version. A new view is made after each commit or refresh that moved the version.
 */
export class PostgresView implements CorpusReader {
  private constructor(
    readonly store: PostgresStore,
    private readonly snapshot: StoreInfo,
    readonly records: ReadonlyMap<string, StoredPaper>,
  ) {}

  /** Reads every paper record of the corpus as it is now. */
  static async load(store: PostgresStore): Promise<PostgresView> {
    const info = store.info()
    const ids = await store.paperIds()
    const papers = ids.length > 0 ? await store.papers(ids) : []
    return new PostgresView(store, info, new Map(papers.map((p) => [p.id, p])))
  }

  get version(): string {
    return this.snapshot.version
  }

  get isEmpty(): boolean {
    return this.records.size === 0
  }

  info(): StoreInfo {
    return this.snapshot
  }

  assertCompatible(info: Pick<EmbedderInfo, 'provider' | 'model'> & { dimensions?: number }): void {
    this.store.assertCompatible(info)
  }

  /** From the records this view holds: the same rows, without a statement. */
  papers(ids: readonly string[]): Promise<StoredPaper[]> {
    return Promise.resolve(ids.flatMap((id) => {
      const paper = this.records.get(id)
      return paper ? [paper] : []
    }))
  }
  paperIds(filter?: PaperFilter): Promise<string[]> {
    return this.store.paperIds(filter)
  }
  chunksOf(paperIds: readonly string[]): Promise<Map<string, StoredChunk[]>> {
    return this.store.chunksOf(paperIds)
  }
  nearestChunks(vector: readonly number[], n: number, filter?: PaperFilter): Promise<ChunkNeighbour[]> {
    return this.store.nearestChunks(vector, n, filter)
  }
  chunkSimilarities(paperIds: readonly string[], vector: readonly number[]): Promise<Map<string, number>> {
    return this.store.chunkSimilarities(paperIds, vector)
  }
  /** Given papers alone are scored from the records this view holds (see PostgresStore.keywordPapersAmong). */
  keywordPapers(query: string, options: { limit: number; filter?: PaperFilter }): Promise<ScoredId[]> {
    return this.store.keywordPapersAmong(this.records, query, options)
  }
  keywordChunks(query: string, paperIds: readonly string[]): Promise<ScoredId[]> {
    return this.store.keywordChunks(query, paperIds)
  }
  termStats(terms: readonly string[]): Promise<TermStats> {
    return this.store.termStats(terms)
  }
  findPapers(wanted: { ids: readonly string[]; titles: readonly string[] }): Promise<StoredPaper[]> {
    return this.store.findPapers(wanted)
  }
  readNote<T>(name: string): Promise<T | undefined> {
    return this.store.readNote<T>(name)
  }
  writeNote(name: string, value: unknown): Promise<void> {
    return this.store.writeNote(name, value)
  }
}
