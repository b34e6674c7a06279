import { parseMarkers, supportScore, SUPPORT_THRESHOLD, splitSentences, type Answerer, type AnswerResult } from '../answer/index.js'
import { isAppError } from '../errors.js'
import { termSet } from '../retrieve/index.js'
import { latencyStats, markdownTable, percent, type EvalQuestion, type LatencyStats, type TextTable } from './harness.js'

export interface AnswerReport {
  /** The answerer measured: "offline-extractive", "ollama:llama3.1:8b"… */
  model: string
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
  /** How the model kept (or did not keep) the answer format, over the questions answered. */
  grounding: {
    /** Answers with a sentence that states something without a citation. */
    answersWithUncitedSentences: number
    /** Citation markers removed because they pointed to no paper in the prompt (`[7]` of 5). */
    invalidMarkers: number
    /** Citations written in another format (`(1)`, `[Paper 1]`, `【1】`) and rewritten. */
    reformattedMarkers: number
    /** Answers cut off mid-stream. */
    truncated: number
    /** Answers whose prompt left out retrieved papers to fit the model's context. */
    papersLeftOut: number
  }
  /** Questions that could not be answered in time (TIMEOUT); left out of every other measure. */
  failed: { id: string; kind: string; error: string }[]
  /** Per question kind: how many abstained, and key facts found in the answers given. */
  byKind: Record<string, { questions: number; abstained: number; facts: number; factsFound: number }>
  /** Question counts by whether the corpus answers the question and whether the answerer abstained. */
  confusion: { answerable: AbstentionCounts; unanswerable: AbstentionCounts }
  /** The answerer's own per-stage timings over all questions (retrievalMs includes embedMs). */
  latency: Record<keyof AnswerResult['timings'], LatencyStats>
  perQuestion: {
    id: string
    kind: string
    /** The question set expects papers for it (so abstaining is wrong). */
    answerable: boolean
    abstained: boolean
    answer: string
    cited: string[]
    factsFound: number
    factsTotal: number
    timings: AnswerResult['timings']
  }[]
}

export interface AbstentionCounts {
  answered: number
  abstained: number
}

export interface EvaluateAnswersOptions {
  /** After each question, with the number done so far. */
  onProgress?: (done: number, total: number) => void
}

/**
 * Runs each question through the answerer and measures citations, abstention and key facts. A
 * question that times out is recorded in `failed` and the run goes on (a slow local model should
 * not lose an hour of measurements); any other failure — the server down, the model missing — ends it.
 */
export async function evaluateAnswers(
  answerer: Answerer,
  questions: EvalQuestion[],
  expected: Map<string, string[]>,
  { onProgress }: EvaluateAnswersOptions = {},
): Promise<AnswerReport> {
  const grounding: AnswerReport['grounding'] = { answersWithUncitedSentences: 0, invalidMarkers: 0, reformattedMarkers: 0, truncated: 0, papersLeftOut: 0 }
  const failed: AnswerReport['failed'] = []
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
  for (const [i, q] of questions.entries()) {
    let result: AnswerResult
    try {
      result = await answerer.ask(q.question)
    } catch (error) {
      if (!isAppError(error) || error.code !== 'TIMEOUT') throw error
      failed.push({ id: q.id, kind: q.kind, error: error.message })
      onProgress?.(i + 1, questions.length)
      continue
    }
    onProgress?.(i + 1, questions.length)
    if (!result.abstained) {
      if (result.checks.uncitedSentences.length > 0) grounding.answersWithUncitedSentences++
      grounding.invalidMarkers += result.checks.invalidMarkers.length
      grounding.reformattedMarkers += result.checks.reformattedMarkers.length
      if (result.checks.truncated) grounding.truncated++
      if ((result.checks.context?.papersLeftOut.length ?? 0) > 0) grounding.papersLeftOut++
    }
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
      answerable: relevant.length > 0,
      abstained: result.abstained,
      answer: result.answer,
      cited: result.references.map((r) => r.id),
      factsFound,
      factsTotal: relevant.length ? q.facts.length : 0,
      timings: result.timings,
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
  const stage = (key: keyof AnswerResult['timings']): LatencyStats => latencyStats(perQuestion.map((q) => q.timings[key]))
  return {
    model: answerer.model,
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
    grounding,
    failed,
    byKind,
    confusion: {
      answerable: { answered: answerable - wrong, abstained: wrong },
      unanswerable: { answered: unanswerable - correct, abstained: correct },
    },
    latency: { embedMs: stage('embedMs'), retrievalMs: stage('retrievalMs'), generationMs: stage('generationMs'), totalMs: stage('totalMs') },
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

/** The headline measures and the per-kind breakdown, as the terminal and the HTML report show them. */
export function answerTables(r: AnswerReport): { headline: TextTable; byKind: TextTable } {
  return {
    headline: {
      header: ['measure', 'value', 'over'],
      rows: [
        ['[n] markers that resolve to a listed reference', percent(r.markersResolved), `${r.markers} markers`],
        ['cited sentences whose quote supports them', percent(r.quotesSupport), `${r.citations} citations`],
        ['answerable questions wrongly abstained', percent(r.wrongAbstentions), `${r.answerable} questions`],
        ['unanswerable questions abstained', percent(r.correctAbstentions), `${r.unanswerable} questions`],
        ['answers citing an expected paper', percent(r.citesExpected), 'answered questions'],
        ['expected key facts present in answers', percent(r.factsPresent), `${r.facts} facts`],
        ...groundingRows(r),
      ],
    },
    byKind: {
      header: ['kind', 'questions', 'abstained', 'key facts present'],
      rows: Object.entries(r.byKind).map(([kind, k]) => [
        kind,
        String(k.questions),
        `${percent(k.abstained / k.questions)} (${k.abstained})`,
        k.facts ? `${percent(k.factsFound / k.facts)} (${k.factsFound} / ${k.facts})` : '–',
      ]),
    },
  }
}

/** How the model kept the answer format: counts, over the answers given. */
function groundingRows(r: AnswerReport): string[][] {
  const given = `of ${r.confusion.answerable.answered + r.confusion.unanswerable.answered} answers given`
  const g = r.grounding
  return [
    ['answers with a claim that cites nothing', String(g.answersWithUncitedSentences), given],
    ['citations to no paper in the prompt (removed)', String(g.invalidMarkers), 'markers'],
    ['citations in another format (rewritten to [n])', String(g.reformattedMarkers), 'markers'],
    ['answers cut off mid-stream', String(g.truncated), given],
    ['answers whose prompt left retrieved papers out', String(g.papersLeftOut), given],
    ...(r.failed.length > 0 ? [['questions that timed out (not scored)', String(r.failed.length), `of ${r.questions} questions`]] : []),
  ]
}

export function formatAnswerReport(r: AnswerReport): string {
  const { headline, byKind } = answerTables(r)
  return `${markdownTable(headline)}\n\n${markdownTable(byKind)}`
}
