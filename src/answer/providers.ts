import { AsyncLocalStorage } from 'node:async_hooks'
import type { BaseChatModel } from '@langchain/core/language_models/chat_models'
import { HumanMessage, SystemMessage } from '@langchain/core/messages'
import { ChatOllama } from '@langchain/ollama'
import { ChatOpenAI } from '@langchain/openai'
import { AppError, type ErrorCode } from '../errors.js'
import { describeOllamaError } from '../index/embedders/_ollama.js'
import { OPENAI_BASE_URL, describeOpenAIError } from '../index/embedders/_openai.js'
import { httpStatus, isTimeout, retryOnlyTransient, rootCause, serverMessage } from '../index/embedders/_remote.js'

export type LlmConfig =
  | { provider: 'ollama'; host: string; model: string; timeoutMs: number }
  | { provider: 'openai'; apiKey: string; baseURL?: string; model: string; timeoutMs: number }

export interface ChatProvider {
  /** e.g. "ollama:llama3.1:8b", "openai:gpt-4o-mini": reported as `model` in answers. */
  name: string
  /** ChatOllama or ChatOpenAI at temperature 0, for composing chains. */
  model: BaseChatModel
  /**
   * Streams the reply's text deltas. Fails with an AppError (PROVIDER_UNAVAILABLE, MODEL_MISSING,
   * CONFIG, TIMEOUT), a StreamInterruptedError once text has arrived, or an error named
   * `AbortError` when the caller's signal aborts.
   */
  stream(messages: { system: string; user: string }, options?: { signal?: AbortSignal }): AsyncIterable<string>
  /** Cheap reachability check for /health: true/false, never throws, answers within 2 s. */
  ping(): Promise<boolean>
}

/** The reply broke off after some text arrived; `partial` is that text. */
export class StreamInterruptedError extends AppError {
  readonly partial: string

  constructor(message: string, partial: string, { code = 'PROVIDER_UNAVAILABLE', cause }: { code?: ErrorCode; cause?: unknown } = {}) {
    super(code, message, { cause })
    this.name = 'StreamInterruptedError'
    this.partial = partial
  }
}

export function createChatProvider(config: LlmConfig): ChatProvider {
  return config.provider === 'ollama' ? createOllamaProvider(config) : createOpenAIProvider(config)
}

const PING_TIMEOUT_MS = 2_000

/** How one server is named in messages, and how its client's failures read. */
interface Endpoint {
  /** "Ollama at http://127.0.0.1:11434" */
  where: string
  model: string
  timeoutMs: number
  describe(error: unknown): AppError
}

function createOllamaProvider({ host, model, timeoutMs }: Extract<LlmConfig, { provider: 'ollama' }>): ChatProvider {
  const baseUrl = host.replace(/\/+$/, '')
  // ChatOllama hands no signal to ollama-js, which has no timeout: the call's signal reaches the
  // request through this fetch, so a timeout or Ctrl-C really closes the connection.
  const chat = new ChatOllama({ baseUrl, model, temperature: 0, fetch: signalledFetch(timeoutMs) })
  const endpoint: Endpoint = {
    where: `Ollama at ${baseUrl}`,
    model,
    timeoutMs,
    describe: (error) => describeOllamaChatError(error, { host: baseUrl, model, timeoutMs }),
  }
  return {
    name: `ollama:${model}`,
    model: chat,
    stream: (messages, options) => streamText(chat, endpoint, messages, options),
    ping: () => reachable(`${baseUrl}/api/version`),
  }
}

function createOpenAIProvider({ apiKey, baseURL = OPENAI_BASE_URL, model, timeoutMs }: Extract<LlmConfig, { provider: 'openai' }>): ChatProvider {
  const url = baseURL.replace(/\/+$/, '')
  const chat = new ChatOpenAI({
    apiKey,
    model,
    temperature: 0,
    // Bounds the wait for response headers when `model` is used directly; stream() bounds the whole reply.
    timeout: timeoutMs,
    // One retry, and only for 429 and 5xx: anything else will not fix itself.
    maxRetries: 1,
    onFailedAttempt: retryOnlyTransient,
    // An explicit baseURL also keeps the client from reading OPENAI_BASE_URL itself.
    configuration: { baseURL: url },
  })
  const endpoint: Endpoint = {
    where: `the OpenAI-compatible endpoint at ${url}`,
    model,
    timeoutMs,
    describe: (error) => describeOpenAIChatError(error, { baseURL: url, model, timeoutMs }),
  }
  return {
    name: `openai:${model}`,
    model: chat,
    stream: (messages, options) => streamText(chat, endpoint, messages, options),
    ping: () => reachable(`${url}/models`, { authorization: `Bearer ${apiKey}` }),
  }
}

