// @ts-check
'use strict'

// The page's behaviour: a plain browser script, type-checked by tsc (tsconfig.page.json) and inlined
// by src/server/_page.ts after sse.js. Everything from the server goes into the page as text
// (textContent), never as HTML: abstracts, titles and answers are untrusted.
//
// The page reports what it is doing in data-state attributes, which its tests wait on:
// body: loading → idle → streaming → done | error | stopped; each turn: searching → streaming → done | error | stopped;
// #intro: loading → ready | error; #panel: closed | loading | ready | error.

/** @typedef {{ url: string, kind: 'record' | 'arxiv' | 'doi' | 'search' }} PaperLink */
/**
 * @typedef {{ n: number, id: string, title: string, url: string | null, quote: string, authors?: string[],
 *   authorCount?: number, year?: number, byline: string, link: PaperLink }} Reference
 */
/** @typedef {{ id: string, title: string, url?: string, link?: PaperLink }} FoundPaper */
/**
 * @typedef {{ question: string, answer: string, abstained: boolean, notFound?: string, references: Reference[],
 *   related?: FoundPaper[], checks?: { truncated?: boolean, interruption?: string, notes?: string[] }, model: string,
 *   timings: { totalMs: number }, standalone?: string, sessionId?: string }} Answer
 */
/**
 * @typedef {{ id: string, title: string, abstract: string, plainAbstract?: string, sentences?: string[], authors?: string[],
 *   authorCount?: number, year?: number, byline?: string, link?: PaperLink, date?: string }} PaperRecord
 */
/**
 * @typedef {{ root: HTMLElement, status: HTMLElement, answer: HTMLElement, question: string, text: string,
 *   papers: FoundPaper[], result: Answer | null }} Turn
 */

/**
 * @template {HTMLElement} T
 * @param {string} selector
 * @param {new () => T} type
 * @returns {T}
 */
function $(selector, type) {
  const node = document.querySelector(selector)
  if (!(node instanceof type)) throw new Error(`The page lacks ${selector}`)
  return node
}

/**
 * @template {keyof HTMLElementTagNameMap} K
 * @param {K} tag
 * @param {string | null} [className]
 * @param {string} [text]
 * @returns {HTMLElementTagNameMap[K]}
 */
function el(tag, className, text) {
  const node = document.createElement(tag)
  if (className) node.className = className
  if (text !== undefined) node.textContent = text
  return node
}

const KEY = 'askpapers.apiKey'
const body = document.body
const form = $('#ask', HTMLFormElement)
const input = $('#question', HTMLTextAreaElement)
const send = $('#send', HTMLButtonElement)
const log = $('#log', HTMLElement)
const intro = $('#intro', HTMLElement)
const keyRow = $('#keyrow', HTMLElement)
const keyInput = $('#apikey', HTMLInputElement)
const exportButton = $('#export', HTMLButtonElement)
const kInput = $('#k', HTMLInputElement)
const yearFrom = $('#year-from', HTMLInputElement)
const yearTo = $('#year-to', HTMLInputElement)
const sourceInput = $('#source', HTMLInputElement)
const settingsNote = $('#settings-note', HTMLElement)
const panel = $('#panel', HTMLElement)

/** @type {string | null} */
let sessionId = null
/** @type {AbortController | null} */
let running = null
let turnCount = 0
/** @type {Turn[]} */
let turns = []
/** Follow the answer as it streams, until the reader scrolls away from it. */
let follow = true

body.dataset.state = 'loading'
keyInput.value = sessionStorage.getItem(KEY) || ''
keyRow.hidden = body.dataset.needsKey !== 'true'
kInput.max = body.dataset.maxK || '20'

keyInput.addEventListener('change', () => {
  sessionStorage.setItem(KEY, keyInput.value.trim())
  if (intro.dataset.state !== 'ready') void loadIntro()
})
$('#new', HTMLButtonElement).addEventListener('click', () => {
  if (running) running.abort()
  sessionId = null
  turns = []
  log.replaceChildren()
  intro.hidden = false
  exportButton.disabled = true
  closePanel()
  body.dataset.state = 'idle'
  input.focus()
})
exportButton.addEventListener('click', () => void exportConversation())
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
for (const type of ['wheel', 'touchmove']) window.addEventListener(type, () => (follow = false), { passive: true })
window.addEventListener('keydown', (event) => {
  if (event.key === 'Escape' && !panel.hidden) closePanel()
  else if (['PageUp', 'PageDown', 'ArrowUp', 'ArrowDown', 'Home', 'End'].includes(event.key) && event.target === body) follow = false
})
$('#panel-close', HTMLButtonElement).addEventListener('click', () => closePanel())
for (const field of [kInput, yearFrom, yearTo, sourceInput]) field.addEventListener('input', () => describeSettings())

