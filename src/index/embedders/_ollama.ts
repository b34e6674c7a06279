import { OllamaEmbeddings } from '@langchain/ollama'
import { AppError } from '../../errors.js'
import { RemoteEmbeddings, httpStatus, isTimeout, retryOnlyTransient, rootCause, serverMessage } from './_remote.js'
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
  const baseUrl = host.replace(/\/+$/, '')
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

export function describeOllamaError(error: unknown, { host, model, timeoutMs }: { host: string; model: string; timeoutMs: number }): AppError {
  const status = httpStatus(error)
  const message = serverMessage(error)
  if (isTimeout(error)) {
    return new AppError('TIMEOUT', `Ollama at ${host} (model ${model}) did not answer within ${timeoutMs / 1000} s.`, { cause: error })
  }
  if (status === undefined) {
    return new AppError('PROVIDER_UNAVAILABLE', `Cannot reach Ollama at ${host} (model ${model}): is \`ollama serve\` running? (${rootCause(error)})`, {
      cause: error,
    })
  }
  if (status === 404 && /not found/i.test(message)) {
    return new AppError('MODEL_MISSING', `Ollama at ${host} has no model "${model}": run \`ollama pull ${model}\`.`, { cause: error })
  }
  // e.g. 400 "\"llama3\" does not support embeddings": the configuration names the wrong model.
  const code = status >= 400 && status < 500 ? 'CONFIG' : 'PROVIDER_UNAVAILABLE'
  return new AppError(code, `Ollama at ${host} (model ${model}) failed with HTTP ${status}: ${message}`, { cause: error })
}

/** ollama-js has no timeout option; its `fetch` is injectable. */
function withTimeout(fetchImpl: typeof fetch, timeoutMs: number): typeof fetch {
  return (input, init = {}) => {
    const timeout = AbortSignal.timeout(timeoutMs)
    return fetchImpl(input, { ...init, signal: init.signal ? AbortSignal.any([init.signal, timeout]) : timeout })
  }
}
