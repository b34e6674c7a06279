import type { PaperIndex, StoredPaper } from '../index/store.js'
import type { Chunk } from '../index/chunk.js'
import { KeywordIndex } from './keyword.js'
import { termSet } from './tokenize.js'

export type SearchMode = 'hybrid' | 'keyword' | 'dense'

export interface FusionOptions {
  /**
   * Share of the fused score given to the dense leg when the keyword leg is sure of itself and when
   * it is lost. Keyword confidence is the idf-weighted share of question terms its top papers
   * contain: at or below `confidenceLow` the keyword leg is lost, at or above `confidenceHigh` it is
   * sure, linear in between. Chosen with `evals/tune-fusion.mjs` on the dev split.
   */
  denseWeightSure: number
  denseWeightLost: number
  confidenceLow: number
  confidenceHigh: number
  /** Dense chunk neighbours fetched from HNSW before grouping per paper. */
  denseCandidates: number
  /** Best passages returned per paper. */
  passagesPerPaper: number
}

export const DEFAULT_FUSION: FusionOptions = {
  denseWeightSure: 0.1,
  denseWeightLost: 1.0,
  confidenceLow: 0.2,
  confidenceHigh: 0.4,
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

export interface SearchOutcome {
  hits: SearchHit[]
  timings: { embedMs: number; searchMs: number }
}

export type EmbedQuery = (text: string) => Promise<number[]>

/**
 * Hybrid search: BM25 over papers (title weighted twice + abstract) fused with dense similarity of
 * the best sentence-sized chunk, then grouped so each paper appears once with its best passages.
 * Scores are min–max free: keyword is divided by the query's best BM25 score and dense is measured
 * above the similarity of the median candidate, so one leg cannot swamp the other by scale alone.
 */
export class Retriever {
  private readonly papersKw: KeywordIndex
  private readonly chunksKw: KeywordIndex
  private readonly chunks = new Map<string, Chunk[]>()
  private readonly byLabel = new Map<number, Chunk>()
  private readonly labels = new Map<string, number[]>()
  private readonly paperTerms = new Map<string, Set<string>>()

  constructor(
    private readonly index: PaperIndex,
    private readonly embedQuery: EmbedQuery | undefined,
    private readonly options: FusionOptions = DEFAULT_FUSION,
  ) {
    this.papersKw = new KeywordIndex(
      [...index.papers.values()].map((p) => ({ id: p.id, fields: [{ text: p.title, weight: 2 }, { text: p.abstract, weight: 1 }] })),
    )
    for (const p of index.papers.values()) this.paperTerms.set(p.id, termSet(`${p.title} ${p.abstract}`))
    const all = index.chunks()
    for (const { chunk, label } of all) {
      this.byLabel.set(label, chunk)
      this.labels.set(chunk.paperId, [...(this.labels.get(chunk.paperId) ?? []), label])
      const list = this.chunks.get(chunk.paperId)
      if (list) list.push(chunk)
      else this.chunks.set(chunk.paperId, [chunk])
    }
    this.chunksKw = new KeywordIndex(all.map(({ chunk }) => ({ id: chunk.id, fields: [{ text: chunk.text, weight: 1 }] })))
  }

  /** Papers whose title or abstract contains a tokenized term. */
  documentFrequency(term: string): number {
    return this.papersKw.documentFrequency(term)
  }

  /** Corpus-wide idf of a tokenized term (title + abstract documents). */
  idf(term: string): number {
    return this.papersKw.idf(term)
  }

  /** A paper's chunks with their cosine similarity to a unit-length query vector, in abstract order. */
  chunkSimilarities(paperId: string, queryVector: number[]): { chunk: Chunk; similarity: number }[] {
    const vectors = this.index.vectors
    const labels = this.labels.get(paperId) ?? []
    return labels.map((label) => {
      const chunk = this.byLabel.get(label) as Chunk
      const v = vectors ? vectors.index.getPoint(label) : []
      let dot = 0
      for (let i = 0; i < v.length; i++) dot += (v[i] ?? 0) * (queryVector[i] ?? 0)
      return { chunk, similarity: dot }
    })
  }

  async search(query: string, { k = 5, mode = 'hybrid' as SearchMode } = {}): Promise<SearchOutcome & { queryVector?: number[] }> {
    let embedMs = 0
    let queryVector: number[] | undefined
    if (mode !== 'keyword') {
      if (!this.embedQuery) throw new Error('dense search needs a query embedder')
      const t0 = performance.now()
      queryVector = await this.embedQuery(query)
      embedMs = performance.now() - t0
    }
    const t1 = performance.now()
    const hits = this.rank(query, queryVector, k, mode)
    return { hits, timings: { embedMs, searchMs: performance.now() - t1 }, ...(queryVector ? { queryVector } : {}) }
  }

  /** Everything after the query embedding: keyword leg, HNSW lookup, fusion, grouping. */
  rank(query: string, queryVector: number[] | undefined, k: number, mode: SearchMode): SearchHit[] {
    const keyword = new Map<string, number>()
    if (mode !== 'dense') for (const hit of this.papersKw.search(query, this.papersKw.size)) keyword.set(hit.id, hit.score)

    const dense = new Map<string, number>()
    const chunkDense = new Map<string, number>()
    let denseFloor = 0
    if (mode !== 'keyword' && queryVector && this.index.vectors) {
      const n = Math.min(this.options.denseCandidates, this.byLabel.size)
      const result = this.index.vectors.index.searchKnn(queryVector, n)
      const sims = result.distances.map((d) => 1 - d)
      result.neighbors.forEach((label, i) => {
        const chunk = this.byLabel.get(label)
        const sim = sims[i] ?? 0
        if (!chunk) return
        chunkDense.set(chunk.id, sim)
        if (sim > (dense.get(chunk.paperId) ?? -1)) dense.set(chunk.paperId, sim)
      })
      denseFloor = median([...dense.values()])
    }

    const maxKw = Math.max(0, ...keyword.values())
    const maxDense = Math.max(denseFloor, ...dense.values())
    const { denseWeightSure, denseWeightLost, confidenceLow, confidenceHigh } = this.options
    const confidence = mode === 'hybrid' ? this.keywordConfidence(query, keyword) : 0
    const sure = Math.min(1, Math.max(0, (confidence - confidenceLow) / Math.max(1e-9, confidenceHigh - confidenceLow)))
    const denseWeight = mode === 'keyword' ? 0 : mode === 'dense' ? 1 : denseWeightLost + (denseWeightSure - denseWeightLost) * sure
    const kwWeight = 1 - denseWeight
    const scored: { id: string; score: number }[] = []
    for (const id of new Set([...keyword.keys(), ...dense.keys()])) {
      const kw = maxKw > 0 ? (keyword.get(id) ?? 0) / maxKw : 0
      const dn = maxDense > denseFloor ? Math.max(0, ((dense.get(id) ?? denseFloor) - denseFloor) / (maxDense - denseFloor)) : 0
      scored.push({ id, score: kwWeight * kw + denseWeight * dn })
    }
    scored.sort((a, b) => b.score - a.score || a.id.localeCompare(b.id))

    const chunkKw = mode === 'dense' ? new Map<string, number>() : this.chunkKeywordScores(query, scored.slice(0, k))
    return scored.slice(0, k).flatMap(({ id, score }) => {
      const paper = this.index.papers.get(id)
      if (!paper) return []
      const hit: SearchHit = {
        id,
        title: paper.title,
        score: round(score),
        passages: this.bestPassages(id, chunkKw, chunkDense),
        keyword: round(keyword.get(id) ?? 0),
        dense: round(dense.get(id) ?? 0),
        paper,
      }
      if (paper.url) hit.url = paper.url
      return [hit]
    })
  }

  /**
   * How much to trust the keyword leg for this query: the idf-weighted share of the question's terms
   * found in its best keyword papers. Questions phrased in the abstracts' words score near 1;
   * questions that avoid them near 0, and for those dense similarity is the better guide.
   */
  private keywordConfidence(query: string, keyword: Map<string, number>): number {
    const weights = [...termSet(query)].map((t) => [t, this.papersKw.idf(t)] as const)
    const total = weights.reduce((sum, [, w]) => sum + w, 0)
    if (total === 0) return 0
    const top = [...keyword].sort((a, b) => b[1] - a[1]).slice(0, 3)
    let best = 0
    for (const [id] of top) {
      const terms = this.paperTerms.get(id)
      if (!terms) continue
      best = Math.max(best, weights.reduce((sum, [t, w]) => sum + (terms.has(t) ? w : 0), 0) / total)
    }
    return best
  }

  private chunkKeywordScores(query: string, top: { id: string }[]): Map<string, number> {
    const wanted = new Set(top.map((t) => t.id))
    const out = new Map<string, number>()
    for (const hit of this.chunksKw.search(query, this.chunksKw.size)) {
      if (wanted.has(hit.id.slice(0, hit.id.lastIndexOf('#')))) out.set(hit.id, hit.score)
    }
    return out
  }

  private bestPassages(paperId: string, chunkKw: Map<string, number>, chunkDense: Map<string, number>): string[] {
    const chunks = this.chunks.get(paperId) ?? []
    const maxKw = Math.max(0, ...chunks.map((c) => chunkKw.get(c.id) ?? 0))
    return chunks
      .map((c) => ({ c, s: (maxKw > 0 ? (chunkKw.get(c.id) ?? 0) / maxKw : 0) + (chunkDense.get(c.id) ?? 0) }))
      .sort((a, b) => b.s - a.s || a.c.index - b.c.index)
      .slice(0, this.options.passagesPerPaper)
      .map(({ c }) => c.text)
  }
}

function median(values: number[]): number {
  if (values.length === 0) return 0
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.floor(sorted.length / 2)] ?? 0
}

const round = (x: number): number => Math.round(x * 10_000) / 10_000