/** @param {HeadersInit} [extra] */
function headers(extra) {
  const all = new Headers(extra)
  const key = keyInput.value.trim()
  if (key) all.set('Authorization', 'Bearer ' + key)
  return all
}

/** @param {string} path @param {unknown} payload @param {AbortSignal} [signal] */
function postJson(path, payload, signal) {
  return fetch(path, { method: 'POST', headers: headers({ 'Content-Type': 'application/json', Accept: 'application/json' }), body: JSON.stringify(payload), ...(signal ? { signal } : {}) })
}

/** @param {Response} response */
async function errorMessage(response) {
  const reply = await response.json().catch(() => null)
  return reply && reply.error && reply.error.message ? String(reply.error.message) : 'The server answered ' + response.status + ' ' + response.statusText + '.'
}

/** @param {unknown} url */
function safeUrl(url) {
  return typeof url === 'string' && /^https?:\/\//i.test(url) ? url : null
}

/** @param {string} url @param {string} text */
function link(url, text) {
  const a = el('a', null, text)
  a.href = url
  a.target = '_blank'
  a.rel = 'noopener noreferrer'
  return a
}

/** What a link is, so a title search never passes for the paper's own page. @param {PaperLink} paperLink */
function linkNode(paperLink) {
  const span = el('span', 'link')
  if (!safeUrl(paperLink.url)) return span
  if (paperLink.kind === 'search') {
    span.append('No link in the source: ', link(paperLink.url, 'search for the title'))
  } else {
    const label = paperLink.kind === 'arxiv' ? 'arXiv' : paperLink.kind === 'doi' ? 'DOI' : new URL(paperLink.url).hostname
    span.append(link(paperLink.url, label))
  }
  return span
}

// ── The first screen ────────────────────────────────────────────────────────────────────────────

async function loadIntro() {
  intro.dataset.state = 'loading'
  const corpus = $('#corpus', HTMLElement)
  const answerer = $('#answerer', HTMLElement)
  const examples = $('#examples', HTMLElement)
  try {
    const health = await fetch('health').then((r) => r.json())
    const papers = health.index.papers
    corpus.textContent = papers === 0
      ? 'No papers are indexed yet: run askpapers ingest, then reload.'
      : papers.toLocaleString('en') + ' papers indexed · embeddings: ' + health.embedder.provider + ' ' + health.embedder.model
    answerer.textContent = health.llm.provider === 'none'
      ? 'Answers: quoted sentences from the abstracts (offline, no language model).'
      : 'Answers: written by ' + health.llm.provider + ' ' + health.llm.model + (health.llm.reachable ? '' : ' (not reachable right now)') + ', each claim cited.'
    const reply = await fetch('v1/examples', { headers: headers() })
    examples.replaceChildren()
    if (reply.ok) {
      const { questions } = await reply.json()
      for (const example of questions) {
        const button = el('button', 'example', example.question)
        button.type = 'button'
        button.title = 'From: ' + example.title
        button.addEventListener('click', () => {
          if (running) return
          input.value = example.question
          form.requestSubmit()
        })
        const item = el('li')
        item.append(button)
        examples.append(item)
      }
    } else if (reply.status === 401) {
      examples.append(el('li', 'status', 'Enter the API key above to see example questions.'))
    }
    $('#examples-label', HTMLElement).hidden = !examples.querySelector('button')
    intro.dataset.state = 'ready'
  } catch (error) {
    corpus.textContent = 'Cannot reach the server (' + describeError(error) + ').'
    intro.dataset.state = 'error'
  } finally {
    if (body.dataset.state === 'loading') body.dataset.state = 'idle'
  }
}

/** @param {unknown} error */
function describeError(error) {
  return error instanceof Error ? error.message : String(error)
}

// ── Settings: k and filters ────────────────────────────────────────────────────────────────────

