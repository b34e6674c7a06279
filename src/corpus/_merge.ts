import { sourceFile } from './_filter.js'
import { normaliseTitle, paperId } from './_text.js'
import type { Paper } from './types.js'

/**
 * A record whose text differs from the paper it is a duplicate of. Never applied silently: the
 * indexed (or first-read) text is kept, unless the ingest runs with `replace`.
 */
export interface MergeConflict {
  /** The paper the record duplicates. */
  id: string
  title: string
  /** Where the differing record was read (`file:line`). */
  source: string
  /** The text that differs. */
  field: 'title' | 'abstract'
  /** `kept`: the indexed (or first-read) text stays; `replaced`: the record's text replaced it (`--replace`). */
  resolution: 'kept' | 'replaced'
  /** What the record conflicts with: an indexed paper, or a record read before it in the same ingest. */
  against: 'indexed' | 'input'
}

/** A record merged into an indexed paper that has another id (matched by its normalised title). */
export interface MergedRecord {
  /** The indexed paper's id, which stays. */
  id: string
  title: string
  /** The record's own id. */
  recordId: string
  source: string
}

/**
 * One record per paper, in first-seen order. Two records are the same paper when they share an id
 * or a normalised title; the merged record keeps every source and, field by field, the first value
 * any of them has — so a listing with author count, date and upvotes fills in one without. A later
 * record with another abstract is reported in `conflicts` (the first one's is kept).
 */
export function mergePapers(papers: readonly Paper[], conflicts: MergeConflict[] = []): Paper[] {
  const merged: Paper[] = []
  const indexByKey = new Map<string, number>()
  const found: { index: number; conflict: Omit<MergeConflict, 'id'> }[] = []
  for (const paper of papers) {
    const keys = [`id:${paper.id}`, `title:${normaliseTitle(paper.title)}`]
    const match = keys.map((key) => indexByKey.get(key)).find((index) => index !== undefined)
    const existing = match === undefined ? undefined : merged[match]
    const index = match ?? merged.length
    const field = existing === undefined ? undefined : textDifference(existing, paper)
    if (existing && field) found.push({ index, conflict: { title: existing.title, source: paper.sources[0] ?? '', field, resolution: 'kept', against: 'input' } })
    merged[index] = existing === undefined ? { ...paper, sources: [...paper.sources] } : combine(existing, paper)
    for (const key of keys) if (!indexByKey.has(key)) indexByKey.set(key, index)
  }
  // Named by the merged record's final id (a source's own id may replace a derived one later).
  for (const { index, conflict } of found) conflicts.push({ id: merged[index]?.id ?? '', ...conflict })
  return merged
}

export interface IndexedMerge {
  /** Records to write: new papers, and indexed ones that gained metadata or sources or had their text replaced. */
  changed: Paper[]
  /** Ids in `changed` whose title or abstract is new (what must be embedded). */
  newText: Set<string>
  counts: { added: number; updated: number; unchanged: number }
  conflicts: MergeConflict[]
  merged: MergedRecord[]
}

/**
 * The ingest's diff: each incoming record (already merged among themselves) against the indexed
 * papers, matched by id, else by normalised title — a duplicate under another id is merged like any
 * other, keeping the indexed id. Metadata the record adds fills in what the indexed paper lacks
 * (with `replace`, the record's values win); its sources replace those from the same file and keep
 * the rest, so one file re-ingested never drops what another contributed. A different title or
 * abstract is a conflict, kept unless `replace`. The same content from another path is unchanged.
 */
export function mergeIntoIndexed(indexed: ReadonlyMap<string, Paper>, incoming: readonly Paper[], { replace = false } = {}): IndexedMerge {
  const byTitle = new Map<string, string>()
  for (const paper of indexed.values()) if (!byTitle.has(normaliseTitle(paper.title))) byTitle.set(normaliseTitle(paper.title), paper.id)
  const out: IndexedMerge = { changed: [], newText: new Set(), counts: { added: 0, updated: 0, unchanged: 0 }, conflicts: [], merged: [] }
  for (const paper of incoming) {
    const titleMatch = byTitle.get(normaliseTitle(paper.title))
    const old = indexed.get(paper.id) ?? (titleMatch === undefined ? undefined : indexed.get(titleMatch))
    if (!old) {
      out.counts.added++
      out.changed.push(paper)
      out.newText.add(paper.id)
      continue
    }
    const source = paper.sources[0] ?? ''
    if (old.id !== paper.id) out.merged.push({ id: old.id, title: old.title, recordId: paper.id, source })
    const field = textDifference(old, paper)
    if (field) out.conflicts.push({ id: old.id, title: old.title, source, field, resolution: replace ? 'replaced' : 'kept', against: 'indexed' })
    const text = field && replace ? paper : old
    const [first, second] = replace ? [paper, old] : [old, paper]
    const next = dropUndefined<Paper>({
      id: old.id,
      title: text.title,
      abstract: text.abstract,
      url: first.url ?? second.url,
      authors: first.authors ?? second.authors,
      authorCount: first.authorCount ?? second.authorCount,
      date: first.date ?? second.date,
      upvotes: first.upvotes ?? second.upvotes,
      sources: mergeSources(old.sources, paper.sources),
    })
    const sameContent = sameFields(old, next)
    if (sameContent && sameList(old.sources, next.sources)) {
      out.counts.unchanged++
      continue
    }
    // A move to another path changes only the sources: written, but the paper is unchanged.
    if (sameContent) out.counts.unchanged++
    else out.counts.updated++
    out.changed.push(next)
    if (next.title !== old.title || next.abstract !== old.abstract) out.newText.add(next.id)
  }
  return out
}

/** The indexed sources with those of a re-read file replaced where they stood (its lines may have moved); new files after them. */
function mergeSources(indexed: readonly string[], incoming: readonly string[]): string[] {
  const byFile = new Map<string, string[]>()
  for (const source of incoming) byFile.set(sourceFile(source), [...(byFile.get(sourceFile(source)) ?? []), source])
  const out: string[] = []
  for (const source of indexed) {
    const file = sourceFile(source)
    const fresh = byFile.get(file)
    if (!fresh) out.push(source)
    else if (fresh.length > 0) {
      out.push(...fresh)
      byFile.set(file, [])
    }
  }
  for (const rest of byFile.values()) out.push(...rest)
  return [...new Set(out)]
}

/** Which text of `other` differs from `kept`'s; titles differing only in case or punctuation do not. */
function textDifference(kept: Paper, other: Paper): MergeConflict['field'] | undefined {
  if (normaliseTitle(kept.title) !== normaliseTitle(other.title) && kept.id === other.id) return 'title'
  return kept.abstract !== other.abstract ? 'abstract' : undefined
}

const FIELDS = ['title', 'abstract', 'url', 'authors', 'authorCount', 'date', 'upvotes'] as const
const sameFields = (a: Paper, b: Paper): boolean => FIELDS.every((f) => JSON.stringify(a[f]) === JSON.stringify(b[f]))
const sameList = (a: readonly string[], b: readonly string[]): boolean => a.length === b.length && a.every((x, i) => x === b[i])

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
