import { defineCommand } from 'citty'
import { loadConfig } from '../config.js'
import { AppError } from '../errors.js'
import type { ChunkOptions } from '../index/index.js'
import type { EmbedderInfo } from '../index/embedders/index.js'
import { parseStoreUrl, PostgresStore } from '../index/postgres/index.js'
import { PaperIndex, type CorpusBatch, type CorpusWriter } from '../index/store/index.js'

/** A corpus being copied out: its papers with their chunks and stored vectors, a batch at a time. */
export interface CorpusSource {
  /** Where it is, for messages. */
  location: string
  papers: number
  embedder: EmbedderInfo | undefined
  chunking: ChunkOptions | undefined
  paperIds(): Promise<string[]>
  contentHashes(): Promise<Map<string, string>>
  upserts(ids: readonly string[]): Promise<CorpusBatch['upsert']>
  close(): Promise<void>
}

export interface CopyReport {
  papers: number
  chunks: number
  /** Papers the target already held with the same content, left as they were (a resumed copy). */
  skipped: number
  batches: number
}

/**
 * Copies every paper of `source`, with its chunks and their vectors (nothing is embedded), into
 * `target` through the store contract: under the target's write lock, a batch of papers per commit,
 * each batch but the last marked partial. Papers the target already holds unchanged are skipped,
 * so a copy that was interrupted continues where it stopped.
 */
export async function copyCorpus(
  source: CorpusSource,
  target: CorpusWriter,
  { batchPapers = 200, wait = true, onWait, onProgress }: { batchPapers?: number; wait?: boolean; onWait?: (holder: string) => void; onProgress?: (done: number, total: number) => void } = {},
): Promise<CopyReport> {
  const { embedder, chunking } = source
  if (!embedder || !chunking || source.papers === 0) throw new AppError('NOT_FOUND', `There is no index to copy in ${source.location}; run \`askpapers ingest\` first.`)
  const session = await target.lock({ wait, ...(onWait ? { onWait } : {}) })
  try {
    const have = await session.contentHashes()
    const wanted = await source.contentHashes()
    const ids = (await source.paperIds()).filter((id) => have.get(id) !== wanted.get(id))
    const report: CopyReport = { papers: 0, chunks: 0, skipped: wanted.size - ids.length, batches: 0 }
    const startedAt = new Date().toISOString()
    for (let i = 0; i < ids.length; i += batchPapers) {
      const upsert = await source.upserts(ids.slice(i, i + batchPapers))
      const done = Math.min(ids.length, i + batchPapers)
      const last = done === ids.length
      await session.commit({ upsert, remove: [], embedder, chunking, ...(last ? {} : { partial: { papersDone: done, papersPlanned: ids.length, startedAt } }) })
      report.papers += upsert.length
      report.chunks += upsert.reduce((n, u) => n + u.chunks.length, 0)
      report.batches++
      onProgress?.(done, ids.length)
    }
    return report
  } finally {
    await session.release()
  }
}

/** The embedded index in `dataDir` as a copy source, read through the store contract (records, chunks, vectors by hash). */
export async function embeddedSource(dataDir: string): Promise<CorpusSource> {
  // No lock: a generation is immutable, and this one stays readable however many are committed meanwhile.
  const index = await PaperIndex.open(dataDir)
  const info = index.info()
  return {
    location: dataDir,
    papers: info.papers,
    embedder: info.embedder,
    chunking: info.chunking,
    paperIds: () => index.paperIds(),
    contentHashes: async () => new Map((await index.papers(await index.paperIds())).map((p) => [p.id, p.contentHash])),
    upserts: async (ids) => {
      const [papers, chunks] = await Promise.all([index.papers(ids), index.chunksOf(ids)])
      const vectors = index.vectorsByHash([...chunks.values()].flat().map((c) => c.hash))
      return papers.map((paper) => ({ paper, chunks: (chunks.get(paper.id) ?? []).map((chunk) => ({ chunk, vector: vectors.get(chunk.hash) ?? [] })) }))
    },
    close: async () => undefined,
  }
}