/** What a question is sent with besides the message; only what the reader set. */
function settings() {
  /** @type {{ k?: number, filters?: { years?: { from?: number, to?: number }, sources?: string[] } }} */
  const chosen = {}
  const k = Number(kInput.value)
  if (kInput.value.trim() !== '' && Number.isInteger(k)) chosen.k = k
  /** @type {{ from?: number, to?: number }} */
  const years = {}
  if (yearFrom.value.trim() !== '') years.from = Number(yearFrom.value)
  if (yearTo.value.trim() !== '') years.to = Number(yearTo.value)
  const sources = sourceInput.value.split(',').map((s) => s.trim()).filter(Boolean)
  if (years.from !== undefined || years.to !== undefined || sources.length > 0) {
    chosen.filters = {}
    if (years.from !== undefined || years.to !== undefined) chosen.filters.years = years
    if (sources.length > 0) chosen.filters.sources = sources
  }
  return chosen
}

function describeSettings() {
  const { k, filters } = settings()
  const parts = []
  if (k !== undefined) parts.push(k + ' papers')
  if (filters && filters.years) parts.push('years ' + (filters.years.from ?? '…') + '–' + (filters.years.to ?? '…'))
  if (filters && filters.sources) parts.push('from ' + filters.sources.join(', '))
  settingsNote.textContent = parts.length > 0 ? 'Asking with ' + parts.join(', ') + '.' : ''
}

// ── Turns ──────────────────────────────────────────────────────────────────────────────────────

/**
 * Scrolls so that `node` ends just above the input bar (the bar is fixed and would cover it); with
 * `top`, never so far that the node's own top leaves the screen.
 *
 * @param {HTMLElement} node
 * @param {{ top?: boolean }} [options]
 */
function keepInView(node, { top = false } = {}) {
  if (!follow) return
  const bar = form.getBoundingClientRect().top
  const rect = node.getBoundingClientRect()
  let by = rect.bottom + 12 - bar
  if (top) by = Math.min(by, rect.top - 12)
  if (by > 0 || rect.top < 0) window.scrollBy(0, rect.top < 0 && by <= 0 ? rect.top - 12 : by)
}

/** @param {string} question @returns {Turn} */
function newTurn(question) {
  const root = el('section', 'turn')
  root.id = 'turn-' + ++turnCount
  root.dataset.state = 'searching'
  const status = el('p', 'status', 'Searching the papers…')
  const answer = el('p', 'a')
  root.append(el('p', 'q', question), status, answer)
  log.append(root)
  intro.hidden = true
  follow = true
  keepInView(root)
  return { root, status, answer, question, text: '', papers: [], result: null }
}

/** @param {Turn} turn @param {string} message */
function showError(turn, message) {
  turn.status.hidden = true
  turn.root.append(el('p', 'error', message))
  if (turn.papers.length > 0) {
    turn.root.append(el('p', 'status', 'Papers found before the error:'))
    turn.root.append(paperList(turn.papers))
  }
  turn.root.dataset.state = 'error'
  keepInView(turn.root, { top: true })
}

/** @param {FoundPaper[]} papers */
function paperList(papers) {
  const list = el('ul', 'found')
  for (const paper of papers) {
    const item = el('li')
    const url = safeUrl(paper.url)
    item.append(url ? link(url, paper.title) : el('span', 'title', paper.title))
    // The closest papers of an abstention carry a link of any kind; say what it is when it is not the record's own.
    if (!url && paper.link) item.append(' · ', linkNode(paper.link))
    list.append(item)
  }
  return list
}

/**
 * The answer text with each run of [n] markers as buttons. A run and the punctuation right after it
 * are kept on one line (.cite-run is nowrap), so a line never starts with a chip's full stop.
 *
 * @param {Turn} turn
 * @param {Answer} result
 * @param {(n: number) => void} toggle
 */
function renderAnswer(turn, result, toggle) {
  const marker = /\[(\d+(?:\s*,\s*\d+)*)\]([.,;:!?)]*)/g
  let last = 0
  for (const match of result.answer.matchAll(marker)) {
    const start = match.index ?? 0
    turn.answer.append(document.createTextNode(result.answer.slice(last, start)))
    const run = el('span', 'cite-run')
    for (const n of (match[1] ?? '').split(',').map((s) => Number(s.trim()))) {
      const button = el('button', 'cite', String(n))
      button.type = 'button'
      button.dataset.n = String(n)
      button.title = 'Show the source and the quote that supports this'
      button.setAttribute('aria-expanded', 'false')
      button.setAttribute('aria-controls', turn.root.id + '-ref-' + n)
      button.addEventListener('click', () => toggle(n))
      run.append(button)
    }
    if (match[2]) run.append(match[2])
    turn.answer.append(run)
    last = start + match[0].length
  }
  turn.answer.append(document.createTextNode(result.answer.slice(last)))
}

