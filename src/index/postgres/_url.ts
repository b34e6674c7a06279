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
}

/** Parses `postgres://user:pass@host:port/db?…`; a malformed URL is a CONFIG error that does not echo it. */
export function parseStoreUrl(url: string, field = 'store'): StoreTarget {
  let parsed: URL
  try {
    parsed = new URL(url)
  } catch {
    throw new AppError('CONFIG', `The --store URL is not a valid URL; give it as postgres://user:password@host:5432/database.`, { field })
  }
  if (parsed.protocol !== 'postgres:' && parsed.protocol !== 'postgresql:') {
    throw new AppError('CONFIG', `The --store URL must start with postgres:// (got ${parsed.protocol}//…); e.g. postgres://user:password@host:5432/database.`, { field })
  }
  const database = decodeURIComponent(parsed.pathname.replace(/^\//, '')) || decodeURIComponent(parsed.username) || 'postgres'
  const shown = new URL(url)
  if (shown.password) shown.password = '***'
  return {
    url,
    host: parsed.hostname || 'localhost',
    port: parsed.port ? Number(parsed.port) : 5432,
    database,
    user: decodeURIComponent(parsed.username) || 'postgres',
    location: shown.toString(),
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
