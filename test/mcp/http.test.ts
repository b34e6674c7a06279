import { spawn } from 'node:child_process'
import { Client } from '@modelcontextprotocol/sdk/client/index.js'
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js'
import { LATEST_PROTOCOL_VERSION } from '@modelcontextprotocol/sdk/types.js'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { Answerer } from '../../src/answer/answer.js'
import { createChatProvider } from '../../src/answer/providers.js'
import { createApp, engineDeps, listen, type EngineDeps, type RunningServer } from '../../src/server/index.js'
import { assembleServices } from '../../src/services.js'
import { BIN, buildFixture, LLM_DELAY_MS, PAPERS, textOf, type Fixture } from './_helpers.js'

const KEY = 'mcp-test-key'
let fx: Fixture
let deps: EngineDeps
let server: RunningServer

beforeAll(async () => {
  fx = await buildFixture()
  deps = await engineDeps(fx.engine)
  server = await listen(createApp({ ...deps, apiKey: KEY, log: () => {} }), { port: 0 })
})
afterAll(async () => {
  await server?.close()
  await fx?.close()
})

async function connect(url: string, key?: string): Promise<Client> {
  const client = new Client({ name: 'askpapers-test', version: '0.0.0' })
  await client.connect(new StreamableHTTPClientTransport(new URL('mcp', url), key ? { requestInit: { headers: { Authorization: `Bearer ${key}` } } } : {}))
  return client
}

const initialize = (headers: Record<string, string> = {}): RequestInit => ({
  method: 'POST',
  headers: { 'Content-Type': 'application/json', Accept: 'application/json, text/event-stream', ...headers },
  body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: LATEST_PROTOCOL_VERSION, capabilities: {}, clientInfo: { name: 'raw', version: '0' } } }),
})

