import { request as httpRequest } from 'node:http'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import { createApp, listen, loadServerConfig } from '../../src/server/index.js'
import { scriptedReply } from '../helpers/stub-ollama.js'
import { buildFixture, json, llmAnswerer, quietApp, startChatStub, type Fixture } from './_helpers.js'

let fx: Fixture
beforeAll(async () => {
  fx = await buildFixture()
})
afterAll(() => fx.close())

const LORA = 'How does LoRA reduce GPU memory?'

describe('CORS', () => {
  it('ASKPAPERS_CORS_ORIGINS=* lets any origin call the API, preflight included', async () => {
    const settings = loadServerConfig({ ASKPAPERS_CORS_ORIGINS: '*' })
    const { app } = quietApp(fx, { corsOrigins: settings.corsOrigins })
    const res = await app.request('/v1/search?q=LoRA', { headers: { Origin: 'https://anyone.example' } })
    expect(res.status).toBe(200)
    expect(res.headers.get('access-control-allow-origin')).toBe('*')
    const preflight = await app.request('/v1/ask', { method: 'OPTIONS', headers: { Origin: 'https://anyone.example', 'Access-Control-Request-Method': 'POST', 'Access-Control-Request-Headers': 'content-type' } })
    expect(preflight.status).toBe(204)
    expect(preflight.headers.get('access-control-allow-origin')).toBe('*')
    expect(preflight.headers.get('access-control-allow-methods')).toContain('POST')
  })

  it('a list of origins allows those and no other', async () => {
    const { app } = quietApp(fx, { corsOrigins: loadServerConfig({ ASKPAPERS_CORS_ORIGINS: 'https://ok.example' }).corsOrigins })
    expect((await app.request('/health', { headers: { Origin: 'https://ok.example' } })).headers.get('access-control-allow-origin')).toBe('https://ok.example')
    expect((await app.request('/health', { headers: { Origin: 'https://other.example' } })).headers.get('access-control-allow-origin')).toBeNull()
  })
})

describe('a wrong method on a known route', () => {
  it.each([
    ['POST', '/v1/search?q=LoRA', 'GET, HEAD'],
    ['GET', '/v1/ask', 'POST'],
    ['PUT', '/v1/chat', 'POST'],
    ['DELETE', '/health', 'GET, HEAD'],
    ['PATCH', '/openapi.json', 'GET, HEAD'],
  ])('%s %s is 405 with Allow: %s and a JSON body naming the problem', async (method, path, allow) => {
    const { app } = quietApp(fx)
    const res = await app.request(path, { method })
    expect(res.status).toBe(405)
    expect(res.headers.get('allow')).toBe(allow)
    const route = path.split('?')[0]
    expect(await res.json()).toEqual({ error: { code: 'METHOD_NOT_ALLOWED', message: `${method} is not allowed on ${route}: it takes ${allow}.` } })
  })

  it('a route with a path parameter, and an OpenAI-compatible route (in its error format)', async () => {
    const { app } = quietApp(fx)
    const paper = await app.request('/v1/papers/lora', { method: 'POST' })
    expect(paper.status).toBe(405)
    expect(paper.headers.get('allow')).toMatch(/^GET\b.*HEAD$/)
    const completions = await app.request('/v1/chat/completions', { method: 'GET' })
    expect(completions.status).toBe(405)
    expect(completions.headers.get('allow')).toBe('POST')
    expect(await completions.json()).toEqual({
      error: { message: 'GET is not allowed on /v1/chat/completions: it takes POST.', type: 'invalid_request_error', code: 'method_not_allowed', param: null },
    })
  })

  it('the methods Allow lists work, and an unknown path is still 404', async () => {
    const { app } = quietApp(fx)
    expect((await app.request('/health', { method: 'HEAD' })).status).toBe(200)
    expect((await app.request('/v1/search?q=LoRA', { method: 'HEAD' })).status).toBe(200)
    expect((await app.request('/v1/ask', json({ question: LORA }))).status).toBe(200)
    const missing = await app.request('/v1/nothing-here', { method: 'POST' })
    expect(missing.status).toBe(404)
    expect(missing.headers.get('allow')).toBeNull()
  })
})

