import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises'
import { hostname, tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { PaperIndex } from '../../src/index/store.js'
import { runCli } from '../helpers/cli.js'
import { advanceTo, release, startCli, stepIngest } from '../helpers/processes.js'
import { startStubOllama, type StubServer } from '../helpers/stub-ollama.js'

// Two real processes on one data directory: the ingest-steps fixture, held at an exact step of its
// write, and the real CLI. No fixed delays: each side waits for the other's output.

const SAVE_STEPS = ['locked', 'generation', 'hnsw', 'papers', 'manifest', 'current', 'swap', 'cleanup'] as const

let ollama: StubServer
let dir: string
let env: Record<string, string>
let runs = 0

const paper = (title: string) => ({ title, abstract: `${title} is studied here. We report what we found about ${title.toLowerCase()}.` })

/** A JSONL file of papers with these titles. */
async function papersFile(...titles: string[]): Promise<string> {
  const file = join(dir, `papers-${++runs}.jsonl`)
  await writeFile(file, `${titles.map((t) => JSON.stringify(paper(t))).join('\n')}\n`)
  return file
}

async function titles(dataDir: string): Promise<string[]> {
  const index = await PaperIndex.open(dataDir)
  return (await index.papers(await index.paperIds())).map((p) => p.title).sort()
}

/** A data directory that already holds an index of `base`. */
async function indexed(...base: string[]): Promise<string> {
  const dataDir = join(dir, `data-${++runs}`)
  const run = await runCli(['ingest', await papersFile(...base), '--data-dir', dataDir], { env })
  expect(run.code, run.stderr).toBe(0)
  return dataDir
}

beforeAll(async () => {
  ollama = await startStubOllama({ models: ['nomic-embed-text'], dimensions: 16 })
  dir = await mkdtemp(join(tmpdir(), 'askpapers-race-'))
  env = { ASKPAPERS_EMBEDDER: 'ollama', OLLAMA_HOST: ollama.url }
})
afterAll(async () => {
  await ollama.close()
  await rm(dir, { recursive: true, force: true })
})

describe('one writer at a time', () => {
  it.each(SAVE_STEPS)('a second ingest waits while the first is at "%s", then adds its papers to the first one’s', async (step) => {
    const dataDir = await indexed('Base paper')
    const first = stepIngest(dataDir, ollama.url, await papersFile('First writer'))
    await advanceTo(first, step)
    const second = startCli(['ingest', await papersFile('Second writer'), '--data-dir', dataDir, '--json'], { env })
    // The second one says whom it waits for; only then does the first one go on.
    await second.waitFor(new RegExp(`waiting for the ingest \\(pid ${first.child.pid} on host ${hostname()}\\) that holds ${dataDir}…`), 'stderr')
    await release(first)
    expect((await first.exited).code).toBe(0)
    expect((await second.exited).code, second.stderr()).toBe(0)
    const run = { stdout: second.stdout() }
    expect(JSON.parse(run.stdout)).toMatchObject({ papers: 3, added: 1 })
    expect(await titles(dataDir)).toEqual(['Base paper', 'First writer', 'Second writer'])
  })

  it('with --no-wait fails at once naming the holder, and the named fix (run again without it) works', async () => {
    const dataDir = await indexed('Base paper')
    const first = stepIngest(dataDir, ollama.url, await papersFile('First writer'))
    await first.waitFor(/^step locked$/m)
    const file = await papersFile('Second writer')
    const refused = await runCli(['ingest', file, '--data-dir', dataDir, '--no-wait'], { env })
    expect(refused.code).toBe(6)
    expect(refused.stderr).toMatch(new RegExp(`Another ingest \\(pid ${first.child.pid} on host ${hostname()}, since [^)]+\\) is writing to ${dataDir}; run again without --no-wait`))
    expect(refused.stderr.trim().split('\n')).toHaveLength(1)
    const again = startCli(['ingest', file, '--data-dir', dataDir], { env })
    await again.waitFor(/waiting for the ingest/, 'stderr')
    await release(first)
    expect((await again.exited).code, again.stderr()).toBe(0)
    expect(await titles(dataDir)).toEqual(['Base paper', 'First writer', 'Second writer'])
  })

  it('loses no paper when ingests race freely, 20 times', async () => {
    const dataDir = await indexed('Base paper')
    const expected = ['Base paper']
    for (let i = 0; i < 20; i++) {
      const a = `Racer A${i}`
      const b = `Racer B${i}`
      const [ra, rb] = await Promise.all([
        runCli(['ingest', await papersFile(a), '--data-dir', dataDir], { env }),
        runCli(['ingest', await papersFile(b), '--data-dir', dataDir], { env }),
      ])
      expect([ra.code, rb.code], `${ra.stderr}\n${rb.stderr}`).toEqual([0, 0])
      expect(ra.stderr + rb.stderr).not.toMatch(/\n\s+at /)
      expected.push(a, b)
    }
    expect(await titles(dataDir)).toEqual(expected.sort())
  }, 240_000)
})

describe('a writer killed with kill -9', () => {
  it.each(SAVE_STEPS)('at "%s" leaves the previous index readable and does not block the next ingest', async (step) => {
    const dataDir = await indexed('Base paper')
    const first = stepIngest(dataDir, ollama.url, await papersFile('Killed writer'))
    await advanceTo(first, step)
    first.child.kill('SIGKILL')
    await first.exited
    const left = await readdir(dataDir)
    // Its lock is stale at once (its pid is gone): the next ingest neither waits nor fails.
    const run = await runCli(['ingest', await papersFile('Next writer'), '--data-dir', dataDir, '--no-wait'], { env })
    expect(run.code, run.stderr).toBe(0)
    const committed = step === 'cleanup' ? ['Killed writer'] : []
    expect(await titles(dataDir)).toEqual(['Base paper', 'Next writer', ...committed].sort())
    // Nothing the next writer did not create is gone, except generations its own commit superseded.
    const after = await readdir(dataDir)
    for (const name of left.filter((n) => !n.startsWith('gen-') && n !== 'CURRENT' && !n.startsWith('write.lock'))) expect(after).toContain(name)
  })
})

