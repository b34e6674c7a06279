import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { loadConfig } from '../../src/config.js'
import { Engine } from '../../src/engine.js'
import { createApp, engineDeps } from '../../src/server/index.js'
import { runCli } from '../helpers/cli.js'
import { startPglite, type PgliteServer } from '../helpers/pglite.js'
import { startStubOllama, type StubServer } from '../helpers/stub-ollama.js'

/*
 * The PostgreSQL store wired into the product (issue 11): the real CLI and two servers over one
 * database (PGlite over the wire, pgvector loaded), with the stub Ollama embedder.
 */

const PAPERS = [
  { title: 'LoRA: Low-Rank Adaptation of Large Language Models', abstract: 'We freeze the pretrained weights and inject trainable rank decomposition matrices. This reduces trainable parameters by 10,000 times and GPU memory by 3 times.' },
  { title: 'Scaling Laws for Neural Language Models', abstract: 'Loss scales as a power law with model size, dataset size and compute. Larger models are more sample-efficient.' },
  { title: 'Length Generalization in Transformers', abstract: 'Transformers fail to extrapolate to longer inputs. We find that position encodings decide extrapolation.' },
  { title: 'Retrieval-Augmented Generation for Knowledge-Intensive Tasks', abstract: 'We combine a parametric sequence model with a dense vector index of Wikipedia. Retrieval improves factual answers.' },
]
const LATE = { title: 'Mixture of Experts Routing at Scale', abstract: 'Sparse expert layers route each token to a few experts. Routing balance decides the quality of the mixture.' }

let ollama: StubServer
let db: PgliteServer
let dir: string
let url: string
let env: Record<string, string>

beforeAll(async () => {
  ;[ollama, db] = await Promise.all([startStubOllama({ models: ['nomic-embed-text'], dimensions: 32 }), startPglite({ maxConnections: 10 })])
  dir = await mkdtemp(join(tmpdir(), 'askpapers-pg-wiring-'))
  // Two connections per process: the CLI runs and both servers fit in PGlite's ten.
  url = `${db.url({ password: 'hunter2' })}?pool_max=2`
  env = { ASKPAPERS_EMBEDDER: 'ollama', OLLAMA_HOST: ollama.url, ASKPAPERS_DATA_DIR: join(dir, 'unused') }
  await writeFile(join(dir, 'papers.jsonl'), `${PAPERS.map((p) => JSON.stringify(p)).join('\n')}\n`)
  await writeFile(join(dir, 'late.jsonl'), `${JSON.stringify(LATE)}\n`)
}, 60_000)
afterAll(async () => {
  await ollama?.close()
  await db?.stop()
  await rm(dir, { recursive: true, force: true })
})

const withoutTimings = (line: string): unknown => {
  const { timings: _t, ...rest } = JSON.parse(line) as Record<string, unknown>
  return rest
}

async function openEngine(store: string | undefined, dataDir = join(dir, 'unused')): Promise<Engine> {
  return Engine.open(loadConfig({ ASKPAPERS_EMBEDDER: 'ollama', OLLAMA_HOST: ollama.url }, { dataDir, ...(store ? { store } : {}) }))
}

