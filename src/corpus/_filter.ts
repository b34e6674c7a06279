import { basename, resolve, sep } from 'node:path'
import { paperYear } from './_cite.js'
import type { Paper } from './types.js'

/** The conditions a search can be restricted by (the store contract's `PaperFilter` has this shape). */
export interface FilterConditions {
  years?: { from?: number; to?: number }
  sources?: string[]
  ids?: string[]
}

/** A source as recorded (`path:line`) without its line. */
export const sourceFile = (source: string): string => source.replace(/:\d+$/, '')

/**
 * Every given condition holds: the year (`paperYear`: the date's, else an arXiv id's) is in range (a paper without a year matches no range), one
 * of its sources is a given file, lies in a given directory or has a given bare file name, and its id
 * is one of the given ones.
 */
export function matchesFilter(paper: Pick<Paper, 'id' | 'date' | 'sources'>, filter: FilterConditions): boolean {
  if (filter.ids && !filter.ids.includes(paper.id)) return false
  if (filter.years) {
    const year = paperYear(paper)
    if (year === undefined) return false
    if (filter.years.from !== undefined && year < filter.years.from) return false
    if (filter.years.to !== undefined && year > filter.years.to) return false
  }
  if (filter.sources) {
    const wanted = filter.sources
    if (!paper.sources.some((source) => wanted.some((given) => sameSource(sourceFile(source), given)))) return false
  }
  return true
}

function sameSource(stored: string, given: string): boolean {
  if (!/[\\/]/.test(given) && basename(stored) === given) return true
  const file = resolve(stored)
  const wanted = resolve(given)
  return file === wanted || file.startsWith(wanted.endsWith(sep) ? wanted : `${wanted}${sep}`)
}
