// Measures both scale benchmarks' child processes take the same way (bench/_scale-child.mjs,
// bench/_pg-scale-child.mjs), so their figures compare.

export const rssMB = () => Math.round(process.memoryUsage().rss / 2 ** 20)
export const maxRssMB = () => Math.round(process.resourceUsage().maxRSS / 1024)
export const r2 = (x) => Math.round(x * 100) / 100
export const pct = (xs, p) => {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]
}

/** The first hybrid `Retriever.rank`, then the warm ones: everything but the query embedding. */
export async function timeSearches(retriever, queries, vectors) {
  const t1 = performance.now()
  await retriever.rank(queries[0], vectors[0], 10, 'hybrid')
  const firstMs = performance.now() - t1
  const times = []
  let hits = 0
  for (let i = 0; i < queries.length; i++) {
    const t = performance.now()
    const ranked = await retriever.rank(queries[i], vectors[i], 10, 'hybrid')
    times.push(performance.now() - t)
    hits += ranked.length
  }
  return { firstSearchMs: r2(firstMs), search: { p50: r2(pct(times, 50)), p95: r2(pct(times, 95)), n: times.length, hitsPerQuery: hits / queries.length } }
}
