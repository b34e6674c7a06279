/** Every error a person can cause or fix carries a stable code; the CLI and HTTP layers map codes
 * to exit codes / statuses in exactly one place each. */
export type ErrorCode =
  | 'BAD_INPUT'
  | 'NOT_FOUND'
  | 'UNKNOWN_FORMAT'
  | 'EMPTY_FILE'
  | 'EMBEDDER_MISMATCH'
  | 'INDEX_CORRUPT'
  /** Another process is writing to the data directory (or took the write lock over). */
  | 'INDEX_LOCKED'
  | 'PROVIDER_UNAVAILABLE'
  /** The corpus database (PostgreSQL) cannot be reached, refuses the credentials, or lacks the `vector` extension. */
  | 'STORE_UNAVAILABLE'
  | 'MODEL_MISSING'
  | 'TIMEOUT'
  | 'CONFIG'
  /** The person answered no to a confirmation (`papers remove`): nothing was done, and the message says so. */
  | 'DECLINED'

export class AppError extends Error {
  readonly code: ErrorCode
  readonly field: string | undefined

  constructor(code: ErrorCode, message: string, options: { cause?: unknown; field?: string } = {}) {
    super(message, { cause: options.cause })
    this.name = 'AppError'
    this.code = code
    this.field = options.field
  }
}

export const isAppError = (e: unknown): e is AppError => e instanceof AppError
