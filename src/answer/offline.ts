import type { StoredChunk, TermStats } from '../index/index.js'
import { weightedCoverage, termSet, tokenize, type SearchHit } from '../retrieve/index.js'
import { answersFocus, isName, isSpecific, questionFocus, type QuestionFocus } from './focus.js'
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
export function assessEvidence(question: string, hits: SearchHit[], stats: TermStats): Evidence {
  const weights = termWeights(question, stats)
  let coverage = 0
  for (const hit of hits.slice(0, 3)) {
    coverage = Math.max(coverage, weightedCoverage(weights, termSet(`${hit.title} ${hit.paper.plainAbstract}`)))
  }
  return { coverage, dense: Math.max(0, ...hits.map((h) => h.dense)), unknownNames: unknownNames(question, stats) }
}

/**
 * Names the question asks about that the corpus never mentions. A name is a word written like one
 * — an acronym or mixed case (DoRA, MT-Bench) or letters with digits (CO2, GPT-4) — so plain
 * descriptive words, which a paraphrasing user picks freely, never count. If the corpus never mentions the thing asked about, it cannot answer.
 */
export function unknownNames(question: string, stats: TermStats): string[] {
  const out: string[] = []
  for (const bare of questionNames(question)) {
    const terms = termSet(bare)
    if (terms.size > 0 && [...terms].every((t) => stats.documentFrequency(t) === 0)) out.push(bare)
  }
  return [...new Set(out)]
}

/**
 * The words of a question written like names. Capitalised plain words (Mamba, but also Dante,
 * Semitic) are left out: paraphrasing users use them for things the abstracts name differently,
 * and abstaining on those costs real answers.
 */
