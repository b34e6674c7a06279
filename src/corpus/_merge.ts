import { normaliseTitle, paperId } from './_text.js'
import type { Paper } from './types.js'

/**
 * One record per paper, in first-seen order. Two records are the same paper when they share an id
 * or a normalised title; the merged record keeps every source and, field by field, the first value
 * any of them has — so a listing with author count, date and upvotes fills in one without.
 */
export function mergePapers(papers: readonly Paper[]): Paper[] {
  const merged: Paper[] = []
  const indexByKey = new Map<string, number>()
  for (const paper of papers) {
    const keys = [`id:${paper.id}`, `title:${normaliseTitle(paper.title)}`]
    const found = keys.map((key) => indexByKey.get(key)).find((index) => index !== undefined)
    const existing = found === undefined ? undefined : merged[found]
    const index = found ?? merged.length
    merged[index] = existing === undefined ? { ...paper, sources: [...paper.sources] } : combine(existing, paper)
    for (const key of keys) if (!indexByKey.has(key)) indexByKey.set(key, index)
  }
  return merged
}

function combine(kept: Paper, other: Paper): Paper {
  // A source's own id (arxiv:…) outlives one derived from the title.
  const id = kept.id === paperId(kept.title) && other.id !== paperId(other.title) ? other.id : kept.id
  return dropUndefined({
    id,
    title: kept.title,
    abstract: kept.abstract,
    url: kept.url ?? other.url,
    authors: kept.authors ?? other.authors,
    authorCount: kept.authorCount ?? other.authorCount,
    date: kept.date ?? other.date,
    upvotes: kept.upvotes ?? other.upvotes,
    sources: [...new Set([...kept.sources, ...other.sources])],
  })
}

/** Absent stays absent: no `url: undefined` keys in records or their JSON. */
const dropUndefined = <T extends object>(record: T): T =>
  Object.fromEntries(Object.entries(record).filter(([, value]) => value !== undefined)) as T
