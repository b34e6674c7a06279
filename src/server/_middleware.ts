import { createHash, timingSafeEqual } from 'node:crypto'
import type { MiddlewareHandler } from 'hono'
import type { AppEnv } from './app.js'
import { ApiError } from './_errors.js'
import { requestPath } from './_guards.js'

// The app's own middleware: access log, per-request deadline, bearer key, background refresh.

/** How often requests may look for a newly committed index generation (a read of the CURRENT pointer). */
export const REFRESH_EVERY_MS = 250

/**
 * Starts a refresh as a request arrives, without making the request wait: the new index is swapped
 * in when it is ready, between requests. A generation that cannot be opened is logged once.
 */
export function refreshing(refresh: () => Promise<boolean>, log: (line: string) => void): MiddlewareHandler {
  // The monotonic clock, not the app's `now`: this throttle is no measurement, and must not shift one.
  const now = (): number => performance.now()
  let last = -Infinity
  const reported = new Set<string>()
  return async (_c, next) => {
    if (now() - last >= REFRESH_EVERY_MS) {
      last = now()
      refresh().catch((error: unknown) => {
        const message = error instanceof Error ? error.message : String(error)
        if (!reported.has(message)) log(`askpapers: a newer index generation was not swapped in (${message}); still serving the one loaded.`)
        reported.add(message)
      })
    }
    await next()
  }
}

/**
 * One line per request: method, path (percent-encoded, so it cannot break the line), status,
 * milliseconds (to the end of a stream), request id, and "aborted by the client" when the client
 * went away before the reply was complete.
 */
export function accessLog(log: (line: string) => void, now: () => number): MiddlewareHandler<AppEnv> {
  return async function accessLog(c, next) {
    const started = now()
    await next()
    const line = (): void =>
      log(`${c.req.method} ${requestPath(c)} ${c.res.status} ${Math.round(now() - started)}ms ${c.get('requestId')}${c.req.raw.signal.aborted ? ' aborted by the client' : ''}`)
    const streaming = c.get('streaming')
    if (streaming) void streaming.then(line)
    else line()
  }
}

/** A per-request AbortSignal that fires after `ms` (or when the client goes away); streams keep it until they end. */
export function deadline(ms: number): MiddlewareHandler<AppEnv> {
  return async function deadline(c, next) {
    const expiry = new AbortController()
    const timer = setTimeout(() => expiry.abort(new ApiError(504, 'TIMEOUT', `No answer within the request timeout of ${formatSeconds(ms)}.`)), ms)
    c.set('signal', AbortSignal.any([expiry.signal, c.req.raw.signal]))
    try {
      await next()
    } finally {
      const streaming = c.get('streaming')
      if (streaming) void streaming.then(() => clearTimeout(timer))
      else clearTimeout(timer)
    }
  }
}

/** Bearer-token check; digests make the comparison constant-time whatever the lengths. */
export function bearer(apiKey: string): MiddlewareHandler<AppEnv> {
  const expected = sha256(apiKey)
  return async function bearer(c, next) {
    const header = c.req.header('authorization')
    const token = /^Bearer\s+(\S+)\s*$/i.exec(header ?? '')?.[1]
    if (token === undefined || !timingSafeEqual(sha256(token), expected)) {
      throw new ApiError(401, 'UNAUTHORIZED', header ? 'The API key is wrong.' : 'This server needs an API key: send Authorization: Bearer <key>.')
    }
    await next()
  }
}

const sha256 = (text: string): Buffer => createHash('sha256').update(text).digest()


export const formatSeconds = (ms: number): string => `${Math.round(ms / 100) / 10} s`
