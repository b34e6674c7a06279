import { createInterface } from 'node:readline'
import { checkSearchableQuestion, K_RANGE_MESSAGE, loadConfig, MAX_K, type Config } from '../config.js'
import { createServices, type ServiceRoot } from '../services.js'
import { AppError, isAppError } from '../errors.js'
import type { IngestOptions, LockOptions } from '../index/index.js'
import { progress } from './_progress.js'
import { sanitize } from './_terminal.js'

/** Flags every command that touches the index shares. */
export const indexArgs = {
  'data-dir': { type: 'string', description: 'Index directory (default: .askpapers, or ASKPAPERS_DATA_DIR)' },
  store: { type: 'string', description: 'PostgreSQL corpus instead of --data-dir: postgres://user:password@host:port/db (or ASKPAPERS_STORE_URL)' },
  embedder: { type: 'string', description: 'use-lite (offline default) | ollama | openai (or ASKPAPERS_EMBEDDER)' },
  'embed-model': { type: 'string', description: 'Embedding model for ollama/openai' },
} as const

/** Flags of the commands that answer (ask, chat, serve, eval). */
export const llmArgs = {
  llm: { type: 'string', description: 'none (offline extractive answerer, default) | ollama | openai (or ASKPAPERS_LLM)' },
  model: { type: 'string', description: 'Chat model (default llama3.1:8b for ollama, gpt-4o-mini for openai)' },
} as const

export interface IndexFlags {
  'data-dir'?: string | undefined
  store?: string | undefined
  embedder?: string | undefined
  'embed-model'?: string | undefined
  llm?: string | undefined
  model?: string | undefined
}

/** The services over the corpus these flags (and the environment) name: the CLI's one composition root. */
export async function openServices(flags: IndexFlags): Promise<ServiceRoot> {
  const config = loadConfig(process.env, { dataDir: flags['data-dir'], store: flags.store, embedder: flags.embedder, embedModel: flags['embed-model'], llm: flags.llm, model: flags.model })
  warnInertModels(config, flags)
  return createServices(config)
}

/**
 * An option that changes nothing in the mode chosen is a warning on stderr, never silence, and the
 * run goes on (the mode may come from the environment, which a script cannot always see).
 */
export function warnNoEffect(option: string, why: string, fix?: string): void {
  process.stderr.write(`${sanitize(`askpapers: warning: ${option} has no effect ${why}, so it is ignored${fix ? `; ${fix}` : ''}.`)}\n`)
}

/** `--model` without a chat model, `--embed-model` with the offline embedder. */
export function warnInertModels(config: Pick<Config, 'llm' | 'embedder'>, flags: IndexFlags): void {
  if (flags.model !== undefined && config.llm === 'none') warnNoEffect('--model', 'with --llm none (the offline answerer has no model to choose)', 'to use it, add --llm ollama or --llm openai')
  if (flags['embed-model'] !== undefined && config.embedder === 'use-lite') {
    warnNoEffect('--embed-model', 'with the use-lite embedder (it has one model)', 'to use it, add --embedder ollama or --embedder openai')
  }
}

/** Embedding progress of an ingest or repair, on stderr (see _progress.ts), with a line when it resumes an interrupted one. */
export function ingestProgress(label: string): IngestOptions & { stop(): void } {
  const bar = progress({ label, unit: 'chunks' })
  return {
    onPlan: ({ chunksToEmbed, chunksReused, resumed }) => {
      if (resumed) {
        process.stderr.write(
          `Resuming an interrupted ingest: ${resumed.papers} of its ${resumed.of} papers were committed before it stopped; ` +
            `${chunksReused} chunks are kept, ${chunksToEmbed} left to embed.\n`,
        )
      }
      if (chunksToEmbed > 0) bar.start(chunksToEmbed)
    },
    onProgress: (done) => bar.update(done),
    stop: () => bar.stop(),
  }
}

/** Flag of the commands that write the index. */
export const writeArgs = {
  wait: { type: 'boolean', default: true, description: 'Wait while another ingest holds the data directory (--no-wait: fail at once, exit code 6)' },
} as const

/** How a writing command waits for the data directory's write lock: with a line on stderr, or not at all. */
export function lockOptions(flags: { wait?: boolean | undefined }): LockOptions {
  return { wait: flags.wait !== false, onWait: (message) => process.stderr.write(`askpapers: ${message}\n`) }
}

/**
 * The question given on the command line. None given while stdin is piped: the user meant the
 * questions to come from there, which `--stdin` does.
 */
export function checkQuestion(question: string | undefined, what = 'question', command = 'search'): string {
  if (question === undefined && !process.stdin.isTTY) {
    throw new AppError('BAD_INPUT', `No ${what} given. To read questions from stdin, one per line, add --stdin: e.g. echo "how does LoRA reduce memory?" | askpapers ${command} --stdin.`, { field: what })
  }
  return checkSearchableQuestion(question, what, `The ${what} is empty: pass it in quotes, e.g. askpapers ${command} "how does LoRA reduce memory?".`)
}

/** `-k`: the one limit (config.ts MAX_K) and the message the HTTP API and MCP give too. */
export function parseK(value: string | undefined, fallback = 5): number {
  if (value === undefined) return fallback
  const k = Number(value)
  if (!/^\s*\d+\s*$/.test(value) || k < 1 || k > MAX_K) throw new AppError('BAD_INPUT', K_RANGE_MESSAGE, { field: 'k' })
  return k
}

/** Non-blank lines of stdin, in order. */
export async function* stdinLines(): AsyncGenerator<string> {
  const rl = createInterface({ input: process.stdin, crlfDelay: Infinity })
  for await (const line of rl) if (line.trim()) yield line
}

/**
 * `--stdin` mode: handles one question per line. A bad line (empty after trimming is skipped; too
 * long) is reported — as a JSON line under `field` with `--json` — and the run goes on, ending with
 * exit code 2.
 */
export async function forEachStdinQuestion(json: boolean, field: string, handle: (question: string) => Promise<void>): Promise<number | undefined> {
  let exitCode: number | undefined
  for await (const line of stdinLines()) {
    try {
      await handle(checkQuestion(line))
    } catch (error) {
      if (!isAppError(error) || error.code !== 'BAD_INPUT') throw error
      exitCode = 2
      if (json) printJson({ [field]: line.slice(0, 200), error: { code: error.code, message: error.message } })
      else process.stderr.write(`${error.message}\n`)
    }
  }
  return exitCode
}

export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value)}\n`)
}
