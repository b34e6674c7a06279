import { HTTPException } from 'hono/http-exception'
import type { ContentfulStatusCode } from 'hono/utils/http-status'
import type { ZodError } from 'zod'
import { SessionBusyError } from '../chat/index.js'
import { isAppError, type ErrorCode } from '../errors.js'

/** The codes an HTTP caller can see: the application's own, plus those only HTTP has. */
export type ApiErrorCode =
  | ErrorCode
  | 'UNAUTHORIZED'
  | 'UNSUPPORTED_MEDIA_TYPE'
  | 'PAYLOAD_TOO_LARGE'
  | 'SESSION_BUSY'
  | 'CANCELLED'
  | 'INTERNAL'
  /** A known route asked with a method it does not serve (405, with Allow). */
  | 'METHOD_NOT_ALLOWED'
  /** A Host header the server does not answer to, without an API key (403): DNS rebinding. */
  | 'HOST_NOT_ALLOWED'

export interface ErrorBody {
  error: { code: ApiErrorCode; message: string; field?: string }
  [extra: string]: unknown
}

/** An error meant for the HTTP caller: a status, a stable code and a message a person can act on. */
export class ApiError extends Error {
  readonly status: ContentfulStatusCode
  readonly code: ApiErrorCode
  readonly field: string | undefined
  /** Top-level members added to the error body, e.g. the papers found before the LLM failed. */
  readonly extra: Record<string, unknown>
  /** Response headers that belong to the error, e.g. Allow on a 405. */
  readonly headers: Record<string, string>

  constructor(
    status: ContentfulStatusCode,
    code: ApiErrorCode,
    message: string,
    { field, extra = {}, headers = {}, cause }: { field?: string | undefined; extra?: Record<string, unknown>; headers?: Record<string, string>; cause?: unknown } = {},
  ) {
    super(message, { cause })
    this.name = 'ApiError'
    this.status = status
    this.code = code
    this.field = field
    this.extra = extra
    this.headers = headers
  }

  body(): ErrorBody {
    return { error: { code: this.code, message: this.message, ...(this.field ? { field: this.field } : {}) }, ...this.extra }
  }
}

/** HTTP status per application error code (the CLI's exit codes live in cli/main.ts). */
const STATUS: Record<ErrorCode, ContentfulStatusCode> = {
  BAD_INPUT: 400,
  UNKNOWN_FORMAT: 400,
  EMPTY_FILE: 400,
  NOT_FOUND: 404,
  // Raised per request only by the LLM (a rejected API key): answering is unavailable, search is not.
  CONFIG: 503,
  PROVIDER_UNAVAILABLE: 503,
  STORE_UNAVAILABLE: 503,
  MODEL_MISSING: 503,
  TIMEOUT: 504,
  EMBEDDER_MISMATCH: 500,
  INDEX_CORRUPT: 500,
  INDEX_LOCKED: 409,
  // Only the CLI asks for a confirmation; were a request ever declined, it conflicts with nothing done.
  DECLINED: 409,
}

/** The one mapping from anything thrown to what the caller sees; unknown errors say nothing of their insides. */
export function toApiError(error: unknown, extra: Record<string, unknown> = {}): ApiError {
  if (error instanceof ApiError) {
    if (Object.keys(extra).length === 0) return error
    return new ApiError(error.status, error.code, error.message, { field: error.field, extra: { ...error.extra, ...extra }, headers: error.headers, cause: error.cause })
  }
  if (error instanceof SessionBusyError) return new ApiError(409, 'SESSION_BUSY', error.message, { field: 'sessionId', extra, cause: error })
  if (isAppError(error)) return new ApiError(STATUS[error.code], error.code, error.message, { field: error.field, extra, cause: error })
  if (error instanceof HTTPException) return fromHttpException(error)
  return new ApiError(500, 'INTERNAL', 'Unexpected server error; the server log has the details.', { extra, cause: error })
}

function fromHttpException(error: HTTPException): ApiError {
  switch (error.status) {
    case 400:
      // hono's validator says "Malformed JSON in request body".
      return new ApiError(400, 'BAD_INPUT', /json/i.test(error.message) ? 'The request body is not valid JSON.' : error.message || 'Bad request.', { cause: error })
    case 413:
      return new ApiError(413, 'PAYLOAD_TOO_LARGE', 'The request body is too large.', { cause: error })
    case 415:
      return new ApiError(415, 'UNSUPPORTED_MEDIA_TYPE', 'Send the request body as JSON, with Content-Type: application/json.', { cause: error })
    case 504:
      return new ApiError(504, 'TIMEOUT', 'The request timed out.', { cause: error })
    default:
      return new ApiError(error.status as ContentfulStatusCode, error.status >= 500 ? 'INTERNAL' : 'BAD_INPUT', error.message || 'Request failed.', { cause: error })
  }
}

/** A failed request validation, as one 400 naming the first offending field. */
export function validationError(error: ZodError, target: string): ApiError {
  const issue = error.issues[0]
  const field = issue && issue.path.length > 0 ? issue.path.join('.') : undefined
  if (!field && issue?.code === 'invalid_type') {
    return new ApiError(400, 'BAD_INPUT', target === 'json' ? 'The request body must be a JSON object, e.g. {"question": "How does LoRA save memory?"}.' : `Invalid ${target}.`)
  }
  return new ApiError(400, 'BAD_INPUT', issue?.message ?? 'Invalid request.', { field })
}

/** The client went away before the reply was complete (499, as nginx logs it). */
export const cancelled = (): ApiError => new ApiError(499 as ContentfulStatusCode, 'CANCELLED', 'The client closed the request.')

/** The reason a request's signal aborted, when it did: the 504 of the deadline, or the client gone. */
export function timedOut(signal: AbortSignal): ApiError | undefined {
  if (!signal.aborted) return undefined
  return signal.reason instanceof ApiError ? signal.reason : cancelled()
}

/**
 * What the log says of a failure the caller sees only as INTERNAL: the stack, under the request id
 * and route; nothing for the failures the caller was told about.
 */
export function logUnexpected(log: (line: string) => void, failure: ApiError, request: { id: string | undefined; method: string; path: string }): void {
  if (failure.code !== 'INTERNAL') return
  const cause = failure.cause
  log(`error ${request.id ?? '-'} ${request.method} ${request.path}: ${cause instanceof Error ? (cause.stack ?? cause.message) : String(cause)}`)
}
