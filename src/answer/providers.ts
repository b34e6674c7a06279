import { AsyncLocalStorage } from 'node:async_hooks'
import type { BaseChatModel } from '@langchain/core/language_models/chat_models'
import { HumanMessage, SystemMessage } from '@langchain/core/messages'
import { ChatOllama } from '@langchain/ollama'
import { ChatOpenAI } from '@langchain/openai'
import { AppError, type ErrorCode } from '../errors.js'
import { createThinkingFilter } from './_thinking.js'
import {
  baseUrlOf,
  capitalise,
  describeOllamaChatError,
  describeOpenAIChatError,
  isTimeout,
  modelError,
  OPENAI_BASE_URL,
  openAIClientFields,
  reachable,
  rootCause,
} from '../remote/index.js'

export type LlmConfig =
  | { provider: 'ollama'; host: string; model: string; timeoutMs: number; contextTokens?: number | undefined }
  | { provider: 'openai'; apiKey: string; baseURL?: string; model: string; timeoutMs: number; contextTokens?: number | undefined }

/** How many tokens of prompt plus reply the model can take, and where that figure came from. */
export interface ContextWindow {
  tokens: number
  /** e.g. "ASKPAPERS_LLM_CONTEXT", "Ollama /api/show", "assumed (Ollama did not report it)" */
  source: string
}

/** Generation settings a caller may choose (the OpenAI-compatible endpoint passes the client's); unset: temperature 0, no limit. */
export interface Sampling {
  temperature?: number | undefined
  topP?: number | undefined
  /** Most tokens in the reply. */
  maxTokens?: number | undefined
}

export interface StreamOptions {
  signal?: AbortSignal
  sampling?: Sampling
  /** Called once the reply has ended, with what the server reported and what was filtered out. */
  onStats?: (stats: StreamStats) => void
}

export interface StreamStats {
  /** Prompt tokens the server says it processed (Ollama's prompt_eval_count, OpenAI's usage). */
  promptTokens?: number
  /** The context size requested (Ollama's num_ctx), when one was sent. */
  numCtx?: number
  /** Characters of the model's thinking that were dropped from the reply. */
  thinkingChars: number
}

export interface ChatProvider {
  /** e.g. "ollama:llama3.1:8b", "openai:gpt-4o-mini": reported as `model` in answers. */
  name: string
  /** ChatOllama or ChatOpenAI at temperature 0, for composing chains. */
  model: BaseChatModel
  /**
   * Streams the reply's text deltas, without the model's thinking (`<think>…</think>`, or a separate
   * reasoning field). Fails with an AppError (PROVIDER_UNAVAILABLE, MODEL_MISSING, CONFIG, TIMEOUT),
   * a StreamInterruptedError once text has arrived, or an error named `AbortError` when the
   * caller's signal aborts. Ollama is sent a `num_ctx` that fits the prompt (see `contextWindow`).
   */
  stream(messages: { system: string; user: string }, options?: StreamOptions): AsyncIterable<string>
  /**
   * The most context the answer prompt may use: configuration (`contextTokens`) first, else what the
   * server reports (Ollama's /api/show), else undefined (an OpenAI-compatible endpoint that was not
   * told). Never throws.
   */
  contextWindow(): Promise<ContextWindow | undefined>
  /** Cheap reachability check for /health: true/false, never throws, answers within 2 s. */
  ping(): Promise<boolean>
}

/** Why a reply broke off: the server reported an error, the connection dropped, or time ran out. */
export type InterruptionReason = 'model-error' | 'connection' | 'timeout'

/** The reply broke off after some text arrived; `partial` is that text. */
export class StreamInterruptedError extends AppError {
  readonly partial: string
  readonly reason: InterruptionReason

  constructor(
    message: string,
    partial: string,
    { code = 'PROVIDER_UNAVAILABLE', cause, reason = 'connection' }: { code?: ErrorCode; cause?: unknown; reason?: InterruptionReason } = {},
  ) {
    super(code, message, { cause })
    this.name = 'StreamInterruptedError'
    this.partial = partial
    this.reason = reason
  }
}

/** Rough token count of a prompt: ~3 characters a token, on the safe side for English BPE vocabularies (~4). */
export function estimateTokens(text: string): number {
  return Math.ceil(text.length / 3)
}

/** Room left in the context for the reply (and the chat template's own tokens). */
export const REPLY_TOKENS = 1024

