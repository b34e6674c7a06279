import { OFFLINE_MODEL, type Answerer, type AnswerResult, type AskOptions, type ChatProvider, type Prompts } from './answer/index.js'
import { ChatSession, type ChatSessionOptions } from './chat/index.js'
import type { Config } from './config.js'
import { Engine, type EngineOptions } from './engine.js'
import type { StoredPaper } from './index/index.js'
import type { Retriever, SearchOptions, SearchOutcome } from './retrieve/index.js'

/** What the HTTP routes need of a conversation. */
export type Conversation = Pick<ChatSession, 'send' | 'busy'>

/** What /health reports (the JSON contract of `GET /health`). */
export interface Health {
  status: 'ok' | 'degraded'
  index: { loaded: boolean; papers: number; chunks: number; generation?: string }
  embedder: { provider: string; model: string; dimensions: number | null }
  llm: { provider: string; model: string; reachable: boolean }
  store?: { kind: 'embedded' | 'postgres'; location: string; version: string }
}

/** The index being served, as /health and the page describe it: live, so each read is of the index held now. */
export interface IndexView {
  papers: ReadonlyMap<string, StoredPaper>
  readonly chunks: number
  readonly embedder: { provider: string; model: string; dimensions: number | null }
  /** The committed generation being served ("gen-000012"), when the index is a stored one. */
  readonly generation?: string | undefined
  /** Which store holds the corpus, where (no password) and its version. */
  readonly store?: { kind: 'embedded' | 'postgres'; location: string; version: string } | undefined
}

/**
 * What both front ends (CLI, HTTP with its MCP and OpenAI-compatible routes) answer with. Every
 * call runs on the index held at that moment, so an ingest or a refresh is seen by the next call.
 */
export interface Services {
  search(query: string, options?: SearchOptions): Promise<SearchOutcome>
  ask(question: string, options?: AskOptions): Promise<AnswerResult>
  /** A new conversation over the answerer, the chat model (for condensing) and the prompts; `turns` resumes one. */
  chat(options?: ChatSessionOptions): Promise<ChatSession>
  /** The papers of the index held now. */
  papers: ReadonlyMap<string, StoredPaper>
  health(): Promise<Health>
  /** Who answers: "offline-extractive", "ollama:llama3.1:8b". */
  readonly model: string
  /** The configured chat model; undefined for the offline answerer. */
  readonly provider: ChatProvider | undefined
  readonly index: IndexView
  /**
   * Picks up an index generation another process committed (`Engine.refresh`); resolves true when
   * it swapped. Absent when nothing can be committed behind the server's back.
   */
  refresh?: () => Promise<boolean>
}

/** The pieces services are made of; a test may swap one (an answerer over a stub LLM). */
export interface ServiceParts {
  retriever: Pick<Retriever, 'search'>
  answerer: Pick<Answerer, 'ask' | 'model'>
  /** The prompt files, or their reading (read when a conversation first needs them). */
  readonly prompts: Prompts | Promise<Prompts>
  provider?: ChatProvider | undefined
  index: IndexView
  refresh?: (() => Promise<boolean>) | undefined
  /** How a conversation is made; by default a ChatSession over the answerer, provider and prompts. */
  newConversation?: (options?: ChatSessionOptions) => ChatSession | Promise<ChatSession>
}

/** The one place the services are put together, and the one place a ChatSession is built. */
export function assembleServices(parts: ServiceParts): Services {
  const { retriever, answerer, provider, index, refresh, newConversation } = parts
  return {
    search: (query, options) => retriever.search(query, options),
    ask: (question, options) => answerer.ask(question, options),
    chat: async (options) => newConversation?.(options) ?? new ChatSession({ answerer, prompts: await parts.prompts, ...(provider ? { provider } : {}) }, options),
    papers: index.papers,
    health: async () => {
      const reachable = provider ? await provider.ping() : true
      const loaded = index.papers.size > 0
      const { generation, store } = index
      return {
        status: loaded && reachable ? 'ok' : 'degraded',
        index: { loaded, papers: index.papers.size, chunks: index.chunks, ...(generation ? { generation } : {}) },
        embedder: index.embedder,
        llm: provider ? { provider: before(provider.name, ':'), model: after(provider.name, ':'), reachable } : { provider: 'none', model: answerer.model, reachable },
        ...(store ? { store } : {}),
      }
    },
    model: answerer.model,
    provider,
    index,
    ...(refresh ? { refresh } : {}),
  }
}

