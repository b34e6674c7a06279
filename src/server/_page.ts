import { createHash } from 'node:crypto'

// The page at GET /: one HTML document with inline CSS and JS, no dependencies. It is a module
// (not a .html file) so `tsc` carries it into dist/. Everything from the server is put into the
// page with textContent, never as HTML: abstracts and answers are untrusted text.

const STYLE = `
:root { color-scheme: light dark; --fg: #1d2330; --muted: #5d6678; --line: #d9dde5; --bg: #f7f8fa; --card: #fff; --accent: #2456c8; --accent-bg: #e8eefc; --err: #a32020; --err-bg: #fdeeee; }
@media (prefers-color-scheme: dark) { :root { --fg: #e4e7ee; --muted: #a0a8b8; --line: #343a46; --bg: #15181e; --card: #1d2129; --accent: #8fb0ff; --accent-bg: #263355; --err: #ff9c9c; --err-bg: #3a1f22; } }
* { box-sizing: border-box; }
[hidden] { display: none !important; }
body { margin: 0; background: var(--bg); color: var(--fg); font: 16px/1.55 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; }
main { max-width: 780px; margin: 0 auto; padding: 24px 16px 160px; }
header { display: flex; align-items: baseline; justify-content: space-between; gap: 12px; flex-wrap: wrap; }
h1 { font-size: 1.4rem; margin: 0; }
h1 span { color: var(--muted); font-weight: 400; font-size: 1rem; margin-left: 8px; }
button { font: inherit; cursor: pointer; }
.linkish { background: none; border: 0; color: var(--accent); padding: 0; }
.linkish:hover { text-decoration: underline; }
#keyrow { margin: 12px 0 0; padding: 10px 12px; background: var(--card); border: 1px solid var(--line); border-radius: 8px; display: flex; gap: 8px; align-items: center; flex-wrap: wrap; }
#keyrow input { flex: 1; min-width: 200px; font: inherit; padding: 4px 8px; border: 1px solid var(--line); border-radius: 6px; background: var(--bg); color: var(--fg); }
#log { margin-top: 20px; display: flex; flex-direction: column; gap: 18px; }
.turn { background: var(--card); border: 1px solid var(--line); border-radius: 10px; padding: 14px 16px; }
.q { font-weight: 600; margin: 0 0 8px; white-space: pre-wrap; }
.status { color: var(--muted); font-size: .9rem; margin: 0 0 6px; }
.a { margin: 0; white-space: pre-wrap; }
.a.abstained { color: var(--muted); font-style: italic; }
.warning { color: #8a5300; font-size: 0.9em; }
.cite { border: 1px solid var(--accent); background: var(--accent-bg); color: var(--accent); border-radius: 5px; font-size: .75rem; line-height: 1; padding: 2px 5px; margin: 0 1px; vertical-align: 2px; }
.cite[aria-expanded="true"] { background: var(--accent); color: var(--card); }
.refs { list-style: none; padding: 0; margin: 12px 0 0; border-top: 1px solid var(--line); }
.refs li { padding: 8px 0 0; font-size: .92rem; }
.refs .num { color: var(--accent); font-weight: 600; margin-right: 6px; }
.refs a { color: var(--fg); }
.refs li.open .title { font-weight: 600; }
blockquote { margin: 6px 0 4px 0; padding: 6px 10px; border-left: 3px solid var(--accent); background: var(--accent-bg); border-radius: 0 6px 6px 0; }
.meta { color: var(--muted); font-size: .8rem; margin-top: 10px; }
.searched { color: var(--muted); font-size: .8rem; margin-top: 8px; } .searched p { margin: 4px 0 0; white-space: pre-wrap; }
.error { color: var(--err); background: var(--err-bg); border-radius: 6px; padding: 8px 10px; margin: 8px 0 0; }
.found { font-size: .9rem; margin: 8px 0 0; padding-left: 20px; }
.found a { color: var(--accent); }
form { position: fixed; left: 0; right: 0; bottom: 0; background: var(--bg); border-top: 1px solid var(--line); padding: 12px 16px 16px; }
form div { max-width: 780px; margin: 0 auto; display: flex; gap: 8px; align-items: flex-end; }
textarea { flex: 1; font: inherit; resize: vertical; min-height: 48px; max-height: 40vh; padding: 10px 12px; border: 1px solid var(--line); border-radius: 8px; background: var(--card); color: var(--fg); }
#send { padding: 10px 18px; border: 0; border-radius: 8px; background: var(--accent); color: var(--card); font-weight: 600; }
#send:disabled { opacity: .5; cursor: default; }
.hint { color: var(--muted); font-size: .8rem; max-width: 780px; margin: 6px auto 0; }
`

