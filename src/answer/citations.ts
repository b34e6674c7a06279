import { termSet } from '../retrieve/tokenize.js'
import { splitSentences } from './sentences.js'

/** A retrieved paper as the answerer saw it; its 1-based position is the number it is cited by. */
export interface SourcePaper {
  id: string
  title: string
  url?: string
  abstract: string
}

/** A citation marker found in text: `[2]`, `[1, 3]`, `[2-4]`, `[2–4]`. */
export interface Marker {
  /** Offsets of the marker in the text, `end` exclusive. */
  start: number
  end: number
  text: string
  /** The numbers cited, in the order written, ranges expanded, duplicates dropped; empty when malformed. */
  numbers: number[]
}

export interface RewriteState {
  /** Original numbers (positions among the retrieved papers) of the cited papers, in new-number order. */
  cited: number[]
  /** Markers read so far; `[1][2]` counts as two. */
  markersTotal: number
  /** Markers citing a paper that was not retrieved, or malformed (`[3-1]`), as they appeared. */
  invalidMarkers: string[]
}

export interface CitationRewriter {
  /** Takes the next piece of the answer; returns the rewritten text that is now certain. */
  push(delta: string): string
  /** Returns whatever was held back waiting for the rest of a marker. */
  end(): string
  state(): RewriteState
}

export interface Reference {
  /** The number the rewritten answer cites the paper by. */
  n: number
  id: string
  title: string
  url?: string
  /** The abstract sentence(s) that best support the answer sentences citing the paper; empty when none shares a term. */
  quote: string
}

export interface CitationChecks {
  /** Markers found in the raw answer. */
  markersTotal: number
  /** Removed, as they appeared: `["[99]", "[0]"]`. */
  invalidMarkers: string[]
  /** Answer sentences that make a claim but carry no valid marker. */
  uncitedSentences: string[]
  /** A cited paper whose abstract has no sentence supporting the citing sentence. */
  unsupportedCitations: { n: number; sentence: string }[]
}

export interface CitedAnswer {
  answer: string
  references: Reference[]
  checks: CitationChecks
}

/** The answer prompt tells the model to answer with exactly this when the papers do not answer. */
export const ABSTENTION_SENTENCE = 'The retrieved papers do not answer this question.'

/**
 * A citation is unsupported when no sentence of the cited abstract covers this share of the citing
 * sentence's idf-weighted content terms. On seed abstracts, paraphrases of a sentence of the cited
 * paper score 0.46–1 and sentences about another retrieved paper 0–0.30 (the table in
 * test/answer/citations.test.ts); the threshold sits in that gap, nearer the wrong-paper side, since
 * a paraphrase that changes words loses lexical overlap faster than a wrong paper gains it.
 */
export const SUPPORT_THRESHOLD = 0.4

/** Longest marker text read as a citation; also bounds what the rewriter holds back. */
export const MAX_MARKER_LENGTH = 40

/** A range citing more papers than this (`[1-100]`) is a typo or a hallucination, not a citation. */
export const MAX_RANGE = 20

// Most text the rewriter holds back: a long marker plus some whitespace and adjacent markers.
const MAX_PENDING = 2 * MAX_MARKER_LENGTH

// A clause with fewer content terms ("As shown in [2]") says too little to be checked on its own.
const MIN_CLAUSE_TERMS = 3

const ITEM = String.raw`\d+(?:[ \t]*[-–—][ \t]*\d+)?`
const MARKER_SOURCE = String.raw`\[[ \t]*${ITEM}(?:[ \t]*[,;][ \t]*${ITEM})*[ \t]*\]`
const WHOLE_MARKER = new RegExp(`^${MARKER_SOURCE}$`)

/** Finds citation markers; bracketed text that is not a list of integers (`[CLS]`, `[0.5, 1]`) is not one. */
export function parseMarkers(text: string): Marker[] {
  const markers: Marker[] = []
  for (const match of text.matchAll(new RegExp(MARKER_SOURCE, 'g'))) {
    // A marker holds no "[", so a too-long match never hides a shorter one inside it.
    if (match[0].length > MAX_MARKER_LENGTH) continue
    markers.push({ start: match.index, end: match.index + match[0].length, text: match[0], numbers: markerNumbers(match[0]) })
  }
  return markers
}

