// How citation markers are written and where a stream of text holds one. The prompt asks for `[n]`;
// models also write `[Paper n]`, `【n†source】`, `[^n]`, `(n)` and the like, which are read here too,
// so that the rewriter and `parseMarkers` cannot disagree about what is a citation.

/**
 * Longest marker text read as a citation; also bounds what the scanner holds back. Room for
 * "[Abstract 1, Abstract 2, Abstract 3, Abstract 4, Abstract 5]".
 */
export const MAX_MARKER_LENGTH = 64

/** A range citing more papers than this (`[1-100]`) is a typo or a hallucination, not a citation. */
export const MAX_RANGE = 20

// Most text the scanner holds back: a long marker plus some whitespace and adjacent markers.
const MAX_PENDING = 2 * MAX_MARKER_LENGTH

/** A citation marker found in text: `[2]`, `[1, 3]`, `[2-4]`, `[2–4]`, or another form (`[Paper 2]`, `(2)`). */
export interface Marker {
  /** Offsets of the marker in the text, `end` exclusive. */
  start: number
  end: number
  text: string
  /** The numbers cited, in the order written, ranges expanded, duplicates dropped; empty when malformed. */
  numbers: number[]
  /** Written as the prompt asks, `[n]`; not `[Paper n]`, `【n】`, `[^n]`, `[n†L3]` or `(n)`. */
  canonical: boolean
}

/** Markers with only spaces between them, cited as one; offsets are within `raw`. */
export interface MarkerRun {
  /** The run as written, `lead` to `trail`. */
  raw: string
  /** Whitespace before the first marker. */
  lead: string
  markers: Marker[]
  /** Whitespace after the last marker; whitespace between markers is dropped when they merge. */
  trail: string
  /** The character after the run; empty at the end of the text. */
  next: string
}

/** What the scanner lets go of, in text order: plain text, or a run of markers. */
export type Scanned = { text: string } | { run: MarkerRun }

export interface MarkerScanner {
  push(text: string): Scanned[]
  /** Everything held back, decided as the end of the text. */
  end(): Scanned[]
}

const SPACE = String.raw`[ \t]*`
const ITEM = String.raw`\d+(?:${SPACE}[-–—]${SPACE}\d+)?`

/** The form the prompt asks for, as a regular expression source. */
export const CANONICAL_SOURCE = String.raw`\[${SPACE}${ITEM}(?:${SPACE}[,;]${SPACE}${ITEM})*${SPACE}\]`
const CANONICAL = new RegExp(`^${CANONICAL_SOURCE}$`)

/**
 * Citation-shaped brackets at the start of a text ("[2]", "[1, 3-5]", "[1][2]"), for the sentence
 * splitter: loose on purpose, because an invalid marker such as "[99]" must stay with its sentence
 * too, so the caller can report it there.
 */
export const LOOSE_MARKER_RUN = /^(?:\[[ \t]*\d+(?:[ \t]*[-–—,;][ \t]*\d+)*[ \t]*\][ \t]*)+/

const LABEL_WORDS = ['paper', 'source', 'doc', 'document', 'abstract', 'ref', 'reference']
// "Paper ", "Refs. ", "Source: ", "Doc #": a word before the number.
const LABEL = String.raw`(?:(?:${LABEL_WORDS.join('|')})s?[.:]?${SPACE}#?${SPACE})`
// "†source", "†L3-L5": where in the paper, after the number.
const NOTE = String.raw`(?:${SPACE}†[^\[\]【】()†,;，；、\r\n]*)`
const LABELLED_ITEM = String.raw`${LABEL}?\d+(?:${SPACE}[-–—]${SPACE}${LABEL}?\d+)?${NOTE}?`
const LIST = String.raw`${SPACE}${LABELLED_ITEM}(?:${SPACE}[,;，；、]${SPACE}${LABELLED_ITEM})*${SPACE}`
const ANY_FORM = new RegExp(String.raw`^(?:\[\^?${LIST}\]|【${LIST}】|\(${LIST}\))$`, 'i')

const CLOSERS: Partial<Record<string, string>> = { '[': ']', '【': '】', '(': ')' }

// The shortest ways an unfinished marker can still end: at once, after a number, or after the rest of a label word.
const ENDINGS = [
  ...new Set(['', '1', ...LABEL_WORDS.flatMap((word) => [...word.slice(1)].map((_, i) => `${word.slice(i + 1)}1`))]),
]

