import { OpenAIEmbeddings } from '@langchain/openai'
import { baseUrlOf, describeOpenAIError, OPENAI_BASE_URL, openAIClientFields } from '../../remote/index.js'
import { RemoteEmbeddings } from './_remote.js'
import type { Embedder } from './index.js'

export interface OpenAIOptions {
  apiKey: string
  /** Any OpenAI-compatible server, e.g. http://127.0.0.1:8000/v1 */
  baseURL?: string
  model?: string
  /** Shortened vectors (text-embedding-3 models only). */
  dimensions?: number
  timeoutMs?: number
  /** Texts per request. */
  batchSize?: number
}

/** Embeds one probe text, so a wrong key, URL or model fails here, with `info.dimensions` known. */
export async function createOpenAIEmbedder({
  apiKey,
  baseURL = OPENAI_BASE_URL,
  model = 'text-embedding-3-small',
  dimensions,
  timeoutMs = 60_000,
  batchSize = 128,
}: OpenAIOptions): Promise<Embedder> {
  const url = baseUrlOf(baseURL)
  const client = new OpenAIEmbeddings({
    ...openAIClientFields({ apiKey, baseURL: url, timeoutMs, maxRetries: 2 }),
    model,
    ...(dimensions ? { dimensions } : {}),
    batchSize,
  })
  const embeddings = new RemoteEmbeddings(client, (error) => describeOpenAIError(error, { baseURL: url, model, timeoutMs }), batchSize)
  const probe = await embeddings.embedQuery('dimension probe')
  return { info: { provider: 'openai', model, dimensions: probe.length }, embeddings, close: async () => {} }
}

