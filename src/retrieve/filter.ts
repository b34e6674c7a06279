import { AppError } from '../errors.js'
import { matchesFilter, type Paper } from '../corpus/index.js'
import type { PaperFilter } from '../index/index.js'

export type { PaperFilter }

const YEAR = /^\d{4}$/

/**
 * `2023`, `2023..2024`, `2023..` or `..2024` as an inclusive range. `flag` names the input in the
 * message (`--year`, `year`, `filters.years`).
 */
export function parseYearRange(text: string, flag = '--year'): NonNullable<PaperFilter['years']> {
  const value = text.trim()
  const bad = (): AppError =>
    new AppError('BAD_INPUT', `${flag} must be a year (2023) or a range (2023..2024, 2023.., ..2024), not "${text}".`, { field: flag.replace(/^--/, '') })
  const parts = value.includes('..') ? value.split('..') : [value, value]
  if (parts.length !== 2) throw bad()
  const [from = '', to = ''] = parts.map((p) => p.trim())
  if ((from === '' && to === '') || (from !== '' && !YEAR.test(from)) || (to !== '' && !YEAR.test(to))) throw bad()
  const range: NonNullable<PaperFilter['years']> = {}
  if (from !== '') range.from = Number(from)
  if (to !== '') range.to = Number(to)
  if (range.from !== undefined && range.to !== undefined && range.from > range.to) {
    throw new AppError('BAD_INPUT', `${flag} ${text} is an empty range: the first year is after the last.`, { field: flag.replace(/^--/, '') })
  }
  return range
}

/** The filter built from its parts; undefined when no condition is given. Blank entries are ignored. */
export function buildFilter({ year, sources = [], ids = [] }: { year?: string | undefined; sources?: readonly string[]; ids?: readonly string[] }, flags = { year: '--year' }): PaperFilter | undefined {
  const filter: PaperFilter = {}
  if (year !== undefined) filter.years = parseYearRange(year, flags.year)
  const s = sources.map((x) => x.trim()).filter((x) => x !== '')
  const i = ids.map((x) => x.trim()).filter((x) => x !== '')
  if (s.length > 0) filter.sources = s
  if (i.length > 0) filter.ids = i
  return Object.keys(filter).length > 0 ? filter : undefined
}

/** `year 2023..2024, source a.jsonl, id 2106.09685`: the words both the CLI flags and the HTTP parameters use. */
export function describeFilter(filter: PaperFilter): string {
  const parts: string[] = []
  if (filter.years) parts.push(`year ${formatYears(filter.years)}`)
  if (filter.sources) parts.push(`source ${filter.sources.join(' or ')}`)
  if (filter.ids) parts.push(`id ${filter.ids.join(' or ')}`)
  return parts.join(', ')
}

export const formatYears = ({ from, to }: NonNullable<PaperFilter['years']>): string =>
  from !== undefined && from === to ? String(from) : `${from ?? ''}..${to ?? ''}`

/** A filter no indexed paper matches: said instead of searching everything. */
export function noMatch(filter: PaperFilter): AppError {
  return new AppError('BAD_INPUT', `No indexed paper matches the filter (${describeFilter(filter)}); \`askpapers papers list\` shows each paper's id, year and sources.`, {
    field: 'filters',
  })
}

/** The papers a filter allows, in the order given; none is an error naming the filter. */
export function filterPapers<T extends Pick<Paper, 'id' | 'date' | 'sources'>>(papers: Iterable<T>, filter: PaperFilter): T[] {
  const out: T[] = []
  for (const paper of papers) if (matchesFilter(paper, filter)) out.push(paper)
  if (out.length === 0) throw noMatch(filter)
  return out
}
