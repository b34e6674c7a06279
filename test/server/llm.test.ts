import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest'
import { refusedUrl, scriptedReply, startStubOllama, type StubServer } from '../helpers/stub-ollama.js'
import { buildFixture, json, llmAnswerer, parseSse, quietApp, startChatStub, type Fixture } from './_helpers.js'

let fx: Fixture
beforeAll(async () => {
  fx = await buildFixture()
})
afterAll(() => fx.close())

const stubs: StubServer[] = []
afterEach(async () => {
  await Promise.all(stubs.splice(0).map((s) => s.close()))
})
async function llm(stub: Promise<StubServer>): Promise<StubServer> {
  const started = await stub
  stubs.push(started)
  return started
}

const QUESTION = 'How does LoRA reduce GPU memory?'
const DELTAS = ['LoRA cuts GPU memory by 3 times [', '1]. It freezes the pretrained weights', ' and trains rank decomposition matrices [1].']

describe('answers from an LLM', () => {
  it('streams the model tokens with final citations; the tokens add up to the answer', async () => {
    const ollama = await llm(startChatStub(scriptedReply({ deltas: DELTAS })))
    const { app } = quietApp(fx, llmAnswerer(fx, ollama.url))
    const res = await app.request('/v1/ask', json({ question: QUESTION, stream: true }))
    const events = parseSse(await res.text())
    expect(events.map((e) => e.event)).toEqual(['retrieval', 'token', 'token', 'token', 'done'])
    const done = events.at(-1)?.data
    expect(done).toMatchObject({
      answer: 'LoRA cuts GPU memory by 3 times [1]. It freezes the pretrained weights and trains rank decomposition matrices [1].',
      abstained: false,
      model: 'ollama:llama3.1:8b',
      references: [{ n: 1, id: 'lora' }],
    })
    expect(events.filter((e) => e.event === 'token').map((e) => e.data.text).join('')).toBe(done.answer)
  })

  it('reports the LLM in /health, reachable or not', async () => {
    const ollama = await llm(startChatStub(scriptedReply('unused')))
    const up = quietApp(fx, llmAnswerer(fx, ollama.url)).app
    expect((await (await up.request('/health')).json()).llm).toEqual({ provider: 'ollama', model: 'llama3.1:8b', reachable: true })
    const down = quietApp(fx, llmAnswerer(fx, await refusedUrl())).app
    const health = await (await down.request('/health')).json()
    expect(health).toMatchObject({ status: 'degraded', llm: { provider: 'ollama', model: 'llama3.1:8b', reachable: false } })
  })
})

