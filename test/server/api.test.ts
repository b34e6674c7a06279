import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { buildFixture, json, parseSse, quietApp, withParts, type Fixture } from './_helpers.js'

let fx: Fixture
beforeAll(async () => {
  fx = await buildFixture()
})
afterAll(() => fx.close())

const LORA = 'How does LoRA reduce GPU memory?'
const LORA_ANSWER = 'LoRA reduces the number of trainable parameters by 10,000 times and the GPU memory requirement by 3 times [1].'

describe('POST /v1/ask', () => {
  it('answers with the ask --json shape: cited answer, references with quotes, checks, model, timings', async () => {
    const { app } = quietApp(fx)
    const res = await app.request('/v1/ask', json({ question: `  ${LORA}  ` }))
    expect(res.status).toBe(200)
    expect(res.headers.get('content-type')).toMatch(/^application\/json/)
    const body = await res.json()
    expect(Object.keys(body)).toEqual(['question', 'answer', 'abstained', 'references', 'checks', 'model', 'timings'])
    expect(body).toMatchObject({ question: LORA, answer: LORA_ANSWER, abstained: false, model: 'offline-extractive' })
    expect(body.references).toEqual([
      {
        n: 1,
        id: 'lora',
        title: 'LoRA: Low-Rank Adaptation of Large Language Models',
        url: 'https://arxiv.org/abs/2106.09685',
        quote: 'LoRA reduces the number of trainable parameters by 10,000 times and the GPU memory requirement by 3 times.',
        authors: ['Edward J. Hu', 'Yelong Shen', 'Phillip Wallis', 'Zeyuan Allen-Zhu'],
        year: 2021,
        byline: 'Edward J. Hu, Yelong Shen, Phillip Wallis et al.',
        link: { url: 'https://arxiv.org/abs/2106.09685', kind: 'record' },
      },
    ])
    expect(body.checks).toMatchObject({ markersTotal: 1, invalidMarkers: [], uncitedSentences: [], unsupportedCitations: [], truncated: false })
    expect(Object.keys(body.timings)).toEqual(['embedMs', 'retrievalMs', 'generationMs', 'totalMs'])
  })

  it('abstains on a question the papers do not answer, listing the related papers', async () => {
    const { app } = quietApp(fx)
    const body = await (await app.request('/v1/ask', json({ question: 'What is DoRA?' }))).json()
    expect(body).toMatchObject({ answer: 'The retrieved papers do not answer this question.', abstained: true, references: [] })
    expect(body.related.map((p: { id: string }) => p.id)).toContain('lora')
    expect(body.checks.evidence.unknownNames).toEqual(['DoRA'])
  })

  it('retrieves k papers', async () => {
    const { app } = quietApp(fx)
    const events = parseSse(await (await app.request('/v1/ask', json({ question: LORA, k: 2, stream: true }))).text())
    expect(events[0]?.data.papers.map((p: { id: string }) => p.id)).toEqual(['lora', 'scaling'])
  })

  it.each([
    ['"stream": true', json({ question: LORA, stream: true })],
    ['Accept: text/event-stream', json({ question: LORA }, { Accept: 'text/event-stream' })],
  ])('streams server-sent events with %s: retrieval, tokens, then done', async (_how, init) => {
    const { app } = quietApp(fx)
    const res = await app.request('/v1/ask', init)
    expect(res.status).toBe(200)
    expect(res.headers.get('content-type')).toBe('text/event-stream')
    const events = parseSse(await res.text())
    expect(events.map((e) => e.event)).toEqual(['retrieval', 'token', 'done'])
    expect(events[0]?.data.papers[0]).toEqual({ id: 'lora', title: 'LoRA: Low-Rank Adaptation of Large Language Models', score: 0.6, url: 'https://arxiv.org/abs/2106.09685' })
    const done = events.at(-1)?.data
    expect(events.filter((e) => e.event === 'token').map((e) => e.data.text).join('')).toBe(done.answer)
    expect(done).toMatchObject({ question: LORA, answer: LORA_ANSWER, abstained: false, references: [{ n: 1, id: 'lora' }] })
  })

  it('"stream": false wins over the Accept header', async () => {
    const { app } = quietApp(fx)
    const res = await app.request('/v1/ask', json({ question: LORA, stream: false }, { Accept: 'text/event-stream' }))
    expect(res.headers.get('content-type')).toMatch(/^application\/json/)
  })
})