/** The final answer: [n] markers become buttons that open the reference and its quote. @param {Turn} turn @param {Answer} result */
function showAnswer(turn, result) {
  turn.result = result
  turn.status.hidden = true
  turn.answer.replaceChildren()
  turn.answer.classList.toggle('abstained', result.abstained)
  const refs = el('ol', 'refs')
  /** @type {Map<number, HTMLLIElement>} */
  const items = new Map()
  for (const ref of result.references) {
    const item = el('li')
    item.id = turn.root.id + '-ref-' + ref.n
    const title = el('button', 'title', ref.title)
    title.type = 'button'
    title.title = 'Authors, link and the whole abstract'
    title.addEventListener('click', () => void openPanel(ref, title))
    const byline = el('span', 'byline', ref.byline + (ref.year !== undefined ? ', ' + ref.year : ''))
    const quote = el('blockquote', 'quote', ref.quote || 'No single sentence of the abstract matches; open the paper to check.')
    quote.hidden = true
    const number = el('button', 'num', '[' + ref.n + ']')
    number.type = 'button'
    number.addEventListener('click', () => toggle(ref.n))
    const facts = el('span', 'facts')
    facts.append(byline, ' · ', linkNode(ref.link))
    item.append(number, title, facts, quote)
    items.set(ref.n, item)
    refs.append(item)
  }
  /** @param {number} n */
  const toggle = (n) => {
    const item = items.get(n)
    if (!item) return
    const open = !item.classList.contains('open')
    item.classList.toggle('open', open)
    const quote = item.querySelector('blockquote')
    if (quote) quote.hidden = !open
    for (const button of turn.answer.querySelectorAll('.cite')) {
      if (button instanceof HTMLElement && button.dataset.n === String(n)) button.setAttribute('aria-expanded', String(open))
    }
    if (open) item.scrollIntoView({ block: 'nearest' })
  }
  renderAnswer(turn, result, toggle)
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
  const meta = el('p', 'meta', result.model + ' · ' + Math.round(result.timings.totalMs) + ' ms')
  if (result.references.length > 0) {
    const copy = el('button', 'linkish copy', 'Copy citations (BibTeX)')
    copy.type = 'button'
    copy.addEventListener('click', () => void copyCitations(turn, copy))
    meta.append(' · ', copy)
  }
  turn.root.append(meta)
  turn.root.dataset.state = 'done'
  exportButton.disabled = false
  keepInView(turn.answer, { top: true })
}

/** @param {string} message @param {AbortSignal} signal */
async function post(message, signal) {
  const payload = { ...(sessionId ? { sessionId } : {}), message, ...settings() }
  return fetch('v1/chat', { method: 'POST', headers: headers({ 'Content-Type': 'application/json', Accept: 'text/event-stream' }), body: JSON.stringify(payload), signal })
}

/** @param {string} question */
async function ask(question) {
  const turn = newTurn(question)
  const controller = new AbortController()
  running = controller
  body.dataset.state = 'streaming'
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
        turn.root.dataset.state = 'streaming'
        keepInView(turn.root)
      } else if (event === 'done') {
        finished = true
        sessionId = data.sessionId
        turns.push(turn)
        showAnswer(turn, data)
      } else if (event === 'error') {
        finished = true
        showError(turn, data.message)
      }
    })
    if (!finished) showError(turn, 'The connection closed before the answer was complete.')
  } catch (error) {
    if (controller.signal.aborted) {
      turn.status.textContent = 'Stopped.'
      turn.root.dataset.state = 'stopped'
    } else showError(turn, 'Cannot reach the server (' + describeError(error) + ').')
  } finally {
    if (running === controller) running = null
    send.textContent = 'Ask'
    body.dataset.state = turn.root.dataset.state === 'searching' || turn.root.dataset.state === 'streaming' ? 'error' : turn.root.dataset.state
    input.focus({ preventScroll: true })
  }
}

// ── The reference panel ────────────────────────────────────────────────────────────────────────

/** The button that opened the panel: focus goes back to it when the panel closes. @type {HTMLElement | null} */
let panelOpener = null

/**
 * Opens the panel on a reference: who wrote it, when, where to find it, and the abstract with the quote marked.
 *
 * @param {Reference} ref
 * @param {HTMLElement} from
 */
