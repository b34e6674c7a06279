import { bm25Idf, termSet, weightedCoverage } from '../retrieve/index.js'
import { CANONICAL_SOURCE, MAX_MARKER_LENGTH } from './_markers.js'

// How well a sentence of an abstract supports a claim: idf-weighted coverage of the claim's terms.

/**
 * A citation is unsupported when no sentence of the cited abstract covers this share of the citing
 * sentence's idf-weighted content terms. On seed abstracts, paraphrases of a sentence of the cited
 * paper score 0.46–1 and sentences about another retrieved paper 0–0.30 (the table in
 * test/answer/citations.test.ts); the threshold sits in that gap, nearer the wrong-paper side, since
 * a paraphrase that changes words loses lexical overlap faster than a wrong paper gains it.
 */
export const SUPPORT_THRESHOLD = 0.4

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

/** The text without its `[n]` markers, which are no claim of their own. */
export function stripMarkers(text: string): string {
  return text.replace(new RegExp(CANONICAL_SOURCE, 'g'), (marker) => (marker.length <= MAX_MARKER_LENGTH ? ' ' : marker))
}

function rarestWeight(idf: Map<string, number>): number {
  return idf.size > 0 ? Math.max(...idf.values()) : 1
}
