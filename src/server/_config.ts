import { z } from 'zod'
import { AppError } from '../errors.js'

/** How `askpapers serve` listens and guards the API, parsed once from env and flags. */
const ServerConfigSchema = z.object({
  port: z.number().int().min(0).max(65_535),
  host: z.string().min(1),
  apiKey: z.string().min(1).optional(),
  /** Host names answered besides IP literals and localhost, when there is no API key (DNS rebinding); "*" for any. */
  allowedHosts: z.array(z.union([z.literal('*'), z.string().regex(/^[a-z0-9]([a-z0-9.-]*[a-z0-9])?$/i, 'a host name looks like papers.example.org (no scheme, port or path)')])),
  corsOrigins: z.array(z.union([z.literal('*'), z.string().regex(/^https?:\/\/[^/\s]+$/, 'an origin looks like https://example.org (no path)')])),
  requestTimeoutMs: z.number().int().positive(),
  sessionTtlMs: z.number().int().positive(),
  maxSessions: z.number().int().positive(),
})
export type ServerConfig = z.infer<typeof ServerConfigSchema>

export interface ServerFlags {
  port?: string | undefined
  host?: string | undefined
}

export function loadServerConfig(env: NodeJS.ProcessEnv, flags: ServerFlags = {}): ServerConfig {
  const raw = {
    port: Number(flags.port ?? 8787),
    host: flags.host ?? '127.0.0.1',
    apiKey: env.ASKPAPERS_API_KEY || undefined,
    allowedHosts: (env.ASKPAPERS_ALLOWED_HOSTS ?? '')
      .split(',')
      .map((h) => h.trim().replace(/\.$/, ''))
      .filter(Boolean),
    corsOrigins: (env.ASKPAPERS_CORS_ORIGINS ?? '')
      .split(',')
      .map((o) => o.trim().replace(/\/+$/, ''))
      .filter(Boolean),
    requestTimeoutMs: Number(env.ASKPAPERS_REQUEST_TIMEOUT_MS ?? 120_000),
    sessionTtlMs: Number(env.ASKPAPERS_SESSION_TTL_MS ?? 30 * 60_000),
    maxSessions: Number(env.ASKPAPERS_MAX_SESSIONS ?? 1000),
  }
  const parsed = ServerConfigSchema.safeParse(raw)
  if (!parsed.success) {
    const issue = parsed.error.issues[0]
    const field = String(issue?.path[0] ?? 'config')
    const names: Record<string, string> = {
      port: '--port',
      host: '--host',
      corsOrigins: 'ASKPAPERS_CORS_ORIGINS',
      allowedHosts: 'ASKPAPERS_ALLOWED_HOSTS',
      requestTimeoutMs: 'ASKPAPERS_REQUEST_TIMEOUT_MS',
      sessionTtlMs: 'ASKPAPERS_SESSION_TTL_MS',
      maxSessions: 'ASKPAPERS_MAX_SESSIONS',
    }
    throw new AppError('CONFIG', `Invalid ${names[field] ?? field}: ${issue?.message ?? 'invalid value'}.`, { field })
  }
  return parsed.data
}