describe('request errors', () => {
  const post = (body: string, headers: Record<string, string> = { 'Content-Type': 'application/json' }): RequestInit => ({ method: 'POST', headers, body })
  it.each([
    ['a missing question', json({}), 400, 'BAD_INPUT', 'question', 'The question is missing.'],
    ['an empty question', json({ question: '   ' }), 400, 'BAD_INPUT', 'question', 'The question is empty.'],
    ['an over-long question', json({ question: 'x'.repeat(4001) }), 400, 'BAD_INPUT', 'question', 'The question is 4001 characters long; the limit is 4000.'],
    ['a question of the wrong type', json({ question: 42 }), 400, 'BAD_INPUT', 'question', 'The question must be a string.'],
    ['a k of the wrong type', json({ question: LORA, k: '3' }), 400, 'BAD_INPUT', 'k', 'k must be a whole number from 1 to 100.'],
    ['a k out of range', json({ question: LORA, k: 0 }), 400, 'BAD_INPUT', 'k', 'k must be a whole number from 1 to 100.'],
    ['a k over the limit', json({ question: LORA, k: 101 }), 400, 'BAD_INPUT', 'k', 'k must be a whole number from 1 to 100.'],
    ['a fractional k', json({ question: LORA, k: 2.5 }), 400, 'BAD_INPUT', 'k', 'k must be a whole number from 1 to 100.'],
    ['stream of the wrong type', json({ question: LORA, stream: 'yes' }), 400, 'BAD_INPUT', 'stream', 'stream must be true or false.'],
    ['malformed JSON', post('{"question": "LoRA'), 400, 'BAD_INPUT', undefined, 'The request body is not valid JSON.'],
    ['a JSON array', json([LORA]), 400, 'BAD_INPUT', undefined, 'The request body must be a JSON object, e.g. {"question": "How does LoRA save memory?"}.'],
    ['no body at all', { method: 'POST' }, 400, 'BAD_INPUT', 'question', 'The question is missing.'],
    ['a text/plain body', post(LORA, { 'Content-Type': 'text/plain' }), 415, 'UNSUPPORTED_MEDIA_TYPE', undefined, 'Send the request body as JSON, with Content-Type: application/json.'],
    ['a form body', post('question=x', { 'Content-Type': 'application/x-www-form-urlencoded' }), 415, 'UNSUPPORTED_MEDIA_TYPE', undefined, 'Send the request body as JSON, with Content-Type: application/json.'],
    ['a body over 64 KiB', json({ question: LORA, padding: 'x'.repeat(64 * 1024) }), 413, 'PAYLOAD_TOO_LARGE', undefined, 'The request body is over the 64 KiB limit.'],
  ])('rejects %s with its status and a JSON error', async (_name, init, status, code, field, message) => {
    const { app } = quietApp(fx)
    const res = await app.request('/v1/ask', init)
    expect(res.status).toBe(status)
    expect(res.headers.get('content-type')).toMatch(/^application\/json/)
    expect(await res.json()).toEqual({ error: { code, message, ...(field ? { field } : {}) } })
  })

  it('accepts a body just under 64 KiB (unknown fields are ignored)', async () => {
    const { app } = quietApp(fx)
    const res = await app.request('/v1/ask', json({ question: LORA, padding: 'x'.repeat(60 * 1024) }))
    expect(res.status).toBe(200)
  })

  it('counts the bytes of a chunked body that has no Content-Length', async () => {
    const { app } = quietApp(fx)
    const chunk = new TextEncoder().encode(`{"question": "${'x'.repeat(40 * 1024)}`)
    const body = new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(chunk)
        controller.enqueue(chunk)
        controller.close()
      },
    })
    const res = await app.request('/v1/ask', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body, duplex: 'half' } as RequestInit)
    expect(res.status).toBe(413)
  })

  it('applies the same rules to /v1/chat messages', async () => {
    const { app } = quietApp(fx)
    const res = await app.request('/v1/chat', json({ message: '' }))
    expect(res.status).toBe(400)
    expect(await res.json()).toEqual({ error: { code: 'BAD_INPUT', message: 'The message is empty.', field: 'message' } })
  })

  // A known route asked with another method is 405 with Allow (http-details.test.ts).
  it('answers unknown routes with a JSON 404', async () => {
    const { app } = quietApp(fx)
    for (const [method, path] of [
      ['GET', '/v2/ask'],
      ['POST', '/v1/asks'],
      ['DELETE', '/v1/papers/lora/extra'],
    ] as const) {
      const res = await app.request(path, { method })
      expect(res.status).toBe(404)
      expect(await res.json()).toEqual({ error: { code: 'NOT_FOUND', message: `No route ${method} ${path}; /openapi.json lists the API.` } })
    }
  })

  it('hides the insides of an unexpected failure from the caller and logs them', async () => {
    const { app, lines } = quietApp(fx, {
      services: withParts(fx, {
        retriever: {
          search: () => Promise.reject(new Error('secret path /srv/index exploded')),
        },
      }),
    })
    const res = await app.request('/v1/search?q=memory', { headers: { 'X-Request-Id': 'req-500' } })
    expect(res.status).toBe(500)
    const text = await res.text()
    expect(JSON.parse(text)).toEqual({ error: { code: 'INTERNAL', message: 'Unexpected server error; the server log has the details.' } })
    expect(text).not.toMatch(/secret|\bat\b/)
    expect(lines.find((l) => l.startsWith('error req-500 GET /v1/search: Error: secret path /srv/index exploded\n    at '))).toBeDefined()
  })
})