/**
 * Rewrites a streamed answer: drops markers citing no retrieved paper (numbered 1..k), renumbers the
 * rest by first use, merges adjacent markers (`[3][1]` → `[1, 2]`) and re-emits each as a sorted list.
 *
 * Only a possible marker at the end of the text so far is held back — with the whitespace before it,
 * since removing the marker may remove that too — so the output never depends on how the text was split.
 */
export function createCitationRewriter(k: number): CitationRewriter {
  if (!Number.isInteger(k) || k < 0) throw new RangeError(`k must be a non-negative integer, got ${k}`)
  const renumbered = new Map<number, number>()
  const cited: number[] = []
  const invalidMarkers: string[] = []
  let markersTotal = 0
  // Text not yet emitted: whitespace, then markers, then perhaps the start of one.
  let pending = ''
  // The last character emitted, which decides how a removed marker's whitespace is tidied.
  let last = ''

  const emit = (text: string): string => {
    last = text.at(-1) ?? last
    return text
  }

  const feed = (text: string): string => {
    let out = ''
    for (const ch of text) {
      if (pending !== '') {
        pending += ch
        out += settle(false)
      } else if (ch === ' ' || ch === '\t' || ch === '[') {
        pending = ch
      } else {
        out += emit(ch)
      }
    }
    return out
  }

  // Emits what `pending` has decided, if anything; at the end of the text everything is decided.
  // Past MAX_PENDING characters (runaway whitespace or "[1] [1] [1] …") it decides as if the text
  // ended there, so the buffer stays bounded; that depends only on the text, never on the deltas.
  const settle = (final: boolean): string => {
    const run = scanRun(pending)
    const waiting = run.tail === '' || isMarkerPrefix(run.tail)
    if (waiting && !final && pending.length <= MAX_PENDING) return ''
    pending = ''
    if (run.markers.length === 0) {
      // Not a citation after all: the whitespace and the first character are plain text, but a
      // marker may start right after ("[[1]").
      const [first = '', ...rest] = run.tail
      return emit(run.lead + first) + feed(rest.join(''))
    }
    return emit(resolve(run, run.tail.at(0) ?? '')) + feed(run.tail)
  }

  const resolve = (run: MarkerRun, next: string): string => {
    const numbers: number[] = []
    for (const marker of run.markers) {
      markersTotal++
      const cites = markerNumbers(marker)
      const valid = cites.filter((n) => n >= 1 && n <= k)
      if (valid.length === 0 || valid.length < cites.length) invalidMarkers.push(marker)
      for (const n of valid) {
        let renumber = renumbered.get(n)
        if (renumber === undefined) {
          cited.push(n)
          renumber = cited.length
          renumbered.set(n, renumber)
        }
        numbers.push(renumber)
      }
    }
    if (numbers.length > 0) return `${run.lead}${formatMarker(numbers)}${run.trail}`
    // Nothing left to cite: drop the marker without leaving "memory ." or "memory  and" behind.
    if (next === '' || /[.,;:!?)\]}\r\n]/.test(next) || last === '' || /[\s([{]/.test(last)) return ''
    return run.lead === '' && run.trail === '' ? '' : ' '
  }

  return {
    push: (delta) => feed(delta),
    end: () => {
      let out = ''
      while (pending !== '') out += settle(true)
      return out
    },
    state: () => ({ cited: [...cited], markersTotal, invalidMarkers: [...invalidMarkers] }),
  }
}

/** The non-streaming rewrite: the same as pushing the whole text at once. */
export function rewriteCitations(text: string, k: number): { text: string; state: RewriteState } {
  const rewriter = createCitationRewriter(k)
  const out = rewriter.push(text) + rewriter.end()
  return { text: out, state: rewriter.state() }
}

/**
 * Share of the claim's content terms (stemmed, stopwords dropped, idf-weighted) that the evidence
 * contains, in [0, 1]. Citation markers in the claim are ignored. Terms missing from `idf` weigh as
 * much as its rarest term; without `idf` every term weighs the same.
 */
export function supportScore(claim: string, evidence: string, idf?: Map<string, number>): number {
  const claimTerms = termSet(stripMarkers(claim))
  const evidenceTerms = termSet(evidence)
  let unknown: number | undefined
  let total = 0
  let found = 0
  for (const term of claimTerms) {
    const weight = idf === undefined ? 1 : (idf.get(term) ?? (unknown ??= rarestWeight(idf)))
    total += weight
    if (evidenceTerms.has(term)) found += weight
  }
  return total > 0 ? found / total : 0
}

