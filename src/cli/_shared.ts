import { createInterface } from 'node:readline'
import cliProgress from 'cli-progress'
import { checkSearchableQuestion, loadConfig } from '../config.js'
import { Engine } from '../engine.js'
import { AppError, isAppError } from '../errors.js'
import type { IngestOptions, LockOptions } from '../index/store.js'

/** Flags every command that touches the index shares. */
export const indexArgs = {
  'data-dir': { type: 'string', description: 'Index directory (default: .askpapers, or ASKPAPERS_DATA_DIR)' },
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
  embedder?: string | undefined
  'embed-model'?: string | undefined
  llm?: string | undefined
  model?: string | undefined
}

export async function openEngine(flags: IndexFlags): Promise<Engine> {
  const config = loadConfig(process.env, { dataDir: flags['data-dir'], embedder: flags.embedder, embedModel: flags['embed-model'], llm: flags.llm, model: flags.model })
  return Engine.open(config)
}

/** Progress on stderr so `--json` on stdout stays clean; cli-progress prints nothing when stderr is no TTY. */
export function ingestProgress(label: string): IngestOptions & { stop(): void } {
  const started = performance.now()
  const bar = new cliProgress.SingleBar(
    {
      format: `${label} {bar} {percentage}% | {value}/{total} chunks | {rate} chunks/s | ETA {eta_formatted}`,
      stream: process.stderr,
      hideCursor: true,
      etaBuffer: 200,
    },
    cliProgress.Presets.shades_classic,
  )
  let running = false
  return {
    onPlan: ({ chunksToEmbed, chunksReused, resumed }) => {
      if (resumed) {
        process.stderr.write(
          `Resuming an interrupted ingest: ${resumed.papers} of its ${resumed.of} papers were committed before it stopped; ` +
            `${chunksReused} chunks are kept, ${chunksToEmbed} left to embed.\n`,
        )
      }
      if (chunksToEmbed === 0) return
      bar.start(chunksToEmbed, 0, { rate: '0.0' })
      running = true
    },
    onProgress: (done) => {
      const seconds = (performance.now() - started) / 1000
      bar.update(done, { rate: (done / Math.max(seconds, 0.001)).toFixed(1) })
    },
    stop: () => {
      if (running) bar.stop()
      running = false
    },
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

export function checkQuestion(question: string | undefined, what = 'question'): string {
  return checkSearchableQuestion(question, what, `The ${what} is empty: pass it in quotes, e.g. askpapers search "how does LoRA reduce memory?".`)
}

export function parseK(value: string | undefined, fallback = 5): number {
  if (value === undefined) return fallback
  const k = Number(value)
  if (!Number.isInteger(k) || k < 1 || k > 100) throw new AppError('BAD_INPUT', `-k must be a whole number from 1 to 100, not "${value}".`, { field: 'k' })
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
export async function forEachStdinQuestion(json: boolean, field: string, handle: (question: string) => Promise<void>): Promise<void> {
  for await (const line of stdinLines()) {
    try {
      await handle(checkQuestion(line))
    } catch (error) {
      if (!isAppError(error) || error.code !== 'BAD_INPUT') throw error
      process.exitCode = 2
      if (json) printJson({ [field]: line.slice(0, 200), error: { code: error.code, message: error.message } })
      else process.stderr.write(`${error.message}\n`)
    }
  }
}

export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value)}\n`)
}
