// Retrieval's one import surface: hybrid search over the store contract, BM25 and its term
// weighting, the fusion calibration, paper filters and the tokenizer.
export * from './calibrate.js'
export * from './filter.js'
export * from './hybrid.js'
export * from './keyword.js'
export * from './tokenize.js'
