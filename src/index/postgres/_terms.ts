import { tokenize } from '../../retrieve/tokenize.js'

// Term frequencies are counted by the embedded BM25's own `termFrequencies` (the project's
// tokenizer, not Postgres's `english` stemming, which keeps `pre-train` whole, stems `memory` to
// `memori` and has its own stopwords), so BM25 computed in SQL from the stored rows gives the
// embedded store's scores.
export { bm25Idf, scoreFields, termFrequencies } from '../../retrieve/keyword.js'

/** Title counted twice, plus the cleaned abstract: the document the paper-level keyword leg ranks. */
export const paperFields = (paper: { title: string; plainAbstract: string }): { text: string; weight: number }[] => [
  { text: paper.title, weight: 2 },
  { text: paper.plainAbstract, weight: 1 },
]

/** The distinct terms of a query, in first-seen order (BM25 counts each once). */
export const queryTerms = (query: string): string[] => [...new Set(tokenize(query))]

export const BM25 = { k1: 1.2, b: 0.75 } as const
