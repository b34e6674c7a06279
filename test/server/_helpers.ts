import { readFileSync } from 'node:fs'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { runInNewContext } from 'node:vm'
import { Answerer, createChatProvider, type ChatProvider, type Prompts } from '../../src/answer/index.js'
import { loadConfig } from '../../src/config.js'
import { Engine } from '../../src/engine.js'
import { createApp, engineDeps, type AppDeps } from '../../src/server/index.js'
import type { Retriever } from '../../src/retrieve/index.js'
import { assembleServices, type ServiceParts, type Services } from '../../src/services.js'
import { startStubOllama, type ChatHandler, type StubServer } from '../helpers/stub-ollama.js'

export const PAPERS = [
  {
    id: 'lora',
    title: 'LoRA: Low-Rank Adaptation of Large Language Models',
    url: 'https://arxiv.org/abs/2106.09685',
    authors: ['Edward J. Hu', 'Yelong Shen', 'Phillip Wallis', 'Zeyuan Allen-Zhu'],
    date: '2021-06-17',
    abstract:
      'We freeze the pretrained model weights and inject trainable rank decomposition matrices into each layer. LoRA reduces the number of trainable parameters by 10,000 times and the GPU memory requirement by 3 times.',
  },
  {
    id: 'scaling',
    title: 'Scaling Laws for Neural Language Models',
    abstract: 'Loss scales as a power law with model size, dataset size and the compute used for training. Larger models are more sample-efficient.',
  },
  {
    id: 'length',
    title: 'Length Generalization in Transformers',
    abstract: 'Transformers fail to extrapolate to inputs longer than those seen in training. We find that position encodings decide length extrapolation.',
  },
  {
    id: 'xss',
    title: 'Rendering <script>alert(1)</script> Safely',
    abstract: 'Abstract text with <img src=x onerror=alert(1)> markup must be shown as text. Sanitizing markup protects readers.',
  },
]

/** A small real index built with the stub Ollama embedder, and the engine over it. */
export interface Fixture {
  ollama: StubServer
  engine: Engine
  /** The app's engine pieces (offline answerer); tests add options or swap the answerer. */
  deps: Awaited<ReturnType<typeof engineDeps>>
  /** The engine's retriever itself (deps.services.search follows whatever index the engine holds). */
  retriever: Retriever
  prompts: Prompts
  dir: string
  close(): Promise<void>
}

export async function buildFixture(): Promise<Fixture> {
  const ollama = await startStubOllama({ dimensions: 32 })
  const dir = await mkdtemp(join(tmpdir(), 'askpapers-server-'))
  await writeFile(join(dir, 'papers.jsonl'), `${PAPERS.map((p) => JSON.stringify(p)).join('\n')}\n`)
  const config = loadConfig({ ASKPAPERS_EMBEDDER: 'ollama', OLLAMA_HOST: ollama.url, ASKPAPERS_DATA_DIR: join(dir, 'data') })
  const engine = await Engine.open(config)
  await engine.ingest([join(dir, 'papers.jsonl')])
  const deps = await engineDeps(engine)
  return {
    ollama,
    engine,
    deps,
    retriever: await engine.retriever(),
    prompts: await engine.prompts(),
    dir,
    close: async () => {
      await engine.close()
      await ollama.close()
      await rm(dir, { recursive: true, force: true })
    },
  }
}

/** A response whose JSON the test reads without declaring its type (asserted field by field). */
export type JsonResponse = Omit<Response, 'json'> & { json(): Promise<any> }

export interface TestApp {
  request(path: string, init?: RequestInit): Promise<JsonResponse>
}

/** An app over the fixture that logs into `lines` instead of stderr. */
export function quietApp(fixture: Fixture, options: Partial<AppDeps> = {}): { app: TestApp; lines: string[] } {
  const lines: string[] = []
  const app = createApp({ ...fixture.deps, log: (line) => lines.push(line), ...options })
  return { app: { request: async (path, init) => app.request(path, init) }, lines }
}

/** fetch() with the same loosely typed JSON. */
export const fetchJson = (url: string, init?: RequestInit): Promise<JsonResponse> => fetch(url, init)

/** An answerer whose LLM is the stub Ollama chat at `host` (or a stub started with `chat`), and the app's services with it. */
export function llmAnswerer(fixture: Fixture, host: string, timeoutMs = 5_000): { services: Services; answerer: Answerer; provider: ChatProvider } {
  const provider = createChatProvider({ provider: 'ollama', host, model: 'llama3.1:8b', timeoutMs })
  const answerer = new Answerer({ retriever: fixture.retriever, corpus: fixture.retriever.corpus, prompts: fixture.prompts, provider })
  return { services: withParts(fixture, { answerer, provider }), answerer, provider }
}

/** The fixture's services with some parts swapped (an answerer, a provider, how conversations are made). */
export function withParts(fixture: Fixture, parts: Partial<ServiceParts>): Services {
  const { services } = fixture.deps
  return assembleServices({ retriever: services, answerer: services, prompts: fixture.prompts, provider: services.provider, index: services.index, ...(services.refresh ? { refresh: services.refresh } : {}), ...parts })
}

export async function startChatStub(chat: ChatHandler): Promise<StubServer> {
  return startStubOllama({ dimensions: 32, chat })
}

export interface SseEvent {
  event: string
  data: any
}

/** Parses a complete server-sent-event body into events, in order (data is JSON), with the page's own parser. */
export function parseSse(text: string): SseEvent[] {
  const events: SseEvent[] = []
  const parser = createSseParser((event, data) => events.push({ event, data }))
  parser.push(text)
  parser.end()
  return events
}

type SseParser = { push(text: string): void; end(): void }

/**
 * The page's SSE parser (src/server/page/sse.js, a browser script), run here as the browser runs
 * it: tests of the HTTP API read streams exactly as the page does.
 */
export const createSseParser: (onEvent: (event: string, data: any) => void) => SseParser = runInNewContext(
  `${readFileSync(new URL('../../src/server/page/sse.js', import.meta.url), 'utf8')}\n;createSseParser`,
  {},
)

export const json = (body: unknown, headers: Record<string, string> = {}): RequestInit => ({
  method: 'POST',
  headers: { 'Content-Type': 'application/json', ...headers },
  body: JSON.stringify(body),
})
