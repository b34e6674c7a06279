import OpenAI, { type APIError, type AuthenticationError, type BadRequestError, type NotFoundError } from 'openai'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { createApp, listen, type AppDeps, type RunningServer } from '../../src/server/index.js'
import { paperUrl } from '../../src/server/_openai.js'
import { promptText, refusedUrl, scriptedReply, type ChatHandler, type StubServer } from '../helpers/stub-ollama.js'
import { buildFixture, fetchJson, json, llmAnswerer, startChatStub, type Fixture } from './_helpers.js'

// The official openai client against the real server on 127.0.0.1: what a chat UI or a notebook sees.

let fx: Fixture
let offline: RunningServer
const running: { close(): Promise<void> }[] = []
beforeAll(async () => {
  fx = await buildFixture()
  offline = await serve()
})
afterEach(async () => {
  await Promise.all(running.splice(0).map((r) => r.close()))
})
afterAll(async () => {
  await offline.close()
  await fx.close()
})

async function serve(options: Partial<AppDeps> = {}): Promise<RunningServer> {
  return listen(createApp({ ...fx.deps, log: () => {}, ...options }), { port: 0 })
}

/** A server for one test, closed after it. */
async function serveOnce(options: Partial<AppDeps> = {}): Promise<RunningServer> {
  const server = await serve(options)
  running.push(server)
  return server
}

async function stub(chat: ChatHandler): Promise<StubServer> {
  const started = await startChatStub(chat)
  running.push(started)
  return started
}

const clientOf = (server: RunningServer, options: ConstructorParameters<typeof OpenAI>[0] = {}): OpenAI =>
  new OpenAI({ baseURL: `${server.url}v1`, apiKey: 'unused', maxRetries: 0, ...options })

/** What askpapers adds to OpenAI's reply (the client passes unknown fields through). */
interface Extras {
  citations: string[]
  search_results: { title: string; url: string; snippet: string; date?: string }[]
  askpapers: any
}
const extras = (reply: object): Extras => reply as unknown as Extras

/** The error a call fails with. */
const failure = (call: Promise<unknown>): Promise<unknown> => call.then(() => expect.fail('the call succeeded'), (error: unknown) => error)

const LORA = 'How does LoRA reduce GPU memory?'
const LORA_ANSWER = 'LoRA reduces the number of trainable parameters by 10,000 times and the GPU memory requirement by 3 times [1].'
const LORA_QUOTE = 'LoRA reduces the number of trainable parameters by 10,000 times and the GPU memory requirement by 3 times.'
const LORA_TITLE = 'LoRA: Low-Rank Adaptation of Large Language Models'
const LORA_URL = 'https://arxiv.org/abs/2106.09685'
const tokens = (text: string): number => Math.ceil(text.length / 3)

