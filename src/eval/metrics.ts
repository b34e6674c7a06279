import { AppError } from '../errors.js'

/**
 * Retrieval metrics over a ranked list of paper ids and the set of ids that answer the question.
 *
 * Relevance is binary. A paper that appears more than once in `ranked` counts once, at its first
 * rank. Every metric needs at least one relevant paper: a question with none (an unanswerable one)
 * has no right ranking to score, so these functions reject it and `summarise` leaves it out,
 * counting it under `excluded`. Abstention on those questions is measured by the answer evals.
 */

/** Fraction of the relevant papers found in the top `k`; with one relevant paper, a hit rate. */
export function recallAt(ranked: readonly string[], relevant: ReadonlySet<string>, k: number): number {
  checkRelevant(relevant)
  checkK(k)
  return new Set(ranked.slice(0, k).filter((id) => relevant.has(id))).size / relevant.size
}

/** 1 / rank of the first relevant paper (ranks start at 1), or 0 when none was retrieved. */
export function reciprocalRank(ranked: readonly string[], relevant: ReadonlySet<string>): number {
  checkRelevant(relevant)
  const index = ranked.findIndex((id) => relevant.has(id))
  return index < 0 ? 0 : 1 / (index + 1)
}

/**
 * Normalised discounted cumulative gain at `k`: a relevant paper at rank r adds 1 / log2(r + 1),
 * and the sum is divided by the best possible one, min(|relevant|, k) relevant papers at the top.
 */
export function ndcgAt(ranked: readonly string[], relevant: ReadonlySet<string>, k: number): number {
  checkRelevant(relevant)
  checkK(k)
  const seen = new Set<string>()
  let dcg = 0
  ranked.slice(0, k).forEach((id, index) => {
    if (!relevant.has(id) || seen.has(id)) return
    seen.add(id)
    dcg += discount(index)
  })
  let ideal = 0
  for (let index = 0; index < Math.min(relevant.size, k); index++) ideal += discount(index)
  return dcg / ideal
}

/** One question's retrieval result, as the eval runner collects it. */
export interface RankedQuestion {
  kind: string
  /** Paper ids, best first. */
  ranked: readonly string[]
  /** Ids of the papers that answer the question; empty for an unanswerable one. */
  relevant: readonly string[]
}

/** Means over the questions of one group; all zero when `questions` is 0. */
export interface MetricMeans {
  questions: number
  mrr: number
  /** k → mean Recall@k. */
  recall: Record<number, number>
  /** k → mean nDCG@k. */
  ndcg: Record<number, number>
}

export interface MetricSummary {
  overall: MetricMeans
  /** Only kinds with at least one scored question, in order of first appearance. */
  byKind: Record<string, MetricMeans>
  /** kind → number of questions left out because they have no relevant paper. */
  excluded: Record<string, number>
}

/**
 * Averages Recall@k, MRR and nDCG@k per question kind and overall. Questions without relevant
 * papers are excluded (see the note at the top). Call it once per split to report dev and test.
 */
export function summarise(rows: readonly RankedQuestion[], { ks = [1, 5, 10] }: { ks?: readonly number[] } = {}): MetricSummary {
  ks.forEach(checkK)
  const scored = new Map<string, RankedQuestion[]>()
  const excluded: Record<string, number> = {}
  for (const row of rows) {
    if (row.relevant.length === 0) excluded[row.kind] = (excluded[row.kind] ?? 0) + 1
    else scored.set(row.kind, [...(scored.get(row.kind) ?? []), row])
  }
  const byKind: Record<string, MetricMeans> = {}
  for (const [kind, group] of scored) byKind[kind] = means(group, ks)
  return { overall: means([...scored.values()].flat(), ks), byKind, excluded }
}

function means(rows: readonly RankedQuestion[], ks: readonly number[]): MetricMeans {
  const mean = (score: (ranked: readonly string[], relevant: ReadonlySet<string>) => number): number => {
    if (rows.length === 0) return 0
    let sum = 0
    for (const row of rows) sum += score(row.ranked, new Set(row.relevant))
    return sum / rows.length
  }
  const perK = (metric: typeof recallAt): Record<number, number> =>
    Object.fromEntries(ks.map((k) => [k, mean((ranked, relevant) => metric(ranked, relevant, k))]))
  return { questions: rows.length, mrr: mean(reciprocalRank), recall: perK(recallAt), ndcg: perK(ndcgAt) }
}

/** Gain discount for a relevant paper at 0-based `index`, i.e. rank index + 1. */
const discount = (index: number): number => 1 / Math.log2(index + 2)

function checkRelevant(relevant: ReadonlySet<string>): void {
  if (relevant.size === 0) {
    throw new AppError('BAD_INPUT', 'A retrieval metric needs at least one relevant paper; leave unanswerable questions out.')
  }
}

function checkK(k: number): void {
  if (!Number.isInteger(k) || k < 1) throw new AppError('BAD_INPUT', `k must be a positive integer, got ${k}.`)
}
