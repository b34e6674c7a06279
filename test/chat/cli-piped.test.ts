import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { transcriptMarkdown, type ChatTurn } from '../../src/chat/index.js'
import type { Paper } from '../../src/corpus/index.js'
import { seedPapers } from '../helpers/seeds.js'
import { runCli } from '../helpers/cli.js'
import { startStubOllama, type StubServer } from '../helpers/stub-ollama.js'

const BITDELTA = 'BitDelta: Your Fine-Tune May Only Be Worth One Bit'
// Eight seed papers, several about saving memory, so a follow-up that names nothing finds another one.
const TITLES = [
  BITDELTA,
  'LoRA: Low-Rank Adaptation of Large Language Models',
  'LoRA Learns Less and Forgets Less',
  'Model soups: averaging weights of multiple fine-tuned models improves accuracy without increasing inference time',
  'Towards Green AI in Fine-tuning Large Language Models via Adaptive Backpropagation',
  'UniPT: Universal Parallel Tuning for Transfer Learning with Efficient Parameter and Memory',
  'P-Tuning v2: Prompt Tuning Can Be Comparable to Fine-tuning Universally Across Scales and Tasks',
  'Symbolic Discovery of Optimization Algorithms',
]
const FIRST = 'How does BitDelta compress fine-tuned models?'
const FOLLOW_UP = 'how much memory does it save?'
const STANDALONE = 'How much memory does BitDelta save?'
const ASK_KEYS = ['question', 'answer', 'abstained', 'references', 'checks', 'model', 'timings']

let ollama: StubServer
let dir: string
let env: Record<string, string>
let bitdelta: Paper

/** Stdout as one line of words, so assertions ignore where the 80-column wrap fell. */
const flat = (text: string): string => text.replace(/\s+/g, ' ')
const escape = (text: string): string => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
const jsonLines = (text: string): Record<string, any>[] => text.trim().split('\n').map((l) => JSON.parse(l))

beforeAll(async () => {
  // The stub's vectors are hash-based, so retrieval here is the keyword leg's: what the words typed can find.
  ollama = await startStubOllama({ dimensions: 32 })
  dir = await mkdtemp(join(tmpdir(), 'askpapers-chat-'))
  env = { ASKPAPERS_EMBEDDER: 'ollama', OLLAMA_HOST: ollama.url, ASKPAPERS_DATA_DIR: join(dir, 'data') }
  const chosen = await seedPapers(TITLES)
  bitdelta = chosen[0]!
  await writeFile(join(dir, 'papers.jsonl'), chosen.map((p) => JSON.stringify({ title: p.title, abstract: p.abstract })).join('\n'))
  expect((await runCli(['ingest', join(dir, 'papers.jsonl')], { env })).code).toBe(0)
})
afterAll(async () => {
  await ollama.close()
  await rm(dir, { recursive: true, force: true })
})

