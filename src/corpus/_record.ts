import { normaliseTitle, normaliseWhitespace, paperId } from './_text.js'
import type { Paper, ParseResult } from './types.js'

export const MAX_TITLE_CHARS = 1_000
export const MAX_ABSTRACT_CHARS = 20_000
/** Fewer words than this is no abstract (a note, a stray line); the shortest seed abstract has 75. */
export const MIN_ABSTRACT_WORDS = 8
/** A one-word title is a heading or a mis-read line, not a paper's title; the shortest seed title has 3. */
export const MIN_TITLE_WORDS = 2

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

const words = (text: string): number => text.split(/\s+/).filter((w) => /[\p{L}\p{N}]/u.test(w)).length

/** Splits parsed records into those that can be indexed and problems for those too thin to be a paper. */
export function checkIndexable(papers: readonly Paper[]): ParseResult {
  const result: ParseResult = { papers: [], problems: [] }
  for (const paper of papers) {
    const [file = '', line = '0'] = (paper.sources[0] ?? '').split(/:(?=\d+$)/)
    const problem = (reason: string): void => void result.problems.push({ file, line: Number(line), reason })
    if (words(paper.title) < MIN_TITLE_WORDS) problem(`title "${paper.title}" is one word; a paper's title has at least ${MIN_TITLE_WORDS}`)
    else if (words(paper.abstract) < MIN_ABSTRACT_WORDS) problem(`abstract of ${words(paper.abstract)} word(s); an abstract has at least ${MIN_ABSTRACT_WORDS}`)
    else result.papers.push(paper)
  }
  return result
}
