import { createHash } from 'node:crypto'
import { cp, mkdtemp, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Paper } from '../../src/corpus/index.js'
import { defaultSeedDir, paperId } from '../../src/corpus/index.js'
import { createEmbedder, type Embedder } from '../../src/index/embedders/index.js'
import { embeddingText } from '../../src/index/chunk.js'
import { PaperIndex, type StoredChunk } from '../../src/index/store.js'
import { termFrequencies } from '../../src/retrieve/keyword.js'
import { tokenize } from '../../src/retrieve/tokenize.js'
import { runCli } from '../helpers/cli.js'
import { seededRandom, syntheticPapers } from '../helpers/synthetic-papers.js'
import { advanceTo, stepIngest } from '../helpers/processes.js'
import { startStubOllama, type StubServer } from '../helpers/stub-ollama.js'

const paper = (title: string, abstract: string): Paper => ({ id: paperId(title), title, abstract, sources: ['test.jsonl:1'] })
const CHUNKING = { size: 120, overlap: 0 }
const A = paper('Low-rank adapters', 'We freeze the weights. We train small low-rank matrices instead. Memory drops by three times.')
const B = paper('Scaling laws', 'Loss follows a power law in model size and in the amount of data used. Compute-optimal models are smaller than expected.')
const C = paper('Length generalization', 'Transformers fail on longer inputs. Position encodings decide extrapolation.')

let ollama: StubServer
let embedder: Embedder
let dir: string

let seeded: Promise<string> | undefined
/** A data directory holding the seed corpus, built once (by the fixture) and copied by each test. */
function seedIndex(): Promise<string> {
  seeded ??= (async () => {
    const data = join(dir, 'seeded')
    const p = stepIngest(data, ollama.url, defaultSeedDir(), { gate: false })
    expect((await p.exited).code, p.stderr()).toBe(0)
    return data
  })()
  return seeded
}

/** Every chunk of an index, paper by paper in the store's order. */
async function allChunks(index: PaperIndex): Promise<StoredChunk[]> {
  return [...(await index.chunksOf(await index.paperIds())).values()].flat()
}

/** Texts the stub was asked to embed since the last call. */
function embeddedSince(from: number): string[] {
  return ollama.requests.slice(from).flatMap((r) => ((r.body as { input?: string[] }).input ?? []))
}

beforeAll(async () => {
  ollama = await startStubOllama({ models: ['nomic-embed-text', 'other-model'], dimensions: 16 })
  embedder = await createEmbedder({ provider: 'ollama', host: ollama.url, model: 'nomic-embed-text' })
  dir = await mkdtemp(join(tmpdir(), 'askpapers-store-'))
})
afterAll(async () => {
  await embedder.close()
  await ollama.close()
  await rm(dir, { recursive: true, force: true })
})

