import { afterEach, describe, expect, it, vi } from 'vitest'
import { createChatProvider, StreamInterruptedError, type ChatProvider, type LlmConfig } from '../../src/answer/providers.js'
import { AppError } from '../../src/errors.js'
import { refusedUrl, startStubOllama, type ChatHandler, type StubServer } from '../helpers/stub-ollama.js'
import { scriptedReply, startStubOpenAI } from '../helpers/stub-openai.js'

const SYSTEM = 'Answer only from the numbered abstracts; cite them as [n].'
const USER = 'Question: how does LoRA save memory?\n\n[1] LoRA: Low-Rank Adaptation of Large Language Models'
const DELTAS = ['LoRA cuts memory [1', '].', ' It trains low-rank matrices', ' – “frozen” weights ✓ [1].']

interface Stubbed {
  stub: StubServer
  /** Where the provider connects: Ollama's host, or the OpenAI stub's baseURL. */
  address: string
  config(overrides?: { timeoutMs?: number; address?: string; apiKey?: string }): LlmConfig
}

interface Flavour {
  provider: 'ollama' | 'openai'
  model: string
  chatPath: string
  start(options: { chat?: ChatHandler; chatModels?: string[] }): Promise<Stubbed>
  /** What the stub received as the request's model, messages and stream flag. */
  expectedRequest: Record<string, unknown>
}

const flavours: Flavour[] = [
  {
    provider: 'ollama',
    model: 'llama3.1:8b',
    chatPath: '/api/chat',
    async start(options) {
      const stub = await startStubOllama(options)
      return {
        stub,
        address: stub.url,
        config: ({ timeoutMs = 5_000, address = stub.url } = {}) => ({ provider: 'ollama', host: address, model: 'llama3.1:8b', timeoutMs }),
      }
    },
    expectedRequest: { model: 'llama3.1:8b', stream: true, options: { temperature: 0 } },
  },
  {
    provider: 'openai',
    model: 'gpt-4o-mini',
    chatPath: '/v1/chat/completions',
    async start(options) {
      const stub = await startStubOpenAI({ apiKey: 'sk-local', ...options })
      return {
        stub,
        address: stub.baseURL,
        config: ({ timeoutMs = 5_000, address = stub.baseURL, apiKey = 'sk-local' } = {}) => ({
          provider: 'openai',
          apiKey,
          baseURL: address,
          model: 'gpt-4o-mini',
          timeoutMs,
        }),
      }
    },
    expectedRequest: { model: 'gpt-4o-mini', stream: true, temperature: 0 },
  },
]

/** The chat requests a stub received (Ollama's provider also asks /api/show for the context length). */
const chats = (stub: StubServer) => stub.requests.filter((r) => r.path !== '/api/show')

let stubbed: Stubbed | undefined
afterEach(async () => {
  await stubbed?.stub.close()
  stubbed = undefined
})

async function collect(provider: ChatProvider, options: { signal?: AbortSignal } = {}): Promise<string[]> {
  const deltas: string[] = []
  for await (const delta of provider.stream({ system: SYSTEM, user: USER }, options)) deltas.push(delta)
  return deltas
}

/** Runs the stream to its end; returns what arrived and the error it failed with. */
async function failure(provider: ChatProvider, options: { signal?: AbortSignal } = {}): Promise<{ error: Error; deltas: string[]; ms: number }> {
  const deltas: string[] = []
  const started = performance.now()
  try {
    for await (const delta of provider.stream({ system: SYSTEM, user: USER }, options)) deltas.push(delta)
  } catch (error) {
    return { error: error as Error, deltas, ms: performance.now() - started }
  }
  throw new Error(`the stream did not fail; it sent ${JSON.stringify(deltas)}`)
}

