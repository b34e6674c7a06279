import { readFile, readdir, stat } from 'node:fs/promises'
import { extname, join } from 'node:path'
import { AppError } from '../errors.js'
import { parseCsv } from './_csv.js'
import { parseJsonLines } from './_jsonl.js'
import { mergePapers, type MergeConflict } from './_merge.js'
import { formatProblem } from './_problem.js'
import { checkIndexable } from './_record.js'
import { isSeedPage, parseSeedPage } from './_seed.js'
import type { ParseResult } from './types.js'

export interface LoadResult extends ParseResult {
  /** Duplicates whose text differs from the record kept (the first read). */
  conflicts: MergeConflict[]
}

type Format = 'jsonl' | 'csv' | 'seed'

const FORMAT_BY_EXTENSION: Record<string, Format> = {
  '.jsonl': 'jsonl',
  '.ndjson': 'jsonl',
  '.json': 'jsonl',
  '.csv': 'csv',
  '.txt': 'seed',
}
const SUPPORTED = '.jsonl, .ndjson or .json (JSON lines), .csv (with a header row), .txt (a listing page)'

/**
 * Every file in `paths` (directories: their supported files, sorted), merged into one record per
 * paper. Records too thin to be a paper (`checkIndexable`) are reported, not returned.
 */
export async function loadPapers(paths: readonly string[]): Promise<LoadResult> {
  const all: ParseResult = { papers: [], problems: [] }
  for (const path of paths) {
    const { papers, problems } = await parseFile(path)
    const checked = checkIndexable(papers)
    all.papers.push(...checked.papers)
    // File by file (a directory's in name order), each file's by line.
    all.problems.push(...[...problems, ...checked.problems].sort((a, b) => (a.file < b.file ? -1 : a.file > b.file ? 1 : a.line - b.line)))
  }
  // A file named twice (itself and via its directory) is one input: its problems are reported once.
  const problems = [...new Map(all.problems.map((p) => [formatProblem(p), p])).values()]
  const conflicts: MergeConflict[] = []
  const papers = mergePapers(all.papers, conflicts)
  return { papers, problems, conflicts: [...new Map(conflicts.map((c) => [`${c.id}\n${c.source}`, c])).values()] }
}

/** One file by its format, records as listed (not de-duplicated); a directory reads each supported file in it. */
export async function parseFile(path: string): Promise<ParseResult> {
  const info = await stat(path).catch(unreadable(path))
  if (info.isDirectory()) return parseDirectory(path)
  const text = await readFile(path, 'utf8').catch(unreadable(path))
  if (text.replace(/^\uFEFF/, '').trim() === '') throw new AppError('EMPTY_FILE', `${path}: the file is empty`)
  switch (detectFormat(path, text)) {
    case 'jsonl':
      return parseJsonLines(text, path)
    case 'csv':
      return parseCsv(text, path)
    case 'seed':
      return parseSeedPage(text, path)
  }
}

async function parseDirectory(dir: string): Promise<ParseResult> {
  const entries = await readdir(dir, { withFileTypes: true }).catch(unreadable(dir))
  const files = entries
    .filter((entry) => !entry.isDirectory() && !entry.name.startsWith('.'))
    .map((entry) => entry.name)
    .filter((name) => FORMAT_BY_EXTENSION[extname(name).toLowerCase()] !== undefined)
    // Code-unit order, not locale order: the same on every machine.
    .sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))
  if (files.length === 0) throw new AppError('EMPTY_FILE', `${dir}: no supported files (${SUPPORTED})`)
  const all: ParseResult = { papers: [], problems: [] }
  for (const name of files) {
    // One bad file (empty, not in its format) is reported and the others are read.
    const { papers, problems } = await parseFile(join(dir, name)).catch(wholeFileProblem(join(dir, name)))
    all.papers.push(...papers)
    all.problems.push(...problems)
  }
  return all
}

function wholeFileProblem(file: string): (error: unknown) => ParseResult {
  return (error) => {
    if (!(error instanceof AppError) || (error.code !== 'EMPTY_FILE' && error.code !== 'UNKNOWN_FORMAT')) throw error
    const prefix = `${file}: `
    const reason = error.message.startsWith(prefix) ? error.message.slice(prefix.length) : error.message
    return { papers: [], problems: [{ file, line: 0, reason: `${reason}; file skipped` }] }
  }
}

function detectFormat(path: string, text: string): Format {
  const byExtension = FORMAT_BY_EXTENSION[extname(path).toLowerCase()]
  const firstChar = text.replace(/^\uFEFF/, '').trimStart()[0]
  if (byExtension === 'jsonl' && firstChar === '[') {
    throw new AppError('UNKNOWN_FORMAT', `${path}: a JSON array is not supported; write one JSON object per line`)
  }
  // JSON lines saved under another name (data.txt, a file with no extension) are still JSON lines.
  if (byExtension !== 'csv' && firstChar === '{') return 'jsonl'
  // Any text splits into "titles" and "abstracts": only a page with the listing's own marks is one.
  if (byExtension === 'seed' && !isSeedPage(text)) {
    throw new AppError('UNKNOWN_FORMAT', `${path}: not a listing page (no "Daily Papers" page text nor "• N authors" / "·" / date lines); supported: ${SUPPORTED}`)
  }
  if (byExtension !== undefined) return byExtension
  throw new AppError('UNKNOWN_FORMAT', `${path}: unknown format; supported: ${SUPPORTED}`)
}

/** Turns a file-system failure into a NOT_FOUND that names the path and says why. */
function unreadable(path: string): (cause: unknown) => never {
  return (cause) => {
    const code = (cause as NodeJS.ErrnoException | undefined)?.code
    const why = code === 'ENOENT' ? 'no such file or directory' : `cannot read it (${code ?? String(cause)})`
    throw new AppError('NOT_FOUND', `${path}: ${why}`, { cause })
  }
}
