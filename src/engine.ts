import { defaultSeedDir, loadPapers, type ParseProblem } from './corpus/index.js'
import type { Config } from './config.js'
import { AppError } from './errors.js'
import { DEFAULT_CHUNKING, type ChunkOptions } from './index/chunk.js'
import { createEmbedder, USE_LITE_MODEL, type Embedder, type EmbedderConfig } from './index/embedders/index.js'
import { PaperIndex, type IngestCounts, type IngestOptions } from './index/store.js'
import { Answerer } from './answer/answer.js'
import { everydaySimilarity, loadEverydayQuestions } from './answer/everyday.js'
import { loadPrompts, type Prompts } from './answer/prompts.js'
import { createChatProvider, type ChatProvider } from './answer/providers.js'
import { calibrateFusion, type FusionCalibration } from './retrieve/calibrate.js'
import { DEFAULT_FUSION, Retriever, type FusionOptions } from './retrieve/hybrid.js'

export interface IngestSummary extends IngestCounts {
  /** Papers in the index after the ingest. */
  papers: number
  skipped: number
  problems: ParseProblem[]
  seconds: number
}

export interface EngineOptions {
  chunking?: ChunkOptions
  fusion?: FusionOptions
}

/**
 * The one object both front ends (CLI, HTTP) hold: the loaded index, the configured embedder
 * (created on first need, since loading the offline encoder costs a second) and the retriever.
 */
export class Engine {
  private embedderPromise: Promise<Embedder> | undefined
  private retrieverCache: Retriever | undefined
  private promptsCache: Promise<Prompts> | undefined
  private providerCache: ChatProvider | undefined

  private constructor(
    readonly config: Config,
    private current: PaperIndex,
    private readonly options: Required<EngineOptions>,
  ) {}

  static async open(config: Config, { chunking = { ...DEFAULT_CHUNKING, size: config.chunkSize }, fusion = DEFAULT_FUSION }: EngineOptions = {}): Promise<Engine> {
    return new Engine(config, await PaperIndex.open(config.dataDir), { chunking, fusion })
  }

  get index(): PaperIndex {
    return this.current
  }

  /** The embedder this configuration names, as the index records it (dimensions known only after creation). */
  expectedEmbedder(): { provider: Config['embedder']; model: string } {
    const c = this.config
    const model = c.embedder === 'use-lite' ? USE_LITE_MODEL : c.embedder === 'ollama' ? c.ollamaEmbedModel : c.openaiEmbedModel
    return { provider: c.embedder, model }
  }

  embedder(): Promise<Embedder> {
    const pending =
      this.embedderPromise ??
      createEmbedder(embedderConfig(this.config)).catch((error: unknown) => {
        this.embedderPromise = undefined
        throw error
      })
    this.embedderPromise = pending
    return pending
  }

  async ingest(paths: string[], { rebuild = false, ...options }: IngestOptions & { rebuild?: boolean } = {}): Promise<IngestSummary> {
    const started = performance.now()
    const { papers, problems } = await loadPapers(paths.length > 0 ? paths : [defaultSeedDir()])
    if (papers.length === 0 && problems.length > 0) {
      throw new AppError('BAD_INPUT', `No valid paper in ${paths.join(', ')}: ${problems.length} record(s) skipped.`)
    }
    // A rebuild re-embeds every paper already indexed too: it changes the embedder, never the corpus.
    if (!rebuild) this.current.assertCompatible(this.expectedEmbedder())
    const { counts, index } = await this.current.ingest(papers, () => this.embedder(), this.options.chunking, { ...options, rebuild })
    this.current = index
    this.retrieverCache = undefined
    // Measured now, while the embedder is loaded, so the first search does not pay for it.
    await this.calibration()
    return { papers: index.papers.size, ...counts, skipped: problems.length, problems, seconds: (performance.now() - started) / 1000 }
  }

  async retriever(): Promise<Retriever> {
    if (this.current.isEmpty) throw new AppError('NOT_FOUND', `The index in ${this.config.dataDir} is empty: run \`askpapers ingest\` first.`)
    this.current.assertCompatible(this.expectedEmbedder())
    if (!this.retrieverCache) {
      const embedQuery = async (text: string): Promise<number[]> => {
        const embedder = await this.embedder()
        this.current.assertCompatible(embedder.info)
        return embedder.embeddings.embedQuery(text)
      }
      const denseWeight = this.options.fusion.denseWeight ?? (await this.calibration())?.denseWeight
      this.retrieverCache = new Retriever(this.current, embedQuery, { ...this.options.fusion, denseWeight })
    }
    return this.retrieverCache
  }