/**
 * Used when Ollama does not report the model's trained context: a size every current chat model
 * takes. Configuration (`contextTokens`) overrides it.
 */
export const ASSUMED_OLLAMA_CONTEXT = 8192

/**
 * The num_ctx asked of Ollama for a prompt: a power of two from 4096, so that successive questions
 * mostly ask for the same size (a different num_ctx makes Ollama reload the model), never more
 * than the window.
 */
export function contextSize(promptTokens: number, window: number): number {
  let size = 4096
  while (size < promptTokens + REPLY_TOKENS && size < window) size *= 2
  return Math.min(size, window)
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

function createOllamaProvider({ host, model, timeoutMs, contextTokens }: Extract<LlmConfig, { provider: 'ollama' }>): ChatProvider {
  const baseUrl = baseUrlOf(host)
  // ChatOllama hands no signal to ollama-js, which has no timeout: the call's signal reaches the
  // request through this fetch, so a timeout or Ctrl-C really closes the connection.
  const chatWith = (numCtx?: number, { temperature = 0, topP, maxTokens }: Sampling = {}): ChatOllama =>
    new ChatOllama({
      baseUrl,
      model,
      temperature,
      fetch: signalledFetch(timeoutMs),
      ...(numCtx ? { numCtx } : {}),
      ...(topP !== undefined ? { topP } : {}),
      ...(maxTokens !== undefined ? { numPredict: maxTokens } : {}),
    })
  // One client per num_ctx and sampling, since ChatOllama takes them only at construction (a few at most).
  const clients = new Map<string, ChatOllama>()
  const endpoint: Endpoint = {
    where: `Ollama at ${baseUrl}`,
    model,
    timeoutMs,
    describe: (error) => describeOllamaChatError(error, { host: baseUrl, model, timeoutMs }),
  }
  let window: Promise<ContextWindow> | undefined
  const contextWindow = (): Promise<ContextWindow> => {
    window ??= ollamaContext(baseUrl, model).then((reported) =>
      contextTokens
        ? { tokens: reported ? Math.min(contextTokens, reported) : contextTokens, source: 'ASKPAPERS_LLM_CONTEXT' }
        : reported
          ? { tokens: reported, source: 'Ollama /api/show' }
          : { tokens: ASSUMED_OLLAMA_CONTEXT, source: 'assumed (Ollama did not report the model’s context length)' },
    )
    return window
  }
  return {
    name: `ollama:${model}`,
    model: chatWith(),
    // Ollama's default context (2048–4096 tokens) silently drops the front of a longer prompt, where
    // the instructions are: every request says how much it needs.
    async *stream(messages, options) {
      if (options?.signal?.aborted) throw abortError(options.signal)
      const numCtx = contextSize(estimateTokens(messages.system + messages.user), (await contextWindow()).tokens)
      const key = JSON.stringify([numCtx, options?.sampling ?? {}])
      let chat = clients.get(key)
      if (!chat) clients.set(key, (chat = chatWith(numCtx, options?.sampling)))
      yield* streamText(chat, endpoint, messages, options, numCtx)
    },
    contextWindow,
    ping: () => reachable(`${baseUrl}/api/version`, {}, PING_TIMEOUT_MS),
  }
}

/**
 * The model's context length from Ollama's /api/show (`model_info["<arch>.context_length"]`, capped
 * by a `num_ctx` its Modelfile sets); undefined when the server does not say.
 */
async function ollamaContext(baseUrl: string, model: string): Promise<number | undefined> {
  try {
    const response = await fetch(`${baseUrl}/api/show`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model }),
      signal: AbortSignal.timeout(PING_TIMEOUT_MS * 2),
    })
    if (!response.ok) {
      await response.body?.cancel()
      return undefined
    }
    const body = (await response.json()) as { model_info?: Record<string, unknown>; parameters?: unknown }
    const info = body.model_info ?? {}
    const arch = info['general.architecture']
    const trained = info[`${String(arch)}.context_length`]
    const modelfile = typeof body.parameters === 'string' ? /^num_ctx\s+(\d+)/m.exec(body.parameters)?.[1] : undefined
    const sizes = [trained, modelfile === undefined ? undefined : Number(modelfile)].filter((n): n is number => typeof n === 'number' && Number.isInteger(n) && n > 0)
    return sizes.length ? Math.min(...sizes) : undefined
  } catch {
    return undefined
  }
}

