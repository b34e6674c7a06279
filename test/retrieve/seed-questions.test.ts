import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { Answerer } from '../../src/answer/answer.js'
import { loadPrompts } from '../../src/answer/prompts.js'
import { defaultSeedDir, loadPapers } from '../../src/corpus/index.js'
import { createEmbedder, type Embedder } from '../../src/index/embedders/index.js'
import { PaperIndex } from '../../src/index/store.js'
import { Retriever, type SearchMode } from '../../src/retrieve/hybrid.js'

// The real offline embedder over 45 real seed papers: the targets below plus 40 distractors.
const TARGETS = {
  bitfit: 'BitFit: Simple Parameter-efficient Fine-tuning for Transformer-based Masked Language-models',
  bitdelta: 'BitDelta: Your Fine-Tune May Only Be Worth One Bit',
  lora: 'LoRA Learns Less and Forgets Less',
  weak: 'Weak-to-Strong Generalization: Eliciting Strong Capabilities With Weak Supervision',
  lwganet: 'LWGANet: A Lightweight Group Attention Backbone for Remote Sensing Visual Tasks',
}

let embedder: Embedder
let retriever: Retriever
let dir: string

beforeAll(async () => {
  const { papers } = await loadPapers([defaultSeedDir()])
  const targets = papers.filter((p) => Object.values(TARGETS).includes(p.title))
  const distractors = papers.filter((p) => !targets.includes(p)).slice(0, 40)
  expect(targets).toHaveLength(5)
  embedder = await createEmbedder({ provider: 'use-lite' })
  dir = await mkdtemp(join(tmpdir(), 'askpapers-seeds-'))
  const { index } = await (await PaperIndex.open(dir)).ingest([...targets, ...distractors], embedder, { size: 300, overlap: 0 })
  retriever = new Retriever(index, (q) => embedder.embeddings.embedQuery(q))
}, 180_000)
afterAll(async () => {
  await embedder.close()
  await rm(dir, { recursive: true, force: true })
})

async function rank(question: string, title: string, mode: SearchMode): Promise<number> {
  const { hits } = await retriever.search(question, { k: 45, mode })
  const at = hits.findIndex((h) => h.title === title)
  return at < 0 ? Infinity : at + 1
}

describe('hybrid search on seed questions', () => {
  // Known regression of the min–max fusion (issue notes): dense similarity ranks "Towards Exact
  // Computation of Inductive Bias" above BitFit for this wording, and keyword's lead is not enough.
  it('keeps BitFit first by keyword and in the top two by hybrid for "only the bias terms"', async () => {
    const question = 'Which method fine-tunes only the bias terms of a transformer?'
    expect(await rank(question, TARGETS.bitfit, 'keyword')).toBe(1)
    expect(await rank(question, TARGETS.bitfit, 'hybrid')).toBeLessThanOrEqual(2)
  })

  it.each([
    ['How can many fine-tuned models be served from one base model with 1-bit deltas?', TARGETS.bitdelta],
    ['Does LoRA forget less of the base model than full finetuning does?', TARGETS.lora],
    ['Can a strong model trained on labels from a weaker supervisor outperform it?', TARGETS.weak],
  ])('puts the paper first for "%s"', async (question, title) => {
    expect(await rank(question, title, 'hybrid')).toBe(1)
  })

  it('finds a paper described without its own words better than keyword search does', async () => {
    const question = 'a small quick network for overhead imagery where objects vary hugely in size'
    const hybrid = await rank(question, TARGETS.lwganet, 'hybrid')
    expect(hybrid).toBeLessThanOrEqual(3)
    expect(hybrid).toBeLessThanOrEqual(await rank(question, TARGETS.lwganet, 'keyword'))
  })
})

describe('the query vector', () => {
  it('stays off the public search outcome and comes only with retrieve', async () => {
    const question = 'Does LoRA forget less of the base model than full finetuning does?'
    const outcome = await retriever.search(question)
    expect(Object.keys(outcome).sort()).toEqual(['hits', 'timings'])
    const retrieval = await retriever.retrieve(question)
    expect(retrieval.hits.map((h) => h.id)).toEqual(outcome.hits.map((h) => h.id))
    expect(retrieval.queryVector).toHaveLength(embedder.info.dimensions)
    expect(await retriever.retrieve(question, { mode: 'keyword' })).not.toHaveProperty('queryVector')
  })
})

describe('offline answers to seed questions', () => {
  it.each([
    ['Which method fine-tunes only the bias terms of a transformer?', TARGETS.bitfit],
    ['How much GPU memory does BitDelta save when serving fine-tuned models?', TARGETS.bitdelta],
    ['Can a strong model trained on labels from a weaker supervisor outperform it?', TARGETS.weak],
  ])('cites the right paper first for "%s"', async (question, title) => {
    const answerer = new Answerer({ retriever, corpus: retriever.corpus, prompts: await loadPrompts('prompts') })
    const result = await answerer.ask(question)
    expect(result.abstained).toBe(false)
    expect(result.references[0]?.title).toBe(title)
    expect(result.answer).toMatch(/\[1\]/)
    expect(result.checks.invalidMarkers).toEqual([])
    expect(result.checks.uncitedSentences).toEqual([])
  })

  it.each([
    ['How does DoRA split pretrained weights into magnitude and direction?'],
    ['How are capital gains from selling cryptocurrency taxed in Germany?'],
  ])('abstains and lists related papers for "%s"', async (question) => {
    const answerer = new Answerer({ retriever, corpus: retriever.corpus, prompts: await loadPrompts('prompts') })
    const result = await answerer.ask(question)
    expect(result).toMatchObject({ abstained: true, answer: 'The retrieved papers do not answer this question.', references: [] })
    expect(result.related).toHaveLength(5)
  })
})