async function openPanel(ref, from) {
  panelOpener = from
  panel.hidden = false
  panel.dataset.state = 'loading'
  panel.dataset.id = ref.id
  $('#panel-title', HTMLElement).textContent = ref.title
  const authors = $('#panel-authors', HTMLElement)
  const year = $('#panel-year', HTMLElement)
  const where = $('#panel-link', HTMLElement)
  const abstract = $('#panel-abstract', HTMLElement)
  authors.textContent = ref.byline
  year.textContent = ref.year !== undefined ? String(ref.year) : 'Year not in the source'
  where.replaceChildren(linkNode(ref.link))
  abstract.replaceChildren(el('p', 'status', 'Loading the abstract…'))
  $('#panel-close', HTMLButtonElement).focus()
  try {
    const response = await fetch('v1/papers/' + encodeURIComponent(ref.id), { headers: headers() })
    if (panel.dataset.id !== ref.id) return
    if (!response.ok) {
      abstract.replaceChildren(el('p', 'error', await errorMessage(response)))
      panel.dataset.state = 'error'
      return
    }
    /** @type {PaperRecord} */
    const paper = await response.json()
    if (paper.authors && paper.authors.length > 0) authors.textContent = paper.authors.join(', ')
    abstract.replaceChildren(...highlighted(paper.sentences || [paper.plainAbstract || paper.abstract], ref.quote))
    panel.dataset.state = 'ready'
  } catch (error) {
    abstract.replaceChildren(el('p', 'error', 'Cannot reach the server (' + describeError(error) + ').'))
    panel.dataset.state = 'error'
  }
}

/**
 * The abstract's sentences, those the quote is made of in <mark>. A quote is one or two whole
 * sentences of the abstract, in order, joined by a space: it is matched sentence by sentence.
 *
 * @param {string[]} sentences
 * @param {string} quote
 */
function highlighted(sentences, quote) {
  let rest = quote.trim()
  /** @type {(HTMLElement | string)[]} */
  const nodes = []
  for (const [i, sentence] of sentences.entries()) {
    if (i > 0) nodes.push(' ')
    if (rest !== '' && rest.startsWith(sentence)) {
      nodes.push(el('mark', null, sentence))
      rest = rest.slice(sentence.length).trim()
    } else nodes.push(sentence)
  }
  const paragraph = el('p')
  paragraph.append(...nodes)
  return [paragraph]
}

function closePanel() {
  if (panel.hidden) return
  panel.hidden = true
  panel.dataset.state = 'closed'
  delete panel.dataset.id
  if (panelOpener && panelOpener.isConnected) panelOpener.focus({ preventScroll: true })
  panelOpener = null
}

// ── Exports ────────────────────────────────────────────────────────────────────────────────────

/** @param {Turn[]} from */
function exportedTurns(from) {
  return from.flatMap((turn) =>
    turn.result
      ? [{ question: turn.question, answer: turn.result.answer, references: turn.result.references.map(({ n, id, title, url, quote }) => ({ n, id, title, url, quote })) }]
      : [],
  )
}

/** @param {Turn[]} from @param {'markdown' | 'bibtex'} format @returns {Promise<string>} */
async function exported(from, format) {
  const response = await postJson('v1/citations', { format, turns: exportedTurns(from) })
  if (!response.ok) throw new Error(await errorMessage(response))
  return (await response.json()).text
}

/** The conversation as a Markdown file, made by the server's citation formatter. */
async function exportConversation() {
  exportButton.dataset.state = 'working'
  try {
    const text = await exported(turns, 'markdown')
    const a = link(URL.createObjectURL(new Blob([text], { type: 'text/markdown' })), 'download')
    a.download = 'askpapers-conversation.md'
    a.click()
    setTimeout(() => URL.revokeObjectURL(a.href), 10_000)
    exportButton.dataset.state = 'done'
  } catch (error) {
    exportButton.dataset.state = 'error'
    exportButton.title = 'The export failed: ' + describeError(error)
  }
}

/** The answer's references as BibTeX, on the clipboard; shown for copying by hand if the browser refuses. @param {Turn} turn @param {HTMLButtonElement} button */
async function copyCitations(turn, button) {
  turn.root.querySelector('.copied')?.remove()
  const note = el('div', 'copied')
  try {
    const text = await exported([turn], 'bibtex')
    try {
      await navigator.clipboard.writeText(text)
      const entries = (text.match(/^@misc\{/gm) || []).length
      note.append(el('p', 'status', 'Copied ' + entries + (entries === 1 ? ' BibTeX entry.' : ' BibTeX entries.')))
    } catch {
      note.append(el('p', 'status', 'The browser did not allow copying; select the entries below.'), el('pre', 'bibtex', text))
    }
    button.dataset.state = 'done'
  } catch (error) {
    note.append(el('p', 'error', describeError(error)))
    button.dataset.state = 'error'
  }
  turn.root.append(note)
}

void loadIntro()
