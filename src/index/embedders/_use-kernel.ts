// Run directly as `.ts` by Node in a worker under vitest (type stripping): erasable TypeScript only, and
// relative imports name the `.ts` file (tsc rewrites them to `.js` in dist/).
import * as tfModule from '@energetic-ai/core'

/** The slice of TF.js used here (`@energetic-ai/core` ships no resolvable types for it). */
export interface Tensor {
  dataSync(): Float32Array | Int32Array
  dispose(): void
}
export interface GraphModel {
  outputs: Array<{ name: string }>
  execute(inputs: Record<string, Tensor>, outputs: string): Tensor
  executeAsync(inputs: Record<string, Tensor>, outputs: string): Promise<Tensor>
  dispose(): void
}
interface Tf {
  ready(): Promise<void>
  tensor1d(values: Int32Array, dtype: 'int32'): Tensor
  tensor2d(values: Int32Array, shape: [number, number], dtype: 'int32'): Tensor
  dispose(tensors: Tensor[]): void
  backend(): unknown
  getKernel(name: string, backend: string): KernelConfig | undefined
  registerKernel(config: KernelConfig): void
  unregisterKernel(name: string, backend: string): void
}
export const tf = tfModule as unknown as Tf

interface TensorInfo {
  dataId: object
  shape: number[]
  dtype: string
}
interface KernelArgs {
  inputs: Record<string, TensorInfo>
  backend: WasmBackend
  attrs: Record<string, unknown>
}
interface KernelConfig {
  kernelName: string
  backendName: string
  kernelFunc: (args: KernelArgs) => TensorInfo
}
/** Internals of tfjs-backend-wasm 4.5 (bundled in @energetic-ai/core 0.2), checked before use. */
interface WasmBackend {
  dataIdNextNumber: number
  dataIdMap: { get(dataId: object): { id: number; memoryOffset: number } | undefined }
  makeOutput(shape: number[], dtype: string): TensorInfo
  disposeData(dataId: object): void
  wasm: {
    cwrap(name: string, returns: null, args: string[]): (...args: unknown[]) => void
    tfjs: { registerTensor(id: number, size: number, memoryOffset: number): void; disposeData(id: number): void }
  }
}

let fastAttentionInstalled = false
let fastAttentionEnabled = true

/** For the bench: switches this process's BatchMatMul between `installFastAttention`'s and stock. */
export function setFastAttention(enabled: boolean): void {
  installFastAttention()
  fastAttentionEnabled = enabled
}

/**
 * The wasm backend runs a batched MatMul (attention's Q·Kᵀ and P·V, one matrix pair per
 * sentence and head) in a plain scalar loop at ~1.2 GMAC/s, while single matrix products go to
 * XNNPACK at ~11. This BatchMatMul kernel runs each pair as its own XNNPACK product, on tensor
 * views into the wasm heap (TF.js's Slice would copy the whole input for every pair): one
 * product for 32 sentences × 4 heads of 94 tokens takes ~20 ms instead of ~90, and embedding the
 * default chunks costs 30.7 ms of CPU per text instead of 42.4 (vectors within 3e-7). Anything
 * else (broadcast batches, transposed A, other dtypes) goes to the stock kernel, and so does
 * everything if the backend's internals are not what this expects.
 */
export function installFastAttention(): void {
  if (fastAttentionInstalled) return
  fastAttentionInstalled = true
  const stock = tf.getKernel('BatchMatMul', 'wasm')
  const transpose = tf.getKernel('Transpose', 'wasm')?.kernelFunc
  const backend = tf.backend() as Partial<WasmBackend> | undefined // after tf.ready()
  if (
    !stock ||
    !transpose ||
    typeof backend?.wasm?.cwrap !== 'function' ||
    typeof backend.wasm.tfjs?.registerTensor !== 'function' ||
    typeof backend.makeOutput !== 'function' ||
    typeof backend.dataIdNextNumber !== 'number'
  ) {
    return
  }
  const matMul = backend.wasm.cwrap('BatchMatMul', null, ['number', 'array', 'number', 'number', 'array', 'number', 'number', 'number', 'number'])
  const shapeBytes = (shape: number[]): Uint8Array => new Uint8Array(new Int32Array(shape).buffer)

  const perPair = ({ inputs, backend, attrs }: KernelArgs): TensorInfo | undefined => {
    const { a, b } = inputs
    if (!fastAttentionEnabled || !a || !b || attrs.transposeA || a.dtype !== 'float32' || b.dtype !== 'float32') return undefined
    const batchShape = a.shape.slice(0, -2)
    if (batchShape.length === 0 || batchShape.join() !== b.shape.slice(0, -2).join()) return undefined
    const batch = batchShape.reduce((x, y) => x * y, 1)
    const [m, k] = a.shape.slice(-2) as [number, number]
    const n = (attrs.transposeB ? b.shape.at(-2) : b.shape.at(-1)) ?? 0
    if (batch < 2) return undefined
    const right = attrs.transposeB ? transpose({ inputs: { x: b }, backend, attrs: { perm: [...batchShape.keys(), batchShape.length + 1, batchShape.length] } }) : b
    const out = backend.makeOutput([...batchShape, m, n], 'float32')
    const offsets = [a, right, out].map((t) => backend.dataIdMap.get(t.dataId)?.memoryOffset)
    if (offsets.some((o) => o === undefined)) throw new Error('fast attention: a tensor is not in the wasm heap')
    const [aAt, bAt, outAt] = offsets as [number, number, number]
    const aShape = shapeBytes([1, m, k])
    const bShape = shapeBytes([1, k, n])
    for (let i = 0; i < batch; i++) {
      // Views share the parent's memory; disposing a view's id frees nothing but the id (and the
      // XNNPACK operator cached for it).
      const ids = [backend.dataIdNextNumber++, backend.dataIdNextNumber++, backend.dataIdNextNumber++] as const
      backend.wasm.tfjs.registerTensor(ids[0], m * k, aAt + 4 * i * m * k)
      backend.wasm.tfjs.registerTensor(ids[1], k * n, bAt + 4 * i * k * n)
      backend.wasm.tfjs.registerTensor(ids[2], m * n, outAt + 4 * i * m * n)
      matMul(ids[0], aShape, 3, ids[1], bShape, 3, false, false, ids[2])
      for (const id of ids) backend.wasm.tfjs.disposeData(id)
    }
    if (right !== b) backend.disposeData(right.dataId)
    return out
  }
  tf.unregisterKernel('BatchMatMul', 'wasm')
  tf.registerKernel({ ...stock, kernelFunc: (args) => perPair(args) ?? stock.kernelFunc(args) })
}
