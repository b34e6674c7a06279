import type { ProgressEmbeddings } from './_embeddings.js'
import { createOllamaEmbedder } from './_ollama.js'
import { createOpenAIEmbedder } from './_openai.js'
import { createUseLiteEmbedder } from './_use-lite.js'

export { ProgressEmbeddings, type EmbedOptions } from './_embeddings.js'
export { USE_LITE_DIMENSIONS, USE_LITE_MODEL } from './_use-lite.js'

/**
 * USE-lite reads only the first 128 tokens of a text (~500–600 characters of English); the rest
 * is ignored, so chunks meant for it should stay shorter than that.
 */
export const USE_LITE_MAX_TOKENS = 128

export interface EmbedderInfo {
  provider: 'use-lite' | 'ollama' | 'openai'
  model: string
  dimensions: number
}

export interface Embedder {
  info: EmbedderInfo
  /** Unit-length vectors; `embedDocuments(texts, { onProgress })` reports finished batches. */
  embeddings: ProgressEmbeddings
  /** Stops worker threads (use-lite); afterwards every call fails. */
  close(): Promise<void>
}

export type EmbedderConfig =
  | { provider: 'use-lite'; workers?: number }
  | { provider: 'ollama'; host: string; model: string; timeoutMs?: number }
  | { provider: 'openai'; apiKey: string; baseURL?: string; model: string; dimensions?: number; timeoutMs?: number }

/**
 * Creates a ready embedder: use-lite has loaded its model in every worker; ollama and openai
 * have embedded a probe text (so a missing server, model or key fails here, as an AppError).
 */
export function createEmbedder(config: EmbedderConfig): Promise<Embedder> {
  switch (config.provider) {
    case 'use-lite':
      return createUseLiteEmbedder(config.workers === undefined ? {} : { workers: config.workers })
    case 'ollama':
      return createOllamaEmbedder(config)
    case 'openai':
      return createOpenAIEmbedder(config)
  }
}
