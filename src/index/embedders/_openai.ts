import { OpenAIEmbeddings } from '@langchain/openai'
import { AppError } from '../../errors.js'
import { RemoteEmbeddings, httpStatus, isTimeout, retryOnlyTransient, rootCause, serverMessage } from './_remote.js'
import type { Embedder } from './index.js'

export const OPENAI_BASE_URL = 'https://api.openai.com/v1'

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
  const url = baseURL.replace(/\/+$/, '')
  const client = new OpenAIEmbeddings({
    apiKey,
    model,
    ...(dimensions ? { dimensions } : {}),
    timeout: timeoutMs,
    batchSize,
    maxRetries: 2,
    onFailedAttempt: retryOnlyTransient,
    // An explicit baseURL also keeps the client from reading OPENAI_BASE_URL itself.
    configuration: { baseURL: url },
  })
  const embeddings = new RemoteEmbeddings(client, (error) => describeOpenAIError(error, { baseURL: url, model, timeoutMs }), batchSize)
  const probe = await embeddings.embedQuery('dimension probe')
  return { info: { provider: 'openai', model, dimensions: probe.length }, embeddings, close: async () => {} }
}

export function describeOpenAIError(error: unknown, { baseURL, model, timeoutMs }: { baseURL: string; model: string; timeoutMs: number }): AppError {
  const status = httpStatus(error)
  const message = serverMessage(error)
  const where = `the OpenAI-compatible API at ${baseURL}`
  if (isTimeout(error)) {
    return new AppError('TIMEOUT', `${capitalise(where)} (model ${model}) did not answer within ${timeoutMs / 1000} s.`, { cause: error })
  }
  if (status === undefined) {
    return new AppError('PROVIDER_UNAVAILABLE', `Cannot reach ${where} (model ${model}): ${rootCause(error)}`, { cause: error })
  }
  if (status === 401 || status === 403) {
    return new AppError('CONFIG', `${capitalise(where)} rejected the API key (HTTP ${status}): check the key for ${baseURL}.`, { cause: error })
  }
  if (status === 404) {
    return new AppError(
      'MODEL_MISSING',
      `${capitalise(where)} has no embedding model "${model}" (HTTP 404: ${message}): check the model name, and that the base URL ends in /v1.`,
      { cause: error },
    )
  }
  if (status === 429) {
    return new AppError('PROVIDER_UNAVAILABLE', `${capitalise(where)} is rate-limiting or out of quota (HTTP 429): ${message}`, { cause: error })
  }
  const code = status >= 400 && status < 500 ? 'CONFIG' : 'PROVIDER_UNAVAILABLE'
  return new AppError(code, `${capitalise(where)} (model ${model}) failed with HTTP ${status}: ${message}`, { cause: error })
}

const capitalise = (text: string): string => text.charAt(0).toUpperCase() + text.slice(1)