describe('askpapers chat with piped stdin', () => {
  it('needs the conversation: the follow-up alone finds other papers', async () => {
    const search = await runCli(['search', FOLLOW_UP, '--json'], { env })
    expect(search.code).toBe(0)
    expect(JSON.parse(search.stdout).results[0].title).not.toBe(BITDELTA)
    const ask = await runCli(['ask', FOLLOW_UP, '--json'], { env })
    expect(ask.code).toBe(0)
    expect(JSON.parse(ask.stdout).references.map((r: { title: string }) => r.title)).not.toContain(BITDELTA)
  })

  it('answers a follow-up about the paper just cited, and /paper, /save and /reset work (--json)', async () => {
    const file = join(dir, 'transcript.md')
    const input = [FIRST, FOLLOW_UP, '/paper 1', `/save ${file}`, '/reset', FOLLOW_UP, ''].join('\n')
    const run = await runCli(['chat', '--json'], { env, input })
    expect(run.stderr).toBe('')
    expect(run.code).toBe(0)
    const [first, followUp, paper, save, reset, afterReset, ...rest] = jsonLines(run.stdout)
    expect(rest).toEqual([])

    expect(Object.keys(first!)).toEqual([...ASK_KEYS, 'standalone', 'condensedBy'])
    expect(first).toMatchObject({ question: FIRST, standalone: FIRST, condensedBy: 'none', abstained: false })
    expect(first!.references[0].title).toBe(BITDELTA)

    // Found only because the follow-up's "it" was resolved to the paper the conversation is about.
    expect(followUp).toMatchObject({ question: FOLLOW_UP, standalone: STANDALONE, condensedBy: 'offline', abstained: false })
    expect(followUp!.references[0].title).toBe(BITDELTA)
    expect(followUp!.answer).toContain('BitDelta dramatically reduces GPU memory requirements by more than 10x')

    expect(paper).toEqual({
      command: 'paper',
      n: 1,
      id: first!.references[0].id,
      title: BITDELTA,
      url: null,
      abstract: bitdelta.abstract,
      byline: 'authors not in the source',
      link: { url: `https://scholar.google.com/scholar?q=${encodeURIComponent(`"${BITDELTA}"`)}`, kind: 'search' },
    })
    expect(save).toEqual({ command: 'save', file, turns: 2 })
    const turns = [first!, followUp!].map((r) => ({ message: r.question, standalone: r.standalone, answer: r.answer, abstained: r.abstained, references: r.references.map(({ url, ...ref }: { url: string | null }) => ref), at: '' }) as ChatTurn)
    const transcript = await readFile(file, 'utf8')
    expect(transcript).toBe(transcriptMarkdown(turns))
    expect(transcript).toContain(`## 2. ${FOLLOW_UP}\n\n*Standalone question:* ${followUp!.standalone}\n\n`)
    expect(reset).toEqual({ command: 'reset' })

    // After /reset the same words are read on their own again.
    expect(afterReset).toMatchObject({ question: FOLLOW_UP, standalone: FOLLOW_UP, condensedBy: 'none' })
    expect(afterReset!.references.map((r: { title: string }) => r.title)).not.toContain(BITDELTA)
  })

  it('prints each answer in order, wrapped at 80 columns, with references and commands', async () => {
    const input = [FIRST, FOLLOW_UP, '/sources', '/paper 1', '/paper 9', '/frobnicate', '/help', '/exit', 'never read'].join('\n')
    const run = await runCli(['chat'], { env, input })
    expect(run.code).toBe(2)
    expect(run.stderr).toBe('askpapers: There is no paper [9]: the last answer cites only [1].\naskpapers: Unknown command /frobnicate: try /help.\n')
    // Only a link longer than a line may run past it: a URL is not broken.
    expect(run.stdout.split('\n').filter((l) => l.length > 80 && !/^\s*https:\/\/\S+(?: \(id \S+\))?$/.test(l))).toEqual([])
    const out = flat(run.stdout)
    expect(out).toMatch(new RegExp(`^askpapers> ${escape(FIRST)} .*\\[1\\]\\. .* References \\[1\\] ${escape(BITDELTA)} authors not in the source\\. no link in the source; search by title: \\S+ \\(id p-`))
    // The rewrite is not printed above the answer; /sources shows it after the references.
    expect(out).not.toContain('Searching for')
    expect(out).toContain(`askpapers> ${FOLLOW_UP} By enabling the use of a single high-precision base model`)
    expect(out).toMatch(new RegExp(`askpapers> /sources Sources of the last answer \\[1\\] ${escape(BITDELTA)} authors not in the source\\. no link in the source; search by title: https://scholar\\.google\\.com/\\S+ \\(id p-.* Searched for: ${escape(STANDALONE)} askpapers> /paper 1 `))
    expect(out).toMatch(new RegExp(`askpapers> /paper 1 \\[1\\] ${escape(BITDELTA)} id: p-\\S+ authors not in the source\\. no link in the source; search by title: https://scholar\\.google\\.com/\\S+ `))
    expect(out).toContain(flat(bitdelta.abstract))
    expect(out).toContain('askpapers> /help Ask a question, then ask follow-ups about the answer:')
    expect(out).not.toContain('never read')
  })

  it('prints the rewrite of each follow-up before its answer with --verbose', async () => {
    const run = await runCli(['chat', '--verbose'], { env, input: [FIRST, FOLLOW_UP, ''].join('\n') })
    expect(run.stderr).toBe('')
    expect(run.code).toBe(0)
    const out = flat(run.stdout)
    // Only for a message that was rewritten: the first question is searched for as typed.
    expect(out.match(/\(Searching for: /g)).toHaveLength(1)
    expect(out).toContain(`askpapers> ${FOLLOW_UP} (Searching for: ${STANDALONE}) By enabling the use of a single high-precision base model`)
  })

  it('resumes a --session, and starts afresh with a warning when its file is damaged', async () => {
    const first = await runCli(['chat', '--session', 'review-1', '--json'], { env, input: `${FIRST}\n` })
    expect(first.code).toBe(0)
    const saved = JSON.parse(await readFile(join(dir, 'data', 'sessions', 'review-1.json'), 'utf8'))
    expect(saved).toMatchObject({ version: 1, turns: [{ message: FIRST, standalone: FIRST }] })

    const resumed = await runCli(['chat', '--session', 'review-1', '--json'], { env, input: `${FOLLOW_UP}\n` })
    expect(resumed.code).toBe(0)
    const answer = JSON.parse(resumed.stdout)
    expect(answer).toMatchObject({ question: FOLLOW_UP, condensedBy: 'offline' })
    expect(answer.references[0].title).toBe(BITDELTA)

    await mkdir(join(dir, 'data', 'sessions'), { recursive: true })
    const damagedFile = join(dir, 'data', 'sessions', 'damaged.json')
    await writeFile(damagedFile, '{"version": 1, "turns": [')
    const damaged = await runCli(['chat', '--session', 'damaged', '--json'], { env, input: `${FOLLOW_UP}\n` })
    expect(damaged.code).toBe(0)
    expect(damaged.stderr).toBe(`askpapers: Session file ${damagedFile} is damaged (invalid JSON); starting a fresh session.\n`)
    expect(JSON.parse(damaged.stdout)).toMatchObject({ standalone: FOLLOW_UP, condensedBy: 'none' })
    expect(JSON.parse(await readFile(damagedFile, 'utf8'))).toMatchObject({ version: 1, turns: [{ message: FOLLOW_UP }] })
  })

  it('rejects a session name that is not a plain name', async () => {
    const run = await runCli(['chat', '--session', '../etc/passwd'], { env, input: `${FIRST}\n` })
    expect(run.code).toBe(2)
    expect(run.stderr).toBe('askpapers: Invalid session name "../etc/passwd": use 1 to 64 letters, digits, - or _.\n')
  })
})