describe('POST /v1/chat/completions (offline answerer)', () => {
  it('answers as the askpapers model: the cited answer, citations as URLs, quotes as search_results', async () => {
    const reply = await clientOf(offline).chat.completions.create({
      model: 'askpapers',
      messages: [
        { role: 'system', content: 'Answer like a pirate.' },
        { role: 'user', content: LORA },
      ],
    })
    expect(reply).toMatchObject({ object: 'chat.completion', model: 'askpapers:offline-extractive' })
    expect(reply.id).toMatch(/^chatcmpl-[0-9a-f-]{36}$/)
    expect(reply.created).toBeCloseTo(Date.now() / 1000, -1)
    expect(reply.choices).toEqual([{ index: 0, message: { role: 'assistant', content: LORA_ANSWER, refusal: null }, logprobs: null, finish_reason: 'stop' }])
    expect(reply.usage).toEqual({
      prompt_tokens: tokens(`Answer like a pirate.\n${LORA}`),
      completion_tokens: tokens(LORA_ANSWER),
      total_tokens: tokens(`Answer like a pirate.\n${LORA}`) + tokens(LORA_ANSWER),
    })
    const { citations, search_results, askpapers } = extras(reply)
    expect(citations).toEqual([LORA_URL])
    expect(search_results).toEqual([{ title: LORA_TITLE, url: LORA_URL, snippet: LORA_QUOTE, date: '2021-06-17' }])
    expect(Object.keys(askpapers)).toEqual(['abstained', 'references', 'checks', 'standalone', 'condensedBy', 'timings'])
    expect(askpapers).toMatchObject({
      abstained: false,
      references: [{ n: 1, id: 'lora', title: LORA_TITLE, url: LORA_URL, quote: LORA_QUOTE }],
      checks: { markersTotal: 1, invalidMarkers: [], uncitedSentences: [], unsupportedCitations: [], truncated: false },
      standalone: LORA,
      condensedBy: 'none',
    })
  })

  it('gives the same answer as /v1/ask: the system message changes nothing', async () => {
    const ask = await (await fetchJson(`${offline.url}v1/ask`, json({ question: LORA }))).json()
    const reply = await clientOf(offline).chat.completions.create({ model: 'askpapers:offline-extractive', messages: [{ role: 'user', content: LORA }] })
    expect(reply.choices[0]?.message.content).toBe(ask.answer)
    expect(extras(reply).askpapers.references).toEqual(ask.references)
    expect(extras(reply).askpapers.checks).toEqual(ask.checks)
  })

  it('reads content given as text parts, joined by newlines', async () => {
    const reply = await clientOf(offline).chat.completions.create({
      model: 'askpapers',
      messages: [{ role: 'user', content: [{ type: 'text', text: 'How does LoRA' }, { type: 'text', text: 'reduce GPU memory?' }] }],
    })
    expect(extras(reply).askpapers.standalone).toBe('How does LoRA\nreduce GPU memory?')
    expect(reply.choices[0]?.message.content).toBe(LORA_ANSWER)
  })

  it('gives a paper without a url a stable URL that is not on the network', async () => {
    const reply = await clientOf(offline).chat.completions.create({ model: 'askpapers', messages: [{ role: 'user', content: 'How does loss scale with model size?' }] })
    const { citations, search_results, askpapers } = extras(reply)
    expect(citations).toEqual(['askpapers://paper/scaling'])
    expect(search_results[0]).toMatchObject({ title: 'Scaling Laws for Neural Language Models', url: 'askpapers://paper/scaling' })
    expect(askpapers.references[0]).toMatchObject({
      id: 'scaling',
      url: null,
      byline: 'authors not in the source',
      link: { url: 'https://scholar.google.com/scholar?q=%22Scaling%20Laws%20for%20Neural%20Language%20Models%22', kind: 'search' },
    })
  })

  it('abstains with no citations, listing the related papers', async () => {
    const reply = await clientOf(offline).chat.completions.create({ model: 'askpapers', messages: [{ role: 'user', content: 'What is DoRA?' }] })
    expect(reply.choices[0]?.message.content).toBe('The retrieved papers do not answer this question.')
    const { citations, search_results, askpapers } = extras(reply)
    expect([citations, search_results]).toEqual([[], []])
    expect(askpapers).toMatchObject({ abstained: true, references: [] })
    expect(askpapers.related.map((p: { id: string }) => p.id)).toContain('lora')
  })

  it('accepts temperature, top_p and max_tokens, and answers the same', async () => {
    const reply = await clientOf(offline).chat.completions.create({ model: 'askpapers', messages: [{ role: 'user', content: LORA }], temperature: 1.5, top_p: 0.5, max_tokens: 5 })
    expect(reply.choices[0]?.message.content).toBe(LORA_ANSWER)
  })
})

