// `npm run bench:pg-scale [1000 10000 100000]`: the PostgreSQL store (src/index/postgres) at growing
// corpus sizes, on PGlite served over the wire by pglite-server with pgvector, file-backed under
// /tmp. The same synthetic papers and bench-only embedder as bench:scale (bench/_synthetic.mjs);
// each step in its own process (bench/_pg-scale-child.mjs): build time, cold open, warm search
// p50/p95 (everything after the query embedding: `Retriever.rank`, hybrid; 300 searches straight
// after the restart, and 300 more once the process has served 900), the RSS of the askpapers
// process and of the PGlite server, and the time to add 100 papers. The server is restarted after
// the build, so searches start from a cold database too.
// Writes bench/results/pg-scale.json and the chart bench/results/pg-scale.svg.
//
// `--url postgres://USER@HOST:PORT/DB` measures a real PostgreSQL with pgvector instead: each size
// gets a fresh database beside DB (askpapers_scale_N, dropped first), written to
// bench/results/pg-scale-postgres.json. The server is not restarted (searches run on a warm cache)
// and its memory is not sampled; the database's size is reported.
import { execFileSync, spawn } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { cpus, tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { chart } from './_chart.mjs'
import { freshDataDir, memoryOf, startServer } from './_pglite.mjs'

const here = dirname(fileURLToPath(import.meta.url))
const args = process.argv.slice(2)
const sizes = args.filter((a, i) => args[i - 1] !== '--url').map(Number).filter((n) => n > 0)
// --keep: leave each size's data directory in place (its path is printed), to profile its queries afterwards.
const keep = args.includes('--keep')
const external = args.find((a, i) => args[i - 1] === '--url')
if (args.includes('--url') && !external?.startsWith('postgres')) {
  console.error('bench:pg-scale: --url takes a PostgreSQL URL, e.g. --url postgres://postgres@127.0.0.1:5432/postgres')
  process.exit(2)
}
const out = join(here, 'results', external ? 'pg-scale-postgres.json' : 'pg-scale.json')
const wanted = sizes.length > 0 ? sizes : [1000, 10_000, 100_000]
const previous = existsSync(out) ? JSON.parse(readFileSync(out, 'utf8')) : { runs: {} }
const results = { date: new Date().toISOString(), node: process.version, cpus: cpus().length, cpu: cpus()[0]?.model, runs: previous.runs ?? {} }

// Each with its target: issue 11's for search; the embedded store's (README, "Scale") for the rest.
const PANELS = [
  { title: 'Build (s)', get: (r) => [r.build.seconds] },
  { title: 'Cold open (ms)', get: (r) => [r.search.openMs], target: 2000 },
  { title: 'Search p50 / p95 after a restart (ms)', get: (r) => [r.search.search.p50, r.search.search.p95], target: 50 },
  { title: 'Search p50 / p95 after 900 others (ms)', get: (r) => (r.search.warm ? [r.search.warm.p50, r.search.warm.p95] : []), target: 50 },
  { title: 'RSS askpapers / PGlite (MB)', get: (r) => [r.search.rssMB, r.server.afterSearch.rssMB] },
  { title: 'PGlite peak RSS (MB)', get: (r) => [r.server.build.peakRssMB] },
  { title: 'Add 100 papers (ms)', get: (r) => [r.add.addMs], target: 3000 },
]

/** Runs one child step while sampling the server's memory; resolves with the step's JSON and the server's peak. */
function step(mode, url, papers, serverPid) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--max-old-space-size=4096', join(here, '_pg-scale-child.mjs'), mode, url, String(papers)], { stdio: ['ignore', 'pipe', 'inherit'] })
    let stdout = ''
    let serverPeak = 0
    const sample = setInterval(() => {
      if (serverPid !== undefined) serverPeak = Math.max(serverPeak, memoryOf(serverPid).rssMB)
    }, 500)
    child.stdout.on('data', (d) => (stdout += d))
    child.once('exit', (code, signal) => {
      clearInterval(sample)
      if (code !== 0) reject(new Error(`${mode} ${papers} failed (${code ?? signal})`))
      else resolve({ ...JSON.parse(stdout.trim().split('\n').at(-1)), ...(serverPid === undefined ? {} : { serverPeakRssMB: serverPeak }) })
    })
  })
}

