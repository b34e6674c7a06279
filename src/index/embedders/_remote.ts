import type { EmbeddingsInterface } from '@langchain/core/embeddings'
import { AppError } from '../../errors.js'
import { ProgressEmbeddings, unitLength, type EmbedOptions } from './_embeddings.js'

/**
 * A LangChain client for a server's embeddings (Ollama, OpenAI-compatible) behind our interface:
 * batches with progress, unit-length vectors, and every failure turned into one AppError line by
 * the provider's `describe`.
 */
export class RemoteEmbeddings extends ProgressEmbeddings {
  private readonly client: EmbeddingsInterface
  private readonly describe: (error: unknown) => AppError
  private readonly batchSize: number

  constructor(client: EmbeddingsInterface, describe: (error: unknown) => AppError, batchSize: number) {
    super()
    this.client = client
    this.describe = describe
    this.batchSize = batchSize
  }

  async embedDocuments(texts: string[], { onProgress }: EmbedOptions = {}): Promise<number[][]> {
    const out: number[][] = []
    for (let start = 0; start < texts.length; start += this.batchSize) {
      const batch = texts.slice(start, start + this.batchSize)
      const vectors = await this.call(() => this.client.embedDocuments(batch))
      if (vectors.length !== batch.length) {
        throw new AppError('PROVIDER_UNAVAILABLE', `The embedding server returned ${vectors.length} vectors for ${batch.length} texts.`)
      }
      for (const vector of vectors) out.push(unitLength(vector))
      onProgress?.(out.length, texts.length)
    }
    return out
  }

  async embedQuery(text: string): Promise<number[]> {
    return unitLength(await this.call(() => this.client.embedQuery(text)))
  }

  private async call<T>(request: () => Promise<T>): Promise<T> {
    try {
      return await request()
    } catch (error) {
      throw error instanceof AppError ? error : this.describe(error)
    }
  }
}

/**
 * LangChain's retry handler: a refused connection, a wrong key or model, or a timeout will not fix
 * itself, so they fail at once; only rate limits and server errors are retried (`maxRetries`).
 */
export function retryOnlyTransient(error: unknown): void {
  const status = httpStatus(error)
  if (status === 429 || (status !== undefined && status >= 500)) return
  throw error
}

/** The HTTP status of a client error (`status` in openai, `status_code` in ollama-js). */
export function httpStatus(error: unknown): number | undefined {
  if (typeof error !== 'object' || error === null) return undefined
  const { status, status_code: statusCode } = error as { status?: unknown; status_code?: unknown }
  if (typeof status === 'number') return status
  if (typeof statusCode === 'number') return statusCode
  return undefined
}

export function isTimeout(error: unknown): boolean {
  for (const e of causes(error)) {
    const name = (e as { name?: unknown }).name
    if (name === 'TimeoutError' || name === 'APIConnectionTimeoutError') return true
  }
  return false
}

/** The innermost cause, as a short text: "connect ECONNREFUSED 127.0.0.1:9". */
export function rootCause(error: unknown): string {
  const chain = causes(error)
  const last = chain[chain.length - 1]
  return last instanceof Error ? last.message : String(last)
}

/**
 * The message the server put in its error body (`error` in ollama-js, `error.message` in openai),
 * without what the clients add around it ("404 ", LangChain's troubleshooting link).
 */
export function serverMessage(error: unknown): string {
  const body = (error as { error?: unknown } | null)?.error
  if (typeof body === 'string') return body
  const nested = (body as { message?: unknown } | null | undefined)?.message
  if (typeof nested === 'string') return nested
  const message = error instanceof Error ? error.message : String(error)
  return (message.split('\n')[0] ?? '').replace(/^\d{3}\s+/, '')
}

function causes(error: unknown): unknown[] {
  const chain: unknown[] = []
  for (let e: unknown = error; e !== undefined && e !== null && chain.length < 8; e = (e as { cause?: unknown }).cause) {
    chain.push(e)
    if (typeof e !== 'object') break
  }
  return chain
}
