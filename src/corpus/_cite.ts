import type { Paper } from './types.js'

// How a paper is cited wherever askpapers shows one (CLI, HTTP, MCP, the page): its link, year and
// authors as far as the source tells them (`paperYear` is also the year filters match), and the answer's references as Markdown or BibTeX.

/** What a citation can be made from: a paper record, or a reference of an answer. */
export type Citable = Pick<Paper, 'id' | 'title'> & Partial<Pick<Paper, 'authors' | 'authorCount' | 'date'>> & { url?: string | null | undefined }

/**
 * Where a reader can find the paper. `record`: the url the source gave; `arxiv`/`doi`: derived from
 * an arXiv or DOI id; `search`: no link is known, so a title search (Google Scholar), labelled as such.
 */
export interface PaperLink {
  url: string
  kind: 'record' | 'arxiv' | 'doi' | 'search'
}

/** A cited paper and what the answer quotes from it: the unit of an export. */
export interface CitedReference extends Citable {
  n: number
  quote?: string
}

export interface CitedTurn {
  question: string
  answer: string
  references: CitedReference[]
}

export const CITATION_FORMATS = ['markdown', 'bibtex'] as const
export type CitationFormat = (typeof CITATION_FORMATS)[number]

// New-style (2401.12345, with an optional version) and old-style (hep-th/9901001, math.AG/0101001) arXiv ids.
const ARXIV_ID = /^(?:arxiv:)?(\d{4}\.\d{4,5}(?:v\d+)?|[a-z-]+(?:\.[A-Z]{2})?\/\d{7}(?:v\d+)?)$/i
const DOI = /^(?:doi:|https?:\/\/(?:dx\.)?doi\.org\/)?(10\.\d{4,9}\/\S+)$/i

/** The arXiv id an id names ("arxiv:2305.14314" → "2305.14314"), if it is one. */
export function arxivIdOf(id: string): string | undefined {
  return ARXIV_ID.exec(id.trim())?.[1]
}

/** The DOI an id names ("doi:10.1145/3290605.3300233" → "10.1145/3290605.3300233"), if it is one. */
export function doiOf(id: string): string | undefined {
  return DOI.exec(id.trim())?.[1]
}

/** Only http(s) links are followed: a record's `javascript:` or `file:` url, or one holding control characters, is no link. */
// eslint-disable-next-line no-control-regex
const webUrl = (url: string | null | undefined): string | undefined => (typeof url === 'string' && /^https?:\/\/[^\s\u0000-\u001f\u007f-\u009f]+$/i.test(url.trim()) ? url.trim() : undefined)

export function paperLink(p: Citable): PaperLink {
  const url = webUrl(p.url)
  if (url) return { url, kind: 'record' }
  const arxiv = arxivIdOf(p.id)
  if (arxiv) return { url: `https://arxiv.org/abs/${arxiv}`, kind: 'arxiv' }
  const doi = doiOf(p.id)
  if (doi) return { url: `https://doi.org/${doi.split('/').map(encodeURIComponent).join('/')}`, kind: 'doi' }
  return { url: `https://scholar.google.com/scholar?q=${encodeURIComponent(`"${p.title}"`)}`, kind: 'search' }
}

/** What a link is, in words, for text output: the search link must not pass for the paper's own. */
export function linkLabel(link: PaperLink): string {
  switch (link.kind) {
    case 'search':
      return `no link in the source; search by title: ${link.url}`
    case 'doi':
      return `DOI: ${link.url}`
    case 'arxiv':
      return `arXiv: ${link.url}`
    default:
      return link.url
  }
}

/**
 * The year the source dates the paper ("Apr 18, 2024", "2023-05-01"), else the one its arXiv id
 * encodes (2401.12345 → 2024, hep-th/9901001 → 1999); undefined when neither says ("Jan 21").
 */