describe('the PostgreSQL store through the CLI and the servers', () => {
  it('ingests a JSONL into Postgres with --store and searches it with the same results as the embedded store', async () => {
    const ingest = await runCli(['ingest', join(dir, 'papers.jsonl'), '--store', url, '--json'], { env })
    expect(ingest.stderr).not.toMatch(/Warning|Error/)
    expect(ingest.code).toBe(0)
    expect(JSON.parse(ingest.stdout)).toMatchObject({ papers: 4, added: 4, updated: 0, unchanged: 0, skipped: 0 })
    expect(ingest.stdout + ingest.stderr).not.toContain('hunter2')

    const embeddedDir = join(dir, 'embedded')
    expect((await runCli(['ingest', join(dir, 'papers.jsonl'), '--data-dir', embeddedDir, '--json'], { env })).code).toBe(0)

    for (const query of ['Which papers use LoRA?', 'power law scaling of loss', 'position encodings']) {
      const pg = await runCli(['search', query, '--json', '-k', '3'], { env: { ...env, ASKPAPERS_STORE_URL: url } })
      const embedded = await runCli(['search', query, '--json', '-k', '3', '--data-dir', embeddedDir], { env })
      expect(pg.code).toBe(0)
      expect(embedded.code).toBe(0)
      const results = withoutTimings(pg.stdout) as { results: { title: string }[] }
      expect(results.results.length).toBeGreaterThan(0)
      expect(results).toEqual(withoutTimings(embedded.stdout))
    }
    const pgAsk = await runCli(['ask', 'How much memory does LoRA save?', '--json', '--store', url], { env })
    const embeddedAsk = await runCli(['ask', 'How much memory does LoRA save?', '--json', '--data-dir', embeddedDir], { env })
    expect(pgAsk.code).toBe(0)
    expect(withoutTimings(pgAsk.stdout)).toEqual(withoutTimings(embeddedAsk.stdout))
    expect(pgAsk.stdout).toContain('LoRA')
    const list = await runCli(['papers', 'list', '--json', '--store', url], { env })
    expect(list.code).toBe(0)
    expect(list.stdout).toContain('Scaling Laws for Neural Language Models')
    const repair = await runCli(['repair', '--store', url], { env })
    expect(repair.code).not.toBe(0)
  }, 120_000)

  it('two servers over one database answer alike, /health names the store without its password, and a paper ingested by one is seen by the other', async () => {
    const [a, b] = await Promise.all([openEngine(url), openEngine(url)])
    try {
      const appA = createApp({ ...(await engineDeps(a)), log: () => undefined })
      const appB = createApp({ ...(await engineDeps(b)), log: () => undefined })
      const health = (await (await appA.request('/health')).json()) as { index: { papers: number }; store: { kind: string; location: string; version: string } }
      expect(health.index.papers).toBe(4)
      expect(health.store).toEqual({ kind: 'postgres', location: expect.stringContaining('***@127.0.0.1'), version: expect.stringMatching(/.+/) })
      expect(JSON.stringify(health)).not.toContain('hunter2')

      const search = async (app: typeof appA, q: string): Promise<{ results: { id: string; title: string; score: number }[] }> =>
        (await (await app.request(`/v1/search?q=${encodeURIComponent(q)}&k=3`)).json()) as { results: { id: string; title: string; score: number }[] }
      const strip = ({ results }: { results: { id: string; title: string; score: number }[] }) => results.map(({ id, title, score }) => ({ id, title, score }))
      for (const q of ['low-rank adaptation memory', 'dense retrieval of Wikipedia']) {
        const [ra, rb] = await Promise.all([search(appA, q), search(appB, q)])
        expect(strip(ra).length).toBeGreaterThan(0)
        expect(strip(rb)).toEqual(strip(ra))
      }

      // Ingested through server A's engine; B was opened before and must pick it up on its own.
      await a.ingest([join(dir, 'late.jsonl')])
      // Searches read the database directly; the paper list and /health follow at the background refresh a request starts.
      const papersB = async (): Promise<number> => ((await (await appB.request('/health')).json()) as { index: { papers: number } }).index.papers
      const seen = async (): Promise<boolean> => (await search(appB, 'expert routing mixture')).results.some((r) => r.title === LATE.title) && (await papersB()) === 5
      const deadline = Date.now() + 10_000
      let visible = await seen()
      while (!visible && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 300))
        visible = await seen()
      }
      expect(visible).toBe(true)
      const after = (await (await appB.request('/health')).json()) as { index: { papers: number }; store: { version: string } }
      expect(after.index.papers).toBe(5)
      expect(after.store.version).not.toBe(health.store.version)
    } finally {
      await Promise.all([a.close(), b.close()])
    }
  }, 120_000)

  it('migrates Postgres to an embedded directory and back with the vectors unchanged', async () => {
    const back = join(dir, 'from-pg')
    const embedCalls = ollama.requests.length
    const out = await runCli(['migrate', '--from', url, '--data-dir', back, '--json'], { env })
    expect(out.stderr).not.toContain('hunter2')
    expect(out.code).toBe(0)
    expect(JSON.parse(out.stdout)).toMatchObject({ papers: 5, skipped: 0 })
    // Copied with the vectors: nothing was embedded.
    expect(ollama.requests.length).toBe(embedCalls)

    const pgEngine = await openEngine(url)
    const embedded = await openEngine(undefined, back)
    try {
      const queries = ['low-rank adaptation memory', 'expert routing mixture', 'extrapolation to longer inputs']
      for (const q of queries) {
        for (const mode of ['dense', 'hybrid'] as const) {
          const [p, e] = await Promise.all([(await pgEngine.retriever()).search(q, { k: 5, mode }), (await embedded.retriever()).search(q, { k: 5, mode })])
          expect(e.hits.map((h) => h.id)).toEqual(p.hits.map((h) => h.id))
          e.hits.forEach((h, i) => expect(h.dense).toBeCloseTo(p.hits[i]!.dense, 5))
        }
      }
      // Copying it back skips every paper: the same content, vectors included.
      const again = await runCli(['migrate', '--to', url, '--data-dir', back, '--json'], { env })
      expect(again.code).toBe(0)
      expect(JSON.parse(again.stdout)).toMatchObject({ papers: 0, skipped: 5 })
    } finally {
      await Promise.all([pgEngine.close(), embedded.close()])
    }
  }, 120_000)
})
