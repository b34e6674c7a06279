import { stemmer } from 'stemmer'

// A small stopword list: question words and glue. Kept short on purpose — domain words such as
// "model" or "training" still carry signal in a corpus of ML abstracts, and BM25's idf handles them.
const STOPWORDS = new Set(
  ('a an and are as at be been being but by can could did do does doing for from had has have how i if in into is it its ' +
    'me my of on or our over so such than that the their them then there these they this those to too was we were what ' +
    'when where which while who whom why will with would you your about any some paper papers study studies work works ' +
    'show shows shown find found use used using also both more most other via vs versus does did not no nor only own same ' +
    'should tell explain describe anyone').split(' '),
)

/**
 * Lower-cases, splits on anything that is not a letter or digit (so `LoRA?` and `LoRA` match, and
 * `pre-training` yields `pre` + `training` + the joined `pretraining`), drops stopwords and stems.
 */
export function tokenize(text: string): string[] {
  const out: string[] = []
  const lower = text.normalize('NFKC').toLowerCase()
  for (const word of lower.match(/[\p{L}\p{N}]+(?:[-'][\p{L}\p{N}]+)*/gu) ?? []) {
    const parts = word.split(/[-']/)
    if (parts.length > 1 && !word.includes("'")) pushTerm(out, parts.join(''))
    for (const part of parts) pushTerm(out, part)
  }
  return out
}

function pushTerm(out: string[], term: string): void {
  if (term.length < 2 && !/\d/.test(term)) return
  if (STOPWORDS.has(term)) return
  out.push(/^\d/.test(term) ? term : stemmer(term))
}

/** Content terms of a text, de-duplicated: what a query "is about". */
export function termSet(text: string): Set<string> {
  return new Set(tokenize(text))
}
