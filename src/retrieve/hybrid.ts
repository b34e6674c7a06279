import type { CorpusReader, PaperFilter, StoredChunk, StoredPaper } from '../index/index.js'
import { noMatch } from './filter.js'

export type SearchMode = 'hybrid' | 'keyword' | 'dense'

export interface FusionOptions {
  /**
   * Share of the fused score given to the dense leg. Undefined: the index's calibration (measured on
   * pseudo-queries drawn from the corpus, see `calibrate.ts`), else `PRIOR_DENSE_WEIGHT`.
   */
  denseWeight?: number | undefined
  /** Papers each leg contributes to the fusion; each leg's scores are min–max normalised over its own list. */
  fusionDepth: number
  /** Dense chunk neighbours fetched from HNSW before grouping per paper. */
  denseCandidates: number
  /** Best passages returned per paper. */
  passagesPerPaper: number
}

/**
 * The dense share used before an index has a calibration (a corpus too small to sample). On the seed
 * questions, fitting the share on all question styles but one and judging on the one left out picked
 * 0.4 for every style left out (README, "Fusion").
 */
export const PRIOR_DENSE_WEIGHT = 0.4

export const DEFAULT_FUSION: FusionOptions = {
  fusionDepth: 50,
  denseCandidates: 120,
  passagesPerPaper: 2,
}

export interface SearchHit {
  id: string
  title: string
  url?: string
  /** Fused score in [0, 1]; comparable within one query. */
  score: number
  /** Best passages of this paper for the query, best first. */
  passages: string[]
  /** BM25 score of the paper (0 when no query term occurs in it). */
  keyword: number
  /** Cosine similarity of the paper's best chunk to the query (0 when not among the dense candidates). */
  dense: number
  paper: StoredPaper
}

/** One hit as `search --json`, `GET /v1/search` and the MCP `search` tool give it: field names are public API. */
export interface SearchResultJson {
  id: string
  title: string
  score: number
  passages: string[]
  url?: string
}

/** The JSON contract of a search, shared by the CLI, the HTTP API and MCP. */
export interface SearchJson {
  query: string
  results: SearchResultJson[]
}

export function toSearchResultJson(h: SearchHit): SearchResultJson {
  return { id: h.id, title: h.title, score: h.score, passages: h.passages, ...(h.url ? { url: h.url } : {}) }
}

export function toSearchJson(query: string, hits: readonly SearchHit[]): SearchJson {
  return { query, results: hits.map(toSearchResultJson) }
}

export interface SearchOutcome {
  hits: SearchHit[]
  timings: { embedMs: number; searchMs: number }
}

/**
 * A search with the query's embedding kept: the answerer compares it with everyday questions and
 * with the found papers' chunks, so the question is embedded once. Internal — the public search
 * contract is `SearchOutcome` (`Retriever.search`), which never carries the vector.
 */
export interface Retrieval extends SearchOutcome {
  /** The query's unit-length embedding; absent in keyword mode. */
  queryVector?: number[]
}

export type EmbedQuery = (text: string) => Promise<number[]>

export interface SearchOptions {
  k?: number
  mode?: SearchMode
  /** Only papers matching every condition, in both legs (BM25's statistics stay the whole corpus's). */
  filter?: PaperFilter | undefined
  /** The same as `filter` (the name the store contract's design used). */
  filters?: PaperFilter | undefined
}

/**
 * Hybrid search: BM25 over papers (title weighted twice + abstract) fused with dense similarity of
 * the best sentence-sized chunk, then grouped so each paper appears once with its best passages.
 * Each leg is min–max normalised over its own best papers and the two are added with the dense
 * share the index measured for itself (`calibrate.ts`), so a stronger embedder earns a larger share.
 * Talks to the corpus only through the store contract (`CorpusReader`), so it runs unchanged on the
 * embedded store and on PostgreSQL.
 */
export class Retriever {
  /** The dense leg's share of the fused score (see `FusionOptions.denseWeight`). */
  readonly denseWeight: number

  constructor(
    readonly corpus: CorpusReader,
    private readonly embedQuery: EmbedQuery | undefined,
    private readonly options: FusionOptions = DEFAULT_FUSION,
  ) {
    this.denseWeight = options.denseWeight ?? PRIOR_DENSE_WEIGHT
  }

  /** The hits and timings of a search: what `search --json`, `GET /v1/search` and MCP are made from. */
  async search(query: string, options: SearchOptions = {}): Promise<SearchOutcome> {
    const { hits, timings } = await this.retrieve(query, options)
    return { hits, timings }
  }

  /** A search that also hands back the query's embedding, for the answerer (see `Retrieval`). */
  async retrieve(query: string, { k = 5, mode = 'hybrid', filter: given, filters: alias }: SearchOptions = {}): Promise<Retrieval> {
    const filters = given ?? alias
    // Before the embedding: a filter nothing matches is the caller's mistake, not an empty result.
    if (filters && (await this.corpus.paperIds(filters)).length === 0) throw noMatch(filters)
    let embedMs = 0
    let queryVector: number[] | undefined
    if (mode !== 'keyword') {
      if (!this.embedQuery) throw new Error('dense search needs a query embedder')
      const t0 = performance.now()
      queryVector = await this.embedQuery(query)
      embedMs = performance.now() - t0
    }
    const t1 = performance.now()
    const hits = await this.rank(query, queryVector, k, mode, filters)
    return { hits, timings: { embedMs, searchMs: performance.now() - t1 }, ...(queryVector ? { queryVector } : {}) }
  }

