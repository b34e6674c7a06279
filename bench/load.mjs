// Load figures for `askpapers serve`: autocannon against GET /v1/search and POST /v1/ask (offline
// answerer), 10 connections for 10 s each by default, on 127.0.0.1 only. Needs a built dist/ and an
// index built beforehand:
//
//   npx askpapers ingest --data-dir /tmp/ap-load
//   node bench/load.mjs /tmp/ap-load [--duration 10] [--connections 10]
//
// Prints the figures and writes them to bench/results/load.json. Numbers, not assertions.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { cpus } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import autocannon from 'autocannon'
import { startServer } from './_serve.mjs'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { duration: { type: 'string', default: '10' }, connections: { type: 'string', default: '10' } },
})
const dataDir = positionals[0]
if (!dataDir) {
  process.stderr.write('usage: node bench/load.mjs <data-dir> [--duration 10] [--connections 10]\n  (build the index first: npx askpapers ingest --data-dir <data-dir>)\n')
  process.exit(2)
}
const duration = Number(values.duration)
const connections = Number(values.connections)

const questions = readFileSync(join(root, 'evals', 'questions.jsonl'), 'utf8')
  .split('\n')
  .filter(Boolean)
  .map((line) => JSON.parse(line).question)

// The server runs in its own process, as in production, so autocannon does not share its event loop.
const server = await startServer(root, resolve(dataDir))
const results = {
  date: new Date().toISOString(),
  node: process.version,
  cpus: cpus().length,
  cpu: cpus()[0]?.model,
  setup: { connections, durationSeconds: duration, answerer: 'offline-extractive', questions: questions.length, papers: server.papers },
}
try {
  let i = 0
  const nextQuestion = () => questions[i++ % questions.length]
  // Warm-up, not measured: the first queries compile the encoder's kernels and fill caches.
  for (let n = 0; n < 10; n++) {
    await (await fetch(`${server.url}/v1/search?q=${encodeURIComponent(nextQuestion())}`)).arrayBuffer()
    await (await fetch(`${server.url}/v1/ask`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ question: nextQuestion() }) })).arrayBuffer()
  }
  results.search = await load('GET /v1/search', server.url, {
    requests: [{ method: 'GET', setupRequest: (req) => ({ ...req, path: `/v1/search?k=5&q=${encodeURIComponent(nextQuestion())}` }) }],
  })
  results.ask = await load('POST /v1/ask', server.url, {
    requests: [
      {
        method: 'POST',
        path: '/v1/ask',
        headers: { 'content-type': 'application/json' },
        setupRequest: (req) => ({ ...req, body: JSON.stringify({ question: nextQuestion() }) }),
      },
    ],
  })
} finally {
  await server.stop()
}

const out = join(root, 'bench', 'results', 'load.json')
mkdirSync(dirname(out), { recursive: true })
writeFileSync(out, `${JSON.stringify(results, null, 2)}\n`)
process.stdout.write(`written to ${out}\n`)

async function load(name, url, options) {
  const run = await autocannon({ url, connections, duration, ...options })
  const figures = {
    requestsPerSecond: run.requests.average,
    latencyMs: { p50: run.latency.p50, p90: run.latency.p90, p99: run.latency.p99, max: run.latency.max },
    requests: run.requests.total,
    non2xx: run.non2xx,
    errors: run.errors,
    timeouts: run.timeouts,
  }
  process.stdout.write(
    `${name.padEnd(16)} ${figures.requestsPerSecond.toFixed(1).padStart(7)} req/s  p50 ${figures.latencyMs.p50} ms  p99 ${figures.latencyMs.p99} ms  ` +
      `(${figures.requests} requests, ${figures.non2xx} non-2xx, ${figures.errors} errors, ${figures.timeouts} timeouts)\n`,
  )
  return figures
}
