import { existsSync } from 'node:fs'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ABSTENTION_SENTENCE } from '../../src/answer/citations.js'
import { runCli } from '../helpers/cli.js'
import { startStubOllama, type ChatHandler, type StubServer } from '../helpers/stub-ollama.js'

/**
 * `askpapers eval --answers --llm ollama` measures whatever model the user runs. The stand-in here
 * reads its prompt as a model would: it answers from the paper numbered [1], abstains on a question
 * none of the papers is about, and writes one citation in its own format.
 */

const PAPERS = [
  {
    title: 'BitDelta: Your Fine-Tune May Only Be Worth One Bit',
    abstract: 'We quantize the weight delta between a fine-tuned model and its base model down to 1 bit. BitDelta reduces GPU memory requirements by more than 10x when serving many fine-tuned models.',
  },
  {
    title: 'BitFit: Simple Parameter-efficient Fine-tuning',
    abstract: 'We fine-tune only the bias terms of the model. BitFit is competitive with full fine-tuning on small to medium training data.',
  },
  {
    title: 'Prefix-Tuning: Optimizing Continuous Prompts for Generation',
    abstract: 'Prefix-tuning keeps language model parameters frozen and optimizes a small continuous task-specific vector called the prefix. It obtains comparable performance in the full data setting while learning only 0.1% of the parameters.',
  },
]
const QUESTIONS = [
  { id: 'e1', kind: 'method', split: 'dev', question: 'How much GPU memory does BitDelta save?', expected: [PAPERS[0]!.title], facts: ['more than 10x'] },
  { id: 'e2', kind: 'paraphrase', split: 'dev', question: 'Which parameters does BitFit fine-tune?', expected: [PAPERS[1]!.title], facts: ['bias terms'] },
  { id: 'e3', kind: 'off-topic', split: 'test', question: 'How long should I boil an egg for a soft yolk?', expected: [], facts: [] },
]

const readingModel: ChatHandler = (_body, request) => {
  const seen = request.seen ?? ''
  const question = /Question: (.*)/.exec(seen)?.[1] ?? ''
  if (/egg/i.test(question)) return { script: { answer: ABSTENTION_SENTENCE } }
  const first = /\[1\] Title: [^\n]*\n([^.]*\.[^.]*\.)/.exec(seen)?.[1] ?? ''
  // A model that writes "(1)" for one of its citations: the rewriter must turn it into [1].
  const sentences = first.split(/(?<=\.)\s+/)
  return { script: { answer: `${sentences[0]?.replace(/\.$/, '')} [1]. ${sentences[1]?.replace(/\.$/, '') ?? ''} (1).` } }
}

let ollama: StubServer
let dir: string
let env: Record<string, string>

beforeAll(async () => {
  ollama = await startStubOllama({ dimensions: 32, chat: readingModel })
  dir = await mkdtemp(join(tmpdir(), 'askpapers-eval-llm-'))
  env = { ASKPAPERS_EMBEDDER: 'ollama', OLLAMA_HOST: ollama.url, ASKPAPERS_DATA_DIR: join(dir, 'data') }
  await writeFile(join(dir, 'papers.jsonl'), PAPERS.map((p) => JSON.stringify(p)).join('\n'))
  await writeFile(join(dir, 'questions.jsonl'), QUESTIONS.map((q) => JSON.stringify(q)).join('\n'))
  const ingest = await runCli(['ingest', join(dir, 'papers.jsonl')], { env })
  expect(ingest.code).toBe(0)
})
afterAll(async () => {
  await ollama.close()
  await rm(dir, { recursive: true, force: true })
})

describe('askpapers eval --answers --llm', () => {
  it("measures the user's own model with the same grounding metrics, and writes the report", async () => {
    const report = join(dir, 'report.html')
    const run = await runCli(['eval', '--answers', '--llm', 'ollama', '--questions', join(dir, 'questions.jsonl'), '--json', '--report', report], { env })
    expect(run.stderr).toContain('Answering 3 questions with ollama:llama3.1:8b')
    expect(run.code).toBe(0)
    const { answers } = JSON.parse(run.stdout)
    expect(answers).toMatchObject({
      model: 'ollama:llama3.1:8b',
      questions: 3,
      markersResolved: 1,
      wrongAbstentions: 0,
      correctAbstentions: 1,
      citesExpected: 1,
      factsPresent: 1,
      confusion: { answerable: { answered: 2, abstained: 0 }, unanswerable: { answered: 0, abstained: 1 } },
      grounding: { answersWithUncitedSentences: 0, invalidMarkers: 0, reformattedMarkers: 2, truncated: 0, papersLeftOut: 0 },
      failed: [],
    })
    expect(answers.perQuestion.find((q: { id: string }) => q.id === 'e1').answer).toBe(
      'We quantize the weight delta between a fine-tuned model and its base model down to 1 bit [1]. BitDelta reduces GPU memory requirements by more than 10x when serving many fine-tuned models [1].',
    )
    // Every answer request told Ollama how much context it needs (the egg question, which no paper
    // bears on, is stopped by the evidence gate before the model).
    const chats = ollama.requests.filter((r) => r.path === '/api/chat')
    expect(chats).toHaveLength(2)
    for (const chat of chats) expect((chat.body as { options: { num_ctx: number } }).options.num_ctx).toBe(4096)
    expect(existsSync(report)).toBe(true)
    expect(await readFile(report, 'utf8')).toContain('ollama:llama3.1:8b')
  })

  it('runs a spread-out sample with --limit', async () => {
    const run = await runCli(['eval', '--answers', '--questions', join(dir, 'questions.jsonl'), '--limit', '2', '--json'], { env })
    expect(run.code).toBe(0)
    const out = JSON.parse(run.stdout)
    expect(out.questions).toBe(2)
    expect(out.answers.perQuestion.map((q: { kind: string }) => q.kind)).toEqual(['method', 'paraphrase'])
  })

  it.each([
    [['--limit', '0'], /--limit must be a whole number of questions, at least 1, not "0"/],
    [['--limit', 'ten'], /--limit must be a whole number of questions/],
    [['--llm', 'ollama', '--model', 'mistral'], /ollama pull mistral/],
  ])('refuses %j with a clear message', async (flags, message) => {
    const run = await runCli(['eval', '--answers', '--questions', join(dir, 'questions.jsonl'), ...flags], { env })
    expect(run.code).not.toBe(0)
    expect(run.stderr).toMatch(message)
    expect(run.stderr).not.toMatch(/\n\s+at /)
  })
})
