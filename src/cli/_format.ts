import { thirdPerson, splitSentences, type AnswerResult } from '../answer/index.js'
import { authorLine, linkLabel, paperLink, paperYear, type Citable } from '../corpus/index.js'

const wrap = (on: boolean, code: string) => (s: string): string => (on ? `\u001b[${code}m${s}\u001b[0m` : s)

/** References (or related papers) and the citation checks, after the streamed answer text. */
export function formatReferences(result: AnswerResult, { color = false, width = 80 } = {}): string {
  const bold = wrap(color, '1')
  const dim = wrap(color, '2')
  const warn = wrap(color, '33')
  const lines: string[] = []
  if (result.abstained) {
    if (result.notFound) lines.push(...hang(result.notFound, width, ''))
    if (result.related.length > 0) {
      lines.push('', bold('Closest papers (they do not answer it, but may help):'))
      for (const r of result.related) lines.push(...hang(`- ${r.title}: ${linkLabel(paperLink(r))} (id ${r.id})`, width, '  '))
    }
  } else {
    lines.push('', bold('References'))
    const shown = new Set<string>([...splitSentences(result.answer)].map(flat))
    for (const ref of result.references) {
      lines.push(...hang(`[${ref.n}] ${ref.title}`, width, '    '))
      lines.push(...hang(citedAs(ref), width, '    ', '    '))
      // An extractive answer already is the quote: show only what the answer does not repeat, once.
      const fresh = splitSentences(ref.quote).filter((q) => {
        const key = flat(thirdPerson(q))
        const repeated = [...shown].some((s) => s.includes(key) || key.includes(s))
        shown.add(key)
        return !repeated
      })
      if (fresh.length > 0) lines.push(...hang(dim(`“${fresh.join(' ')}”`), width, '    ', '    '))
    }
  }
  const c = result.checks
  if (c.truncated) lines.push('', ...hang(warn(`! ${c.interruption ?? 'The model stopped mid-answer'} The answer above is incomplete.`), width, '  '))
  for (const note of c.notes) lines.push(...hang(warn(`! ${note}`), width, '  '))
  const rewritten = c.reformattedMarkers.filter((m) => !c.invalidMarkers.includes(m))
  if (rewritten.length > 0) lines.push('', ...hang(warn(`! The model cited in its own format (${rewritten.join(' ')}); rewritten as [n].`), width, '  '))
  if (c.invalidMarkers.length > 0) lines.push('', warn(`! Removed citation(s) to papers that were not retrieved: ${c.invalidMarkers.join(' ')}`))
  for (const s of c.uncitedSentences) lines.push(...hang(warn(`! No citation: ${s}`), width, '  '))
  for (const u of c.unsupportedCitations) lines.push(...hang(warn(`! [${u.n}] may not support: ${u.sentence}`), width, '  '))
  return lines.join('\n')
}

/**
 * The line under a reference's title: authors (or what the source lacks), year, a link labelled by
 * what it is, and the id `papers show` takes, labelled so it is not read as the citation.
 */
export function citedAs(ref: Citable, { id = true }: { id?: boolean } = {}): string {
  const year = paperYear(ref)
  return `${authorLine(ref, { max: 3 })}${year !== undefined ? `, ${year}` : ''}. ${linkLabel(paperLink(ref))}${id ? ` (id ${ref.id})` : ''}`
}

/** Letters and digits only, lower-cased, citation markers dropped: for "is this sentence already shown?". */
const flat = (text: string): string => text.replace(/\[[\d,\s–-]+\]/g, '').toLowerCase().replace(/[^\p{L}\p{N}]+/gu, '')

/** Word-wraps one logical line so it stays readable in an 80-column terminal. */
export function hang(text: string, width: number, indent: string, first = ''): string[] {
  const out: string[] = []
  let line = first
  for (const word of text.split(/\s+/)) {
    if (line.trim() && visible(line).length + 1 + visible(word).length > width) {
      out.push(line)
      line = indent + word
    } else line = line.trim() ? `${line} ${word}` : `${line}${word}`
  }
  if (line.trim()) out.push(line)
  return out
}

// eslint-disable-next-line no-control-regex
const visible = (s: string): string => s.replace(/\u001b\[[0-9;]*m/g, '')
