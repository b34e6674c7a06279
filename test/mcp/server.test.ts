import { Client } from '@modelcontextprotocol/sdk/client/index.js'
import { InMemoryTransport } from '@modelcontextprotocol/sdk/inMemory.js'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createMcpServer, type McpServerOptions } from '../../src/mcp/index.js'
import { engineDeps } from '../../src/server/index.js'
import { buildFixture, PAPERS, textOf, type Fixture } from './_helpers.js'

// createMcpServer in memory, for what a process test cannot reach cheaply: paging, deadlines.

let fx: Fixture
let deps: McpServerOptions['deps']
beforeAll(async () => {
  fx = await buildFixture()
  deps = (await engineDeps(fx.engine)).services
})
afterAll(() => fx?.close())

async function connected(options: Partial<McpServerOptions> = {}): Promise<Client> {
  const [clientSide, serverSide] = InMemoryTransport.createLinkedPair()
  await createMcpServer({ deps, ...options }).connect(serverSide)
  const client = new Client({ name: 'askpapers-test', version: '0.0.0' })
  await client.connect(clientSide)
  return client
}

describe('createMcpServer', () => {
  it('lists the papers as resources page by page, with a cursor to the next page', async () => {
    const client = await connected({ pageSize: 3 })
    const first = await client.listResources()
    expect(first.resources.map((r) => r.name)).toEqual(PAPERS.slice(0, 3).map((p) => p.id))
    expect(first.nextCursor).toEqual(expect.any(String))
    const second = await client.listResources({ cursor: first.nextCursor! })
    expect(second.resources.map((r) => r.name)).toEqual([PAPERS[3]!.id])
    expect(second.nextCursor).toBeUndefined()
    await expect(client.listResources({ cursor: 'not-a-cursor' })).rejects.toMatchObject({ code: -32602, message: 'MCP error -32602: Unknown cursor: list the resources again without one.' })
    await client.close()
  })

  it('completes paper ids in the resource template', async () => {
    const client = await connected()
    const { completion } = await client.complete({ ref: { type: 'ref/resource', uri: 'askpapers://paper/{id}' }, argument: { name: 'id', value: 'l' } })
    expect(completion.values).toEqual(['lora', 'length'])
    await client.close()
  })

  it('ends a call when its signal aborts, with the reason as the message', async () => {
    const deadline = new AbortController()
    deadline.abort(new Error('No answer within the request timeout of 1 s.'))
    const client = await connected({ signal: deadline.signal })
    const result = await client.callTool({ name: 'search_papers', arguments: { query: 'LoRA' } })
    expect(result).toMatchObject({ isError: true })
    expect(textOf(result)).toBe('No answer within the request timeout of 1 s.')
    await client.close()
  })

  it('waits for the engine while it loads, and reports a failed load on every call', async () => {
    let ready: (value: McpServerOptions['deps']) => void = () => {}
    const client = await connected({ deps: new Promise((resolve) => (ready = resolve)) })
    const pending = client.callTool({ name: 'get_paper', arguments: { id: 'lora' } })
    ready(deps)
    expect((await pending).isError).toBeFalsy()
    await client.close()

    const failed = await connected({ deps: Promise.reject(new Error('boom')), log: () => {} })
    const result = await failed.callTool({ name: 'get_paper', arguments: { id: 'lora' } })
    expect(textOf(result)).toBe('Unexpected server error; the server log has the details.')
    await failed.close()
  })
})
