// Grid search of the hybrid fusion weights on the dev split (run after `npm run build` and an
// ingest into --data-dir). Prints, per setting, Recall@5 / MRR per kind and whether hybrid is at
// least as good as its best component on every kind. Usage: node evals/tune-fusion.mjs DATA_DIR [split]
import { loadConfig } from '../dist/config.js'
import { Engine } from '../dist/engine.js'
import { Retriever } from '../dist/retrieve/hybrid.js'
import { evaluateRetrieval, loadQuestions, resolveExpected } from '../dist/eval/harness.js'

const [dataDir, split = 'dev'] = process.argv.slice(2)
const engine = await Engine.open(loadConfig({ ...process.env, ASKPAPERS_DATA_DIR: dataDir }))
const embedder = await engine.embedder()
const questions = (await loadQuestions(new URL('./questions.jsonl', import.meta.url).pathname)).filter((q) => split === 'all' || q.split === split)
const expected = resolveExpected(questions, engine.index.papers.values())
const cache = new Map()
const embed = async (q) => cache.get(q) ?? cache.set(q, await embedder.embeddings.embedQuery(q)).get(q)
const kinds = ['paraphrase', 'method', 'multi', 'vocab-gap', 'all']
const fmt = (row) => kinds.map((k) => `${k.slice(0, 5)} ${(row[k].recall5 * 100).toFixed(0).padStart(3)}/${row[k].mrr.toFixed(2)}`).join('  ')

const base = await evaluateRetrieval(new Retriever(engine.index, embed), embed, questions, expected, ['keyword', 'dense'])
console.log(`keyword            ${fmt(base.table.keyword)}`)
console.log(`dense              ${fmt(base.table.dense)}`)
const results = []
const grid = []
for (const sure of [0, 0.1, 0.2]) for (const lost of [0.7, 0.8, 0.9, 1.0]) for (const low of [0.15, 0.2, 0.25]) for (const high of [0.3, 0.35, 0.4, 0.5]) grid.push({ sure, lost, low, high })
for (const { sure, lost, low, high } of grid) {
  {
    const r = new Retriever(engine.index, embed, { denseWeightSure: sure, denseWeightLost: lost, confidenceLow: low, confidenceHigh: high, denseCandidates: 120, passagesPerPaper: 2 })
    const { table } = await evaluateRetrieval(r, embed, questions, expected, ['hybrid'])
    const h = table.hybrid
    const ok = kinds.every((k) => h[k].recall5 >= Math.max(base.table.keyword[k].recall5, base.table.dense[k].recall5) - 1e-9)
    results.push({ sure, lost, low, high, ok, all: h.all })
    console.log(`sure ${sure.toFixed(1)} lost ${lost.toFixed(1)} conf ${low}-${high} ${ok ? 'OK ' : '   '}${fmt(h)}`)
  }
}
await engine.close()
