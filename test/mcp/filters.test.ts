import { Client } from '@modelcontextprotocol/sdk/client/index.js'
import { InMemoryTransport } from '@modelcontextprotocol/sdk/inMemory.js'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createMcpServer, type McpServerOptions } from '../../src/mcp/index.js'
import { engineDeps } from '../../src/server/index.js'
import { buildFixture, textOf, type Fixture } from './_helpers.js'

let fx: Fixture
let client: Client
beforeAll(async () => {
  fx = await buildFixture()
  const deps: McpServerOptions['deps'] = (await engineDeps(fx.engine)).services
  const [clientSide, serverSide] = InMemoryTransport.createLinkedPair()
  await createMcpServer({ deps }).connect(serverSide)
  client = new Client({ name: 'askpapers-test', version: '0.0.0' })
  await client.connect(clientSide)
})
afterAll(async () => {
  await client?.close()
  await fx?.close()
})

const ids = (result: unknown): string[] => ((result as { structuredContent: { results: { id: string }[] } }).structuredContent.results ?? []).map((r) => r.id).sort()

describe('MCP tool filters', () => {
  it.each([
    [{}, ['cs/9901001', 'length', 'lora', 'scaling']],
    // lora is dated Jun 17, 2021; cs/9901001 has its year in its old-style arXiv id.
    [{ year: '2021' }, ['lora']],
    [{ year: '..2000' }, ['cs/9901001']],
    [{ ids: ['scaling', 'length'] }, ['length', 'scaling']],
  ])('search_papers with %j returns only matching papers', async (filter, expected) => {
    const result = await client.callTool({ name: 'search_papers', arguments: { query: 'models trained on data', k: 10, ...filter } })
    expect(result.isError).toBeFalsy()
    expect(ids(result)).toEqual(expected)
  })

  it('ask_papers answers from the matching papers only', async () => {
    const result = await client.callTool({ name: 'ask_papers', arguments: { question: 'How does LoRA reduce GPU memory?', ids: ['scaling'] } })
    const answer = result.structuredContent as { references: { id: string }[]; related?: { id: string }[] }
    // Whether it answers or abstains, every paper it names is one the filter allows.
    const named = [...answer.references, ...(answer.related ?? [])].map((r) => r.id)
    expect(named.length).toBeGreaterThan(0)
    expect(new Set(named)).toEqual(new Set(['scaling']))
  })

  it.each([
    [{ year: '2031' }, "No indexed paper matches the filter (year 2031); `askpapers papers list` shows each paper's id, year and sources."],
    [{ year: '20x4' }, 'year must be a year (2023) or a range (2023..2024, 2023.., ..2024), not "20x4".'],
  ])('reports %j as a tool error that names it', async (filter, message) => {
    const result = await client.callTool({ name: 'search_papers', arguments: { query: 'models trained on data', ...filter } })
    expect(result.isError).toBe(true)
    expect(textOf(result)).toBe(message)
  })
})
