import { cleanLatex, mergeIntoIndexed, paperContentHash, type MergeConflict, type MergedRecord, type Paper } from '../../corpus/index.js'
import { AppError } from '../../errors.js'
import { createChunker, embeddingText, type ChunkOptions } from '../chunk.js'
import type { Embedder, EmbedderInfo } from '../embedders/index.js'
import type { CorpusReader, CorpusWriter, StoreInfo, StoredChunk } from './_contract.js'
import { sha256 } from './_files.js'
import type { SaveStep, StoredPaper } from './_generation.js'
import type { LockOptions } from './_lock.js'

export interface IngestCounts {
  added: number
  updated: number
  unchanged: number
}

/** What an ingest did beyond the counts (issue 14). */
export interface IngestDetails {
  /** Papers whose text did not change but that were embedded again (a rebuild, a new chunking). */
  reembedded: number
  /** Records whose title or abstract differs from the indexed paper's: kept unless `replace`. */
  conflicts: MergeConflict[]
  /** Records merged into an indexed paper with another id (same normalised title). */
  merged: MergedRecord[]
}

export interface IngestPlan {
  papers: number
  chunksToEmbed: number
  chunksReused: number
  /** Set when the index holds a batch committed by an ingest that was interrupted: what was kept of it. */
  resumed?: { papers: number; of: number }
}

export interface IngestOptions extends LockOptions {
  /** Called while new chunks are embedded. */
  onProgress?: (done: number, total: number) => void
  /** Called once the number of chunks to embed is known (0 when nothing changed). */
  onPlan?: (plan: IngestPlan) => void
  /** Re-embed every indexed paper too (a new embedder): nothing is reused, and nothing is committed before the end. */
  rebuild?: boolean
  /** Let a record's title or abstract replace the indexed paper's (otherwise a reported conflict, kept). */
  replace?: boolean
  /** Ingest only into a corpus that holds no paper at all (seeding a fresh clone); otherwise do nothing. */
  onlyIfEmpty?: boolean
  /** Paper ids to remove, with their chunks, in the same commit as the rest (ids not indexed are ignored). */
  remove?: readonly string[]
  /**
   * Work is committed every `chunks` newly embedded chunks or `seconds` of embedding, whichever
   * comes first, so a kill loses at most that much; a resume embeds only the rest.
   */
  batch?: { chunks?: number; seconds?: number }
  /** Test hook, awaited before each step of every commit. */
  onStep?: (step: SaveStep | 'locked') => void | Promise<void>
}

export interface IngestResult {
  counts: IngestCounts
  /** The corpus as committed (or as found, when nothing changed). */
  reader: CorpusReader
  /** Ids removed (of those asked for, the ones that were indexed). */
  removed: string[]
  /** Their records, as they were indexed. */
  removedPapers: StoredPaper[]
  details: IngestDetails
}

const DEFAULT_BATCH = { chunks: 256, seconds: 60 }

/** A chunk ready to store: the passage, and the text its vector embeds (title + passage). */
export interface PreparedChunk {
  chunk: StoredChunk
  text: string
}

/** Each paper's chunks, computed once per paper version. */
export function chunkCache(chunking: ChunkOptions): (paper: StoredPaper) => Promise<PreparedChunk[]> {
  const chunker = createChunker(chunking)
  const cache = new Map<string, PreparedChunk[]>()
  return async (paper) => {
    const key = `${paper.id}\n${paper.contentHash}`
    const hit = cache.get(key)
    if (hit) return hit
    const chunks = (await chunker({ ...paper, abstract: paper.plainAbstract })).map((chunk) => {
      const text = embeddingText(paper.title, chunk)
      return { chunk: { id: chunk.id, paperId: paper.id, index: chunk.index, text: chunk.text, hash: sha256(text) }, text }
    })
    cache.set(key, chunks)
    return chunks
  }
}

export async function embedWithProgress(embedder: Embedder, texts: string[], onProgress: (done: number) => void): Promise<number[][]> {
  if (embedder.info.provider === 'use-lite') return embedder.embeddings.embedDocuments(texts, { onProgress })
  const vectors = await embedder.embeddings.embedDocuments(texts)
  onProgress(vectors.length)
  return vectors
}

/**
 * Refuses to mix embedders: vectors from two models live in different spaces, so adding to or
 * querying an index built by another embedder would silently return nonsense.
 */
export function assertEmbedder(store: StoreInfo, info: Pick<EmbedderInfo, 'provider' | 'model'> & { dimensions?: number }): void {
  const built = store.embedder
  if (!built) return
  const sameModel = built.provider === info.provider && built.model === info.model
  const sameDims = info.dimensions === undefined || info.dimensions === built.dimensions
  if (!sameModel || !sameDims) {
    throw new AppError(
      'EMBEDDER_MISMATCH',
      `The index in ${store.location} was built with ${describe(built)}, not ${describe(info)}; ` +
        `use --embedder ${built.provider} to query it, or rebuild it with \`askpapers ingest --rebuild\`.`,
    )
  }
}