/** Services over an open corpus, with the engine that holds it (the write side: ingest, remove). */
export interface ServiceRoot extends Services {
  engine: Engine
  /**
   * Loads what answering needs before the first request (the embedder, the calibration, the
   * answerer): a server pays for it at start-up. Fails (NOT_FOUND) while the index is empty.
   */
  warm(): Promise<void>
  close(): Promise<void>
}

/**
 * The composition root that both front ends take: opens the corpus this configuration names and
 * returns the services over it. Nothing is loaded before it is needed (see `warm`).
 */
export async function createServices(config: Config, options: EngineOptions = {}): Promise<ServiceRoot> {
  return servicesOver(await Engine.open(config, options))
}

/** The services over an engine already open (a test's, or one the caller ingested into first). */
export function servicesOver(engine: Engine): ServiceRoot {
  return {
    ...assembleServices(engineParts(engine)),
    engine,
    warm: async () => {
      await Promise.all([engine.retriever(), engine.answerer(), engine.prompts(), engine.embedder()])
    },
    close: () => engine.close(),
  }
}

/**
 * The engine's pieces, live: each call goes to the index the engine holds at that moment, and
 * `refresh` swaps in a generation another process committed (`Engine.refresh`).
 */
function engineParts(engine: Engine): ServiceParts {
  const provider = engine.provider()
  return {
    retriever: { search: async (question, options) => (await engine.retriever()).search(question, options) },
    // The answerer's model is the provider's name (or the offline answerer's), whichever index it answers on.
    answerer: { model: provider?.name ?? OFFLINE_MODEL, ask: async (question, options) => (await engine.answerer()).ask(question, options) },
    get prompts() {
      return engine.prompts()
    },
    provider,
    index: {
      papers: new CurrentPapers(engine),
      get chunks() {
        return engine.index.info().chunks
      },
      get embedder() {
        return engine.index.info().embedder ?? { ...engine.expectedEmbedder(), dimensions: null }
      },
      get generation() {
        return engine.index.version
      },
      get store() {
        const { kind, version } = engine.index.info()
        return { kind, location: engine.location, version }
      },
    },
    refresh: () => engine.refresh(),
  }
}

/** The papers of whichever index the engine holds now, as a read-only map. */
class CurrentPapers implements ReadonlyMap<string, StoredPaper> {
  constructor(private readonly engine: Engine) {}

  private get map(): ReadonlyMap<string, StoredPaper> {
    return this.engine.index.records
  }

  get size(): number {
    return this.map.size
  }

  get(id: string): StoredPaper | undefined {
    return this.map.get(id)
  }

  has(id: string): boolean {
    return this.map.has(id)
  }

  forEach(callback: (value: StoredPaper, key: string, map: ReadonlyMap<string, StoredPaper>) => void, thisArg?: unknown): void {
    this.map.forEach((value, key) => callback.call(thisArg, value, key, this))
  }

  entries(): MapIterator<[string, StoredPaper]> {
    return this.map.entries()
  }

  keys(): MapIterator<string> {
    return this.map.keys()
  }

  values(): MapIterator<StoredPaper> {
    return this.map.values()
  }

  [Symbol.iterator](): MapIterator<[string, StoredPaper]> {
    return this.map[Symbol.iterator]()
  }
}

/** Provider names read "ollama:llama3.1:8b": the provider, then the model (which may hold colons). */
const before = (text: string, sep: string): string => (text.includes(sep) ? text.slice(0, text.indexOf(sep)) : text)
const after = (text: string, sep: string): string => (text.includes(sep) ? text.slice(text.indexOf(sep) + sep.length) : text)
