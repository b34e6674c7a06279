import { hostname } from 'node:os'
import { isIP } from 'node:net'
import { defineCommand } from 'citty'
import { createApp, listen, loadServerConfig } from '../server/index.js'
import { chatModelProblem } from './_preflight.js'
import { indexArgs, llmArgs, openServices } from './_shared.js'
import { sanitize } from './_terminal.js'
import { ensureIndexed } from './search.js'

export const serve = defineCommand({
  meta: { name: 'serve', description: 'Answer over HTTP (JSON or server-sent events) and serve a page to ask in a browser' },
  args: {
    ...indexArgs,
    ...llmArgs,
    port: { type: 'string', description: 'Port to listen on (default 8787; 0 picks a free one)' },
    host: { type: 'string', description: 'Address to listen on (default 127.0.0.1; 0.0.0.0 for every interface)' },
  },
  async run({ args }) {
    const settings = loadServerConfig(process.env, { port: args.port, host: args.host })
    const services = await openServices(args)
    try {
      await ensureIndexed(services.engine)
      // Loaded now (the embedder, the answerer), not on the first request.
      await services.warm()
      const app = createApp({
        services,
        apiKey: settings.apiKey,
        // Besides IP literals and localhost: the names this machine and its bind address go by.
        allowedHosts: [...settings.allowedHosts, hostname(), ...(isIP(settings.host) === 0 ? [settings.host] : [])],
        corsOrigins: settings.corsOrigins,
        requestTimeoutMs: settings.requestTimeoutMs,
        sessionTtlMs: settings.sessionTtlMs,
        maxSessions: settings.maxSessions,
      })
      // Requests in flight at shutdown get as long as any request may take.
      const server = await listen(app, { port: settings.port, host: settings.host, graceMs: settings.requestTimeoutMs })
      if (!settings.apiKey && !isLoopback(settings.host)) {
        process.stderr.write(`Warning: listening on ${settings.host} without an API key; set ASKPAPERS_API_KEY to require one.\n`)
      }
      const problem = await chatModelProblem(services.engine.config, services.provider)
      if (problem) process.stderr.write(`${sanitize(`Warning: ${problem} Until then answers fail with 503; search, the papers and /health work.`)}\n`)
      process.stderr.write(`${services.papers.size} papers, answers by ${services.model}. Ctrl-C or SIGTERM stops.\n`)
      process.stdout.write(`askpapers listening on ${server.url}\n`)
      const signal = await once(['SIGTERM', 'SIGINT'])
      process.stderr.write(`${signal}: finishing requests in flight, then stopping.\n`)
      await server.close()
    } finally {
      await services.close()
    }
  },
})

function once(signals: NodeJS.Signals[]): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    const handler = (signal: NodeJS.Signals): void => {
      for (const s of signals) process.off(s, handler)
      resolve(signal)
    }
    for (const s of signals) process.on(s, handler)
  })
}

const isLoopback = (host: string): boolean => host === 'localhost' || host === '::1' || host.startsWith('127.')