describe('GET /v1/search', () => {
  it('returns ranked papers with scores and passages', async () => {
    const { app } = quietApp(fx)
    const res = await app.request('/v1/search?q=position%20encodings%20and%20longer%20inputs&k=2')
    expect(res.status).toBe(200)
    const body = await res.json()
    expect(body.query).toBe('position encodings and longer inputs')
    expect(body.results).toHaveLength(2)
    expect(body.results[0]).toEqual({
      id: 'length',
      title: 'Length Generalization in Transformers',
      // Best by keyword, last by the stub's dense vectors: the keyword share of the prior fusion, 1 - 0.4.
      score: 0.6,
      passages: ['Transformers fail to extrapolate to inputs longer than those seen in training. We find that position encodings decide length extrapolation.'],
    })
    expect(Object.keys(body.results[1])).toEqual(['id', 'title', 'score', 'passages', 'url'])
  })

  it('returns up to 5 papers by default (the fixture has 4)', async () => {
    const { app } = quietApp(fx)
    expect((await (await app.request('/v1/search?q=language%20models')).json()).results).toHaveLength(4)
  })

  it.each([
    ['no q', '/v1/search', 'q', 'The query is missing.'],
    ['an empty q', '/v1/search?q=%20', 'q', 'The query is empty.'],
    ['an over-long q', `/v1/search?q=${'x'.repeat(4001)}`, 'q', 'The query is 4001 characters long; the limit is 4000.'],
    ['a k that is no number', '/v1/search?q=memory&k=lots', 'k', 'k must be a whole number from 1 to 100.'],
    ['a k over 100', '/v1/search?q=memory&k=101', 'k', 'k must be a whole number from 1 to 100.'],
  ])('rejects %s with 400', async (_name, path, field, message) => {
    const { app } = quietApp(fx)
    const res = await app.request(path)
    expect(res.status).toBe(400)
    expect(await res.json()).toEqual({ error: { code: 'BAD_INPUT', message, field } })
  })
})

describe('GET /v1/papers/:id', () => {
  it('returns the full paper record', async () => {
    const { app } = quietApp(fx)
    const res = await app.request('/v1/papers/lora')
    expect(res.status).toBe(200)
    const paper = await res.json()
    expect(paper).toMatchObject({ id: 'lora', title: 'LoRA: Low-Rank Adaptation of Large Language Models', url: 'https://arxiv.org/abs/2106.09685' })
    expect(paper.abstract).toMatch(/^We freeze the pretrained model weights/)
    expect(paper.sources).toEqual([expect.stringMatching(/papers\.jsonl:1$/)])
    expect(paper).not.toHaveProperty('contentHash')
  })

  it('answers 404 for an unknown id', async () => {
    const { app } = quietApp(fx)
    const res = await app.request('/v1/papers/no%20such%20paper')
    expect(res.status).toBe(404)
    expect(await res.json()).toEqual({ error: { code: 'NOT_FOUND', message: 'No paper with id "no such paper" in the index.', field: 'id' } })
  })
})

