import { AppError } from '../errors.js'

// How the clients of Ollama and OpenAI-compatible servers fail, in words a person can act on: one
// place for the embedders (index/embedders) and the chat providers (answer/providers).

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

/**
 * The message of an error the server sent inside a 200 stream — Ollama's `{"error": "CUDA error: out
 * of memory"}` line (ollama-js throws it as a plain Error), or an OpenAI-style `data: {"error": {…}}`
 * event (an APIError without status) — as opposed to a dropped connection.
 */
export function modelError(error: unknown): string | undefined {
  if (!(error instanceof Error) || httpStatus(error) !== undefined || isTimeout(error)) return undefined
  if (error.name === 'Error' && error.cause === undefined) return error.message
  if ('error' in error && (error as { error?: unknown }).error !== undefined) return serverMessage(error)
  return undefined
}

export function describeOllamaChatError(error: unknown, where: { host: string; model: string; timeoutMs: number }): AppError {
  // ollama-js turns an `{"error": ...}` line in a 200 stream into a plain Error: the server
  // answered, so "cannot reach" would mislead.
  if (httpStatus(error) === undefined && error instanceof Error && error.name === 'Error' && error.cause === undefined) {
    return new AppError('PROVIDER_UNAVAILABLE', `Ollama at ${where.host} (model ${where.model}) failed: ${error.message}`, { cause: error })
  }
  return describeOllamaError(error, where)
}

export function describeOpenAIChatError(error: unknown, { baseURL, model, timeoutMs }: { baseURL: string; model: string; timeoutMs: number }): AppError {
  const status = httpStatus(error)
  const where = `the OpenAI-compatible endpoint at ${baseURL}`
  const reported = modelError(error)
  if (reported !== undefined && status === undefined && typeof (error as { error?: unknown }).error === 'object') {
    return new AppError('PROVIDER_UNAVAILABLE', `${capitalise(where)} (model ${model}) failed: ${reported}`, { cause: error })
  }
  if (status === undefined && !isTimeout(error)) {
    return new AppError('PROVIDER_UNAVAILABLE', `Cannot reach ${where} (model ${model}): is the server running, and the base URL right? (${rootCause(error)})`, {
      cause: error,
    })
  }
  if (status === 401 || status === 403) {
    return new AppError('CONFIG', `${capitalise(where)} rejected the API key (HTTP ${status}): set OPENAI_API_KEY to a valid key for ${baseURL}.`, {
      cause: error,
      field: 'OPENAI_API_KEY',
    })
  }
  if (status === 404) {
    return new AppError(
      'MODEL_MISSING',
      `${capitalise(where)} has no chat model "${model}" (HTTP 404: ${serverMessage(error)}): check the model name, and that the base URL ends in /v1.`,
      { cause: error },
    )
  }
  return describeOpenAIError(error, { baseURL, model, timeoutMs })
}

export const capitalise = (text: string): string => text.charAt(0).toUpperCase() + text.slice(1)
