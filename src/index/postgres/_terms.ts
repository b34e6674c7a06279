import { paperDocument, tokenize } from '../../retrieve/index.js'

// Term frequencies are counted by the embedded BM25's own `termFrequencies` (the project's
// tokenizer, not Postgres's `english` stemming, which keeps `pre-train` whole, stems `memory` to
// `memori` and has its own stopwords), so BM25 computed in SQL from the stored rows gives the
// embedded store's scores.
export { bm25Idf, scoreFields, termFrequencies } from '../../retrieve/index.js'

/** Title counted twice, plus the cleaned abstract: the document the paper-level keyword leg ranks. */
export const paperFields = paperDocument

/** The distinct terms of a query, in first-seen order (BM25 counts each once). */
export const queryTerms = (query: string): string[] => [...new Set(tokenize(query))]

export const BM25 = { k1: 1.2, b: 0.75 } as const
