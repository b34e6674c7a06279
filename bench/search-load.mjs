// Unique-question search throughput of `askpapers serve`: every request asks a question not asked
// before (generated from the seed titles and abstracts), so each one misses the query cache and
// costs a query embedding. bench/load.mjs repeats 100 questions, which the cache mostly answers.
// Needs a built dist/ and an index built beforehand:
//
//   npx askpapers ingest --data-dir /tmp/ap-load
//   node bench/search-load.mjs /tmp/ap-load [--duration 10] [--connections 10] [--lone 5]
//   node bench/search-load.mjs /tmp/ap-load --variant before=/tmp/old-checkout --variant after=. --rounds 2
//
// Each variant is a checkout (bin/ and a built dist/) whose server and embedder are measured;
// with several, rounds alternate them (A B A B) so drifting machine load hits all alike, and the
// figures compared are from the same run. Per variant and round, in this order:
// - `embedQuery`: that checkout's USE-lite embedder in this process, one unique question at a time
//   (a lone query's latency), while an ingest-sized embedDocuments keeps both workers busy, and
//   from `connections` concurrent callers for 3 s (queries/s without HTTP or ranking);
// - `lone`: GET /v1/search over 1 connection (the latency of a search nobody else is waiting on);
// - `load`: GET /v1/search over `connections` connections for `duration` seconds.
// Prints the figures and writes them to bench/results/search-load.json. Numbers, not assertions.
import { mkdirSync, writeFileSync } from 'node:fs'
import { cpus, loadavg } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { parseArgs } from 'node:util'
import autocannon from 'autocannon'
import { startServer, threadCpuMs } from './_serve.mjs'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    duration: { type: 'string', default: '10' },
    connections: { type: 'string', default: '10' },
    lone: { type: 'string', default: '5' },
    rounds: { type: 'string', default: '1' },
    variant: { type: 'string', multiple: true, default: [] },
  },
})
const dataDir = positionals[0]
if (!dataDir) {
  process.stderr.write('usage: node bench/search-load.mjs <data-dir> [--duration 10] [--connections 10] [--lone 5] [--rounds 1] [--variant name=checkout]...\n')
  process.exit(2)
}
const duration = Number(values.duration)
const connections = Number(values.connections)
const loneSeconds = Number(values.lone)
const rounds = Number(values.rounds)
const variants = (values.variant.length > 0 ? values.variant : [`current=${root}`]).map((spec) => {
  const at = spec.indexOf('=')
  return at < 0 ? { name: spec, root: resolve(spec) } : { name: spec.slice(0, at), root: resolve(spec.slice(at + 1)) }
})

const { defaultSeedDir, loadPapers } = await import('../dist/corpus/index.js')
const { searchableWordsProblem } = await import('../dist/config.js')
const { papers } = await loadPapers([defaultSeedDir()])

const round = (x, digits = 1) => Math.round(x * 10 ** digits) / 10 ** digits
const pct = (xs, p) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))]
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b)
  const mid = Math.floor(s.length / 2)
  return round(s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2)
}

const results = {
  date: new Date().toISOString(),
  node: process.version,
  cpus: cpus().length,
  cpu: cpus()[0]?.model,
  loadAverageAtStart: round(loadavg()[0], 2),
  setup: { connections, durationSeconds: duration, loneSeconds, rounds, papers: papers.length, variants, questions: 'unique per request within a server process, generated from seed titles and abstracts' },
  runs: [],
}

for (let r = 0; r < rounds; r++) {
  for (const variant of variants) {
    // The same question sequence for every variant and round: each server process starts cold.
    const questions = uniqueQuestions(papers, 1)
    const run = { variant: variant.name, round: r, loadAverageBefore: round(loadavg()[0], 2) }
    run.embedQuery = await measureEmbedder(variant.root, questions)
    const server = await startServer(variant.root, resolve(dataDir))
    try {
      // Warm-up, not measured: distinct questions that the measured ones never repeat.
      for (let n = 0; n < 10; n++) await (await fetch(`${server.url}/v1/search?q=${encodeURIComponent(`warm up question ${n} about transformers`)}`)).arrayBuffer()
      run.lone = await load(`${variant.name} #${r} lone`, server, 1, loneSeconds, questions)
      run.load = await load(`${variant.name} #${r} load`, server, connections, duration, questions)
    } finally {
      await server.stop()
    }
    results.runs.push(run)
  }
}

