/**
 * Reasoning models (qwen3, deepseek-r1, …) put their thinking in the reply's text between
 * `<think>` and `</think>` when the server does not separate it. It is never part of the answer:
 * its "[3]"s are not citations, and what it says was not checked against the papers.
 *
 * A small hand-written filter, since no library does this for a stream: the tags may be split
 * across deltas ("<thi" + "nk>"), so a possible tag at the end of the text so far is held back.
 */
export interface ThinkingFilter {
  /** Takes the next delta; returns the answer text that is now certain. */
  push(delta: string): string
  /** At the end of the stream: whatever was held back that is not thinking. */
  end(): string
  /** Characters of thinking seen (and dropped). */
  thinkingChars(): number
}

const TAGS = ['think', 'thinking', 'reasoning'] as const
const OPEN = new RegExp(`<(${TAGS.join('|')})>`, 'i')
const LONGEST_TAG = Math.max(...TAGS.map((t) => t.length)) + 3

export function createThinkingFilter(): ThinkingFilter {
  let pending = ''
  // The closing tag we are waiting for, while inside thinking.
  let closing: RegExp | undefined
  let dropped = 0
  // Thinking comes first: once answer text has appeared, a later "<think>" is text the model wrote.
  let answered = false

  const drain = (final: boolean): string => {
    let out = ''
    for (;;) {
      if (closing) {
        const match = closing.exec(pending)
        if (!match) {
          // Keep only what could be the start of the closing tag.
          const keep = final ? 0 : Math.min(pending.length, LONGEST_TAG)
          dropped += pending.length - keep
          pending = pending.slice(pending.length - keep)
          if (final) pending = ''
          return out
        }
        dropped += match.index + match[0].length
        pending = pending.slice(match.index + match[0].length).replace(/^\s+/, '')
        closing = undefined
        continue
      }
      if (answered) {
        out += pending
        pending = ''
        return out
      }
      const lead = /^\s*/.exec(pending)?.[0] ?? ''
      const rest = pending.slice(lead.length)
      const match = OPEN.exec(rest)
      if (match && match.index === 0) {
        closing = new RegExp(`</${match[1]}>`, 'i')
        dropped += lead.length + match[0].length
        pending = rest.slice(match[0].length)
        continue
      }
      // Could this still become an opening tag? Hold it back until it cannot.
      if (!final && rest.length < LONGEST_TAG && TAGS.some((t) => `<${t}>`.startsWith(rest.toLowerCase()))) return out
      answered = rest.length > 0
      out += answered ? pending.replace(/^\s+/, '') : ''
      pending = answered ? '' : pending
      return out
    }
  }

  return {
    push(delta) {
      pending += delta
      return drain(false)
    },
    end() {
      const out = drain(true)
      const rest = closing ? '' : pending
      pending = ''
      return out + rest
    },
    thinkingChars: () => dropped,
  }
}

/**
 * Thinking that a chat template opened in the prompt shows up as text ending in a bare `</think>`;
 * on the whole reply, everything up to that tag is dropped too.
 */
export function stripThinking(text: string): string {
  const filter = createThinkingFilter()
  const visible = filter.push(text) + filter.end()
  const orphan = /<\/(think|thinking|reasoning)>/i.exec(visible)
  return orphan && !/<(think|thinking|reasoning)>/i.test(visible.slice(0, orphan.index)) ? visible.slice(orphan.index + orphan[0].length).trimStart() : visible
}
