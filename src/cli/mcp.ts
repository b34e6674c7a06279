import { Writable } from 'node:stream'
import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js'
import { defineCommand } from 'citty'
import { createMcpServer, type McpDeps } from '../mcp/index.js'
import type { ServiceRoot } from '../services.js'
import { indexArgs, llmArgs, openServices } from './_shared.js'
import { ensureIndexed } from './search.js'

export const mcp = defineCommand({
  meta: { name: 'mcp', description: 'Serve search, cited answers and the papers to an agent over the Model Context Protocol (stdio)' },
  args: { ...indexArgs, ...llmArgs },
  async run({ args }) {
    const protocol = reserveStdout()
    const stop = stopSignal()
    const services = await openServices(args)
    try {
      // Loaded while the client initializes (indexing the seeds on first use takes minutes): tools wait for it.
      const deps = load(services)
      deps.catch((error: unknown) => process.stderr.write(`askpapers mcp: ${error instanceof Error ? error.message : String(error)}\n`))
      const server = createMcpServer({ deps })
      await server.connect(new StdioServerTransport(process.stdin, protocol))
      process.stderr.write('askpapers mcp: ready on stdio. Stops when stdin closes, or on SIGTERM.\n')
      await stop.stopped
      await server.close()
    } finally {
      await services.close()
      stop.dispose()
    }
  },
})

async function load(services: ServiceRoot): Promise<McpDeps> {
  await ensureIndexed(services.engine)
  await services.warm()
  const { refresh } = services
  process.stderr.write(`askpapers mcp: ${services.papers.size} papers, answers by ${services.model}.\n`)
  // A long-lived agent session sees papers ingested meanwhile: each call looks for a newer committed
  // generation in the background (the swap happens between calls; see Engine.refresh).
  const look = (): void => {
    refresh?.().catch((error: unknown) => process.stderr.write(`askpapers mcp: a newer index generation was not swapped in (${error instanceof Error ? error.message : String(error)}).\n`))
  }
  return {
    search: (question, options) => (look(), services.search(question, options)),
    ask: (question, options) => (look(), services.ask(question, options)),
    papers: services.papers,
  }
}

/**
 * On stdio, stdout carries only protocol messages: a stray line (a library's console.log) would
 * break the client's parser. So everything else written to stdout goes to stderr, and the
 * transport gets the one way left to the real stdout.
 */
function reserveStdout(): Writable {
  const write = process.stdout.write.bind(process.stdout) as (chunk: Uint8Array | string, callback: (error?: Error | null) => void) => boolean
  process.stdout.write = process.stderr.write.bind(process.stderr) as typeof process.stdout.write
  return new Writable({ write: (chunk: Buffer, _encoding, callback) => void write(chunk, callback) })
}

/**
 * `stopped` resolves when the client closes stdin (it is done) or on SIGTERM/SIGINT. Listening
 * starts before "ready" is announced (a client may signal the moment it reads it) and lasts until
 * `dispose()`, after the shutdown, so a second signal cannot cut the engine's close short.
 */
function stopSignal(): { stopped: Promise<void>; dispose(): void } {
  const signals: NodeJS.Signals[] = ['SIGTERM', 'SIGINT']
  let stop = (): void => {}
  const stopped = new Promise<void>((resolve) => (stop = resolve))
  for (const s of signals) process.on(s, stop)
  process.stdin.once('end', stop).once('close', stop)
  return {
    stopped,
    dispose: () => {
      for (const s of signals) process.off(s, stop)
      process.stdin.off('end', stop).off('close', stop)
    },
  }
}
