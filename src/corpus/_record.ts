import { normaliseTitle, normaliseWhitespace, paperId } from './_text.js'
import type { Paper, ParseResult } from './types.js'

export const MAX_TITLE_CHARS = 1_000
export const MAX_ABSTRACT_CHARS = 20_000

/** What a parser read for one record, before validation and normalisation. */
export interface Draft {
  id?: string | undefined
  title: string
  abstract: string
  url?: string | undefined
  authors?: string[] | undefined
  authorCount?: number | undefined
  date?: string | undefined
  upvotes?: number | undefined
}

/** Thrown while reading one record; the record is skipped and reported, the file goes on. */
export class RecordProblem extends Error {}

/** Reads one record into `result`, or reports why it could not. */
export function collect(result: ParseResult, file: string, line: number, read: () => Draft): void {
  try {
    result.papers.push(buildPaper(read(), `${file}:${line}`))
  } catch (e) {
    if (!(e instanceof RecordProblem)) throw e
    result.problems.push({ file, line, reason: e.message })
  }
}

export function buildPaper(draft: Draft, source: string): Paper {
  const title = normaliseWhitespace(draft.title)
  const abstract = normaliseWhitespace(draft.abstract)
  if (title === '') throw new RecordProblem('empty title')
  if (abstract === '') throw new RecordProblem('empty abstract')
  if (title.length > MAX_TITLE_CHARS) throw new RecordProblem(`title longer than ${MAX_TITLE_CHARS} characters`)
  if (abstract.length > MAX_ABSTRACT_CHARS) {
    throw new RecordProblem(`abstract longer than ${MAX_ABSTRACT_CHARS} characters`)
  }
  // An all-punctuation title would share its id with every other one.
  if (normaliseTitle(title) === '') throw new RecordProblem('title has no letters or digits')

  const extra: Omit<Partial<Paper>, 'id' | 'title' | 'abstract' | 'sources'> = {}
  const url = normaliseWhitespace(draft.url ?? '')
  if (url !== '') extra.url = url
  const authors = draft.authors?.map(normaliseWhitespace).filter((name) => name !== '')
  if (authors !== undefined && authors.length > 0) extra.authors = authors
  if (draft.authorCount !== undefined) extra.authorCount = draft.authorCount
  const date = normaliseWhitespace(draft.date ?? '')
  if (date !== '') extra.date = date
  if (draft.upvotes !== undefined) extra.upvotes = draft.upvotes
  const id = normaliseWhitespace(draft.id ?? '')
  return { id: id === '' ? paperId(title) : id, title, abstract, ...extra, sources: [source] }
}
