import { OpenAPIHono, type z } from '@hono/zod-openapi'
import type { Context } from 'hono'
import { bodyLimit } from 'hono/body-limit'
import { cors } from 'hono/cors'
import { requestId, type RequestIdVariables } from 'hono/request-id'
import { streamSSE } from 'hono/streaming'
import { untilAborted } from '../abort.js'
import { toAnswerJson, type AnswerResult } from '../answer/index.js'
import { MAX_K } from '../config.js'
import { exportCitations } from '../corpus/index.js'
import { mcpHttpHandler, paperJson } from '../mcp/index.js'
import { filterPapers, toSearchJson, toSearchResultJson, type PaperFilter, type SearchHit } from '../retrieve/index.js'
import { SessionBusyError, type SendOptions } from '../chat/index.js'
import type { Conversation, Services } from '../services.js'
import { ApiError, cancelled, logUnexpected as logFailure, timedOut, toApiError, validationError } from './_errors.js'
import { hostGuard, methodNotAllowed, requestPath } from './_guards.js'
import { isOpenAIPath, mountOpenAI, openAIError } from './_openai.js'
import { exampleQuestions, type ExampleQuestion } from './_examples.js'
import { pageHeaders, renderPage } from './_page.js'
import { accessLog, bearer, deadline, formatSeconds, refreshing } from './_middleware.js'
import { openApiDocument, routes } from './_routes.js'
import type { AnswerResponse } from './_schemas.js'
import { SessionCache } from './_sessions.js'

export type { Conversation }

/** The hooks one answer (ask or chat turn) is run with. */
type TurnOptions = Pick<SendOptions, 'signal' | 'k' | 'onToken' | 'onRetrieval'> & { onStandalone?: (question: string) => void }

export interface AppDeps {
  /** What the routes answer with (`createServices`): search, ask, chat, the papers, health. */
  services: Services
  /** Milliseconds since some epoch: access-log timings and session expiry. */
  now?: () => number
  /** One line per request (and per unexpected error); stderr by default. */
  log?: (line: string) => void
  /** When set, every /v1 route needs `Authorization: Bearer <apiKey>`. */
  apiKey?: string | undefined
  /**
   * Without an API key, the Host names requests may carry besides IP literals and localhost
   * (ASKPAPERS_ALLOWED_HOSTS; "*" for any): others are refused with 403, against DNS rebinding.
   */
  allowedHosts?: readonly string[]
  /** Origins allowed to call the API from a browser; none (no CORS headers) by default. */
  corsOrigins?: string[]
  /** A request still unanswered after this long gets 504 and its work is cancelled. */
  requestTimeoutMs?: number
  sessionTtlMs?: number
  maxSessions?: number
  maxBodyBytes?: number
}

export type AppEnv = {
  Variables: RequestIdVariables & {
    /** Aborts when the request times out (reason: the 504 ApiError) or the client goes away. */
    signal: AbortSignal
    /** Set by a streamed reply: settles when the stream ends, for the access log and the deadline. */
    streaming: Promise<void> | undefined
  }
}

export const DEFAULT_MAX_BODY_BYTES = 64 * 1024
export { REFRESH_EVERY_MS } from './_middleware.js'

const stderrLine = (line: string): void => void process.stderr.write(`${line}\n`)

