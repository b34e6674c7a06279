import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { AppError } from '../../src/errors.js'
import { createUseLiteEmbedder, type BatchInfo } from '../../src/index/embedders/_use-lite.js'
import type { Embedder } from '../../src/index/embedders/index.js'

// Search-box questions of similar length, plus a few outliers.
const QUESTIONS = [
  'what is LoRA?',
  'how does instruction diversity affect generalization',
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
]
const LONG = 'Pretraining large neural language models, such as BERT, has led to impressive gains on many natural language processing tasks. '.repeat(5)

/** Largest absolute difference between two vectors' components. */
const worstDifference = (a: number[], b: number[]): number => a.reduce((worst, x, i) => Math.max(worst, Math.abs(x - (b[i] ?? NaN))), 0)

/** An embedder whose batches are recorded, without the query cache unless asked for. */
async function recorded(options: { workers: number; queryBatchSize?: number; queryCacheSize?: number }): Promise<{ embedder: Embedder; batches: BatchInfo[] }> {
  const batches: BatchInfo[] = []
  const embedder = await createUseLiteEmbedder({ queryCacheSize: 0, ...options, onBatch: (batch) => batches.push(batch) })
  return { embedder, batches }
}

describe('use-lite query batching (2 workers)', () => {
  let embedder: Embedder
  let batches: BatchInfo[]
  /** Each question's vector embedded alone, one call at a time. */
  const alone = new Map<string, number[]>()
  beforeAll(async () => {
    ;({ embedder, batches } = await recorded({ workers: 2 }))
    for (const text of [...QUESTIONS, LONG]) alone.set(text, await embedder.embeddings.embedQuery(text))
  })
  afterAll(async () => {
    await embedder?.close()
  })

  it('sends a lone query on its own: one batch of one text per call', () => {
    expect(batches).toEqual([...QUESTIONS, LONG].map((text) => ({ kind: 'query', texts: [text] })))
    for (const vector of alone.values()) expect(vector).toHaveLength(512)
  })

  it('batches concurrent queries, and each caller gets the vector of its own text alone (within 1e-6)', async () => {
    batches.length = 0
    const vectors = await Promise.all(QUESTIONS.map((text) => embedder.embeddings.embedQuery(text)))

    vectors.forEach((vector, i) => expect(worstDifference(vector, alone.get(QUESTIONS[i] ?? '') ?? [])).toBeLessThan(1e-6))
    // Each text went out exactly once, and not one at a time.
    expect(batches.flatMap((batch) => batch.texts).sort()).toEqual([...QUESTIONS].sort())
    expect(batches.every((batch) => batch.kind === 'query')).toBe(true)
    expect(batches.length).toBeLessThan(QUESTIONS.length)
    expect(Math.max(...batches.map((batch) => batch.texts.length))).toBeGreaterThan(1)
  })

  it('shares concurrent queries out over the free workers: 12 questions, 2 idle workers → 2 batches of 6', async () => {
    batches.length = 0
    await Promise.all(QUESTIONS.map((text) => embedder.embeddings.embedQuery(text)))

    expect(batches.map((batch) => batch.texts.length)).toEqual([6, 6])
  })

  it('keeps a text far longer than the rest out of their batch (padding)', async () => {
    batches.length = 0
    const texts = [QUESTIONS[0] ?? '', LONG, QUESTIONS[1] ?? '', QUESTIONS[2] ?? '']
    const vectors = await Promise.all(texts.map((text) => embedder.embeddings.embedQuery(text)))

    expect(batches.find((batch) => batch.texts.includes(LONG))?.texts).toEqual([LONG])
    vectors.forEach((vector, i) => expect(worstDifference(vector, alone.get(texts[i] ?? '') ?? [])).toBeLessThan(1e-6))
  })
})

