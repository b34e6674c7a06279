import { AppError } from '../../errors.js'
import type { StoreTarget } from './_url.js'

/** What `pg` (and Node's net module) put on the errors it throws. */
interface PgLikeError {
  code?: string
  message?: string
}

const UNREACHABLE = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'ECONNRESET'])

export const CREATE_EXTENSION_HINT = 'CREATE EXTENSION vector;'

/**
 * Turns a connection or query failure into an AppError a person can act on: which server, which
 * database, what went wrong and the fix. The password is never part of it (see `StoreTarget.location`).
 * Errors that are not about reaching or using the database are returned unchanged.
 */
export function storeError(error: unknown, target: StoreTarget, options: { statementTimeoutMs?: number } = {}): unknown {
  if (error instanceof AppError) return error
  const e = (error ?? {}) as PgLikeError
  const code = e.code ?? ''
  const message = e.message ?? String(error)
  const where = `${target.host}:${target.port}`
  const db = `database "${target.database}"`
  if (UNREACHABLE.has(code) || /timeout expired|Connection terminated unexpectedly/i.test(message)) {
    return new AppError(
      'STORE_UNAVAILABLE',
      `Cannot reach PostgreSQL at ${where} (${db}): ${describeNetwork(code, message)}. Start the server or fix the host and port in ${target.flag}.`,
      { cause: error },
    )
  }
  if (code === '28P01' || code === '28000') {
    return new AppError(
      'STORE_UNAVAILABLE',
      `PostgreSQL at ${where} refused user "${target.user}" for ${db} (${code === '28P01' ? 'wrong password' : 'not allowed by pg_hba.conf'}). Fix the user and password in ${target.flag}.`,
      { cause: error },
    )
  }
  if (code === '3D000') {
    return new AppError('STORE_UNAVAILABLE', `PostgreSQL at ${where} has no ${db}. Create it (\`createdb ${target.database}\`) or fix the database name in ${target.flag}.`, { cause: error })
  }
  if (isMissingVector(code, message)) {
    return new AppError(
      'STORE_UNAVAILABLE',
      `The pgvector extension is not available in ${db} on ${where}: install pgvector on the server, then run \`${CREATE_EXTENSION_HINT}\` in that database as its owner or a superuser.`,
      { cause: error },
    )
  }
  if (code === '57014' && /statement timeout/i.test(message)) {
    const ms = options.statementTimeoutMs ? ` (${options.statementTimeoutMs} ms)` : ''
    return new AppError('TIMEOUT', `A query to PostgreSQL at ${where} (${db}) ran longer than the statement timeout${ms}; raise it by adding ?statement_timeout=MS to the URL (${target.flag}), or check the server's load.`, {
      cause: error,
    })
  }
  return error
}

function isMissingVector(code: string, message: string): boolean {
  // 0A000: extension not available on the server; 42501: not allowed to create it; 42704: type vector does not exist.
  return (code === '0A000' && /extension "vector"/.test(message)) || (code === '42501' && /extension|vector/i.test(message)) || (code === '42704' && /type "vector"/.test(message))
}

function describeNetwork(code: string, message: string): string {
  switch (code) {
    case 'ECONNREFUSED':
      return 'connection refused (nothing listens there)'
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return 'unknown host'
    case 'ETIMEDOUT':
      return 'the connection timed out'
    default:
      return /timeout expired/i.test(message) ? 'the connection timed out' : message
  }
}
