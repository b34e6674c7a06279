import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createApp, listen } from '../../src/server/index.js'
import { scriptedReply, startStubOllama } from '../helpers/stub-ollama.js'
import { buildFixture, fetchJson, llmAnswerer, parseSse, startChatStub, type Fixture } from './_helpers.js'

let fx: Fixture
beforeAll(async () => {
  fx = await buildFixture()
})
afterAll(() => fx.close())

const quiet = { log: () => {} }

describe('listen()', () => {
  it('serves the app on 127.0.0.1 and reports its URL', async () => {
    const server = await listen(createApp({ ...fx.deps, ...quiet }), { port: 0 })
    try {
      expect(server.url).toBe(`http://127.0.0.1:${server.port}/`)
      const res = await fetchJson(`${server.url}health`)
      expect(res.status).toBe(200)
      expect((await res.json()).status).toBe('ok')
    } finally {
      await server.close()
    }
  })

  it('finishes a stream in flight on close(), and takes no new connection', async () => {
    const ollama = await startChatStub(scriptedReply({ deltas: ['LoRA cuts GPU memory [1]', ' by 3 times', ' [1].'], delayMs: 150 }))
    const lines: string[] = []
    const server = await listen(createApp({ ...fx.deps, ...llmAnswerer(fx, ollama.url), log: (line) => lines.push(line) }), { port: 0 })
    try {
      const res = await fetch(`${server.url}v1/ask`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ question: 'How does LoRA reduce GPU memory?', stream: true }),
      })
      const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader()
      let text = (await reader.read()).value ?? ''
      // The access log line of a stream is written when the stream has ended.
      let loggedWhenClosed: string[] = []
      const closed = server.close().then(() => (loggedWhenClosed = [...lines]))
      for (;;) {
        const { done, value } = await reader.read()
        if (done) break
        text += value
      }
      expect(parseSse(text).at(-1)).toMatchObject({ event: 'done', data: { answer: 'LoRA cuts GPU memory [1] by 3 times [1].' } })
      await closed
      expect(loggedWhenClosed).toEqual([expect.stringMatching(/^POST \/v1\/ask 200 \d+ms /)])
      await expect(fetch(`${server.url}health`)).rejects.toThrow()
    } finally {
      await server.close()
      await ollama.close()
    }
  })

  it('says which port is taken', async () => {
    const first = await listen(createApp({ ...fx.deps, ...quiet }), { port: 0 })
    try {
      await expect(listen(createApp({ ...fx.deps, ...quiet }), { port: first.port })).rejects.toThrow(`Port ${first.port} on 127.0.0.1 is already in use: pick another with --port.`)
    } finally {
      await first.close()
    }
  })
})

describe('askpapers serve (built CLI)', () => {
  const BIN = join(import.meta.dirname, '../../bin/askpapers.js')

  function start(args: string[], env: Record<string, string>): { child: ChildProcessWithoutNullStreams; url: Promise<string>; stderr: () => string } {
    const child = spawn(process.execPath, [BIN, 'serve', '--port', '0', ...args], {
      env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', NO_COLOR: '1', ...env },
    })
    let stderr = ''
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()))
    const url = new Promise<string>((resolve, reject) => {
      let stdout = ''
      child.stdout.on('data', (d: Buffer) => {
        stdout += d.toString()
        const match = /askpapers listening on (http:\/\/\S+)\n/.exec(stdout)
        if (match?.[1]) resolve(match[1])
      })
      child.on('exit', (code) => reject(new Error(`serve exited with ${code}: ${stderr}`)))
    })
    return { child, url, stderr: () => stderr }
  }

  it('indexes the seeds into an empty data dir, prints its URL, and exits 0 on SIGTERM', async () => {
    const ollama = await startStubOllama({ dimensions: 16 })
    const dir = await mkdtemp(join(tmpdir(), 'askpapers-serve-'))
    try {
      const server = start([], { ASKPAPERS_EMBEDDER: 'ollama', OLLAMA_HOST: ollama.url, ASKPAPERS_DATA_DIR: join(dir, 'data'), ASKPAPERS_API_KEY: 'k' })
      const url = await server.url
      expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/$/)
      // stderr is no terminal here: the embedding still reports progress, a line at a time.
      expect(server.stderr()).toMatch(/No index in .* yet: indexing the bundled seed papers first\.\n(?:Embedding: \d+\/\d+ chunks \(\d+%\), [\d.]+ chunks\/s, ETA \S+\n)+Indexed \d{3} papers/)
      const health = await (await fetchJson(`${url}health`)).json()
      expect(health.index.papers).toBeGreaterThan(300)
      expect((await fetch(`${url}v1/search?q=LoRA`)).status).toBe(401)
      const exit = new Promise<number | null>((resolve) => server.child.on('exit', resolve))
      server.child.kill('SIGTERM')
      expect(await exit).toBe(0)
      expect(server.stderr()).toMatch(/SIGTERM: finishing requests in flight, then stopping\./)
      expect(server.stderr()).toMatch(/GET \/health 200 \d+ms [0-9a-f-]{36}\n/)
    } finally {
      await ollama.close()
      await rm(dir, { recursive: true, force: true })
    }
  })

  it('refuses a bad CORS origin with one clear line', async () => {
    const server = start([], { ASKPAPERS_CORS_ORIGINS: 'https://ok.example, not an origin', ASKPAPERS_DATA_DIR: join(fx.dir, 'data') })
    await expect(server.url).rejects.toThrow(/Invalid ASKPAPERS_CORS_ORIGINS: an origin looks like https:\/\/example\.org \(no path\)\./)
    expect(server.child.exitCode).toBe(2)
  })
})
