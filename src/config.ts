import { createRequire } from 'node:module'
import { resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { z } from 'zod'
import { AppError } from './errors.js'
import type { LlmConfig } from './answer/index.js'
import { DEFAULT_CHUNKING, USE_LITE_MODEL, type EmbedderConfig } from './index/index.js'
import { parseStoreUrl, type StoreTarget } from './index/postgres/index.js'
import { tokenize } from './retrieve/index.js'

const DEFAULT_PROMPTS_DIR = fileURLToPath(new URL('../prompts', import.meta.url))

/** askpapers' version, from package.json (one level above both src/ and dist/): the CLI, /openapi.json and MCP report it. */
export const VERSION: string = (createRequire(import.meta.url)('../package.json') as { version: string }).version

/** Longest question we accept anywhere (CLI and HTTP). */
export const MAX_QUESTION_CHARS = 4000

/**
 * Most papers one search or answer may retrieve, everywhere (CLI, HTTP, OpenAI-compatible, MCP).
 * An answer's prompt is fitted to the model's context whatever k is (papers that do not fit are
 * left out, and the answer says so), so one limit serves search and answers alike.
 */
export const MAX_K = 100

/** The one message for a k that is not a whole number from 1 to MAX_K, whatever the front end. */
export const K_RANGE_MESSAGE = `k must be a whole number from 1 to ${MAX_K}.`

/** A question or chat message, trimmed: empty or over MAX_QUESTION_CHARS is a BAD_INPUT naming `field`. */
export function checkQuestionText(value: string | undefined, field: string, emptyMessage = `The ${field} is empty.`): string {
  const text = (value ?? '').trim()
  if (!text) throw new AppError('BAD_INPUT', emptyMessage, { field })
  if (text.length > MAX_QUESTION_CHARS) {
    throw new AppError('BAD_INPUT', `The ${field} is ${text.length} characters long; the limit is ${MAX_QUESTION_CHARS}.`, { field })
  }
  return text
}

/**
 * A question of only stopwords or punctuation ("?", "the of and") matches nothing by its words and
 * everything by its vector: say so instead of listing five random papers.
 */
export function searchableWordsProblem(text: string, field: string): string | undefined {
  if (tokenize(text).length > 0) return undefined
  return `The ${field} "${text.length > 40 ? `${text.slice(0, 40)}…` : text}" has no words to search for; ask about a topic, e.g. "how does LoRA reduce memory?".`
}

/** checkQuestionText, then refuses a question with nothing to search for (see searchableWordsProblem). */
export function checkSearchableQuestion(value: string | undefined, field: string, emptyMessage?: string): string {
  const text = checkQuestionText(value, field, emptyMessage)
  const problem = searchableWordsProblem(text, field)
  if (problem) throw new AppError('BAD_INPUT', problem, { field })
  return text
}

const EmbedderChoice = z.enum(['use-lite', 'ollama', 'openai'])
const LlmChoice = z.enum(['none', 'ollama', 'openai'])
export type LlmChoice = z.infer<typeof LlmChoice>

export const DEFAULT_CHAT_MODELS = { ollama: 'llama3.1:8b', openai: 'gpt-4o-mini' } as const
export type EmbedderChoice = z.infer<typeof EmbedderChoice>

/** Everything configurable, parsed once at the edge from env + flags; nothing deeper reads process.env. */
const ConfigSchema = z.object({
  dataDir: z.string().min(1),
  embedder: EmbedderChoice,
  ollamaHost: z.url(),
  ollamaEmbedModel: z.string().min(1),
  openaiApiKey: z.string().optional(),
  openaiBaseURL: z.url().optional(),
  openaiEmbedModel: z.string().min(1),
  timeoutMs: z.number().int().positive(),
  /** Target characters per chunk (0: whole abstracts); see DEFAULT_CHUNKING for how it was chosen. */
  chunkSize: z.number().int().min(0).max(4000),
  llm: LlmChoice,
  llmModel: z.string().min(1),
  /** Tokens of context the chat model takes (ASKPAPERS_LLM_CONTEXT); else Ollama's /api/show says. */
  llmContext: z.number().int().min(512).optional(),
  promptsDir: z.string().min(1),
  /** The PostgreSQL corpus (`--store` / ASKPAPERS_STORE_URL), taken apart once; undefined: the embedded store in dataDir. */
  store: z.object({ url: z.string(), host: z.string(), port: z.number().int(), database: z.string(), user: z.string(), location: z.string() }).optional(),
})
export type Config = z.infer<typeof ConfigSchema>

export interface ConfigFlags {
  dataDir?: string | undefined
  embedder?: string | undefined
  embedModel?: string | undefined
  llm?: string | undefined
  model?: string | undefined
  /** postgres://… (the password stays out of every message: see `Config.store.location`). */
  store?: string | undefined
}

export function loadConfig(env: NodeJS.ProcessEnv, flags: ConfigFlags = {}, cwd = process.cwd()): Config {
  const embedder = flags.embedder ?? env.ASKPAPERS_EMBEDDER ?? 'use-lite'
  const parsedEmbedder = EmbedderChoice.safeParse(embedder)
  if (!parsedEmbedder.success) {
    throw new AppError('CONFIG', `Unknown embedder "${embedder}": use one of use-lite, ollama, openai.`, { field: 'embedder' })
  }
  const llm = flags.llm ?? env.ASKPAPERS_LLM ?? 'none'
  const parsedLlm = LlmChoice.safeParse(llm)
  if (!parsedLlm.success) {
    throw new AppError('CONFIG', `Unknown --llm "${llm}": use none (offline answerer), ollama or openai.`, { field: 'llm' })
  }
  const llmModel = flags.model ?? env.ASKPAPERS_LLM_MODEL ?? (parsedLlm.data === 'none' ? 'offline-extractive' : DEFAULT_CHAT_MODELS[parsedLlm.data])
  const context = env.ASKPAPERS_LLM_CONTEXT?.trim()
  if (context && !(/^\d+$/.test(context) && Number(context) >= 512)) {
    throw new AppError('CONFIG', `ASKPAPERS_LLM_CONTEXT must be the chat model's context size in tokens, a whole number of at least 512 (e.g. 8192), not "${context}".`, {
      field: 'ASKPAPERS_LLM_CONTEXT',
    })
  }
  const raw = {
    dataDir: resolve(cwd, flags.dataDir ?? env.ASKPAPERS_DATA_DIR ?? '.askpapers'),
    embedder: parsedEmbedder.data,
    ollamaHost: normaliseHost(env.OLLAMA_HOST ?? 'http://127.0.0.1:11434'),
    ollamaEmbedModel: (parsedEmbedder.data === 'ollama' ? flags.embedModel : undefined) ?? env.ASKPAPERS_OLLAMA_EMBED_MODEL ?? 'nomic-embed-text',
    openaiApiKey: env.OPENAI_API_KEY || undefined,
    openaiBaseURL: env.OPENAI_BASE_URL || undefined,
    openaiEmbedModel: (parsedEmbedder.data === 'openai' ? flags.embedModel : undefined) ?? env.ASKPAPERS_OPENAI_EMBED_MODEL ?? 'text-embedding-3-small',
    timeoutMs: Number(env.ASKPAPERS_TIMEOUT_MS ?? 60_000),
    chunkSize: Number(env.ASKPAPERS_CHUNK_SIZE ?? DEFAULT_CHUNKING.size),
    llm: parsedLlm.data,
    llmModel,
    llmContext: context ? Number(context) : undefined,
    promptsDir: resolve(cwd, env.ASKPAPERS_PROMPTS_DIR ?? DEFAULT_PROMPTS_DIR),
    store: storeTarget(flags.store ?? (env.ASKPAPERS_STORE_URL || undefined)),
  }
  const parsed = ConfigSchema.safeParse(raw)
  if (!parsed.success) {
    const issue = parsed.error.issues[0]
    const field = String(issue?.path[0] ?? 'config')
    throw new AppError('CONFIG', `Invalid configuration for ${field}: ${issue?.message ?? 'invalid value'}.`, { field })
  }
  if (parsed.data.llm === 'openai' && !parsed.data.openaiApiKey) {
    throw new AppError('CONFIG', '--llm openai needs OPENAI_API_KEY (and OPENAI_BASE_URL for a non-OpenAI endpoint).', { field: 'OPENAI_API_KEY' })
  }
  if (parsed.data.embedder === 'openai' && !parsed.data.openaiApiKey) {
    throw new AppError('CONFIG', 'The openai embedder needs OPENAI_API_KEY (and OPENAI_BASE_URL for a non-OpenAI endpoint).', { field: 'OPENAI_API_KEY' })
  }
  return parsed.data
}

/**
 * The provider settings of this configuration, mapped once here: the chat model (undefined: the
 * offline answerer) and the embedder, as `createChatProvider` and `createEmbedder` take them.
 */
export function llmConfig(c: Config): LlmConfig | undefined {
  switch (c.llm) {
    case 'none':
      return undefined
    case 'ollama':
      return { provider: 'ollama', host: c.ollamaHost, model: c.llmModel, timeoutMs: c.timeoutMs, contextTokens: c.llmContext }
    case 'openai':
      return { provider: 'openai', ...openaiConnection(c), model: c.llmModel, contextTokens: c.llmContext }
  }
}

export function embedderConfig(config: Config): EmbedderConfig {
  switch (config.embedder) {
    case 'use-lite':
      return { provider: 'use-lite' }
    case 'ollama':
      return { provider: 'ollama', host: config.ollamaHost, model: config.ollamaEmbedModel, timeoutMs: config.timeoutMs }
    case 'openai':
      return { provider: 'openai', ...openaiConnection(config), model: config.openaiEmbedModel }
  }
}

/** How to reach the OpenAI-compatible endpoint: the same for its chat model and its embedder. */
function openaiConnection(c: Config): { apiKey: string; timeoutMs: number; baseURL?: string } {
  return { apiKey: c.openaiApiKey ?? '', timeoutMs: c.timeoutMs, ...(c.openaiBaseURL ? { baseURL: c.openaiBaseURL } : {}) }
}

/** The embedder this configuration names, as an index records it (the dimensions are known only once it runs). */
export function embedderIdentity(config: Config): { provider: EmbedderChoice; model: string } {
  const embedder = embedderConfig(config)
  return { provider: embedder.provider, model: embedder.provider === 'use-lite' ? USE_LITE_MODEL : embedder.model }
}

/** `--store` / ASKPAPERS_STORE_URL parsed (a CONFIG error that never echoes the URL, which may hold a password). */
function storeTarget(url: string | undefined): StoreTarget | undefined {
  return url?.trim() ? parseStoreUrl(url.trim(), 'store') : undefined
}

/** OLLAMA_HOST is often given as `host:port` without a scheme, as the ollama CLI accepts. */
function normaliseHost(host: string): string {
  return /^https?:\/\//.test(host) ? host : `http://${host}`
}
