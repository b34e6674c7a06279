import { constants } from 'node:fs'
import { access, readFile, stat, writeFile } from 'node:fs/promises'
import { createRequire } from 'node:module'
import { dirname, join, resolve } from 'node:path'
import { AppError } from '../errors.js'
import type { SearchMode } from '../retrieve/index.js'
import { answerTables, type AnswerReport } from './answers.js'
import { percent, QUESTION_KINDS, retrievalTable, UNANSWERABLE_KINDS, type EvalQuestion, type LatencyStats, type RetrievalReport, type TextTable } from './harness.js'

// `askpapers eval --report FILE.html`: one page that opens from disk with no network at all. Chart.js
// is inlined from node_modules and a CSP forbids every fetch, so a committed report renders the same
// years later. Tables are HTML-escaped at build time; chart data travels as JSON with `<` escaped.

/** What was measured, for the page header. */
export interface ReportMeta {
  split: string
  questions: number
  /** The question file as the user named it. */
  questionSet: string
  embedder: string
  /** Absent when answers were not measured. */
  answerModel?: string | undefined
  /** ISO 8601. */
  date: string
  corpus: { papers: number; chunks: number }
}

export interface EvalReportData {
  meta: ReportMeta
  retrieval: RetrievalReport
  answers?: AnswerReport | undefined
  /** Question texts, for the lists of misses. */
  questions?: Pick<EvalQuestion, 'id' | 'kind' | 'question'>[]
}

/** One bar chart as the page script draws it; values are percentages (0–100) or milliseconds. */
export interface ChartSpec {
  id: string
  title: string
  unit: '%' | 'ms'
  labels: string[]
  datasets: { label: string; color: string; data: (number | null)[] }[]
}

const MODE_COLORS: Record<SearchMode, string> = { keyword: '#4e79a7', dense: '#f28e2b', hybrid: '#59a14f' }
const P50_COLOR = '#76b7b2'
const P95_COLOR = '#e15759'