function questionNames(question: string): string[] {
  const words = question.match(/[\p{L}\p{N}]+(?:[-'’][\p{L}\p{N}]+)*/gu) ?? []
  return words.map((word) => word.replace(/['’]s$/, '')).filter((bare) => isName(bare))
}

/** Every term whose corpus statistics the evidence checks and the offline answerer ask for: one `termStats` call. */
export function questionTerms(question: string): string[] {
  return [...new Set([...termSet(question), ...questionNames(question).flatMap((n) => [...termSet(n)])])]
}

/** An extractive answer, or (empty `text`) the reason the papers do not give what was asked. */
export interface ExtractiveAnswer {
  text: string
  /** Set when nothing retrieved gives what the question asks for: "None of the retrieved abstracts reports …". */
  notFound?: string
}

/**
 * The offline answerer: picks the abstract sentences that best answer the question (question-term
 * coverage, dense similarity of their chunk, and the paper's rank), drops near-duplicates, and
 * orders them by paper and by position in the abstract so the answer reads in order. Each sentence
 * is cited with `[n]`, n being the paper's position among `hits`; first-person phrasing of
 * abstracts ("we propose") becomes "the authors propose".
 *
 * What the question asks for decides which sentences may answer it (`focus.ts`): a name the
 * question uses must be mentioned by the paper, a number asked for must be in the sentence with
 * its noun and unit, and "What is X?" leads with the sentence that defines X in the paper that
 * introduces it. When no sentence qualifies the answer is empty and `notFound` says what is missing.
 */
export function composeExtractiveAnswer(
  question: string,
  hits: SearchHit[],
  corpus: { stats: TermStats; chunks: Map<string, { chunk: StoredChunk; similarity: number }[]> },
  queryVector: number[] | undefined,
  options: OfflineOptions = DEFAULT_OFFLINE,
): ExtractiveAnswer {
  const focus = questionFocus(question)
  const texts = hits.map((hit) => `${hit.title} ${hit.paper.plainAbstract}`)
  const paperTerms = texts.map((text) => termSet(text))
  const mentionedBy = (i: number, name: string): boolean => mentions(paperTerms[i] as Set<string>, name, texts[i] ?? '')
  const missing = focus.names.filter((name) => !hits.some((_, i) => mentionedBy(i, name)))
  if (missing.length > 0) return { text: '', notFound: `None of the retrieved abstracts mentions ${listOf(missing)}.` }
  // Papers that mention every name the question uses: the ones it is about.
  const about = new Set(hits.flatMap((_, i) => (focus.names.every((name) => mentionedBy(i, name)) ? [i] : [])))

  const sentences = hits.map((hit) => splitSentences(hit.paper.plainAbstract))
  const weights = termWeights(question, corpus.stats)
  const topScore = hits[0]?.score || 1
  const candidates: Candidate[] = []
  hits.forEach((hit, paper) => {
    if (!about.has(paper)) return
    const chunks = queryVector ? (corpus.chunks.get(hit.id) ?? []) : []
    sentences[paper]?.forEach((sentence, position) => {
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

  if (focus.defines) {
    const defined = defineFrom(focus.defines, hits, sentences)
    if (defined) return { text: render([defined, ...candidates.filter((c) => c.paper === defined.paper && c.position !== defined.position).slice(0, 1)], sentences) }
  }

  let pool = candidates
  let { maxSentences } = options
  if (isSpecific(focus)) {
    // Only sentences that state what was asked for, and that share the question's topic beyond it.
    pool = candidates.filter((c) => answersFocus(focus, c.sentence) && weightedCoverage(withoutFocus(weights, focus), c.terms) > 0)
    if (pool.length === 0) return { text: '', notFound: `None of the retrieved abstracts reports the ${focus.asked ?? 'detail asked for'}.` }
    maxSentences = 2
  }

  const best = pool[0]?.score ?? 0
  const chosen: Candidate[] = []
  const perPaper = new Map<number, number>()
  for (const c of pool) {
    if (chosen.length >= maxSentences || c.score < best * options.relativeFloor) break
    if ((perPaper.get(c.paper) ?? 0) >= options.perPaper) continue
    if (chosen.some((o) => jaccard(o.terms, c.terms) > 0.5)) continue
    chosen.push(c)
    perPaper.set(c.paper, (perPaper.get(c.paper) ?? 0) + 1)
  }
  return { text: render(chosen, sentences) }
}

/**
 * Reading order (papers in the order their best sentence ranked, sentences in abstract order), each
 * sentence made to stand alone (`standAlone`) and cited.
 */
function render(chosen: Pick<Candidate, 'paper' | 'position' | 'sentence'>[], sentences: string[][]): string {
  const paperOrder = [...new Set(chosen.map((c) => c.paper))]
  const ordered = [...chosen].sort((a, b) => paperOrder.indexOf(a.paper) - paperOrder.indexOf(b.paper) || a.position - b.position)
  const taken = new Set(ordered.map((c) => `${c.paper}:${c.position}`))
  return ordered
    .map((c) => {
      const abstract = sentences[c.paper] ?? []
      const previous = abstract[c.position - 1]
      const withPrevious = previous !== undefined && !taken.has(`${c.paper}:${c.position - 1}`)
      return standAlone(c.sentence, withPrevious ? previous : undefined)
        .map((s) => cite(thirdPerson(s), c.paper + 1))
        .join(' ')
    })
    .join(' ')
}

/**
 * The paper that introduces `thing` (its title opens with it, as in "LoRA: Low-Rank Adaptation…",
 * or its abstract proposes it) and its defining sentence: the first that says what the thing is
 * ("X is…", "X, a…", "we propose X…", "called X"), else the first that names it.
 */
function defineFrom(thing: string, hits: SearchHit[], sentences: string[][]): Candidate | undefined {
  const wanted = tokenize(thing)
  if (wanted.length === 0) return undefined
  const has = (text: string): boolean => containsSequence(tokenize(text), wanted)
  const head = (title: string): string => /^([^:]{1,60}):\s/.exec(title)?.[1] ?? ''
  const order = [
    ...hits.flatMap((h, i) => (sameTerms(tokenize(head(h.title)), wanted) ? [i] : [])),
    ...hits.flatMap((h, i) => (has(head(h.title)) || has(h.title) ? [i] : [])),
    ...hits.flatMap((_, i) => (sentences[i]?.some((s) => has(s) && INTRODUCES.test(s)) ? [i] : [])),
  ]
  for (const paper of new Set(order)) {
    const list = sentences[paper] ?? []
    const naming = list.flatMap((sentence, position) => (has(sentence) ? [{ sentence, position }] : []))
    const pick = naming.find((s) => DEFINES.test(s.sentence) || INTRODUCES.test(s.sentence)) ?? naming[0]
    if (pick) return { paper, position: pick.position, sentence: pick.sentence, terms: termSet(pick.sentence), score: 1 }
  }
  return undefined
}

const INTRODUCES = /\b(?:we|this (?:paper|work)|the authors)\s+(?:propose|introduce|present|develop|design|release|call|name|dub)s?\b|\b(?:called|named|dubbed|termed)\b/i
const DEFINES = /\b(?:is|are)\s+(?:an?|the)\s|,\s+(?:an?|the)\s+\w+/i

// Openers that refer back to the previous sentence ("These methods", "To solve this problem"): the
// sentence means little alone, so the previous one is given with it.
const DEPENDS =
  /^(?:(?:these|this|those|such|both|its|their|the above|the former|the latter)\b(?!\s+(?:paper|work|study|article|report)\b)|(?:it|they)\s|(?:to|in order to)\s+(?:solve|address|tackle|overcome|fix|mitigate|remedy|alleviate)\s+(?:this|these|that|the above|such|both)\b|(?:in order to solve|to solve) the above|(?:however|but|yet)[, ]+(?:these|this|those|such|it|they)\b)/i
// Connectives that only link to what came before: dropped, the rest stands alone.
const CONNECTIVE =
  /^(?:then|moreover|furthermore|additionally|in addition|besides|also|finally|thus|hence|therefore|consequently|as a result|to this end|accordingly|in particular|specifically|notably|importantly|meanwhile|next|second(?:ly)?|third(?:ly)?|lastly|first(?:ly)?|further|on the other hand|in contrast|by contrast|instead|overall|in summary|in conclusion|to sum up)\b,?\s+/i

/**
 * A sentence made to stand on its own, as one or two sentences: a leading connective ("Then,",
 * "Moreover,") is dropped, and a sentence that refers back ("These methods…", "To address this…")
 * comes after the sentence it refers to, when that one is known and not already in the answer.
 */
export function standAlone(sentence: string, previous?: string): string[] {
  const trimmed = sentence.trim()
  if (DEPENDS.test(trimmed)) return previous !== undefined ? [...standAlone(previous), trimmed] : [trimmed]
  const stripped = trimmed.replace(CONNECTIVE, '')
  if (stripped === trimmed || stripped.length < 12) return [trimmed]
  return [stripped.charAt(0).toUpperCase() + stripped.slice(1)]
}

/**
 * Whether a paper mentions a name: its terms are all there ("BERT-like" counts as BERT), or, for an
 * acronym, the words it abbreviates are (MLP: "multi-layer perceptron").
 */
function mentions(terms: Set<string>, name: string, text: string): boolean {
  const base = name.replace(/-(?:like|style|based|type|esque|ish|sized|family)$/i, '')
  const wanted = tokenize(base)
  if (wanted.length > 0 && wanted.every((t) => terms.has(t))) return true
  if (!/^[A-Z]{2,6}s?$/.test(base)) return false
  const letters = base.replace(/s$/, '').toLowerCase()
  const initials = (text.match(/[\p{L}]+/gu) ?? []).map((w) => w[0]?.toLowerCase() ?? '').join('')
  return initials.includes(letters) && abbreviates(text, letters)
}

/** A run of consecutive words whose initials spell the acronym. */
function abbreviates(text: string, letters: string): boolean {
  const words = text.match(/[\p{L}]+/gu) ?? []
  for (let i = 0; i + letters.length <= words.length; i++) {
    if ([...letters].every((ch, j) => words[i + j]?.[0]?.toLowerCase() === ch)) return true
  }
  return false
}

function containsSequence(haystack: string[], needle: string[]): boolean {
  for (let i = 0; i + needle.length <= haystack.length; i++) if (needle.every((t, j) => haystack[i + j] === t)) return true
  return false
}

const sameTerms = (a: string[], b: string[]): boolean => a.length === b.length && a.every((t, i) => t === b[i])

function withoutFocus(weights: Map<string, number>, focus: QuestionFocus): Map<string, number> {
  const drop = new Set([...focus.terms, ...focus.units])
  return new Map([...weights].filter(([t]) => !drop.has(t)))
}

function listOf(items: string[]): string {
  return items.length <= 1 ? (items[0] ?? '') : `${items.slice(0, -1).join(', ')} or ${items.at(-1)}`
}

/** +1 for a sentence that reports a result, -1 for one that sets the scene, else 0. */
function rhetoric(sentence: string, position: number): number {
  if (/\b(we (find|found|show|demonstrate|observe)|results? (show|indicate|suggest|reveal)|outperform|achiev|improv|reduc|\d+(\.\d+)?\s?(%|x|×)|find that|show that)/i.test(sentence)) return 1
  if (position === 0 || /^(recently|however|in recent years|despite|while|although)\b|\b(has|have) (been|become|shown|emerged|gained)\b/i.test(sentence)) return -1
  return 0
}

function termWeights(question: string, stats: TermStats): Map<string, number> {
  return new Map([...termSet(question)].map((t) => [t, stats.idf(t)]))
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