describe('GET /health', () => {
  it('reports the index, the embedder and the offline answerer', async () => {
    const { app } = quietApp(fx)
    const res = await app.request('/health')
    expect(res.status).toBe(200)
    expect(await res.json()).toEqual({
      status: 'ok',
      index: { loaded: true, papers: 4, chunks: 4, generation: 'gen-000001' },
      embedder: { provider: 'ollama', model: 'nomic-embed-text', dimensions: 32 },
      llm: { provider: 'none', model: 'offline-extractive', reachable: true },
      store: { kind: 'embedded', location: join(fx.dir, 'data'), version: 'gen-000001' },
    })
  })
})

describe('request ids and the access log', () => {
  it('gives every response an X-Request-Id, echoing a well-formed one the caller sent', async () => {
    const { app } = quietApp(fx)
    const own = await app.request('/health', { headers: { 'X-Request-Id': 'abc-123' } })
    expect(own.headers.get('x-request-id')).toBe('abc-123')
    const fresh = await app.request('/v1/ask', json({}))
    expect(fresh.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/)
    const hostile = await app.request('/health', { headers: { 'X-Request-Id': 'bad id\twith spaces' } })
    expect(hostile.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/)
  })

  it('logs one line per request: method, path, status, milliseconds, request id', async () => {
    let clock = 1_000
    const { app, lines } = quietApp(fx, { now: () => (clock += 6) })
    await app.request('/v1/papers/lora', { headers: { 'X-Request-Id': 'r1' } })
    await app.request('/v1/ask', { ...json({ question: '' }), headers: { 'Content-Type': 'application/json', 'X-Request-Id': 'r2' } })
    await (await app.request('/v1/ask', json({ question: LORA, stream: true }, { 'X-Request-Id': 'r3' }))).text()
    await new Promise((resolve) => setTimeout(resolve, 10))
    expect(lines).toEqual(['GET /v1/papers/lora 200 6ms r1', 'POST /v1/ask 400 6ms r2', 'POST /v1/ask 200 6ms r3'])
  })
})

describe('API key', () => {
  const KEY = 's3cret-key'
  it.each([
    ['no Authorization header', undefined, 'This server needs an API key: send Authorization: Bearer <key>.'],
    ['a wrong key', `Bearer ${KEY}x`, 'The API key is wrong.'],
    ['a prefix of the key', 'Bearer s3cret', 'The API key is wrong.'],
    ['another scheme', `Basic ${KEY}`, 'The API key is wrong.'],
  ])('answers 401 to /v1 requests with %s', async (_name, authorization, message) => {
    const { app } = quietApp(fx, { apiKey: KEY })
    for (const [path, init] of [
      ['/v1/ask', json({ question: LORA }, authorization ? { Authorization: authorization } : {})],
      ['/v1/search?q=memory', { headers: authorization ? { Authorization: authorization } : {} }],
      ['/v1/papers/lora', { headers: authorization ? { Authorization: authorization } : {} }],
    ] as const) {
      const res = await app.request(path, init)
      expect(res.status).toBe(401)
      expect(res.headers.get('www-authenticate')).toBe('Bearer')
      expect(await res.json()).toEqual({ error: { code: 'UNAUTHORIZED', message } })
    }
  })

  it('checks the key before reading the body', async () => {
    const { app } = quietApp(fx, { apiKey: KEY })
    expect((await app.request('/v1/ask', json({ question: LORA, padding: 'x'.repeat(100_000) }))).status).toBe(401)
  })

  it('lets the right key through, and leaves /health, / and /openapi.json open', async () => {
    const { app } = quietApp(fx, { apiKey: KEY })
    expect((await app.request('/v1/ask', json({ question: LORA }, { Authorization: `Bearer ${KEY}` }))).status).toBe(200)
    expect((await app.request('/v1/search?q=memory', { headers: { Authorization: `bearer ${KEY}` } })).status).toBe(200)
    for (const path of ['/health', '/', '/openapi.json']) expect((await app.request(path)).status).toBe(200)
  })

  it('needs no key when none is configured', async () => {
    const { app } = quietApp(fx)
    expect((await app.request('/v1/search?q=memory')).status).toBe(200)
  })
})