/** A PostgreSQL corpus as a copy source, read through the store contract under its write lock (nothing changes mid-copy). */
export async function postgresSource(store: PostgresStore, { wait = true }: { wait?: boolean } = {}): Promise<CorpusSource> {
  const session = await store.lock({ wait })
  try {
    const reader = await session.reader()
    const info = reader.info()
    return {
      location: info.location,
      papers: info.papers,
      embedder: info.embedder,
      chunking: info.chunking,
      paperIds: () => reader.paperIds(),
      contentHashes: () => session.contentHashes(),
      upserts: async (ids) => {
        const [papers, chunks] = await Promise.all([reader.papers(ids), reader.chunksOf(ids)])
        const vectors = await session.vectorsByHash([...chunks.values()].flat().map((c) => c.hash))
        return papers.map((paper) => ({
          paper,
          chunks: (chunks.get(paper.id) ?? []).map((chunk) => {
            const vector = vectors.get(chunk.hash)
            if (!vector) throw new AppError('INDEX_CORRUPT', `${info.location} has no vector for chunk ${chunk.id}.`)
            return { chunk, vector }
          }),
        }))
      },
      close: () => session.release(),
    }
  } catch (error) {
    await session.release()
    throw error
  }
}

export const migrate = defineCommand({
  meta: {
    name: 'migrate',
    description:
      'Copy a corpus between stores, vectors included (nothing is re-embedded): the embedded index in --data-dir into PostgreSQL (--to postgres://…), or a PostgreSQL corpus (--from postgres://…) into --data-dir',
  },
  args: {
    to: { type: 'string', description: 'postgres://user:password@host:5432/database to copy the index in --data-dir into' },
    from: { type: 'string', description: 'postgres://user:password@host:5432/database to copy into the index in --data-dir' },
    'data-dir': { type: 'string', description: 'Index directory to copy from (--to) or into (--from) (default: .askpapers, or ASKPAPERS_DATA_DIR)' },
    schema: { type: 'string', description: 'PostgreSQL schema of the corpus (default: askpapers)' },
    wait: { type: 'boolean', default: true, description: 'Wait while another writer holds the corpus (--no-wait: fail at once, exit code 6)' },
    json: { type: 'boolean', description: 'Print one summary object' },
  },
  async run({ args }) {
    if ((args.to === undefined) === (args.from === undefined)) {
      throw new AppError('BAD_INPUT', 'Give exactly one of --to postgres://… (embedded → PostgreSQL) or --from postgres://… (PostgreSQL → embedded).', { field: args.to === undefined ? 'to' : 'from' })
    }
    const config = loadConfig(process.env, { dataDir: args['data-dir'] })
    const toPostgres = args.to !== undefined
    const flag = toPostgres ? '--to' : '--from'
    const url = parseStoreUrl((args.to ?? args.from) as string, toPostgres ? 'to' : 'from', flag)
    const wait = args.wait !== false
    const store = await PostgresStore.open({ url: url.url, urlFlag: flag, ...(args.schema ? { schema: args.schema } : {}) })
    try {
      const source = toPostgres ? await embeddedSource(config.dataDir) : await postgresSource(store, { wait })
      let target: CorpusWriter & { info(): { papers: number; version: string }; assertCompatible(info: EmbedderInfo): void }
      try {
        target = toPostgres ? store : await PaperIndex.open(config.dataDir)
        if (source.embedder) target.assertCompatible(source.embedder)
        const report = await copyCorpus(source, target, {
          wait,
          onWait: (holder) => process.stderr.write(`askpapers: waiting for the writer (${holder}) that holds ${toPostgres ? url.location : config.dataDir}…\n`),
          onProgress: (done, total) => process.stderr.write(`copied ${done}/${total} papers\n`),
        })
        const info = toPostgres ? (await store.refresh(), store.info()) : (await PaperIndex.open(config.dataDir)).info()
        const from = toPostgres ? config.dataDir : url.location
        const to = toPostgres ? url.location : config.dataDir
        if (args.json) process.stdout.write(`${JSON.stringify({ from, to, ...report, version: info.version })}\n`)
        else {
          process.stdout.write(
            `Copied ${report.papers} papers (${report.chunks} chunks with their vectors) from ${from} to ${to}` +
              `${report.skipped ? `; ${report.skipped} were there already` : ''}. It now holds ${info.papers} papers (version ${info.version}).\n`,
          )
        }
      } finally {
        await source.close()
      }
    } finally {
      await store.close()
    }
  },
})