/** The HTTP API and the page, as a Hono app: `app.request()` in tests, `listen()` in production. */
export function createApp({
  services,
  now = Date.now,
  log = stderrLine,
  apiKey,
  allowedHosts = [],
  corsOrigins = [],
  requestTimeoutMs = 120_000,
  sessionTtlMs = 30 * 60_000,
  maxSessions = 1000,
  maxBodyBytes = DEFAULT_MAX_BODY_BYTES,
}: AppDeps): OpenAPIHono<AppEnv> {
  const { index, refresh } = services
  const sessions = new SessionCache<Conversation>({ ttlMs: sessionTtlMs, max: maxSessions, now })
  const app = new OpenAPIHono<AppEnv>({
    defaultHook: (result) => {
      if (!result.success) throw validationError(result.error, result.target)
    },
  })

  app.use(accessLog(log, now))
  app.use(requestId())
  // With a key, a rebinding page cannot call the API anyway (it does not have the key).
  if (!apiKey) app.use(hostGuard(allowedHosts))
  if (refresh) app.use(refreshing(refresh, log))
  if (corsOrigins.length > 0) {
    app.use(cors({ origin: corsOrigins.includes('*') ? '*' : corsOrigins, allowMethods: ['GET', 'POST'], allowHeaders: ['Content-Type', 'Authorization', 'X-Request-Id', 'Mcp-Protocol-Version', 'Mcp-Session-Id'], exposeHeaders: ['X-Request-Id'], maxAge: 600 }))
  }
  if (apiKey) app.use('/v1/*', bearer(apiKey))
  app.use(
    '/v1/*',
    bodyLimit({
      maxSize: maxBodyBytes,
      onError: () => {
        throw new ApiError(413, 'PAYLOAD_TOO_LARGE', `The request body is over the ${formatBytes(maxBodyBytes)} limit.`)
      },
    }),
  )
  app.use('/v1/*', deadline(requestTimeoutMs))

  // The MCP tools (src/mcp) over Streamable HTTP, behind the same key and deadline as /v1.
  const mcp = mcpHttpHandler({ deps: services, log, maxBodyBytes })
  if (apiKey) app.use('/mcp', bearer(apiKey))
  app.use('/mcp', deadline(requestTimeoutMs))
  app.all('/mcp', (c) => mcp(c.req.raw, { signal: c.get('signal') }))

  app.openapi(routes.ask, (c) => {
    const { question, k, stream, filters } = c.req.valid('json')
    const filter = checkedFilter(filters)
    return answer(c, wantsStream(c, stream), (hooks) => services.ask(question, { ...hooks, ...(k ? { k } : {}), ...(filter ? { filter } : {}) }), answerBody)
  })

  app.openapi(routes.chat, async (c) => {
    const { sessionId, message, k, stream, filters } = c.req.valid('json')
    const filter = checkedFilter(filters)
    const known = sessionId === undefined ? undefined : sessions.get(sessionId)
    if (sessionId !== undefined && !known) {
      throw new ApiError(404, 'NOT_FOUND', `No conversation with sessionId "${sessionId}": it may have expired after ${formatMinutes(sessionTtlMs)} idle. Send the message without a sessionId to start a new one.`, { field: 'sessionId' })
    }
    const conversation = known ?? (await services.chat())
    // Checked before a stream starts, so a busy conversation is a 409, never an event.
    if (conversation.busy) throw new SessionBusyError()
    // A new conversation is kept only once its first turn succeeds, so failed starts cost no memory.
    return answer(
      c,
      wantsStream(c, stream),
      (hooks) => conversation.send(message, { ...hooks, ...(k ? { k } : {}), ...(filter ? { filter } : {}) }),
      (result) => ({ sessionId: sessionId ?? sessions.add(conversation), ...answerBody(result), standalone: result.standalone, condensedBy: result.condensedBy, ...(result.condenseWarning ? { condenseWarning: result.condenseWarning } : {}) }),
    )
  })

  app.openapi(routes.search, async (c) => {
    const { q, k = 5, year, source, id } = c.req.valid('query')
    const filter = checkedFilter({ ...(year ? { years: year } : {}), ...(source ? { sources: source } : {}), ...(id ? { ids: id } : {}) })
    const { hits } = await untilAborted(services.search(q, { k, ...(filter ? { filter } : {}) }), c.get('signal')).catch((error: unknown) => {
      throw timedOut(c.get('signal')) ?? error
    })
    return c.json(toSearchJson(q, hits), 200)
  })

  app.openapi(routes.paper, (c) => {
    const { id } = c.req.valid('param')
    const paper = index.papers.get(id)
    if (!paper) throw new ApiError(404, 'NOT_FOUND', `No paper with id "${id}" in the index.`, { field: 'id' })
    return c.json(paperJson(paper), 200)
  })

  // The page's first screen: questions this corpus answers, fixed while the index is unchanged.
  let examples: { key: string; questions: ExampleQuestion[] } | undefined
  app.openapi(routes.examples, (c) => {
    const key = `${index.generation ?? ''}\n${index.papers.size}`
    if (examples?.key !== key) examples = { key, questions: exampleQuestions(index.papers.values(), { version: index.generation ?? '' }) }
    return c.json({ questions: examples.questions }, 200)
  })

  app.openapi(routes.citations, (c) => {
    const { format, turns } = c.req.valid('json')
    // What the index knows of a paper (authors, date) completes what the client sent back.
    const completed = turns.map((turn) => ({
      ...turn,
      references: turn.references.map((ref) => {
        const paper = index.papers.get(ref.id)
        return { ...(paper ? { authors: paper.authors, authorCount: paper.authorCount, date: paper.date, url: paper.url } : {}), ...ref, url: ref.url ?? paper?.url }
      }),
    }))
    return c.json({ format, text: exportCitations(completed, format) }, 200)
  })

  app.openapi(routes.health, async (c) => c.json(await services.health(), 200))

  app.openapi(routes.page, (c) => {
    for (const [name, value] of Object.entries(pageHeaders)) c.header(name, value)
    return c.html(renderPage({ needsKey: Boolean(apiKey), maxK: MAX_K }), 200)
  })

  app.openapi(routes.openapi, (c) => c.json(openApiDocument(app), 200))

  // OpenAI-compatible chat completions and model list, for chat UIs and the openai clients (./_openai.ts).
  mountOpenAI(app, { services, log, maxRemembered: maxSessions })

  const wrongMethod = methodNotAllowed(app.routes)
  app.notFound((c) => {
    throw wrongMethod(c.req.method, c.req.path) ?? new ApiError(404, 'NOT_FOUND', `No route ${c.req.method} ${c.req.path}; /openapi.json lists the API.`)
  })

  app.onError((error, c) => {
    const failure = toApiError(error)
    logUnexpected(c, failure)
    if (failure.status === 401) c.header('WWW-Authenticate', 'Bearer')
    for (const [name, value] of Object.entries(failure.headers)) c.header(name, value)
    return isOpenAIPath(c.req.path) ? openAIError(c, failure) : c.json(failure.body(), failure.status)
  })

  app.openAPIRegistry.registerComponent('securitySchemes', 'bearerAuth', {
    type: 'http',
    scheme: 'bearer',
    description: 'Needed on /v1 routes only when the server runs with ASKPAPERS_API_KEY set.',
  })

  /**
   * The request's filter, undefined when it sets no condition; one no indexed paper matches is a 400
   * naming it, before anything is searched (and before a stream starts, so it is no event).
   */
  function checkedFilter(filters: PaperFilter | undefined): PaperFilter | undefined {
    const filter: PaperFilter = {}
    if (filters?.years && (filters.years.from !== undefined || filters.years.to !== undefined)) filter.years = filters.years
    if (filters?.sources?.length) filter.sources = filters.sources
    if (filters?.ids?.length) filter.ids = filters.ids
    if (Object.keys(filter).length === 0) return undefined
    filterPapers(index.papers.values(), filter)
    return filter
  }

  /** The caller sees only INTERNAL; the log gets the stack, under the request id. */
  function logUnexpected(c: Context<AppEnv>, failure: ApiError): void {
    logFailure(log, failure, { id: c.get('requestId'), method: c.req.method, path: requestPath(c) })
  }

  /**
   * Runs one answer (ask or chat turn) as a JSON reply or as server-sent events. A failure after
   * retrieval still hands the caller the papers found: in the error body, or as the earlier event.
   */
  function answer<R>(c: Context<AppEnv>, stream: boolean, run: (hooks: TurnOptions & { signal: AbortSignal }) => Promise<R>, body: (result: R) => object): Promise<Response> | Response {
    const signal = c.get('signal')
    if (!stream) {
      let hits: SearchHit[] | undefined
      return untilAborted(run({ signal, onRetrieval: (found) => (hits = found) }), signal).then(
        (result) => c.json(body(result), 200),
        (error: unknown) => {
          throw failed(error, signal, hits)
        },
      )
    }
    let finished = (): void => {}
    c.set('streaming', new Promise<void>((resolve) => (finished = resolve)))
    return streamSSE(c, async (sse) => {
      const closed = new AbortController()
      sse.onAbort(() => closed.abort(cancelled()))
      const streamSignal = AbortSignal.any([signal, closed.signal])
      let writing = Promise.resolve()
      const send = (event: string, data: unknown): void => {
        writing = writing.then(() => sse.writeSSE({ event, data: JSON.stringify(data) }))
      }
      let hits: SearchHit[] | undefined
      try {
        const result = await untilAborted(
          run({
            signal: streamSignal,
            onRetrieval: (found) => {
              hits = found
              send('retrieval', { papers: found.map(({ id, title, score, url }) => ({ id, title, score, ...(url ? { url } : {}) })) })
            },
            onToken: (text) => send('token', { text }),
            onStandalone: (question) => send('standalone', { question }),
          }),
          streamSignal,
        )
        send('done', body(result))
      } catch (error) {
        const failure = failed(error, streamSignal, hits)
        logUnexpected(c, failure)
        send('error', failure.body().error)
      } finally {
        await writing
        finished()
      }
    })
  }

  return app
}

function answerBody(r: AnswerResult): z.infer<typeof AnswerResponse> {
  return toAnswerJson(r)
}

function wantsStream(c: Context, stream: boolean | undefined): boolean {
  return stream ?? (c.req.header('accept') ?? '').includes('text/event-stream')
}

/** What a failed answer becomes; past retrieval, a server-side failure carries the papers found. */
function failed(error: unknown, signal: AbortSignal, hits: SearchHit[] | undefined): ApiError {
  const failure = timedOut(signal) ?? toApiError(error)
  return hits && failure.status >= 500 ? toApiError(failure, { results: hits.map(toSearchResultJson) }) : failure
}

const formatBytes = (n: number): string => (n % 1024 === 0 ? `${n / 1024} KiB` : `${n} bytes`)
const formatMinutes = (ms: number): string => (ms >= 60_000 ? `${Math.round(ms / 6000) / 10} min` : formatSeconds(ms))
