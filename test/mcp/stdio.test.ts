import { spawn } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Client } from '@modelcontextprotocol/sdk/client/index.js'
import { LATEST_PROTOCOL_VERSION } from '@modelcontextprotocol/sdk/types.js'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { runCli } from '../helpers/cli.js'
import { refusedUrl } from '../helpers/stub-ollama.js'
import { BIN, buildFixture, connectStdio, LLM_DELTAS, PAPERS, textOf, type Fixture } from './_helpers.js'

let fx: Fixture
let client: Client
let session: Awaited<ReturnType<typeof connectStdio>>

beforeAll(async () => {
  fx = await buildFixture()
  session = await connectStdio([], fx.env)
  client = session.client
})
afterAll(async () => {
  await client?.close()
  await fx?.close()
})

const LORA = PAPERS[0]!

describe('askpapers mcp over stdio (the SDK client, the built CLI)', () => {
  it('lists its three tools, each with an input and an output schema', async () => {
    const { tools } = await client.listTools()
    expect(tools.map((t) => t.name)).toEqual(['search_papers', 'ask_papers', 'get_paper'])
    for (const tool of tools) {
      expect(tool.inputSchema.type).toBe('object')
      expect(tool.outputSchema?.type).toBe('object')
      expect(tool.annotations?.readOnlyHint).toBe(true)
    }
    expect(tools[0]!.inputSchema).toMatchObject({ required: ['query'], properties: { k: { type: 'integer', minimum: 1, maximum: 100, default: 5 }, mode: { enum: ['hybrid', 'keyword', 'dense'] } } })
    expect(tools[1]!.inputSchema).toMatchObject({ required: ['question'], properties: { k: { minimum: 1, maximum: 100 } } })
    expect(tools[2]!.inputSchema).toMatchObject({ required: ['id'] })
  })

  it.each(['hybrid', 'keyword', 'dense'] as const)('search_papers (%s) returns what `search --json` prints, and the ranking as text', async (mode) => {
    const query = 'How does LoRA reduce GPU memory?'
    const result = await client.callTool({ name: 'search_papers', arguments: { query, k: 2, mode } })
    const cli = await runCli(['search', query, '--json', '-k', '2', '--mode', mode], { env: fx.env })
    expect(cli.code).toBe(0)
    expect(result.isError).toBeFalsy()
    expect(result.structuredContent).toEqual(JSON.parse(cli.stdout))
    const [first] = (result.structuredContent as { results: { id: string; title: string; url?: string; score: number; passages: string[] }[] }).results
    expect(textOf(result).split('\n').slice(0, 4)).toEqual([
      `Results for: ${query}`,
      '',
      `1. ${first!.title}${first!.url ? ` <${first!.url}>` : ''} (id ${first!.id}, score ${first!.score.toFixed(3)})`,
      `   > ${first!.passages[0]}`,
    ])
    // The stub embedder's vectors carry no meaning: only the keyword legs must find LoRA.
    if (mode !== 'dense') expect(first).toMatchObject({ id: 'lora', title: LORA.title, url: LORA.url, passages: [LORA.abstract] })
  })

  it('ask_papers returns the `ask --json` object, and the answer with its references and quotes as text', async () => {
    const question = 'How much does LoRA reduce the GPU memory requirement?'
    const result = await client.callTool({ name: 'ask_papers', arguments: { question } })
    const cli = await runCli(['ask', question, '--json'], { env: fx.env })
    const { timings: _t1, ...expected } = JSON.parse(cli.stdout)
    const { timings, ...answer } = result.structuredContent as Record<string, unknown>
    expect(answer).toEqual(expected)
    expect(Object.keys(timings as object)).toEqual(['embedMs', 'retrievalMs', 'generationMs', 'totalMs'])
    const quote = 'LoRA reduces the number of trainable parameters by 10,000 times and the GPU memory requirement by 3 times.'
    expect(answer).toMatchObject({ abstained: false, model: 'offline-extractive', references: [{ n: 1, id: 'lora', title: LORA.title, url: LORA.url, quote }] })
    expect(textOf(result)).toBe(`${answer.answer as string}\n\nReferences:\n[1] ${LORA.title}. Edward J. Hu and Yelong Shen, 2021. <${LORA.url}> (id lora)\n    > ${quote}`)
  })

  it('ask_papers abstains on a question the papers do not answer, and lists the closest papers', async () => {
    const result = await client.callTool({ name: 'ask_papers', arguments: { question: 'What is the best recipe for sourdough bread?' } })
    expect(result.isError).toBeFalsy()
    expect(result.structuredContent).toMatchObject({ abstained: true, references: [], answer: 'The retrieved papers do not answer this question.' })
    expect((result.structuredContent as { related: unknown[] }).related.length).toBeGreaterThan(0)
    expect(textOf(result)).toMatch(/^The retrieved papers do not answer this question\.\n[\s\S]*Closest papers \(they do not answer it, but may help\):\n- /)
  })

  it('get_paper returns the record GET /v1/papers/{id} returns, and it as Markdown', async () => {
    const result = await client.callTool({ name: 'get_paper', arguments: { id: 'lora' } })
    expect(result.structuredContent).toEqual({
      id: 'lora',
      title: LORA.title,
      abstract: LORA.abstract,
      plainAbstract: LORA.abstract,
      url: LORA.url,
      authors: LORA.authors,
      date: LORA.date,
      sources: [expect.stringMatching(/papers\.jsonl:1$/)],
      year: 2021,
      byline: 'Edward J. Hu and Yelong Shen',
      link: { url: LORA.url, kind: 'record' },
      sentences: ['We freeze the pretrained model weights and inject trainable rank decomposition matrices into each layer.', 'LoRA reduces the number of trainable parameters by 10,000 times and the GPU memory requirement by 3 times.'],
    })
    expect(textOf(result)).toBe(`# ${LORA.title}\n\n- id: lora\n- authors: Edward J. Hu and Yelong Shen\n- date: Jun 17, 2021\n- year: 2021\n- link: ${LORA.url}\n\n${LORA.abstract}`)
  })

  it('lists every paper as a resource and reads one as Markdown, ids with a slash included', async () => {
    const { resources, nextCursor } = await client.listResources()
    expect(nextCursor).toBeUndefined()
    expect(resources).toEqual(PAPERS.map((p) => ({ uri: `askpapers://paper/${encodeURIComponent(p.id)}`, name: p.id, title: p.title, mimeType: 'text/markdown' })))
    const { resourceTemplates } = await client.listResourceTemplates()
    expect(resourceTemplates).toEqual([expect.objectContaining({ name: 'paper', uriTemplate: 'askpapers://paper/{id}', mimeType: 'text/markdown' })])
    const read = await client.readResource({ uri: 'askpapers://paper/cs%2F9901001' })
    expect(read.contents).toEqual([
      { uri: 'askpapers://paper/cs%2F9901001', mimeType: 'text/markdown', text: `# Decision Trees for Spam Filtering\n\n- id: cs/9901001\n- authors: authors not in the source\n- year: 1999\n- link: arXiv: https://arxiv.org/abs/cs/9901001\n\n${PAPERS[3]!.abstract}` },
    ])
  })

  it('answers a read of an unknown paper with JSON-RPC error -32002', async () => {
    await expect(client.readResource({ uri: 'askpapers://paper/nope' })).rejects.toMatchObject({ code: -32002, message: 'MCP error -32002: No paper with id "nope" in the index.' })
  })

  it.each([
    ['an unknown paper id', 'get_paper', { id: 'nope' }, 'No paper with id "nope" in the index.'],
    ['k = 0', 'search_papers', { query: 'LoRA', k: 0 }, /Invalid arguments for tool search_papers: k must be a whole number from 1 to 100\./],
    ['k over the limit', 'ask_papers', { question: 'What is LoRA?', k: 101 }, /Invalid arguments for tool ask_papers: k must be a whole number from 1 to 100\./],
    ['an unknown mode', 'search_papers', { query: 'LoRA', mode: 'fuzzy' }, /mode must be hybrid, keyword or dense\./],
    ['an empty query', 'search_papers', { query: '   ' }, 'The query is empty.'],
    ['an empty question', 'ask_papers', { question: '' }, 'The question is empty.'],
    ['a stopword-only question', 'ask_papers', { question: 'the of and?' }, 'The question "the of and?" has no words to search for; ask about a topic, e.g. "how does LoRA reduce memory?".'],
    ['an over-long query', 'search_papers', { query: 'x'.repeat(4001) }, 'The query is 4001 characters long; the limit is 4000.'],
  ])('answers %s with an isError result, and goes on answering', async (_name, tool, args, message) => {
    const result = await client.callTool({ name: tool, arguments: args })
    expect(result.isError).toBe(true)
    expect(result.structuredContent).toBeUndefined()
    if (typeof message === 'string') expect(textOf(result)).toBe(message)
    else expect(textOf(result)).toMatch(message)
    const next = await client.callTool({ name: 'get_paper', arguments: { id: 'scaling' } })
    expect(next.isError).toBeFalsy()
    expect(session.errors).toEqual([])
  })
})