/** Inverse document frequency of every term of the documents, BM25-style so it stays positive. */
export function idfWeights(documents: readonly string[]): Map<string, number> {
  const df = new Map<string, number>()
  for (const document of documents) {
    for (const term of termSet(document)) df.set(term, (df.get(term) ?? 0) + 1)
  }
  const n = documents.length
  return new Map([...df].map(([term, count]) => [term, Math.log(1 + (n - count + 0.5) / (count + 0.5))]))
}

/**
 * Rewrites the answer's citations against the retrieved papers (numbered 1..k in `papers`' order),
 * lists the cited papers with a supporting quote each, and reports what a reader should distrust.
 */
export function finalizeAnswer(text: string, papers: readonly SourcePaper[]): CitedAnswer {
  const { text: answer, state } = rewriteCitations(text, papers.length)
  const idf = idfWeights(papers.map((paper) => paper.abstract))
  const uncitedSentences: string[] = []
  const unsupportedCitations: { n: number; sentence: string }[] = []
  // For each new number: index → score of the abstract sentences that best support a claim citing it.
  const bestEvidence = state.cited.map(() => new Map<number, number>())
  const evidence = state.cited.map((original) => splitSentences(papers[original - 1]?.abstract ?? ''))

  for (const sentence of splitSentences(answer)) {
    const claim = isClaim(sentence)
    const claims = citedClaims(sentence, state.cited.length)
    if (claims.size === 0) {
      if (claim) uncitedSentences.push(sentence)
      continue
    }
    for (const [n, texts] of claims) {
      const support = bestSupport(texts, evidence[n - 1] ?? [], idf)
      const chosen = bestEvidence[n - 1]
      for (const [index, score] of support) chosen?.set(index, Math.max(score, chosen.get(index) ?? 0))
      if (claim && Math.max(0, ...support.values()) < SUPPORT_THRESHOLD) unsupportedCitations.push({ n, sentence })
    }
  }

  const references = state.cited.map((original, i): Reference => {
    const paper = papers[original - 1]
    if (paper === undefined) throw new Error(`cited paper ${original} is not among the ${papers.length} retrieved`)
    const quote = quoteOf(evidence[i] ?? [], bestEvidence[i] ?? new Map<number, number>())
    return { n: i + 1, id: paper.id, title: paper.title, ...(paper.url !== undefined && { url: paper.url }), quote }
  })

  return {
    answer,
    references,
    checks: { markersTotal: state.markersTotal, invalidMarkers: state.invalidMarkers, uncitedSentences, unsupportedCitations },
  }
}

interface MarkerRun {
  /** Whitespace before the first marker. */
  lead: string
  markers: string[]
  /** Whitespace after the last marker; whitespace between markers is dropped when they merge. */
  trail: string
  /** The rest: empty, the start of another marker, or the text that follows. */
  tail: string
}

function scanRun(text: string): MarkerRun {
  const lead = /^[ \t]*/.exec(text)?.[0] ?? ''
  const markers: string[] = []
  let trail = ''
  let pos = lead.length
  while (text[pos] === '[') {
    const close = text.indexOf(']', pos)
    const candidate = text.slice(pos, close + 1)
    if (close === -1 || !isMarker(candidate)) break
    markers.push(candidate)
    trail = /^[ \t]*/.exec(text.slice(close + 1))?.[0] ?? ''
    pos = close + 1 + trail.length
  }
  return { lead, markers, trail: markers.length > 0 ? trail : '', tail: text.slice(pos) }
}

function isMarker(text: string): boolean {
  return text.length <= MAX_MARKER_LENGTH && WHOLE_MARKER.test(text)
}

/** Whether more text could still complete `text` into a marker: `[`, `[1`, `[1, 2–`. */
function isMarkerPrefix(text: string): boolean {
  // Every unfinished marker ends either where a number may follow or where "]" may.
  return isMarker(`${text}]`) || isMarker(`${text}1]`)
}

