import { readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import { createApp, listen, type RunningServer } from '../../src/server/index.js'
import { runCli } from '../helpers/cli.js'
import { buildFixture, fetchJson, type Fixture } from './_helpers.js'

/** A running server and ingests from other processes into its data directory. */

let fx: Fixture
let server: RunningServer
const lines: string[] = []
let env: Record<string, string>

const NEW_PAPER = {
  title: 'Sparse Mixture of Glow Worms for Bioluminescent Retrieval',
  abstract: 'We route each query through a sparse mixture of glow-worm experts. Bioluminescent retrieval halves the latency of dense search on firefly benchmarks.',
}

beforeAll(async () => {
  fx = await buildFixture()
  server = await listen(createApp({ ...fx.deps, log: (line) => lines.push(line) }), { port: 0 })
  env = { ASKPAPERS_EMBEDDER: 'ollama', OLLAMA_HOST: fx.ollama.url, ASKPAPERS_DATA_DIR: join(fx.dir, 'data') }
})
afterAll(async () => {
  await server.close()
  await fx.close()
})

const health = async (): Promise<{ index: { generation: string; papers: number } }> => (await fetchJson(`${server.url}health`)).json()

describe('a server whose data directory another process ingests into', () => {
  it('swaps the new generation in between requests and finds the new paper', async () => {
    const before = (await health()).index
    expect(before.generation).toMatch(/^gen-\d{6}$/)
    await writeFile(join(fx.dir, 'new.jsonl'), `${JSON.stringify(NEW_PAPER)}\n`)
    const ingest = await runCli(['ingest', join(fx.dir, 'new.jsonl')], { env })
    expect(ingest.code).toBe(0)

    // Requests trigger the check; the swap happens once the new generation is open and ready.
    await vi.waitFor(async () => expect((await health()).index.generation).not.toBe(before.generation), { timeout: 10_000, interval: 100 })
    const after = (await health()).index
    expect(after.papers).toBe(before.papers + 1)
    const found = await (await fetchJson(`${server.url}v1/search?q=${encodeURIComponent('glow-worm experts bioluminescent retrieval')}`)).json()
    expect(found.results[0].title).toBe(NEW_PAPER.title)
    const paper = await fetchJson(`${server.url}v1/papers/${found.results[0].id}`)
    expect(paper.status).toBe(200)
    const answer = await (await fetchJson(`${server.url}v1/ask`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ question: 'What halves the latency of dense search on firefly benchmarks?' }) })).json()
    expect(answer.references.map((r: { title: string }) => r.title)).toContain(NEW_PAPER.title)
  })

  it('keeps serving the loaded index when the committed one cannot be opened, and says so once', async () => {
    const serving = (await health()).index
    const pointer = join(fx.dir, 'data', 'CURRENT')
    const saved = await readFile(pointer, 'utf8')
    await writeFile(pointer, 'gen-999999\n')
    try {
      await vi.waitFor(
        async () => {
          await health()
          expect(lines.some((l) => l.includes('a newer index generation was not swapped in'))).toBe(true)
        },
        { timeout: 10_000, interval: 50 },
      )
      // Ask again and again: the failure is reported once, and the index served is the same.
      for (let i = 0; i < 3; i++) expect((await health()).index).toEqual(serving)
      expect(lines.filter((l) => l.includes('a newer index generation was not swapped in'))).toHaveLength(1)
      const found = await (await fetchJson(`${server.url}v1/search?q=${encodeURIComponent('glow-worm experts')}`)).json()
      expect(found.results[0].title).toBe(NEW_PAPER.title)
    } finally {
      await writeFile(pointer, saved)
    }
  })
})
