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

const here = dirname(fileURLToPath(import.meta.url))
const out = join(here, 'results', 'scale.json')
const sizes = process.argv.slice(2).map(Number).filter((n) => n > 0)
const wanted = sizes.length > 0 ? sizes : [1000, 10_000, 100_000]
const previous = existsSync(out) ? JSON.parse(readFileSync(out, 'utf8')) : { runs: {} }
const results = { date: new Date().toISOString(), node: process.version, cpus: cpus().length, cpu: cpus()[0]?.model, runs: previous.runs ?? {} }

function step(mode, dir, papers) {
  const run = spawnSync(process.execPath, ['--max-old-space-size=4096', join(here, '_scale-child.mjs'), mode, dir, String(papers)], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] })
  if (run.status !== 0) throw new Error(`${mode} ${papers} failed (${run.status ?? run.signal})`)
  return JSON.parse(run.stdout.trim().split('\n').at(-1))
}

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
writeFileSync(join(here, 'results', 'scale.svg'), chart(Object.values(results.runs).sort((a, b) => a.papers - b.papers)))
console.log(`wrote ${out} and bench/results/scale.svg`)

/** Four small panels against corpus size (log scale), each with its target as a dashed line. */
function chart(runs) {
  const panels = [
    { title: 'Build (s)', get: (r) => [r.build.seconds] },
    { title: 'Cold open (ms)', get: (r) => [r.search.openMs], target: 2000 },
    { title: 'Warm search p50 / p95 (ms)', get: (r) => [r.search.search.p50, r.search.search.p95], target: 15 },
    { title: 'RSS after searches (MB)', get: (r) => [r.search.rssMB], target: 2048 },
    { title: 'Add 100 papers (ms)', get: (r) => [r.add.addMs], target: 3000 },
  ]
  const W = 300
  const H = 200
  const pad = 40
  const xs = runs.map((r) => Math.log10(r.papers))
  const x0 = Math.min(...xs) - 0.2
  const x1 = Math.max(...xs) + 0.2
  const colours = ['#1f6feb', '#d1242f']
  const svg = panels.map((p, i) => {
    const values = runs.flatMap((r) => p.get(r))
    const top = Math.max(...values, p.target ?? 0) * 1.15 || 1
    const X = (x) => pad + ((x - x0) / (x1 - x0)) * (W - pad - 10)
    const Y = (y) => H - pad + 10 - (y / top) * (H - pad - 20)
    const series = [0, 1].map((s) => runs.filter((r) => p.get(r)[s] !== undefined).map((r) => [X(Math.log10(r.papers)), Y(p.get(r)[s])]))
    const lines = series
      .filter((pts) => pts.length > 0)
      .map((pts, s) => `<polyline fill="none" stroke="${colours[s]}" stroke-width="2" points="${pts.map((q) => q.join(',')).join(' ')}"/>${pts.map(([a, b]) => `<circle cx="${a}" cy="${b}" r="3" fill="${colours[s]}"/>`).join('')}`)
      .join('')
    const target = p.target ? `<line x1="${pad}" x2="${W - 10}" y1="${Y(p.target)}" y2="${Y(p.target)}" stroke="#888" stroke-dasharray="4 3"/><text x="${W - 12}" y="${Y(p.target) - 3}" font-size="9" text-anchor="end" fill="#666">target ${p.target}</text>` : ''
    const ticks = runs.map((r) => `<text x="${X(Math.log10(r.papers))}" y="${H - pad + 24}" font-size="10" text-anchor="middle">${r.papers >= 1000 ? `${r.papers / 1000}k` : r.papers}</text>`).join('')
    const labels = runs.map((r) => p.get(r).map((v, s) => `<text x="${X(Math.log10(r.papers)) + 4}" y="${Y(v) - 4 - s * 10}" font-size="9" fill="${colours[s]}">${v}</text>`).join('')).join('')
    return `<g transform="translate(${(i % 3) * (W + 10)},${Math.floor(i / 3) * (H + 20)})"><rect width="${W}" height="${H}" fill="#fff" stroke="#ddd"/><text x="${W / 2}" y="16" font-size="12" text-anchor="middle" font-weight="bold">${p.title}</text><line x1="${pad}" x2="${W - 10}" y1="${H - pad + 10}" y2="${H - pad + 10}" stroke="#333"/>${target}${lines}${labels}${ticks}<text x="${W / 2}" y="${H - 4}" font-size="9" text-anchor="middle" fill="#666">papers (log scale)</text></g>`
  })
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${3 * (W + 10)}" height="${2 * (H + 20)}" font-family="sans-serif">${svg.join('')}</svg>\n`
}
