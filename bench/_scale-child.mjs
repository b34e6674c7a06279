// One step of `npm run bench:scale` (bench/scale.mjs), in its own process so that an open is cold
// and memory is this step's alone. Prints one JSON line.
//   node _scale-child.mjs build DIR PAPERS      build an index of PAPERS synthetic papers
//   node _scale-child.mjs search DIR PAPERS     open it, then time warm searches
//   node _scale-child.mjs add DIR PAPERS        open it, then add 100 new papers
import { PaperIndex } from '../dist/index/store.js'
import { DEFAULT_FUSION, Retriever } from '../dist/retrieve/hybrid.js'
import { maxRssMB, r2, rssMB, timeSearches } from './_measure.mjs'
import { benchEmbedder, synthPapers, synthQueries } from './_synthetic.mjs'

const [mode, dir, n] = process.argv.slice(2)
const papers = Number(n)
const CHUNKING = { size: 300, overlap: 0 }

if (mode === 'build') {
  const embedder = benchEmbedder()
  let index = await PaperIndex.open(dir)
  const t0 = performance.now()
  // Ingested 10 k papers at a time, as a user adding corpus files would (and to bound the ingest's memory).
  for (let from = 0; from < papers; from += 10_000) {
    const part = synthPapers(from, Math.min(papers, from + 10_000))
    ;({ index } = await index.ingest(part, embedder, CHUNKING, { batch: { chunks: 100_000, seconds: 3600 } }))
  }
  const seconds = (performance.now() - t0) / 1000
  const info = index.info()
  console.log(JSON.stringify({ seconds: r2(seconds), papers: info.papers, chunks: info.chunks, segments: index.manifest?.segments.length, embedSeconds: r2(embedder.seconds), maxRssMB: maxRssMB() }))
} else if (mode === 'search') {
  const embedder = benchEmbedder()
  const queries = synthQueries(papers, 300)
  const vectors = queries.map((q) => embedder.vectorOf(q))
  const t0 = performance.now()
  const index = await PaperIndex.open(dir)
  const retriever = new Retriever(index, undefined, { ...DEFAULT_FUSION, denseWeight: 0.4 })
  const openMs = performance.now() - t0
  const timed = await timeSearches(retriever, queries, vectors)
  console.log(
    JSON.stringify({
      openMs: r2(openMs),
      ...timed,
      rssMB: rssMB(),
      maxRssMB: maxRssMB(),
    }),
  )
} else if (mode === 'add') {
  const embedder = benchEmbedder()
  const t0 = performance.now()
  const index = await PaperIndex.open(dir)
  const openMs = performance.now() - t0
  const extra = synthPapers(papers, papers + 100)
  const t1 = performance.now()
  const { counts, index: after } = await index.ingest(extra, embedder, CHUNKING)
  const addMs = performance.now() - t1
  console.log(JSON.stringify({ openMs: r2(openMs), addMs: r2(addMs), embedMs: r2(embedder.seconds * 1000), added: counts.added, papers: after.info().papers, maxRssMB: maxRssMB() }))
} else {
  throw new Error(`unknown mode ${mode}`)
}
