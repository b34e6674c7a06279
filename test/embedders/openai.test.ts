import { afterEach, describe, expect, it } from 'vitest'
import { createEmbedder } from '../../src/index/embedders/index.js'
import { rejection, unit } from '../helpers/assert.js'
import { fakeEmbedding, refusedUrl, startStubOpenAI, type StubOpenAI } from '../helpers/stub-openai.js'

// What the server computed, after the float32 round trip of the base64 encoding.
const expected = (text: string, dimensions: number): number[] => unit(Array.from(new Float32Array(fakeEmbedding(text, dimensions))))

describe('openai-compatible embedder', () => {
  let stub: StubOpenAI | undefined
  afterEach(async () => {
    await stub?.close()
    stub = undefined
  })

  it('probes POST /v1/embeddings with the key at creation and learns the dimensions', async () => {
    stub = await startStubOpenAI({ apiKey: 'sk-local', dimensions: 16 })
    const embedder = await createEmbedder({ provider: 'openai', apiKey: 'sk-local', baseURL: stub.baseURL, model: 'text-embedding-3-small' })

    expect(embedder.info).toEqual({ provider: 'openai', model: 'text-embedding-3-small', dimensions: 16 })
    expect(stub.requests).toHaveLength(1)
    expect(stub.requests[0]).toMatchObject({
      method: 'POST',
      path: '/v1/embeddings',
      headers: { authorization: 'Bearer sk-local' },
      body: { model: 'text-embedding-3-small', input: 'dimension probe', encoding_format: 'base64' },
    })
  })

  it('embeds documents and queries as unit vectors in input order, reporting progress', async () => {
    stub = await startStubOpenAI()
    const embedder = await createEmbedder({ provider: 'openai', apiKey: 'sk-test', baseURL: `${stub.baseURL}/`, model: 'text-embedding-3-small' })
    const texts = ['LoRA: low-rank adaptation', 'Chain-of-thought prompting', 'Scaling laws for language models']
    const progress: Array<[number, number]> = []

    const vectors = await embedder.embeddings.embedDocuments(texts, { onProgress: (done, total) => progress.push([done, total]) })
    const query = await embedder.embeddings.embedQuery('what is LoRA?')

    expect(vectors).toHaveLength(3)
    vectors.forEach((vector, i) => expected(texts[i] ?? '', 8).forEach((x, j) => expect(vector[j]).toBeCloseTo(x, 6)))
    expected('what is LoRA?', 8).forEach((x, j) => expect(query[j]).toBeCloseTo(x, 6))
    expect(progress).toEqual([[3, 3]])
    expect(stub.requests.map((r) => r.body)).toEqual([
      { model: 'text-embedding-3-small', input: 'dimension probe', encoding_format: 'base64' },
      { model: 'text-embedding-3-small', input: texts, encoding_format: 'base64' },
      { model: 'text-embedding-3-small', input: 'what is LoRA?', encoding_format: 'base64' },
    ])
  })

  it('asks for shortened vectors when dimensions is set', async () => {
    stub = await startStubOpenAI({ models: ['text-embedding-3-large'] })
    const embedder = await createEmbedder({
      provider: 'openai',
      apiKey: 'sk-test',
      baseURL: stub.baseURL,
      model: 'text-embedding-3-large',
      dimensions: 4,
    })

    expect(embedder.info.dimensions).toBe(4)
    expect(stub.requests[0]?.body).toMatchObject({ model: 'text-embedding-3-large', dimensions: 4 })
  })

  it('names the base URL when the key is rejected (401)', async () => {
    stub = await startStubOpenAI({ apiKey: 'sk-right' })
    const error = await rejection(createEmbedder({ provider: 'openai', apiKey: 'sk-wrong', baseURL: stub.baseURL, model: 'text-embedding-3-small' }))

    expect(error.code).toBe('CONFIG')
    expect(error.message).toBe(`The OpenAI-compatible API at ${stub.baseURL} rejected the API key (HTTP 401): check the key for ${stub.baseURL}.`)
    expect(stub.requests).toHaveLength(1)
  })

  it('reports an unknown model (404) as missing', async () => {
    stub = await startStubOpenAI()
    const error = await rejection(createEmbedder({ provider: 'openai', apiKey: 'sk-test', baseURL: stub.baseURL, model: 'no-such-model' }))

    expect(error.code).toBe('MODEL_MISSING')
    expect(error.message).toBe(
      `The OpenAI-compatible API at ${stub.baseURL} has no embedding model "no-such-model" ` +
        '(HTTP 404: The model `no-such-model` does not exist or you do not have access to it.): ' +
        'check the model name, and that the base URL ends in /v1.',
    )
    expect(stub.requests).toHaveLength(1)
  })

  it('fails fast when nothing listens at the base URL', async () => {
    const baseURL = `${await refusedUrl()}/v1`
    const error = await rejection(createEmbedder({ provider: 'openai', apiKey: 'sk-test', baseURL, model: 'text-embedding-3-small' }))

    expect(error.code).toBe('PROVIDER_UNAVAILABLE')
    expect(error.message).toMatch(new RegExp(`^Cannot reach the OpenAI-compatible API at ${baseURL} \\(model text-embedding-3-small\\): .*ECONNREFUSED`))
  })

  it('gives up after timeoutMs', async () => {
    stub = await startStubOpenAI({ embeddings: () => ({ delayMs: 2000, body: {} }) })
    const error = await rejection(
      createEmbedder({ provider: 'openai', apiKey: 'sk-test', baseURL: stub.baseURL, model: 'text-embedding-3-small', timeoutMs: 100 }),
    )

    expect(error.code).toBe('TIMEOUT')
    expect(error.message).toBe(`The OpenAI-compatible API at ${stub.baseURL} (model text-embedding-3-small) did not answer within 0.1 s.`)
  })
})
