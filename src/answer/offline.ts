import type { Retriever, SearchHit } from '../retrieve/hybrid.js'
import { termSet } from '../retrieve/tokenize.js'
import { splitSentences } from './sentences.js'

export interface OfflineOptions {
  /** Sentences in an answer. */
  maxSentences: number
  /** Sentences taken from any one paper. */
  perPaper: number
  /** A sentence is kept only if it scores at least this share of the best sentence's score. */
  relativeFloor: number
}

export const DEFAULT_OFFLINE: OfflineOptions = { maxSentences: 4, perPaper: 2, relativeFloor: 0.55 }

export interface Evidence {
  /** Best share of the question's idf-weighted terms that one retrieved paper contains (0–1). */
  coverage: number
  /** Best cosine similarity of a retrieved chunk to the question (0 without dense retrieval). */
  dense: number
  /** Names in the question (DoRA, Mamba, CO2) that no paper in the corpus contains. */
  unknownNames: string[]
}

interface Candidate {
  paper: number
  position: number
  sentence: string
  terms: Set<string>
  score: number
}

/**
 * How strongly the retrieved papers bear on the question. Terms the corpus has never seen weigh
 * the most (idf), so a question about something absent ("DoRA", "NormalFloat") scores low even
 * when the rest of its words match a neighbouring paper.
 */
export function assessEvidence(question: string, hits: SearchHit[], retriever: Retriever): Evidence {
  const weights = termWeights(question, retriever)
  let coverage = 0
  for (const hit of hits.slice(0, 3)) {
    coverage = Math.max(coverage, weightedCoverage(weights, termSet(`${hit.title} ${hit.paper.abstract}`)))
  }
  return { coverage, dense: Math.max(0, ...hits.map((h) => h.dense)), unknownNames: unknownNames(question, retriever) }
}

/**
 * Names the question asks about that the corpus never mentions. A name is a word written like one
 * — an acronym or mixed case (DoRA, MT-Bench) or letters with digits (CO2, GPT-4) — so plain
 * descriptive words, which a paraphrasing user picks freely, never count. If the corpus never mentions the thing asked about, it cannot answer.
 */
