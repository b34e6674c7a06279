import { Embeddings } from '@langchain/core/embeddings'

export interface EmbedOptions {
  /** Called after each finished batch with the number of texts embedded so far. */
  onProgress?: (done: number, total: number) => void
}

/**
 * LangChain's `Embeddings` plus an optional progress callback on `embedDocuments` (optional, so
 * it still satisfies the interface). Every provider returns unit-length vectors, in input order.
 */
export abstract class ProgressEmbeddings extends Embeddings {
  constructor() {
    super({})
  }

  abstract override embedDocuments(texts: string[], options?: EmbedOptions): Promise<number[][]>
}

/** Scales a vector to unit length (dot product = cosine); a zero vector stays zero. */
export function unitLength(vector: ArrayLike<number>): number[] {
  let sum = 0
  for (let i = 0; i < vector.length; i++) sum += (vector[i] ?? 0) ** 2
  const scale = sum > 0 ? 1 / Math.sqrt(sum) : 0
  return Array.from(vector, (x) => x * scale)
}
