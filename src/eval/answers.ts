import type { Answerer, AnswerResult } from '../answer/answer.js'
import { parseMarkers, supportScore, SUPPORT_THRESHOLD } from '../answer/citations.js'
import { splitSentences } from '../answer/sentences.js'
import { termSet } from '../retrieve/tokenize.js'
import type { EvalQuestion } from './harness.js'

export interface AnswerReport {
  questions: number
  /** Share of [n] markers in final answers that point to a listed reference (must be 1). */
  markersResolved: number
  markers: number
  /** Share of (cited sentence, reference) pairs whose reference quote supports the sentence. */
  quotesSupport: number
  citations: number
  /** Share of answerable questions that got an abstention. */
  wrongAbstentions: number
  answerable: number
  /** Share of unanswerable questions that got an abstention. */
  correctAbstentions: number
  unanswerable: number
  /** Share of expected key facts found in non-abstained answers to answerable questions. */
  factsPresent: number
  facts: number
  /** Share of answered questions whose references include an expected paper. */
  citesExpected: number
  /** Per question kind: how many abstained, and key facts found in the answers given. */
  byKind: Record<string, { questions: number; abstained: number; facts: number; factsFound: number }>
  perQuestion: { id: string; kind: string; abstained: boolean; answer: string; cited: string[]; factsFound: number; factsTotal: number }[]
}

/** Runs each question through the answerer and measures citations, abstention and key facts. */
export async function evaluateAnswers(answerer: Answerer, questions: EvalQuestion[], expected: Map<string, string[]>): Promise<AnswerReport> {
  let markers = 0
  let resolved = 0
  let citations = 0
  let supported = 0
  let answerable = 0
  let wrong = 0
  let unanswerable = 0
  let correct = 0
  let facts = 0
  let found = 0
  let answered = 0
  let citesExpected = 0
  const perQuestion: AnswerReport['perQuestion'] = []
  for (const q of questions) {
    const result = await answerer.ask(q.question)
    const m = markerStats(result)
    markers += m.total
    resolved += m.resolved
    const c = citationSupport(result)
    citations += c.total
    supported += c.supported
    const relevant = expected.get(q.id) ?? []
    let factsFound = 0
    if (relevant.length === 0) {
      unanswerable++
      if (result.abstained) correct++
    } else {
      answerable++
      if (result.abstained) wrong++
      else {
        answered++
        if (result.references.some((r) => relevant.includes(r.id))) citesExpected++
        factsFound = q.facts.filter((f) => containsFact(result.answer, f)).length
      }
      facts += q.facts.length
      found += factsFound
    }
    perQuestion.push({
      id: q.id,
      kind: q.kind,
      abstained: result.abstained,
      answer: result.answer,
      cited: result.references.map((r) => r.id),
      factsFound,
      factsTotal: relevant.length ? q.facts.length : 0,
    })
  }
  const byKind: AnswerReport['byKind'] = {}
  for (const q of perQuestion) {
    const row = (byKind[q.kind] ??= { questions: 0, abstained: 0, facts: 0, factsFound: 0 })
    row.questions++
    if (q.abstained) row.abstained++
    row.facts += q.factsTotal
    row.factsFound += q.factsFound
  }
  const share = (a: number, b: number): number => (b === 0 ? 1 : a / b)
  return {
    questions: questions.length,
    markersResolved: share(resolved, markers),
    markers,
    quotesSupport: share(supported, citations),
    citations,
    wrongAbstentions: share(wrong, answerable),
    answerable,
    correctAbstentions: share(correct, unanswerable),
    unanswerable,
    factsPresent: share(found, facts),
    facts,
    citesExpected: share(citesExpected, answered),
    byKind,
    perQuestion,
  }
}

function markerStats(result: AnswerResult): { total: number; resolved: number } {
  let total = 0
  let ok = 0
  for (const marker of parseMarkers(result.answer)) {
    for (const n of marker.numbers.length ? marker.numbers : [0]) {
      total++
      if (result.references.some((r) => r.n === n)) ok++
    }
  }
  return { total, resolved: ok }
}

function citationSupport(result: AnswerResult): { total: number; supported: number } {
  let total = 0
  let supported = 0
  for (const sentence of splitSentences(result.answer)) {
    for (const marker of parseMarkers(sentence)) {
      for (const n of marker.numbers) {
        const ref = result.references.find((r) => r.n === n)
        total++
        if (ref && supportScore(sentence, ref.quote) >= SUPPORT_THRESHOLD) supported++
      }
    }
  }
  return { total, supported }
}

/**
 * A key fact is present when the answer contains it verbatim (ignoring case and punctuation) or
 * contains at least 80 % of its content terms (so "0.047 %" matches "0.047% of the parameters").
 */
export function containsFact(answer: string, fact: string): boolean {
  const flat = (s: string): string => s.toLowerCase().replace(/[^\p{L}\p{N}%.]+/gu, ' ').trim()
  if (flat(answer).includes(flat(fact))) return true
  const terms = termSet(fact)
  if (terms.size === 0) return false
  const have = termSet(answer)
  let n = 0
  for (const t of terms) if (have.has(t)) n++
  return n / terms.size >= 0.8
}

export function formatAnswerReport(r: AnswerReport): string {
  const pct = (x: number): string => `${(x * 100).toFixed(1)} %`
  return [
    '| measure | value | over |',
    '|---|---|---|',
    `| [n] markers that resolve to a listed reference | ${pct(r.markersResolved)} | ${r.markers} markers |`,
    `| cited sentences whose quote supports them | ${pct(r.quotesSupport)} | ${r.citations} citations |`,
    `| answerable questions wrongly abstained | ${pct(r.wrongAbstentions)} | ${r.answerable} questions |`,
    `| unanswerable questions abstained | ${pct(r.correctAbstentions)} | ${r.unanswerable} questions |`,
    `| answers citing an expected paper | ${pct(r.citesExpected)} | answered questions |`,
    `| expected key facts present in answers | ${pct(r.factsPresent)} | ${r.facts} facts |`,
    '',
    '| kind | questions | abstained | key facts present |',
    '|---|---|---|---|',
    ...Object.entries(r.byKind).map(
      ([kind, k]) => `| ${kind} | ${k.questions} | ${pct(k.abstained / k.questions)} (${k.abstained}) | ${k.facts ? `${pct(k.factsFound / k.facts)} (${k.factsFound} / ${k.facts})` : '–'} |`,
    ),
  ].join('\n')
}
