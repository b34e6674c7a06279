import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { runCli } from '../helpers/cli.js'
import { fakeEmbedding, startStubOllama, type StubServer } from '../helpers/stub-ollama.js'

const LINE = /^Embedding: (\d+)\/(\d+) chunks \((\d+)%\), ([\d.]+) chunks\/s, ETA (\S+)$/

let ollama: StubServer
let dir: string

beforeAll(async () => {
  // An embedding server that takes its time over each batch, as a real one on a small machine does.
  ollama = await startStubOllama({
    embed: (body) => {
      const input = Array.isArray(body.input) ? body.input.map(String) : [String(body.input)]
      return { body: { model: body.model, embeddings: input.map((t) => fakeEmbedding(t, 16)) }, delayMs: input.length > 8 ? 250 : 0 }
    },
  })
  dir = await mkdtemp(join(tmpdir(), 'askpapers-progress-'))
})
afterAll(async () => {
  await ollama.close()
  await rm(dir, { recursive: true, force: true })
})

describe('progress when stderr is no terminal', () => {
  it('the first `ask` on a fresh data dir reports the seed indexing every few seconds: done/total, rate, ETA', async () => {
    const env = { ASKPAPERS_EMBEDDER: 'ollama', OLLAMA_HOST: ollama.url, ASKPAPERS_DATA_DIR: join(dir, 'data') }
    const started = Date.now()
    const run = await runCli(['ask', 'How does LoRA reduce GPU memory?'], { env })
    const seconds = (Date.now() - started) / 1000
    expect(run.code).toBe(0)
    const lines = run.stderr.split('\n').filter((l) => l.startsWith('Embedding'))
    for (const line of lines) expect(line).toMatch(LINE)
    const counts = lines.map((l) => LINE.exec(l)!.slice(1, 3).map(Number) as [number, number])
    const total = counts[0]![1]
    expect(total).toBeGreaterThan(2000)
    expect(counts[0]).toEqual([0, total])
    expect(counts.at(-1)).toEqual([total, total])
    expect(lines.at(-1)).toMatch(/\(100%\), [\d.]+ chunks\/s, ETA 0s$/)
    // One line every 5 s while embedding (34 batches of 64 chunks, a quarter second each), and no more.
    expect(seconds).toBeGreaterThan(8)
    expect(lines.length).toBeGreaterThanOrEqual(3)
    expect(lines.length).toBeLessThanOrEqual(Math.ceil(seconds / 5) + 2)
    const middle = lines.slice(1, -1).map((l) => LINE.exec(l)!)
    expect(middle.some((m) => Number(m[1]) > 0 && Number(m[1]) < total && /^\d+(s|m\d\ds|h\d\dm)$/.test(m[5] ?? ''))).toBe(true)
    expect(run.stderr).not.toMatch(/\u001b/)
    expect(run.stderr).toMatch(/^No index in .* yet: indexing the bundled seed papers first\.\n/)
    expect(run.stderr).toMatch(/\nIndexed 317 papers in [\d.]+ s\.\n$/)
  })
})
