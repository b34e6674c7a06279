import { execFile } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { AppError } from '../../src/errors.js'
import { createEmbedder, type Embedder } from '../../src/index/embedders/index.js'

const norm = (v: number[]): number => Math.hypot(...v)
const dot = (a: number[], b: number[]): number => a.reduce((sum, x, i) => sum + x * (b[i] ?? 0), 0)

// Lengths from a few characters to past the 128-token cut, shuffled so sorting has work to do.
const TEXTS = [
  'LoRA',
  'Low-rank adaptation freezes the pretrained weights and trains small rank-decomposition matrices.',
  'Instruction tuning on diverse domains generalises better than scaling one domain.',
  'We study length generalization of transformers on arithmetic tasks such as addition and parity, finding that position encodings matter.',
  '',
  'Chain-of-thought prompting elicits reasoning.',
  'Pretraining large neural language models, such as BERT, has led to impressive gains on many natural language processing tasks. '.repeat(6),
  'Scaling laws relate loss to parameters, data and compute.',
  'Domain generalization aims to avoid performance degradation under distribution shift between training and unseen test data.',
  'Mixture of experts',
]

describe('use-lite embedder (2 workers)', () => {
  let embedder: Embedder
  beforeAll(async () => {
    embedder = await createEmbedder({ provider: 'use-lite', workers: 2 })
  })
  afterAll(async () => {
    await embedder?.close()
  })

  it('reports its model and 512 dimensions', () => {
    expect(embedder.info).toEqual({ provider: 'use-lite', model: 'universal-sentence-encoder-lite', dimensions: 512 })
  })

  it('returns 512-d unit vectors, also for an empty text', async () => {
    const vectors = await embedder.embeddings.embedDocuments(TEXTS)

    expect(vectors).toHaveLength(TEXTS.length)
    for (const vector of vectors) {
      expect(vector).toHaveLength(512)
      expect(norm(vector)).toBeCloseTo(1, 5)
    }
  })

  it('keeps input order across length-sorted batches on both workers: equal to embedding one at a time', async () => {
    // 4 copies with a suffix → 40 distinct texts → 10 length-sorted batches over both workers.
    const texts = [0, 1, 2, 3].flatMap((copy) => TEXTS.map((text) => `${text} (${copy})`))
    const batched = await embedder.embeddings.embedDocuments(texts)
    const single = await Promise.all(texts.map((text) => embedder.embeddings.embedQuery(text)))

    let worst = 0
    batched.forEach((vector, i) => vector.forEach((x, j) => (worst = Math.max(worst, Math.abs(x - (single[i]?.[j] ?? NaN))))))
    expect(worst).toBeLessThan(1e-5)
  })

  it('reports progress after each batch, up to the total', async () => {
    const texts = Array.from({ length: 40 }, (_, i) => `sentence number ${i} about retrieval`)
    const progress: Array<[number, number]> = []

    await embedder.embeddings.embedDocuments(texts, { onProgress: (done, total) => progress.push([done, total]) })

    const done = progress.map(([d]) => d)
    expect(done.length).toBeGreaterThan(1)
    expect(done).toEqual([...done].sort((a, b) => a - b))
    expect(progress.every(([, total]) => total === 40)).toBe(true)
    expect(progress.at(-1)).toEqual([40, 40])
  })

  it('puts paraphrases closer together than unrelated sentences', async () => {
    const [a, b, c] = await embedder.embeddings.embedDocuments([
      'How can large language models be fine-tuned cheaply?',
      'Parameter-efficient methods adapt big language models at low cost.',
      'The recipe needs two eggs and a cup of flour.',
    ])

    expect(dot(a ?? [], b ?? [])).toBeGreaterThan(dot(a ?? [], c ?? []) + 0.2)
  })

  it('embeds a query the same way as a document', async () => {
    const [doc] = await embedder.embeddings.embedDocuments(['what is low-rank adaptation?'])
    const query = await embedder.embeddings.embedQuery('what is low-rank adaptation?')

    query.forEach((x, j) => expect(x).toBeCloseTo(doc?.[j] ?? NaN, 6))
  })
})

describe('use-lite lifecycle', () => {
  it('fails every call after close()', async () => {
    const embedder = await createEmbedder({ provider: 'use-lite', workers: 1 })
    await embedder.close()

    await expect(embedder.embeddings.embedQuery('hello')).rejects.toThrow(AppError)
    await expect(embedder.embeddings.embedQuery('hello')).rejects.toMatchObject({ code: 'PROVIDER_UNAVAILABLE' })
  })

  // A real process: idle workers must not keep a CLI alive, with or without close().
  it.each(['close', 'no-close'])('lets a process exit promptly (%s)', async (mode) => {
    // execFile's timeout kills a process that idle workers keep alive, failing the test: no clock is read here.
    const { stdout } = await promisify(execFile)(process.execPath, ['--input-type=module', '--no-warnings', '-e', EXIT_SCRIPT, ENTRY, mode], {
      timeout: 30_000,
    })

    expect(stdout.trim()).toBe('512')
  })
})

const ENTRY = fileURLToPath(new URL('../../src/index/embedders/index.ts', import.meta.url))

// Node runs the .ts sources directly (type stripping); `./x.js` imports are mapped to `./x.ts`.
const EXIT_SCRIPT = `
import { registerHooks } from 'node:module'
import { pathToFileURL } from 'node:url'
registerHooks({
  resolve(specifier, context, next) {
    try {
      return next(specifier, context)
    } catch (error) {
      if (/^\\.\\.?\\//.test(specifier) && specifier.endsWith('.js')) return next(specifier.slice(0, -3) + '.ts', context)
      throw error
    }
  },
})
const [entry, mode] = process.argv.slice(1)
const { createEmbedder } = await import(pathToFileURL(entry).href)
const embedder = await createEmbedder({ provider: 'use-lite', workers: 2 })
const [vector] = await embedder.embeddings.embedDocuments(['hello world'])
console.log(vector.length)
if (mode === 'close') await embedder.close()
`