describe('PaperIndex', () => {
  it('round-trips papers, chunks and vectors through save and load', async () => {
    const data = join(dir, 'roundtrip')
    const { counts, index } = await (await PaperIndex.open(data)).ingest([A, B], embedder, CHUNKING)
    expect(counts).toEqual({ added: 2, updated: 0, unchanged: 0 })
    const loaded = await PaperIndex.open(data)
    expect(await loaded.paperIds()).toEqual([A.id, B.id])
    expect(loaded.manifest?.embedder).toEqual({ provider: 'ollama', model: 'nomic-embed-text', dimensions: 16 })
    expect(await allChunks(loaded)).toEqual(await allChunks(index))
    const first = (await allChunks(loaded))[0]
    expect(first?.paperId).toBe(A.id)
    // The stub's vectors are a hash of the text, so only the exact embedded text is its own nearest neighbour.
    const query = await embedder.embeddings.embedQuery(embeddingText(A.title, { text: A.abstract }))
    const [nearest] = await loaded.nearestChunks(query, 1)
    expect((await allChunks(loaded)).find((c) => c.id === nearest?.chunkId)?.text).toBe(A.abstract)
  })

  it('re-embeds only the chunks of a changed abstract, and keeps papers it was not given', async () => {
    const data = join(dir, 'incremental')
    await (await PaperIndex.open(data)).ingest([A, B, C], embedder, CHUNKING)
    const before = ollama.requests.length
    const changed = { ...B, abstract: `${B.abstract} A new sentence about data.` }
    // Without `replace` a different abstract is a reported conflict, kept as indexed (issue 14).
    const kept = await (await PaperIndex.open(data)).ingest([A, changed], embedder, CHUNKING)
    expect(kept.counts).toEqual({ added: 0, updated: 0, unchanged: 2 })
    expect(kept.details.conflicts).toEqual([{ id: B.id, title: B.title, source: B.sources[0], field: 'abstract', resolution: 'kept', against: 'indexed' }])
    expect(ollama.requests.length).toBe(before)
    const { counts, index } = await (await PaperIndex.open(data)).ingest([A, changed], embedder, CHUNKING, { replace: true })
    expect(counts).toEqual({ added: 0, updated: 1, unchanged: 1 })
    // The two unchanged sentences keep their chunks and vectors; only the new chunk is embedded.
    expect(embeddedSince(before)).toEqual(['Scaling laws: A new sentence about data.'])
    expect((await index.paperIds()).sort()).toEqual([A.id, B.id, C.id].sort())
    expect((await (await PaperIndex.open(data)).papers([B.id]))[0]?.abstract).toBe(changed.abstract)
  })

  it('extends the newest segment when adding, and removes by listing dead rows: every file of the previous generation is shared by hard link, not rewritten', async () => {
    const data = join(dir, 'append')
    await (await PaperIndex.open(data)).ingest([A, B], embedder, CHUNKING)
    const { index: added } = await (await PaperIndex.open(data)).ingest([C], embedder, CHUNKING)
    const total = added.info().chunks
    const ofB = (await added.chunksOf([B.id])).get(B.id)?.length ?? 0
    expect(added.manifest?.segments).toEqual([{ name: 'seg-000002', papers: 3, chunks: total, dead: [] }])
    expect(added.graphVectors()).toBe(total)

    const { removed, index } = await added.remove([B.id, 'not-indexed'])
    expect(removed.map((p) => p.id)).toEqual([B.id])
    expect(index.manifest?.segments).toEqual([{ name: 'seg-000002', papers: 3, chunks: total, dead: [1] }])
    const files = (await readdir(join(data, index.version))).filter((f) => f.startsWith('seg-'))
    expect(files.sort()).toEqual(['seg-000002.chunks.jsonl', 'seg-000002.hnsw', 'seg-000002.meta.bin', 'seg-000002.papers.jsonl'])
    for (const f of files) expect((await stat(join(data, index.version, f))).ino).toBe((await stat(join(data, added.version, f))).ino)

    const reopened = await PaperIndex.open(data)
    expect(await reopened.paperIds()).toEqual([A.id, C.id])
    expect(reopened.info()).toMatchObject({ papers: 2, chunks: total - ofB })
    expect(reopened.graphVectors()).toBe(total - ofB)
    const query = await embedder.embeddings.embedQuery(embeddingText(B.title, { text: 'Loss follows a power law in model size and in the amount of data used.' }))
    expect((await reopened.nearestChunks(query, 10)).map((h) => h.paperId)).not.toContain(B.id)
    expect(await reopened.keywordPapers('power law compute-optimal', { limit: 5 })).toEqual([])
    // Corpus statistics count live papers only.
    expect((await reopened.termStats(['power'])).documentFrequency('power')).toBe(0)
  })

  it('restricts both legs to the papers a filter allows', async () => {
    const data = join(dir, 'filters')
    const dated = [
      { ...A, date: '2021-06-17', sources: ['a.jsonl:1'] },
      { ...B, date: '2020-01-23', sources: ['b.jsonl:1'] },
      { ...C, date: '2023-05-01', sources: ['b.jsonl:2'] },
    ]
    const { index } = await (await PaperIndex.open(data)).ingest(dated, embedder, CHUNKING)
    const query = await embedder.embeddings.embedQuery(embeddingText(A.title, { text: 'We freeze the weights.' }))
    expect(new Set((await index.nearestChunks(query, 10, { sources: ['b.jsonl'] })).map((h) => h.paperId))).toEqual(new Set([B.id, C.id]))
    expect(new Set((await index.nearestChunks(query, 10, { years: { from: 2021, to: 2021 } })).map((h) => h.paperId))).toEqual(new Set([A.id]))
    expect((await index.keywordPapers('low-rank matrices models', { limit: 5, filter: { years: { to: 2020 } } })).map((h) => h.id)).toEqual([B.id])
    expect(await index.paperIds({ ids: [C.id, 'missing'] })).toEqual([C.id])
  })

  it('reads a segment written before title hashes, chunk term counts and sorted vocabularies were stored, with the same results, and adds them when it extends it', async () => {
    const data = join(dir, 'older-segment')
    const { index: built } = await (await PaperIndex.open(data)).ingest([A, B, C], embedder, CHUNKING)
    const question = 'low-rank weights power law'
    const chunkScores = await built.keywordChunks(question, [A.id, B.id, C.id])
    const paperScores = await built.keywordPapers(question, { limit: 10 })
    expect(chunkScores.length).toBeGreaterThan(1)
    expect(paperScores.length).toBeGreaterThan(1)
    // Rewrite meta.bin as the earlier format had it: without its two last int arrays, the
    // vocabularies as arrays (looked up through a Map), checksum updated.
    const gen = built.version
    const file = join(data, gen, 'seg-000001.meta.bin')
    const bytes = await readFile(file)
    const headerLength = bytes.readUInt32LE(0)
    const header = JSON.parse(bytes.subarray(4, 4 + headerLength).toString('utf8')) as { arrays: Record<string, number>; terms: string | string[]; chunkTerms: string | string[] }
    expect(header.terms).toBe((header.terms as string).split('\n').sort().join('\n'))
    header.terms = (header.terms as string).split('\n')
    header.chunkTerms = (header.chunkTerms as string).split('\n')
    const dropped = 4 * ((header.arrays.titleHashes ?? 0) + (header.arrays.chunkPostingTf ?? 0))
    const ints = Object.values(header.arrays).reduce((n, x) => n + 4 * x, 0)
    delete header.arrays.titleHashes
    delete header.arrays.chunkPostingTf
    let json = JSON.stringify(header)
    json += ' '.repeat((4 - ((4 + json.length) % 4)) % 4)
    const prefix = Buffer.alloc(4)
    prefix.writeUInt32LE(json.length)
    const older = Buffer.concat([prefix, Buffer.from(json), bytes.subarray(4 + headerLength, 4 + headerLength + ints - dropped), bytes.subarray(4 + headerLength + ints)])
    await writeFile(file, older)
    const manifestFile = join(data, gen, 'manifest.json')
    const manifest = JSON.parse(await readFile(manifestFile, 'utf8')) as { files: Record<string, { bytes: number; sha256: string; written?: unknown }> }
    manifest.files['seg-000001.meta.bin'] = { bytes: older.length, sha256: createHash('sha256').update(older).digest('hex') }
    await writeFile(manifestFile, JSON.stringify(manifest))

    const reopened = await PaperIndex.open(data)
    expect(reopened.generation?.segments[0]?.meta.arrays.titleHashes).toBeUndefined()
    expect(await reopened.keywordChunks(question, [A.id, B.id, C.id])).toEqual(chunkScores)
    expect(await reopened.keywordPapers(question, { limit: 10 })).toEqual(paperScores)
    // The duplicate check still finds an indexed title under another id.
    const renamed = { ...B, id: 'another-id', sources: ['other.jsonl:4'] }
    const { details, index: extended } = await reopened.ingest([renamed, paper('Sparse attention', 'Attention over a few keys keeps quality. It costs far less memory.')], embedder, CHUNKING)
    expect(details.merged).toEqual([{ id: B.id, title: B.title, recordId: 'another-id', source: 'other.jsonl:4' }])
    // Extending the segment writes both arrays again (B's metadata changed: a new row, the old one dead).
    const arrays = extended.generation?.segments.at(-1)?.meta.arrays
    expect(arrays?.titleHashes).toHaveLength(5)
    expect(arrays?.chunkPostingTf?.length).toBe(arrays?.chunkPostingDoc.length)
    expect(new Set((await extended.keywordChunks(question, [A.id, B.id, C.id])).map((h) => h.id))).toEqual(new Set(chunkScores.map((h) => h.id)))
  })

  it('gives the exact BM25 top of a plain walk over every posting, scores to the last bit, however few it walks', async () => {
    const data = join(dir, 'bm25-exact')
    const synthetic = syntheticPapers(400, 11).map((p, i) => paper(p.title, p.abstract + (i % 7 === 0 ? ' Sparse experts route tokens.' : '')))
    const { index } = await (await PaperIndex.open(data)).ingest(synthetic, embedder, { size: 300, overlap: 0 })
    const records = await index.papers(await index.paperIds())
    const docs = records.map((p) => ({ id: p.id, ...termFrequencies([{ text: p.title, weight: 2 }, { text: p.plainAbstract, weight: 1 }]) }))
    const avg = docs.reduce((n, d) => n + d.length, 0) / docs.length
    const plain = (query: string, limit: number) => {
      const terms = [...new Set(tokenize(query))]
      const idf = new Map(terms.map((t) => [t, docs.filter((d) => d.tf.has(t)).length] as const).filter(([, df]) => df > 0).map(([t, df]) => [t, Math.log(1 + (docs.length - df + 0.5) / (df + 0.5))]))
      return docs
        .map((d) => {
          let score = 0
          for (const t of terms) {
            const tf = d.tf.get(t)
            const w = idf.get(t)
            if (tf && w !== undefined) score += (w * tf * 2.2) / (tf + 1.2 * (1 - 0.75 + (0.75 * d.length) / avg))
          }
          return { id: d.id, score }
        })
        .filter((h) => h.score > 0)
        .sort((x, y) => y.score - x.score || x.id.localeCompare(y.id))
        .slice(0, limit)
    }
    const rnd = seededRandom(5)
    const words = [...new Set(records.flatMap((p) => p.title.split(' ')))]
    const queries = ['sparse experts route tokens', 'low-rank adaptation of large models', 'the', 'quantization', ...Array.from({ length: 60 }, () => Array.from({ length: 2 + Math.floor(rnd() * 6) }, () => words[Math.floor(rnd() * words.length)]).join(' '))]
    for (const query of queries) for (const limit of [1, 3, 10, 50]) expect(await index.keywordPapers(query, { limit })).toEqual(plain(query, limit))
  })

  it('does nothing at all for an unchanged re-ingest', async () => {
    const data = join(dir, 'unchanged')
    await (await PaperIndex.open(data)).ingest([A, B], embedder, CHUNKING)
    const files = await readdir(data)
    const before = ollama.requests.length
    const { counts } = await (await PaperIndex.open(data)).ingest([A, B], embedder, CHUNKING)
    expect(counts).toEqual({ added: 0, updated: 0, unchanged: 2 })
    expect(ollama.requests.length).toBe(before)
    expect(await readdir(data)).toEqual(files)
  })

  it('refuses to add to or query an index built by another embedder, leaving it untouched', async () => {
    const data = join(dir, 'mismatch')
    await (await PaperIndex.open(data)).ingest([A], embedder, CHUNKING)
    const other = await createEmbedder({ provider: 'ollama', host: ollama.url, model: 'other-model' })
    const index = await PaperIndex.open(data)
    expect(() => index.assertCompatible(other.info)).toThrow(/built with ollama \(nomic-embed-text, 16 dimensions\), not ollama \(other-model, 16 dimensions\).*--rebuild/)
    await expect(index.ingest([B], other, CHUNKING)).rejects.toMatchObject({ code: 'EMBEDDER_MISMATCH' })
    expect(await (await PaperIndex.open(data)).paperIds()).toEqual([A.id])
    await other.close()
  })

  it('reports a damaged index clearly instead of crashing', async () => {
    const data = join(dir, 'damaged')
    await (await PaperIndex.open(data)).ingest([A], embedder, CHUNKING)
    const [generation] = (await readdir(data)).filter((n) => n.startsWith('gen-'))
    await writeFile(join(data, generation!, 'seg-000001.papers.jsonl'), '{not json')
    await expect(PaperIndex.open(data)).rejects.toMatchObject({ code: 'INDEX_CORRUPT', message: expect.stringMatching(/gen-000001\/seg-000001\.papers\.jsonl .*askpapers repair/) })
  })

  it.each(['locked', 'generation', 'hnsw', 'papers', 'manifest', 'current', 'swap', 'cleanup'])('leaves the seed index loadable when the writer is killed at "%s"', async (step) => {
    const data = join(dir, `crash-${step}`)
    await cp(await seedIndex(), data, { recursive: true })
    const file = join(dir, `one-${step}.jsonl`)
    await writeFile(file, `${JSON.stringify({ title: `Killed at ${step}`, abstract: 'One more paper. It may or may not be committed.' })}\n`)
    const writer = stepIngest(data, ollama.url, file)
    await advanceTo(writer, step)
    writer.child.kill('SIGKILL')
    await writer.exited
    const index = await PaperIndex.open(data)
    expect(index.info().papers).toBe(step === 'cleanup' ? 318 : 317)
    expect((await allChunks(index)).length).toBe(index.manifest?.chunks)
    expect(index.graphVectors()).toBe(index.manifest?.chunks)
  })

  it('commits an ingest in batches by count, so a kill -9 loses only the batch in flight and the resume embeds only the rest', async () => {
    const data = join(dir, 'resume')
    const file = join(dir, 'six.jsonl')
    const titles = ['Alpha', 'Bravo', 'Charlie', 'Delta', 'Echo', 'Foxtrot'].map((t) => `${t} networks`)
    await writeFile(file, titles.map((title) => JSON.stringify({ title, abstract: `${title} are short. They fit one chunk.` })).join('\n'))
    // Two chunks (two papers) a batch: commits after Bravo and Delta, then the last one. Killed as the second one starts.
    const writer = stepIngest(data, ollama.url, file, { batch: 2 })
    await advanceTo(writer, 'generation', 2)
    writer.child.kill('SIGKILL')
    await writer.exited
    const committed = await PaperIndex.open(data)
    expect((await committed.papers(await committed.paperIds())).map((p) => p.title)).toEqual(titles.slice(0, 2))
    expect(committed.manifest?.partial).toMatchObject({ papersDone: 2, papersPlanned: 6 })

    const from = ollama.requests.length
    const run = await runCli(['ingest', file, '--data-dir', data, '--json'], { env: { ASKPAPERS_EMBEDDER: 'ollama', OLLAMA_HOST: ollama.url, ASKPAPERS_CHUNK_SIZE: '120' } })
    expect(run.code, run.stderr).toBe(0)
    expect(run.stderr).toContain('Resuming an interrupted ingest: 2 of its 6 papers were committed before it stopped; 2 chunks are kept, 4 left to embed.')
    expect(JSON.parse(run.stdout)).toMatchObject({ papers: 6, added: 4, unchanged: 2 })
    expect(embeddedSince(from).filter((t) => titles.some((title) => t.startsWith(title)))).toEqual(titles.slice(2).map((t) => `${t}: ${t} are short. They fit one chunk.`))
    const done = await PaperIndex.open(data)
    expect(done.info().papers).toBe(6)
    expect(done.manifest?.partial).toBeUndefined()
  })

  it('commits a batch whenever its time is up, after each embedding call (64 chunks for a remote embedder)', async () => {
    const many = Array.from({ length: 130 }, (_, i) => paper(`Tiny paper ${i}`, `Tiny paper number ${i} says one thing.`))
    const swaps = async (name: string, seconds: number): Promise<number> => {
      const steps: string[] = []
      await (await PaperIndex.open(join(dir, name))).ingest(many, embedder, CHUNKING, { batch: { chunks: 1000, seconds }, onStep: (s) => void steps.push(s) })
      return steps.filter((s) => s === 'swap').length
    }
    expect(await swaps('untimed', 60)).toBe(1)
    expect(await swaps('timed', 0)).toBe(3)
    expect((await PaperIndex.open(join(dir, 'timed'))).info().papers).toBe(130)
  })
})
