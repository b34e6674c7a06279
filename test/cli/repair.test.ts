import { randomBytes } from 'node:crypto'
import { cp, mkdtemp, open, readdir, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { PaperIndex } from '../../src/index/store.js'
import { runCli } from '../helpers/cli.js'
import { startStubOllama, type StubServer } from '../helpers/stub-ollama.js'

let ollama: StubServer
let dir: string
let pristine: string
let env: Record<string, string>

const PAPERS = [
  { title: 'LoRA: Low-Rank Adaptation of Large Language Models', abstract: 'We freeze the pretrained weights and inject trainable rank decomposition matrices. This reduces trainable parameters by 10,000 times and GPU memory by 3 times.' },
  { title: 'Scaling Laws for Neural Language Models', abstract: 'Loss scales as a power law with model size, dataset size and compute. Larger models are more sample-efficient.' },
  { title: 'Length Generalization in Transformers', abstract: 'Transformers fail to extrapolate to longer inputs. We find that position encodings decide extrapolation.' },
  { title: 'Retrieval-Augmented Generation', abstract: 'A retriever finds passages in a large index and a generator conditions on them. Knowledge-intensive tasks improve.' },
]
const TITLES = PAPERS.map((p) => p.title).sort()
const GEN = 'gen-000001'

const json = async (file: string): Promise<unknown> => JSON.parse(await readFile(file, 'utf8'))

const SEG = 'seg-000001'
const lines = async (file: string): Promise<string[]> => (await readFile(file, 'utf8')).split('\n').filter(Boolean)

/** Each case damages a copy of a healthy index the way an operator's probe did, in the segment layout (format 3). */
const DAMAGE: [name: string, file: string, damage: (data: string) => Promise<void>][] = [
  ['a missing CURRENT beside a complete generation', 'CURRENT', (d) => rm(join(d, 'CURRENT'))],
  ['a CURRENT naming a generation that does not exist', 'CURRENT', (d) => writeFile(join(d, 'CURRENT'), 'gen-000042\n')],
  ['an empty papers file', `${GEN}/${SEG}.papers.jsonl`, (d) => writeFile(join(d, GEN, `${SEG}.papers.jsonl`), '')],
  ['records dropped from the papers file', `${GEN}/${SEG}.papers.jsonl`, async (d) => writeFile(join(d, GEN, `${SEG}.papers.jsonl`), `${(await lines(join(d, GEN, `${SEG}.papers.jsonl`)))[0]}\n`)],
  [
    'titles swapped in the papers file',
    `${GEN}/${SEG}.papers.jsonl`,
    async (d) => {
      // Same size, so only the checksum can tell.
      const papers = (await lines(join(d, GEN, `${SEG}.papers.jsonl`))).map((l) => JSON.parse(l) as { title: string })
      ;[papers[0]!.title, papers[1]!.title] = [papers[1]!.title, papers[0]!.title]
      await writeFile(join(d, GEN, `${SEG}.papers.jsonl`), papers.map((p) => `${JSON.stringify(p)}\n`).join(''))
    },
  ],
  ['an empty chunks file', `${GEN}/${SEG}.chunks.jsonl`, (d) => writeFile(join(d, GEN, `${SEG}.chunks.jsonl`), '')],
  [
    'a graph with 64 KB overwritten',
    `${GEN}/${SEG}.hnsw`,
    async (d) => {
      // Mid-file, where hnswlib reads the damage without noticing and crashes the process (SIGSEGV) on the first search.
      const handle = await open(join(d, GEN, `${SEG}.hnsw`), 'r+')
      const { size } = await handle.stat()
      await handle.write(randomBytes(64 * 1024), 0, 64 * 1024, Math.max(0, Math.floor(size / 2) - 32 * 1024))
      await handle.close()
    },
  ],
  [
    'a segment index (meta.bin) with bytes flipped',
    `${GEN}/${SEG}.meta.bin`,
    async (d) => {
      const handle = await open(join(d, GEN, `${SEG}.meta.bin`), 'r+')
      await handle.write(Buffer.from('XXXX'), 0, 4, 40)
      await handle.close()
    },
  ],
  [
    'a wrong number of dimensions in the manifest',
    `${GEN}/manifest.json`,
    async (d) => {
      const manifest = (await json(join(d, GEN, 'manifest.json'))) as { embedder: { dimensions: number } }
      manifest.embedder.dimensions = 31
      await writeFile(join(d, GEN, 'manifest.json'), JSON.stringify(manifest))
    },
  ],
  [
    'an index written before checksums (format 1)',
    `${GEN}/manifest.json`,
    async (d) => {
      const { formatVersion: _v, files: _f, ...rest } = (await json(join(d, GEN, 'manifest.json'))) as Record<string, unknown>
      await writeFile(join(d, GEN, 'manifest.json'), JSON.stringify({ ...rest, formatVersion: 1 }))
    },
  ],
  [
    'a truncated manifest',
    `${GEN}/manifest.json`,
    async (d) => {
      const text = await readFile(join(d, GEN, 'manifest.json'), 'utf8')
      await writeFile(join(d, GEN, 'manifest.json'), text.slice(0, text.length / 2))
    },
  ],
  [
    'an index of the previous layout (format 2: papers.json, hnsw/)',
    `${GEN}/manifest.json`,
    async (d) => {
      // Written by askpapers before segments, with the same four papers and the same 32-dimensional stub.
      await rm(join(d, GEN), { recursive: true })
      await cp(join(import.meta.dirname, '../fixtures/format2-index', GEN), join(d, GEN), { recursive: true })
    },
  ],
]

beforeAll(async () => {
  ollama = await startStubOllama({ models: ['nomic-embed-text', 'mxbai-embed-large'], dimensions: 32 })
  dir = await mkdtemp(join(tmpdir(), 'askpapers-repair-'))
  env = { ASKPAPERS_EMBEDDER: 'ollama', OLLAMA_HOST: ollama.url }
  pristine = join(dir, 'pristine')
  await writeFile(join(dir, 'papers.jsonl'), `${PAPERS.map((p) => JSON.stringify(p)).join('\n')}\n`)
  const run = await runCli(['ingest', join(dir, 'papers.jsonl'), '--data-dir', pristine], { env })
  expect(run.code, run.stderr).toBe(0)
})
afterAll(async () => {
  await ollama.close()
  await rm(dir, { recursive: true, force: true })
})

describe('a damaged index', () => {
  it.each(DAMAGE)('with %s: exit 3 naming %s and a repair command that works', async (name, file, damage) => {
    const data = join(dir, name.replaceAll(/\W+/g, '-'))
    await cp(pristine, data, { recursive: true })
    await damage(data)
    const before = await readdir(data)

    const search = await runCli(['search', 'position encodings and longer inputs', '--json', '--data-dir', data], { env })
    expect(search.code, search.stderr).toBe(3)
    expect(search.stderr).toContain(join(data, file))
    expect(search.stderr).not.toMatch(/\n\s+at |No index in/)
    expect(search.stderr.trim().split('\n')).toHaveLength(1)
    // Nothing was indexed over it, and an ingest refuses too.
    expect(await readdir(data)).toEqual(before)
    const ingest = await runCli(['ingest', '--data-dir', data], { env })
    expect(ingest.code).toBe(3)
    expect(await readdir(data)).toEqual(before)

    const fix = /`(askpapers repair [^`]+)`/.exec(search.stderr)?.[1]
    expect(fix).toBe(`askpapers repair --data-dir ${data}`)
    const repaired = await runCli(fix!.split(' ').slice(1), { env })
    expect(repaired.code, repaired.stderr).toBe(0)
    expect(repaired.stdout).toMatch(/^Repaired /)

    const again = await runCli(['search', 'position encodings and longer inputs', '--json', '-k', '1', '--data-dir', data], { env })
    expect(again.code, again.stderr).toBe(0)
    expect(JSON.parse(again.stdout).results[0].title).toBe('Length Generalization in Transformers')
    const index = await PaperIndex.open(data)
    expect((await index.papers(await index.paperIds())).map((p) => p.title).sort()).toEqual(TITLES)
    expect(index.graphVectors()).toBe(index.manifest?.chunks)
  })

  it('reuses every vector whose checksum holds, and re-embeds only what it must', async () => {
    const data = join(dir, 'reuse')
    await cp(pristine, data, { recursive: true })
    await writeFile(join(data, GEN, `${SEG}.papers.jsonl`), '[]')
    const from = ollama.requests.length
    const run = await runCli(['repair', '--data-dir', data, '--json'], { env })
    expect(run.code, run.stderr).toBe(0)
    expect(JSON.parse(run.stdout)).toMatchObject({ action: 'rebuilt', papers: 4, embedded: 0, damage: [expect.stringMatching(/^gen-000001\/seg-000001\.papers\.jsonl is 2 bytes long; manifest\.json says \d+$/)] })
    // Records from the docstore's copies, vectors from the intact index: no embedder is even created.
    expect(ollama.requests.slice(from)).toHaveLength(0)

    const index = join(dir, 'reembed')
    await cp(pristine, index, { recursive: true })
    await writeFile(join(index, GEN, `${SEG}.hnsw`), 'x')
    const rerun = await runCli(['repair', '--data-dir', index, '--json'], { env })
    expect(JSON.parse(rerun.stdout)).toMatchObject({ action: 'rebuilt', papers: 4, reused: 0, embedded: 4 })
  })

  it('the fix named for an index of another embedder (ingest --rebuild) works', async () => {
    const data = join(dir, 'rebuild')
    await cp(pristine, data, { recursive: true })
    const other = ['--data-dir', data, '--embed-model', 'mxbai-embed-large']
    const refused = await runCli(['search', 'memory', ...other], { env })
    expect(refused.code).toBe(3)
    expect(refused.stderr).toMatch(/`askpapers ingest --rebuild`/)
    const rebuilt = await runCli(['ingest', '--rebuild', ...other, '--json', join(dir, 'papers.jsonl')], { env })
    expect(rebuilt.code, rebuilt.stderr).toBe(0)
    expect(JSON.parse(rebuilt.stdout)).toMatchObject({ papers: 4 })
    const search = await runCli(['search', 'position encodings and longer inputs', '--json', '-k', '1', ...other], { env })
    expect(search.code, search.stderr).toBe(0)
    expect(JSON.parse(search.stdout).results[0].title).toBe('Length Generalization in Transformers')
  })

  it('says an intact index needs nothing', async () => {
    const run = await runCli(['repair', '--data-dir', pristine], { env })
    expect(run.code).toBe(0)
    expect(run.stdout).toMatch(/is intact \(gen-000001, 4 papers\): nothing to repair/)
  })
})
