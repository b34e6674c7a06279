import { tokenize } from '../../retrieve/tokenize.js'

/**
 * Term frequencies as the embedded BM25 (`retrieve/keyword.ts`) counts them: the project's own
 * tokenizer (NFKC, letters and digits, hyphen joins, stopwords, Porter stems), each field's terms
 * weighted by the field's weight. Stored per paper and per chunk at write time, so BM25 computed in
 * SQL from these rows gives the embedded store's scores, not Postgres's `english` stemming (which
 * keeps `pre-train` whole, stems `memory` to `memori` and has its own stopwords).
 */
export function termFrequencies(fields: readonly { text: string; weight: number }[]): { tf: Map<string, number>; length: number } {
  const tf = new Map<string, number>()
  let length = 0
  for (const field of fields) {
    for (const term of tokenize(field.text)) {
      tf.set(term, (tf.get(term) ?? 0) + field.weight)
      length += field.weight
    }
  }
  return { tf, length }
}

/** Title counted twice, plus the cleaned abstract: the document the paper-level keyword leg ranks. */
export const paperFields = (paper: { title: string; plainAbstract: string }): { text: string; weight: number }[] => [
  { text: paper.title, weight: 2 },
  { text: paper.plainAbstract, weight: 1 },
]

/** The distinct terms of a query, in first-seen order (BM25 counts each once). */
export const queryTerms = (query: string): string[] => [...new Set(tokenize(query))]

export const BM25 = { k1: 1.2, b: 0.75 } as const