/** Pure: the report data (and Chart.js's source) in, the whole page out. */
export function buildReportHtml(data: EvalReportData, { chartJs }: { chartJs: string }): string {
  const charts = chartSpecs(data)
  const chart = (id: string, note = ''): string => chartFigure(charts, id, note)
  const { meta, answers } = data
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data:">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>askpapers eval: ${esc(meta.split)}, ${meta.questions} questions</title>
<style>${STYLE}</style>
</head>
<body>
<main>
<header>
<h1>askpapers eval report</h1>
${headerList(meta, data.retrieval, answers)}
</header>

<section id="retrieval">
<h2>Retrieval</h2>
<p class="note">Answerable questions only; the unanswerable kinds (${esc(UNANSWERABLE_KINDS.join(', '))}) are scored by abstention below.</p>
<div class="charts">${chart('recall5')}${chart('recall10')}</div>
${htmlTable(retrievalTable(data.retrieval), 'retrieval-table')}
${retrievalMisses(data)}
</section>

<section id="answers">
<h2>Answers</h2>
${answers ? answersSection(answers, data, charts) : '<p class="note">Not measured: run <code>askpapers eval --answers --report …</code>.</p>'}
</section>

<section id="latency">
<h2>Latency</h2>
<div class="charts">${chart('retrieval-latency', 'per query')}${chart('answer-latency', 'per question')}</div>
${latencyTables(data)}
${answers ? '<p class="note">Answers are measured after retrieval, on the same questions: an embedder that caches query vectors (USE-lite keeps an LRU cache) serves the answerable ones from that cache, so answer embed times are mostly cache hits.</p>' : ''}
</section>
</main>
<script type="application/json" id="report-data">${jsonForScript({ charts })}</script>
<script>${scriptSafe(chartJs)}</script>
<script>${PAGE_SCRIPT}</script>
</body>
</html>
`
}

/** The Chart.js UMD bundle from node_modules (its package exports omit it, so resolve beside the main entry). */
export async function readChartJs(): Promise<string> {
  const main = createRequire(import.meta.url).resolve('chart.js')
  return readFile(join(dirname(main), 'chart.umd.js'), 'utf8')
}

/** Fails before a long eval run when the report could not be written afterwards. */
export async function checkReportPath(file: string): Promise<void> {
  const dir = dirname(resolve(file))
  try {
    await access(dir, constants.W_OK)
  } catch (error) {
    throw new AppError('BAD_INPUT', `Cannot write the report to ${file}: the directory ${dir} does not exist or is not writable.`, { cause: error, field: 'report' })
  }
  const existing = await stat(file).catch(() => undefined)
  if (existing?.isDirectory()) throw new AppError('BAD_INPUT', `Cannot write the report to ${file}: it is a directory.`, { field: 'report' })
}

export async function writeReport(file: string, data: EvalReportData, { chartJs }: { chartJs?: string } = {}): Promise<void> {
  const html = buildReportHtml(data, { chartJs: chartJs ?? (await readChartJs()) })
  try {
    await writeFile(file, html)
  } catch (error) {
    throw new AppError('BAD_INPUT', `Cannot write the report to ${file} (${(error as NodeJS.ErrnoException).code ?? (error as Error).message}).`, { cause: error, field: 'report' })
  }
}

export function chartSpecs({ retrieval, answers }: EvalReportData): ChartSpec[] {
  const modes = Object.keys(retrieval.table) as SearchMode[]
  const kinds = [...QUESTION_KINDS.filter((k) => modes.some((m) => retrieval.table[m][k])), 'all']
  const recall = (k: 'recall5' | 'recall10', title: string): ChartSpec => ({
    id: k,
    title,
    unit: '%',
    labels: kinds,
    datasets: modes.map((mode) => ({ label: mode, color: MODE_COLORS[mode], data: kinds.map((kind) => pct(retrieval.table[mode][kind]?.[k])) })),
  })
  const latency = (id: string, title: string, stages: [string, LatencyStats | undefined][]): ChartSpec => ({
    id,
    title,
    unit: 'ms',
    labels: stages.map(([label]) => label),
    datasets: [
      { label: 'p50', color: P50_COLOR, data: stages.map(([, s]) => s?.p50 ?? null) },
      { label: 'p95', color: P95_COLOR, data: stages.map(([, s]) => s?.p95 ?? null) },
    ],
  })
  const specs = [
    recall('recall5', 'Recall@5 by question kind and mode'),
    recall('recall10', 'Recall@10 by question kind and mode'),
    latency('retrieval-latency', 'Retrieval latency, ms', retrievalStages(retrieval)),
  ]
  if (!answers) return specs
  const byKind = Object.entries(answers.byKind)
  specs.push(
    {
      id: 'answers-by-kind',
      title: 'Abstentions and key facts by question kind',
      unit: '%',
      labels: byKind.map(([kind]) => (UNANSWERABLE_KINDS.includes(kind) ? `${kind} †` : kind)),
      datasets: [
        { label: 'abstained', color: '#9c755f', data: byKind.map(([, k]) => pct(k.abstained / k.questions)) },
        { label: 'key facts present', color: '#4e79a7', data: byKind.map(([, k]) => (k.facts ? pct(k.factsFound / k.facts) : null)) },
      ],
    },
    latency('answer-latency', 'Answer latency by stage, ms', answerStages(answers)),
  )
  return specs
}

function retrievalStages({ latency }: RetrievalReport): [string, LatencyStats | undefined][] {
  const modes = Object.keys(latency.byMode) as SearchMode[]
  return [['embed query', latency.embedMs], ...modes.map((m): [string, LatencyStats | undefined] => [`rank: ${m}`, latency.byMode[m]])]
}

function answerStages({ latency }: AnswerReport): [string, LatencyStats][] {
  return [
    ['embed', latency.embedMs],
    ['retrieval (incl. embed)', latency.retrievalMs],
    ['generation', latency.generationMs],
    ['total', latency.totalMs],
  ]
}

function headerList(meta: ReportMeta, retrieval: RetrievalReport, answers: AnswerReport | undefined): string {
  const answerable = new Set(retrieval.perQuestion.map((q) => q.id)).size
  const items: [string, string][] = [
    ['Split', meta.split],
    ['Questions', `${meta.questions} (${answerable} answerable scored for retrieval${answers ? `, ${answers.unanswerable} unanswerable` : ''}) from ${meta.questionSet}`],
    ['Embedder', meta.embedder],
    ['Answer model', meta.answerModel ?? 'not measured'],
    ['Corpus', `${meta.corpus.papers} papers, ${meta.corpus.chunks} chunks`],
    ['Date', meta.date],
  ]
  return `<dl class="meta">${items.map(([k, v]) => `<div><dt>${esc(k)}</dt><dd>${esc(v)}</dd></div>`).join('')}</dl>`
}

function chartFigure(charts: ChartSpec[], id: string, note = ''): string {
  const spec = charts.find((c) => c.id === id)
  if (!spec) return ''
  const caption = `${esc(spec.title)}${note ? ` <span>${esc(note)}</span>` : ''}`
  return `<figure><figcaption>${caption}</figcaption><div class="plot"><canvas id="chart-${spec.id}" role="img" aria-label="${esc(spec.title)}"></canvas></div></figure>`
}

function answersSection(answers: AnswerReport, data: EvalReportData, charts: ChartSpec[]): string {
  const { headline, byKind } = answerTables(answers)
  const cards: [string, number, string][] = [
    ['unanswerable questions abstained', answers.correctAbstentions, `${answers.confusion.unanswerable.abstained} / ${answers.unanswerable}`],
    ['answerable questions wrongly abstained', answers.wrongAbstentions, `${answers.confusion.answerable.abstained} / ${answers.answerable}`],
    ['answers citing an expected paper', answers.citesExpected, 'of answered questions'],
    ['key facts present', answers.factsPresent, `of ${answers.facts} facts`],
    ['cited sentences supported by their quote', answers.quotesSupport, `${answers.citations} citations`],
  ]
  return `<div class="cards">${cards.map(([label, value, over]) => `<div class="card"><b>${esc(percent(value))}</b><span>${esc(label)}</span><small>${esc(over)}</small></div>`).join('')}</div>
${htmlTable(headline, 'answers-table')}
<div class="charts">${confusionMatrix(answers)}${chartFigure(charts, 'answers-by-kind', '† unanswerable kinds: abstaining is right')}</div>
${htmlTable(byKind, 'answers-by-kind-table')}
${abstentionMisses(answers, data)}`
}

function confusionMatrix({ confusion }: AnswerReport): string {
  const row = (label: string, c: { answered: number; abstained: number }, right: 'answered' | 'abstained'): string => {
    const total = c.answered + c.abstained
    const cell = (key: 'answered' | 'abstained'): string => {
      const share = total ? c[key] / total : 0
      return `<td class="${key === right ? 'ok' : 'bad'}" style="--share:${share.toFixed(3)}"><b>${c[key]}</b> ${esc(percent(share))}</td>`
    }
    return `<tr><th scope="row">${esc(label)}</th>${cell('answered')}${cell('abstained')}<td>${total}</td></tr>`
  }
  return `<figure><figcaption>Abstention confusion matrix <span>count, share of the row</span></figcaption>
<table class="confusion" id="confusion"><thead><tr><th></th><th scope="col">answered</th><th scope="col">abstained</th><th scope="col">total</th></tr></thead>
<tbody>${row('answerable', confusion.answerable, 'answered')}${row('unanswerable', confusion.unanswerable, 'abstained')}</tbody></table></figure>`
}

function latencyTables({ retrieval, answers }: EvalReportData): string {
  const rows = (stages: [string, LatencyStats | undefined][]): string[][] =>
    stages.flatMap(([label, s]) => (s ? [[label, ms(s.p50), ms(s.p95), ms(s.max), String(s.n)]] : []))
  const header = ['stage', 'p50', 'p95', 'max', 'n']
  const tables = [htmlTable({ header, rows: rows(retrievalStages(retrieval)) }, 'retrieval-latency-table', 'Retrieval, per query')]
  if (answers) {
    tables.push(htmlTable({ header, rows: rows(answerStages(answers)) }, 'answer-latency-table', 'Answers, per question (the answerer’s own timings)'))
  }
  return `<div class="charts">${tables.join('')}</div>`
}

function retrievalMisses({ retrieval, questions = [] }: EvalReportData): string {
  const modes = Object.keys(retrieval.table) as SearchMode[]
  const mode = modes.includes('hybrid') ? 'hybrid' : modes.at(-1)
  const text = new Map(questions.map((q) => [q.id, q.question]))
  const misses = retrieval.perQuestion.filter((q) => q.mode === mode && (q.rank === null || q.rank > 5))
  if (!mode || misses.length === 0) return ''
  const rows = misses.map((q) => [q.id, q.kind, q.rank === null ? 'not in top 10' : String(q.rank), text.get(q.id) ?? ''])
  return `<details><summary>${plural(misses.length, 'question')} without an expected paper in the ${esc(mode)} top 5</summary>${htmlTable({ header: ['id', 'kind', 'first hit', 'question'], rows }, 'retrieval-misses')}</details>`
}

function abstentionMisses(answers: AnswerReport, { questions = [] }: EvalReportData): string {
  const text = new Map(questions.map((q) => [q.id, q.question]))
  const wrong = answers.perQuestion.filter((q) => q.answerable === q.abstained)
  if (wrong.length === 0) return ''
  const rows = wrong.map((q) => [q.id, q.kind, q.abstained ? 'abstained' : 'answered', text.get(q.id) ?? '', q.abstained ? '' : q.answer])
  return `<details><summary>${plural(wrong.length, 'question')} answered that should have been abstained on, or the reverse</summary>${htmlTable({ header: ['id', 'kind', 'outcome', 'question', 'answer'], rows }, 'abstention-misses')}</details>`
}

function htmlTable({ header, rows }: TextTable, id: string, caption = ''): string {
  return `<table id="${id}">${caption ? `<caption>${esc(caption)}</caption>` : ''}<thead><tr>${header.map((h) => `<th scope="col">${esc(h)}</th>`).join('')}</tr></thead><tbody>${rows
    .map((r) => `<tr>${r.map((c) => `<td>${esc(c)}</td>`).join('')}</tr>`)
    .join('')}</tbody></table>`
}

const pct = (x: number | undefined): number | null => (x === undefined ? null : Math.round(x * 1000) / 10)
const ms = (x: number): string => `${x.toFixed(x < 10 ? 2 : x < 100 ? 1 : 0)} ms`
const plural = (n: number, noun: string): string => `${n} ${noun}${n === 1 ? '' : 's'}`

export function esc(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`)
}

