import { AppError } from '../../errors.js'

/** A PostgreSQL connection URL taken apart once: what to connect with, and what may be shown. */
export interface StoreTarget {
  /** The URL as given (with its password): only ever handed to `pg`. */
  url: string
  host: string
  port: number
  database: string
  user: string
  /** The URL with any password replaced by `***`: safe for messages, logs and `/health`. */
  location: string
  /** askpapers' own query parameters (`?pool_max=8&statement_timeout=30000`), removed from `url`. */
  poolMax?: number
  statementTimeoutMs?: number
  /** Where the URL came from, for the fix in messages. */
  flag: string
}

const OWN_PARAMS = { pool_max: 'poolMax', statement_timeout: 'statementTimeoutMs' } as const

/** Parses `postgres://user:pass@host:port/db?…`; a malformed URL is a CONFIG error that does not echo it. */
export function parseStoreUrl(url: string, field = 'store', flag = '--store / ASKPAPERS_STORE_URL'): StoreTarget {
  let parsed: URL
  try {
    parsed = new URL(url)
  } catch {
    throw new AppError('CONFIG', `The ${flag} URL is not a valid URL; give it as postgres://user:password@host:5432/database.`, { field })
  }
  if (parsed.protocol !== 'postgres:' && parsed.protocol !== 'postgresql:') {
    throw new AppError('CONFIG', `The ${flag} URL must start with postgres:// (got ${parsed.protocol}//…); e.g. postgres://user:password@host:5432/database.`, { field })
  }
  const own: Pick<StoreTarget, 'poolMax' | 'statementTimeoutMs'> = {}
  for (const [param, key] of Object.entries(OWN_PARAMS)) {
    const value = parsed.searchParams.get(param)
    if (value === null) continue
    if (!/^\d+$/.test(value) || Number(value) < 1) throw new AppError('CONFIG', `The ${flag} URL's ${param} must be a whole number of at least 1, not "${value}".`, { field })
    own[key] = Number(value)
    parsed.searchParams.delete(param)
  }
  const database = decodeURIComponent(parsed.pathname.replace(/^\//, '')) || decodeURIComponent(parsed.username) || 'postgres'
  const shown = new URL(parsed)
  if (shown.password) shown.password = '***'
  return {
    ...own,
    url: parsed.toString(),
    host: parsed.hostname || 'localhost',
    port: parsed.port ? Number(parsed.port) : 5432,
    database,
    user: decodeURIComponent(parsed.username) || 'postgres',
    location: shown.toString(),
    flag,
  }
}

/** The URL without its password, for anything printed. */
export const redactUrl = (url: string): string => {
  try {
    return parseStoreUrl(url).location
  } catch {
    return 'postgres://…'
  }
}
