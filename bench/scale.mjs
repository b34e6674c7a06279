// `npm run bench:scale [1000 10000 100000]`: the embedded store at growing corpus sizes, synthetic
// papers with vectors from a bench-only embedder (bench/_synthetic.mjs), each step in its own
// process (bench/_scale-child.mjs): build time, cold open, warm search p50/p95 (everything after
// the query embedding: `Retriever.rank`), RSS, and the time to add 100 papers to the index.
// Writes bench/results/scale.json and the chart bench/results/scale.svg.
import { spawnSync } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { cpus, tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { hugePagesEnv } from '../dist/hugepages.js'
import { chart } from './_chart.mjs'

const here = dirname(fileURLToPath(import.meta.url))
const out = join(here, 'results', 'scale.json')
const sizes = process.argv.slice(2).map(Number).filter((n) => n > 0)
const wanted = sizes.length > 0 ? sizes : [1000, 10_000, 100_000]
const previous = existsSync(out) ? JSON.parse(readFileSync(out, 'utf8')) : { runs: {} }
const results = { date: new Date().toISOString(), node: process.version, cpus: cpus().length, cpu: cpus()[0]?.model, runs: previous.runs ?? {} }

function step(mode, dir, papers) {
  // With huge pages for malloc where the CLI would use them (src/hugepages.ts), so the figures are the CLI's.
  const env = hugePagesEnv() ?? process.env
  const run = spawnSync(process.execPath, ['--max-old-space-size=4096', join(here, '_scale-child.mjs'), mode, dir, String(papers)], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], env })
  if (run.status !== 0) throw new Error(`${mode} ${papers} failed (${run.status ?? run.signal})`)
  return JSON.parse(run.stdout.trim().split('\n').at(-1))
}

// Each with its target (README, "Scale").
const PANELS = [
  { title: 'Build (s)', get: (r) => [r.build.seconds] },
  { title: 'Cold open (ms)', get: (r) => [r.search.openMs], target: 2000 },
  { title: 'Warm search p50 / p95 (ms)', get: (r) => [r.search.search.p50, r.search.search.p95], target: 15 },
  { title: 'RSS after searches (MB)', get: (r) => [r.search.rssMB], target: 2048 },
  { title: 'Add 100 papers (ms)', get: (r) => [r.add.addMs], target: 3000 },
]

for (const papers of wanted) {
  const dir = mkdtempSync(join(tmpdir(), `askpapers-scale-${papers}-`))
  try {
    const build = step('build', dir, papers)
    console.log(`${papers} papers: built in ${build.seconds} s (${build.chunks} chunks, ${build.segments} segments)`)
    const search = step('search', dir, papers)
    console.log(`  cold open ${search.openMs} ms, warm search p50 ${search.search.p50} ms p95 ${search.search.p95} ms, RSS ${search.rssMB} MB`)
    const add = step('add', dir, papers)
    console.log(`  add 100 papers: ${add.addMs} ms (embedding ${add.embedMs} ms; open before it ${add.openMs} ms)`)
    results.runs[papers] = { papers, build, search, add, date: new Date().toISOString() }
    writeFileSync(out, `${JSON.stringify(results, null, 2)}\n`)
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}
writeFileSync(join(here, 'results', 'scale.svg'), chart(Object.values(results.runs).sort((a, b) => a.papers - b.papers), PANELS))
console.log(`wrote ${out} and bench/results/scale.svg`)
