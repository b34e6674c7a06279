import { termSet } from '../retrieve/index.js'
import { parseMarkers, rewriteCitations, type MarkerOptions } from './_rewrite.js'
import { stripMarkers, SUPPORT_THRESHOLD, supportScore, idfWeights } from './_support.js'
import { splitSentences } from './sentences.js'

// The checks on a finished answer: which sentences claim something uncited, which citations their
// paper does not support, and the quote each reference gets. Marker reading lives in _rewrite.ts
// (over _markers.ts), support scoring in _support.ts; this file is the surface of all three.
export { MAX_MARKER_LENGTH, MAX_RANGE, type Marker } from './_markers.js'
export { createCitationRewriter, parseMarkers, rewriteCitations, type CitationRewriter, type MarkerOptions, type RewriteState } from './_rewrite.js'
export { idfWeights, SUPPORT_THRESHOLD, supportScore } from './_support.js'

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

// A clause with fewer content terms ("As shown in [2]") says too little to be checked on its own.
const MIN_CLAUSE_TERMS = 3

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