describe('/mcp over Streamable HTTP (the SDK client, a server on 127.0.0.1)', () => {
  it('serves the same tools as stdio, with the results of /v1/search and /v1/ask', async () => {
    const client = await connect(server.url, KEY)
    try {
      expect((await client.listTools()).tools.map((t) => t.name)).toEqual(['search_papers', 'ask_papers', 'get_paper'])
      const auth = { headers: { Authorization: `Bearer ${KEY}` } }

      const query = 'How does LoRA reduce GPU memory?'
      const search = await client.callTool({ name: 'search_papers', arguments: { query, k: 3 } })
      const http = await (await fetch(`${server.url}v1/search?${new URLSearchParams({ q: query, k: '3' })}`, auth)).json()
      expect(search.structuredContent).toEqual(http)

      const ask = await client.callTool({ name: 'ask_papers', arguments: { question: query } })
      const asked = await (await fetch(`${server.url}v1/ask`, { method: 'POST', headers: { ...auth.headers, 'Content-Type': 'application/json' }, body: JSON.stringify({ question: query }) })).json()
      const { timings: _a, ...viaMcp } = ask.structuredContent as Record<string, unknown>
      const { timings: _b, ...viaApi } = asked as Record<string, unknown>
      expect(viaMcp).toEqual(viaApi)

      const paper = await client.callTool({ name: 'get_paper', arguments: { id: 'lora' } })
      expect(paper.structuredContent).toEqual(await (await fetch(`${server.url}v1/papers/lora`, auth)).json())

      const read = await client.readResource({ uri: 'askpapers://paper/scaling' })
      expect(read.contents[0]).toMatchObject({ mimeType: 'text/markdown', text: expect.stringMatching(/^# Scaling Laws for Neural Language Models\n/) })
      expect((await client.listResources()).resources).toHaveLength(PAPERS.length)

      const bad = await client.callTool({ name: 'get_paper', arguments: { id: 'nope' } })
      expect(bad).toMatchObject({ isError: true })
      expect(textOf(bad)).toBe('No paper with id "nope" in the index.')
    } finally {
      await client.close()
    }
  })

  it.each([
    ['no key', {}, 'This server needs an API key: send Authorization: Bearer <key>.'],
    ['a wrong key', { Authorization: 'Bearer wrong' }, 'The API key is wrong.'],
  ])('answers a request with %s 401, as /v1 does', async (_name, headers, message) => {
    const res = await fetch(`${server.url}mcp`, initialize(headers))
    expect(res.status).toBe(401)
    expect(res.headers.get('www-authenticate')).toBe('Bearer')
    expect(await res.json()).toEqual({ error: { code: 'UNAUTHORIZED', message } })
  })

  it('refuses the SDK client without the key', async () => {
    await expect(connect(server.url)).rejects.toMatchObject({ code: 401, message: expect.stringContaining('This server needs an API key') })
  })

  it('is stateless: no session id, and GET or DELETE are 405', async () => {
    const res = await fetch(`${server.url}mcp`, initialize({ Authorization: `Bearer ${KEY}` }))
    expect(res.status).toBe(200)
    expect(res.headers.get('mcp-session-id')).toBeNull()
    expect(res.headers.get('content-type')).toMatch(/^application\/json/)
    expect(await res.json()).toMatchObject({ jsonrpc: '2.0', id: 1, result: { serverInfo: { name: 'askpapers' } } })
    for (const method of ['GET', 'DELETE']) {
      const other = await fetch(`${server.url}mcp`, { method, headers: { Authorization: `Bearer ${KEY}`, Accept: 'text/event-stream' } })
      expect(other.status).toBe(405)
      expect(other.headers.get('allow')).toBe('POST')
    }
  })

  it('answers a body over the size limit 413 before parsing it', async () => {
    const res = await fetch(`${server.url}mcp`, { ...initialize({ Authorization: `Bearer ${KEY}` }), body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'ping', params: { pad: 'x'.repeat(70 * 1024) } }) })
    expect(res.status).toBe(413)
  })

  it('answers a call that outlasts the request timeout with an isError result', async () => {
    // The stub model takes LLM_DELAY_MS per piece of its reply, longer than the deadline.
    expect(LLM_DELAY_MS).toBeGreaterThan(400)
    const provider = createChatProvider({ provider: 'ollama', host: fx.ollama.url, model: 'llama3.1:8b', timeoutMs: 10_000 })
    const answerer = new Answerer({ retriever: await fx.engine.retriever(), corpus: fx.engine.index, prompts: await fx.engine.prompts(), provider })
    const { services } = deps
    const slow = await listen(
      createApp({ services: assembleServices({ retriever: services, answerer, prompts: await fx.engine.prompts(), provider, index: services.index }), requestTimeoutMs: 400, log: () => {} }),
      { port: 0 },
    )
    const client = await connect(slow.url)
    try {
      const result = await client.callTool({ name: 'ask_papers', arguments: { question: 'How does LoRA reduce GPU memory?' } })
      expect(result.isError).toBe(true)
      expect(textOf(result)).toMatch(/^No answer within the request timeout of 0\.4 s\.\n\nPapers found before it failed:\n- LoRA/)
    } finally {
      await client.close()
      await slow.close()
    }
  })
})

describe('askpapers serve (built CLI) mounts /mcp', () => {
  it('behind ASKPAPERS_API_KEY', async () => {
    const child = spawn(process.execPath, [BIN, 'serve', '--port', '0'], { env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ...fx.env, ASKPAPERS_API_KEY: KEY } })
    let stderr = ''
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()))
    const exit = new Promise<number | null>((resolve) => child.on('exit', resolve))
    try {
      const url = await new Promise<string>((resolve, reject) => {
        let stdout = ''
        child.stdout.on('data', (d: Buffer) => {
          stdout += d.toString()
          const match = /askpapers listening on (http:\/\/\S+)\n/.exec(stdout)
          if (match?.[1]) resolve(match[1])
        })
        void exit.then((code) => reject(new Error(`serve exited with ${code}: ${stderr}`)))
      })
      expect((await fetch(`${url}mcp`, initialize())).status).toBe(401)
      const client = await connect(url, KEY)
      const result = await client.callTool({ name: 'search_papers', arguments: { query: 'LoRA', k: 1 } })
      expect(result.structuredContent).toMatchObject({ query: 'LoRA', results: [{ id: 'lora' }] })
      await client.close()
    } finally {
      child.kill('SIGTERM')
      expect(await exit).toBe(0)
    }
    expect(stderr).toMatch(/POST \/mcp 200 \d+ms /)
  })
})
