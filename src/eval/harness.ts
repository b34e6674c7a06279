import { readFile } from 'node:fs/promises'
import { z } from 'zod'
import { normaliseTitle, type Paper } from '../corpus/index.js'
import { AppError } from '../errors.js'
import type { Retriever, SearchMode } from '../retrieve/index.js'
import { ndcgAt, recallAt, reciprocalRank } from './metrics.js'

export const QUESTION_KINDS = ['paraphrase', 'method', 'multi', 'vocab-gap', 'search-box', 'own-words', 'unanswerable', 'near-miss', 'off-topic'] as const
/** Kinds whose questions the corpus cannot answer: they are scored by abstention, not retrieval. */
export const UNANSWERABLE_KINDS: readonly string[] = ['unanswerable', 'near-miss', 'off-topic']

const QuestionSchema = z.object({
  id: z.string().min(1),
  kind: z.enum(QUESTION_KINDS),
  question: z.string().min(1),
  expected: z.array(z.string()),
  facts: z.array(z.string()).default([]),
  split: z.enum(['dev', 'test']).default('dev'),
  /** near-miss: the paper the question is about, and the detail it asks for that the abstract omits. */
  about: z.string().optional(),
  focus: z.string().optional(),
})
export type EvalQuestion = z.infer<typeof QuestionSchema>

export async function loadQuestions(file: string): Promise<EvalQuestion[]> {
  let text: string
  try {
    text = await readFile(file, 'utf8')
  } catch {
    throw new AppError('NOT_FOUND', `Cannot read the question set ${file}.`)
  }
  return text.split('\n').flatMap((line, i) => {
    if (!line.trim()) return []
    let json: unknown
    try {
      json = JSON.parse(line)
    } catch {
      throw new AppError('BAD_INPUT', `${file}:${i + 1}: not valid JSON`)
    }
    const parsed = QuestionSchema.safeParse(json)
    if (!parsed.success) throw new AppError('BAD_INPUT', `${file}:${i + 1}: ${parsed.error.issues[0]?.message ?? 'invalid question'}`)
    return [parsed.data]
  })
}

/** Maps expected titles to ids in the index; a title the index lacks is an error in the question set. */
export function resolveExpected(questions: EvalQuestion[], papers: Iterable<Paper>): Map<string, string[]> {
  const byTitle = new Map<string, string>()
  for (const p of papers) byTitle.set(normaliseTitle(p.title), p.id)
  const out = new Map<string, string[]>()
  for (const q of questions) {
    out.set(
      q.id,
      q.expected.map((title) => {
        const id = byTitle.get(normaliseTitle(title))
        if (!id) throw new AppError('BAD_INPUT', `Question ${q.id} expects "${title}", which is not in the index.`)
        return id
      }),
    )
  }
  return out
}

export interface MetricRow {
  recall5: number
  recall10: number
  mrr: number
  ndcg10: number
  n: number
}

/** Milliseconds over a set of calls: nearest-rank percentiles, so each one is a time actually measured. */
export interface LatencyStats {
  p50: number
  p95: number
  max: number
  n: number
}

export function latencyStats(samples: readonly number[]): LatencyStats {
  if (samples.length === 0) return { p50: 0, p95: 0, max: 0, n: 0 }
  const sorted = [...samples].sort((a, b) => a - b)
  const at = (p: number): number => round2(sorted[Math.max(0, Math.ceil(p * sorted.length) - 1)] ?? 0)
  return { p50: at(0.5), p95: at(0.95), max: at(1), n: sorted.length }
}

export interface RetrievalReport {
  /** mode → kind (plus "all") → averaged metrics over answerable questions. */
  table: Record<SearchMode, Record<string, MetricRow>>
  /** `ms`: time to rank the question in that mode, after embedding. */
  perQuestion: { id: string; kind: string; mode: SearchMode; ranked: string[]; relevant: string[]; rank: number | null; ms: number }[]
  /** Per query: embedding it once, then ranking it in each mode. */
  latency: { embedMs: LatencyStats; byMode: Partial<Record<SearchMode, LatencyStats>> }
}

export interface RetrievalEvalOptions {
  modes?: SearchMode[]
  /** Milliseconds since some epoch, for the latency figures. */
  now?: () => number
  /** After each question: how many of `questions` are done. */
  onProgress?: (done: number, total: number) => void
}

/**
 * Runs every answerable question through each mode. The query is embedded once and reused, so
 * modes differ only in ranking. Unanswerable questions have no relevant paper and are skipped here
 * (they are measured by the answer evals: abstention).
 */