export function paperYear(p: Pick<Citable, 'id' | 'date'>): number | undefined {
  const dated = /(?:^|\D)((?:19|20)\d{2})(?:\D|$)/.exec(p.date ?? '')?.[1]
  if (dated) return Number(dated)
  const arxiv = arxivIdOf(p.id)
  if (!arxiv) return undefined
  const yy = Number(arxiv.includes('/') ? arxiv.slice(arxiv.indexOf('/') + 1, arxiv.indexOf('/') + 3) : arxiv.slice(0, 2))
  // Old-style ids began in 1991; new-style ones in 2007 (0704.0001).
  return yy >= 91 ? 1900 + yy : 2000 + yy
}

/**
 * The authors as a reader sees them: "A, B and C"; more than `max` → "A, B, C et al."; a source
 * that only counts them → "7 authors; names not in the source".
 */
export function authorLine(p: Pick<Citable, 'authors' | 'authorCount'>, { max = Infinity }: { max?: number } = {}): string {
  const names = p.authors?.filter((a) => a.trim() !== '') ?? []
  if (names.length > max) return `${names.slice(0, Math.max(1, max)).join(', ')} et al.`
  if (names.length > 1) return `${names.slice(0, -1).join(', ')} and ${names.at(-1)}`
  if (names.length === 1) return names[0] ?? ''
  if (p.authorCount) return `${p.authorCount} author${p.authorCount === 1 ? '' : 's'}; names not in the source`
  return 'authors not in the source'
}

/** The reference fields added to the JSON contracts (answers, HTTP, MCP, OpenAI-compatible `askpapers`). */
export interface CitationFields {
  authors?: string[]
  authorCount?: number
  year?: number
  /** The authors as a reader sees them, or what the source lacks ("7 authors; names not in the source"). */
  byline: string
  link: PaperLink
}

export function citationFields(p: Citable): CitationFields {
  const year = paperYear(p)
  return {
    ...(p.authors && p.authors.length > 0 ? { authors: [...p.authors] } : {}),
    ...(p.authorCount ? { authorCount: p.authorCount } : {}),
    ...(year !== undefined ? { year } : {}),
    byline: authorLine(p, { max: 3 }),
    link: paperLink(p),
  }
}

/** One line a person can cite from: "Title. A, B and C, 2024. arXiv: https://arxiv.org/abs/…". */
export function citationLine(p: Citable): string {
  const year = paperYear(p)
  return `${p.title}. ${authorLine(p, { max: 3 })}${year !== undefined ? `, ${year}` : ''}. ${linkLabel(paperLink(p))}`
}

/** Every answer's question, answer and references as Markdown; or the papers they cite as BibTeX. */
export function exportCitations(turns: readonly CitedTurn[], format: CitationFormat): string {
  return format === 'bibtex' ? bibtex(turns.flatMap((t) => t.references)) : markdown(turns)
}

function markdown(turns: readonly CitedTurn[]): string {
  const blocks = turns.map((turn) => {
    const lines = [`## ${markdownText(turn.question)}`, '', turn.answer.trim()]
    if (turn.references.length > 0) lines.push('', '**References**', '')
    for (const ref of turn.references) {
      lines.push(`${ref.n}. ${referenceMarkdown(ref)}`)
      if (ref.quote) lines.push(`   > ${markdownText(ref.quote)}`)
    }
    return lines.join('\n')
  })
  return `${blocks.join('\n\n')}\n`
}

/** A reference as one line of Markdown: "Title. A, B and C, 2024. <https://…>", a title search labelled as such. */
export function referenceMarkdown(ref: Citable): string {
  const year = paperYear(ref)
  const link = paperLink(ref)
  const where = link.kind === 'search' ? `no link in the source; [search by title](${link.url})` : `<${link.url}>`
  return `${markdownText(ref.title)}. ${markdownText(authorLine(ref, { max: 3 }))}${year !== undefined ? `, ${year}` : ''}. ${where}`
}

