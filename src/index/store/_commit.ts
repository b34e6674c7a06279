import { join } from 'node:path'
import { HNSWLib } from '@langchain/community/vectorstores/hnswlib'
import { Document } from '@langchain/core/documents'
import { AppError } from '../../errors.js'
import { createChunker, embeddingText, type ChunkOptions } from '../chunk.js'
import type { Embedder, EmbedderInfo } from '../embedders/index.js'
import { sha256 } from './_files.js'
import {
  CURRENT,
  FORMAT_VERSION,
  generationName,
  listGenerations,
  NO_EMBEDDINGS,
  readCurrent,
  removeSuperseded,
  swapCurrent,
  writeGeneration,
  type ChunkMeta,
  type Manifest,
  type StoredPaper,
  type WriteGenerationOptions,
} from './_generation.js'
import type { WriteLock } from './_lock.js'

export type ChunksOf = (paper: StoredPaper) => Promise<{ doc: Document; text: string }[]>

/** Each paper's chunks as documents to store and texts to embed, computed once per paper version. */
export function chunkCache(chunking: ChunkOptions): ChunksOf {
  const chunker = createChunker(chunking)
  const cache = new Map<string, { doc: Document; text: string }[]>()
  return async (paper) => {
    const key = `${paper.id}\n${paper.contentHash}`
    const hit = cache.get(key)
    if (hit) return hit
    const { plainAbstract: _plain, contentHash: _hash, ...record } = paper
    const chunks = (await chunker({ ...paper, abstract: paper.plainAbstract })).map((chunk) => {
      const text = embeddingText(paper.title, chunk)
      const meta: ChunkMeta = { chunkId: chunk.id, paperId: paper.id, index: chunk.index, hash: sha256(text), ...(chunk.index === 0 ? { record } : {}) }
      return { doc: new Document({ pageContent: chunk.text, metadata: meta }), text }
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

/** What `CURRENT` said when a writer read its base: a commit swaps only over exactly that. */
export type CurrentToken = string
export const currentToken = async (dataDir: string): Promise<CurrentToken> => {
  const c = await readCurrent(dataDir).catch(() => ({ kind: 'garbled' as const, text: 'unreadable' }))
  return c.kind === 'absent' ? '' : c.kind === 'names' ? c.name : `?${c.text}`
}

export interface CommitInput {
  papers: StoredPaper[]
  chunksOf: ChunksOf
  /** Vectors by chunk hash; every chunk of `papers` must have one. */
  vectors: Map<string, number[]>
  info: EmbedderInfo
  chunking: ChunkOptions
  partial?: Manifest['partial']
  /** The `CURRENT` this commit replaces, and the generation it named if that was a complete one. */
  replaces: { token: CurrentToken; generation: number | undefined }
}

/**
 * Builds the HNSW index of `papers`, writes it as a new generation and swaps `CURRENT` to it —
 * only while this process still holds the write lock and `CURRENT` is what it replaces.
 */
export async function commitGeneration(dataDir: string, input: CommitInput, lock: WriteLock, options: WriteGenerationOptions): Promise<{ manifest: Manifest; number: number; store: HNSWLib }> {
  const docs: Document[] = []
  for (const paper of input.papers) docs.push(...(await input.chunksOf(paper)).map((c) => c.doc))
  const store = new HNSWLib(NO_EMBEDDINGS, { space: 'cosine', numDimensions: input.info.dimensions })
  await store.addVectors(
    docs.map((doc) => {
      const vector = input.vectors.get((doc.metadata as ChunkMeta).hash)
      if (!vector) throw new Error(`no vector for chunk ${(doc.metadata as ChunkMeta).chunkId}`)
      return vector
    }),
    docs,
  )
  store.index.setEf(200)
  const number = Math.max(input.replaces.generation ?? 0, ...(await listGenerations(dataDir)).map((g) => g.number)) + 1
  const name = generationName(number)
  const manifest = await writeGeneration(
    dataDir,
    name,
    {
      manifest: {
        formatVersion: FORMAT_VERSION,
        embedder: input.info,
        chunking: input.chunking,
        papers: input.papers.length,
        chunks: docs.length,
        updatedAt: new Date().toISOString(),
        ...(input.partial ? { partial: input.partial } : {}),
      },
      papers: input.papers,
      vectors: store,
    },
    options,
  )
  // Guards against a lock broken as stale while this writer was frozen: never swap over another writer's commit.
  await lock.assertHeld()
  if ((await currentToken(dataDir)) !== input.replaces.token) {
    throw new AppError('INDEX_LOCKED', `Another writer changed ${join(dataDir, CURRENT)} during this ingest; nothing more was committed. Run it again.`)
  }
  await swapCurrent(dataDir, name, options)
  await options.onStep?.('cleanup')
  if (input.replaces.generation !== undefined) await removeSuperseded(dataDir, input.replaces.generation)
  return { manifest, number, store }
}