function markerNumbers(marker: string): number[] {
  const numbers: number[] = []
  for (const item of marker.slice(1, -1).split(/[,;]/)) {
    const [from = NaN, to = from] = item.split(/[-–—]/).map((part) => Number.parseInt(part.trim(), 10))
    // Unsafe integers are rejected too: past 2^53, n++ would never reach `to`.
    if (!Number.isSafeInteger(from) || !Number.isSafeInteger(to) || to < from || to - from + 1 > MAX_RANGE) return []
    for (let n = from; n <= to; n++) numbers.push(n)
  }
  return [...new Set(numbers)]
}

function formatMarker(numbers: readonly number[]): string {
  return `[${[...new Set(numbers)].sort((a, b) => a - b).join(', ')}]`
}

function stripMarkers(text: string): string {
  return text.replace(new RegExp(MARKER_SOURCE, 'g'), (marker) => (marker.length <= MAX_MARKER_LENGTH ? ' ' : marker))
}

/**
 * What each valid (1..count) number cited in a rewritten sentence vouches for, ascending by number:
 * the whole sentence, and the clause its marker closes when that says enough on its own — so in
 * "X [1], while Y [2]" paper 1 need only support X, yet "According to Smith et al. [1], X" still works.
 */
function citedClaims(sentence: string, count: number): Map<number, string[]> {
  const claims = new Map<number, string[]>()
  let clauseStart = 0
  for (const marker of parseMarkers(sentence)) {
    const clause = sentence.slice(clauseStart, marker.start)
    clauseStart = marker.end
    for (const n of marker.numbers) {
      if (n < 1 || n > count) continue
      const texts = claims.get(n) ?? [sentence]
      if (termSet(clause).size >= MIN_CLAUSE_TERMS) texts.push(clause)
      claims.set(n, texts)
    }
  }
  return new Map([...claims].sort(([a], [b]) => a - b))
}

/** Whether a sentence states something that needs a citation. */
function isClaim(sentence: string): boolean {
  if (/^\s*#{1,6}\s/.test(sentence)) return false
  const text = stripMarkers(sentence)
    .replace(/^\s*(?:[-*+•]|\d{1,3}[.)])\s+/, '')
    .replace(/[*_]/g, '')
    .replace(/\s+/g, ' ')
    .trim()
  if (text.endsWith(':')) return false
  if (abstentionKey(text) === abstentionKey(ABSTENTION_SENTENCE)) return false
  return text.split(' ').filter((word) => /[\p{L}\p{N}]/u.test(word)).length >= 4
}

// The abstention is matched leniently (case, final full stop): a model that almost follows the
// prompt is still abstaining, and flagging it as an uncited claim would be noise.
function abstentionKey(text: string): string {
  return text.toLowerCase().replace(/[.!\s]+$/, '')
}

/**
 * Index → score of the evidence sentences that support the claims: for each claim its best sentence
 * (earliest on a tie), kept when it passes the threshold — or, when none does, the best one found.
 */
function bestSupport(claims: readonly string[], sentences: readonly string[], idf: Map<string, number>): Map<number, number> {
  const best: [number, number][] = []
  for (const claim of claims) {
    const scores = sentences.map((sentence) => supportScore(claim, sentence, idf))
    const top = Math.max(0, ...scores)
    if (top > 0) best.push([scores.indexOf(top), top])
  }
  const passing = best.filter(([, score]) => score >= SUPPORT_THRESHOLD)
  const kept = passing.length > 0 ? passing : best.sort(([a, scoreA], [b, scoreB]) => scoreB - scoreA || a - b).slice(0, 1)
  const support = new Map<number, number>()
  for (const [index, score] of kept) support.set(index, Math.max(score, support.get(index) ?? 0))
  return support
}

/** The (at most two) best-supporting abstract sentences, in abstract order; weak ones only if none is strong. */
function quoteOf(sentences: readonly string[], chosen: Map<number, number>): string {
  const strong = [...chosen].filter(([, score]) => score >= SUPPORT_THRESHOLD)
  return (strong.length > 0 ? strong : [...chosen])
    .sort(([a, scoreA], [b, scoreB]) => scoreB - scoreA || a - b)
    .slice(0, 2)
    .map(([index]) => index)
    .sort((a, b) => a - b)
    .map((index) => sentences[index] ?? '')
    .join(' ')
}

function rarestWeight(idf: Map<string, number>): number {
  return idf.size > 0 ? Math.max(...idf.values()) : 1
}