const SCRIPT = `
'use strict'
const $ = (selector) => document.querySelector(selector)
const el = (tag, className, text) => {
  const node = document.createElement(tag)
  if (className) node.className = className
  if (text !== undefined) node.textContent = text
  return node
}
const KEY = 'askpapers.apiKey'
const form = $('#ask'), input = $('#question'), send = $('#send'), log = $('#log'), keyRow = $('#keyrow'), keyInput = $('#apikey')
let sessionId = null
let running = null
let turns = 0

keyInput.value = sessionStorage.getItem(KEY) || ''
keyRow.hidden = document.body.dataset.needsKey !== 'true'
keyInput.addEventListener('change', () => sessionStorage.setItem(KEY, keyInput.value.trim()))
$('#new').addEventListener('click', () => {
  if (running) running.abort()
  sessionId = null
  log.replaceChildren()
  input.focus()
})
input.addEventListener('keydown', (event) => {
  if (event.key === 'Enter' && !event.shiftKey && !event.isComposing) {
    event.preventDefault()
    form.requestSubmit()
  }
})
form.addEventListener('submit', (event) => {
  event.preventDefault()
  if (running) return running.abort()
  const question = input.value.trim()
  if (!question) return
  input.value = ''
  void ask(question)
})

function safeUrl(url) {
  return typeof url === 'string' && /^https?:\\/\\//i.test(url) ? url : null
}

function titleNode(paper) {
  const url = safeUrl(paper.url)
  if (!url) return el('span', 'title', paper.title)
  const link = el('a', 'title', paper.title)
  link.href = url
  link.target = '_blank'
  link.rel = 'noopener noreferrer'
  return link
}

function newTurn(question) {
  const root = el('section', 'turn')
  root.id = 'turn-' + ++turns
  const status = el('p', 'status', 'Searching the papers…')
  const answer = el('p', 'a')
  root.append(el('p', 'q', question), status, answer)
  log.append(root)
  root.scrollIntoView({ block: 'nearest' })
  return { root, status, answer, text: '', papers: [] }
}

function showError(turn, message) {
  turn.status.hidden = true
  turn.root.append(el('p', 'error', message))
  if (turn.papers.length > 0) {
    turn.root.append(el('p', 'status', 'Papers found before the error:'))
    turn.root.append(paperList(turn.papers))
  }
}

function paperList(papers) {
  const list = el('ul', 'found')
  for (const paper of papers) {
    const item = el('li')
    item.append(titleNode(paper))
    list.append(item)
  }
  return list
}

/** The final answer: [n] markers become buttons that open the reference and its quote. */
function showAnswer(turn, result) {
  turn.status.hidden = true
  turn.answer.replaceChildren()
  turn.answer.classList.toggle('abstained', result.abstained)
  const refs = el('ul', 'refs')
  const items = new Map()
  for (const ref of result.references) {
    const item = el('li')
    item.id = turn.root.id + '-ref-' + ref.n
    const quote = el('blockquote', 'quote', ref.quote || 'No single sentence of the abstract matches; open the paper to check.')
    quote.hidden = true
    item.append(el('span', 'num', '[' + ref.n + ']'), titleNode(ref), quote)
    items.set(ref.n, item)
    refs.append(item)
  }
  const toggle = (n) => {
    const item = items.get(n)
    if (!item) return
    const open = !item.classList.contains('open')
    item.classList.toggle('open', open)
    item.querySelector('blockquote').hidden = !open
    for (const button of turn.answer.querySelectorAll('.cite')) if (button.dataset.n === String(n)) button.setAttribute('aria-expanded', String(open))
    if (open) item.scrollIntoView({ block: 'nearest' })
  }
  const marker = /\\[(\\d+(?:\\s*,\\s*\\d+)*)\\]/g
  let last = 0
  for (const match of result.answer.matchAll(marker)) {
    turn.answer.append(document.createTextNode(result.answer.slice(last, match.index)))
    for (const n of match[1].split(',').map((s) => Number(s.trim()))) {
      const button = el('button', 'cite', String(n))
      button.type = 'button'
      button.dataset.n = String(n)
      button.title = 'Show the source and the quote that supports this'
      button.setAttribute('aria-expanded', 'false')
      button.setAttribute('aria-controls', turn.root.id + '-ref-' + n)
      button.addEventListener('click', () => toggle(n))
      turn.answer.append(button)
    }
    last = match.index + match[0].length
  }
  turn.answer.append(document.createTextNode(result.answer.slice(last)))
  for (const [n, item] of items) {
    const title = item.querySelector('.title')
    if (title.tagName === 'SPAN') title.addEventListener('click', () => toggle(n))
    item.querySelector('.num').addEventListener('click', () => toggle(n))
  }
  if (items.size > 0) turn.root.append(refs)
  if (result.abstained && result.notFound) turn.root.append(el('p', 'status', result.notFound))
  if (result.abstained && result.related && result.related.length > 0) {
    turn.root.append(el('p', 'status', 'The closest papers:'), paperList(result.related))
  }
  // What the reader must know about how the answer was made: a reply cut off, papers left out of the prompt.
  const checks = result.checks || {}
  const warnings = (checks.truncated ? [(checks.interruption || 'The model stopped mid-answer.') + ' The answer is incomplete.'] : []).concat(checks.notes || [])
  for (const warning of warnings) turn.root.append(el('p', 'warning', warning))
  // A follow-up's rewrite is what was searched for: kept with the sources, folded away, not in the answer's header.
  if (result.standalone && result.standalone !== result.question) {
    const searched = el('details', 'searched')
    searched.append(el('summary', null, 'Searched for'), el('p', null, result.standalone))
    turn.root.append(searched)
  }
  turn.root.append(el('p', 'meta', result.model + ' · ' + Math.round(result.timings.totalMs) + ' ms'))
}

async function post(message, signal) {
  const headers = { 'Content-Type': 'application/json', Accept: 'text/event-stream' }
  const key = keyInput.value.trim()
  if (key) headers.Authorization = 'Bearer ' + key
  const body = JSON.stringify(sessionId ? { sessionId, message } : { message })
  return fetch('v1/chat', { method: 'POST', headers, body, signal })
}

async function errorMessage(response) {
  const body = await response.json().catch(() => null)
  const message = body && body.error && body.error.message ? body.error.message : 'The server answered ' + response.status + ' ' + response.statusText + '.'
  return message
}

async function ask(question) {
  const turn = newTurn(question)
  const controller = new AbortController()
  running = controller
  send.textContent = 'Stop'
  try {
    let response = await post(question, controller.signal)
    if (response.status === 404 && sessionId) {
      sessionId = null
      turn.root.insertBefore(el('p', 'status', 'The earlier conversation had expired on the server; this question starts a new one.'), turn.status)
      response = await post(question, controller.signal)
    }
    if (response.status === 401) {
      keyRow.hidden = false
      keyInput.focus()
      return showError(turn, (await errorMessage(response)) + ' Enter the key above, then ask again.')
    }
    if (!response.ok || !response.body) return showError(turn, await errorMessage(response))
    let finished = false
    await readEvents(response.body, (event, data) => {
      if (event === 'retrieval') {
        turn.papers = data.papers
        turn.status.textContent = data.papers.length > 0 ? 'Reading ' + data.papers.length + ' papers…' : 'No paper matches.'
      } else if (event === 'token') {
        turn.text += data.text
        turn.answer.textContent = turn.text
      } else if (event === 'done') {
        finished = true
        sessionId = data.sessionId
        showAnswer(turn, data)
      } else if (event === 'error') {
        finished = true
        showError(turn, data.message)
      }
    })
    if (!finished) showError(turn, 'The connection closed before the answer was complete.')
  } catch (error) {
    if (controller.signal.aborted) turn.status.textContent = 'Stopped.'
    else showError(turn, 'Cannot reach the server (' + (error && error.message ? error.message : error) + ').')
  } finally {
    if (running === controller) running = null
    send.textContent = 'Ask'
    input.focus()
  }
}

/** Server-sent events from a fetch body: blocks separated by a blank line, JSON in data. */
async function readEvents(body, onEvent) {
  const reader = body.pipeThrough(new TextDecoderStream()).getReader()
  let buffer = ''
  for (;;) {
    const { done, value } = await reader.read()
    if (done) break
    buffer += value.replace(/\\r\\n?/g, '\\n')
    let end
    while ((end = buffer.indexOf('\\n\\n')) >= 0) {
      const block = buffer.slice(0, end)
      buffer = buffer.slice(end + 2)
      let event = 'message'
      const data = []
      for (const line of block.split('\\n')) {
        if (line.startsWith('event:')) event = line.slice(6).trim()
        else if (line.startsWith('data:')) data.push(line.slice(5).replace(/^ /, ''))
      }
      if (data.length > 0) onEvent(event, JSON.parse(data.join('\\n')))
    }
  }
}
`

