import { retryOnlyTransient } from './_errors.js'

// How the clients of Ollama and OpenAI-compatible servers are set up, for the embedders and the chat providers alike.

export const OPENAI_BASE_URL = 'https://api.openai.com/v1'

/** A server's base URL as the clients take it: without trailing slashes. */
export const baseUrlOf = (url: string): string => url.replace(/\/+$/, '')

/** ollama-js has no timeout option; its `fetch` is injectable. */
export function withTimeout(fetchImpl: typeof fetch, timeoutMs: number): typeof fetch {
  return (input, init = {}) => {
    const timeout = AbortSignal.timeout(timeoutMs)
    return fetchImpl(input, { ...init, signal: init.signal ? AbortSignal.any([init.signal, timeout]) : timeout })
  }
}

/**
 * What every OpenAI-compatible LangChain client (chat or embeddings) is given: the key, a timeout,
 * retries only for 429 and 5xx (`retryOnlyTransient`), and an explicit baseURL, which also keeps the
 * client from reading OPENAI_BASE_URL itself.
 */
export function openAIClientFields({ apiKey, baseURL, timeoutMs, maxRetries }: { apiKey: string; baseURL: string; timeoutMs: number; maxRetries: number }) {
  return { apiKey, timeout: timeoutMs, maxRetries, onFailedAttempt: retryOnlyTransient, configuration: { baseURL } }
}

/** Cheap reachability check: true when `url` answers 2xx within `timeoutMs`; never throws. */
export async function reachable(url: string, headers: Record<string, string> = {}, timeoutMs = 2_000): Promise<boolean> {
  try {
    const response = await fetch(url, { headers, signal: AbortSignal.timeout(timeoutMs) })
    await response.body?.cancel()
    return response.ok
  } catch {
    return false
  }
}