describe('askpapers mcp: the process', () => {
  it('writes only protocol messages to stdout, logs to stderr, and exits 0 when stdin closes', async () => {
    const child = spawn(process.execPath, [BIN, 'mcp'], { env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ...fx.env } })
    let stdout = ''
    let stderr = ''
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()))
    const answered = new Promise<void>((resolve) =>
      child.stdout.on('data', (d: Buffer) => {
        stdout += d.toString()
        if (stdout.includes('"id":2') && stdout.includes('"id":3')) resolve()
      }),
    )
    const exit = new Promise<number | null>((resolve) => child.on('exit', resolve))
    const send = (message: object): void => void child.stdin.write(`${JSON.stringify({ jsonrpc: '2.0', ...message })}\n`)
    send({ id: 1, method: 'initialize', params: { protocolVersion: LATEST_PROTOCOL_VERSION, capabilities: {}, clientInfo: { name: 'raw', version: '0' } } })
    send({ method: 'notifications/initialized' })
    send({ id: 2, method: 'tools/call', params: { name: 'ask_papers', arguments: { question: 'How does LoRA reduce GPU memory?' } } })
    send({ id: 3, method: 'tools/call', params: { name: 'get_paper', arguments: { id: 'nope' } } })
    await answered
    child.stdin.end()
    expect(await exit).toBe(0)
    const messages = stdout.trimEnd().split('\n').map((line) => JSON.parse(line) as { jsonrpc: string; id: number; result: { isError?: boolean } })
    // Each reply as soon as it is ready: the quick one (3) may overtake the answer (2).
    expect(messages.map((m) => [m.jsonrpc, m.id]).sort()).toEqual([
      ['2.0', 1],
      ['2.0', 2],
      ['2.0', 3],
    ])
    const byId = new Map(messages.map((m) => [m.id, m.result]))
    expect(byId.get(1)).toMatchObject({ serverInfo: { name: 'askpapers', version: '0.1.0' }, capabilities: { tools: {}, resources: {} } })
    expect(byId.get(2)).toMatchObject({ structuredContent: { abstained: false, references: [{ id: 'lora' }] } })
    expect(byId.get(3)?.isError).toBe(true)
    expect(stderr).toMatch(/askpapers mcp: ready on stdio\./)
    expect(stderr).toMatch(/askpapers mcp: 4 papers, answers by offline-extractive\./)
  })

  it('exits 0 on SIGTERM', async () => {
    const child = spawn(process.execPath, [BIN, 'mcp'], { env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ...fx.env } })
    await new Promise<void>((resolve) => child.stderr.on('data', (d: Buffer) => d.toString().includes('ready on stdio') && resolve()))
    const exit = new Promise<number | null>((resolve) => child.on('exit', resolve))
    child.kill('SIGTERM')
    expect(await exit).toBe(0)
  })

  it('answers initialize at once on an empty data dir, and the first call once the seeds are indexed', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'askpapers-mcp-empty-'))
    const { client: fresh, stderr } = await connectStdio([], { ...fx.env, ASKPAPERS_DATA_DIR: join(dir, 'data') })
    try {
      const result = await fresh.callTool({ name: 'search_papers', arguments: { query: 'LoRA', k: 1 } })
      expect(result.isError).toBeFalsy()
      // The client was served before the index was built.
      expect(stderr()).toMatch(/No index in .* yet: indexing the bundled seed papers first\.\n[\s\S]*askpapers mcp: ready on stdio\.[^\n]*\n[\s\S]*Indexed \d{3} papers/)
      expect(stderr()).toMatch(/^Embedding: \d+\/\d+ chunks \(100%\), [\d.]+ chunks\/s, ETA 0s$/m)
      expect((await fresh.listResources()).nextCursor).toEqual(expect.any(String))
    } finally {
      await fresh.close()
      await rm(dir, { recursive: true, force: true })
    }
  })

  it('answers with the LLM when --llm is set', async () => {
    const { client: llm } = await connectStdio(['--llm', 'ollama'], fx.env)
    try {
      const result = await llm.callTool({ name: 'ask_papers', arguments: { question: 'How does LoRA reduce GPU memory?' } })
      expect(result.structuredContent).toMatchObject({ answer: LLM_DELTAS.join(''), model: 'ollama:llama3.1:8b', references: [{ n: 1, id: 'lora' }] })
    } finally {
      await llm.close()
    }
  })

  it('reports an LLM that is down as an isError result naming the papers found, and still searches', async () => {
    const env = { ...fx.env, OPENAI_API_KEY: 'sk-test', OPENAI_BASE_URL: `${await refusedUrl()}/v1` }
    const { client: down, errors } = await connectStdio(['--llm', 'openai'], env)
    try {
      const result = await down.callTool({ name: 'ask_papers', arguments: { question: 'How does LoRA reduce GPU memory?' } })
      expect(result.isError).toBe(true)
      expect(textOf(result)).toMatch(/^Cannot reach the OpenAI-compatible endpoint at http:\/\/127\.0\.0\.1:\d+\/v1 \(model gpt-4o-mini\)/)
      expect(textOf(result)).toContain(`\n\nPapers found before it failed:\n- ${LORA.title} (id lora)\n`)
      const search = await down.callTool({ name: 'search_papers', arguments: { query: 'LoRA' } })
      expect(search.isError).toBeFalsy()
      expect(errors).toEqual([])
    } finally {
      await down.close()
    }
  })

  it('reports an index built by another embedder on every call, without stopping', async () => {
    const { client: other, stderr } = await connectStdio(['--embed-model', 'mxbai-embed-large'], fx.env)
    try {
      for (const [name, args] of [
        ['search_papers', { query: 'LoRA' }],
        ['ask_papers', { question: 'What is LoRA?' }],
      ] as const) {
        const result = await other.callTool({ name, arguments: args })
        expect(result.isError).toBe(true)
        expect(textOf(result)).toMatch(/built with ollama \(nomic-embed-text.*not ollama \(mxbai-embed-large\).*--rebuild/)
      }
      expect(stderr()).toMatch(/askpapers mcp: .*--rebuild/)
    } finally {
      await other.close()
    }
  })
})
