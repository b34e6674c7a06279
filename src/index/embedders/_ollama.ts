import { OllamaEmbeddings } from '@langchain/ollama'
import { baseUrlOf, describeOllamaError, retryOnlyTransient, withTimeout } from '../../remote/index.js'
import { RemoteEmbeddings } from './_remote.js'
import type { Embedder } from './index.js'

export interface OllamaOptions {
  /** e.g. http://127.0.0.1:11434 */
  host: string
  model?: string
  timeoutMs?: number
  /** Texts per `POST /api/embed`: small enough that one request stays well inside the timeout. */
  batchSize?: number
  fetch?: typeof fetch
}

/** Embeds one probe text, so a missing server or model fails here, with `info.dimensions` known. */
export async function createOllamaEmbedder({
  host,
  model = 'nomic-embed-text',
  timeoutMs = 60_000,
  batchSize = 32,
  fetch: fetchImpl = fetch,
}: OllamaOptions): Promise<Embedder> {
  const baseUrl = baseUrlOf(host)
  const client = new OllamaEmbeddings({
    baseUrl,
    model,
    // Ollama's own default; LangChain's `false` turns one over-long chunk into a failed ingest.
    truncate: true,
    maxRetries: 2,
    onFailedAttempt: retryOnlyTransient,
    fetch: withTimeout(fetchImpl, timeoutMs),
  })
  const embeddings = new RemoteEmbeddings(client, (error) => describeOllamaError(error, { host: baseUrl, model, timeoutMs }), batchSize)
  const probe = await embeddings.embedQuery('dimension probe')
  return { info: { provider: 'ollama', model, dimensions: probe.length }, embeddings, close: async () => {} }
}

