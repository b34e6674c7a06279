import { execFileSync, spawnSync } from 'node:child_process'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import { runCli } from '../helpers/cli.js'
import { startStubOllama, type StubServer } from '../helpers/stub-ollama.js'

const BIN = join(import.meta.dirname, '../../bin/askpapers.js')

const MAIN = [
  { id: 'lora', title: 'LoRA: Low-Rank Adaptation of Large Language Models', date: '2021-10-16', authors: ['Edward J. Hu', 'Yelong Shen'], url: 'https://arxiv.org/abs/2106.09685', abstract: 'We freeze the pretrained model weights and inject trainable rank decomposition matrices, which reduces the GPU memory needed for fine-tuning.' },
  { id: 'qlora', title: 'QLoRA: Efficient Finetuning of Quantized LLMs', date: 'May 23, 2023', abstract: 'We backpropagate through a frozen 4-bit quantized model into low-rank adapters, which reduces the GPU memory needed for fine-tuning further.' },
  { id: 'scaling', title: 'Scaling Laws for Neural Language Models', abstract: 'Loss scales as a power law with model size, dataset size and the compute used for training, so larger models are more sample-efficient.' },
]
const OTHER = [{ id: 'dora', title: 'DoRA: Weight-Decomposed Low-Rank Adaptation', date: '2024-02-14', abstract: 'We decompose weights into magnitude and direction and adapt the direction with low-rank matrices, fine-tuning with little GPU memory.' }]

let ollama: StubServer
let dir: string
let env: Record<string, string>

const listIds = async (...args: string[]): Promise<string[]> => {
  const run = await runCli(['papers', 'list', '--json', ...args], { env })
  expect(run.stderr).toBe('')
  return JSON.parse(run.stdout).papers.map((p: { id: string }) => p.id)
}

beforeAll(async () => {
  ollama = await startStubOllama({ dimensions: 32 })
  dir = await mkdtemp(join(tmpdir(), 'askpapers-papers-'))
  env = { ASKPAPERS_EMBEDDER: 'ollama', OLLAMA_HOST: ollama.url, ASKPAPERS_DATA_DIR: join(dir, 'data') }
  await writeFile(join(dir, 'main.jsonl'), MAIN.map((p) => JSON.stringify(p)).join('\n'))
  await writeFile(join(dir, 'other.jsonl'), OTHER.map((p) => JSON.stringify(p)).join('\n'))
  expect((await runCli(['ingest', join(dir, 'main.jsonl'), join(dir, 'other.jsonl')], { env })).code).toBe(0)
})
afterAll(async () => {
  await ollama.close()
  await rm(dir, { recursive: true, force: true })
})

