import { copyFile, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { runCli } from '../helpers/cli.js'
import { startStubOllama, type StubServer } from '../helpers/stub-ollama.js'

// A seed listing page as the repository ships it (author counts, no urls) and a JSONL record with
// names, a date and an arXiv id: what `ask` shows and exports for each.
let ollama: StubServer
let dir: string
let env: Record<string, string>

const SEED = 'seeds/001_27e1f35541f4bc66.txt'
const OPENBEZOAR = 'OpenBezoar: Small, Cost-Effective and Open Models Trained on Mixes of Instruction Data'
const BITDELTA = {
  id: '2402.10193',
  title: 'BitDelta: Your Fine-Tune May Only Be Worth One Bit',
  authors: ['James Liu', 'Guangxuan Xiao', 'Kai Li'],
  date: '2024-02-15',
  abstract: 'We quantize the weight delta between a fine-tuned model and its base model down to 1 bit. BitDelta reduces GPU memory requirements by more than 10x when serving many fine-tuned models.',
}

beforeAll(async () => {
  ollama = await startStubOllama({ dimensions: 32 })
  dir = await mkdtemp(join(tmpdir(), 'askpapers-cite-'))
  env = { ASKPAPERS_EMBEDDER: 'ollama', OLLAMA_HOST: ollama.url, ASKPAPERS_DATA_DIR: join(dir, 'data') }
  await copyFile(join(import.meta.dirname, '../..', SEED), join(dir, 'page.txt'))
  await writeFile(join(dir, 'bitdelta.jsonl'), `${JSON.stringify(BITDELTA)}\n`)
  const ingest = await runCli(['ingest', join(dir, 'page.txt'), join(dir, 'bitdelta.jsonl')], { env })
  expect(ingest.code, ingest.stderr).toBe(0)
})
afterAll(async () => {
  await ollama.close()
  await rm(dir, { recursive: true, force: true })
})

describe('askpapers ask: citable references', () => {
  it('says what a seed page lacks instead of showing only an id, and labels the title search', async () => {
    const run = await runCli(['ask', 'What is OpenBezoar?'], { env })
    expect(run.code, run.stderr).toBe(0)
    const search = `https://scholar.google.com/scholar?q=${encodeURIComponent(`"${OPENBEZOAR}"`)}`
    // Word-wrapped for the terminal; read as one line.
    expect(run.stdout.replace(/\s+/g, ' ')).toContain(` References [1] ${OPENBEZOAR} 4 authors; names not in the source, 2024. no link in the source; search by title: ${search} (id p-`)
  })

  it('--json gives each reference its byline, year and labelled link', async () => {
    const run = await runCli(['ask', 'What is OpenBezoar?', '--json'], { env })
    const [ref] = JSON.parse(run.stdout).references
    expect(ref).toMatchObject({ n: 1, title: OPENBEZOAR, url: null, authorCount: 4, year: 2024, byline: '4 authors; names not in the source', link: { kind: 'search' } })
  })

  it('--format markdown exports the answer with its references', async () => {
    const run = await runCli(['ask', 'How much GPU memory does BitDelta save?', '--format', 'markdown'], { env })
    expect(run.code, run.stderr).toBe(0)
    expect(run.stdout).toBe(
      [
        '## How much GPU memory does BitDelta save?',
        '',
        'BitDelta reduces GPU memory requirements by more than 10x when serving many fine-tuned models [1].',
        '',
        '**References**',
        '',
        '1. BitDelta: Your Fine-Tune May Only Be Worth One Bit. James Liu, Guangxuan Xiao and Kai Li, 2024. <https://arxiv.org/abs/2402.10193>',
        '   > BitDelta reduces GPU memory requirements by more than 10x when serving many fine-tuned models.',
        '',
      ].join('\n'),
    )
  })

  it('--format bibtex exports the cited papers as @misc entries', async () => {
    const bitdelta = await runCli(['ask', 'How much GPU memory does BitDelta save?', '--format', 'bibtex'], { env })
    expect(bitdelta.stdout).toBe(
      [
        '@misc{liu2024bitdelta,',
        '  title = {{BitDelta: Your Fine-Tune May Only Be Worth One Bit}},',
        '  author = {James Liu and Guangxuan Xiao and Kai Li},',
        '  year = {2024},',
        '  eprint = {2402.10193},',
        '  archivePrefix = {arXiv},',
        '  howpublished = {\\url{https://arxiv.org/abs/2402.10193}},',
        '  url = {https://arxiv.org/abs/2402.10193},',
        '}',
        '',
      ].join('\n'),
    )
    const seed = await runCli(['ask', 'What is OpenBezoar?', '--format', 'bibtex'], { env })
    expect(seed.stdout).toBe(
      [
        '@misc{openbezoar2024,',
        `  title = {{${OPENBEZOAR}}},`,
        '  year = {2024},',
        '  note = {4 authors; names not in the source; no link in the source},',
        '}',
        '',
      ].join('\n'),
    )
  })

  it.each([
    [['--format', 'ris'], 'Unknown --format "ris": use text, json, markdown, bibtex.'],
    [['--format', 'bibtex', '--json'], '--json prints JSON; it cannot be combined with --format bibtex.'],
  ])('refuses %j', async (flags, message) => {
    const run = await runCli(['ask', 'What is OpenBezoar?', ...flags], { env })
    expect(run.code).toBe(2)
    expect(run.stderr).toContain(message)
  })
})