describe('DNS rebinding: without an API key, only known Host names are answered', () => {
  it.each(['127.0.0.1:8787', 'localhost:8787', 'LOCALHOST', '[::1]:8787', '10.1.2.3', 'askpapers.localhost:8787'])('answers Host %s', async (host) => {
    const { app } = quietApp(fx)
    expect((await app.request(`http://${host}/health`)).status).toBe(200)
  })

  it('refuses another name with 403, naming the Host and the setting that allows it', async () => {
    const { app, lines } = quietApp(fx)
    const res = await app.request('http://evil.example:8787/v1/papers/lora')
    expect(res.status).toBe(403)
    expect(await res.json()).toEqual({
      error: {
        code: 'HOST_NOT_ALLOWED',
        field: 'Host',
        message:
          'This server does not answer to the host "evil.example:8787" (without an API key it refuses names it was not given, against DNS rebinding). ' +
          'To allow it, start the server with ASKPAPERS_ALLOWED_HOSTS=evil.example (comma-separated names), or set ASKPAPERS_API_KEY.',
      },
    })
    expect(lines).toEqual([expect.stringMatching(/^GET \/v1\/papers\/lora 403 \d+ms /)])
  })

  it('the fixes it names work: ASKPAPERS_ALLOWED_HOSTS (a name, or *), or an API key', async () => {
    const named = quietApp(fx, { allowedHosts: loadServerConfig({ ASKPAPERS_ALLOWED_HOSTS: 'evil.example, papers.example.org' }).allowedHosts }).app
    expect((await named.request('http://evil.example:8787/v1/papers/lora')).status).toBe(200)
    expect((await named.request('http://Papers.Example.Org/health')).status).toBe(200)
    expect((await named.request('http://other.example/health')).status).toBe(403)
    const any = quietApp(fx, { allowedHosts: loadServerConfig({ ASKPAPERS_ALLOWED_HOSTS: '*' }).allowedHosts }).app
    expect((await any.request('http://other.example/health')).status).toBe(200)
    const keyed = quietApp(fx, { apiKey: loadServerConfig({ ASKPAPERS_API_KEY: 'secret' }).apiKey }).app
    expect((await keyed.request('http://evil.example/v1/papers/lora', { headers: { Authorization: 'Bearer secret' } })).status).toBe(200)
  })

  it('refuses a bad ASKPAPERS_ALLOWED_HOSTS by name', () => {
    expect(() => loadServerConfig({ ASKPAPERS_ALLOWED_HOSTS: 'https://papers.example.org' })).toThrow(
      'Invalid ASKPAPERS_ALLOWED_HOSTS: a host name looks like papers.example.org (no scheme, port or path).',
    )
  })

  it('reads the Host header a real client sends', async () => {
    const server = await listen(createApp({ ...fx.deps, log: () => {} }), { port: 0 })
    try {
      const status = (host: string) =>
        new Promise<number | undefined>((resolve, reject) => {
          const req = httpRequest({ host: '127.0.0.1', port: server.port, path: '/health', headers: { Host: host } }, (res) => {
            res.resume()
            resolve(res.statusCode)
          })
          req.on('error', reject)
          req.end()
        })
      expect(await status('evil.example')).toBe(403)
      expect(await status(`127.0.0.1:${server.port}`)).toBe(200)
    } finally {
      await server.close()
    }
  })
})

describe('the access log', () => {
  it.each([
    ['an encoded CR LF', '/v1/papers/x%0D%0AGET%20/v1/ask%20200%200ms%20forged', '/v1/papers/x%0D%0AGET%20/v1/ask%20200%200ms%20forged'],
    ['an encoded NUL, ESC and a bidi override', '/v1/papers/a%00b%1B%5B2J%E2%80%AEc', '/v1/papers/a%00b%1B[2J%E2%80%AEc'],
    ['a literal percent sign', '/v1/papers/100%25', '/v1/papers/100%25'],
  ])('writes a path with %s escaped, on one line', async (_name, path, logged) => {
    const { app, lines } = quietApp(fx)
    expect((await app.request(path)).status).toBe(404)
    expect(lines).toHaveLength(1)
    expect(lines[0]).toMatch(new RegExp(`^GET ${logged.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} 404 \\d+ms [0-9a-f-]{36}$`))
    expect(lines[0]).not.toMatch(/[\u0000-\u001f\u007f-\u009f\u202a-\u202e]/)
  })
})

describe('a client that goes away', () => {
  it.each([
    ['a JSON answer', false, /^POST \/v1\/ask 499 \d+ms \S+ aborted by the client$/],
    ['a streamed answer', true, /^POST \/v1\/ask 200 \d+ms \S+ aborted by the client$/],
  ])('%s is logged as an abort, not an internal error', async (_name, stream, line) => {
    const ollama = await startChatStub(scriptedReply({ deltas: ['LoRA cuts GPU memory [1]', ' by 3 times', ' [1].'], delayMs: 400 }))
    const lines: string[] = []
    const server = await listen(createApp({ ...fx.deps, ...llmAnswerer(fx, ollama.url), log: (l) => lines.push(l) }), { port: 0 })
    try {
      const client = new AbortController()
      const res = fetch(`${server.url}v1/ask`, { ...json({ question: LORA, stream }), signal: client.signal })
      // A stream has sent its first event (the papers found); either way the model is answering.
      if (stream) await (await res).body!.getReader().read()
      await vi.waitFor(() => expect(ollama.requests.some((r) => r.path === '/api/chat')).toBe(true))
      client.abort()
      if (!stream) await expect(res).rejects.toThrow()
      await vi.waitFor(() => expect(lines).toEqual([expect.stringMatching(line)]), { timeout: 5000 })
      // The model call is cancelled with the request.
      await vi.waitFor(() => expect(ollama.requests.find((r) => r.path === '/api/chat')?.clientClosed).toBe(true), { timeout: 5000 })
      expect(lines.some((l) => l.startsWith('error '))).toBe(false)
    } finally {
      await server.close()
      await ollama.close()
    }
  })
})