describe('streaming', () => {
  const request = { model: 'askpapers', messages: [{ role: 'user' as const, content: LORA }] }

  it('streams chunks that add up to the answer, the citations on the chunk that finishes, then the usage', async () => {
    const client = clientOf(offline)
    const whole = await client.chat.completions.create(request)
    const chunks: OpenAI.ChatCompletionChunk[] = []
    for await (const chunk of await client.chat.completions.create({ ...request, stream: true, stream_options: { include_usage: true } })) chunks.push(chunk)

    expect(new Set(chunks.map((c) => c.id)).size).toBe(1)
    expect(chunks.every((c) => c.object === 'chat.completion.chunk' && c.model === 'askpapers:offline-extractive')).toBe(true)
    expect(chunks[0]?.choices).toEqual([{ index: 0, delta: { role: 'assistant', content: '' }, logprobs: null, finish_reason: null }])
    expect(chunks.map((c) => c.choices[0]?.delta.content ?? '').join('')).toBe(whole.choices[0]?.message.content)

    const finishing = chunks.filter((c) => c.choices[0]?.finish_reason)
    expect(finishing).toHaveLength(1)
    expect(finishing[0]?.choices).toEqual([{ index: 0, delta: {}, logprobs: null, finish_reason: 'stop' }])
    const { citations, search_results, askpapers } = extras(finishing[0] as object)
    expect(citations).toEqual(extras(whole).citations)
    expect(search_results).toEqual(extras(whole).search_results)
    expect(askpapers.references).toEqual(extras(whole).askpapers.references)
    expect(chunks.filter((c) => 'citations' in c)).toHaveLength(1)

    const last = chunks.at(-1)
    expect(last?.choices).toEqual([])
    expect(last?.usage).toEqual(whole.usage)
    expect(chunks.slice(0, -1).every((c) => c.usage === null)).toBe(true)
  })

  it('ends with data: [DONE], and sends no usage unless asked', async () => {
    const res = await fetch(`${offline.url}v1/chat/completions`, json({ ...request, stream: true }))
    expect(res.headers.get('content-type')).toBe('text/event-stream')
    const events = (await res.text()).split('\n\n').filter(Boolean)
    expect(events.at(-1)).toBe('data: [DONE]')
    const chunks = events.slice(0, -1).map((e) => JSON.parse(e.replace(/^data: /, '')))
    expect(chunks.some((c) => 'usage' in c)).toBe(false)
    expect(chunks.at(-1).choices[0].finish_reason).toBe('stop')
  })
})

describe('conversations', () => {
  const FOLLOW_UP = 'How many fewer trainable parameters does it need?'

  it('condenses the earlier user and assistant turns with the follow-up, as /v1/chat does', async () => {
    const reply = await clientOf(offline).chat.completions.create({
      model: 'askpapers',
      messages: [
        { role: 'system', content: 'You are helpful.' },
        { role: 'user', content: LORA },
        { role: 'assistant', content: LORA_ANSWER },
        { role: 'user', content: FOLLOW_UP },
      ],
    })
    expect(extras(reply).askpapers).toMatchObject({ standalone: 'How many fewer trainable parameters does LoRA need?', condensedBy: 'offline' })
    expect(extras(reply).citations).toEqual([LORA_URL])

    const first = await (await fetchJson(`${offline.url}v1/chat`, json({ message: LORA }))).json()
    const second = await (await fetchJson(`${offline.url}v1/chat`, json({ sessionId: first.sessionId, message: FOLLOW_UP }))).json()
    expect(second.standalone).toBe(extras(reply).askpapers.standalone)
    expect(second.answer).toBe(reply.choices[0]?.message.content)
  })

  it('knows the references of an answer it gave, so "the first one" names the paper; an answer from elsewhere has none', async () => {
    const client = clientOf(offline)
    const first = await client.chat.completions.create({ model: 'askpapers', messages: [{ role: 'user', content: LORA }] })
    const followUp = async (answer: string): Promise<string> => {
      const reply = await client.chat.completions.create({
        model: 'askpapers',
        messages: [
          { role: 'user', content: LORA },
          { role: 'assistant', content: answer },
          { role: 'user', content: 'Tell me more about the first one.' },
        ],
      })
      return extras(reply).askpapers.standalone
    }
    expect(await followUp(first.choices[0]?.message.content ?? '')).toBe(`Tell me more about "${LORA_TITLE}".`)
    expect(await followUp('Something another model said [1].')).toBe('Tell me more about the first one.')
  })
})