/** Punctuation that ends a clause: a parenthesised number before it may be a citation, and a removed marker's space goes. */
export const CLAUSE_END = /[.,;:!?)\]}\r\n]/

// After these a citation may follow without a space: `"adapters"(1)`, `[1](2)`, `**LoRA**(1)`.
const CLOSING = /[)\]}"'”’»】*]/

// Words numbering an equation, figure, table…: "Eq. (1)", "Table (2)", "Eqs. (1) and (2)" cite no paper.
const NUMBERED_THINGS = [
  'eq', 'eqn', 'equation', 'formula', 'ineq', 'inequality', 'constraint', 'fig', 'figure', 'tab', 'table',
  'sec', 'section', 'chapter', 'app', 'appendix', 'alg', 'algorithm', 'step', 'lemma', 'thm', 'theorem',
  'def', 'definition', 'prop', 'proposition', 'cor', 'corollary',
]
const NUMBERED_THING = new RegExp(
  String.raw`(?<!\p{L})(?:${NUMBERED_THINGS.join('|')})s?\.?(?:[ \t]*(?:\d+[a-z]?(?!\d)|\([^()\s]{1,8}\)|[,&–—-]|and|or|to))*$`,
  'iu',
)

/**
 * Finds markers in text that arrives in pieces. It holds back only what may still become a marker
 * run — with the whitespace before it — and decides each character the same way however the text
 * was split. Parenthesised numbers count only with `k` (the papers retrieved), citing only 1..k.
 */
export function createMarkerScanner(k?: number, { canonicalOnly = false }: { canonicalOnly?: boolean } = {}): MarkerScanner {
  let pending = ''
  // The end of the text let go so far, as written: it tells "weights (1)." from "Eq. (1)".
  let before = ''
  let out: Scanned[] = []

  const pass = (text: string): void => {
    if (text === '') return
    before = (before + text).slice(-MAX_MARKER_LENGTH)
    const last = out.at(-1)
    if (last !== undefined && 'text' in last) last.text += text
    else out.push({ text })
  }

  const feed = (text: string): void => {
    for (const ch of text) {
      if (pending !== '') {
        pending += ch
        settle(false)
      } else if (ch === ' ' || ch === '\t' || CLOSERS[ch] !== undefined) {
        pending = ch
      } else {
        pass(ch)
      }
    }
  }

  // Lets go of what `pending` has decided, if anything; at the end of the text everything is decided.
  // Past MAX_PENDING characters (runaway whitespace or "[1] [1] [1] …") it decides as if the text
  // ended there, so the buffer stays bounded; that depends only on the text, never on the pieces.
  const settle = (final: boolean): void => {
    const scan = scanRun(pending, before, k, canonicalOnly)
    if (scan.waiting && !final && pending.length <= MAX_PENDING) return
    pending = ''
    if (scan.run === undefined) {
      // Not a citation after all: the whitespace and the first character are plain text, but a
      // marker may start right after ("[[1]").
      const [first = '', ...rest] = scan.tail
      pass(scan.lead + first)
      feed(rest.join(''))
      return
    }
    before = (before + scan.run.raw).slice(-MAX_MARKER_LENGTH)
    out.push({ run: scan.run })
    feed(scan.tail)
  }

  const take = (): Scanned[] => {
    const taken = out
    out = []
    return taken
  }

  return {
    push: (text) => {
      feed(text)
      return take()
    },
    end: () => {
      while (pending !== '') settle(true)
      return take()
    },
  }
}

interface Scan {
  /** More text could still change the decision: nothing follows the run yet, or the start of another marker does. */
  waiting: boolean
  lead: string
  /** Absent when the text starts with no citation. */
  run?: MarkerRun
  /** The rest: empty, the start of another marker, or the text that follows. */
  tail: string
}