  /**
   * The fusion calibration of the current index (see `retrieve/calibrate.ts`): read from beside the
   * index, else measured (about a hundred query embeddings) and stored there. Undefined for a corpus
   * too small to sample, which then fuses with the prior weight.
   */
  async calibration(): Promise<FusionCalibration | undefined> {
    const index = this.current
    if (index.isEmpty) return undefined
    const stored = await index.readNote<FusionCalibration | { queries: 0 }>(CALIBRATION_NOTE)
    if (stored) return stored.queries > 0 ? (stored as FusionCalibration) : undefined
    const embedder = await this.embedder()
    index.assertCompatible(embedder.info)
    const measured = await calibrateFusion(index, (texts) => embedder.embeddings.embedDocuments(texts), `${embedder.info.provider}:${embedder.info.model}`)
    await index.writeNote(CALIBRATION_NOTE, measured ?? { queries: 0 })
    return measured
  }

  /** The prompt files, read once. */
  prompts(): Promise<Prompts> {
    const pending = this.promptsCache ?? loadPrompts(this.config.promptsDir)
    this.promptsCache = pending
    return pending
  }

  /** The configured chat model, or undefined for the offline answerer. */
  provider(): ChatProvider | undefined {
    const c = this.config
    if (c.llm === 'none') return undefined
    this.providerCache ??=
      c.llm === 'ollama'
        ? createChatProvider({ provider: 'ollama', host: c.ollamaHost, model: c.llmModel, timeoutMs: c.timeoutMs, contextTokens: c.llmContext })
        : createChatProvider({
            provider: 'openai',
            apiKey: c.openaiApiKey ?? '',
            model: c.llmModel,
            timeoutMs: c.timeoutMs,
            contextTokens: c.llmContext,
            ...(c.openaiBaseURL ? { baseURL: c.openaiBaseURL } : {}),
          })
    return this.providerCache
  }

  async answerer(): Promise<Answerer> {
    const [retriever, prompts, everyday] = await Promise.all([this.retriever(), this.prompts(), this.everyday()])
    return new Answerer({ retriever, prompts, provider: this.provider(), everyday })
  }

  /**
   * Similarity to the nearest everyday question (`answer/everyday.ts`), with the background
   * embedded once per index by its embedder and kept beside it.
   */
  private async everyday(): Promise<((v: readonly number[]) => number) | undefined> {
    const index = this.current
    // A handful of papers gives no baseline of what "near the corpus" means (nor stable idf).
    if (index.papers.size < MIN_PAPERS_FOR_EVERYDAY) return undefined
    const model = `${index.manifest?.embedder.provider}:${index.manifest?.embedder.model}`
    const stored = await index.readNote<{ embedder: string; vectors: number[][] }>(EVERYDAY_NOTE)
    if (stored?.embedder === model) return everydaySimilarity(stored.vectors)
    const embedder = await this.embedder()
    index.assertCompatible(embedder.info)
    const vectors = await embedder.embeddings.embedDocuments(await loadEverydayQuestions())
    await index.writeNote(EVERYDAY_NOTE, { embedder: model, vectors: vectors.map((v) => v.map((x) => Math.round(x * 1e5) / 1e5)) })
    return everydaySimilarity(vectors)
  }

  async close(): Promise<void> {
    const pending = this.embedderPromise
    this.embedderPromise = undefined
    if (pending) await (await pending.catch(() => undefined))?.close()
  }
}

const CALIBRATION_NOTE = 'fusion-calibration'
const EVERYDAY_NOTE = 'everyday-questions'
const MIN_PAPERS_FOR_EVERYDAY = 20

export function embedderConfig(config: Config): EmbedderConfig {
  switch (config.embedder) {
    case 'use-lite':
      return { provider: 'use-lite' }
    case 'ollama':
      return { provider: 'ollama', host: config.ollamaHost, model: config.ollamaEmbedModel, timeoutMs: config.timeoutMs }
    case 'openai':
      return {
        provider: 'openai',
        apiKey: config.openaiApiKey ?? '',
        model: config.openaiEmbedModel,
        timeoutMs: config.timeoutMs,
        ...(config.openaiBaseURL ? { baseURL: config.openaiBaseURL } : {}),
      }
  }
}
