import type { Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { serve } from '@hono/node-server'
import type { Engine } from '../engine.js'
import { AppError } from '../errors.js'
import { servicesOver, type Services } from '../services.js'

export interface ListenOptions {
  port?: number
  host?: string
  /** After close(), requests still running after this long are cut off. */
  graceMs?: number
}

export interface RunningServer {
  /** e.g. http://127.0.0.1:8787/ */
  url: string
  port: number
  /** Stops accepting connections, lets requests in flight finish (up to graceMs), then resolves. */
  close(): Promise<void>
}

/** Listens on host:port (port 0: any free one) with @hono/node-server. */
export async function listen(app: { fetch: (request: Request) => Response | Promise<Response> }, { port = 8787, host = '127.0.0.1', graceMs = 30_000 }: ListenOptions = {}): Promise<RunningServer> {
  const server = await new Promise<Server>((resolve, reject) => {
    const started = serve({ fetch: app.fetch, port, hostname: host }) as Server
    started.once('listening', () => resolve(started))
    started.once('error', (error: NodeJS.ErrnoException) => {
      reject(
        error.code === 'EADDRINUSE'
          ? new AppError('CONFIG', `Port ${port} on ${host} is already in use: pick another with --port.`, { field: 'port', cause: error })
          : new AppError('CONFIG', `Cannot listen on ${host}:${port}: ${error.message}`, { field: 'host', cause: error }),
      )
    })
  })
  const { port: bound } = server.address() as AddressInfo
  let closing: Promise<void> | undefined
  return {
    url: `http://${host.includes(':') ? `[${host}]` : host}:${bound}/`,
    port: bound,
    close: () => (closing ??= shutDown(server, graceMs)),
  }
}

/**
 * Graceful: no new connections; requests in flight (streams too) run to their end; idle keep-alive
 * connections are closed as soon as they are idle, so close() does not wait out their timeout.
 */
function shutDown(server: Server, graceMs: number): Promise<void> {
  return new Promise((resolve) => {
    const idle = setInterval(() => server.closeIdleConnections(), 100)
    const cutOff = setTimeout(() => server.closeAllConnections(), graceMs)
    server.close(() => {
      clearInterval(idle)
      clearTimeout(cutOff)
      resolve()
    })
    server.closeIdleConnections()
  })
}

export interface EngineDeps {
  services: Services
}

/**
 * The app's services over an open engine, ready to serve (the embedder is loaded now, not on the
 * first request), and live: each call goes to the index the engine holds at that moment, and
 * `refresh` swaps in a generation another process committed (`Engine.refresh`).
 */
export async function engineDeps(engine: Engine): Promise<EngineDeps> {
  const services = servicesOver(engine)
  await services.warm()
  return { services }
}
