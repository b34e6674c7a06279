import { afterEach, describe, expect, it } from 'vitest'
import { createEmbedder } from '../../src/index/embedders/index.js'
import { rejection, unit } from '../helpers/assert.js'
import { fakeEmbedding, refusedUrl, startStubOllama, type StubServer } from '../helpers/stub-ollama.js'

describe('ollama embedder', () => {
  let stub: StubServer | undefined
  afterEach(async () => {
    await stub?.close()
    stub = undefined
  })

  it('probes POST /api/embed at creation and learns the dimensions', async () => {
    stub = await startStubOllama({ dimensions: 12 })
    const embedder = await createEmbedder({ provider: 'ollama', host: stub.url, model: 'nomic-embed-text' })

    expect(embedder.info).toEqual({ provider: 'ollama', model: 'nomic-embed-text', dimensions: 12 })
    expect(stub.requests).toHaveLength(1)
    expect(stub.requests[0]).toMatchObject({ method: 'POST', path: '/api/embed', body: { model: 'nomic-embed-text', input: ['dimension probe'] } })
  })

  it('embeds documents and queries as unit vectors in input order, reporting progress', async () => {
    stub = await startStubOllama()
    const embedder = await createEmbedder({ provider: 'ollama', host: `${stub.url}/`, model: 'nomic-embed-text' })
    const texts = ['LoRA: low-rank adaptation', 'Chain-of-thought prompting', 'Scaling laws for language models']
    const progress: Array<[number, number]> = []

    const vectors = await embedder.embeddings.embedDocuments(texts, { onProgress: (done, total) => progress.push([done, total]) })
    const query = await embedder.embeddings.embedQuery('what is LoRA?')

    expect(vectors).toHaveLength(3)
    vectors.forEach((vector, i) => {
      unit(fakeEmbedding(texts[i] ?? '', 8)).forEach((x, j) => expect(vector[j]).toBeCloseTo(x, 12))
    })
    unit(fakeEmbedding('what is LoRA?', 8)).forEach((x, j) => expect(query[j]).toBeCloseTo(x, 12))
    expect(progress).toEqual([[3, 3]])
    expect(stub.requests.map((r) => r.body)).toEqual([
      expect.objectContaining({ model: 'nomic-embed-text', input: ['dimension probe'], truncate: true }),
      expect.objectContaining({ model: 'nomic-embed-text', input: texts }),
      expect.objectContaining({ model: 'nomic-embed-text', input: ['what is LoRA?'] }),
    ])
  })

  it('sends large inputs in batches of 32', async () => {
    stub = await startStubOllama()
    const embedder = await createEmbedder({ provider: 'ollama', host: stub.url, model: 'nomic-embed-text' })
    const texts = Array.from({ length: 70 }, (_, i) => `text ${i}`)
    const progress: number[] = []

    const vectors = await embedder.embeddings.embedDocuments(texts, { onProgress: (done) => progress.push(done) })

    expect(vectors).toHaveLength(70)
    expect(stub.requests.slice(1).map((r) => (r.body as { input: string[] }).input.length)).toEqual([32, 32, 6])
    expect(progress).toEqual([32, 64, 70])
    unit(fakeEmbedding('text 69', 8)).forEach((x, j) => expect(vectors[69]?.[j]).toBeCloseTo(x, 12))
  })

  it('says how to start Ollama when nothing listens at the host', async () => {
    const host = await refusedUrl()
    const error = await rejection(createEmbedder({ provider: 'ollama', host, model: 'nomic-embed-text' }))

    expect(error.code).toBe('PROVIDER_UNAVAILABLE')
    expect(error.message).toMatch(new RegExp(`^Cannot reach Ollama at ${host} \\(model nomic-embed-text\\): is \`ollama serve\` running\\? \\(.*ECONNREFUSED.*\\)$`))
  })

  it('says which model to pull when Ollama answers 404 model not found', async () => {
    stub = await startStubOllama({ models: ['nomic-embed-text'] })
    const error = await rejection(createEmbedder({ provider: 'ollama', host: stub.url, model: 'mxbai-embed-large' }))

    expect(error.code).toBe('MODEL_MISSING')
    expect(error.message).toBe(`Ollama at ${stub.url} has no model "mxbai-embed-large": run \`ollama pull mxbai-embed-large\`.`)
    expect(stub.requests).toHaveLength(1)
  })

  it('reports a model that cannot embed as a configuration error', async () => {
    stub = await startStubOllama({ embed: () => ({ status: 400, body: { error: '"llama3.2" does not support embeddings' } }) })
    const error = await rejection(createEmbedder({ provider: 'ollama', host: stub.url, model: 'llama3.2' }))

    expect(error.code).toBe('CONFIG')
    expect(error.message).toBe(`Ollama at ${stub.url} (model llama3.2) failed with HTTP 400: "llama3.2" does not support embeddings`)
  })

  it('gives up after timeoutMs', async () => {
    stub = await startStubOllama({ embed: () => ({ delayMs: 2000, body: { embeddings: [[1]] } }) })
    const error = await rejection(createEmbedder({ provider: 'ollama', host: stub.url, model: 'nomic-embed-text', timeoutMs: 100 }))

    expect(error.code).toBe('TIMEOUT')
    expect(error.message).toBe(`Ollama at ${stub.url} (model nomic-embed-text) did not answer within 0.1 s.`)
  })

  it('retries a server error, then succeeds', async () => {
    let calls = 0
    stub = await startStubOllama({
      embed: (body) => (++calls === 1 ? { status: 503, body: { error: 'busy' } } : { body: { model: body.model, embeddings: [[3, 4]] } }),
    })
    const embedder = await createEmbedder({ provider: 'ollama', host: stub.url, model: 'nomic-embed-text' })

    expect(embedder.info.dimensions).toBe(2)
    const [x, y] = await embedder.embeddings.embedQuery('x')
    expect(x).toBeCloseTo(0.6, 12)
    expect(y).toBeCloseTo(0.8, 12)
    expect(calls).toBe(3)
  })
})