describe('when the LLM fails', () => {
  it('answers 503 with the papers found when the LLM is down', async () => {
    const { app } = quietApp(fx, llmAnswerer(fx, await refusedUrl()))
    const res = await app.request('/v1/ask', json({ question: QUESTION }))
    expect(res.status).toBe(503)
    const body = await res.json()
    expect(Object.keys(body)).toEqual(['error', 'results'])
    expect(body.error.code).toBe('PROVIDER_UNAVAILABLE')
    expect(body.error.message).toMatch(/Ollama at http:\/\/127\.0\.0\.1:\d+/)
    expect(body.results[0]).toMatchObject({ id: 'lora', title: 'LoRA: Low-Rank Adaptation of Large Language Models', passages: [expect.stringMatching(/GPU memory/)] })
  })

  it('answers 503 when the model is not pulled', async () => {
    const ollama = await llm(startStubOllama({ dimensions: 32, chatModels: [] }))
    const { app } = quietApp(fx, llmAnswerer(fx, ollama.url))
    const res = await app.request('/v1/ask', json({ question: QUESTION }))
    expect(res.status).toBe(503)
    expect((await res.json()).error).toMatchObject({ code: 'MODEL_MISSING', message: expect.stringMatching(/llama3\.1:8b/) })
  })

  it('sends the papers, then an error event, when streaming', async () => {
    const { app } = quietApp(fx, llmAnswerer(fx, await refusedUrl()))
    const res = await app.request('/v1/ask', json({ question: QUESTION, stream: true }))
    expect(res.status).toBe(200)
    const events = parseSse(await res.text())
    expect(events.map((e) => e.event)).toEqual(['retrieval', 'error'])
    expect(Object.keys(events[1]?.data)).toEqual(['code', 'message'])
    expect(events[1]?.data.code).toBe('PROVIDER_UNAVAILABLE')
  })

  it('answers 504 with the papers found past the request timeout, and cancels the LLM call', async () => {
    const ollama = await llm(startChatStub(scriptedReply({ hang: true })))
    const { app } = quietApp(fx, { ...llmAnswerer(fx, ollama.url), requestTimeoutMs: 300 })
    // The stub LLM never answers: a reply at all is the deadline's.
    const res = await app.request('/v1/ask', json({ question: QUESTION }))
    expect(res.status).toBe(504)
    const body = await res.json()
    expect(body.error).toEqual({ code: 'TIMEOUT', message: 'No answer within the request timeout of 0.3 s.' })
    expect(body.results.map((r: { id: string }) => r.id)).toContain('lora')
    await vi.waitFor(() => expect(ollama.requests.find((r) => r.path === '/api/chat')?.clientClosed).toBe(true))
  })

  it('answers 504 when the LLM itself times out', async () => {
    const ollama = await llm(startChatStub(scriptedReply({ hang: true })))
    const { app } = quietApp(fx, llmAnswerer(fx, ollama.url, 200))
    const res = await app.request('/v1/ask', json({ question: QUESTION }))
    expect(res.status).toBe(504)
    expect((await res.json()).error).toEqual({ code: 'TIMEOUT', message: 'Ollama at ' + ollama.url + ' (model llama3.1:8b) did not answer within 0.2 s.' })
  })

  it('ends a stream past the request timeout with a TIMEOUT error event after the tokens sent so far', async () => {
    const ollama = await llm(startChatStub(scriptedReply({ answer: 'LoRA reduces memory a great deal [1] by freezing weights and training small matrices', delayMs: 60 })))
    const { app } = quietApp(fx, { ...llmAnswerer(fx, ollama.url), requestTimeoutMs: 400 })
    const events = parseSse(await (await app.request('/v1/ask', json({ question: QUESTION, stream: true }))).text())
    expect(events[0]?.event).toBe('retrieval')
    expect(events.filter((e) => e.event === 'token').length).toBeGreaterThan(0)
    expect(events.at(-1)).toEqual({ event: 'error', data: { code: 'TIMEOUT', message: 'No answer within the request timeout of 0.4 s.' } })
    await vi.waitFor(() => expect(ollama.requests.find((r) => r.path === '/api/chat')?.clientClosed).toBe(true))
  })

  it('ends a stream the model broke off with a done event that gives the server’s error message', async () => {
    const ollama = await llm(startChatStub(scriptedReply({ deltas: ['LoRA cuts GPU memory ', 'by 3 times [1]'], streamError: 'CUDA error: out of memory' })))
    const { app } = quietApp(fx, llmAnswerer(fx, ollama.url))
    const events = parseSse(await (await app.request('/v1/ask', json({ question: QUESTION, stream: true }))).text())
    const done = events.at(-1)
    expect(done?.event).toBe('done')
    expect(done?.data).toMatchObject({ answer: 'LoRA cuts GPU memory by 3 times [1]', abstained: false, checks: { truncated: true } })
    expect(done?.data.checks.interruption).toMatch(/^Ollama at http:\/\/127\.0\.0\.1:\d+ \(model llama3\.1:8b\) failed mid-answer: CUDA error: out of memory\./)
  })

  it('answers 503 with the server’s message when the model fails before any text', async () => {
    const ollama = await llm(startChatStub(scriptedReply({ deltas: [], streamError: 'CUDA error: out of memory' })))
    const { app } = quietApp(fx, llmAnswerer(fx, ollama.url))
    const res = await app.request('/v1/ask', json({ question: QUESTION }))
    expect(res.status).toBe(503)
    expect((await res.json()).error.message).toMatch(/failed: CUDA error: out of memory/)
  })
})
