import { spawn, spawnSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { runCli, type CliResult } from '../helpers/cli.js'
import { startStubOllama, type StubServer } from '../helpers/stub-ollama.js'

const BIN = join(import.meta.dirname, '../../bin/askpapers.js')
const PAPERS = [
  { title: 'LoRA: Low-Rank Adaptation of Large Language Models', abstract: 'We freeze the pretrained weights and inject trainable rank decomposition matrices. This reduces trainable parameters by 10,000 times and GPU memory by 3 times.' },
  { title: 'Scaling Laws for Neural Language Models', abstract: 'Loss scales as a power law with model size, dataset size and compute. Larger models are more sample-efficient.' },
  { title: 'Length Generalization in Transformers', abstract: 'Transformers fail to extrapolate to longer inputs. We find that position encodings decide extrapolation.' },
]
const QUESTION = 'How does LoRA reduce GPU memory?'
// eslint-disable-next-line no-control-regex
const ESCAPES = /\u001b/

let ollama: StubServer
let dir: string
let env: Record<string, string>

beforeAll(async () => {
  ollama = await startStubOllama({ dimensions: 32 })
  dir = await mkdtemp(join(tmpdir(), 'askpapers-options-'))
  env = { ASKPAPERS_EMBEDDER: 'ollama', OLLAMA_HOST: ollama.url, ASKPAPERS_DATA_DIR: join(dir, 'data') }
  await writeFile(join(dir, 'papers.jsonl'), PAPERS.map((p) => JSON.stringify(p)).join('\n'))
  expect((await runCli(['ingest', join(dir, 'papers.jsonl')], { env })).code).toBe(0)
})
afterAll(async () => {
  await ollama.close()
  await rm(dir, { recursive: true, force: true })
})

describe('unknown options', () => {
  it.each([
    [['search', QUESTION, '--jsn'], 'unknown option --jsn; did you mean --json? (askpapers search --help lists its options)'],
    [['ask', QUESTION, '--bogus'], 'unknown option --bogus; askpapers ask --help lists its options'],
    [['ask', '--modle', 'llama3', QUESTION], 'unknown option --modle; did you mean --model? (askpapers ask --help lists its options)'],
    [['ingest', '--rebuld'], 'unknown option --rebuld; did you mean --rebuild? (askpapers ingest --help lists its options)'],
    [['chat', '--sesion=a'], 'unknown option --sesion; did you mean --session? (askpapers chat --help lists its options)'],
    [['eval', '--answer'], 'unknown option --answer; did you mean --answers? (askpapers eval --help lists its options)'],
    [['repair', '--no-wiat'], 'unknown option --no-wiat; did you mean --no-wait? (askpapers repair --help lists its options)'],
    [['serve', '--prot', '9'], 'unknown option --prot; did you mean --port? (askpapers serve --help lists its options)'],
    [['mcp', '--data-dri', 'x'], 'unknown option --data-dri; did you mean --data-dir? (askpapers mcp --help lists its options)'],
    [['papers', 'list', '--jsno'], 'unknown option --jsno; did you mean --json? (askpapers papers list --help lists its options)'],
    [['search', QUESTION, '-json'], 'unknown option -json; did you mean --json? (askpapers search --help lists its options)'],
  ])('%j fails with exit 2 and the closest option, before doing anything', async (args, message) => {
    const data = join(dir, 'untouched')
    const run = await runCli([...args, '--data-dir', data], { env })
    expect(run.stderr).toBe(`askpapers: ${message}\n`)
    expect(run.code).toBe(2)
    expect(run.stdout).toBe('')
    expect(existsSync(data)).toBe(false)
  })

  it('the suggested spelling works', async () => {
    const run = await runCli(['search', QUESTION, '--json'], { env })
    expect(run.code).toBe(0)
    expect(JSON.parse(run.stdout).results[0].title).toBe(PAPERS[0]?.title)
  })

  it.each([
    ['a value that looks like an option', ['search', '--mode', 'keyword', QUESTION, '-k', '1', '--json']],
    ['camelCase and = forms', ['search', QUESTION, '--dataDir', 'DATA', '--k=1', '--json']],
    ['anything after --', ['search', '-k', '1', '--json', '--', QUESTION]],
  ])('accepts %s', async (_name, args) => {
    const run = await runCli(args.map((a) => (a === 'DATA' ? join(dir, 'data') : a)), { env })
    expect(run.stderr).toBe('')
    expect(run.code).toBe(0)
    expect(JSON.parse(run.stdout).results).toHaveLength(1)
  })

  it('suggests the command a typo meant', async () => {
    const run = await runCli(['serach', QUESTION], { env })
    expect(run.code).toBe(2)
    expect(run.stderr).toMatch(/^askpapers: unknown command "serach"; did you mean search\? Commands: ingest, .*search/)
  })
})

describe('options with no effect in the mode chosen', () => {
  it('warns that --model does nothing with the offline answerer, and answers', async () => {
    const run = await runCli(['ask', QUESTION, '--model', 'llama3.1:8b', '--json'], { env })
    expect(run.stderr).toBe(
      'askpapers: warning: --model has no effect with --llm none (the offline answerer has no model to choose), so it is ignored; to use it, add --llm ollama or --llm openai.\n',
    )
    expect(run.code).toBe(0)
    expect(JSON.parse(run.stdout).model).toBe('offline-extractive')
  })

  it('does not warn when the model is used', async () => {
    const run = await runCli(['ask', QUESTION, '--llm', 'ollama', '--model', 'no-such-model', '--json'], { env })
    expect(run.stderr).not.toMatch(/warning/)
    expect(run.stderr).toMatch(/no-such-model/)
  })

  it('warns that --embed-model does nothing with the use-lite embedder', async () => {
    const run = await runCli(['search', QUESTION, '--embedder', 'use-lite', '--embed-model', 'mxbai'], { env })
    expect(run.stderr.split('\n')[0]).toBe(
      'askpapers: warning: --embed-model has no effect with the use-lite embedder (it has one model), so it is ignored; to use it, add --embedder ollama or --embedder openai.',
    )
  })

  it('warns that a question on the command line does nothing with --stdin', async () => {
    const run = await runCli(['search', 'ignored words', '--stdin', '--json', '-k', '1'], { env, input: `${QUESTION}\n` })
    expect(run.stderr).toBe('askpapers: warning: The question "ignored words" has no effect with --stdin (the questions are read from stdin), so it is ignored.\n')
    expect(JSON.parse(run.stdout).query).toBe(QUESTION)
  })

  it('warns that --verbose does nothing with --json in chat', async () => {
    const run = await runCli(['chat', '--json', '--verbose'], { env, input: `${QUESTION}\n` })
    expect(run.stderr).toMatch(/^askpapers: warning: --verbose has no effect with --json/)
    expect(run.code).toBe(0)
  })

  it('warns that --llm does nothing in eval without --answers', async () => {
    const questions = join(dir, 'questions.jsonl')
    await writeFile(questions, `${JSON.stringify({ id: 'q1', question: QUESTION, kind: 'method', split: 'dev', expected: [PAPERS[0]?.title] })}\n`)
    const run = await runCli(['eval', '--questions', questions, '--llm', 'ollama', '--json'], { env })
    expect(run.stderr).toMatch(/^askpapers: warning: --llm has no effect without --answers \(retrieval is measured without a chat model\), so it is ignored; to measure answers too, add --answers\.\n/)
    // Progress on stderr (no terminal): a line at the start and one at the end.
    expect(run.stderr).toMatch(/^Retrieval: 0\/1 questions \(0%\), 0\.0 questions\/s, ETA unknown\nRetrieval: 1\/1 questions \(100%\), [\d.]+ questions\/s, ETA 0s$/m)
    expect(run.code).toBe(0)
    // Said once, for the reason that applies (not also "with --llm none").
    const model = await runCli(['eval', '--questions', questions, '--model', 'llama3.1:8b', '--json'], { env })
    expect(model.stderr.split('\n').filter((l) => l.includes('warning'))).toEqual([
      'askpapers: warning: --model has no effect without --answers (retrieval is measured without a chat model), so it is ignored; to measure answers too, add --answers.',
    ])
  })
})

describe('help, questions on stdin, and k', () => {
  it('ingest --help shows PATH...', async () => {
    const run = await runCli(['ingest', '--help'])
    expect(run.code).toBe(0)
    expect(run.stdout).toContain('USAGE askpapers ingest [OPTIONS] [PATH...]')
    expect(run.stdout).toMatch(/^ {2}PATH\.\.\. {4}Files or directories to ingest/m)
  })

  it('a subcommand\'s --help describes that subcommand', async () => {
    const run = await runCli(['papers', 'list', '--help'])
    expect(run.code).toBe(0)
    expect(run.stdout).toMatch(/^USAGE askpapers papers list \[OPTIONS\]/m)
    expect(run.stdout).toContain('--json')
  })

  it('`echo q | askpapers ask` points to --stdin, and --stdin then answers', async () => {
    const run = await runCli(['ask'], { env, input: `${QUESTION}\n` })
    expect(run.code).toBe(2)
    expect(run.stderr).toBe(`askpapers: No question given. To read questions from stdin, one per line, add --stdin: e.g. echo "how does LoRA reduce memory?" | askpapers ask --stdin.\n`)
    const fixed = await runCli(['ask', '--stdin', '--json'], { env, input: `${QUESTION}\n` })
    expect(fixed.code).toBe(0)
    expect(JSON.parse(fixed.stdout).question).toBe(QUESTION)
  })

  it.each([
    [['search', QUESTION, '-k', '0']],
    [['search', QUESTION, '-k', '101']],
    [['search', QUESTION, '-k', 'lots']],
    [['ask', QUESTION, '-k', '2.5']],
    [['chat', '-k', '101']],
  ])('%j: the one k limit, in the words the HTTP API uses', async (args) => {
    const run = await runCli(args, { env })
    expect(run.stderr).toBe('askpapers: k must be a whole number from 1 to 100.\n')
    expect(run.code).toBe(2)
  })

  it('accepts k at the limit', async () => {
    const run = await runCli(['search', QUESTION, '-k', '100', '--json'], { env })
    expect(run.code).toBe(0)
    expect(JSON.parse(run.stdout).results).toHaveLength(3)
  })
})

describe('colour', () => {
  it.each([
    ['ask, piped', ['ask', QUESTION]],
    ['search --help, piped', ['search', '--help']],
  ])('%s: no ANSI codes when stdout is no terminal, even without NO_COLOR', async (_name, args) => {
    const run = await runCli(args, { env: { ...env, NO_COLOR: '' } })
    expect(run.code).toBe(0)
    expect(run.stdout).not.toMatch(ESCAPES)
  })

  const SCRIPT = spawnSync('script', ['--version']).status === 0
  it.skipIf(!SCRIPT)('at a terminal: colour, and none with NO_COLOR set', async () => {
    const coloured = await inTerminal(['ask', QUESTION], { ...env, NO_COLOR: '' })
    expect(coloured.stdout).toContain('\u001b[1mReferences\u001b[0m')
    const help = await inTerminal(['search', '--help'], { ...env, NO_COLOR: '' })
    expect(help.stdout).toMatch(ESCAPES)
    for (const value of ['1', 'true']) {
      const plain = await inTerminal(['ask', QUESTION], { ...env, NO_COLOR: value })
      expect(plain.stdout).toContain('References')
      expect(plain.stdout).not.toMatch(/\u001b\[[\d;]*m/)
      const plainHelp = await inTerminal(['search', '--help'], { ...env, NO_COLOR: value })
      expect(plainHelp.stdout).not.toMatch(/\u001b\[[\d;]*m/)
    }
  })
})

/** Runs the CLI with a pseudo-terminal as stdin, stdout and stderr (util-linux `script`). */
function inTerminal(args: string[], environment: Record<string, string>): Promise<CliResult> {
  const quote = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`
  const command = [process.execPath, BIN, ...args].map(quote).join(' ')
  return new Promise((resolve, reject) => {
    const child = spawn('script', ['-qec', command, '/dev/null'], {
      env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', TERM: 'xterm-256color', ...environment },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()))
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()))
    child.on('error', reject)
    child.on('close', (code) => resolve({ code, stdout, stderr }))
  })
}
