// One step of `npm run bench:pg-scale` (bench/pg-scale.mjs), in its own process so that an open is
// cold and the memory is this step's alone. Prints one JSON line.
//   node _pg-scale-child.mjs build URL PAPERS    ingest PAPERS synthetic papers into the PostgreSQL store
//   node _pg-scale-child.mjs search URL PAPERS   open it as the engine does, then time warm searches
//   node _pg-scale-child.mjs add URL PAPERS      open it, then add 100 new papers
import { PostgresStore, PostgresView } from '../dist/index/postgres/index.js'
import { ingestPapers } from '../dist/index/store/index.js'
import { DEFAULT_FUSION, Retriever } from '../dist/retrieve/hybrid.js'
import { maxRssMB, r2, rssMB, timeSearches } from './_measure.mjs'
import { benchEmbedder, synthPapers, synthQueries } from './_synthetic.mjs'

const [mode, url, n] = process.argv.slice(2)
const papers = Number(n)
const CHUNKING = { size: 300, overlap: 0 }
// Searches and small writes keep the store's default statement timeout; the bulk load's index build gets its own (see _store.ts).
const open = () => PostgresStore.open({ url, maxConnections: 4 })

if (mode === 'build') {
  const embedder = benchEmbedder()
  const store = await open()
  const t0 = performance.now()
  // One ingest, as `askpapers ingest corpus.jsonl` runs it: committed every 20,000 chunks (~3,300
  // papers), so a kill loses at most that; the HNSW index is built once, by the last commit (a load
  // that at least doubles the corpus, see src/index/postgres/_store.ts). (bench:scale ingests 10 k
  // papers at a time; here each later part would be a small load, maintaining the index row by row.)
  let last = t0
  await ingestPapers(store, synthPapers(0, papers), embedder, CHUNKING, {
    batch: { chunks: 20_000, seconds: 3600 },
    onProgress: (done, total) => {
      if (done === total || performance.now() - last > 60_000) {
        last = performance.now()
        console.error(`  embedded ${done}/${total} chunks at ${r2((last - t0) / 1000)} s, RSS ${rssMB()} MB`)
      }
    },
  })
  const seconds = (performance.now() - t0) / 1000
  const info = store.info()
  await store.close()
  console.log(JSON.stringify({ seconds: r2(seconds), papers: info.papers, chunks: info.chunks, embedSeconds: r2(embedder.seconds), maxRssMB: maxRssMB() }))
} else if (mode === 'search') {
  const embedder = benchEmbedder()
  // 300 searches timed straight after the server's restart (its buffers and the OS's file cache
  // cold), 600 others untimed, then 300 more timed: the same process once it has served a while.
  const queries = synthQueries(papers, 1200)
  const vectors = queries.map((q) => embedder.vectorOf(q))
  // Cold open as `askpapers serve` opens a PostgreSQL corpus: connect, migrate check, the paper records.
  const t0 = performance.now()
  const store = await open()
  const view = await PostgresView.load(store)
  const retriever = new Retriever(view, undefined, { ...DEFAULT_FUSION, denseWeight: 0.4 })
  const openMs = performance.now() - t0
  const timed = await timeSearches(retriever, queries.slice(0, 300), vectors.slice(0, 300))
  for (let i = 300; i < 900; i++) await retriever.rank(queries[i], vectors[i], 10, 'hybrid')
  const warm = await timeSearches(retriever, queries.slice(900), vectors.slice(900))
  await store.close()
  console.log(
    JSON.stringify({
      openMs: r2(openMs),
      ...timed,
      warm: { ...warm.search, after: 900 },
      rssMB: rssMB(),
      maxRssMB: maxRssMB(),
    }),
  )
} else if (mode === 'add') {
  const embedder = benchEmbedder()
  const t0 = performance.now()
  const store = await open()
  const openMs = performance.now() - t0
  const extra = synthPapers(papers, papers + 100)
  const t1 = performance.now()
  const { counts } = await ingestPapers(store, extra, embedder, CHUNKING)
  const addMs = performance.now() - t1
  const info = store.info()
  await store.close()
  console.log(JSON.stringify({ openMs: r2(openMs), addMs: r2(addMs), embedMs: r2(embedder.seconds * 1000), added: counts.added, papers: info.papers, maxRssMB: maxRssMB() }))
} else {
  throw new Error(`unknown mode ${mode}`)
}
