// Synthetic corpora for the scale benchmark, and the bench-only embedder that gives them vectors.
// Deterministic: paper i is the same on every run and machine, and so is every vector.
//
// Papers: a title of 7 words (the first names one of 200 topics) and an abstract of 5 sentences of
// 30–46 words (~1,500 characters, like the seed abstracts), words drawn from a 30,000-word
// vocabulary by a Zipf law (s = 1.05), so BM25 postings have the long tail real text has. Chunked
// at 300 characters they give ~5–6 chunks a paper (the seeds give 4–7).
//
// Vectors: 512 dimensions (USE-lite's), a unit vector near the centroid of the text's topic plus
// noise seeded by a hash of the text: clustered as real embeddings are, which matters for HNSW.
// This embedder exists only here; it is never a user-facing option.

export const DIMENSIONS = 512
const TOPICS = 200
const VOCAB = 30_000

function mulberry32(seed) {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

function fnv(text) {
  let h = 0x811c9dc5
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193) >>> 0
  return h
}

const SYLLABLES = 'ba be bi bo bu ca ce ci co cu da de di do du fa fe fi fo fu ga ge gi go gu la le li lo lu ma me mi mo mu na ne ni no nu pa pe pi po pu ra re ri ro ru sa se si so su ta te ti to tu va ve vi vo vu za ze zi zo zu'.split(' ')
const words = (() => {
  const rnd = mulberry32(7)
  const seen = new Set()
  const out = []
  while (out.length < VOCAB) {
    const n = 2 + Math.floor(rnd() * 3)
    let w = ''
    for (let i = 0; i < n; i++) w += SYLLABLES[Math.floor(rnd() * SYLLABLES.length)]
    if (!seen.has(w)) {
      seen.add(w)
      out.push(w)
    }
  }
  return out
})()
const cumulative = (() => {
  const c = new Float64Array(VOCAB)
  let total = 0
  for (let i = 0; i < VOCAB; i++) c[i] = total += 1 / Math.pow(i + 1, 1.05)
  for (let i = 0; i < VOCAB; i++) c[i] /= total
  return c
})()
function zipfWord(rnd) {
  const x = rnd()
  let lo = 0
  let hi = VOCAB - 1
  while (lo < hi) {
    const mid = (lo + hi) >> 1
    if (cumulative[mid] < x) lo = mid + 1
    else hi = mid
  }
  return words[lo]
}
const topicWord = (t) => `topic${t}`

export function synthPaper(i) {
  const rnd = mulberry32(i * 2654435761)
  const topic = Math.floor(rnd() * TOPICS)
  const title = [topicWord(topic), ...Array.from({ length: 6 }, () => zipfWord(rnd))].join(' ')
  const sentences = []
  for (let s = 0; s < 5; s++) {
    const n = 30 + Math.floor(rnd() * 17)
    const ws = Array.from({ length: n }, () => zipfWord(rnd))
    ws[0] = ws[0][0].toUpperCase() + ws[0].slice(1)
    sentences.push(`${ws.join(' ')}.`)
  }
  const year = 2015 + (i % 11)
  return { id: `bench-${i}`, title: title[0].toUpperCase() + title.slice(1), abstract: sentences.join(' '), date: `${year}-01-01`, sources: [`synthetic-${Math.floor(i / 10_000)}.jsonl:${i + 1}`] }
}

export const synthPapers = (from, to) => Array.from({ length: to - from }, (_, k) => synthPaper(from + k))

/** Search-box and question-like queries: a few words of a paper's abstract, its topic word first. */
export function synthQueries(papers, n) {
  const rnd = mulberry32(99)
  return Array.from({ length: n }, () => {
    const p = synthPaper(Math.floor(rnd() * papers))
    const ws = p.abstract.replace(/\./g, '').split(' ')
    const at = Math.floor(rnd() * (ws.length - 6))
    return `${p.title.split(' ')[0]} ${ws.slice(at, at + 2 + Math.floor(rnd() * 4)).join(' ')}`
  })
}

const centroids = (() => {
  const rnd = mulberry32(12345)
  return Array.from({ length: TOPICS }, () => Array.from({ length: DIMENSIONS }, () => rnd() - 0.5))
})()

function vectorOf(text) {
  const m = /topic(\d+)/i.exec(text)
  const c = centroids[m ? Number(m[1]) % TOPICS : fnv(text) % TOPICS]
  const rnd = mulberry32(fnv(text))
  const v = new Array(DIMENSIONS)
  let norm = 0
  for (let i = 0; i < DIMENSIONS; i++) {
    v[i] = c[i] + (rnd() - 0.5) * 0.8
    norm += v[i] * v[i]
  }
  norm = Math.sqrt(norm)
  for (let i = 0; i < DIMENSIONS; i++) v[i] /= norm
  return v
}

/** The Embedder interface (`src/index/embedders`), answered from the synthetic vectors. */
export function benchEmbedder() {
  const e = {
    seconds: 0,
    info: { provider: 'ollama', model: 'bench-synthetic-512', dimensions: DIMENSIONS },
    vectorOf,
    embeddings: {
      embedDocuments: async (texts) => {
        const t0 = performance.now()
        const out = texts.map(vectorOf)
        e.seconds += (performance.now() - t0) / 1000
        return out
      },
      embedQuery: async (text) => vectorOf(text),
    },
    close: async () => undefined,
  }
  return e
}