describe.each(flavours)('$provider chat provider', (flavour) => {
  const start = async (options: { chat?: ChatHandler; chatModels?: string[] } = {}): Promise<Stubbed> => {
    stubbed = await flavour.start(options)
    return stubbed
  }

  it('streams the scripted deltas in order and names itself provider:model', async () => {
    const { config } = await start({ chat: scriptedReply({ deltas: DELTAS }) })
    const provider = createChatProvider(config())

    expect(provider.name).toBe(`${flavour.provider}:${flavour.model}`)
    const deltas = await collect(provider)
    expect(deltas).toEqual(DELTAS)
    expect(deltas.join('')).toBe('LoRA cuts memory [1]. It trains low-rank matrices – “frozen” weights ✓ [1].')
  })

  it('sends the model, the system and user messages, and asks for a stream', async () => {
    const { stub, config } = await start({ chat: scriptedReply('Fine.') })
    await collect(createChatProvider(config()))

    expect(chats(stub)).toHaveLength(1)
    expect(chats(stub)[0]).toMatchObject({
      method: 'POST',
      path: flavour.chatPath,
      body: {
        ...flavour.expectedRequest,
        messages: [
          { role: 'system', content: SYSTEM },
          { role: 'user', content: USER },
        ],
      },
    })
  })

  it('exposes the LangChain chat model, which also works unstreamed', async () => {
    const { config } = await start({ chat: scriptedReply('LoRA freezes the weights [1].') })
    const reply = await createChatProvider(config()).model.invoke([['human', 'Why?']])

    expect(reply.content).toBe('LoRA freezes the weights [1].')
  })

  it('says it cannot reach the server when the port refuses connections', async () => {
    const { config } = await start()
    const url = await refusedUrl()
    const address = flavour.provider === 'ollama' ? url : `${url}/v1`
    const { error } = await failure(createChatProvider(config({ address })))

    expect(error).toBeInstanceOf(AppError)
    expect(error).toMatchObject({ code: 'PROVIDER_UNAVAILABLE' })
    const where = flavour.provider === 'ollama' ? `Ollama at ${address}` : `the OpenAI-compatible endpoint at ${address}`
    expect(error.message).toContain(`Cannot reach ${where} (model ${flavour.model})`)
    expect(error.message).toMatch(/ECONNREFUSED/)
    expect(error.message).not.toContain('\n')
  })

  it('reports a missing model as MODEL_MISSING', async () => {
    const { address, config } = await start({ chatModels: ['some-other-model'] })
    const { error } = await failure(createChatProvider(config()))

    expect(error).toMatchObject({ code: 'MODEL_MISSING' })
    expect(error.message).toBe(
      flavour.provider === 'ollama'
        ? `Ollama at ${address} has no model "llama3.1:8b": run \`ollama pull llama3.1:8b\`.`
        : `The OpenAI-compatible endpoint at ${address} has no chat model "gpt-4o-mini" (HTTP 404: The model \`gpt-4o-mini\` does not exist or you do not have access to it.): check the model name, and that the base URL ends in /v1.`,
    )
  })

  it('times out when the server never answers, and closes the connection', async () => {
    const { stub, address, config } = await start({ chat: scriptedReply({ hang: true }) })
    const { error, ms } = await failure(createChatProvider(config({ timeoutMs: 300 })))

    expect(error).toBeInstanceOf(AppError)
    expect(error).not.toBeInstanceOf(StreamInterruptedError)
    expect(error).toMatchObject({ code: 'TIMEOUT' })
    const where = flavour.provider === 'ollama' ? `Ollama at ${address}` : `The OpenAI-compatible endpoint at ${address}`
    expect(error.message).toBe(`${where} (model ${flavour.model}) did not answer within 0.3 s.`)
    // A stub that never answers: only the timeout can have ended it (never before it was due).
    expect(ms).toBeGreaterThanOrEqual(280)
    await vi.waitFor(() => expect(chats(stub)[0]?.clientClosed).toBe(true))
  })

  it('times out when the stream stalls midway, keeping the text so far', async () => {
    const { config } = await start({ chat: scriptedReply({ deltas: DELTAS, stallAfter: 2 }) })
    const { error, deltas } = await failure(createChatProvider(config({ timeoutMs: 300 })))

    expect(deltas).toEqual(DELTAS.slice(0, 2))
    expect(error).toBeInstanceOf(StreamInterruptedError)
    expect(error).toMatchObject({ code: 'TIMEOUT', partial: 'LoRA cuts memory [1].' })
    expect(error.message).toContain('did not finish within 0.3 s: the answer was cut off after 21 characters.')
  })

  it('keeps the partial answer when the connection drops midway', async () => {
    const { address, config } = await start({ chat: scriptedReply({ deltas: DELTAS, cutAfter: 3 }) })
    const { error, deltas } = await failure(createChatProvider(config()))

    const partial = DELTAS.slice(0, 3).join('')
    expect(deltas.join('')).toBe(partial)
    expect(error).toBeInstanceOf(StreamInterruptedError)
    expect(error).toMatchObject({ code: 'PROVIDER_UNAVAILABLE', partial })
    const where = flavour.provider === 'ollama' ? `Ollama at ${address}` : `the OpenAI-compatible endpoint at ${address}`
    expect(error.message).toMatch(new RegExp(`^The connection to ${escape(where)} \\(model ${escape(flavour.model)}\\) broke: the answer was cut off after ${partial.length} characters \\(.+\\)\\.$`))
  })

  it('stops promptly with an AbortError when the caller aborts mid-stream, and closes the connection', async () => {
    // Slow deltas, then silence: only a real cancel (not the next delta, not the timeout) closes the connection.
    const { stub, config } = await start({ chat: scriptedReply({ answer: 'word '.repeat(50), delayMs: 100, stallAfter: 2 }) })
    const controller = new AbortController()
    const provider = createChatProvider(config())
    const deltas: string[] = []
    const error = await (async () => {
      try {
        for await (const delta of provider.stream({ system: SYSTEM, user: USER }, { signal: controller.signal })) {
          deltas.push(delta)
          if (deltas.length === 2) {
            controller.abort()
          }
        }
      } catch (e) {
        return e as Error
      }
      return undefined
    })()

    // The stub stalls after two deltas, far inside the provider's timeout: only the abort can have ended the stream.
    expect(error?.name).toBe('AbortError')
    expect(error).not.toBeInstanceOf(AppError)
    expect(deltas).toEqual(['word ', 'word '])
    await vi.waitFor(() => expect(chats(stub)[0]?.clientClosed).toBe(true), { timeout: 5_000 })
  })

  it('fails at once with an AbortError, sending nothing, when the signal is already aborted', async () => {
    const { stub, config } = await start({ chat: scriptedReply('never sent') })
    const { error } = await failure(createChatProvider(config()), { signal: AbortSignal.abort() })

    expect(error.name).toBe('AbortError')
    expect(stub.requests).toHaveLength(0)
  })

  it('closes the request when the caller stops reading early', async () => {
    const { stub, config } = await start({ chat: scriptedReply({ answer: 'word '.repeat(50), delayMs: 50 }) })
    for await (const delta of createChatProvider(config()).stream({ system: SYSTEM, user: USER })) {
      expect(delta).toBe('word ')
      break
    }

    await vi.waitFor(() => expect(chats(stub)[0]?.clientClosed).toBe(true))
  })

  it('pings true when the server answers and false when nothing listens', async () => {
    const { config } = await start()
    expect(await createChatProvider(config()).ping()).toBe(true)

    const url = await refusedUrl()
    const address = flavour.provider === 'ollama' ? url : `${url}/v1`
    expect(await createChatProvider(config({ address })).ping()).toBe(false)
  })
})