// Per variant: the median over rounds of each figure.
results.summary = Object.fromEntries(
  variants.map(({ name }) => {
    const runs = results.runs.filter((run) => run.variant === name)
    const m = (get) => median(runs.map(get))
    return [
      name,
      {
        searchRequestsPerSecond: m((run) => run.load.requestsPerSecond),
        searchLatencyMs: { p50: m((run) => run.load.latencyMs.p50), p99: m((run) => run.load.latencyMs.p99) },
        searchErrors: runs.reduce((sum, run) => sum + run.load.errors + run.load.non2xx + run.load.timeouts, 0),
        loneSearchLatencyMs: { p50: m((run) => run.lone.latencyMs.p50), p99: m((run) => run.lone.latencyMs.p99) },
        loneEmbedQueryMs: { p50: m((run) => run.embedQuery.lone.p50), p90: m((run) => run.embedQuery.lone.p90) },
        embedQueryDuringIngestMs: { p50: m((run) => run.embedQuery.duringIngest.p50), max: m((run) => run.embedQuery.duringIngest.max) },
        concurrentEmbedQueriesPerSecond: m((run) => run.embedQuery.concurrent.queriesPerSecond),
        ...(runs[0]?.load.serverCpuMsPerRequest
          ? { searchServerCpuMsPerRequest: { main: m((run) => run.load.serverCpuMsPerRequest.main), encoders: m((run) => run.load.serverCpuMsPerRequest.workers), other: m((run) => run.load.serverCpuMsPerRequest.other) } }
          : {}),
      },
    ]
  }),
)
if (variants.length === 2) {
  const [a, b] = variants.map(({ name }) => results.summary[name])
  results.ratios = {
    note: `${variants[1].name} / ${variants[0].name}`,
    searchRequestsPerSecond: round(b.searchRequestsPerSecond / a.searchRequestsPerSecond, 2),
    searchLatencyP50: round(b.searchLatencyMs.p50 / a.searchLatencyMs.p50, 2),
    searchLatencyP99: round(b.searchLatencyMs.p99 / a.searchLatencyMs.p99, 2),
    loneSearchLatencyP50: round(b.loneSearchLatencyMs.p50 / a.loneSearchLatencyMs.p50, 2),
    loneEmbedQueryP50: round(b.loneEmbedQueryMs.p50 / a.loneEmbedQueryMs.p50, 2),
    concurrentEmbedQueriesPerSecond: round(b.concurrentEmbedQueriesPerSecond / a.concurrentEmbedQueriesPerSecond, 2),
    ...(a.searchServerCpuMsPerRequest && b.searchServerCpuMsPerRequest
      ? { searchEncoderCpuPerRequest: round(b.searchServerCpuMsPerRequest.encoders / a.searchServerCpuMsPerRequest.encoders, 2) }
      : {}),
  }
}
results.loadAverageAtEnd = round(loadavg()[0], 2)

const out = join(root, 'bench', 'results', 'search-load.json')
mkdirSync(dirname(out), { recursive: true })
writeFileSync(out, `${JSON.stringify(results, null, 2)}\n`)
process.stdout.write(`${JSON.stringify({ summary: results.summary, ratios: results.ratios }, null, 2)}\nwritten to ${out}\n`)

/** autocannon against GET /v1/search, each request with the next unique question. */
async function load(name, server, connections, duration, questions) {
  const cpuBefore = threadCpuMs(server.pid)
  const run = await autocannon({
    url: server.url,
    connections,
    duration,
    requests: [{ method: 'GET', setupRequest: (req) => ({ ...req, path: `/v1/search?k=5&q=${encodeURIComponent(questions.next().value)}` }) }],
  })
  const figures = {
    connections,
    requestsPerSecond: run.requests.average,
    latencyMs: { p50: run.latency.p50, p90: run.latency.p90, p99: run.latency.p99, max: run.latency.max },
    requests: run.requests.total,
    non2xx: run.non2xx,
    errors: run.errors,
    timeouts: run.timeouts,
    statusCodes: Object.fromEntries(Object.entries(run.statusCodeStats ?? {}).map(([code, { count }]) => [code, count])),
  }
  // The server's CPU per request answered: unlike req/s, hardly moved by what else runs on the machine.
  const cpuAfter = threadCpuMs(server.pid)
  if (cpuBefore && cpuAfter && run.requests.total > 0) {
    const per = (kind) => round((cpuAfter[kind] - cpuBefore[kind]) / run.requests.total, 2)
    figures.serverCpuMsPerRequest = { main: per('main'), workers: per('workers'), other: per('other') }
  }
  process.stdout.write(
    `${name.padEnd(22)} ${figures.requestsPerSecond.toFixed(1).padStart(7)} req/s  p50 ${figures.latencyMs.p50} ms  p99 ${figures.latencyMs.p99} ms  ` +
      `(${figures.requests} requests, ${figures.non2xx} non-2xx, ${figures.errors} errors, ${figures.timeouts} timeouts)` +
      (figures.serverCpuMsPerRequest ? `  server CPU/request: main ${figures.serverCpuMsPerRequest.main} ms, encoders ${figures.serverCpuMsPerRequest.workers} ms, other ${figures.serverCpuMsPerRequest.other} ms` : '') +
      '\n',
  )
  return figures
}

