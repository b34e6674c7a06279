// The benchmarks' small-multiples chart: one panel per measure against corpus size (log scale),
// up to two series a panel (blue, red) and the target as a dashed line. Used by bench/scale.mjs
// and bench/pg-scale.mjs.

/**
 * @param runs   measured runs, each with `papers`
 * @param panels `{ title, get: (run) => number[] (one or two values; undefined ones are skipped), target? }`
 * @returns an SVG document
 */
export function chart(runs, panels, { columns = 3, width = 300, height = 200 } = {}) {
  const W = width
  const H = height
  const pad = 40
  const xs = runs.map((r) => Math.log10(r.papers))
  const x0 = Math.min(...xs) - 0.2
  const x1 = Math.max(...xs) + 0.2
  const colours = ['#1f6feb', '#d1242f']
  const rows = Math.ceil(panels.length / columns)
  const svg = panels.map((p, i) => {
    const values = runs.flatMap((r) => p.get(r)).filter((v) => v !== undefined)
    const top = Math.max(...values, p.target ?? 0) * 1.15 || 1
    const X = (x) => pad + ((x - x0) / (x1 - x0 || 1)) * (W - pad - 10)
    const Y = (y) => H - pad + 10 - (y / top) * (H - pad - 20)
    const series = [0, 1].map((s) => runs.filter((r) => p.get(r)[s] !== undefined).map((r) => [X(Math.log10(r.papers)), Y(p.get(r)[s])]))
    const lines = series
      .map((pts, s) => (pts.length === 0 ? '' : `<polyline fill="none" stroke="${colours[s]}" stroke-width="2" points="${pts.map((q) => q.join(',')).join(' ')}"/>${pts.map(([a, b]) => `<circle cx="${a}" cy="${b}" r="3" fill="${colours[s]}"/>`).join('')}`))
      .join('')
    const target = p.target ? `<line x1="${pad}" x2="${W - 10}" y1="${Y(p.target)}" y2="${Y(p.target)}" stroke="#888" stroke-dasharray="4 3"/><text x="${W - 12}" y="${Y(p.target) - 3}" font-size="9" text-anchor="end" fill="#666">target ${p.target}</text>` : ''
    const ticks = runs.map((r) => `<text x="${X(Math.log10(r.papers))}" y="${H - pad + 24}" font-size="10" text-anchor="middle">${r.papers >= 1000 ? `${r.papers / 1000}k` : r.papers}</text>`).join('')
    const labels = runs.map((r) => p.get(r).map((v, s) => (v === undefined ? '' : `<text x="${X(Math.log10(r.papers)) + 4}" y="${Y(v) - 4 - s * 10}" font-size="9" fill="${colours[s]}">${v}</text>`)).join('')).join('')
    return `<g transform="translate(${(i % columns) * (W + 10)},${Math.floor(i / columns) * (H + 20)})"><rect width="${W}" height="${H}" fill="#fff" stroke="#ddd"/><text x="${W / 2}" y="16" font-size="12" text-anchor="middle" font-weight="bold">${p.title}</text><line x1="${pad}" x2="${W - 10}" y1="${H - pad + 10}" y2="${H - pad + 10}" stroke="#333"/>${target}${lines}${labels}${ticks}<text x="${W / 2}" y="${H - 4}" font-size="9" text-anchor="middle" fill="#666">papers (log scale)</text></g>`
  })
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${columns * (W + 10)}" height="${rows * (H + 20)}" font-family="sans-serif">${svg.join('')}</svg>\n`
}
