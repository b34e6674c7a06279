import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { loadConfig } from '../../src/config.js'
import { Engine } from '../../src/engine.js'
import { createApp, engineDeps } from '../../src/server/index.js'
import { startStubOllama, type StubServer } from '../helpers/stub-ollama.js'
import { json, parseSse, type JsonResponse } from './_helpers.js'

// Three papers on one topic, told apart by year and input file only.
const MAIN = [
  { id: 'lora', title: 'LoRA: Low-Rank Adaptation of Large Language Models', date: '2021-10-16', abstract: 'We freeze the pretrained model weights and inject trainable rank decomposition matrices, which reduces the GPU memory needed for fine-tuning.' },
  { id: 'qlora', title: 'QLoRA: Efficient Finetuning of Quantized LLMs', date: 'May 23, 2023', abstract: 'We backpropagate through a frozen 4-bit quantized model into low-rank adapters, which reduces the GPU memory needed for fine-tuning further.' },
  { id: 'undated', title: 'Adapters Without a Date', abstract: 'Low-rank adapters reduce the GPU memory needed for fine-tuning large language models, as this undated record says.' },
]
const OTHER = [{ id: 'dora', title: 'DoRA: Weight-Decomposed Low-Rank Adaptation', date: '2024-02-14', abstract: 'We decompose weights into magnitude and direction and adapt the direction with low-rank matrices, fine-tuning with little GPU memory.' }]

let ollama: StubServer
let dir: string
let engine: Engine
let app: { request(path: string, init?: RequestInit): Promise<JsonResponse> }

beforeAll(async () => {
  ollama = await startStubOllama({ dimensions: 32 })
  dir = await mkdtemp(join(tmpdir(), 'askpapers-filters-'))
  await writeFile(join(dir, 'main.jsonl'), MAIN.map((p) => JSON.stringify(p)).join('\n'))
  await writeFile(join(dir, 'other.jsonl'), OTHER.map((p) => JSON.stringify(p)).join('\n'))
  engine = await Engine.open(loadConfig({ ASKPAPERS_EMBEDDER: 'ollama', OLLAMA_HOST: ollama.url, ASKPAPERS_DATA_DIR: join(dir, 'data') }))
  await engine.ingest([join(dir, 'main.jsonl'), join(dir, 'other.jsonl')])
  const created = createApp({ ...(await engineDeps(engine)), log: () => undefined })
  app = { request: async (path, init) => created.request(path, init) }
})
afterAll(async () => {
  await engine.close()
  await ollama.close()
  await rm(dir, { recursive: true, force: true })
})

const QUERY = 'low-rank adapters GPU memory fine-tuning'
const ids = (body: { results: { id: string }[] }): string[] => body.results.map((r) => r.id).sort()

describe('GET /v1/search with filters', () => {
  it.each([
    ['no filter', '', ['dora', 'lora', 'qlora', 'undated']],
    ['one year', '&year=2023', ['qlora']],
    ['a range', '&year=2021..2023', ['lora', 'qlora']],
    ['an open range', '&year=2023..', ['dora', 'qlora']],
    ['a source file by name', '&source=other.jsonl', ['dora']],
    ['a source by path, and a year', '&source=DIR/main.jsonl&year=..2022', ['lora']],
    ['a source directory', '&source=DIR', ['dora', 'lora', 'qlora', 'undated']],
    ['repeated ids', '&id=lora&id=undated', ['lora', 'undated']],
  ])('restricts both legs to the matching papers: %s', async (_name, params, expected) => {
    // The table is built before beforeAll makes the directory: DIR stands for it.
    const res = await app.request(`/v1/search?q=${encodeURIComponent(QUERY)}&k=10${params.replace('DIR', encodeURIComponent(dir))}`)
    expect(res.status).toBe(200)
    expect(ids(await res.json())).toEqual(expected)
  })

  it.each([['keyword'], ['dense'], ['hybrid']] as const)('filters the %s leg on its own too', async (mode) => {
    const retriever = await engine.retriever()
    const all = await retriever.search(QUERY, { k: 10, mode })
    expect(all.hits.length).toBe(4)
    const { hits } = await retriever.search(QUERY, { k: 10, mode, filter: { years: { to: 2023 } } })
    expect(hits.map((h) => h.id).sort()).toEqual(['lora', 'qlora'])
    // A filtered paper keeps the score parts it has unfiltered: BM25 statistics are the corpus's.
    for (const hit of hits) expect(hit[mode === 'hybrid' ? 'keyword' : mode]).toBe(all.hits.find((h) => h.id === hit.id)?.[mode === 'hybrid' ? 'keyword' : mode])
  })

  it.each([
    ['a year no paper has', 'year=2031', 'No indexed paper matches the filter (year 2031)'],
    ['an unknown id', 'id=nope', 'No indexed paper matches the filter (id nope)'],
    ['a source and year that exclude each other', 'source=other.jsonl&year=2023', 'No indexed paper matches the filter (year 2023, source other.jsonl)'],
  ])('is a 400 naming the filter when %s matches nothing, instead of returning everything', async (_name, params, message) => {
    const res = await app.request(`/v1/search?q=${encodeURIComponent(QUERY)}&${params}`)
    expect(res.status).toBe(400)
    const body = await res.json()
    expect(body.error).toMatchObject({ code: 'BAD_INPUT', field: 'filters' })
    expect(body.error.message).toContain(message)
  })

  it.each([['20x4'], ['2024..2023'], ['2023...2024'], ['..']])('rejects a malformed year %s with 400 naming the parameter', async (year) => {
    const res = await app.request(`/v1/search?q=${encodeURIComponent(QUERY)}&year=${encodeURIComponent(year)}`)
    expect(res.status).toBe(400)
    const body = await res.json()
    expect(body.error.field).toBe('year')
    expect(body.error.message).toMatch(/^year (must be a year \(2023\) or a range|2024\.\.2023 is an empty range)/)
  })
})

