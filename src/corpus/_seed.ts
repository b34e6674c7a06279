import { collect } from './_record.js'
import { MIDDOT, isAuthorsLine, isChromeLine, isDateLine, isPageMark, readMeta, stripGluedChrome } from './_seed-lines.js'
import { normaliseWhitespace } from './_text.js'
import type { ParseResult } from './types.js'

/**
 * The three shapes of scraped "Daily Papers" pages:
 * - `paired-blocks`: title and abstract blocks separated by blank lines;
 * - `paired-blocks-with-meta`: the same, most papers followed by an `• N authors` / `·` / date block;
 * - `alternating-lines`: title line, abstract line, title line, … with no blank lines.
 */
export type SeedLayout = 'paired-blocks' | 'paired-blocks-with-meta' | 'alternating-lines'

/** One block (paired layouts) or one line (alternating layout), whitespace-normalised. */
interface Unit {
  /** 1-based line of the unit's first line. */
  line: number
  lines: string[]
}

interface Page {
  blocks: boolean
  units: Unit[]
}

/** Whether the text has the marks of a "Daily Papers" listing page (`isPageMark`) anywhere. */
export function isSeedPage(text: string): boolean {
  return text.split(/\r\n|\r|\n/).some((raw) => isPageMark(normaliseWhitespace(raw.replace(/^\uFEFF/, ''))))
}

export function detectSeedLayout(text: string): SeedLayout {
  const { blocks, units } = readPage(text)
  if (!blocks) return 'alternating-lines'
  return units.some((unit) => isMetaBlock(unit.lines)) ? 'paired-blocks-with-meta' : 'paired-blocks'
}

/**
 * Reads a listing page by its structure: page chrome is skipped, then units pair up as title and
 * abstract, each pair optionally followed by a metadata block. `file` is used as given in sources.
 */
export function parseSeedPage(text: string, file: string): ParseResult {
  const { blocks, units } = readPage(text)
  const result: ParseResult = { papers: [], problems: [] }
  const problem = (line: number, reason: string): void => {
    result.problems.push({ file, line, reason })
  }
  let firstTitle = true
  for (let i = 0; i < units.length; ) {
    const title = units[i]
    if (title === undefined) break
    const orphan = takeMeta(units, i, blocks)
    if (orphan !== undefined) {
      problem(title.line, 'metadata block without a paper')
      i = orphan.next
      continue
    }
    if (title.lines.length === 1 && isChromeLine(title.lines[0] ?? '')) {
      i += 1
      continue
    }
    const abstract = units[i + 1]
    const metaInstead = takeMeta(units, i + 1, blocks)
    if (abstract === undefined || metaInstead !== undefined) {
      problem(title.line, 'title without abstract')
      i = metaInstead?.next ?? i + 1
      continue
    }
    const titleText = join(title)
    const meta = takeMeta(units, i + 2, blocks)
    collect(result, file, title.line, () => ({
      title: firstTitle ? stripGluedChrome(titleText) : titleText,
      abstract: join(abstract),
      ...readMeta(meta?.lines ?? []),
    }))
    firstTitle = false
    i = meta?.next ?? i + 2
  }
  return result
}

function readPage(text: string): Page {
  const content = text
    .replace(/^\uFEFF/, '')
    .split(/\r\n|\r|\n/)
    .map((raw, index) => ({ line: index + 1, text: normaliseWhitespace(raw) }))
    .filter((line) => line.text !== '')
  // Paired layouts put a blank line between most units; a stray blank line in the alternating
  // layout must not turn it into blocks, hence a ratio rather than "any blank line".
  let gaps = 0
  for (let k = 1; k < content.length; k++) {
    if ((content[k]?.line ?? 0) - (content[k - 1]?.line ?? 0) > 1) gaps += 1
  }
  const blocks = content.length > 1 && gaps / (content.length - 1) >= 0.2
  const units: Unit[] = []
  for (const { line, text: lineText } of content) {
    const last = units.at(-1)
    if (blocks && last !== undefined && last.line + last.lines.length === line) last.lines.push(lineText)
    else units.push({ line, lines: [lineText] })
  }
  return { blocks, units }
}

const join = (unit: Unit): string => unit.lines.join(' ')

const isMetaBlock = (lines: readonly string[]): boolean => isAuthorsLine(lines[0] ?? '') || lines.includes(MIDDOT)

/** The metadata block starting at unit `i`, if there is one, and the unit after it. */
function takeMeta(units: readonly Unit[], i: number, blocks: boolean): { lines: string[]; next: number } | undefined {
  const first = units[i]
  if (first === undefined) return undefined
  if (blocks) return isMetaBlock(first.lines) ? { lines: first.lines, next: i + 1 } : undefined
  // One line per unit: the block's lines (authors or an organisation, `·`, date) arrive separately.
  const text = (k: number): string => units[k]?.lines[0] ?? ''
  const lines: string[] = []
  let j = i
  if (isAuthorsLine(text(j)) || text(j + 1) === MIDDOT) lines.push(text(j++))
  if (text(j) === MIDDOT) {
    lines.push(text(j++))
    if (isDateLine(text(j))) lines.push(text(j++))
  }
  return j > i ? { lines, next: j } : undefined
}