function createOpenAIProvider({ apiKey, baseURL = OPENAI_BASE_URL, model, timeoutMs, contextTokens }: Extract<LlmConfig, { provider: 'openai' }>): ChatProvider {
  const url = baseUrlOf(baseURL)
  const chatWith = ({ temperature = 0, topP, maxTokens }: Sampling = {}): ChatOpenAI =>
    new ChatOpenAI({
      // The timeout bounds the wait for response headers when `model` is used directly; stream()
      // bounds the whole reply. One retry, and only for 429 and 5xx.
      ...openAIClientFields({ apiKey, baseURL: url, timeoutMs, maxRetries: 1 }),
      model,
      temperature,
      ...(topP !== undefined ? { topP } : {}),
      ...(maxTokens !== undefined ? { maxTokens } : {}),
    })
  const chat = chatWith()
  // Clients for other sampling settings, made on first use (ChatOpenAI takes them at construction).
  const clients = new Map<string, ChatOpenAI>()
  const clientFor = (sampling: Sampling | undefined): ChatOpenAI => {
    if (!sampling || Object.values(sampling).every((v) => v === undefined)) return chat
    const key = JSON.stringify(sampling)
    let client = clients.get(key)
    if (!client) clients.set(key, (client = chatWith(sampling)))
    return client
  }
  const endpoint: Endpoint = {
    where: `the OpenAI-compatible endpoint at ${url}`,
    model,
    timeoutMs,
    describe: (error) => describeOpenAIChatError(error, { baseURL: url, model, timeoutMs }),
  }
  return {
    name: `openai:${model}`,
    model: chat,
    stream: (messages, options) => streamText(clientFor(options?.sampling), endpoint, messages, options),
    // The wire format has no way to ask; a local server's window must be configured.
    contextWindow: () => Promise.resolve(contextTokens ? { tokens: contextTokens, source: 'ASKPAPERS_LLM_CONTEXT' } : undefined),
    ping: () => reachable(`${url}/models`, { authorization: `Bearer ${apiKey}` }, PING_TIMEOUT_MS),
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
  { signal: callerSignal, onStats }: StreamOptions = {},
  numCtx?: number,
): AsyncGenerator<string> {
  if (callerSignal?.aborted) throw abortError(callerSignal)
  const timeout = AbortSignal.timeout(endpoint.timeoutMs)
  const done = new AbortController()
  const signal = AbortSignal.any([done.signal, timeout, ...(callerSignal ? [callerSignal] : [])])
  // Only the answer's text counts: a separate reasoning field (Ollama's `thinking`, a server's
  // `reasoning_content`) is never read, and inline <think> blocks are filtered out here.
  const thinking = createThinkingFilter()
  let partial = ''
  let promptTokens: number | undefined
  try {
    const chunks = await callSignal.run(signal, () => model.stream([new SystemMessage(system), new HumanMessage(user)], { signal }))
    for await (const chunk of chunks) {
      const input = chunk.usage_metadata?.input_tokens
      if (input) promptTokens = input
      const text = thinking.push(textOf(chunk.content))
      if (!text) continue
      partial += text
      yield text
    }
    const tail = thinking.end()
    if (tail) {
      partial += tail
      yield tail
    }
    onStats?.({ thinkingChars: thinking.thinkingChars(), ...(promptTokens ? { promptTokens } : {}), ...(numCtx ? { numCtx } : {}) })
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
  const reported = modelError(error)
  if (partial && reported !== undefined) {
    return new StreamInterruptedError(
      `${capitalise(where)} (model ${model}) failed mid-answer: ${reported}. The answer was cut off after ${partial.length} characters.`,
      partial,
      { cause: error, reason: 'model-error' },
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

/** The signal of the `stream()` call in progress, for the fetch that ChatOllama makes. */
const callSignal = new AsyncLocalStorage<AbortSignal>()

/** A fetch that obeys the current `stream()` call's signal, or else `timeoutMs` (for direct use of `model`). */
function signalledFetch(timeoutMs: number): typeof fetch {
  return (input, init = {}) => {
    const outer = callSignal.getStore() ?? AbortSignal.timeout(timeoutMs)
    return fetch(input, { ...init, signal: init.signal ? AbortSignal.any([init.signal, outer]) : outer })
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

