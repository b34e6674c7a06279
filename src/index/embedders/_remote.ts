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
