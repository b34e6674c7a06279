import { createHash } from 'node:crypto'
import { readFileSync } from 'node:fs'

// The page at GET /: one HTML document with inline CSS and JS, no dependencies, under a CSP that
// runs only its own script and style (by hash). The script lives in ./page/ (see SCRIPT).

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
header nav { display: flex; gap: 14px; }
.linkish:disabled { color: var(--muted); cursor: default; text-decoration: none; }
.cite-run { white-space: nowrap; }
.refs .title { background: none; border: 0; padding: 0; color: var(--fg); text-align: left; text-decoration: underline; text-decoration-color: var(--line); text-underline-offset: 3px; }
.refs .title:hover { text-decoration-color: var(--accent); }
.refs .num { background: none; border: 0; padding: 0; }
.refs .facts { display: block; color: var(--muted); font-size: .82rem; margin: 2px 0 0 28px; }
.refs .facts a, #panel a { color: var(--accent); }
.copy { font-size: .8rem; }
.copied pre { white-space: pre-wrap; font-size: .78rem; background: var(--bg); border: 1px solid var(--line); border-radius: 6px; padding: 8px; user-select: all; }
#intro { margin-top: 20px; background: var(--card); border: 1px solid var(--line); border-radius: 10px; padding: 14px 16px; }
#intro p { margin: 0 0 6px; }
#corpus { font-weight: 600; }
#examples { list-style: none; padding: 0; margin: 8px 0 0; display: flex; flex-direction: column; gap: 6px; }
.example { background: var(--accent-bg); color: var(--accent); border: 1px solid var(--accent); border-radius: 8px; padding: 6px 10px; text-align: left; }
#panel { position: fixed; top: 0; right: 0; bottom: 0; width: min(460px, 100vw); overflow-y: auto; z-index: 10; background: var(--card); border-left: 1px solid var(--line); box-shadow: -6px 0 18px rgba(0,0,0,.12); padding: 16px 18px 24px; }
#panel h2 { font-size: 1.1rem; margin: 0; }
#panel h3 { font-size: .95rem; margin: 14px 0 0; }
#panel .byline { color: var(--muted); margin: 6px 0 0; font-size: .9rem; }
.panel-head { display: flex; gap: 12px; align-items: flex-start; justify-content: space-between; }
#panel-abstract p { margin: 6px 0 0; }
mark { background: #fff1a8; color: #1d2330; border-radius: 3px; padding: 0 1px; }
#settings { max-width: 780px; margin: 6px auto 0; font-size: .85rem; color: var(--muted); }
#settings summary { cursor: pointer; }
#settings label { display: inline-flex; gap: 6px; align-items: center; margin: 6px 14px 0 0; }
#settings input { font: inherit; width: 6.5em; padding: 2px 6px; border: 1px solid var(--line); border-radius: 5px; background: var(--card); color: var(--fg); }
#settings #source { width: 14em; }
`

/**
 * The page's script: ./page/sse.js (the event-stream reader) and ./page/app.js, plain browser
 * scripts type-checked by tsc (tsconfig.page.json, which also copies them into dist/), inlined in
 * one function scope so nothing leaks into the page's globals.
 */
const SCRIPT = `(() => {\n${['sse.js', 'app.js'].map((file) => readFileSync(new URL(`./page/${file}`, import.meta.url), 'utf8')).join('\n')}\n})()\n`

const BODY = `
<main>
  <header>
    <h1>askpapers<span>cited answers from research-paper abstracts</span></h1>
    <nav>
      <button type="button" id="export" class="linkish" disabled title="The questions, answers and references of this conversation, as a Markdown file">Export as Markdown</button>
      <button type="button" id="new" class="linkish">New conversation</button>
    </nav>
  </header>
  <div id="keyrow" hidden>
    <label for="apikey">API key</label>
    <input id="apikey" type="password" autocomplete="off" placeholder="kept for this tab only">
  </div>
  <section id="intro" data-state="loading" aria-label="About this collection">
    <p id="corpus">Loading what is indexed…</p>
    <p id="answerer"></p>
    <p id="examples-label" class="status" hidden>Questions these papers answer:</p>
    <ul id="examples"></ul>
  </section>
  <div id="log" aria-live="polite"></div>
</main>
<aside id="panel" hidden data-state="closed" aria-labelledby="panel-title">
  <div class="panel-head">
    <h2 id="panel-title"></h2>
    <button type="button" id="panel-close" class="linkish">Close</button>
  </div>
  <p id="panel-authors" class="byline"></p>
  <p id="panel-year" class="byline"></p>
  <p id="panel-link" class="byline"></p>
  <h3>Abstract <span class="hint">(what the answer quotes is marked)</span></h3>
  <div id="panel-abstract"></div>
</aside>
<form id="ask">
  <div>
    <textarea id="question" rows="2" maxlength="4000" placeholder="Ask about the papers, e.g. How does LoRA reduce the memory needed for fine-tuning?" autofocus></textarea>
    <button id="send" type="submit">Ask</button>
  </div>
  <details id="settings">
    <summary>Papers and filters</summary>
    <label>Papers to read <input id="k" type="number" min="1" step="1" placeholder="5" inputmode="numeric"></label>
    <label>Years <input id="year-from" type="number" min="1900" max="2100" placeholder="from" inputmode="numeric"> to <input id="year-to" type="number" min="1900" max="2100" placeholder="to" inputmode="numeric"></label>
    <label>Source file <input id="source" type="text" placeholder="e.g. papers.jsonl" autocomplete="off"></label>
  </details>
  <p class="hint">Enter to ask, Shift+Enter for a new line. Follow-up questions keep the conversation; click a [number] for the quote, a title for the paper. <span id="settings-note"></span></p>
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

export function renderPage({ needsKey = false, maxK = 20 }: { needsKey?: boolean; maxK?: number } = {}): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>askpapers</title>
<link rel="icon" href="data:,">
<style>${STYLE}</style>
</head>
<body data-needs-key="${needsKey ? 'true' : 'false'}" data-max-k="${maxK}" data-state="loading">${BODY}<script>${SCRIPT}</script>
</body>
</html>
`
}