function scanRun(text: string, before: string, k: number | undefined, canonicalOnly: boolean): Scan {
  const lead = leadingSpace(text)
  const found: { marker: Marker; positional: boolean; trail: string }[] = []
  let pos = lead.length
  for (;;) {
    const closer = CLOSERS[text.charAt(pos)]
    const close = closer === undefined ? -1 : text.indexOf(closer, pos)
    const read = close === -1 ? undefined : readMarker(text.slice(pos, close + 1), k, canonicalOnly)
    if (read === undefined) break
    const { positional, ...marker } = read
    const trail = leadingSpace(text.slice(close + 1))
    found.push({ marker: { start: pos, end: close + 1, ...marker }, positional, trail })
    pos = close + 1 + trail.length
  }
  const rest = text.slice(pos)
  const waiting = rest === '' || isMarkerPrefix(rest)

  // A parenthesised number cites only after a word and before the end of a clause or another
  // citation, so the run ends before the first one that does not.
  let kept = found.length
  let followedWell = rest === '' || CLAUSE_END.test(rest.charAt(0))
  for (const [i, { marker, positional }] of [...found.entries()].reverse()) {
    const cites = !positional || (followedWell && inCitationPosition(before + text.slice(0, marker.start)))
    if (!cites) kept = i
    followedWell = cites
  }
  const last = found[kept - 1]
  if (last === undefined) return { waiting, lead, tail: text.slice(lead.length) }
  const end = last.marker.end + last.trail.length
  const markers = found.slice(0, kept).map(({ marker }) => marker)
  return { waiting, lead, run: { raw: text.slice(0, end), lead, markers, trail: last.trail, next: text.charAt(end) }, tail: text.slice(end) }
}

type Read = Omit<Marker, 'start' | 'end'> & { positional: boolean }

/** Reads `text` (opener to closer) as a marker; a parenthesised number only if it cites papers 1..k. */
function readMarker(text: string, k: number | undefined, canonicalOnly: boolean): Read | undefined {
  if (!isAnyForm(text) || (canonicalOnly && !CANONICAL.test(text))) return undefined
  const numbers = markerNumbers(text)
  // "(2)" may be an enumeration, an equation or a year; in range, the caller checks where it stands.
  const positional = text.startsWith('(') && !/[a-z†]/i.test(text)
  if (positional && (k === undefined || numbers.length === 0 || numbers.some((n) => n < 1 || n > k))) return undefined
  return { text, numbers, canonical: CANONICAL.test(text), positional }
}

function isAnyForm(text: string): boolean {
  return text.length <= MAX_MARKER_LENGTH && ANY_FORM.test(text)
}

/** Whether more text could still complete `text` into a marker: `[`, `[1, 2–`, `[Pap`, `【1†sou`. */
function isMarkerPrefix(text: string): boolean {
  const closer = CLOSERS[text.charAt(0)]
  if (closer === undefined || text.includes(closer)) return false
  return ENDINGS.some((ending) => isAnyForm(`${text}${ending}${closer}`))
}

/**
 * Whether a parenthesised number after `before` stands where a citation goes: after a word and a
 * space ("weights (1)", "et al. (1)") or right after a closing mark — not at the start of a sentence
 * or after ":" ("two things: (1) …"), not in a function call ("f(1)"), not after a number
 * ("Figure 3 (1)") and not numbering an equation, figure or table ("Eq. (1)", "Table (2)").
 */
function inCitationPosition(before: string): boolean {
  const word = before.replace(/[ \t]+$/, '')
  const spaced = word.length < before.length
  const ch = word.at(-1) ?? ''
  const afterWord = CLOSING.test(ch) || (spaced && (/[\p{L}%]/u.test(ch) || /(?<!\p{L})al\.$/u.test(word)))
  return afterWord && !NUMBERED_THING.test(word)
}

function markerNumbers(marker: string): number[] {
  const numbers: number[] = []
  const list = marker.replace(/^[[【(]\^?|[\]】)]$/g, '')
  for (const item of list.split(/[,;，；、]/)) {
    // Labels and notes were checked by the grammar; only the digits and the range dash are left.
    const bare = item.replace(/†.*/, '').replace(/[^\d\-–—]/g, '')
    const [from = NaN, to = from] = bare.split(/[-–—]/).map((part) => Number.parseInt(part, 10))
    // Unsafe integers are rejected too: past 2^53, n++ would never reach `to`.
    if (!Number.isSafeInteger(from) || !Number.isSafeInteger(to) || to < from || to - from + 1 > MAX_RANGE) return []
    for (let n = from; n <= to; n++) numbers.push(n)
  }
  return [...new Set(numbers)]
}

function leadingSpace(text: string): string {
  return /^[ \t]*/.exec(text)?.[0] ?? ''
}