/** JSON that cannot end its <script> element or open a comment in it: every `<`, `>` and `&` as a \u escape. */
export function jsonForScript(value: unknown): string {
  return JSON.stringify(value).replace(/[<>&\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`)
}

/** Inlined library code: `<\/script` means the same to JavaScript and cannot close the element. */
const scriptSafe = (code: string): string => code.replace(/<\/(script)/gi, '<\\/$1').replace(/<!--/g, '<\\!--')

const STYLE = `
:root { --fg: #1d2330; --muted: #5d6678; --line: #d9dde5; --bg: #f7f8fa; --card: #fff; --ok: 89, 161, 79; --bad: 225, 87, 89; }
* { box-sizing: border-box; }
body { margin: 0; background: var(--bg); color: var(--fg); font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; }
main { max-width: 1100px; margin: 0 auto; padding: 24px 16px 64px; }
h1 { font-size: 1.5rem; margin: 0 0 8px; }
h2 { font-size: 1.2rem; margin: 32px 0 8px; border-bottom: 1px solid var(--line); padding-bottom: 4px; }
.meta { display: flex; flex-wrap: wrap; gap: 6px 24px; margin: 0; }
.meta div { display: flex; gap: 6px; } .meta dt { color: var(--muted); } .meta dd { margin: 0; font-weight: 600; }
.note, figcaption span, caption { color: var(--muted); font-size: .9rem; }
.charts { display: grid; grid-template-columns: repeat(auto-fit, minmax(420px, 1fr)); gap: 16px; align-items: start; }
figure { margin: 0; background: var(--card); border: 1px solid var(--line); border-radius: 8px; padding: 12px; }
figcaption { font-weight: 600; margin-bottom: 8px; }
.plot { position: relative; height: 300px; }
table { border-collapse: collapse; margin: 12px 0; background: var(--card); font-size: .9rem; font-variant-numeric: tabular-nums; }
caption { text-align: left; padding: 4px 0; }
th, td { border: 1px solid var(--line); padding: 4px 8px; text-align: left; vertical-align: top; }
thead th { background: #eef0f4; }
.confusion td { text-align: right; min-width: 110px; }
.confusion td.ok { background: rgba(var(--ok), calc(var(--share) * .45)); }
.confusion td.bad { background: rgba(var(--bad), calc(var(--share) * .45)); }
.cards { display: flex; flex-wrap: wrap; gap: 12px; margin: 12px 0; }
.card { background: var(--card); border: 1px solid var(--line); border-radius: 8px; padding: 10px 14px; min-width: 180px; display: flex; flex-direction: column; }
.card b { font-size: 1.6rem; } .card small { color: var(--muted); }
details { margin: 8px 0; } summary { cursor: pointer; color: var(--muted); }
`

// Sets data-rendered on <html> once every chart has drawn (tests and screenshots wait on it), or
// data-render-error with the reason.
const PAGE_SCRIPT = `
'use strict'
const root = document.documentElement
try {
  const { charts } = JSON.parse(document.getElementById('report-data').textContent)
  if (typeof Chart === 'undefined') throw new Error('Chart.js did not load')
  const drawn = new Set()
  const signal = { id: 'report-rendered', afterRender(chart) { drawn.add(chart.id); if (drawn.size === charts.length) root.dataset.rendered = 'true' } }
  const format = (value, unit) => (value === null ? '–' : unit === '%' ? value.toFixed(1) + ' %' : value.toFixed(value < 10 ? 2 : value < 100 ? 1 : 0) + ' ms')
  for (const spec of charts) {
    new Chart(document.getElementById('chart-' + spec.id), {
      type: 'bar',
      data: { labels: spec.labels, datasets: spec.datasets.map((d) => ({ label: d.label, data: d.data, backgroundColor: d.color, borderColor: d.color })) },
      options: {
        animation: false,
        responsive: true,
        maintainAspectRatio: false,
        scales: { y: { beginAtZero: true, max: spec.unit === '%' ? 100 : undefined, title: { display: true, text: spec.unit } } },
        plugins: { tooltip: { callbacks: { label: (ctx) => ctx.dataset.label + ': ' + format(ctx.parsed.y, spec.unit) } } },
      },
      plugins: [signal],
    })
  }
  if (charts.length === 0) root.dataset.rendered = 'true'
} catch (error) {
  root.dataset.renderError = String(error && error.message || error)
}
`
