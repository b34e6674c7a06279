import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { runCli } from '../helpers/cli.js'
import { startStubOllama, type StubServer } from '../helpers/stub-ollama.js'

let ollama: StubServer
let dir: string
let env: Record<string, string>

const PAPERS = [
  { title: 'LoRA: Low-Rank Adaptation of Large Language Models', abstract: 'We freeze the pretrained weights and inject trainable rank decomposition matrices. This reduces trainable parameters by 10,000 times and GPU memory by 3 times.' },
  { title: 'Scaling Laws for Neural Language Models', abstract: 'Loss scales as a power law with model size, dataset size and compute. Larger models are more sample-efficient.' },
  { title: 'Length Generalization in Transformers', abstract: 'Transformers fail to extrapolate to longer inputs. We find that position encodings decide extrapolation.' },
]

beforeAll(async () => {
  ollama = await startStubOllama({ models: ['nomic-embed-text', 'mxbai-embed-large'], dimensions: 32 })
  dir = await mkdtemp(join(tmpdir(), 'askpapers-cli-'))
  env = { ASKPAPERS_EMBEDDER: 'ollama', OLLAMA_HOST: ollama.url, ASKPAPERS_DATA_DIR: join(dir, 'data') }
  await writeFile(join(dir, 'papers.jsonl'), `${PAPERS.map((p) => JSON.stringify(p)).join('\n')}\n{"title": "broken"\n{"title": "", "abstract": "x"}\n`)
})
afterAll(async () => {
  await ollama.close()
  await rm(dir, { recursive: true, force: true })
})

describe('askpapers ingest', () => {
  it('ingests the good records, reports each bad one as file:line: reason, and exits non-zero', async () => {
    const file = join(dir, 'papers.jsonl')
    const run = await runCli(['ingest', file, '--json'], { env })
    expect(run.stderr).toContain(`${file}:4: invalid JSON`)
    expect(run.stderr).toMatch(new RegExp(`${file}:5: `))
    expect(run.code).toBe(5)
    const summary = JSON.parse(run.stdout)
    expect(Object.keys(summary)).toEqual(['papers', 'added', 'updated', 'unchanged', 'skipped', 'seconds', 'reembedded', 'conflicts', 'merged', 'problems'])
    expect(summary).toMatchObject({ papers: 3, added: 3, updated: 0, unchanged: 0, skipped: 2 })
  })

  it('counts an unchanged re-ingest as unchanged', async () => {
    const run = await runCli(['ingest', join(dir, 'papers.jsonl'), '--json'], { env })
    expect(JSON.parse(run.stdout)).toMatchObject({ papers: 3, added: 0, updated: 0, unchanged: 3, skipped: 2 })
  })

  it.each([
    ['a missing path', ['ingest', '/no/such/file.jsonl'], /\/no\/such\/file\.jsonl: no such file or directory/],
    ['an unknown format', ['ingest', 'FILE:notes.pdf'], /notes\.pdf.*(JSONL|jsonl)/],
    ['an empty file', ['ingest', 'FILE:empty.csv'], /empty\.csv.*empty/i],
  ])('rejects %s with one line, a non-zero exit and no change to the index', async (_name, args, message) => {
    await writeFile(join(dir, 'notes.pdf'), '%PDF-1.4')
    await writeFile(join(dir, 'empty.csv'), '')
    const before = await readFile(join(dir, 'data', 'CURRENT'), 'utf8')
    const run = await runCli(args.map((a) => (a.startsWith('FILE:') ? join(dir, a.slice(5)) : a)), { env })
    expect(run.code).toBe(2)
    expect(run.stderr).toMatch(message)
    expect(run.stderr.trim().split('\n')).toHaveLength(1)
    expect(run.stderr).not.toMatch(/\n\s+at /)
    expect(await readFile(join(dir, 'data', 'CURRENT'), 'utf8')).toBe(before)
  })

  it('refuses another embedder and names the fix', async () => {
    const run = await runCli(['ingest', join(dir, 'papers.jsonl'), '--embed-model', 'mxbai-embed-large'], { env })
    expect(run.code).toBe(3)
    expect(run.stderr).toMatch(/built with ollama \(nomic-embed-text.*not ollama \(mxbai-embed-large\).*--rebuild/)
    const search = await runCli(['search', 'memory', '--embed-model', 'mxbai-embed-large'], { env })
    expect(search.code).toBe(3)
    expect(search.stderr).toMatch(/--rebuild/)
  })
})

describe('askpapers search', () => {
  it('prints ranked papers with a score and best passage', async () => {
    const run = await runCli(['search', 'Which papers use LoRA?', '-k', '2'], { env })
    expect(run.code).toBe(0)
    expect(run.stdout).toMatch(/^Results for: Which papers use LoRA\?\n 1\. LoRA: Low-Rank Adaptation of Large Language Models {2}\(score /)
  })

  it('answers --stdin --json with one JSON line per question', async () => {
    const run = await runCli(['search', '--stdin', '--json', '-k', '1'], { env, input: 'power law scaling of loss\n\nposition encodings and longer inputs\n' })
    expect(run.code).toBe(0)
    const lines = run.stdout.trim().split('\n').map((l) => JSON.parse(l))
    expect(lines.map((l) => [l.query, l.results[0].title])).toEqual([
      ['power law scaling of loss', 'Scaling Laws for Neural Language Models'],
      ['position encodings and longer inputs', 'Length Generalization in Transformers'],
    ])
    expect(Object.keys(lines[0].results[0])).toEqual(['id', 'title', 'score', 'passages'])
  })

  it.each([
    ['an empty question', ['search', '   '], /question is empty/],
    ['an over-long question', ['search', 'x'.repeat(4001)], /4001 characters long; the limit is 4000/],
    ['a bad -k', ['search', 'memory', '-k', 'lots'], /^askpapers: k must be a whole number from 1 to 100\.$/m],
    ['an unknown embedder', ['search', 'memory', '--embedder', 'bert'], /Unknown embedder "bert"/],
  ])('rejects %s with one clear line', async (_name, args, message) => {
    const run = await runCli(args, { env })
    expect(run.code).toBe(2)
    expect(run.stderr).toMatch(message)
    expect(run.stderr).not.toMatch(/\n\s+at /)
  })

  it('names the host and model when the embedding server is down', async () => {
    const run = await runCli(['search', 'memory'], { env: { ...env, OLLAMA_HOST: 'http://127.0.0.1:9' } })
    expect(run.code).toBe(4)
    expect(run.stderr).toMatch(/127\.0\.0\.1:9.*nomic-embed-text|nomic-embed-text.*127\.0\.0\.1:9/)
  })
})
