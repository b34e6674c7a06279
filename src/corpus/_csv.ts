import { CsvError, parse } from 'csv-parse/sync'
import { RecordProblem, collect } from './_record.js'
import { splitAuthors } from './_text.js'
import type { ParseResult } from './types.js'

const COLUMNS = ['title', 'abstract', 'id', 'url', 'authors', 'date'] as const
type Column = (typeof COLUMNS)[number]

interface Row {
  fields: string[]
  /** 1-based line where the record starts (a quoted field may span several lines). */
  line: number
}

/** CSV with a header row naming (in any case and order) `title`, `abstract` and optional columns. */
export function parseCsv(text: string, file: string): ParseResult {
  const result: ParseResult = { papers: [], problems: [] }
  const { rows, syntaxError } = readRows(text)
  // A syntax error ends the rows read, so it comes last in line order too.
  const finish = (): ParseResult => {
    if (syntaxError !== undefined) result.problems.push({ file, ...syntaxError })
    return result
  }
  const [header, ...records] = rows
  if (header === undefined) return finish()
  const at = columnIndexes(header.fields)
  const missing = (['title', 'abstract'] as const).filter((name) => at[name] === undefined)
  if (missing.length > 0) {
    result.problems.push({ file, line: header.line, reason: `header has no ${missing.join(' or ')} column` })
    return finish()
  }
  for (const { fields, line } of records) {
    collect(result, file, line, () => {
      if (fields.length !== header.fields.length) {
        throw new RecordProblem(`expected ${header.fields.length} columns, found ${fields.length}`)
      }
      const cell = (name: Column): string | undefined => {
        const index = at[name]
        return index === undefined ? undefined : fields[index]
      }
      const authors = cell('authors')
      return {
        title: cell('title') ?? '',
        abstract: cell('abstract') ?? '',
        id: cell('id'),
        url: cell('url'),
        authors: authors === undefined ? undefined : splitAuthors(authors),
        date: cell('date'),
      }
    })
  }
  return finish()
}

function columnIndexes(header: readonly string[]): Partial<Record<Column, number>> {
  const at: Partial<Record<Column, number>> = {}
  header.forEach((name, index) => {
    const column = COLUMNS.find((known) => known === name.trim().toLowerCase())
    if (column !== undefined) at[column] ??= index
  })
  return at
}

/**
 * Every row up to the first syntax error. csv-parse cannot resynchronise reliably after a broken
 * quote (it swallows or misaligns later rows), so that error ends the file and is reported once.
 */
function readRows(text: string): { rows: Row[]; syntaxError?: { line: number; reason: string } } {
  const rows: Row[] = []
  let lastEnd = 0
  let emptyBefore = 0
  try {
    // csv-parse miscounts lines on CRLF input; quoted newlines are whitespace-normalised later anyway.
    parse(text.replace(/\r\n?/g, '\n'), {
      bom: true,
      relax_column_count: true,
      skip_empty_lines: true,
      on_record: (fields, context) => {
        // csv-parse reports the line a record ends on; the newlines inside its fields say where it began.
        const spanned = fields.reduce((sum, field) => sum + (field.match(/\n/g)?.length ?? 0), 0)
        rows.push({ fields, line: context.lines - spanned })
        lastEnd = context.lines
        emptyBefore = context.empty_lines
        return null
      },
    })
  } catch (e) {
    if (!(e instanceof CsvError)) throw e
    const empty = typeof e.empty_lines === 'number' ? e.empty_lines : emptyBefore
    const line = lastEnd + 1 + (empty - emptyBefore)
    return { rows, syntaxError: { line, reason: `${describe(e)}; the rest of the file was not read` } }
  }
  return { rows }
}

function describe(error: CsvError): string {
  switch (error.code) {
    case 'CSV_QUOTE_NOT_CLOSED':
      return 'invalid CSV: quote not closed'
    case 'CSV_INVALID_CLOSING_QUOTE':
      return 'invalid CSV: unexpected character after a closing quote'
    default:
      return `invalid CSV: ${error.message}`
  }
}