export async function evaluateRetrieval(
  retriever: Retriever,
  embedQuery: (q: string) => Promise<number[]>,
  questions: EvalQuestion[],
  expected: Map<string, string[]>,
  { modes = ['keyword', 'dense', 'hybrid'], now = () => performance.now(), onProgress }: RetrievalEvalOptions = {},
): Promise<RetrievalReport> {
  const perQuestion: RetrievalReport['perQuestion'] = []
  const embedTimes: number[] = []
  const rankTimes = new Map<SearchMode, number[]>(modes.map((m) => [m, []]))
  const sums = new Map<string, MetricRow>()
  const add = (mode: SearchMode, kind: string, m: Omit<MetricRow, 'n'>): void => {
    for (const key of [`${mode}\u0000${kind}`, `${mode}\u0000all`]) {
      const row = sums.get(key) ?? { recall5: 0, recall10: 0, mrr: 0, ndcg10: 0, n: 0 }
      row.recall5 += m.recall5
      row.recall10 += m.recall10
      row.mrr += m.mrr
      row.ndcg10 += m.ndcg10
      row.n += 1
      sums.set(key, row)
    }
  }
  for (const [i, q] of questions.entries()) {
    onProgress?.(i, questions.length)
    const relevant = expected.get(q.id) ?? []
    if (relevant.length === 0) continue
    const embedStarted = now()
    const vector = await embedQuery(q.question)
    embedTimes.push(now() - embedStarted)
    for (const mode of modes) {
      const rankStarted = now()
      const ranked = (await retriever.rank(q.question, vector, 10, mode)).map((h) => h.id)
      const ms = now() - rankStarted
      rankTimes.get(mode)?.push(ms)
      const set = new Set(relevant)
      add(mode, q.kind, {
        recall5: recallAt(ranked, set, 5),
        recall10: recallAt(ranked, set, 10),
        mrr: reciprocalRank(ranked, set),
        ndcg10: ndcgAt(ranked, set, 10),
      })
      const first = ranked.findIndex((id) => set.has(id))
      perQuestion.push({ id: q.id, kind: q.kind, mode, ranked, relevant, rank: first < 0 ? null : first + 1, ms: round2(ms) })
    }
  }
  onProgress?.(questions.length, questions.length)
  const table = {} as RetrievalReport['table']
  for (const [key, row] of sums) {
    const [mode, kind] = key.split('\u0000') as [SearchMode, string]
    table[mode] ??= {}
    table[mode][kind] = {
      recall5: row.recall5 / row.n,
      recall10: row.recall10 / row.n,
      mrr: row.mrr / row.n,
      ndcg10: row.ndcg10 / row.n,
      n: row.n,
    }
  }
  const byMode: RetrievalReport['latency']['byMode'] = {}
  for (const [mode, times] of rankTimes) byMode[mode] = latencyStats(times)
  return { table, perQuestion, latency: { embedMs: latencyStats(embedTimes), byMode } }
}

/** A table of display strings: the terminal prints it as Markdown, the HTML report as a <table>. */
export interface TextTable {
  header: string[]
  rows: string[][]
}

export function markdownTable({ header, rows }: TextTable): string {
  const line = (cells: string[]): string => `| ${cells.join(' | ')} |`
  return [line(header), `|${header.map(() => '---').join('|')}|`, ...rows.map(line)].join('\n')
}

export const percent = (x: number): string => `${(x * 100).toFixed(1)} %`

export function retrievalTable(report: RetrievalReport): TextTable {
  const rows: string[][] = []
  const kinds = [...QUESTION_KINDS.filter((k) => !UNANSWERABLE_KINDS.includes(k)), 'all']
  for (const kind of kinds) {
    for (const mode of Object.keys(report.table) as SearchMode[]) {
      const row = report.table[mode][kind]
      if (!row) continue
      rows.push([kind, String(row.n), mode, percent(row.recall5), percent(row.recall10), row.mrr.toFixed(3), row.ndcg10.toFixed(3)])
    }
  }
  return { header: ['kind', 'n', 'mode', 'Recall@5', 'Recall@10', 'MRR', 'nDCG@10'], rows }
}

export function formatTable(report: RetrievalReport): string {
  return markdownTable(retrievalTable(report))
}

const round2 = (ms: number): number => Math.round(ms * 100) / 100

/**
 * At most `n` questions, taken in turn from each kind (in file order within a kind), so a short run
 * against a slow model still sees every question style.
 */
export function spreadSample<T extends { kind: string }>(questions: T[], n: number): T[] {
  if (n >= questions.length) return questions
  const byKind = new Map<string, T[]>()
  for (const q of questions) byKind.set(q.kind, [...(byKind.get(q.kind) ?? []), q])
  const queues = [...byKind.values()]
  const picked = new Set<T>()
  for (let round = 0; picked.size < n; round++) {
    for (const queue of queues) {
      const q = queue[round]
      if (q && picked.size < n) picked.add(q)
    }
  }
  return questions.filter((q) => picked.has(q))
}