/** Text that Markdown must show as written: no emphasis, links, headings or HTML made of a title. */
const markdownText = (text: string): string => text.replace(/\s+/g, ' ').trim().replace(/[\\`*_{}[\]<>#|!]/g, '\\$&')

function bibtex(references: readonly Citable[]): string {
  const seen = new Set<string>()
  const keys = new Set<string>()
  const entries: string[] = []
  for (const ref of references) {
    if (seen.has(ref.id)) continue
    seen.add(ref.id)
    entries.push(bibtexEntry(ref, keys))
  }
  return entries.length > 0 ? `${entries.join('\n\n')}\n` : ''
}

/** `@misc` with what is known; `keys` holds the keys used so far, so each entry gets its own. */
export function bibtexEntry(p: Citable, keys: Set<string> = new Set()): string {
  const year = paperYear(p)
  const link = paperLink(p)
  const arxiv = arxivIdOf(p.id)
  const doi = doiOf(p.id)
  const names = p.authors?.filter((a) => a.trim() !== '') ?? []
  const fields: [string, string][] = [['title', `{${bibtexText(p.title)}}`]]
  if (names.length > 0) fields.push(['author', names.map(bibtexText).join(' and ')])
  if (year !== undefined) fields.push(['year', String(year)])
  if (arxiv) fields.push(['eprint', arxiv.replace(/v\d+$/, '')], ['archivePrefix', 'arXiv'])
  if (doi) fields.push(['doi', bibtexText(doi)])
  if (link.kind !== 'search') fields.push(['howpublished', `\\url{${bibtexUrl(link.url).replace(/%/g, '\\%')}}`], ['url', bibtexUrl(link.url)])
  const missing = [names.length === 0 ? authorLine(p) : '', link.kind === 'search' ? 'no link in the source' : ''].filter(Boolean)
  if (missing.length > 0) fields.push(['note', bibtexText(missing.join('; '))])
  const key = uniqueKey(bibtexKey(p, year), keys)
  return [`@misc{${key},`, ...fields.map(([name, value]) => `  ${name} = {${value}},`), '}'].join('\n')
}

/** "hu2021lora": first author's surname, year, first word of the title that says something; without authors "openbezoar2024". */
function bibtexKey(p: Citable, year: number | undefined): string {
  const ascii = (s: string): string => s.normalize('NFKD').replace(/[^A-Za-z0-9]/g, '').toLowerCase()
  const first = p.authors?.find((a) => a.trim() !== '')
  const surname = first ? ascii(first.includes(',') ? (first.split(',')[0] ?? '') : (first.trim().split(/\s+/).at(-1) ?? '')) : ''
  const word = p.title.split(/[^\p{L}\p{N}-]+/u).map(ascii).find((w) => w.length > 2 && !TITLE_STOPWORDS.has(w)) ?? ''
  const key = surname ? `${surname}${year ?? ''}${word}` : `${word}${year ?? ''}`
  return /[a-z]/.test(key) ? key : `paper${ascii(p.id).slice(0, 16)}`
}

const TITLE_STOPWORDS = new Set(['the', 'and', 'for', 'with', 'from', 'into', 'via', 'are', 'how', 'what', 'when', 'why', 'does', 'towards', 'toward', 'on', 'an'])

function uniqueKey(key: string, keys: Set<string>): string {
  // hu2021lora, hu2021lorab, … hu2021loraz, then hu2021lora26, …
  let candidate = key
  for (let i = 2; keys.has(candidate); i++) candidate = `${key}${i <= 26 ? String.fromCharCode(96 + i) : i}`
  keys.add(candidate)
  return candidate
}

/** A field value as BibTeX reads it: LaTeX's special characters escaped, braces balanced. */
const bibtexText = (text: string): string =>
  text
    .replace(/\s+/g, ' ')
    .trim()
    .replace(/[\\{}$&%#_^~]/g, (c) => BIBTEX_ESCAPES[c] ?? c)

const BIBTEX_ESCAPES: Record<string, string> = {
  '\\': '\\textbackslash{}',
  '{': '\\{',
  '}': '\\}',
  $: '\\$',
  '&': '\\&',
  '%': '\\%',
  '#': '\\#',
  _: '\\_',
  '^': '\\textasciicircum{}',
  '~': '\\textasciitilde{}',
}

/** A url field is read verbatim: only braces and backslashes, which would unbalance it, are percent-encoded (and `%` is `\\%` inside \\url{}). */
const bibtexUrl = (url: string): string => url.replace(/[{}\\]/g, (c) => encodeURIComponent(c))