describe('GET /v1/models', () => {
  it('lists askpapers and the configured answerer', async () => {
    const { data } = await clientOf(offline).models.list()
    expect(data.map((m) => m.id)).toEqual(['askpapers', 'askpapers:offline-extractive'])
    for (const m of data) expect(m).toEqual({ id: m.id, object: 'model', created: expect.any(Number), owned_by: 'askpapers' })
  })

  it('retrieves one model, and answers 404 model_not_found for another', async () => {
    const client = clientOf(offline)
    expect(await client.models.retrieve('askpapers:offline-extractive')).toMatchObject({ id: 'askpapers:offline-extractive', object: 'model' })
    const error = await failure(client.models.retrieve('gpt-4o'))
    expect(error).toBeInstanceOf(OpenAI.NotFoundError)
    expect((error as APIError).error).toMatchObject({ code: 'model_not_found', param: 'model' })
  })
})

describe("errors, in OpenAI's shape", () => {
  const user = (content: unknown) => ({ role: 'user', content })
  const bad = (message: string, param: string | null) => ({ message, type: 'invalid_request_error', code: 'bad_input', param })

  it.each([
    ['no user message', [{ role: 'system', content: 'Be brief.' }], bad('messages has no user message: the question is the last {"role": "user", "content": "…"} message.', 'messages')],
    ['no messages', [], bad('messages is empty: send the question as {"role": "user", "content": "…"}.', 'messages')],
    ['role "robot"', [{ role: 'robot', content: LORA }], bad('A message\'s role must be "system", "developer", "user" or "assistant", not "robot".', 'messages[0].role')],
    ['a tool message', [user(LORA), { role: 'tool', content: '42', tool_call_id: 'c1' }], bad('askpapers calls no tools, so it cannot read a "tool" message.', 'messages[1].role')],
    [
      'an image part',
      [user([{ type: 'text', text: 'What does this figure show?' }, { type: 'image_url', image_url: { url: 'https://example.org/fig.png' } }])],
      bad('askpapers reads text only; it cannot answer a content part of type "image_url".', 'messages[0].content[1]'),
    ],
    ['a text part whose text is not a string', [user([{ type: 'text', text: 42 }])], bad('A content part must be {"type": "text", "text": "…"}, with text a string.', 'messages[0].content[0]')],
    ['content that is a number', [user(42)], bad('A message\'s content must be a string or an array of {"type": "text", "text": …} parts.', 'messages[0].content')],
    ['a user message without content', [{ role: 'user' }], bad('A user message has no content.', 'messages[0].content')],
    ['an empty question', [user('   ')], bad('The last user message is empty.', 'messages[0].content')],
    ['an assistant message last', [user(LORA), { role: 'assistant', content: 'LoRA' }], bad('The conversation ends with an assistant message: end it with the user’s question.', 'messages[1].role')],
  ])('answers 400 to %s', async (_name, messages, expected) => {
    const error = await failure(clientOf(offline).chat.completions.create({ model: 'askpapers', messages: messages as never }))
    expect(error).toBeInstanceOf(OpenAI.BadRequestError)
    expect((error as BadRequestError).status).toBe(400)
    expect((error as BadRequestError).error).toEqual(expected)
  })

  it.each([
    ['temperature "hot"', { temperature: 'hot' }, 'temperature must be a number from 0 to 2.', 'temperature'],
    ['temperature 3', { temperature: 3 }, 'temperature must be a number from 0 to 2.', 'temperature'],
    ['max_tokens 0', { max_tokens: 0 }, 'max_tokens must be a whole number of at least 1.', 'max_tokens'],
    ['n 2', { n: 2 }, 'askpapers gives one answer per request: n must be 1.', 'n'],
    ['stream "yes"', { stream: 'yes' }, 'stream must be true or false.', 'stream'],
  ])('answers 400 to %s', async (_name, params, message, param) => {
    const error = await failure(clientOf(offline).chat.completions.create({ model: 'askpapers', messages: [{ role: 'user', content: LORA }], ...(params as object) }))
    expect(error).toBeInstanceOf(OpenAI.BadRequestError)
    expect((error as BadRequestError).error).toEqual(bad(message, param))
  })

  it('answers 404 model_not_found to an unknown model', async () => {
    const error = await failure(clientOf(offline).chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: LORA }] }))
    expect(error).toBeInstanceOf(OpenAI.NotFoundError)
    expect((error as NotFoundError).status).toBe(404)
    expect((error as NotFoundError).error).toEqual({
      message: 'The model "gpt-4o" does not exist here: this server answers as "askpapers" or "askpapers:offline-extractive" (GET /v1/models lists them).',
      type: 'invalid_request_error',
      code: 'model_not_found',
      param: 'model',
    })
  })

  it.each([
    ['malformed JSON', '{"model": "askpapers", "messages": [', 'The request body is not valid JSON.'],
    ['a body that is not an object', '[1, 2]', 'The request body must be a JSON object: {"model": "askpapers", "messages": [{"role": "user", "content": "…"}]}.'],
  ])('answers 400 to %s', async (_name, body, message) => {
    // The client always sends good JSON; its fetch is the place to break it.
    const client = clientOf(offline, { fetch: (url, init) => fetch(url, { ...init, body }) })
    const error = await failure(client.chat.completions.create({ model: 'askpapers', messages: [{ role: 'user', content: LORA }] }))
    expect(error).toBeInstanceOf(OpenAI.BadRequestError)
    expect((error as BadRequestError).error).toEqual(bad(message, null))
  })

  it('answers 413 to a body over the size limit', async () => {
    const error = await failure(clientOf(offline).chat.completions.create({ model: 'askpapers', messages: [{ role: 'user', content: 'x'.repeat(70_000) }] }))
    expect(error).toBeInstanceOf(OpenAI.APIError)
    expect((error as APIError).status).toBe(413)
    expect((error as APIError).error).toMatchObject({ type: 'invalid_request_error', code: 'payload_too_large', param: null })
  })

  it('answers 401 invalid_api_key to a wrong key, on both routes, and lets the right key through', async () => {
    const server = await serveOnce({ apiKey: 's3cret' })
    const wrong = clientOf(server, { apiKey: 'guess' })
    for (const call of [() => wrong.chat.completions.create({ model: 'askpapers', messages: [{ role: 'user', content: LORA }] }), () => wrong.models.list()]) {
      const error = await failure(call())
      expect(error).toBeInstanceOf(OpenAI.AuthenticationError)
      expect((error as AuthenticationError).status).toBe(401)
      expect((error as AuthenticationError).headers.get('www-authenticate')).toBe('Bearer')
      expect((error as AuthenticationError).error).toEqual({ message: 'The API key is wrong.', type: 'invalid_request_error', code: 'invalid_api_key', param: null })
    }
    const right = clientOf(server, { apiKey: 's3cret' })
    expect((await right.chat.completions.create({ model: 'askpapers', messages: [{ role: 'user', content: LORA }] })).choices[0]?.message.content).toBe(LORA_ANSWER)
    // The rest of the API keeps its own error shape.
    expect(await (await fetchJson(`${server.url}v1/search?q=LoRA`)).json()).toEqual({ error: { code: 'UNAUTHORIZED', message: 'This server needs an API key: send Authorization: Bearer <key>.' } })
  })
})

