// @ts-check
'use strict'

// The page's reader of server-sent events, a plain browser script (no modules, no imports) so that
// src/server/_page.ts can inline it; the tests of the HTTP API parse streams with this same code.

/**
 * Reads server-sent events as text arrives in pieces of any size: blocks end at a blank line, `event:`
 * names the event ("message" when absent), the `data:` lines (joined by newlines) are one JSON value.
 *
 * @param {(event: string, data: any) => void} onEvent
 * @returns {{ push(text: string): void, end(): void }}
 */
function createSseParser(onEvent) {
  let buffer = ''
  /** @param {string} block */
  const dispatch = (block) => {
    let event = 'message'
    /** @type {string[]} */
    const data = []
    for (const line of block.split('\n')) {
      if (line.startsWith('event:')) event = line.slice(6).trim()
      else if (line.startsWith('data:')) data.push(line.slice(5).replace(/^ /, ''))
    }
    if (data.length > 0) onEvent(event, JSON.parse(data.join('\n')))
  }
  return {
    push(text) {
      // A CR of a CRLF split across two pieces becomes LF here, and the LF then starts a blank line:
      // so a trailing CR is held back until the next piece shows what follows it.
      buffer += text
      const held = buffer.endsWith('\r') ? '\r' : ''
      let ready = (held ? buffer.slice(0, -1) : buffer).replace(/\r\n?/g, '\n')
      let end
      while ((end = ready.indexOf('\n\n')) >= 0) {
        dispatch(ready.slice(0, end))
        ready = ready.slice(end + 2)
      }
      buffer = ready + held
    },
    end() {
      const rest = buffer.replace(/\r\n?/g, '\n')
      buffer = ''
      if (rest.trim() !== '') dispatch(rest)
    },
  }
}

/**
 * Server-sent events from a fetch body, decoded as UTF-8 across chunk boundaries.
 *
 * @param {ReadableStream<BufferSource>} body
 * @param {(event: string, data: any) => void} onEvent
 */
async function readEvents(body, onEvent) {
  const reader = body.pipeThrough(new TextDecoderStream()).getReader()
  const parser = createSseParser(onEvent)
  for (;;) {
    const { done, value } = await reader.read()
    if (done) break
    parser.push(value)
  }
  parser.end()
}
