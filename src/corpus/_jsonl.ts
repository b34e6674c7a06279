import { RecordProblem, collect, type Draft } from './_record.js'
import { splitAuthors } from './_text.js'
import type { ParseResult } from './types.js'

type JsonObject = Record<string, unknown>

/**
 * One JSON object per line: either our own records (`title`, `abstract`, optional `id`, `url`,
 * `authors`, `date`) or the arXiv metadata snapshot, recognised by its first record's fields.
 */
export function parseJsonLines(text: string, file: string): ParseResult {
  const result: ParseResult = { papers: [], problems: [] }
  let read: ((record: JsonObject) => Draft) | undefined
  const lines = text.replace(/^\uFEFF/, '').split(/\r\n|\r|\n/)
  lines.forEach((line, index) => {
    if (line.trim() === '') return
    collect(result, file, index + 1, () => {
      const record = parseObject(line)
      read ??= isArxivRecord(record) ? readArxivRecord : readRecord
      return read(record)
    })
  })
  return result
}

function parseObject(line: string): JsonObject {
  let value: unknown
  try {
    value = JSON.parse(line)
  } catch {
    throw new RecordProblem('invalid JSON')
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new RecordProblem('expected a JSON object')
  }
  return value as JsonObject
}

const isArxivRecord = (record: JsonObject): boolean =>
  ['id', 'title', 'abstract', 'authors', 'update_date'].every((key) => typeof record[key] === 'string')

function readRecord(record: JsonObject): Draft {
  return {
    title: requiredString(record, 'title'),
    abstract: requiredString(record, 'abstract'),
    id: optionalString(record, 'id'),
    url: optionalString(record, 'url'),
    authors: optionalAuthors(record),
    date: optionalString(record, 'date'),
  }
}

function readArxivRecord(record: JsonObject): Draft {
  const id = requiredString(record, 'id').trim()
  return {
    id: `arxiv:${id}`,
    title: requiredString(record, 'title'),
    abstract: requiredString(record, 'abstract'),
    url: `https://arxiv.org/abs/${id}`,
    authors: optionalAuthors(record),
    date: optionalString(record, 'update_date'),
  }
}

function requiredString(record: JsonObject, key: string): string {
  const value = record[key]
  if (value === undefined || value === null) throw new RecordProblem(`missing ${key}`)
  if (typeof value !== 'string') throw new RecordProblem(`${key} must be a string`)
  if (value.trim() === '') throw new RecordProblem(`empty ${key}`)
  return value
}

function optionalString(record: JsonObject, key: string): string | undefined {
  const value = record[key]
  if (value === undefined || value === null) return undefined
  if (typeof value !== 'string') throw new RecordProblem(`${key} must be a string`)
  return value
}

function optionalAuthors(record: JsonObject): string[] | undefined {
  const value = record.authors
  if (value === undefined || value === null) return undefined
  if (typeof value === 'string') return splitAuthors(value)
  if (Array.isArray(value) && value.every((name) => typeof name === 'string')) return value
  throw new RecordProblem('authors must be a string or an array of strings')
}
