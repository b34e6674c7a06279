import { bm25Idf, weightedCoverage, termSet } from '../retrieve/index.js'
import { CANONICAL_SOURCE, CLAUSE_END, createMarkerScanner, MAX_MARKER_LENGTH, type Marker, type MarkerRun, type Scanned } from './_markers.js'
import { splitSentences } from './sentences.js'

export { MAX_MARKER_LENGTH, MAX_RANGE, type Marker } from './_markers.js'

/** A retrieved paper as the answerer saw it; its 1-based position is the number it is cited by. */
export interface SourcePaper {
  id: string
  title: string
  url?: string
  abstract: string
  /** What the source says of its authors and date, carried into the reference for citing it. */
  authors?: string[]
  authorCount?: number
  date?: string
}

export interface RewriteState {
  /** Original numbers (positions among the retrieved papers) of the cited papers, in new-number order. */
  cited: number[]
  /** Markers read so far; `[1][2]` counts as two. */
  markersTotal: number
  /** Markers citing a paper that was not retrieved, or malformed (`[3-1]`), as they appeared. */
  invalidMarkers: string[]
  /** Markers not written as `[n]` (`[Paper 2]`, `(2)`, `【2†source】`), as they appeared. */
  reformattedMarkers: string[]
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
  authors?: string[]
  authorCount?: number
  date?: string
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
  /** Markers rewritten into `[n]`, as the model wrote them: `["[Paper 2]", "(1)", "【3†source】"]`. */
  reformattedMarkers: string[]
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

// A clause with fewer content terms ("As shown in [2]") says too little to be checked on its own.
const MIN_CLAUSE_TERMS = 3

/**
 * Finds citation markers, as `createCitationRewriter` reads them: `[2]`, `[1, 3-5]`, and the forms
 * models write instead — `[Paper 2]`, `[Source 1, Source 3]`, `(Paper 2)`, `【2】`, `【2†source】`,
 * `[^2]`, `[2†L3-L5]`. Bracketed text that is not a list of integers (`[CLS]`, `[0.5, 1]`) is not
 * one. With `k`, so is a parenthesised number citing only papers 1..k where a citation goes
 * ("weights (1).", "adapters (1, 3), while"), but not an enumeration, an equation or a year.
 */
export function parseMarkers(text: string, k?: number): Marker[] {
  const scanner = createMarkerScanner(k)
  const markers: Marker[] = []
  let offset = 0
  for (const piece of [...scanner.push(text), ...scanner.end()]) {
    if ('text' in piece) {
      offset += piece.text.length
      continue
    }
    for (const marker of piece.run.markers) markers.push({ ...marker, start: offset + marker.start, end: offset + marker.end })
    offset += piece.run.raw.length
  }
  return markers
}

export interface MarkerOptions {
  /**
   * Also read the forms models write instead of `[n]` (`(1)`, `[Paper 2]`, `【3】`); off for text
   * askpapers composed itself, whose quoted abstract sentences may hold "(2)" that cites nothing.
   */
  modelForms?: boolean
}

/**
 * Rewrites a streamed answer: drops markers citing no retrieved paper (numbered 1..k), renumbers the
 * rest by first use, merges adjacent markers (`[3][1]` → `[1, 2]`) and re-emits each as a sorted list,
 * whatever form the model wrote it in (`[Paper 3]`, `(3)`, `【3†source】`: see `parseMarkers`).
 *
 * Only a possible marker at the end of the text so far is held back — with the whitespace before it,
 * since removing the marker may remove that too — so the output never depends on how the text was split.
 */
export function createCitationRewriter(k: number, { modelForms = true }: MarkerOptions = {}): CitationRewriter {
  if (!Number.isInteger(k) || k < 0) throw new RangeError(`k must be a non-negative integer, got ${k}`)
  const scanner = createMarkerScanner(k, { canonicalOnly: !modelForms })
  const renumbered = new Map<number, number>()
  const cited: number[] = []
  const invalidMarkers: string[] = []
  const reformattedMarkers: string[] = []
  let markersTotal = 0
  // The last character emitted, which decides how a removed marker's whitespace is tidied.
  let last = ''

  const write = (pieces: Scanned[]): string => {
    let out = ''
    for (const piece of pieces) {
      const text = 'text' in piece ? piece.text : resolve(piece.run)
      last = text.at(-1) ?? last
      out += text
    }
    return out
  }

  const resolve = (run: MarkerRun): string => {
    const numbers: number[] = []
    for (const marker of run.markers) {
      markersTotal++
      if (!marker.canonical) reformattedMarkers.push(marker.text)
      const valid = marker.numbers.filter((n) => n >= 1 && n <= k)
      if (valid.length === 0 || valid.length < marker.numbers.length) invalidMarkers.push(marker.text)
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
    if (run.next === '' || CLAUSE_END.test(run.next) || last === '' || /[\s([{【]/.test(last)) return ''
    return run.lead === '' && run.trail === '' ? '' : ' '
  }

  return {
    push: (delta) => write(scanner.push(delta)),
    end: () => write(scanner.end()),
    state: () => ({ cited: [...cited], markersTotal, invalidMarkers: [...invalidMarkers], reformattedMarkers: [...reformattedMarkers] }),
  }
}

/** The non-streaming rewrite: the same as pushing the whole text at once. */
export function rewriteCitations(text: string, k: number, options: MarkerOptions = {}): { text: string; state: RewriteState } {
  const rewriter = createCitationRewriter(k, options)
  const out = rewriter.push(text) + rewriter.end()
  return { text: out, state: rewriter.state() }
}

/**
 * Share of the claim's content terms (stemmed, stopwords dropped, idf-weighted) that the evidence
 * contains, in [0, 1]. Citation markers in the claim are ignored. Terms missing from `idf` weigh as
 * much as its rarest term; without `idf` every term weighs the same.
 */
export function supportScore(claim: string, evidence: string, idf?: Map<string, number>): number {
  let unknown: number | undefined
  const weights = new Map([...termSet(stripMarkers(claim))].map((term) => [term, idf === undefined ? 1 : (idf.get(term) ?? (unknown ??= rarestWeight(idf)))]))
  return weightedCoverage(weights, termSet(evidence))
}

/** Inverse document frequency of every term of the documents, BM25-style so it stays positive. */
export function idfWeights(documents: readonly string[]): Map<string, number> {
  const df = new Map<string, number>()
  for (const document of documents) {
    for (const term of termSet(document)) df.set(term, (df.get(term) ?? 0) + 1)
  }
  return new Map([...df].map(([term, count]) => [term, bm25Idf(count, documents.length)]))
}

/**
 * Rewrites the answer's citations against the retrieved papers (numbered 1..k in `papers`' order),
 * lists the cited papers with a supporting quote each, and reports what a reader should distrust.
 */
export function finalizeAnswer(text: string, papers: readonly SourcePaper[], options: MarkerOptions = {}): CitedAnswer {
  const { text: answer, state } = rewriteCitations(text, papers.length, options)
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
    const { authors, authorCount, date } = paper
    return {
      n: i + 1,
      id: paper.id,
      title: paper.title,
      ...(paper.url !== undefined && { url: paper.url }),
      quote,
      ...(authors && { authors }),
      ...(authorCount !== undefined && { authorCount }),
      ...(date !== undefined && { date }),
    }
  })

  return {
    answer,
    references,
    checks: {
      markersTotal: state.markersTotal,
      invalidMarkers: state.invalidMarkers,
      uncitedSentences,
      unsupportedCitations,
      reformattedMarkers: state.reformattedMarkers,
    },
  }
}

function formatMarker(numbers: readonly number[]): string {
  return `[${[...new Set(numbers)].sort((a, b) => a - b).join(', ')}]`
}

function stripMarkers(text: string): string {
  return text.replace(new RegExp(CANONICAL_SOURCE, 'g'), (marker) => (marker.length <= MAX_MARKER_LENGTH ? ' ' : marker))
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