describe('openai chat provider', () => {
  it('says a rejected key is a configuration problem naming OPENAI_API_KEY', async () => {
    const stub = await startStubOpenAI({ apiKey: 'sk-right', chat: scriptedReply('never sent') })
    stubbed = { stub, address: stub.baseURL, config: () => ({ provider: 'openai', apiKey: 'sk-wrong', baseURL: stub.baseURL, model: 'gpt-4o-mini', timeoutMs: 5_000 }) }
    const provider = createChatProvider(stubbed.config())
    const { error } = await failure(provider)

    expect(error).toMatchObject({ code: 'CONFIG', field: 'OPENAI_API_KEY' })
    expect(error.message).toBe(
      `The OpenAI-compatible endpoint at ${stub.baseURL} rejected the API key (HTTP 401): set OPENAI_API_KEY to a valid key for ${stub.baseURL}.`,
    )
    // One request: a wrong key is not retried.
    expect(stub.requests.filter((r) => r.path === '/v1/chat/completions')).toHaveLength(1)
    expect(await provider.ping()).toBe(false)
  })

  it('sends the key as a bearer token', async () => {
    const stub = await startStubOpenAI({ apiKey: 'sk-local', chat: scriptedReply('Yes.') })
    stubbed = { stub, address: stub.baseURL, config: () => ({ provider: 'openai', apiKey: 'sk-local', baseURL: `${stub.baseURL}/`, model: 'gpt-4o-mini', timeoutMs: 5_000 }) }
    expect(await collect(createChatProvider(stubbed.config()))).toEqual(['Yes.'])

    expect(stub.requests[0]?.headers.authorization).toBe('Bearer sk-local')
  })
})

describe('ollama chat provider', () => {
  it('reports a server error before any text as PROVIDER_UNAVAILABLE with the server message', async () => {
    const stub = await startStubOllama({ chat: () => ({ status: 500, body: { error: 'llama runner process has terminated: signal: killed' } }) })
    stubbed = { stub, address: stub.url, config: () => ({ provider: 'ollama', host: stub.url, model: 'llama3.1:8b', timeoutMs: 5_000 }) }
    const { error } = await failure(createChatProvider(stubbed.config()))

    expect(error).toMatchObject({ code: 'PROVIDER_UNAVAILABLE' })
    expect(error.message).toBe(`Ollama at ${stub.url} (model llama3.1:8b) failed with HTTP 500: llama runner process has terminated: signal: killed`)
  })
})

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
}