describe('askpapers papers list', () => {
  it('lists every paper with id, year and title, and as JSON with paging fields', async () => {
    const run = await runCli(['papers', 'list'], { env })
    expect(run.code).toBe(0)
    expect(run.stdout).toBe(
      [
        '4 of 4 papers:',
        '  lora     2021  LoRA: Low-Rank Adaptation of Large Language Models',
        '  qlora    2023  QLoRA: Efficient Finetuning of Quantized LLMs',
        '  scaling        Scaling Laws for Neural Language Models',
        '  dora     2024  DoRA: Weight-Decomposed Low-Rank Adaptation',
        '',
      ].join('\n'),
    )
    const json = JSON.parse((await runCli(['papers', 'list', '--json'], { env })).stdout)
    expect(json).toMatchObject({ total: 4, offset: 0, limit: 50 })
    expect(json.papers[0]).toStrictEqual({ id: 'lora', title: MAIN[0]?.title, year: 2021, date: '2021-10-16', authors: ['Edward J. Hu', 'Yelong Shen'], url: 'https://arxiv.org/abs/2106.09685', sources: [`${join(dir, 'main.jsonl')}:1`] })
  })

  it.each([
    [['--year', '2023..'], ['qlora', 'dora']],
    [['--year', '..2021'], ['lora']],
    [['--source', 'other.jsonl'], ['dora']],
    [['--source=main.jsonl', '--year', '2021..2023'], ['lora', 'qlora']],
    [['--id', 'scaling', '--id', 'dora'], ['scaling', 'dora']],
    [['--limit', '2', '--offset', '1'], ['qlora', 'scaling']],
  ])('filters and pages: %j', async (args, expected) => {
    expect(await listIds(...args)).toStrictEqual(expected)
  })

  it('says where the next page starts', async () => {
    const run = await runCli(['papers', 'list', '--limit', '3'], { env })
    expect(run.stdout).toMatch(/^4 of 4 papers, 1–3 shown:\n/)
    expect(run.stdout).toMatch(/\nNext page: --offset 3 --limit 3\.\n$/)
    expect(await listIds('--offset', '3', '--limit', '3')).toStrictEqual(['dora'])
  })

  it.each([
    [['--year', '2031'], /^askpapers: No indexed paper matches the filter \(year 2031\); `askpapers papers list` shows each paper's id, year and sources\.\n$/],
    [['--source', 'nowhere.jsonl'], /No indexed paper matches the filter \(source nowhere\.jsonl\)/],
    [['--year', '20x4'], /--year must be a year \(2023\) or a range \(2023\.\.2024, 2023\.\., \.\.2024\), not "20x4"\./],
    [['--limit', '0'], /--limit must be a whole number from 1 to 100000, not "0"\./],
  ])('refuses %j with exit 2 and one line', async (args, message) => {
    const run = await runCli(['papers', 'list', ...args], { env })
    expect(run.code).toBe(2)
    expect(run.stderr).toMatch(message)
    expect(run.stdout).toBe('')
  })
})

describe('askpapers papers show', () => {
  it('prints the full record', async () => {
    const run = await runCli(['papers', 'show', 'lora'], { env })
    expect(run.code).toBe(0)
    expect(run.stdout).toBe(
      [
        'LoRA: Low-Rank Adaptation of Large Language Models',
        '',
        'Id:       lora',
        'Authors:  Edward J. Hu and Yelong Shen',
        'Date:     2021-10-16',
        'Link:     https://arxiv.org/abs/2106.09685',
        `Sources:  ${join(dir, 'main.jsonl')}:1`,
        '',
        MAIN[0]?.abstract,
        '',
      ].join('\n'),
    )
  })

  it('says what the source lacks instead of leaving it out', async () => {
    const run = await runCli(['papers', 'show', 'scaling'], { env })
    expect(run.stdout).toContain('Authors:  authors not in the source\nDate:     not in the source\nLink:     no link in the source; search by title: https://scholar.google.com/')
  })

  it('prints the record as JSON, with its year', async () => {
    const run = await runCli(['papers', 'show', 'qlora', '--json'], { env })
    expect(JSON.parse(run.stdout)).toStrictEqual({ ...MAIN[1], sources: [`${join(dir, 'main.jsonl')}:2`], year: 2023 })
  })

  it('names an unknown id and the command that lists the ids (which works)', async () => {
    const run = await runCli(['papers', 'show', 'nope'], { env })
    expect(run.code).toBe(2)
    expect(run.stderr).toBe(`askpapers: No paper with id "nope" in ${join(dir, 'data')}; \`askpapers papers list\` shows the ids.\n`)
    expect((await runCli(['papers', 'list'], { env })).code).toBe(0)
  })

  it.each([
    [['papers'], /papers needs a command: use askpapers papers list, papers show ID or papers remove ID\.\.\./],
    [['papers', 'delete', 'x'], /Unknown papers command "delete": use askpapers papers list/],
    [['papers', 'show'], /Which paper\? Pass its id: askpapers papers show ID/],
  ])('guides %j to the right form with exit 2', async (args, message) => {
    const run = await runCli(args, { env })
    expect(run.code).toBe(2)
    expect(run.stderr).toMatch(message)
    expect(run.stderr).not.toMatch(/\n\s+at /)
  })
})

describe('search, ask and chat filters', () => {
  const QUESTION = 'How do low-rank adapters reduce GPU memory for fine-tuning?'

  it.each([
    [['--year', '2023..'], ['dora', 'qlora']],
    [['--source', join('DIR', 'other.jsonl')], ['dora']],
    [['--id', 'lora', '--id', 'scaling'], ['lora', 'scaling']],
  ])('search %j returns only matching papers', async (args, expected) => {
    const run = await runCli(['search', QUESTION, '-k', '10', '--json', ...args.map((a) => a.replace('DIR', dir))], { env })
    expect(run.code).toBe(0)
    expect(JSON.parse(run.stdout).results.map((r: { id: string }) => r.id).sort()).toStrictEqual(expected)
  })

  it('ask answers from the matching papers only', async () => {
    const run = await runCli(['ask', QUESTION, '--json', '--year', '2024'], { env })
    expect(run.code).toBe(0)
    expect(JSON.parse(run.stdout).references.map((r: { id: string }) => r.id)).toStrictEqual(['dora'])
  })

  it('chat keeps the filter for every turn', async () => {
    const run = await runCli(['chat', '--json', '--source', 'other.jsonl'], { env, input: `${QUESTION}\nAnd how much memory does it save?\n` })
    expect(run.code).toBe(0)
    const turns = run.stdout.trim().split('\n').map((line) => JSON.parse(line))
    expect(turns).toHaveLength(2)
    for (const turn of turns) expect([...turn.references, ...(turn.related ?? [])].map((r: { id: string }) => r.id)).toStrictEqual(['dora'])
  })

  it.each([
    [['search', QUESTION, '--year', '1999']],
    [['ask', QUESTION, '--year', '1999']],
    [['chat', '--year', '1999']],
    [['search', '--stdin', '--year', '1999']],
  ])('%j: a filter that matches nothing is exit 2 naming it, not every paper', async (args) => {
    const run = await runCli(args, { env, input: `${QUESTION}\n` })
    expect(run.code).toBe(2)
    expect(run.stderr).toBe("askpapers: No indexed paper matches the filter (year 1999); `askpapers papers list` shows each paper's id, year and sources.\n")
    expect(run.stdout).toBe('')
  })

  it('a malformed --year is a clear error on every command', async () => {
    for (const command of [['search', QUESTION], ['ask', QUESTION], ['chat']]) {
      const run = await runCli([...command, '--year', '20x4'], { env })
      expect(run.code, command[0]).toBe(2)
      expect(run.stderr).toMatch(/--year must be a year \(2023\) or a range/)
    }
  })
})

describe('askpapers papers remove', () => {
  it('without a terminal and without --yes refuses, naming --yes; with it removes through a new generation', async () => {
    const before = await readFile(join(dir, 'data', 'CURRENT'), 'utf8')
    const refused = await runCli(['papers', 'remove', 'scaling'], { env })
    expect(refused.code).toBe(2)
    expect(refused.stderr).toBe('askpapers: Not removing 1 paper without confirmation (stdin is not a terminal): add --yes, e.g. askpapers papers remove scaling --yes\n')
    expect(await readFile(join(dir, 'data', 'CURRENT'), 'utf8')).toBe(before)

    const run = await runCli(['papers', 'remove', 'scaling', '--yes', '--json'], { env })
    expect(run.code).toBe(0)
    expect(JSON.parse(run.stdout)).toStrictEqual({ removed: [{ id: 'scaling', title: 'Scaling Laws for Neural Language Models' }], papers: 3 })
    expect(await readFile(join(dir, 'data', 'CURRENT'), 'utf8')).not.toBe(before)
    expect(await listIds()).toStrictEqual(['lora', 'qlora', 'dora'])
    const search = await runCli(['search', 'power law scaling of loss with model size', '-k', '10', '--json'], { env })
    expect(JSON.parse(search.stdout).results.map((r: { id: string }) => r.id)).not.toContain('scaling')
    // Put back for the other tests.
    expect((await runCli(['ingest', join(dir, 'main.jsonl')], { env })).code).toBe(0)
  })

  it('names unknown ids and removes nothing', async () => {
    const run = await runCli(['papers', 'remove', 'lora', 'nope', 'gone', '--yes'], { env })
    expect(run.code).toBe(2)
    expect(run.stderr).toBe(`askpapers: No paper with id "nope", "gone" in ${join(dir, 'data')} (nothing was done); \`askpapers papers list\` shows the ids.\n`)
    expect(await listIds('--id', 'lora')).toStrictEqual(['lora'])
  })

  it('refuses to empty the index, and the way it names (a new directory) works', async () => {
    const data = join(dir, 'small')
    const small = { ...env, ASKPAPERS_DATA_DIR: data }
    expect((await runCli(['ingest', join(dir, 'other.jsonl')], { env: small })).code).toBe(0)
    const run = await runCli(['papers', 'remove', 'dora', '--yes'], { env: small })
    expect(run.code).toBe(2)
    expect(run.stderr).toBe(`askpapers: That would remove all 1 papers in ${data}; to start over, delete the directory and run \`askpapers ingest\` again.\n`)
    await rm(data, { recursive: true })
    expect((await runCli(['ingest', join(dir, 'main.jsonl')], { env: small })).code).toBe(0)
    expect((await runCli(['papers', 'list', '--json'], { env: small })).stdout).toContain('"total":3')
  })

  const TMUX = spawnSync('tmux', ['-V']).status === 0
  it.skipIf(!TMUX)('asks on a terminal: "n" removes nothing, "y" removes', async () => {
    const socket = `askpapers-papers-${process.pid}`
    const tmux = (...args: string[]): string => execFileSync('tmux', ['-L', socket, ...args], { encoding: 'utf8' })
    const quote = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`
    const command = ['env', ...Object.entries(env).map(([k, v]) => `${k}=${v}`), process.execPath, BIN, 'papers', 'remove', 'qlora'].map(quote).join(' ')
    const exitFile = join(dir, 'exit-status')
    try {
      for (const [answer, code, left] of [['n', '1', ['lora', 'qlora', 'dora', 'scaling']], ['y', '0', ['lora', 'dora', 'scaling']]] as const) {
        await rm(exitFile, { force: true })
        tmux('new-session', '-d', '-x', '100', '-y', '20', '-s', 'remove', `${command}; echo $? > ${quote(exitFile)}; sleep 30`)
        await vi.waitFor(() => expect(tmux('capture-pane', '-p', '-t', 'remove')).toContain('[y/N]'), { timeout: 15_000, interval: 100 })
        expect(tmux('capture-pane', '-p', '-t', 'remove')).toContain(`Remove 1 paper from ${join(dir, 'data')}?\n  qlora  QLoRA: Efficient Finetuning of Quantized LLMs\n[y/N]`)
        tmux('send-keys', '-t', 'remove', answer, 'Enter')
        await vi.waitFor(async () => expect((await readFile(exitFile, 'utf8')).trim()).toBe(code), { timeout: 15_000, interval: 100 })
        expect(tmux('capture-pane', '-p', '-t', 'remove')).toContain(answer === 'n' ? 'Nothing removed.' : `Removed 1 paper from ${join(dir, 'data')}; 3 left:\n  qlora  QLoRA`)
        // A declined removal is no error: its line carries no "askpapers:" prefix.
        expect(tmux('capture-pane', '-p', '-t', 'remove')).not.toContain('askpapers: Nothing removed.')
        tmux('kill-session', '-t', 'remove')
        expect(await listIds()).toStrictEqual(left)
      }
    } finally {
      spawnSync('tmux', ['-L', socket, 'kill-server'])
    }
  })
})
