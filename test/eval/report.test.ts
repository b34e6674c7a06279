import { existsSync } from 'node:fs'
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { chromium, type Browser } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { answerTables, formatAnswerReport, type AnswerReport } from '../../src/eval/answers.js'
import { evaluateRetrieval, formatTable, latencyStats, type EvalQuestion, type MetricRow, type RetrievalReport } from '../../src/eval/harness.js'
import { buildReportHtml, chartSpecs, checkReportPath, readChartJs, writeReport, type EvalReportData } from '../../src/eval/report.js'
import type { Retriever, SearchMode } from '../../src/retrieve/hybrid.js'
import { rejection } from '../helpers/assert.js'

const CHROMIUM = '/usr/bin/chromium'
const SCREENSHOT = fileURLToPath(new URL('../../test-artifacts/eval-report.png', import.meta.url))
const HOSTILE = '</script><script>window.pwned = 1</script><!--'
const FAKE_CHART_JS = '/* chart.js stand-in */'

const MODES: SearchMode[] = ['keyword', 'dense', 'hybrid']
const KINDS = ['paraphrase', 'method', 'multi', 'vocab-gap', 'search-box', 'own-words', 'all']

const stats = (p50: number, p95: number, n = 4): { p50: number; p95: number; max: number; n: number } => ({ p50, p95, max: p95 + 1, n })

/** A small report of every shape the page shows, with hostile text where questions and answers go. */
function synthetic(): EvalReportData {
  const table = {} as RetrievalReport['table']
  MODES.forEach((mode, m) => {
    table[mode] = Object.fromEntries(
      KINDS.map((kind, k): [string, MetricRow] => [kind, { recall5: 0.4 + 0.1 * m + 0.02 * k, recall10: 0.5 + 0.1 * m + 0.02 * k, mrr: 0.3 + 0.1 * m, ndcg10: 0.35 + 0.1 * m, n: 4 }]),
    )
  })
  table.hybrid['vocab-gap'] = { recall5: 0.364, recall10: 0.409, mrr: 0.14, ndcg10: 0.2, n: 22 }
  const retrieval: RetrievalReport = {
    table,
    perQuestion: [
      { id: 'q1', kind: 'paraphrase', mode: 'hybrid', ranked: ['a'], relevant: ['a'], rank: 1, ms: 1.5 },
      { id: 'q2', kind: 'vocab-gap', mode: 'hybrid', ranked: ['b'], relevant: ['c'], rank: null, ms: 2.5 },
    ],
    latency: { embedMs: stats(12.5, 30.25), byMode: { keyword: stats(0.4, 0.9), dense: stats(1.2, 2.8), hybrid: stats(1.9, 3.6) } },
  }
  const answers: AnswerReport = {
    model: 'offline-extractive',
    questions: 4,
    markersResolved: 1,
    markers: 7,
    quotesSupport: 0.96,
    citations: 25,
    wrongAbstentions: 0.5,
    answerable: 2,
    correctAbstentions: 0.5,
    unanswerable: 2,
    factsPresent: 0.447,
    facts: 38,
    citesExpected: 0.902,
    grounding: { answersWithUncitedSentences: 1, invalidMarkers: 2, reformattedMarkers: 3, truncated: 0, papersLeftOut: 0 },
    failed: [],
    byKind: {
      paraphrase: { questions: 1, abstained: 0, facts: 2, factsFound: 1 },
      'vocab-gap': { questions: 1, abstained: 1, facts: 2, factsFound: 0 },
      'near-miss': { questions: 1, abstained: 1, facts: 0, factsFound: 0 },
      [HOSTILE]: { questions: 1, abstained: 0, facts: 0, factsFound: 0 },
    },
    confusion: { answerable: { answered: 1, abstained: 1 }, unanswerable: { answered: 1, abstained: 1 } },
    latency: { embedMs: stats(11, 25), retrievalMs: stats(14, 31), generationMs: stats(3.5, 8), totalMs: stats(18, 40) },
    perQuestion: [
      { id: 'q1', kind: 'paraphrase', answerable: true, abstained: false, answer: 'LoRA freezes the weights [1].', cited: ['a'], factsFound: 1, factsTotal: 2, timings: { embedMs: 11, retrievalMs: 14, generationMs: 3, totalMs: 18 } },
      { id: 'q2', kind: 'vocab-gap', answerable: true, abstained: true, answer: 'No.', cited: [], factsFound: 0, factsTotal: 2, timings: { embedMs: 11, retrievalMs: 14, generationMs: 3, totalMs: 18 } },
      { id: 'q3', kind: 'near-miss', answerable: false, abstained: true, answer: 'No.', cited: [], factsFound: 0, factsTotal: 0, timings: { embedMs: 11, retrievalMs: 14, generationMs: 3, totalMs: 18 } },
      { id: 'q4', kind: 'off-topic', answerable: false, abstained: false, answer: `Answered anyway ${HOSTILE}`, cited: ['b'], factsFound: 0, factsTotal: 0, timings: { embedMs: 11, retrievalMs: 14, generationMs: 3, totalMs: 18 } },
    ],
  }
  return {
    meta: {
      split: 'test',
      questions: 4,
      questionSet: 'evals/questions.jsonl',
      embedder: 'use-lite universal-sentence-encoder-lite (512 dimensions)',
      answerModel: 'offline-extractive',
      date: '2026-05-04T10:20:30.000Z',
      corpus: { papers: 317, chunks: 1270 },
    },
    retrieval,
    answers,
    questions: [
      { id: 'q1', kind: 'paraphrase', question: 'How does LoRA reduce memory?' },
      { id: 'q2', kind: 'vocab-gap', question: `Which trick shrinks ${HOSTILE} adapters?` },
      { id: 'q3', kind: 'near-miss', question: 'What learning rate did LoRA use?' },
      { id: 'q4', kind: 'off-topic', question: 'How long to boil an egg?' },
    ],
  }
}

