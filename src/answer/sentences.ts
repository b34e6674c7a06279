import { LOOSE_MARKER_RUN } from './_markers.js'

/**
 * Splits scientific English into sentences: one per element, whitespace collapsed and trimmed.
 *
 * Breaks after `.`, `?` or `!` (plus closing quotes/brackets) followed by whitespace and a capital
 * letter, digit, opening quote or bracket, unless the full stop ends an abbreviation or an initial.
 * Citation markers right after the full stop (`memory. [2] Next`) stay with the sentence before.
 * Every line starts a new sentence unless it starts in lower case (a hard-wrapped sentence going on).
 */
export function splitSentences(text: string): string[] {
  const sentences: string[] = []
  for (const block of splitBlocks(text)) {
    for (const sentence of splitBlock(block)) {
      const tidy = sentence.replace(/\s+/g, ' ').trim()
      if (tidy !== '') sentences.push(tidy)
    }
  }
  return sentences
}

// Lower-cased words that end with a full stop yet rarely end a sentence. "etc." is left out on
// purpose: in abstracts it ends a sentence more often than not ("... example difficulty, etc. First, we").
const ABBREVIATIONS = new Set(
  ('al approx ca cf eq eqs fig figs sec secs tab ref refs resp viz incl vs dr mr mrs ms prof ' +
    'jan feb mar apr jun jul aug sep sept oct nov dec').split(' '),
)

const LIST_ITEM = /^\s*(?:[-*+•]|\d{1,3}[.)])\s+/
const CLOSERS = new Set(['"', "'", '”', '’', '»', ')'])

/** Paragraphs, list items and headings (lines): the units a sentence never crosses. */
function splitBlocks(text: string): string[] {
  const blocks: string[] = []
  let current: string[] = []
  const flush = (): void => {
    if (current.length > 0) blocks.push(current.join(' '))
    current = []
  }
  for (const line of text.split(/\r?\n|\r/)) {
    if (line.trim() === '') {
      flush()
      continue
    }
    // A line that starts in lower case continues a hard-wrapped sentence; any other line (a list
    // item, a heading, a new paragraph or a line after an unpunctuated heading) starts afresh.
    if (!/^\s*\p{Ll}/u.test(line)) flush()
    current.push(line)
  }
  flush()
  return blocks
}

function splitBlock(block: string): string[] {
  const sentences: string[] = []
  let start = 0
  // A list marker such as "1. " is not a full stop.
  let i = LIST_ITEM.exec(block)?.[0].length ?? 0
  for (; i < block.length; i++) {
    const ch = block[i]
    if (ch !== '.' && ch !== '?' && ch !== '!') continue
    let end = i + 1
    while (end < block.length && /[.?!]/.test(block[end] ?? '')) end++
    while (end < block.length && CLOSERS.has(block[end] ?? '')) end++
    if (!/\s/.test(block[end] ?? '')) continue
    if (ch === '.' && end === i + 1 && !endsSentence(block.slice(start, i))) continue

    let next = end
    while (/\s/.test(block[next] ?? '')) next++
    const markers = LOOSE_MARKER_RUN.exec(block.slice(next))
    if (markers !== null) {
      end = next + markers[0].trimEnd().length
      next += markers[0].length
    }
    if (next >= block.length) break
    if (!startsSentence(block[next] ?? '')) continue
    sentences.push(block.slice(start, end))
    start = next
    i = next - 1
  }
  sentences.push(block.slice(start))
  return sentences
}

/** Whether the full stop after `before` ends a sentence rather than an abbreviation or initial. */
function endsSentence(before: string): boolean {
  // Only a whole word counts: the "B" of "62B" or "100-C" is no initial.
  const word = /(?:^|[\s(\["'“‘])(\p{L}[\p{L}.]*)$/u.exec(before)?.[1]
  if (word === undefined) return true
  if (ABBREVIATIONS.has(word.toLowerCase())) return false
  // "e.g", "i.e", "w.r.t", "U.S": letters joined by full stops.
  if (/^(?:\p{L}\.)+\p{L}$/u.test(word)) return false
  // An initial, as in "A. Vaswani".
  if (/^\p{Lu}$/u.test(word)) return false
  return true
}

function startsSentence(ch: string): boolean {
  return /[\p{Lu}\p{N}"'“‘(\[]/u.test(ch)
}
