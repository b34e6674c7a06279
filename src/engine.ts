import { readIngestInput, type MergeConflict, type ParseProblem } from './corpus/index.js'
import { embedderConfig, embedderIdentity, llmConfig, type Config } from './config.js'
import { AppError } from './errors.js'
import { DEFAULT_CHUNKING, ingestPapers, PaperIndex, type ChunkOptions, type IngestCounts, type IngestDetails, type IngestOptions, type StoredPaper } from './index/index.js'
import { createEmbedder, type Embedder } from './index/embedders/index.js'
import { PostgresStore, PostgresView } from './index/postgres/index.js'
import { Answerer, everydaySimilarity, loadEverydayQuestions, loadPrompts, createChatProvider, type Prompts, type ChatProvider } from './answer/index.js'
import { calibrateFusion, DEFAULT_FUSION, Retriever, type FusionCalibration, type FusionOptions } from './retrieve/index.js'

export interface IngestSummary extends IngestCounts, IngestDetails {
  /** Papers in the index after the ingest. */
  papers: number
  skipped: number
  problems: ParseProblem[]
  seconds: number
}

/**
 * The corpus the engine holds, whichever store keeps it: the embedded index (a data directory) or a
 * view of a PostgreSQL corpus. Both give the store contract plus the few members the front ends
 * read synchronously (`records`, `version`, `isEmpty`, `assertCompatible`).
 */