/** The chart data the page script reads, parsed back out of the HTML. */
function embeddedData(html: string): unknown {
  const match = /<script type="application\/json" id="report-data">([^<]*)<\/script>/.exec(html)
  expect(match).not.toBeNull()
  return JSON.parse(match?.[1] ?? 'null')
}

describe('buildReportHtml', () => {
  const data = synthetic()
  const html = buildReportHtml(data, { chartJs: FAKE_CHART_JS })

  it('heads the page with what was measured', () => {
    for (const [term, text] of [
      ['Split', 'test'],
      ['Questions', '4 (2 answerable scored for retrieval, 2 unanswerable) from evals/questions.jsonl'],
      ['Embedder', 'use-lite universal-sentence-encoder-lite (512 dimensions)'],
      ['Answer model', 'offline-extractive'],
      ['Corpus', '317 papers, 1270 chunks'],
      ['Date', '2026-05-04T10:20:30.000Z'],
    ]) {
      expect(html).toContain(`<dt>${term}</dt><dd>${text}</dd>`)
    }
  })

  it('holds the terminal tables, cell for cell', () => {
    expect(html).toContain('<tr><td>vocab-gap</td><td>22</td><td>hybrid</td><td>36.4 %</td><td>40.9 %</td><td>0.140</td><td>0.200</td></tr>')
    const { headline, byKind } = answerTables(data.answers as AnswerReport)
    for (const row of [...headline.rows, ...byKind.rows.slice(0, 3)]) expect(html).toContain(`<tr>${row.map((c) => `<td>${c}</td>`).join('')}</tr>`)
    expect(html).toContain('<td>expected key facts present in answers</td><td>44.7 %</td><td>38 facts</td>')
  })

  it('shows the abstention confusion matrix with counts and row shares', () => {
    expect(html).toContain('<tr><th scope="row">answerable</th><td class="ok" style="--share:0.500"><b>1</b> 50.0 %</td><td class="bad" style="--share:0.500"><b>1</b> 50.0 %</td><td>2</td></tr>')
  })

  it('embeds the chart data as JSON the page can parse back', () => {
    expect(embeddedData(html)).toEqual({ charts: chartSpecs(data) })
    const recall5 = chartSpecs(data).find((c) => c.id === 'recall5')
    expect(recall5?.labels).toEqual(KINDS)
    expect(recall5?.datasets.map((d) => d.label)).toEqual(MODES)
    expect(recall5?.datasets[2]?.data[3]).toBe(36.4)
    expect(chartSpecs(data).map((c) => c.id)).toEqual(['recall5', 'recall10', 'retrieval-latency', 'answers-by-kind', 'answer-latency'])
    expect(chartSpecs(data).find((c) => c.id === 'answer-latency')?.datasets).toEqual([
      { label: 'p50', color: '#76b7b2', data: [11, 14, 3.5, 18] },
      { label: 'p95', color: '#e15759', data: [25, 31, 8, 40] },
    ])
  })

  it('escapes hostile text in tables and in the embedded JSON', () => {
    expect(html).not.toContain('window.pwned = 1</script>')
    expect(html).not.toContain('<!--')
    // Chart.js stand-in, the data block and the page script: nothing else closes a script.
    expect(html.match(/<\/script>/g)).toHaveLength(3)
    expect(html).toContain('Which trick shrinks &#60;/script&#62;&#60;script&#62;window.pwned = 1&#60;/script&#62;&#60;!-- adapters?')
    expect(html).toContain('\\u003c/script\\u003e')
  })

  it('lists retrieval misses and abstention mistakes with their questions', () => {
    expect(html).toContain('<tr><td>q2</td><td>vocab-gap</td><td>not in top 10</td>')
    expect(html).toContain('<td>q4</td><td>off-topic</td><td>answered</td><td>How long to boil an egg?</td>')
    expect(html).not.toContain('<td>q1</td><td>paraphrase</td><td>answered</td>')
  })

  it('fetches nothing: inline script and style only, and a CSP that forbids requests', () => {
    expect(html).not.toMatch(/src=["']?https?:/i)
    expect(html).not.toMatch(/<link/i)
    expect(html).not.toMatch(/@import|url\(/i)
    expect(html).not.toMatch(/https?:\/\//)
    expect(html).toContain(`content="default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data:"`)
  })

  it('says answers were not measured when there are none', () => {
    const { answers: _, ...retrievalOnly } = data
    const page = buildReportHtml({ ...retrievalOnly, meta: { ...data.meta, answerModel: undefined } }, { chartJs: FAKE_CHART_JS })
    expect(page).toContain('<dd>not measured</dd>')
    expect(page).toContain('Not measured: run <code>askpapers eval --answers --report …</code>.')
    expect(chartSpecs(retrievalOnly).map((c) => c.id)).toEqual(['recall5', 'recall10', 'retrieval-latency'])
    expect(page).not.toContain('id="confusion"')
  })

  it('inlines the real Chart.js bundle without a closing script tag in it', async () => {
    const chartJs = await readChartJs()
    expect(chartJs).toContain('Chart.js v4')
    const page = buildReportHtml(data, { chartJs })
    expect(page.match(/<\/script>/g)).toHaveLength(3)
    expect(page).not.toMatch(/src=["']?https?:|<link[^>]+href=["']?https?:/i)
  })
})

describe('the terminal tables', () => {
  it('prints retrieval rows per kind and mode as before', () => {
    const report = synthetic().retrieval
    report.table = { hybrid: { method: { recall5: 1, recall10: 1, mrr: 1, ndcg10: 1, n: 20 }, all: { recall5: 0.896, recall10: 0.912, mrr: 0.8341, ndcg10: 0.85, n: 178 } } } as unknown as RetrievalReport['table']
    expect(formatTable(report)).toBe(
      ['| kind | n | mode | Recall@5 | Recall@10 | MRR | nDCG@10 |', '|---|---|---|---|---|---|---|', '| method | 20 | hybrid | 100.0 % | 100.0 % | 1.000 | 1.000 |', '| all | 178 | hybrid | 89.6 % | 91.2 % | 0.834 | 0.850 |'].join('\n'),
    )
  })

  it('prints the answer measures and the per-kind rows', () => {
    const text = formatAnswerReport(synthetic().answers as AnswerReport)
    expect(text.split('\n').slice(0, 3)).toEqual(['| measure | value | over |', '|---|---|---|', '| [n] markers that resolve to a listed reference | 100.0 % | 7 markers |'])
    expect(text).toContain('\n\n| kind | questions | abstained | key facts present |\n|---|---|---|---|\n| paraphrase | 1 | 0.0 % (0) | 50.0 % (1 / 2) |')
    expect(text).toContain('| near-miss | 1 | 100.0 % (1) | – |')
    expect(text).toContain('| answers with a claim that cites nothing | 1 | of 2 answers given |\n| citations to no paper in the prompt (removed) | 2 | markers |')
    expect(text).toContain('| citations in another format (rewritten to [n]) | 3 | markers |')
    expect(text).not.toContain('timed out')
  })
})

describe('latency', () => {
  it.each([
    { samples: [], expected: { p50: 0, p95: 0, max: 0, n: 0 } },
    { samples: [7], expected: { p50: 7, p95: 7, max: 7, n: 1 } },
    { samples: [4, 1, 3, 2], expected: { p50: 2, p95: 4, max: 4, n: 4 } },
    { samples: Array.from({ length: 100 }, (_, i) => 100 - i), expected: { p50: 50, p95: 95, max: 100, n: 100 } },
    { samples: [1.234567, 2.345678], expected: { p50: 1.23, p95: 2.35, max: 2.35, n: 2 } },
  ])('nearest-rank percentiles of $samples.length samples', ({ samples, expected }) => {
    expect(latencyStats(samples)).toEqual(expected)
  })

  it('evaluateRetrieval times the embedding once per query and the ranking per mode, on the given clock', async () => {
    let clock = 0
    const retriever = { rank: (_q: string, _v: unknown, _k: number, mode: SearchMode) => ((clock += mode === 'keyword' ? 1 : 3), [{ id: 'p1' }]) } as unknown as Retriever
    const embed = async (): Promise<number[]> => ((clock += 10), [1])
    const questions = [1, 2].map((i): EvalQuestion => ({ id: `q${i}`, kind: 'method', question: `q${i}?`, expected: ['P1'], facts: [], split: 'dev' }))
    const report = await evaluateRetrieval(retriever, embed, questions, new Map([['q1', ['p1']], ['q2', ['p1']]]), { modes: ['keyword', 'hybrid'], now: () => clock })
    expect(report.latency).toEqual({ embedMs: { p50: 10, p95: 10, max: 10, n: 2 }, byMode: { keyword: { p50: 1, p95: 1, max: 1, n: 2 }, hybrid: { p50: 3, p95: 3, max: 3, n: 2 } } })
    expect(report.perQuestion.map((q) => [q.id, q.mode, q.ms])).toEqual([['q1', 'keyword', 1], ['q1', 'hybrid', 3], ['q2', 'keyword', 1], ['q2', 'hybrid', 3]])
    expect(report.table.hybrid.all?.recall5).toBe(1)
  })
})

describe('writing the report', () => {
  let dir: string
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'askpapers-report-'))
  })
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true })
  })

  it('rejects a missing directory with BAD_INPUT naming the path, before any eval runs', async () => {
    const file = join(dir, 'missing', 'report.html')
    const error = await rejection(checkReportPath(file))
    expect(error.code).toBe('BAD_INPUT')
    expect(error.message).toContain(file)
  })

  it('rejects a path that is a directory', async () => {
    const error = await rejection(checkReportPath(dir))
    expect(error.message).toBe(`Cannot write the report to ${dir}: it is a directory.`)
  })

  it('turns a failed write into BAD_INPUT naming the path', async () => {
    const file = join(dir, 'gone', 'report.html')
    const error = await rejection(writeReport(file, synthetic(), { chartJs: FAKE_CHART_JS }))
    expect(error.code).toBe('BAD_INPUT')
    expect(error.message).toBe(`Cannot write the report to ${file} (ENOENT).`)
  })

  it('writes the page', async () => {
    const file = join(dir, 'report.html')
    await checkReportPath(file)
    await writeReport(file, synthetic(), { chartJs: FAKE_CHART_JS })
    expect(await readFile(file, 'utf8')).toBe(buildReportHtml(synthetic(), { chartJs: FAKE_CHART_JS }))
  })
})

