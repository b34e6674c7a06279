/**
 * The worker-thread entry of the USE-lite pool (`_use-lite.ts` starts it with
 * `workerData.useLiteWorker`): loads its own model and answers `embed` requests. Also the surface
 * the bench and tests load the model through (`loadUseLite`, `setFastAttention`).
 */
// Run directly as `.ts` by Node in a worker under vitest (type stripping): erasable TypeScript only, and
// relative imports name the `.ts` file (tsc rewrites them to `.js` in dist/).
import { isMainThread, parentPort, workerData } from 'node:worker_threads'
import { loadUseLite } from './_use-model.ts'

export { loadUseLite, USE_LITE_DIMENSIONS, USE_LITE_MAX_TOKENS, type LoadOptions, type UseLite } from './_use-model.ts'
export { setFastAttention } from './_use-kernel.ts'

export type WorkerRequest = { type: 'embed'; id: number; texts: string[] }
export type WorkerReply =
  | { type: 'ready'; loadMs: number }
  | { type: 'fatal'; message: string; missing: boolean }
  | { type: 'result'; id: number; vectors: Float32Array }
  | { type: 'error'; id: number; message: string }


if (!isMainThread && parentPort && (workerData as { useLiteWorker?: boolean } | undefined)?.useLiteWorker) {
  const port = parentPort
  const started = performance.now()
  loadUseLite().then(
    (model) => {
      port.on('message', (request: WorkerRequest) => {
        try {
          const vectors = model.embed(request.texts)
          port.postMessage({ type: 'result', id: request.id, vectors } satisfies WorkerReply, [vectors.buffer as ArrayBuffer])
        } catch (error) {
          port.postMessage({ type: 'error', id: request.id, message: (error as Error).message } satisfies WorkerReply)
        }
      })
      port.postMessage({ type: 'ready', loadMs: performance.now() - started } satisfies WorkerReply)
    },
    (error: unknown) => {
      const missing = (error as NodeJS.ErrnoException).code === 'ENOENT' || /no such file|ENOENT/.test(String(error))
      port.postMessage({ type: 'fatal', message: (error as Error).message ?? String(error), missing } satisfies WorkerReply)
    },
  )
}
