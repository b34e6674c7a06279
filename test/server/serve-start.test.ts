import { spawn } from 'node:child_process'
import { request as httpRequest } from 'node:http'
import { readFileSync } from 'node:fs'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { hugePagesEnv } from '../../src/hugepages.js'
import { runCli } from '../helpers/cli.js'
import { watch, type Watched } from '../helpers/processes.js'
import { refusedUrl, startStubOllama, type StubServer } from '../helpers/stub-ollama.js'

const BIN = join(import.meta.dirname, '../../bin/askpapers.js')
const PAPERS = [
  { title: 'LoRA: Low-Rank Adaptation of Large Language Models', abstract: 'We freeze the pretrained weights and inject trainable rank decomposition matrices. This reduces trainable parameters by 10,000 times and GPU memory by 3 times.' },
  { title: 'Scaling Laws for Neural Language Models', abstract: 'Loss scales as a power law with model size, dataset size and compute. Larger models are more sample-efficient.' },
]

let dir: string
let papers: string

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'askpapers-serve-start-'))
  papers = join(dir, 'papers.jsonl')
  await writeFile(papers, PAPERS.map((p) => JSON.stringify(p)).join('\n'))
})
afterAll(() => rm(dir, { recursive: true, force: true }))

/** `askpapers serve` on a free port; resolves with its URL once it listens. */
async function serve(args: string[], env: Record<string, string>): Promise<{ server: Watched; url: string }> {
  const child = spawn(process.execPath, [BIN, 'serve', '--port', '0', ...args], { env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', NO_COLOR: '1', ...env } })
  const server = watch(child)
  await server.waitFor(/askpapers listening on http:\/\/\S+\n/)
  return { server, url: /askpapers listening on (http:\/\/\S+)\n/.exec(server.stdout())?.[1] ?? '' }
}

async function stop(server: Watched): Promise<void> {
  server.child.kill('SIGTERM')
  await server.exited
}

/** GET with a Host header of our choosing (fetch does not let one set it). */
function statusWithHost(url: string, path: string, host: string): Promise<number | undefined> {
  const { hostname, port } = new URL(url)
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: hostname, port, path, headers: { Host: host } }, (res) => {
      res.resume()
      resolve(res.statusCode)
    })
    req.on('error', reject)
    req.end()
  })
}

describe('askpapers serve --llm ollama checks the model at start', () => {
  let ollama: StubServer
  let env: Record<string, string>
  beforeAll(async () => {
    ollama = await startStubOllama({ dimensions: 16, chatModels: ['qwen2.5:0.5b'] })
    env = { ASKPAPERS_EMBEDDER: 'ollama', OLLAMA_HOST: ollama.url, ASKPAPERS_DATA_DIR: join(dir, 'ollama-data') }
    expect((await runCli(['ingest', papers], { env })).code).toBe(0)
  })
  afterAll(() => ollama.close())

  it('warns when Ollama does not have the model, naming the ones it has; answers fail, search works', async () => {
    const { server, url } = await serve(['--llm', 'ollama'], env)
    try {
      expect(server.stderr()).toContain(
        `Warning: Ollama at ${ollama.url} has no model "llama3.1:8b": run \`ollama pull llama3.1:8b\`, or pick one it has with --model (nomic-embed-text, qwen2.5:0.5b). ` +
          'Until then answers fail with 503; search, the papers and /health work.\n',
      )
      expect((await fetch(`${url}v1/search?q=LoRA`)).status).toBe(200)
      expect((await fetch(`${url}v1/ask`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ question: 'How does LoRA reduce GPU memory?' }) })).status).toBe(503)
    } finally {
      await stop(server)
    }
  })

  it('the fix it names works: a model Ollama has starts without a warning', async () => {
    const { server, url } = await serve(['--llm', 'ollama', '--model', 'qwen2.5:0.5b'], env)
    try {
      expect(server.stderr()).not.toMatch(/Warning/)
      expect(((await (await fetch(`${url}health`)).json()) as { llm: unknown }).llm).toEqual({ provider: 'ollama', model: 'qwen2.5:0.5b', reachable: true })
    } finally {
      await stop(server)
    }
  })

  it('--llm openai warns when the endpoint cannot be reached', async () => {
    const base = `${(await refusedUrl()).replace(/\/$/, '')}/v1`
    const { server } = await serve(['--llm', 'openai'], { ...env, OPENAI_BASE_URL: base, OPENAI_API_KEY: 'sk-test' })
    try {
      expect(server.stderr()).toContain(
        'Warning: the chat model gpt-4o-mini cannot be reached (openai:gpt-4o-mini): check OPENAI_BASE_URL and OPENAI_API_KEY. Until then answers fail with 503; search, the papers and /health work.\n',
      )
    } finally {
      await stop(server)
    }
  })

  // src/hugepages.ts: glibc reads its tunables only at start, so the CLI re-executes itself (same pid) with them.
  it.runIf(hugePagesEnv({ env: {} }) !== undefined)('runs with huge pages for malloc: the same process re-executed with the tunable added to the user\'s', async () => {
    const { server, url } = await serve([], { ...env, GLIBC_TUNABLES: 'glibc.malloc.arena_max=4' })
    try {
      // The process's initial environment. glibc 2.36 splits GLIBC_TUNABLES there in place as it
      // parses it (':' becomes NUL); the process's own copy, process.env, keeps the whole string.
      const environ = readFileSync(`/proc/${server.child.pid}/environ`, 'utf8')
      expect(environ).toMatch(/(^|\0)GLIBC_TUNABLES=glibc\.malloc\.arena_max=4[:\0]glibc\.malloc\.hugetlb=1\0/)
      expect(environ.split('\0')).toContain(`ASKPAPERS_DATA_DIR=${env.ASKPAPERS_DATA_DIR}`)
      expect((await fetch(`${url}v1/search?q=LoRA`)).status).toBe(200)
    } finally {
      await stop(server)
    }
  })

  it('without an API key, refuses a Host it was not given; ASKPAPERS_ALLOWED_HOSTS allows it', async () => {
    const refusing = await serve([], env)
    try {
      expect(await statusWithHost(refusing.url, '/health', 'rebound.example')).toBe(403)
      expect(await statusWithHost(refusing.url, '/health', `localhost:${new URL(refusing.url).port}`)).toBe(200)
    } finally {
      await stop(refusing.server)
    }
    const allowing = await serve([], { ...env, ASKPAPERS_ALLOWED_HOSTS: 'rebound.example' })
    try {
      expect(await statusWithHost(allowing.url, '/health', 'rebound.example')).toBe(200)
    } finally {
      await stop(allowing.server)
    }
  })
})

describe('askpapers serve --llm ollama with no Ollama running', () => {
  it('warns at start that Ollama cannot be reached, and serves search', async () => {
    const host = (await refusedUrl()).replace(/\/$/, '')
    const env = { ASKPAPERS_DATA_DIR: join(dir, 'offline-data'), OLLAMA_HOST: host }
    expect((await runCli(['ingest', papers], { env })).code).toBe(0)
    const { server, url } = await serve(['--llm', 'ollama'], env)
    try {
      expect(server.stderr()).toContain(
        `Warning: Ollama at ${host} cannot be reached (connect ECONNREFUSED ${host.slice(7)}): start it with \`ollama serve\`, or point OLLAMA_HOST at it. ` +
          'Until then answers fail with 503; search, the papers and /health work.\n',
      )
      expect((await fetch(`${url}v1/search?q=LoRA`)).status).toBe(200)
    } finally {
      await stop(server)
    }
  })
})