export type EngineCorpus = PaperIndex | PostgresView

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
  private answererCache: Answerer | undefined
  private promptsCache: Promise<Prompts> | undefined
  private providerCache: ChatProvider | undefined
  /** The everyday-question background, by the embedder that made it: the same for every generation. */
  private everydayCache: { embedder: string; similarity: (v: readonly number[]) => number } | undefined
  private refreshing: Promise<boolean> | undefined
  /** A committed generation that failed to open: not retried until another is committed. */
  private failedVersion: string | undefined

  private constructor(
    readonly config: Config,
    private current: EngineCorpus,
    private readonly options: Required<EngineOptions>,
  ) {}

  static async open(config: Config, { chunking = { ...DEFAULT_CHUNKING, size: config.chunkSize }, fusion = DEFAULT_FUSION }: EngineOptions = {}): Promise<Engine> {
    if (!config.store) return new Engine(config, await PaperIndex.open(config.dataDir), { chunking, fusion })
    const store = await PostgresStore.open({ url: config.store.url })
    try {
      return new Engine(config, await PostgresView.load(store), { chunking, fusion })
    } catch (error) {
      await store.close().catch(() => undefined)
      throw error
    }
  }

  get index(): EngineCorpus {
    return this.current
  }

  /** Where the corpus is: the data directory, or the database URL without its password. */
  get location(): string {
    return this.config.store?.location ?? this.config.dataDir
  }

  /** The embedder this configuration names, as the index records it (dimensions known only after creation). */
  expectedEmbedder(): { provider: Config['embedder']; model: string } {
    return embedderIdentity(this.config)
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

  /**
   * Ingests these files and directories (none: the bundled seeds). A rebuild without paths re-embeds
   * what is indexed and adds nothing; `replace` lets records' texts replace the indexed ones.
   */
  async ingest(paths: string[], { rebuild = false, ...options }: IngestOptions & { rebuild?: boolean } = {}): Promise<IngestSummary> {
    const started = performance.now()
    const loaded = await readIngestInput(paths, { rebuild, indexEmpty: this.current.isEmpty, location: this.location })
    const { papers, problems } = loaded
    // A rebuild re-embeds every paper already indexed too: it changes the embedder, never the corpus.
    if (!rebuild) this.current.assertCompatible(this.expectedEmbedder())
    const { counts, index, details } = await this.ingestInto(papers, { ...options, rebuild })
    this.current = index
    this.retrieverCache = undefined
    this.answererCache = undefined
    // Measured now, while the embedder is loaded, so the first search does not pay for it.
    await this.calibration()
    // Conflicts among the inputs themselves come first, then those with what was indexed.
    const conflicts: MergeConflict[] = [...loaded.conflicts, ...details.conflicts]
    return { papers: index.info().papers, ...counts, ...details, conflicts, skipped: problems.length, problems, seconds: (performance.now() - started) / 1000 }
  }

  /** Removes papers through the store's write path (`PaperIndex.remove`); returns what was removed and how many are left. */
  async remove(ids: readonly string[], options: Pick<IngestOptions, 'wait' | 'onWait'> = {}): Promise<{ removed: StoredPaper[]; papers: number }> {
    const { removed, index } = await this.removeFrom(ids, options)
    if (index !== this.current) {
      this.current = index
      this.retrieverCache = undefined
      this.answererCache = undefined
    }
    return { removed, papers: index.info().papers }
  }

  private async ingestInto(papers: Parameters<PaperIndex['ingest']>[0], options: IngestOptions): Promise<{ counts: IngestCounts; index: EngineCorpus; details: IngestDetails }> {
    const current = this.current
    if (current instanceof PaperIndex) return current.ingest(papers, () => this.embedder(), this.options.chunking, options)
    const result = await ingestPapers(current.store, papers, () => this.embedder(), this.options.chunking, options)
    return { counts: result.counts, index: await this.viewAfterWrite(current), details: result.details }
  }

  private async removeFrom(ids: readonly string[], options: Pick<IngestOptions, 'wait' | 'onWait'>): Promise<{ removed: StoredPaper[]; index: EngineCorpus }> {
    const current = this.current
    if (current instanceof PaperIndex) return current.remove(ids, options)
    const noEmbedder = (): Promise<Embedder> => Promise.reject(new Error('removing papers embeds nothing'))
    const chunking = current.info().chunking ?? this.options.chunking
    const result = await ingestPapers(current.store, [], noEmbedder, chunking, { ...options, remove: ids })
    return { removed: result.removedPapers, index: await this.viewAfterWrite(current) }
  }

  /** The PostgreSQL corpus as committed: a new view when its version moved, else the one held. */
  private async viewAfterWrite(current: PostgresView): Promise<PostgresView> {
    await current.store.refresh()
    return current.store.info().version === current.version ? current : PostgresView.load(current.store)
  }

  async retriever(): Promise<Retriever> {
    if (this.current.isEmpty) throw new AppError('NOT_FOUND', `The index in ${this.location} is empty: run \`askpapers ingest\` first.`)
    this.current.assertCompatible(this.expectedEmbedder())
    if (!this.retrieverCache) {
      const index = this.current
      const denseWeight = this.options.fusion.denseWeight ?? (await this.calibration())?.denseWeight
      // An ingest may have swapped the index in while the calibration was read.
      if (index === this.current) this.retrieverCache = this.newRetriever(index, denseWeight)
      else return this.retriever()
    }
    return this.retrieverCache
  }

  private newRetriever(index: EngineCorpus, denseWeight: number | undefined): Retriever {
    const embedQuery = async (text: string): Promise<number[]> => {
      const embedder = await this.embedder()
      index.assertCompatible(embedder.info)
      return embedder.embeddings.embedQuery(text)
    }
    return new Retriever(index, embedQuery, { ...this.options.fusion, denseWeight })
  }

  /**
   * Swaps in a generation another process committed since this one was opened, so a running server
   * sees new papers. The new index is opened and made ready (retriever and answerer built) before a
   * single assignment makes it current: a request runs on the old index or the new one, never on a
   * mix. Nothing is measured here: a generation without its own fusion calibration or everyday
   * background (a batch an ingest committed midway) keeps using the previous ones until one has them.
   * Resolves true when it swapped; one refresh runs at a time. A generation that cannot be opened
   * (damage) is reported by the promise and not retried until another is committed.
   */
  refresh(): Promise<boolean> {
    this.refreshing ??= this.swapToCommitted().finally(() => {
      this.refreshing = undefined
    })
    return this.refreshing
  }

  private async swapToCommitted(): Promise<boolean> {
    const current = this.current
    let committed: string | undefined
    if (current instanceof PaperIndex) committed = await PaperIndex.committedVersion(this.config.dataDir)
    else {
      await current.store.refresh()
      committed = current.store.info().version
    }
    if (committed === undefined || committed === current.version || committed === this.failedVersion) return false
    let next: EngineCorpus
    try {
      next = current instanceof PaperIndex ? await PaperIndex.open(this.config.dataDir, { previous: current }) : await PostgresView.load(current.store)
      next.assertCompatible(this.expectedEmbedder())
    } catch (error) {
      this.failedVersion = committed
      throw error
    }
    if (next.version === this.current.version || next.isEmpty) return false
    const note = await next.readNote<FusionCalibration | { queries: 0 }>(CALIBRATION_NOTE)
    const measured = note ? (note.queries > 0 ? (note as FusionCalibration).denseWeight : undefined) : this.retrieverCache?.denseWeight
    const denseWeight = this.options.fusion.denseWeight ?? measured
    const retriever = this.newRetriever(next, denseWeight)
    const answerer = this.answererCache ? await this.newAnswerer(next, retriever, { measure: false }) : undefined
    this.current = next
    this.retrieverCache = retriever
    this.answererCache = answerer
    return true
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
    const llm = llmConfig(this.config)
    if (!llm) return undefined
    this.providerCache ??= createChatProvider(llm)
    return this.providerCache
  }

  async answerer(): Promise<Answerer> {
    if (!this.answererCache) {
      const index = this.current
      const answerer = await this.newAnswerer(index, await this.retriever(), { measure: true })
      if (index === this.current) this.answererCache = answerer
      else return this.answerer()
    }
    return this.answererCache
  }

  private async newAnswerer(index: EngineCorpus, retriever: Retriever, { measure }: { measure: boolean }): Promise<Answerer> {
    const [prompts, everyday] = await Promise.all([this.prompts(), this.everyday(index, measure)])
    return new Answerer({ retriever, corpus: index, prompts, provider: this.provider(), everyday })
  }

  /**
   * Similarity to the nearest everyday question (`answer/everyday.ts`), with the background
   * embedded once by the index's embedder and kept beside the index (and in memory: it does not
   * depend on the papers). Without `measure`, only what is already at hand is used.
   */
  private async everyday(index: EngineCorpus, measure: boolean): Promise<((v: readonly number[]) => number) | undefined> {
    // A handful of papers gives no baseline of what "near the corpus" means (nor stable idf).
    if (index.info().papers < MIN_PAPERS_FOR_EVERYDAY) return undefined
    const built = index.info().embedder
    const model = `${built?.provider}:${built?.model}`
    if (this.everydayCache?.embedder === model) return this.everydayCache.similarity
    const stored = await index.readNote<{ embedder: string; vectors: number[][] }>(EVERYDAY_NOTE)
    let vectors = stored?.embedder === model ? stored.vectors : undefined
    if (!vectors) {
      if (!measure) return undefined
      const embedder = await this.embedder()
      index.assertCompatible(embedder.info)
      vectors = await embedder.embeddings.embedDocuments(await loadEverydayQuestions())
      await index.writeNote(EVERYDAY_NOTE, { embedder: model, vectors: vectors.map((v) => v.map((x) => Math.round(x * 1e5) / 1e5)) })
    }
    this.everydayCache = { embedder: model, similarity: everydaySimilarity(vectors) }
    return this.everydayCache.similarity
  }

  async close(): Promise<void> {
    const pending = this.embedderPromise
    this.embedderPromise = undefined
    if (pending) await (await pending.catch(() => undefined))?.close()
    const current = this.current
    if (current instanceof PostgresView) await current.store.close().catch(() => undefined)
  }
}

const CALIBRATION_NOTE = 'fusion-calibration'
const EVERYDAY_NOTE = 'everyday-questions'
const MIN_PAPERS_FOR_EVERYDAY = 20