// What a person opening the file sees: headless Debian Chromium with every request refused and recorded.
describe('the report in a browser', () => {
  let browser: Browser
  let dir: string
  beforeAll(async () => {
    if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: apt-get install -y chromium`)
    dir = await mkdtemp(join(tmpdir(), 'askpapers-report-browser-'))
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--disable-background-networking'] })
  })
  afterAll(async () => {
    await browser?.close()
    if (dir) await rm(dir, { recursive: true, force: true })
  })

  it('draws every chart from the inlined Chart.js without a single request', async () => {
    const file = join(dir, 'report.html')
    await writeFile(file, buildReportHtml(synthetic(), { chartJs: await readChartJs() }))
    const url = pathToFileURL(file).href
    const context = await browser.newContext({ viewport: { width: 1200, height: 900 } })
    const requests: string[] = []
    const problems: string[] = []
    await context.route(/^(?!file:)/, async (route) => {
      requests.push(route.request().url())
      await route.abort()
    })
    const page = await context.newPage()
    page.on('request', (request) => {
      if (request.url() !== url) requests.push(request.url())
    })
    page.on('console', (message) => {
      if (message.type() === 'error' || message.type() === 'warning') problems.push(message.text())
    })
    page.on('pageerror', (error) => problems.push(error.message))

    await page.goto(url)
    await page.waitForFunction('document.documentElement.dataset.rendered === "true" || document.documentElement.dataset.renderError !== undefined')
    expect(await page.evaluate('document.documentElement.dataset.renderError ?? null')).toBeNull()

    // Each canvas: painted, and every dataset's colour present as bar pixels.
    const canvases = (await page.evaluate(CANVAS_PROBE)) as { id: string; painted: number; size: number; colours: number[]; datasets: number; dataUrl: number }[]
    expect(canvases.map((c) => c.id)).toEqual(['chart-recall5', 'chart-recall10', 'chart-answers-by-kind', 'chart-retrieval-latency', 'chart-answer-latency'])
    for (const c of canvases) {
      expect(c.painted / c.size, c.id).toBeGreaterThan(0.02)
      expect(c.colours, c.id).toHaveLength(c.datasets)
      for (const pixels of c.colours) expect(pixels, c.id).toBeGreaterThan(100)
      expect(c.dataUrl, c.id).toBeGreaterThan(5000)
    }
    expect(await page.evaluate('window.pwned ?? null')).toBeNull()
    expect(await page.locator('#retrieval-table tbody tr').count()).toBe(21)
    expect(await page.locator('#confusion tbody tr').count()).toBe(2)

    await mkdir(join(SCREENSHOT, '..'), { recursive: true })
    await page.screenshot({ path: SCREENSHOT, fullPage: true })
    expect(requests).toEqual([])
    expect(problems).toEqual([])
    await context.close()
  })
})

// Runs in the page; a string, since the test compiles without DOM types.
const CANVAS_PROBE = `[...document.querySelectorAll('canvas')].map((canvas) => {
  const chart = Chart.getChart(canvas)
  const { data } = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height)
  const rgb = chart.data.datasets.map((d) => [1, 3, 5].map((i) => parseInt(d.backgroundColor.slice(i, i + 2), 16)))
  const colours = rgb.map(() => 0)
  let painted = 0
  for (let i = 0; i < data.length; i += 4) {
    if (data[i + 3] === 0) continue
    painted++
    rgb.forEach(([r, g, b], j) => { if (data[i] === r && data[i + 1] === g && data[i + 2] === b && data[i + 3] === 255) colours[j]++ })
  }
  return { id: canvas.id, painted, size: canvas.width * canvas.height, colours, datasets: chart.data.datasets.length, dataUrl: canvas.toDataURL().length }
})`