describe('with an LLM (the Ollama stub)', () => {
  const DELTAS = ['LoRA cuts GPU memory by 3 times [', '1]. It freezes the pretrained weights', ' and trains rank decomposition matrices [1].']
  const ANSWER = 'LoRA cuts GPU memory by 3 times [1]. It freezes the pretrained weights and trains rank decomposition matrices [1].'
  const MODEL = 'askpapers:ollama:llama3.1:8b'
  // The condensing prompt ends "Standalone question:"; the answer prompt does not.
  const condenseThenAnswer: ChatHandler = (body) =>
    promptText(body).includes('Standalone question:') ? { script: { answer: 'How much GPU memory does LoRA save?' } } : { script: { deltas: DELTAS } }

  it('answers as askpapers:<the model>, condensing a follow-up with the model; streamed and whole agree', async () => {
    const ollama = await stub(condenseThenAnswer)
    const server = await serveOnce(llmAnswerer(fx, ollama.url))
    const client = clientOf(server)
    expect((await client.models.list()).data.map((m) => m.id)).toEqual(['askpapers', MODEL])
    const request = {
      model: MODEL,
      messages: [
        { role: 'user' as const, content: 'What is LoRA?' },
        { role: 'assistant' as const, content: 'LoRA freezes the pretrained weights [1].' },
        { role: 'user' as const, content: 'And how much memory does it save?' },
      ],
    }
    const whole = await client.chat.completions.create(request)
    expect(whole.model).toBe(MODEL)
    expect(whole.choices[0]?.message.content).toBe(ANSWER)
    expect(extras(whole).citations).toEqual([LORA_URL])
    expect(extras(whole).askpapers).toMatchObject({ standalone: 'How much GPU memory does LoRA save?', condensedBy: 'llm', references: [{ n: 1, id: 'lora' }] })
    const condense = ollama.requests.find((r) => r.path === '/api/chat' && promptText(r.body as Record<string, unknown>).includes('Standalone question:'))
    expect(condense?.seen).toMatch(/User: What is LoRA\?\nAssistant: LoRA freezes the pretrained weights \[1\]\./)

    let streamed = ''
    for await (const chunk of await client.chat.completions.create({ ...request, model: 'askpapers', stream: true })) streamed += chunk.choices[0]?.delta.content ?? ''
    expect(streamed).toBe(ANSWER)
  })

  it('passes temperature, top_p and max_tokens to the model that answers, not to the condensing', async () => {
    const ollama = await stub(condenseThenAnswer)
    const server = await serveOnce(llmAnswerer(fx, ollama.url))
    await clientOf(server).chat.completions.create({
      model: MODEL,
      messages: [
        { role: 'user', content: 'What is LoRA?' },
        { role: 'assistant', content: 'LoRA freezes the pretrained weights [1].' },
        { role: 'user', content: 'And how much memory does it save?' },
      ],
      temperature: 0.7,
      top_p: 0.9,
      max_tokens: 64,
    })
    const chats = ollama.requests.filter((r) => r.path === '/api/chat').map((r) => ({ condense: promptText(r.body as Record<string, unknown>).includes('Standalone question:'), options: (r.body as { options: Record<string, unknown> }).options }))
    expect(chats.find((c) => c.condense)?.options).toMatchObject({ temperature: 0 })
    expect(chats.find((c) => c.condense)?.options.num_predict).toBeUndefined()
    expect(chats.find((c) => !c.condense)?.options).toMatchObject({ temperature: 0.7, top_p: 0.9, num_predict: 64 })
  })

  it('answers 503 provider_unavailable when the LLM is down; in a stream, as an error the client raises', async () => {
    const server = await serveOnce(llmAnswerer(fx, await refusedUrl()))
    const client = clientOf(server)
    const error = await failure(client.chat.completions.create({ model: 'askpapers', messages: [{ role: 'user', content: LORA }] }))
    expect(error).toBeInstanceOf(OpenAI.InternalServerError)
    expect((error as APIError).status).toBe(503)
    expect((error as APIError).error).toMatchObject({ type: 'server_error', code: 'provider_unavailable', param: null, message: expect.stringMatching(/^Cannot reach Ollama at http:\/\/127\.0\.0\.1:\d+/) })

    const chunks: OpenAI.ChatCompletionChunk[] = []
    const streamError = await failure(
      (async () => {
        for await (const chunk of await client.chat.completions.create({ model: 'askpapers', messages: [{ role: 'user', content: LORA }], stream: true })) chunks.push(chunk)
      })(),
    )
    expect(chunks.map((c) => c.choices[0]?.delta)).toEqual([{ role: 'assistant', content: '' }])
    expect(streamError).toBeInstanceOf(OpenAI.APIError)
    expect((streamError as APIError).error).toMatchObject({ type: 'server_error', code: 'provider_unavailable' })
  })

  it('answers 504 past the request timeout, telling the client not to retry', async () => {
    const ollama = await stub(scriptedReply({ hang: true }))
    const server = await serveOnce({ ...llmAnswerer(fx, ollama.url), requestTimeoutMs: 300 })
    // The client's default: two retries of a 5xx, unless the server says not to.
    const error = await failure(clientOf(server, { maxRetries: 2 }).chat.completions.create({ model: 'askpapers', messages: [{ role: 'user', content: LORA }] }))
    expect((error as APIError).status).toBe(504)
    expect((error as APIError).error).toEqual({ message: 'No answer within the request timeout of 0.3 s.', type: 'server_error', code: 'timeout', param: null })
    expect(ollama.requests.filter((r) => r.path === '/api/chat')).toHaveLength(1)
  })
})

