export {
  arxivIdOf,
  authorLine,
  bibtexEntry,
  CITATION_FORMATS,
  citationFields,
  citationLine,
  doiOf,
  exportCitations,
  linkLabel,
  paperLink,
  paperYear,
  referenceMarkdown,
  type Citable,
  type CitationFields,
  type CitationFormat,
  type CitedReference,
  type CitedTurn,
  type PaperLink,
} from './_cite.js'
export { parseCsv } from './_csv.js'
export { loadPapers, parseFile } from './_files.js'
export { readIngestInput, type IngestInputOptions } from './_ingest-input.js'
export { parseJsonLines } from './_jsonl.js'
export { cleanLatex } from './_latex.js'
export { defaultSeedDir } from './_paths.js'
export { formatProblem } from './_problem.js'
export { MAX_ABSTRACT_CHARS, MAX_TITLE_CHARS } from './_record.js'
export { detectSeedLayout, parseSeedPage, type SeedLayout } from './_seed.js'
export { normaliseTitle, paperContentHash, paperId } from './_text.js'
export type { Paper, ParseProblem, ParseResult } from './types.js'
export { matchesFilter, sourceFile, type FilterConditions } from './_filter.js'
export { mergeIntoIndexed, type IndexedMerge, type MergeConflict, type MergedRecord } from './_merge.js'
export { MIN_ABSTRACT_WORDS, MIN_TITLE_WORDS } from './_record.js'
export type { LoadResult } from './_files.js'