/** A checkout's embedder in this process: lone queries one after another, then during an ingest. */
async function measureEmbedder(checkout, questions) {
  const { createUseLiteEmbedder } = await import(pathToFileURL(join(checkout, 'dist', 'index', 'embedders', '_use-lite.js')).href)
  // Batch sizes, from a checkout that reports them (an older one ignores the option).
  const querySizes = []
  const embedder = await createUseLiteEmbedder({ workers: 2, onBatch: ({ kind, texts }) => kind === 'query' && querySizes.push(texts.length) })
  try {
    const time = async (text) => {
      const t0 = performance.now()
      await embedder.embeddings.embedQuery(text)
      return performance.now() - t0
    }
    for (let n = 0; n < 5; n++) await time(`warm up query ${n}`)
    const lone = []
    for (let n = 0; n < 60; n++) lone.push(await time(questions.next().value))
    // Abstracts cut where the encoder stops reading (~600 characters): ingest-sized batches.
    const ingest = embedder.embeddings.embedDocuments(papers.slice(0, 120).map((p) => `${p.title}: ${p.abstract}`.slice(0, 600)))
    await new Promise((done) => setTimeout(done, 200))
    const duringIngest = []
    for (let n = 0; n < 10; n++) duringIngest.push(await time(questions.next().value))
    await ingest
    // `connections` callers, each asking its next question as soon as it has an answer: the
    // embedder's share of the HTTP load, without HTTP or ranking.
    querySizes.length = 0
    const concurrent = []
    const started = performance.now()
    await Promise.all(
      Array.from({ length: connections }, async () => {
        while (performance.now() - started < 3000) concurrent.push(await time(questions.next().value))
      }),
    )
    const seconds = (performance.now() - started) / 1000
    const stats = (xs) => ({ p50: round(pct(xs, 50)), p90: round(pct(xs, 90)), max: round(Math.max(...xs)), n: xs.length })
    const figures = {
      lone: stats(lone),
      duringIngest: stats(duringIngest),
      concurrent: {
        callers: connections,
        queriesPerSecond: round(concurrent.length / seconds),
        latencyMs: { p50: round(pct(concurrent, 50)), p99: round(pct(concurrent, 99)) },
        ...(querySizes.length > 0 ? { meanBatchSize: round(querySizes.reduce((a, b) => a + b, 0) / querySizes.length, 2), batches: querySizes.length } : {}),
      },
    }
    process.stdout.write(
      `embedQuery ${checkout}: lone p50 ${figures.lone.p50} ms, p90 ${figures.lone.p90} ms; during an ingest p50 ${figures.duringIngest.p50} ms, max ${figures.duringIngest.max} ms; ` +
        `${connections} callers ${figures.concurrent.queriesPerSecond} queries/s, p50 ${figures.concurrent.latencyMs.p50} ms${figures.concurrent.meanBatchSize ? `, mean batch ${figures.concurrent.meanBatchSize}` : ''}\n`,
    )
    return figures
  } finally {
    await embedder.close()
  }
}

/**
 * Search-box questions, never the same twice: a lead-in and 3–8 consecutive words of a seed
 * title or abstract. Deterministic for a seed.
 */
function* uniqueQuestions(papers, seed) {
  const LEADS = ['what is', 'how does', 'papers on', 'which work studies', 'explain', 'evidence for', 'methods for', 'why does', 'results on', 'can we use']
  let state = seed >>> 0
  const random = () => {
    // mulberry32
    state = (state + 0x6d2b79f5) >>> 0
    let t = state
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
  const texts = papers.map((p) => `${p.title} ${p.abstract}`.replace(/[^\p{L}\p{N}\s-]/gu, ' ').split(/\s+/).filter(Boolean))
  const seen = new Set()
  for (;;) {
    const words = texts[Math.floor(random() * texts.length)] ?? []
    const n = 3 + Math.floor(random() * 6)
    const at = Math.floor(random() * Math.max(1, words.length - n))
    const phrase = words.slice(at, at + n)
    const question = `${LEADS[Math.floor(random() * LEADS.length)]} ${phrase.join(' ')}`.toLowerCase()
    // Only questions the server accepts (not all stopwords), so every request is a search.
    if (seen.has(question) || searchableWordsProblem(question, 'query')) continue
    seen.add(question)
    yield question
  }
}
