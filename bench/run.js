// `npm run bench`: ingest, re-ingest and search figures on the seed corpus with the embedded
// default, written to bench/results/latest.json. Numbers, not assertions: tests assert behaviour.
import { spawnSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync, mkdirSync } from 'node:fs'
import { tmpdir, cpus } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const cli = join(root, 'bin', 'askpapers.js')
const only = process.argv.slice(2)
const want = (name) => only.length === 0 || only.includes(name)
const results = { date: new Date().toISOString(), node: process.version, cpus: cpus().length, cpu: cpus()[0]?.model }

function timeCli(args, env = {}) {
  const t0 = performance.now()
  const run = spawnSync(process.execPath, [cli, ...args], { cwd: root, env: { ...process.env, ...env }, encoding: 'utf8' })
  const seconds = (performance.now() - t0) / 1000
  if (run.status !== 0) throw new Error(`askpapers ${args.join(' ')} failed (${run.status}): ${run.stderr}`)
  return { seconds, stdout: run.stdout }
}

const pct = (xs, p) => {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]
}
const stats = (xs) => ({ p50: round(pct(xs, 50)), p95: round(pct(xs, 95)), max: round(Math.max(...xs)), n: xs.length })
const round = (x) => Math.round(x * 1000) / 1000

const dataDir = mkdtempSync(join(tmpdir(), 'askpapers-bench-'))
try {
  if (want('ingest')) {
    const fresh = timeCli(['ingest', '--json', '--data-dir', dataDir])
    const again = timeCli(['ingest', '--json', '--data-dir', dataDir])
    results.ingest = {
      fresh: { wallSeconds: round(fresh.seconds), summary: JSON.parse(fresh.stdout) },
      unchanged: { wallSeconds: round(again.seconds), summary: JSON.parse(again.stdout) },
    }
    console.log(`ingest (317 seed papers, fresh): ${fresh.seconds.toFixed(1)} s wall; unchanged re-ingest: ${again.seconds.toFixed(2)} s wall`)
  } else {
    timeCli(['ingest', '--json', '--data-dir', dataDir])
  }

  if (want('search')) {
    const { loadConfig } = await import('../dist/config.js')
    const { Engine } = await import('../dist/engine.js')
    const engine = await Engine.open(loadConfig({ ...process.env, ASKPAPERS_DATA_DIR: dataDir }))
    const retriever = await engine.retriever()
    const embedder = await engine.embedder()
    const questions = readFileSync(join(root, 'evals', 'questions.jsonl'), 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l).question)
    // Warm-up on text that is not a benchmark question: the first calls compile wasm kernels.
    for (const q of ['warm-up question one', 'how do adapters work', 'scaling laws']) await retriever.search(q)
    const embedMs = []
    const cachedMs = []
    const rankMs = []
    for (let round = 0; round < 3; round++) {
      for (const q of questions) {
        const t0 = performance.now()
        const vector = await embedder.embeddings.embedQuery(q)
        const t1 = performance.now()
        retriever.rank(q, vector, 5, 'hybrid')
        const t2 = performance.now()
        // Round 0 embeds each question for the first time; later rounds hit the query cache.
        ;(round === 0 ? embedMs : cachedMs).push(t1 - t0)
        rankMs.push(t2 - t1)
      }
    }
    results.search = {
      queryEmbeddingMs: stats(embedMs),
      repeatedQueryEmbeddingMs: stats(cachedMs),
      rankMs: stats(rankMs),
      note: 'rankMs = keyword leg + HNSW lookup + fusion + grouping (everything but the query embedding); queryEmbeddingMs = first embedding of each question (USE-lite worker, warm)',
    }
    console.log(`warm search without embedding: p50 ${stats(rankMs).p50} ms, p95 ${stats(rankMs).p95} ms; query embedding: p50 ${stats(embedMs).p50} ms, p95 ${stats(embedMs).p95} ms (repeated question: p50 ${stats(cachedMs).p50} ms)`)
    await engine.close()
  }
  if (want('load')) {
    // HTTP load (autocannon against /v1/search and /v1/ask): its own script, its own results file.
    const load = spawnSync(process.execPath, [join(root, 'bench', 'load.mjs'), dataDir], { cwd: root, stdio: 'inherit' })
    if (load.status !== 0) throw new Error(`bench/load.mjs failed (${load.status})`)
    results.load = JSON.parse(readFileSync(join(root, 'bench', 'results', 'load.json'), 'utf8'))
  }
  if (want('search-load')) {
    // Unique questions (every request a query-cache miss): its own script, its own results file.
    const load = spawnSync(process.execPath, [join(root, 'bench', 'search-load.mjs'), dataDir], { cwd: root, stdio: 'inherit' })
    if (load.status !== 0) throw new Error(`bench/search-load.mjs failed (${load.status})`)
    results.searchLoad = JSON.parse(readFileSync(join(root, 'bench', 'results', 'search-load.json'), 'utf8')).summary
  }
} finally {
  rmSync(dataDir, { recursive: true, force: true })
}

mkdirSync(join(root, 'bench', 'results'), { recursive: true })
const out = join(root, 'bench', 'results', 'latest.json')
let previous = {}
try {
  previous = JSON.parse(readFileSync(out, 'utf8'))
} catch {}
writeFileSync(out, `${JSON.stringify({ ...previous, ...results }, null, 2)}\n`)
console.log(`figures written to ${out}`)