describe('use-lite query batching (1 worker)', () => {
  let embedder: Embedder
  let batches: BatchInfo[]
  beforeAll(async () => {
    ;({ embedder, batches } = await recorded({ workers: 1, queryBatchSize: 4 }))
  })
  afterAll(async () => {
    await embedder?.close()
  })

  it('queues queries that arrive while the worker is busy into batches of at most queryBatchSize, oldest first', async () => {
    batches.length = 0
    const first = embedder.embeddings.embedQuery('the first question, alone on the idle worker')
    await new Promise((resolve) => setImmediate(resolve)) // it has been sent
    const rest = QUESTIONS.slice(0, 10).map((text) => embedder.embeddings.embedQuery(text))
    await Promise.all([first, ...rest])

    expect(batches.map((batch) => batch.texts.length)).toEqual([1, 4, 4, 2])
    // Every batch holds the oldest query still waiting (its companions are picked by length).
    const waiting = QUESTIONS.slice(0, 10)
    for (const { texts } of batches.slice(1)) {
      expect(texts).toContain(waiting[0])
      for (const text of texts) waiting.splice(waiting.indexOf(text), 1)
    }
    expect(waiting).toEqual([])
  })

  it('runs a waiting query before the rest of an ingest: it waits for one document batch only', async () => {
    batches.length = 0
    const documents = Array.from({ length: 24 }, (_, i) => `${QUESTIONS[i % QUESTIONS.length]}: document ${i}`)
    const ingest = embedder.embeddings.embedDocuments(documents)
    const query = embedder.embeddings.embedQuery('a question asked during an ingest')
    await Promise.all([ingest, query])

    expect(batches.map((batch) => batch.kind)).toEqual(['document', 'query', ...Array<string>(5).fill('document')])
  })

  it('fails only the query whose text fails: its batch is retried one text at a time', async () => {
    batches.length = 0
    const bad = 42 as unknown as string // not a string: the worker's tokenizer throws on it
    const texts = [QUESTIONS[3] ?? '', bad, QUESTIONS[4] ?? '', QUESTIONS[5] ?? '']
    const outcomes = await Promise.allSettled(texts.map((text) => embedder.embeddings.embedQuery(text)))

    expect(outcomes.map((outcome) => outcome.status)).toEqual(['fulfilled', 'rejected', 'fulfilled', 'fulfilled'])
    const failure = (outcomes[1] as PromiseRejectedResult).reason
    expect(failure).toBeInstanceOf(AppError)
    expect(failure).toMatchObject({ code: 'PROVIDER_UNAVAILABLE', message: expect.stringMatching(/^USE-lite failed to embed: /) })
    expect(batches.map((batch) => batch.texts)).toEqual([texts, [texts[0]], [bad], [texts[2]], [texts[3]]])
    // The others still get their own vectors.
    for (const [i, outcome] of outcomes.entries()) {
      if (outcome.status !== 'fulfilled') continue
      const [reference] = await embedder.embeddings.embedDocuments([texts[i] ?? ''])
      expect(worstDifference(outcome.value, reference ?? [])).toBeLessThan(1e-6)
    }
  })

  it('rejects every query still queued or in flight when closed, and later calls too', async () => {
    const { embedder: closing, batches: sent } = await recorded({ workers: 1 })
    const inFlight = closing.embeddings.embedQuery('sent to the worker before close')
    await new Promise((resolve) => setImmediate(resolve))
    const queued = QUESTIONS.slice(0, 3).map((text) => closing.embeddings.embedQuery(text))
    const ingest = closing.embeddings.embedDocuments(['a document', 'another document'])
    const settled = Promise.allSettled([inFlight, ...queued, ingest])
    await closing.close()
    const outcomes = [...(await settled), ...(await Promise.allSettled([closing.embeddings.embedQuery('after close')]))]

    expect(sent.map((batch) => batch.texts)).toEqual([['sent to the worker before close']])
    for (const outcome of outcomes) {
      expect(outcome.status).toBe('rejected')
      expect((outcome as PromiseRejectedResult).reason).toMatchObject({ code: 'PROVIDER_UNAVAILABLE' })
    }
  })
})

describe('use-lite query cache', () => {
  it('embeds a question once: concurrent callers share one embedding, later ones hit the cache', async () => {
    const { embedder, batches } = await recorded({ workers: 1, queryCacheSize: 8 })
    try {
      const [a, b] = await Promise.all([embedder.embeddings.embedQuery('what is LoRA?'), embedder.embeddings.embedQuery('what is LoRA?')])
      const c = await embedder.embeddings.embedQuery('what is LoRA?')

      expect(batches).toEqual([{ kind: 'query', texts: ['what is LoRA?'] }])
      expect(b).toEqual(a)
      expect(c).toEqual(a)
    } finally {
      await embedder.close()
    }
  })
})
