import { isIP } from 'node:net'
import type { Context, MiddlewareHandler } from 'hono'
import { PatternRouter } from 'hono/router/pattern-router'
import { ApiError } from './_errors.js'

/**
 * DNS-rebinding guard, for a server without an API key. A page on evil.example can re-point its
 * own name at this server's address and then read the API as same-origin; its requests still
 * carry `Host: evil.example`. So only names the server is known by are answered: IP literals
 * (rebinding needs a name), localhost and *.localhost, and `allowed` (ASKPAPERS_ALLOWED_HOSTS;
 * "*" turns the check off). Host is compared without its port, case-insensitively.
 */
export function hostGuard(allowed: readonly string[]): MiddlewareHandler {
  const names = new Set(allowed.map((name) => name.trim().toLowerCase().replace(/\.$/, '')))
  return async function hostGuard(c, next) {
    if (names.has('*')) return next()
    const host = c.req.header('host') ?? new URL(c.req.url).host
    const name = hostname(host)
    if (!(isIP(name) !== 0 || name === 'localhost' || name.endsWith('.localhost') || names.has(name))) {
      const shown = JSON.stringify(host.slice(0, 100))
      throw new ApiError(
        403,
        'HOST_NOT_ALLOWED',
        `This server does not answer to the host ${shown} (without an API key it refuses names it was not given, against DNS rebinding). ` +
          `To allow it, start the server with ASKPAPERS_ALLOWED_HOSTS=${name || '<name>'} (comma-separated names), or set ASKPAPERS_API_KEY.`,
        { field: 'Host' },
      )
    }
    return next()
  }
}

/** "Example.org:8787" → "example.org", "[::1]:8787" → "::1". */
function hostname(host: string): string {
  const trimmed = host.trim().toLowerCase()
  const bracketed = /^\[([^\]]+)\](?::\d*)?$/.exec(trimmed)
  if (bracketed) return bracketed[1] ?? ''
  return trimmed.replace(/:\d*$/, '').replace(/\.$/, '')
}

/**
 * The 405 for a path some route serves with other methods (undefined when no route has the path).
 * Built from the app's registered routes, so routes added later are covered; middleware and
 * catch-all (`ALL`) routes are left out. A GET route also answers HEAD (Hono does that itself).
 */
export function methodNotAllowed(routes: readonly { method: string; path: string }[]): (method: string, path: string) => ApiError | undefined {
  let router: PatternRouter<string> | undefined
  let methods: string[] = []
  return (method, path) => {
    if (!router) {
      router = new PatternRouter<string>()
      for (const route of routes) if (route.method !== 'ALL') router.add(route.method, route.path, route.method)
      methods = [...new Set(routes.map((r) => r.method).filter((m) => m !== 'ALL'))]
    }
    const found = router
    const allow = methods.filter((m) => found.match(m, path)[0].length > 0)
    if (allow.length === 0) return undefined
    if (allow.includes('GET')) allow.push('HEAD')
    return new ApiError(405, 'METHOD_NOT_ALLOWED', `${method} is not allowed on ${loggedPath(path)}: it takes ${allow.join(', ')}.`, { headers: { Allow: allow.join(', ') } })
  }
}

/**
 * A request path as the logs write it: percent-encoded, so a decoded `%0D%0A` (Hono decodes
 * c.req.path), raw control characters or spaces cannot end a line early or fake a field.
 */
export function loggedPath(path: string): string {
  // Hono leaves %25 (and invalid escapes) encoded, so a % here already starts an escape.
  return path.replace(/[^\x21-\x7e]/gu, (char) => [...Buffer.from(char, 'utf8')].map((byte) => `%${byte.toString(16).toUpperCase().padStart(2, '0')}`).join(''))
}

/** The path of the request for a log line (see loggedPath). */
export const requestPath = (c: Context): string => loggedPath(c.req.path)