describe('filters in POST bodies', () => {
  it('answers /v1/ask from the matching papers only', async () => {
    const res = await app.request('/v1/ask', json({ question: 'How do low-rank adapters reduce GPU memory for fine-tuning?', filters: { years: { from: 2024 } } }))
    expect(res.status).toBe(200)
    const body = await res.json()
    expect(body.references.map((r: { id: string }) => r.id)).toEqual(['dora'])
  })

  it('takes the year range as text too, and ids, in /v1/chat', async () => {
    const res = await app.request('/v1/chat', json({ message: 'How do low-rank adapters reduce GPU memory for fine-tuning?', filters: { years: '2021..2023', ids: ['qlora', 'dora'] } }))
    expect(res.status).toBe(200)
    expect((await res.json()).references.map((r: { id: string }) => r.id)).toEqual(['qlora'])
  })

  it('refuses a filter that matches nothing with a 400 before a stream starts', async () => {
    const res = await app.request('/v1/ask', json({ question: 'How do adapters save memory?', stream: true, filters: { sources: ['missing.jsonl'] } }))
    expect(res.status).toBe(400)
    expect(res.headers.get('content-type')).toMatch(/^application\/json/)
    expect((await res.json()).error.message).toContain('(source missing.jsonl)')
  })

  it('streams a filtered answer whose retrieval event lists only matching papers', async () => {
    const res = await app.request('/v1/ask', json({ question: 'How do low-rank adapters reduce GPU memory for fine-tuning?', stream: true, filters: { sources: ['other.jsonl'] } }))
    const events = parseSse(await res.text())
    expect(events.find((e) => e.event === 'retrieval')?.data.papers.map((p: { id: string }) => p.id)).toEqual(['dora'])
  })

  it.each([
    [{ years: '20x4' }, 'filters.years', /filters\.years must be a year \(2023\) or a range/],
    [{ years: { from: 2024, to: 2023 } }, 'filters.years', /empty range/],
    [{ years: true }, 'filters.years', /filters\.years must be a year range/],
    [{ ids: 'lora' }, 'filters.ids', /filters\.ids must be an array of strings/],
    [{ authors: ['Hu'] }, 'filters', /./],
  ])('rejects the malformed filter %j with 400 naming the field', async (filters, field, message) => {
    const res = await app.request('/v1/ask', json({ question: 'How do adapters save memory?', filters }))
    expect(res.status).toBe(400)
    const body = await res.json()
    expect(body.error.field).toBe(field)
    expect(body.error.message).toMatch(message)
  })

  it('documents the filters in /openapi.json', async () => {
    const doc = await (await app.request('/openapi.json')).json()
    expect(Object.keys(doc.components.schemas.Filters.properties)).toEqual(['years', 'sources', 'ids'])
    expect(doc.paths['/v1/search'].get.parameters.map((p: { name: string }) => p.name)).toEqual(expect.arrayContaining(['year', 'source', 'id']))
  })
})