  /** Everything after the query embedding: keyword leg, HNSW lookup, fusion, grouping. */
  async rank(query: string, queryVector: number[] | undefined, k: number, mode: SearchMode, filters?: PaperFilter): Promise<SearchHit[]> {
    const depth = this.options.fusionDepth
    const filter = filters ? { ...filters } : undefined
    const [keywordTop, neighbours] = await Promise.all([
      mode !== 'dense' ? this.corpus.keywordPapers(query, { limit: depth, ...(filter ? { filter } : {}) }) : Promise.resolve([]),
      mode !== 'keyword' && queryVector ? this.corpus.nearestChunks(queryVector, this.options.denseCandidates, filter) : Promise.resolve([]),
    ])
    const keyword = new Map(keywordTop.map((h) => [h.id, h.score]))
    const dense = new Map<string, number>()
    const chunkDense = new Map<string, number>()
    for (const { chunkId, paperId, similarity } of neighbours) {
      chunkDense.set(chunkId, similarity)
      if (similarity > (dense.get(paperId) ?? -1)) dense.set(paperId, similarity)
    }

    const denseWeight = mode === 'keyword' ? 0 : mode === 'dense' ? 1 : this.denseWeight
    // A paper sharing no term with the query has no keyword score at all; any paper has a cosine.
    const kwNorm = minMax(new Map([...keyword].filter(([, s]) => s > 0)), depth)
    const denseNorm = minMax(dense, depth)
    const scored: { id: string; score: number }[] = []
    for (const id of new Set([...kwNorm.keys(), ...denseNorm.keys()])) {
      scored.push({ id, score: (1 - denseWeight) * (kwNorm.get(id) ?? 0) + denseWeight * (denseNorm.get(id) ?? 0) })
    }
    scored.sort((a, b) => b.score - a.score || a.id.localeCompare(b.id))
    const top = scored.slice(0, k)
    const ids = top.map((t) => t.id)
    if (ids.length === 0) return []

    // The BM25 score of every hit, also of those outside the keyword leg's top (0 when it shares no term).
    const unscored = mode === 'dense' ? [] : ids.filter((id) => !keyword.has(id))
    const [papers, chunks, chunkKw, extra] = await Promise.all([
      this.corpus.papers(ids),
      this.corpus.chunksOf(ids),
      mode === 'dense' ? Promise.resolve([]) : this.corpus.keywordChunks(query, ids),
      unscored.length > 0 ? this.corpus.keywordPapers(query, { limit: unscored.length, filter: { ...filter, ids: unscored } }) : Promise.resolve([]),
    ])
    for (const h of extra) keyword.set(h.id, h.score)
    const byId = new Map(papers.map((p) => [p.id, p]))
    const chunkScores = new Map(chunkKw.map((h) => [h.id, h.score]))
    return top.flatMap(({ id, score }) => {
      const paper = byId.get(id)
      if (!paper) return []
      const hit: SearchHit = {
        id,
        title: paper.title,
        score: round(score),
        passages: this.bestPassages(chunks.get(id) ?? [], chunkScores, chunkDense),
        keyword: round(mode === 'dense' ? 0 : (keyword.get(id) ?? 0)),
        dense: round(dense.get(id) ?? 0),
        paper,
      }
      if (paper.url) hit.url = paper.url
      return [hit]
    })
  }

  private bestPassages(chunks: StoredChunk[], chunkKw: Map<string, number>, chunkDense: Map<string, number>): string[] {
    const maxKw = Math.max(0, ...chunks.map((c) => chunkKw.get(c.id) ?? 0))
    return chunks
      .map((c) => ({ c, s: (maxKw > 0 ? (chunkKw.get(c.id) ?? 0) / maxKw : 0) + (chunkDense.get(c.id) ?? 0) }))
      .sort((a, b) => b.s - a.s || a.c.index - b.c.index)
      .slice(0, this.options.passagesPerPaper)
      .map(({ c }) => c.text)
  }
}

/**
 * A leg's best `depth` scores mapped onto [0, 1] (best 1, the depth-th 0); papers below the depth
 * get nothing from this leg. Scale-free, so BM25's unbounded scores and cosine similarities can be
 * added; a convex sum of such scores beat reciprocal-rank fusion and z-scores on every held-out
 * question style (README, "Fusion"), as Bruch et al. (2022) found in and out of domain.
 */
function minMax(scores: Map<string, number>, depth: number): Map<string, number> {
  const top = [...scores].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0])).slice(0, depth)
  const max = top[0]?.[1] ?? 0
  const min = top.at(-1)?.[1] ?? 0
  return new Map(top.map(([id, s]) => [id, max > min ? (s - min) / (max - min) : 1]))
}

const round = (x: number): number => Math.round(x * 10_000) / 10_000