export function unknownNames(question: string, retriever: Retriever): string[] {
  const out: string[] = []
  const words = question.match(/[\p{L}\p{N}]+(?:[-'’][\p{L}\p{N}]+)*/gu) ?? []
  for (const word of words) {
    const bare = word.replace(/['’]s$/, '')
    const acronymOrMixed = /\p{Lu}.*\p{Lu}/u.test(bare) || /\p{Ll}\p{Lu}/u.test(bare)
    const lettersWithDigits = /\p{L}/u.test(bare) && /\p{N}/u.test(bare) && !/^\d+(?:\.\d+)?[-]?\p{L}{1,4}$/u.test(bare)
    // Capitalised plain words (Mamba, but also Dante, Semitic) are left out: paraphrasing users use
    // them for things the abstracts name differently, and abstaining on those costs real answers.
    if (!acronymOrMixed && !lettersWithDigits) continue
    const terms = termSet(bare)
    if (terms.size > 0 && [...terms].every((t) => retriever.documentFrequency(t) === 0)) out.push(bare)
  }
  return [...new Set(out)]
}

/**
 * The offline answerer: picks the abstract sentences that best answer the question (question-term
 * coverage, dense similarity of their chunk, and the paper's rank), drops near-duplicates, and
 * orders them by paper and by position in the abstract so the answer reads in order. Each sentence
 * is cited with `[n]`, n being the paper's position among `hits`; first-person phrasing of
 * abstracts ("we propose") becomes "the authors propose".
 */
export function composeExtractiveAnswer(
  question: string,
  hits: SearchHit[],
  retriever: Retriever,
  queryVector: number[] | undefined,
  options: OfflineOptions = DEFAULT_OFFLINE,
): string {
  const weights = termWeights(question, retriever)
  const topScore = hits[0]?.score || 1
  const candidates: Candidate[] = []
  hits.forEach((hit, paper) => {
    const chunks = queryVector ? retriever.chunkSimilarities(hit.id, queryVector) : []
    splitSentences(hit.paper.abstract).forEach((sentence, position) => {
      const terms = termSet(sentence)
      const lexical = weightedCoverage(weights, terms)
      const probe = sentence.slice(0, 60)
      const dense = chunks.find((c) => c.chunk.text.includes(probe))?.similarity ?? 0
      // Paper rank matters: a sentence from the best-matching paper beats a similar one further down.
      // Abstracts open with background and answer with findings: prefer the findings.
      const score = 0.6 * lexical + 0.4 * Math.max(0, dense) + 0.15 * (hit.score / topScore) + 0.08 * rhetoric(sentence, position)
      if (lexical > 0 || dense > 0) candidates.push({ paper, position, sentence, terms, score })
    })
  })
  candidates.sort((a, b) => b.score - a.score || a.paper - b.paper || a.position - b.position)

  const best = candidates[0]?.score ?? 0
  const chosen: Candidate[] = []
  const perPaper = new Map<number, number>()
  for (const c of candidates) {
    if (chosen.length >= options.maxSentences || c.score < best * options.relativeFloor) break
    if ((perPaper.get(c.paper) ?? 0) >= options.perPaper) continue
    if (chosen.some((o) => jaccard(o.terms, c.terms) > 0.5)) continue
    chosen.push(c)
    perPaper.set(c.paper, (perPaper.get(c.paper) ?? 0) + 1)
  }
  // Reading order: papers in the order their best sentence ranked, sentences in abstract order.
  const paperOrder = [...new Set(chosen.map((c) => c.paper))]
  chosen.sort((a, b) => paperOrder.indexOf(a.paper) - paperOrder.indexOf(b.paper) || a.position - b.position)
  return chosen.map((c) => cite(thirdPerson(c.sentence), c.paper + 1)).join(' ')
}

/** +1 for a sentence that reports a result, -1 for one that sets the scene, else 0. */
function rhetoric(sentence: string, position: number): number {
  if (/\b(we (find|found|show|demonstrate|observe)|results? (show|indicate|suggest|reveal)|outperform|achiev|improv|reduc|\d+(\.\d+)?\s?(%|x|×)|find that|show that)/i.test(sentence)) return 1
  if (position === 0 || /^(recently|however|in recent years|despite|while|although)\b|\b(has|have) (been|become|shown|emerged|gained)\b/i.test(sentence)) return -1
  return 0
}

function termWeights(question: string, retriever: Retriever): Map<string, number> {
  return new Map([...termSet(question)].map((t) => [t, retriever.idf(t)]))
}

function weightedCoverage(weights: Map<string, number>, terms: Set<string>): number {
  let total = 0
  let found = 0
  for (const [term, w] of weights) {
    total += w
    if (terms.has(term)) found += w
  }
  return total > 0 ? found / total : 0
}

function jaccard(a: Set<string>, b: Set<string>): number {
  let both = 0
  for (const t of a) if (b.has(t)) both++
  const union = a.size + b.size - both
  return union === 0 ? 0 : both / union
}

/** Puts the marker before the sentence's closing punctuation: "… memory [2]." */
function cite(sentence: string, n: number): string {
  const trimmed = sentence.trim()
  const match = /([.!?]+)["”’)]*$/.exec(trimmed)
  if (!match) return `${trimmed} [${n}].`
  return `${trimmed.slice(0, match.index)} [${n}]${trimmed.slice(match.index)}`
}

/** Abstracts speak as "we"; an answer about them speaks of "the authors". */
export function thirdPerson(sentence: string): string {
  return sentence
    .replace(/^(?:In this (?:paper|work|study),?\s+|Here,?\s+|In this (?:paper|work|study) )(we\b)/i, '$1')
    .replace(/\bWe\b/g, 'The authors')
    .replace(/\bwe\b/g, 'the authors')
    .replace(/\bOur\b/g, 'Their')
    .replace(/\bour\b/g, 'their')
    .replace(/\bus\b/g, 'them')
    .replace(/^the authors\b/, 'The authors')
}

/** "How many…", "what score…": the question wants a number. */
export function asksForQuantity(question: string): boolean {
  return /\b(how (many|much)|what (is the |was the )?(score|percentage|accuracy|number|rate|rank|speed-?up|mAP)|which (\w+ )?rank)\b/i.test(question)
}

/** Whether an answer states any number (citation markers aside). */
export function statesQuantity(answer: string): boolean {
  return /\d/.test(answer.replace(/\[[\d,\s–-]+\]/g, ''))
}
