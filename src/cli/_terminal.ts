/**
 * What the CLI prints to a terminal. Titles, abstracts, urls, ids, quotes and answer text come from
 * files and models the user does not control: an `ESC[2J` in a title would clear the screen, an
 * OSC 8 sequence would show one link and open another, a bidi override would reorder what is read.
 * So every such text passes through `forTerminal` (or a `TerminalStream`, for streamed tokens)
 * before it is formatted; the CLI's own colour codes are added after that.
 *
 * Hand-written rather than `util.stripVTControlCharacters` or `strip-ansi`: both remove CSI and
 * the common OSC forms only. They leave lone C0 controls (BEL, backspace, carriage return, which
 * overwrites a line), 8-bit C1 controls, DCS/PM/APC strings, OSC payloads holding characters
 * their pattern does not list (a space, a comma), and bidi overrides.
 */

/** Control strings (OSC, DCS, SOS, PM, APC) run to BEL or ST; an unterminated one to the end of the text. */
const STRING = String.raw`(?:\x1b[\]PX^_]|[\x90\x98\x9d-\x9f])[\s\S]*?(?:\x07|\x1b\\|\x9c|$)`
/** CSI: parameter bytes, intermediate bytes, one final byte (ECMA-48 5.4). */
const CSI = String.raw`(?:\x1b\[|\x9b)[\x30-\x3f]*[\x20-\x2f]*[\x40-\x7e]?`
/**
 * Any other escape sequence: ESC, intermediate bytes, a final byte (ESC c resets the terminal,
 * ESC ( 0 switches the character set). Without intermediates, not the introducers above.
 */
const ESCAPE = String.raw`\x1b(?:[\x20-\x2f]+[\x30-\x7e]|[\x30-\x4f\x51-\x57\x59\x5a\x5c\x60-\x7e])`
/** What is left of a sequence cut short (a lone ESC, ESC with intermediates only) is caught by CONTROL below. */
const SEQUENCE = new RegExp(`${STRING}|${CSI}|${ESCAPE}`, 'g')
/** A sequence that is complete, at the start of a text: what a stream may let through. */
const COMPLETE = new RegExp(String.raw`^(?:(?:\x1b[\]PX^_]|[\x90\x98\x9d-\x9f])[\s\S]*?(?:\x07|\x1b\\|\x9c)|(?:\x1b\[|\x9b)[\x30-\x3f]*[\x20-\x2f]*[\x40-\x7e]|${ESCAPE})`)
const INTRODUCER = /[\x1b\x90\x98\x9b\x9d-\x9f]/g
/** C0 but tab and newline, DEL, C1, and the bidi embeddings, overrides and isolates (U+202A–E, U+2066–9). */
// eslint-disable-next-line no-control-regex
const CONTROL = /[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]/g

/** The text with every escape sequence and control character removed; `\r\n` becomes `\n`, tabs and newlines stay. */
export function sanitize(text: string): string {
  return text.replace(/\r\n/g, '\n').replace(SEQUENCE, '').replace(CONTROL, '')
}

/** `value` with every string in it (deeply: objects and arrays) sanitized, for printing to a terminal. */
export function forTerminal<T>(value: T): T {
  if (typeof value === 'string') return sanitize(value) as T
  if (Array.isArray(value)) return value.map(forTerminal) as T
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([key, v]) => [key, forTerminal(v)])) as T
  }
  return value
}

/**
 * Sanitizes text that arrives in pieces (an answer streamed token by token): a sequence split
 * across two pieces (`ESC` in one, `[2J` in the next) is held back until it is complete, then
 * dropped whole, instead of leaving half of it on the screen.
 */
export class TerminalStream {
  private held = ''

  /** The part of `piece` (after what was held back) that is safe to print now. */
  write(piece: string): string {
    const text = this.held + piece
    const cut = incompleteTail(text)
    this.held = text.slice(cut)
    return sanitize(text.slice(0, cut))
  }

  /** What is still held back, sanitized (an unterminated sequence is dropped). */
  end(): string {
    const rest = sanitize(this.held)
    this.held = ''
    return rest
  }
}

/** Where a trailing escape sequence that may still be incomplete starts (text.length when there is none). */
function incompleteTail(text: string): number {
  let last = -1
  for (const match of text.matchAll(INTRODUCER)) last = match.index
  // A carriage return may be the first half of \r\n.
  if (last === -1) return text.endsWith('\r') ? text.length - 1 : text.length
  return COMPLETE.test(text.slice(last)) ? (text.endsWith('\r') ? text.length - 1 : text.length) : last
}

/** Colour only for a person at a terminal: not when piped, nor with NO_COLOR (any non-empty value) or TERM=dumb. */
export function useColor(stream: { isTTY?: boolean } = process.stdout, env: NodeJS.ProcessEnv = process.env): boolean {
  return stream.isTTY === true && !env.NO_COLOR && env.TERM !== 'dumb'
}
