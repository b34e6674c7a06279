import type { Paper } from '../../corpus/index.js'
import type { ChunkOptions } from '../chunk.js'
import type { EmbedderInfo } from '../embedders/index.js'
import type { StoredPaper } from './_generation.js'

/*
 * The store boundary (issue 11, item 1). Retrieval, answering and the front ends talk to a corpus
 * only through these interfaces; two implementations: the embedded store (a data directory:
 * generations, hnswlib, BM25) and PostgreSQL + pgvector. Everything is async so that a database
 * can sit behind it; the embedded store answers from memory.
 *
 * Nothing outside a store implementation reaches into LangChain's or hnswlib's internals
 * (`docstore._docs`, `index.getPoint`, chunk labels).
 */

/** A passage of a paper's abstract as stored: what is embedded, searched, shown and quoted. */
export interface StoredChunk {
  /** `${paperId}#${index}` */
  id: string
  paperId: string
  /** Position in the abstract, from 0. */
  index: number
  text: string
  /** sha256 of the embedded text: a vector is reused while it is unchanged. */
  hash: string
}

/** Restricts search to some papers (issue 14): every given condition must hold. */
export interface PaperFilter {
  /** Inclusive year range; a paper without a year matches no year condition. */
  years?: { from?: number; to?: number }
  /** Source files (as recorded in `Paper.sources`, path without `:line`), any of them. */
  sources?: string[]
  /** Paper ids, any of them. */
  ids?: string[]
}

export interface ScoredId {
  id: string
  score: number
}

export interface ChunkNeighbour {
  chunkId: string
  paperId: string
  /** Cosine similarity to the query vector. */
  similarity: number
}

/** Corpus-wide term statistics over title + abstract documents, for the terms asked about. */
export interface TermStats {
  /** Papers in the corpus (filters do not change it). */
  readonly papers: number
  /** Papers whose title or abstract contains the tokenized term (0 for terms not asked about). */
  documentFrequency(term: string): number
  /** BM25 idf: ln(1 + (N − df + 0.5) / (df + 0.5)). */
  idf(term: string): number
  /**
   * Mean BM25 length of a paper (title tokens counted twice + abstract tokens): lets a caller score
   * a document of its own exactly as `keywordPapers` would (the fusion calibration does). Optional:
   * without it the calibration computes it from the records.
   */
  readonly averageLength?: number
}

export interface StoreInfo {
  kind: 'embedded' | 'postgres'
  /** The data directory, or the database URL without its password. */
  location: string
  /** Changes with every commit ("gen-000012", or the database's corpus version); '' when empty. */
  version: string
  papers: number
  chunks: number
  /** Undefined while nothing is indexed. */
  embedder?: EmbedderInfo
  chunking?: ChunkOptions
  /** Set while an interrupted ingest's batches are committed but the ingest did not finish. */
  partial?: { papersDone: number; papersPlanned: number; startedAt: string }
}

/** Read side: what retrieval, answering, `papers list|show`, eval and the servers need. */
export interface CorpusReader {
  info(): StoreInfo
  /** Papers by id, in the order asked; unknown ids are left out. */
  papers(ids: readonly string[]): Promise<StoredPaper[]>
  /** Every paper id matching the filter (all of them without one), in a stable order. */
  paperIds(filter?: PaperFilter): Promise<string[]>
  /** Chunks of these papers, each paper's in abstract order. */
  chunksOf(paperIds: readonly string[]): Promise<Map<string, StoredChunk[]>>
  /** The `n` chunks nearest to a unit-length vector, nearest first; only papers matching the filter. */
  nearestChunks(vector: readonly number[], n: number, filter?: PaperFilter): Promise<ChunkNeighbour[]>
  /** Similarity of each chunk of these papers to a unit-length vector (the offline answerer's sentence choice). */
  chunkSimilarities(paperIds: readonly string[], vector: readonly number[]): Promise<Map<string, number>>
  /**
   * BM25 over papers, title weighted twice + plain abstract, best first, at most `limit`; papers
   * sharing no term with the query are left out. With `filter.ids` it scores just those papers,
   * whatever their rank in the whole corpus (the `keyword` score of each final hit).
   */
  keywordPapers(query: string, options: { limit: number; filter?: PaperFilter }): Promise<ScoredId[]>
  /** BM25 over the chunks of these papers (chunk ids), best first. */
  keywordChunks(query: string, paperIds: readonly string[]): Promise<ScoredId[]>
  termStats(terms: readonly string[]): Promise<TermStats>
  /**
   * The papers with one of these ids or normalised titles (`normaliseTitle`), in corpus order: all
   * an ingest's diff needs to see. Optional: without it the ingest reads every record.
   */
  findPapers?(wanted: { ids: readonly string[]; titles: readonly string[] }): Promise<StoredPaper[]>
  /** A small derived record kept with this version of the corpus (the fusion calibration…); undefined when absent. */
  readNote<T>(name: string): Promise<T | undefined>
  writeNote(name: string, value: unknown): Promise<void>
}

/** One batch of an ingest, committed atomically: after a crash either all of it is there or none. */
export interface CorpusBatch {
  /** Papers added or replaced, each with all its chunks and their vectors. */
  upsert: { paper: StoredPaper; chunks: { chunk: StoredChunk; vector: readonly number[] }[] }[]
  /** Paper ids removed (`papers remove`), with their chunks. */
  remove: string[]
  embedder: EmbedderInfo
  chunking: ChunkOptions
  /** Set on every batch but the last of an ingest; cleared by the last. */
  partial?: StoreInfo['partial']
  /**
   * The batch replaces the whole corpus (a rebuild with another embedder, or a new chunking):
   * every paper not in `upsert` is gone after it.
   */
  reset?: boolean
}

/** Write side: one writer at a time per corpus (a lock on the data directory, an advisory lock in Postgres). */
export interface CorpusWriter {
  /**
   * Waits for the corpus's write lock (or fails with INDEX_LOCKED when `wait` is false) and returns
   * the locked session. `onStep` is a test hook a store may call before each step of a commit.
   */
  lock(options: { wait: boolean; onWait?: (holder: string) => void; onStep?: (step: string) => void | Promise<void> }): Promise<WriteSession>
}

export interface WriteSession {
  /** The corpus as it is once the lock is held (another writer may have committed meanwhile). */
  reader(): Promise<CorpusReader>
  /**
   * Stored vectors by chunk-text hash, for reuse instead of re-embedding; missing hashes are left
   * out. With `among`, a store may look only at the chunks of those papers (a chunk's text starts
   * with its paper's title, so only the same paper can hold it).
   */
  vectorsByHash(hashes: readonly string[], among?: readonly string[]): Promise<Map<string, number[]>>
  /** Content hashes of every stored paper, by id (the ingest's diff). */
  contentHashes(): Promise<Map<string, string>>
  commit(batch: CorpusBatch): Promise<void>
  release(): Promise<void>
}

export type { Paper }
