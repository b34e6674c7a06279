import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import { ChatSession } from '../../src/chat/index.js'
import { AppError } from '../../src/errors.js'
import { SessionCache } from '../../src/server/_sessions.js'
import { buildFixture, json, parseSse, quietApp, withParts, type Fixture } from './_helpers.js'

let fx: Fixture
beforeAll(async () => {
  fx = await buildFixture()
})
afterAll(() => fx.close())

const MINUTE = 60_000

describe('SessionCache', () => {
  it('forgets a session once it has been idle for the TTL, counting from its last use', () => {
    let now = 0
    const store = new SessionCache<string>({ ttlMs: 10 * MINUTE, now: () => now })
    const id = store.add('a')
    now = 10 * MINUTE - 1
    expect(store.get(id)).toBe('a')
    now = 20 * MINUTE - 2
    expect(store.get(id)).toBe('a')
    now = 30 * MINUTE - 2
    expect(store.get(id)).toBeUndefined()
    expect(store.size).toBe(0)
  })

  it('forgets the least recently used session when full', () => {
    let n = 0
    const store = new SessionCache<string>({ max: 2, now: () => 0, newId: () => `s${++n}` })
    expect([store.add('a'), store.add('b')]).toEqual(['s1', 's2'])
    expect(store.get('s1')).toBe('a')
    expect(store.add('c')).toBe('s3')
    expect([store.get('s1'), store.get('s2'), store.get('s3')]).toEqual(['a', undefined, 'c'])
    expect(store.size).toBe(2)
  })

  it('sweeps expired sessions before evicting live ones', () => {
    let now = 0
    let n = 0
    const store = new SessionCache<string>({ max: 2, ttlMs: MINUTE, now: () => now, newId: () => `s${++n}` })
    store.add('old')
    now = 30_000
    store.add('live')
    now = 61_000
    store.add('new')
    expect([store.get('s1'), store.get('s2'), store.get('s3')]).toEqual([undefined, 'live', 'new'])
  })
})

