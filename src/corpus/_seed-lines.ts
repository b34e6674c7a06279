import { normaliseWhitespace } from './_text.js'

/** Navigation text of the "Daily Papers" listing pages; compared lowercased. */
const CHROME_LINES = new Set([
  'new',
  'subscribe',
  'daily papers',
  'byak and the research community',
  'get trending papers in your email inbox!',
  'get trending papers in your email inbox once a day!',
])

/** Chrome that the scrape sometimes glues to the first title ("SubscribeAmuro & Char: …"). */
const GLUED_CHROME = [
  'Get trending papers in your email inbox once a day!',
  'Get trending papers in your email inbox!',
  'Subscribe',
  'Daily Papers',
]

const MONTH = '(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)'
/** `Apr 18, 2024 1` is a date and 1 upvote; `Jan 21` a date of this year and none. */
const DATE_LINE = new RegExp(`^(${MONTH} \\d{1,2}(?:, \\d{4})?)(?: (\\d+))?$`)
const AUTHORS_LINE = /^•\s*(\d+)\s+authors?$/
export const MIDDOT = '·'

export const isAuthorsLine = (line: string): boolean => AUTHORS_LINE.test(line)
export const isDateLine = (line: string): boolean => DATE_LINE.test(line)

/** Page chrome: navigation text, or the page's own date ("Mar 11") standing alone. */
export const isChromeLine = (line: string): boolean => {
  const date = DATE_LINE.exec(line)
  return CHROME_LINES.has(line.toLowerCase()) || (date !== null && date[2] === undefined)
}

/**
 * A line only a listing page has: its navigation text (not the bare "New" a note may hold), glued or
 * not, or a metadata line (`• N authors`, `·`). A `.txt` without one is not read as a listing.
 */
export const isPageMark = (line: string): boolean =>
  (CHROME_LINES.has(line.toLowerCase()) && line.toLowerCase() !== 'new') ||
  GLUED_CHROME.some((chrome) => line.startsWith(chrome)) ||
  AUTHORS_LINE.test(line) ||
  line === MIDDOT

export function stripGluedChrome(title: string): string {
  for (const chrome of GLUED_CHROME) {
    // Only when a title starts right after it, so "Subscriber churn …" stays whole.
    if (title.startsWith(chrome) && /^[\p{Lu}\p{N}"'([]/u.test(title.slice(chrome.length))) {
      return title.slice(chrome.length)
    }
  }
  return title
}

export interface SeedMeta {
  authorCount?: number
  date?: string
  upvotes?: number
}

/**
 * Reads a metadata block: `• N authors` (or an organisation name in its place), `·`, then a date
 * with an optional upvote count.
 */
export function readMeta(lines: readonly string[]): SeedMeta {
  const meta: SeedMeta = {}
  for (const raw of lines) {
    const line = normaliseWhitespace(raw)
    const authors = AUTHORS_LINE.exec(line)
    if (authors?.[1] !== undefined) meta.authorCount = Number(authors[1])
    const date = DATE_LINE.exec(line)
    if (date?.[1] !== undefined) meta.date = date[1]
    if (date?.[2] !== undefined) meta.upvotes = Number(date[2])
  }
  return meta
}