describe('CORS', () => {
  it('sends no CORS headers by default', async () => {
    const { app } = quietApp(fx)
    const res = await app.request('/v1/search?q=memory', { headers: { Origin: 'https://example.org' } })
    expect(res.headers.get('access-control-allow-origin')).toBeNull()
  })

  it('allows the configured origins only, preflight included, without asking for the key', async () => {
    const { app } = quietApp(fx, { corsOrigins: ['https://example.org'], apiKey: 'k' })
    const preflight = await app.request('/v1/ask', {
      method: 'OPTIONS',
      headers: { Origin: 'https://example.org', 'Access-Control-Request-Method': 'POST', 'Access-Control-Request-Headers': 'content-type, authorization' },
    })
    expect(preflight.status).toBe(204)
    expect(preflight.headers.get('access-control-allow-origin')).toBe('https://example.org')
    expect(preflight.headers.get('access-control-allow-headers')).toMatch(/Authorization/)
    const allowed = await app.request('/v1/search?q=memory', { headers: { Origin: 'https://example.org', Authorization: 'Bearer k' } })
    expect(allowed.headers.get('access-control-allow-origin')).toBe('https://example.org')
    expect(allowed.headers.get('access-control-expose-headers')).toMatch(/X-Request-Id/)
    const other = await app.request('/v1/search?q=memory', { headers: { Origin: 'https://evil.example', Authorization: 'Bearer k' } })
    expect(other.headers.get('access-control-allow-origin')).toBeNull()
  })
})

describe('GET /openapi.json', () => {
  it('documents every route, generated from the schemas that validate requests', async () => {
    const { app } = quietApp(fx)
    const doc = await (await app.request('/openapi.json')).json()
    expect(doc.openapi).toMatch(/^3\./)
    const routes = Object.entries(doc.paths as Record<string, Record<string, unknown>>).flatMap(([path, methods]) => Object.keys(methods).map((m) => `${m.toUpperCase()} ${path}`))
    expect(routes.sort()).toEqual(['GET /', 'GET /health', 'GET /openapi.json', 'GET /v1/examples', 'GET /v1/models', 'GET /v1/models/{model}', 'GET /v1/papers/{id}', 'GET /v1/search', 'POST /v1/ask', 'POST /v1/chat', 'POST /v1/chat/completions', 'POST /v1/citations'])
    const ask = doc.paths['/v1/ask'].post
    expect(Object.keys(ask.responses).sort()).toEqual(['200', '400', '401', '413', '415', '503', '504'])
    expect(Object.keys(ask.responses['200'].content)).toEqual(['application/json', 'text/event-stream'])
    expect(doc.components.schemas.AskRequest).toMatchObject({ type: 'object', required: ['question'], properties: { question: { type: 'string', minLength: 1, maxLength: 4000 } } })
    expect(doc.components.schemas.Error.properties.error.required).toEqual(['code', 'message'])
    expect(doc.components.securitySchemes.bearerAuth).toMatchObject({ type: 'http', scheme: 'bearer' })
    expect(doc.paths['/v1/search'].get.parameters.map((p: { name: string }) => p.name)).toEqual(['q', 'k', 'year', 'source', 'id'])
  })
})

describe('GET /', () => {
  it('serves the page with a CSP that allows only its own script and style', async () => {
    const { app } = quietApp(fx)
    const res = await app.request('/')
    expect(res.status).toBe(200)
    expect(res.headers.get('content-type')).toMatch(/^text\/html/)
    expect(res.headers.get('content-security-policy')).toMatch(/default-src 'none'; script-src 'sha256-[^']+'; style-src 'sha256-[^']+'; connect-src 'self'/)
    const html = await res.text()
    expect(html).toContain('data-needs-key="false"')
    // Server text goes into the page as text, never as markup.
    expect(html).not.toMatch(/innerHTML|outerHTML|insertAdjacentHTML|document\.write/)
  })

  it('shows the API-key field when the server has a key', async () => {
    const { app } = quietApp(fx, { apiKey: 'k' })
    expect(await (await app.request('/')).text()).toContain('data-needs-key="true"')
  })
})