describe('POST /v1/chat', () => {
  it('starts a conversation, then answers a follow-up in it', async () => {
    const { app } = quietApp(fx)
    const first = await (await app.request('/v1/chat', json({ message: 'How does LoRA reduce GPU memory?' }))).json()
    expect(Object.keys(first)).toEqual(['sessionId', 'question', 'answer', 'abstained', 'references', 'checks', 'model', 'timings', 'standalone', 'condensedBy'])
    expect(first).toMatchObject({ question: 'How does LoRA reduce GPU memory?', standalone: 'How does LoRA reduce GPU memory?', condensedBy: 'none', abstained: false })
    const res = await app.request('/v1/chat', json({ sessionId: first.sessionId, message: 'How many fewer trainable parameters does it need?' }))
    expect(res.status).toBe(200)
    const second = await res.json()
    expect(second.sessionId).toBe(first.sessionId)
    expect(second.condensedBy).toBe('offline')
    expect(second.standalone).toMatch(/LoRA/)
    expect(second.references[0].id).toBe('lora')
  })

  it('streams a turn: standalone, retrieval, tokens, done with the sessionId', async () => {
    const { app } = quietApp(fx)
    const res = await app.request('/v1/chat', json({ message: 'How does LoRA reduce GPU memory?' }, { Accept: 'text/event-stream' }))
    const events = parseSse(await res.text())
    expect(events.map((e) => e.event)).toEqual(['standalone', 'retrieval', 'token', 'done'])
    const done = events.at(-1)?.data
    expect(done.sessionId).toMatch(/^[0-9a-f-]{36}$/)
    expect(events.filter((e) => e.event === 'token').map((e) => e.data.text).join('')).toBe(done.answer)
    const next = await app.request('/v1/chat', json({ sessionId: done.sessionId, message: 'And the parameters?', stream: true }))
    expect(parseSse(await next.text()).at(-1)?.data.sessionId).toBe(done.sessionId)
  })

  it('answers 404 for an unknown sessionId, saying how to start again', async () => {
    const { app } = quietApp(fx)
    const res = await app.request('/v1/chat', json({ sessionId: 'nope', message: 'And then?' }))
    expect(res.status).toBe(404)
    expect(await res.json()).toEqual({
      error: {
        code: 'NOT_FOUND',
        message: 'No conversation with sessionId "nope": it may have expired after 30 min idle. Send the message without a sessionId to start a new one.',
        field: 'sessionId',
      },
    })
  })

  it('forgets a conversation idle past the TTL (injected clock)', async () => {
    let now = 0
    const { app } = quietApp(fx, { now: () => now, sessionTtlMs: 5 * MINUTE })
    const { sessionId } = await (await app.request('/v1/chat', json({ message: 'How does LoRA reduce GPU memory?' }))).json()
    now = 5 * MINUTE - 1
    expect((await app.request('/v1/chat', json({ sessionId, message: 'And the parameters?' }))).status).toBe(200)
    now += 5 * MINUTE
    const expired = await app.request('/v1/chat', json({ sessionId, message: 'And the parameters?' }))
    expect(expired.status).toBe(404)
    expect((await expired.json()).error.message).toMatch(/expired after 5 min idle/)
  })

  it('keeps at most maxSessions conversations, forgetting the least recently used', async () => {
    const { app } = quietApp(fx, { maxSessions: 2 })
    const start = async (): Promise<string> => (await (await app.request('/v1/chat', json({ message: 'How does LoRA reduce GPU memory?' }))).json()).sessionId
    const [a, b] = [await start(), await start()]
    expect((await app.request('/v1/chat', json({ sessionId: a, message: 'And the parameters?' }))).status).toBe(200)
    await start()
    expect((await app.request('/v1/chat', json({ sessionId: b, message: 'And?' }))).status).toBe(404)
    expect((await app.request('/v1/chat', json({ sessionId: a, message: 'And?' }))).status).toBe(200)
  })

  it('keeps no conversation whose first turn failed', async () => {
    let fail = false
    const { app } = quietApp(fx, {
      maxSessions: 1,
      services: withParts(fx, {
        newConversation: () => (fail ? new ChatSession({ answerer: { ask: () => Promise.reject(new AppError('PROVIDER_UNAVAILABLE', 'Cannot reach Ollama.')) }, prompts: fx.prompts }) : realConversation()),
      }),
    })
    const { sessionId } = await (await app.request('/v1/chat', json({ message: 'How does LoRA reduce GPU memory?' }))).json()
    fail = true
    const failed = await app.request('/v1/chat', json({ message: 'How does LoRA reduce GPU memory?' }))
    expect(failed.status).toBe(503)
    expect((await app.request('/v1/chat', json({ sessionId, message: 'And the parameters?' }))).status).toBe(200)
  })

  it('answers 409 to a second message while the first is still being answered', async () => {
    // Each message waits for the test to release it.
    const gates: Array<() => void> = []
    const { app } = quietApp(fx, {
      services: withParts(fx, {
        newConversation: () =>
          new ChatSession({
            answerer: {
              ask: async (question, options) => {
                await new Promise<void>((resolve) => gates.push(resolve))
                return fx.deps.services.ask(question, options)
              },
            },
            prompts: fx.prompts,
          }),
      }),
    })
    const starting = app.request('/v1/chat', json({ message: 'How does LoRA reduce GPU memory?' }))
    await vi.waitFor(() => expect(gates).toHaveLength(1))
    gates[0]?.()
    const { sessionId } = await (await starting).json()
    const slow = app.request('/v1/chat', json({ sessionId, message: 'And the parameters?' }))
    await vi.waitFor(() => expect(gates).toHaveLength(2))
    const busy = await app.request('/v1/chat', json({ sessionId, message: 'And the memory?' }))
    expect(busy.status).toBe(409)
    expect((await busy.json()).error).toEqual({
      code: 'SESSION_BUSY',
      message: 'This conversation is still answering the previous message; wait for it, then send the next.',
      field: 'sessionId',
    })
    gates[1]?.()
    expect((await slow).status).toBe(200)
  })
})

function realConversation(): ChatSession {
  return new ChatSession({ answerer: fx.deps.services, prompts: fx.prompts })
}
