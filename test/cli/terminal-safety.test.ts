import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { runCli } from '../helpers/cli.js'
import { startStubOllama, type StubServer } from '../helpers/stub-ollama.js'

// A record as a hostile (or merely broken) source could carry it: a title that clears the screen and
// hides a link behind other text, an abstract that retitles the window, reorders text and clears
// the screen with an 8-bit CSI, a url with a CSI in it.
const EVIL = {
  id: 'evil-1',
  title: 'Memory savings \u001b[2J\u001b[H with \u001b]8;;https://evil.example/\u0007low-rank adapters\u001b]8;;\u0007 for LoRA',
  abstract:
    'LoRA freezes the pretrained weights \u001b]0;pwned\u0007and trains low-rank adapters instead. This reduces GPU memory \u202eby three times\u202c during fine-tuning.\u009b2J',
  url: 'https://arxiv.org/abs/2106.09685\u001b[2J',
}
const OTHERS = [
  { id: 'scaling', title: 'Scaling Laws for Neural Language Models', abstract: 'Loss scales as a power law with model size, dataset size and compute. Larger models are more sample-efficient.' },
  { id: 'length', title: 'Length Generalization in Transformers', abstract: 'Transformers fail to extrapolate to longer inputs. We find that position encodings decide extrapolation.' },
]
const QUESTION = 'How do low-rank adapters reduce GPU memory?'
/** Anything a terminal would act on: C0 but tab and newline, ESC, DEL, C1, bidi embeddings, overrides and isolates. */
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/
/** Output as one line of words: the removed sequences leave their spaces, the 80-column wrap its newlines. */
const flat = (text: string): string => text.replace(/\s+/g, ' ')

let ollama: StubServer
let dir: string
let file: string
let env: Record<string, string>

beforeAll(async () => {
  ollama = await startStubOllama({ dimensions: 32 })
  dir = await mkdtemp(join(tmpdir(), 'askpapers-escapes-'))
  env = { ASKPAPERS_EMBEDDER: 'ollama', OLLAMA_HOST: ollama.url, ASKPAPERS_DATA_DIR: join(dir, 'data') }
  // The file name itself carries a CSI: it is printed in the problem line of the broken record.
  file = join(dir, 'papers\u001b[2J.jsonl')
  await writeFile(file, `${[EVIL, ...OTHERS].map((p) => JSON.stringify(p)).join('\n')}\n{"title": "broken \u001b[2J\n`)
})
afterAll(async () => {
  await ollama.close()
  await rm(dir, { recursive: true, force: true })
})

describe('terminal safety: text from the corpus is printed without control or escape sequences', () => {
  it('ingest prints the problem line of a broken record without the escape in its file name', async () => {
    const run = await runCli(['ingest', file], { env })
    expect(run.code).toBe(5)
    expect(run.stderr).toContain(`${join(dir, 'papers.jsonl')}:4: invalid JSON`)
    expect(run.stderr).not.toMatch(CONTROL)
  })

  it('the index keeps the text as the source gave it: --json shows the escapes, JSON-escaped', async () => {
    const run = await runCli(['search', QUESTION, '--json', '-k', '1'], { env })
    expect(run.code).toBe(0)
    expect(run.stdout).toContain('\\u001b[2J')
    expect(run.stdout).not.toMatch(/\u001b/)
    expect(JSON.parse(run.stdout).results[0]).toMatchObject({ id: 'evil-1', title: EVIL.title, url: EVIL.url })
  })

  it('search shows the title, id and passage with the sequences removed', async () => {
    const run = await runCli(['search', QUESTION, '-k', '1'], { env })
    expect(run.code).toBe(0)
    expect(run.stdout).not.toMatch(CONTROL)
    expect(flat(run.stdout)).toContain(' 1. Memory savings with low-rank adapters for LoRA (score ')
    expect(flat(run.stdout)).toContain('LoRA freezes the pretrained weights and trains low-rank adapters instead.')
  })

  it('ask streams the answer and prints the references and quotes with the sequences removed', async () => {
    const run = await runCli(['ask', QUESTION], { env })
    expect(run.code).toBe(0)
    expect(run.stdout).not.toMatch(CONTROL)
    expect(flat(run.stdout)).toContain('Memory savings with low-rank adapters for LoRA')
    expect(run.stdout).toContain('https://arxiv.org/abs/2106.09685')
    expect(run.stdout).not.toContain('pwned')
  })

  it('chat prints answers, /sources and /paper with the sequences removed', async () => {
    const run = await runCli(['chat'], { env, input: `${QUESTION}\n/sources\n/paper 1\n` })
    expect(run.code).toBe(0)
    expect(run.stdout).not.toMatch(CONTROL)
    expect(flat(run.stdout)).toContain('[1] Memory savings with low-rank adapters for LoRA')
    expect(flat(run.stdout)).toContain('This reduces GPU memory by three times during fine-tuning.')
  })

  it('papers list and papers show print the record with the sequences removed', async () => {
    const list = await runCli(['papers', 'list'], { env })
    expect(list.code).toBe(0)
    expect(flat(list.stdout)).toContain('Memory savings with low-rank adapters for LoRA')
    const show = await runCli(['papers', 'show', 'evil-1'], { env })
    expect(show.code).toBe(0)
    expect(flat(show.stdout)).toContain('This reduces GPU memory by three times during fine-tuning.')
    for (const run of [list, show]) expect(run.stdout + run.stderr).not.toMatch(CONTROL)
  })

  it('an error message quoting what the user typed is printed without its escapes', async () => {
    const run = await runCli(['papers', 'show', 'no-such\u001b[2J'], { env })
    expect(run.code).toBe(2)
    expect(run.stderr).toContain('no-such')
    expect(run.stderr).not.toMatch(CONTROL)
  })
})