if (external) {
  const pg = (await import('pg')).default
  const admin = new pg.Client({ connectionString: external })
  await admin.connect().catch((error) => {
    console.error(`bench:pg-scale: cannot connect to ${external}: ${error.message}`)
    process.exit(4)
  })
  const { rows } = await admin.query('SELECT version() AS v')
  results.server = rows[0].v
  try {
    for (const papers of wanted) await measureExternal(admin, papers)
  } catch (error) {
    // A failed step has printed its own error (stderr is inherited): only say which one, without a stack.
    console.error(`bench:pg-scale: ${error.message}`)
    process.exit(1)
  }
  await admin.end()
  console.log(`wrote ${out}`)
  process.exit(0)
}

/** The three steps on a fresh database askpapers_scale_N beside the one `--url` names. */
async function measureExternal(admin, papers) {
  const db = `askpapers_scale_${papers}`
  await admin.query(`DROP DATABASE IF EXISTS ${db}`)
  await admin.query(`CREATE DATABASE ${db}`)
  const url = new URL(external)
  url.pathname = `/${db}`
  const build = await step('build', url.href, papers, undefined)
  console.log(`${papers} papers: built in ${build.seconds} s (${build.chunks} chunks)`)
  const search = await step('search', url.href, papers, undefined)
  console.log(`  cold open ${search.openMs} ms, search p50 ${search.search.p50} ms p95 ${search.search.p95} ms, after 900 others p50 ${search.warm.p50} ms p95 ${search.warm.p95} ms, RSS ${search.rssMB} MB`)
  const add = await step('add', url.href, papers, undefined)
  console.log(`  add 100 papers: ${add.addMs} ms (open before it ${add.openMs} ms)`)
  const size = await admin.query('SELECT pg_database_size($1) AS bytes', [db])
  if (existsSync(out)) results.runs = JSON.parse(readFileSync(out, 'utf8')).runs ?? {}
  results.runs[papers] = { papers, build, search, add, databaseMB: Math.round(Number(size.rows[0].bytes) / 2 ** 20), date: new Date().toISOString() }
  writeFileSync(out, `${JSON.stringify(results, null, 2)}\n`)
  if (!keep) await admin.query(`DROP DATABASE ${db}`)
}

for (const papers of wanted) {
  const dir = mkdtempSync(join(tmpdir(), `askpapers-pg-scale-${papers}-`))
  const data = join(dir, 'pgdata')
  let server
  try {
    freshDataDir(data)
    server = await startServer(data)
    const build = await step('build', server.url, papers, server.pid)
    const afterBuild = memoryOf(server.pid)
    console.log(`${papers} papers: built in ${build.seconds} s (${build.chunks} chunks), PGlite RSS ${afterBuild.rssMB} MB (peak ${afterBuild.peakRssMB} MB)`)
    await server.stop()
    server = await startServer(data)
    const restartMs = server.startMs
    const search = await step('search', server.url, papers, server.pid)
    const afterSearch = memoryOf(server.pid)
    console.log(`  PGlite restart ${Math.round(restartMs)} ms; cold open ${search.openMs} ms, search p50 ${search.search.p50} ms p95 ${search.search.p95} ms, after 900 others p50 ${search.warm.p50} ms p95 ${search.warm.p95} ms, RSS ${search.rssMB} MB (PGlite ${afterSearch.rssMB} MB)`)
    const add = await step('add', server.url, papers, server.pid)
    console.log(`  add 100 papers: ${add.addMs} ms (open before it ${add.openMs} ms)`)
    // Re-read: another run of this bench may have written other sizes meanwhile.
    if (existsSync(out)) results.runs = JSON.parse(readFileSync(out, 'utf8')).runs ?? {}
    results.runs[papers] = {
      papers,
      build,
      search,
      add,
      server: { build: afterBuild, restartMs: Math.round(restartMs), afterSearch, afterAdd: memoryOf(server.pid) },
      dataDirMB: dirSizeMB(data),
      date: new Date().toISOString(),
    }
    writeFileSync(out, `${JSON.stringify(results, null, 2)}\n`)
  } finally {
    await server?.stop()
    if (keep) console.log(`  kept the data directory ${data}`)
    else rmSync(dir, { recursive: true, force: true })
  }
}
writeFileSync(join(here, 'results', 'pg-scale.svg'), chart(Object.values(results.runs).sort((a, b) => a.papers - b.papers), PANELS))
console.log(`wrote ${out} and bench/results/pg-scale.svg`)

function dirSizeMB(path) {
  return Math.round(Number(execFileSync('du', ['-sm', path], { encoding: 'utf8' }).split('\t')[0]))
}