/**
 * Streams text deltas within `endpoint.timeoutMs` for the whole reply, turning every failure into
 * one of the errors `ChatProvider.stream` documents. Leaving the loop early closes the request.
 */
async function* streamText(
  model: BaseChatModel,
  endpoint: Endpoint,
  { system, user }: { system: string; user: string },
  { signal: callerSignal }: { signal?: AbortSignal } = {},
): AsyncGenerator<string> {
  if (callerSignal?.aborted) throw abortError(callerSignal)
  const timeout = AbortSignal.timeout(endpoint.timeoutMs)
  const done = new AbortController()
  const signal = AbortSignal.any([done.signal, timeout, ...(callerSignal ? [callerSignal] : [])])
  let partial = ''
  try {
    const chunks = await callSignal.run(signal, () => model.stream([new SystemMessage(system), new HumanMessage(user)], { signal }))
    for await (const chunk of chunks) {
      const text = textOf(chunk.content)
      if (!text) continue
      partial += text
      yield text
    }
  } catch (error) {
    if (callerSignal?.aborted) throw abortError(callerSignal, error)
    throw describeFailure(error, endpoint, partial, timeout.aborted || isTimeout(error))
  } finally {
    done.abort()
  }
}

function describeFailure(error: unknown, { where, model, timeoutMs, describe }: Endpoint, partial: string, timedOut: boolean): AppError {
  const seconds = `${timeoutMs / 1000} s`
  if (timedOut && !partial) {
    return new AppError('TIMEOUT', `${capitalise(where)} (model ${model}) did not answer within ${seconds}.`, { cause: error })
  }
  if (timedOut) {
    return new StreamInterruptedError(
      `${capitalise(where)} (model ${model}) did not finish within ${seconds}: the answer was cut off after ${partial.length} characters.`,
      partial,
      { code: 'TIMEOUT', cause: error },
    )
  }
  if (partial) {
    return new StreamInterruptedError(
      `The connection to ${where} (model ${model}) broke: the answer was cut off after ${partial.length} characters (${rootCause(error)}).`,
      partial,
      { cause: error },
    )
  }
  return error instanceof AppError ? error : describe(error)
}

function describeOllamaChatError(error: unknown, where: { host: string; model: string; timeoutMs: number }): AppError {
  // ollama-js turns an `{"error": ...}` line in a 200 stream into a plain Error: the server
  // answered, so "cannot reach" would mislead.
  if (httpStatus(error) === undefined && error instanceof Error && error.name === 'Error' && error.cause === undefined) {
    return new AppError('PROVIDER_UNAVAILABLE', `Ollama at ${where.host} (model ${where.model}) failed: ${error.message}`, { cause: error })
  }
  return describeOllamaError(error, where)
}

function describeOpenAIChatError(error: unknown, { baseURL, model, timeoutMs }: { baseURL: string; model: string; timeoutMs: number }): AppError {
  const status = httpStatus(error)
  const where = `the OpenAI-compatible endpoint at ${baseURL}`
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

/** The signal of the `stream()` call in progress, for the fetch that ChatOllama makes. */
const callSignal = new AsyncLocalStorage<AbortSignal>()

/** A fetch that obeys the current `stream()` call's signal, or else `timeoutMs` (for direct use of `model`). */
function signalledFetch(timeoutMs: number): typeof fetch {
  return (input, init = {}) => {
    const outer = callSignal.getStore() ?? AbortSignal.timeout(timeoutMs)
    return fetch(input, { ...init, signal: init.signal ? AbortSignal.any([init.signal, outer]) : outer })
  }
}

async function reachable(url: string, headers: Record<string, string> = {}): Promise<boolean> {
  try {
    const response = await fetch(url, { headers, signal: AbortSignal.timeout(PING_TIMEOUT_MS) })
    await response.body?.cancel()
    return response.ok
  } catch {
    return false
  }
}

/** The text of a message chunk: a string, or the text parts of a content array. */
function textOf(content: unknown): string {
  if (typeof content === 'string') return content
  if (!Array.isArray(content)) return ''
  return content.map((part: { type?: unknown; text?: unknown }) => (part.type === 'text' && typeof part.text === 'string' ? part.text : '')).join('')
}

/** What the caller's own abort (Ctrl-C, a closed HTTP request) surfaces as: recognisable by name. */
function abortError(signal: AbortSignal, cause?: unknown): Error {
  const reason: unknown = signal.reason
  if (reason instanceof Error && reason.name === 'AbortError') return reason
  const error = new Error('The request was cancelled.', { cause: reason ?? cause })
  error.name = 'AbortError'
  return error
}

const capitalise = (text: string): string => text.charAt(0).toUpperCase() + text.slice(1)
