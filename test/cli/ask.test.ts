import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { runCli } from '../helpers/cli.js'
import { refusedUrl, scriptedReply, startStubOllama, type StubServer } from '../helpers/stub-ollama.js'

let ollama: StubServer
let dir: string
let env: Record<string, string>

const PAPERS = [
  { title: 'BitDelta: Your Fine-Tune May Only Be Worth One Bit', abstract: 'We quantize the weight delta between a fine-tuned model and its base model down to 1 bit. BitDelta reduces GPU memory requirements by more than 10x when serving many fine-tuned models.' },
  { title: 'BitFit: Simple Parameter-efficient Fine-tuning', abstract: 'We fine-tune only the bias terms of the model. BitFit is competitive with full fine-tuning on small to medium training data.' },
]

beforeAll(async () => {
  ollama = await startStubOllama({ dimensions: 32, chat: scriptedReply('BitDelta cuts GPU memory by more than 10x [1] while BitFit trains biases [2] [7].') })
  dir = await mkdtemp(join(tmpdir(), 'askpapers-ask-'))
  env = { ASKPAPERS_EMBEDDER: 'ollama', OLLAMA_HOST: ollama.url, ASKPAPERS_DATA_DIR: join(dir, 'data') }
  await writeFile(join(dir, 'papers.jsonl'), PAPERS.map((p) => JSON.stringify(p)).join('\n'))
  const ingest = await runCli(['ingest', join(dir, 'papers.jsonl')], { env })
  expect(ingest.code).toBe(0)
})
afterAll(async () => {
  await ollama.close()
  await rm(dir, { recursive: true, force: true })
})

describe('askpapers ask', () => {
  it('prints the --json contract for the offline answerer', async () => {
    const run = await runCli(['ask', 'How much GPU memory does BitDelta save?', '--json'], { env })
    expect(run.code).toBe(0)
    const result = JSON.parse(run.stdout)
    expect(Object.keys(result)).toEqual(['question', 'answer', 'abstained', 'references', 'checks', 'model', 'timings'])
    expect(result).toMatchObject({ question: 'How much GPU memory does BitDelta save?', abstained: false, model: 'offline-extractive' })
    expect(result.answer).toBe('BitDelta reduces GPU memory requirements by more than 10x when serving many fine-tuned models [1].')
    expect(result.references).toEqual([
      {
        n: 1,
        id: expect.stringMatching(/^p-/),
        title: PAPERS[0]!.title,
        url: null,
        quote: 'BitDelta reduces GPU memory requirements by more than 10x when serving many fine-tuned models.',
        byline: 'authors not in the source',
        link: { url: `https://scholar.google.com/scholar?q=${encodeURIComponent(`"${PAPERS[0]!.title}"`)}`, kind: 'search' },
      },
    ])
  })

  it('streams an LLM answer, then the references, and reports the removed [7]', async () => {
    const run = await runCli(['ask', 'How do BitDelta and BitFit save memory?', '--llm', 'ollama'], { env })
    expect(run.code).toBe(0)
    expect(run.stdout).toMatch(/^BitDelta cuts GPU memory by more than 10x \[\d\] while BitFit trains biases \[\d\]\.\n\nReferences\n\[1\] /)
    expect(run.stdout).toContain('! Removed citation(s) to papers that were not retrieved: [7]')
  })

  it('answers --stdin --json one line per question', async () => {
    const run = await runCli(['ask', '--stdin', '--json'], { env, input: 'What does BitFit fine-tune?\nHow much memory does BitDelta save?\n' })
    const lines = run.stdout.trim().split('\n').map((l) => JSON.parse(l))
    expect(lines.map((l) => l.references[0]?.title)).toEqual([PAPERS[1]!.title, PAPERS[0]!.title])
  })

  it.each([
    ['an unknown --llm', ['ask', 'What is BitFit?', '--llm', 'gpt'], {}, 2, /Unknown --llm "gpt": use none/],
    ['an empty question', ['ask', ''], {}, 2, /question is empty/],
    ['an LLM server that is down', ['ask', 'What is BitFit?', '--llm', 'openai'], { down: true }, 4, /Cannot reach the OpenAI-compatible endpoint at http:\/\/127\.0\.0\.1:\d+\/v1 \(model gpt-4o-mini\)/],
    ['a model that is not pulled', ['ask', 'What is BitFit?', '--llm', 'ollama', '--model', 'mistral'], {}, 4, /ollama pull mistral/],
  ])('explains %s in one line', async (_name, args, opts, code, message) => {
    // The embedder (stub Ollama) stays reachable; only the chat endpoint is down.
    const extra: Record<string, string> = 'down' in opts ? { OPENAI_API_KEY: 'sk-test', OPENAI_BASE_URL: `${await refusedUrl()}/v1` } : {}
    const run = await runCli(args, { env: { ...env, ...extra } })
    expect(run.stderr).toMatch(message)
    expect(run.code).toBe(code)
    expect(run.stderr).not.toMatch(/\n\s+at /)
  })
})