/**
 * The ingest, for any store: adds new papers, updates changed ones and removes the ones asked for;
 * papers not in `incoming` are kept (nothing is removed silently). Only chunks whose text is new are
 * embedded (vectors are reused by the hash of their text). Holds the corpus's write lock throughout
 * and builds on the corpus as it is once it has it, so concurrent ingests queue instead of losing
 * each other's papers. Work is committed in batches (see `IngestOptions.batch`); a batch committed
 * by an interrupted ingest is what a resume finds already done. A rebuild (new embedder) or a change
 * of chunking re-chunks every paper and commits once, replacing the whole corpus.
 */
export async function ingestPapers(
  writer: CorpusWriter,
  incoming: Paper[],
  embedder: Embedder | (() => Promise<Embedder>),
  chunking: ChunkOptions,
  options: IngestOptions = {},
): Promise<IngestResult> {
  const { wait = true, onWait, onStep, pollMs, staleMs } = options
  const session = await writer.lock({
    wait,
    ...(onWait ? { onWait: (message: string) => onWait(message, undefined) } : {}),
    ...(onStep ? { onStep } : {}),
    ...(pollMs !== undefined ? { pollMs } : {}),
    ...(staleMs !== undefined ? { staleMs } : {}),
  } as Parameters<CorpusWriter['lock']>[0])
  try {
    await onStep?.('locked')
    const reader = await session.reader()
    const info = reader.info()
    const details: IngestDetails = { reembedded: 0, conflicts: [], merged: [] }
    if (options.onlyIfEmpty && info.papers > 0) {
      options.onPlan?.({ papers: info.papers, chunksToEmbed: 0, chunksReused: 0 })
      return { counts: { added: 0, updated: 0, unchanged: 0 }, reader, removed: [], removedPapers: [], details }
    }
    const startedAt = new Date().toISOString()
    const removedPapers = await reader.papers([...new Set(options.remove ?? [])])
    const removed = removedPapers.map((p) => p.id)
    const removing = new Set(removed)
    if (removed.length > 0 && removed.length === info.papers && incoming.length === 0) {
      throw new AppError('BAD_INPUT', `That would remove all ${info.papers} papers in ${info.location}; to start over, delete the directory and run \`askpapers ingest\` again.`)
    }
    // The diff (duplicates by id or title, conflicts, metadata and sources merged) is the corpus's rule;
    // it needs the indexed papers sharing an id or a normalised title with a record (every one, for a
    // store that cannot find those).
    const wanted = { ids: incoming.map((p) => p.id), titles: incoming.map((p) => p.title) }
    const near = incoming.length === 0 ? [] : reader.findPapers ? await reader.findPapers(wanted) : await reader.papers(await reader.paperIds())
    const indexed = new Map(near.map((p) => [p.id, p]))
    const old = indexed
    const diff = mergeIntoIndexed(indexed, incoming.filter((p) => !removing.has(p.id)), { replace: options.replace === true })
    const counts: IngestCounts = diff.counts
    details.conflicts = diff.conflicts
    details.merged = diff.merged
    const changed = new Map<string, StoredPaper>()
    for (const paper of diff.changed) changed.set(paper.id, { ...paper, contentHash: paperContentHash(paper), plainAbstract: cleanLatex(paper.abstract) })
    const rebuild = options.rebuild === true
    const chunkingChanged = info.chunking !== undefined && !sameChunking(info.chunking, chunking)
    const partial = info.partial
    if (changed.size === 0 && removed.length === 0 && !chunkingChanged && !rebuild && !partial) {
      options.onPlan?.({ papers: info.papers, chunksToEmbed: 0, chunksReused: 0 })
      return { counts, reader, removed, removedPapers, details }
    }

    // A rebuild or a new chunking replaces the corpus: every paper is re-chunked, in one commit.
    const reset = rebuild || chunkingChanged
    let toWrite: StoredPaper[]
    if (reset) {
      const all = await reader.papers(await reader.paperIds())
      toWrite = all.filter((p) => !removing.has(p.id)).map((p) => changed.get(p.id) ?? p)
      for (const p of changed.values()) if (!old.has(p.id)) toWrite.push(p)
    } else {
      toWrite = [...changed.values()]
    }
    const chunksOf = chunkCache(chunking)
    const prepared = new Map<string, PreparedChunk[]>()
    for (const paper of toWrite) prepared.set(paper.id, await chunksOf(paper))
    // Vectors of unchanged chunk texts are reused (not on a rebuild: it changes the embedder).
    // A chunk's embedded text starts with its paper's title, so outside a reset only the paper's own stored chunks can hold it.
    const hashes = [...prepared.values()].flatMap((cs) => cs.map((c) => c.chunk.hash))
    const vectors = rebuild ? new Map<string, number[]>() : await session.vectorsByHash(hashes, reset ? undefined : toWrite.map((p) => p.id).filter((id) => old.has(id)))
    const work: { paper: StoredPaper; missing: PreparedChunk[] }[] = []
    for (const paper of toWrite) {
      const missing = (prepared.get(paper.id) ?? []).filter((c) => !vectors.has(c.chunk.hash))
      if (missing.length > 0) work.push({ paper, missing })
    }
    const toEmbed = work.reduce((n, w) => n + w.missing.length, 0)
    details.reembedded = work.filter((w) => !diff.newText.has(w.paper.id)).length
    const uses = new Map<string, { n: number }>()
    for (const cs of prepared.values()) for (const c of cs) (uses.get(c.chunk.hash) ?? uses.set(c.chunk.hash, { n: 0 }).get(c.chunk.hash)!).n++
    const written = [...prepared.values()].reduce((n, cs) => n + cs.length, 0)
    const replacedChunks = reset ? info.chunks : [...(await reader.chunksOf([...old.keys()].filter((id) => changed.has(id)).concat(removed))).values()].reduce((n, cs) => n + cs.length, 0)
    const finalPapers = reset ? toWrite.length : info.papers + counts.added - removed.length
    options.onPlan?.({
      papers: finalPapers,
      chunksToEmbed: toEmbed,
      chunksReused: info.chunks - replacedChunks + written - toEmbed,
      ...(partial ? { resumed: { papers: partial.papersDone, of: partial.papersPlanned } } : {}),
    })

    let embedderInfo = rebuild ? undefined : info.embedder
    let resolved: Embedder | undefined
    if (toEmbed > 0) {
      resolved = typeof embedder === 'function' ? await embedder() : embedder
      if (!rebuild) assertEmbedder(info, resolved.info)
      embedderInfo = resolved.info
    }
    if (!embedderInfo) throw new AppError('BAD_INPUT', 'Nothing to index: no paper has any text.')
    const batchInfo = { embedder: embedderInfo, chunking }

    const rowOf = (paper: StoredPaper) => ({
      paper,
      chunks: (prepared.get(paper.id) ?? []).map((c) => ({ chunk: c.chunk, vector: vectors.get(c.chunk.hash) ?? [] })),
    })
    // Intermediate batches are committed only while every vector in them comes from one embedder and one chunking.
    const batched = !reset
    const limits = { ...DEFAULT_BATCH, ...options.batch }
    // Whole papers per embedding call, as many as fill a slice: the embedder batches (and pads) within one call.
    const slice = Math.max(1, Math.min(resolved?.info.provider === 'use-lite' ? 128 : 64, limits.chunks))
    const committed = new Set<string>()
    const finished: StoredPaper[] = []
    let done = 0
    let sinceCommit = 0
    let batchStarted = performance.now()
    for (let w = 0; w < work.length; ) {
      const group: typeof work = []
      let size = 0
      while (w < work.length && (group.length === 0 || size + work[w]!.missing.length <= slice)) {
        group.push(work[w]!)
        size += work[w]!.missing.length
        w++
      }
      const chunks = group.flatMap((g) => g.missing)
      const fresh = await embedWithProgress(resolved!, chunks.map((c) => c.text), (n) => options.onProgress?.(done + n, toEmbed))
      chunks.forEach((c, j) => vectors.set(c.chunk.hash, fresh[j] ?? []))
      for (const g of group) finished.push(g.paper)
      done += chunks.length
      sinceCommit += chunks.length
      const due = sinceCommit >= limits.chunks || performance.now() - batchStarted >= limits.seconds * 1000
      if (batched && w < work.length && due) {
        const upsert = finished.filter((p) => !committed.has(p.id))
        for (const p of upsert) committed.add(p.id)
        await session.commit({ upsert: upsert.map(rowOf), remove: [], ...batchInfo, partial: { papersDone: committed.size, papersPlanned: changed.size, startedAt } })
        // Committed vectors are the store's now: a 100 k-paper ingest must not hold all of them in memory.
        for (const p of upsert) {
          for (const c of prepared.get(p.id) ?? []) if (--(uses.get(c.chunk.hash) as { n: number }).n === 0) vectors.delete(c.chunk.hash)
          prepared.delete(p.id)
        }
        sinceCommit = 0
        batchStarted = performance.now()
      }
    }
    const rest = toWrite.filter((p) => !committed.has(p.id))
    await session.commit({ upsert: rest.map(rowOf), remove: removed, ...batchInfo, ...(reset ? { reset: true } : {}) })
    return { counts, reader: await session.reader(), removed, removedPapers, details }
  } finally {
    await session.release()
  }
}

const sameChunking = (a: ChunkOptions, b: ChunkOptions): boolean => a.size === b.size && a.overlap === b.overlap
const describe = (info: { provider: string; model: string; dimensions?: number }): string =>
  `${info.provider} (${info.model}${info.dimensions ? `, ${info.dimensions} dimensions` : ''})`