const BODY = `
<main>
  <header>
    <h1>askpapers<span>cited answers from research-paper abstracts</span></h1>
    <button type="button" id="new" class="linkish">New conversation</button>
  </header>
  <div id="keyrow" hidden>
    <label for="apikey">API key</label>
    <input id="apikey" type="password" autocomplete="off" placeholder="kept for this tab only">
  </div>
  <div id="log" aria-live="polite"></div>
</main>
<form id="ask">
  <div>
    <textarea id="question" rows="2" maxlength="4000" placeholder="Ask about the papers, e.g. How does LoRA reduce the memory needed for fine-tuning?" autofocus></textarea>
    <button id="send" type="submit">Ask</button>
  </div>
  <p class="hint">Enter to ask, Shift+Enter for a new line. Follow-up questions keep the conversation; click a [number] to see the source.</p>
</form>
`

const hash = (text: string): string => `'sha256-${createHash('sha256').update(text).digest('base64')}'`

/** Only this page's own script and style run; it talks to nothing but this server. */
export const pageHeaders: Record<string, string> = {
  'Content-Security-Policy': [
    "default-src 'none'",
    `script-src ${hash(SCRIPT)}`,
    `style-src ${hash(STYLE)}`,
    "connect-src 'self'",
    'img-src data:',
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
  ].join('; '),
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'no-referrer',
}

export function renderPage({ needsKey = false }: { needsKey?: boolean } = {}): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>askpapers</title>
<link rel="icon" href="data:,">
<style>${STYLE}</style>
</head>
<body data-needs-key="${needsKey ? 'true' : 'false'}">${BODY}<script>${SCRIPT}</script>
</body>
</html>
`
}