describe('paperUrl', () => {
  it.each([
    [{ id: 'lora', url: 'https://example.org/lora' }, 'https://example.org/lora'],
    [{ id: '2106.09685' }, 'https://arxiv.org/abs/2106.09685'],
    [{ id: '2106.09685v2' }, 'https://arxiv.org/abs/2106.09685v2'],
    [{ id: 'arxiv:2305.14314' }, 'https://arxiv.org/abs/2305.14314'],
    [{ id: 'hep-th/9901001' }, 'https://arxiv.org/abs/hep-th/9901001'],
    [{ id: 'doi:10.1145/3290605.3300233' }, 'https://doi.org/10.1145/3290605.3300233'],
    [{ id: 'lora', url: 'javascript:alert(1)' }, 'askpapers://paper/lora'],
    [{ id: '45a52416460ecdf0' }, 'askpapers://paper/45a52416460ecdf0'],
    [{ id: 'a paper/with slashes' }, 'askpapers://paper/a%20paper%2Fwith%20slashes'],
  ])('%j → %s', (paper, url) => {
    expect(paperUrl(paper)).toBe(url)
  })
})

describe('/openapi.json', () => {
  it('documents the OpenAI routes with their error shape', async () => {
    const doc = await (await fetchJson(`${offline.url}openapi.json`)).json()
    const completions = doc.paths['/v1/chat/completions'].post
    expect(Object.keys(completions.responses).sort()).toEqual(['200', '400', '401', '404', '413', '415', '503', '504'])
    expect(Object.keys(completions.responses['200'].content)).toEqual(['application/json', 'text/event-stream'])
    expect(completions.responses['404'].content['application/json'].schema).toEqual({ $ref: '#/components/schemas/OpenAIError' })
    expect(doc.components.schemas.ChatCompletionRequest.required).toEqual(['model', 'messages'])
    expect(doc.components.schemas.ChatCompletionMessage.properties.role.enum).toEqual(['system', 'developer', 'user', 'assistant'])
    expect(Object.keys(doc.paths['/v1/models'])).toEqual(['get'])
    expect(Object.keys(doc.paths['/v1/models/{model}'])).toEqual(['get'])
  })
})
