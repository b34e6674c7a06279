import { createHash } from 'node:crypto'
import { createRoute, type OpenAPIHono, type z } from '@hono/zod-openapi'
import type { Context } from 'hono'
import { streamSSE } from 'hono/streaming'
import type { ContentfulStatusCode } from 'hono/utils/http-status'
import type { ZodError } from 'zod'
import { untilAborted } from '../abort.js'
import { isAbstention, toAnswerJson, estimateTokens, type Reference } from '../answer/index.js'
import { condenseOffline, type ChatTurn, type ChatTurnResult } from '../chat/index.js'
import { checkQuestionText } from '../config.js'
import { paperLink } from '../corpus/index.js'
import { isAppError } from '../errors.js'
import type { StoredPaper } from '../index/index.js'
import type { Services } from '../services.js'
import type { AppEnv } from './app.js'
import { requestPath } from './_guards.js'
import { ApiError, cancelled, logUnexpected, timedOut, toApiError } from './_errors.js'
import {
  ChatCompletion,
  ChatCompletionChunk,
  ChatCompletionRequest,
  CHUNKS_DESCRIPTION,
  Model,
  ModelList,
  ModelParams,
  OpenAIErrorResponse,
  type TextMessage,
} from './_openai-schemas.js'

/**
 * askpapers as an OpenAI-compatible "model": POST /v1/chat/completions and GET /v1/models, so chat
 * UIs and the `openai` clients can ask it. Answers are the same as /v1/chat's — the conversation the
 * client resends is condensed by the chat module — with the citations where Perplexity's API puts
 * them (`citations`, `search_results`) and the full answer under `askpapers`.
 */
export interface OpenAIDeps {
  /** Conversations (`chat`), the answerer's `model`, and the papers (for their dates in `search_results`). */
  services: Pick<Services, 'chat' | 'model' | 'papers'>
  /** Where unexpected failures inside a stream are logged. */
  log: (line: string) => void
  /** Answered turns remembered so that a resent conversation keeps its references (see AnsweredTurns). */
  maxRemembered?: number
  /** Seconds since 1970: `created` in replies. */
  unixNow?: () => number
}

export const OWNER = 'askpapers'

/** The routes whose errors are in OpenAI's shape rather than askpapers' own. */
export function isOpenAIPath(path: string): boolean {
  return path === '/v1/chat/completions' || path === '/v1/models' || path.startsWith('/v1/models/')
}

/** An error as OpenAI sends it: `{"error": {"message", "type", "code", "param"}}`. */
export function openAIErrorBody(failure: ApiError): z.infer<typeof OpenAIErrorResponse> {
  const code = failure instanceof UnknownModelError ? 'model_not_found' : failure.code === 'UNAUTHORIZED' ? 'invalid_api_key' : failure.code.toLowerCase()
  return { error: { message: failure.message, type: failure.status >= 500 ? 'server_error' : 'invalid_request_error', code, param: failure.field ?? null } }
}

/** The error response for an OpenAI route; a timeout says not to retry (the openai clients retry 5xx twice by default). */
export function openAIError(c: Context<AppEnv>, failure: ApiError): Response {
  if (failure.status === 504) c.header('x-should-retry', 'false')
  return c.json(openAIErrorBody(failure), failure.status)
}

/** Adds the OpenAI-compatible routes to the app (behind its /v1 auth, body limit and deadline). */
export function mountOpenAI(app: OpenAPIHono<AppEnv>, { services, log, maxRemembered = 1000, unixNow = () => Math.floor(Date.now() / 1000) }: OpenAIDeps): void {
  const { papers } = services
  const models = [OWNER, `${OWNER}:${services.model}`]
  const created = unixNow()
  const remembered = new AnsweredTurns(maxRemembered)
  const model = (id: string): z.infer<typeof Model> => ({ id, object: 'model', created, owned_by: OWNER })

  app.openapi(routes.models, (c) => c.json({ object: 'list' as const, data: models.map(model) }, 200), hook)

  app.openapi(
    routes.model,
    (c) => {
      const { model: id } = c.req.valid('param')
      if (!models.includes(id)) throw new UnknownModelError(id, models)
      return c.json(model(id), 200)
    },
    hook,
  )

  app.openapi(
    routes.completions,
    async (c) => {
      const request = c.req.valid('json')
      if (!models.includes(request.model)) throw new UnknownModelError(request.model, models)
      const at = new Date(unixNow() * 1000).toISOString()
      const { question, turns } = readConversation(request.messages, remembered, at)
      const session = await services.chat({ turns })
      const reply: Reply = {
        id: `chatcmpl-${c.get('requestId')}`,
        created: unixNow(),
        model: models[1] ?? OWNER,
        promptTokens: estimateTokens(request.messages.map((m) => m.text).join('\n')),
        papers,
      }
      const answer = async (hooks: { signal: AbortSignal; onToken?: (text: string) => void }): Promise<ChatTurnResult> => {
        // The client's sampling settings go to the LLM, when there is one (the offline answerer has none to set).
        const sampling = {
          temperature: request.temperature ?? undefined,
          topP: request.top_p ?? undefined,
          maxTokens: request.max_completion_tokens ?? request.max_tokens ?? undefined,
        }
        const result = await session.send(question, { ...hooks, sampling, ...(request.k ? { k: request.k } : {}) })
        remembered.add(question, result, at)
        return result
      }
      if (request.stream) return streamCompletion(c, reply, request.stream_options?.include_usage === true, log, answer)
      const signal = c.get('signal')
      return untilAborted(answer({ signal }), signal).then(
        (result) => c.json(completion(reply, result), 200),
        (error: unknown) => {
          throw failed(error, signal)
        },
      )
    },
    hook,
  )
}

/** What every reply to one request shares. */
interface Reply {
  id: string
  created: number
  model: string
  promptTokens: number
  papers: ReadonlyMap<string, StoredPaper>
}

type Hooks = { signal: AbortSignal; onToken: (text: string) => void }

/**
 * The answer as chat.completion.chunk events: the role, the text as it is written, then the
 * citations with the finish_reason (and the usage, when asked), then [DONE]. A failure ends the
 * stream with `data: {"error": …}`, which the openai clients raise as an APIError.
 */
function streamCompletion(c: Context<AppEnv>, reply: Reply, includeUsage: boolean, log: (line: string) => void, run: (hooks: Hooks) => Promise<ChatTurnResult>): Response {
  let finished = (): void => {}
  c.set('streaming', new Promise<void>((resolve) => (finished = resolve)))
  const base = { id: reply.id, object: 'chat.completion.chunk' as const, created: reply.created, model: reply.model, ...(includeUsage ? { usage: null } : {}) }
  const chunk = (delta: { role?: 'assistant'; content?: string }, finish: 'stop' | null = null): z.infer<typeof ChatCompletionChunk> => ({
    ...base,
    choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }],
  })
  return streamSSE(c, async (sse) => {
    const closed = new AbortController()
    sse.onAbort(() => closed.abort(cancelled()))
    const signal = AbortSignal.any([c.get('signal'), closed.signal])
    let writing = Promise.resolve()
    const send = (data: object | string): void => {
      const text = typeof data === 'string' ? data : JSON.stringify(data)
      writing = writing.then(() => sse.writeSSE({ data: text }))
    }
    send(chunk({ role: 'assistant', content: '' }))
    let streamed = ''
    try {
      const result = await untilAborted(
        run({
          signal,
          onToken: (text) => {
            if (!text) return
            streamed += text
            send(chunk({ content: text }))
          },
        }),
        signal,
      )
      // The tokens are the answer; should the final text ever extend them, the rest is sent, so the deltas add up to it.
      const rest = result.answer.startsWith(streamed) ? result.answer.slice(streamed.length) : ''
      if (rest) send(chunk({ content: rest }))
      send({ ...chunk({}, 'stop'), ...citationFields(reply, result) })
      if (includeUsage) send({ ...base, choices: [], usage: usage(reply, result) })
      send('[DONE]')
    } catch (error) {
      const failure = failed(error, signal)
      logUnexpected(log, failure, { id: c.get('requestId'), method: c.req.method, path: requestPath(c) })
      send(openAIErrorBody(failure))
    } finally {
      await writing
      finished()
    }
  })
}

function completion(reply: Reply, result: ChatTurnResult): z.infer<typeof ChatCompletion> {
  return {
    id: reply.id,
    object: 'chat.completion',
    created: reply.created,
    model: reply.model,
    choices: [{ index: 0, message: { role: 'assistant', content: result.answer, refusal: null }, logprobs: null, finish_reason: 'stop' }],
    usage: usage(reply, result),
    ...citationFields(reply, result),
  }
}

/** Estimates, with the estimator that sizes prompts (about 3 characters a token): no tokenizer is at hand for every answerer. */
function usage(reply: Reply, result: ChatTurnResult): z.infer<typeof ChatCompletion>['usage'] {
  const completionTokens = estimateTokens(result.answer)
  return { prompt_tokens: reply.promptTokens, completion_tokens: completionTokens, total_tokens: reply.promptTokens + completionTokens }
}

/** `citations` and `search_results` as Perplexity's API sends them, in [n] order, and askpapers' own account. */
function citationFields(reply: Reply, result: ChatTurnResult): Pick<z.infer<typeof ChatCompletion>, 'citations' | 'search_results' | 'askpapers'> {
  const { question: _question, answer: _answer, model: _model, timings, ...answer } = toAnswerJson(result)
  return {
    citations: result.references.map(paperUrl),
    search_results: result.references.map((r) => {
      const date = reply.papers.get(r.id)?.date
      return { title: r.title, url: paperUrl(r), snippet: r.quote, ...(date ? { date } : {}) }
    }),
    askpapers: {
      ...answer,
      standalone: result.standalone,
      condensedBy: result.condensedBy,
      ...(result.condenseWarning ? { condenseWarning: result.condenseWarning } : {}),
      timings,
    },
  }
}

/**
 * A URL for every cited paper, since clients expect one: its own url; else its arXiv or DOI page
 * when the id is one (`paperLink`); else `askpapers://paper/<id>`, which names the paper without
 * pointing at the network (GET /v1/papers/<id> has the record; `askpapers.references[].link` a title search).
 */
export function paperUrl({ id, url }: Pick<Reference, 'id' | 'url'>): string {
  const link = paperLink({ id, title: '', url })
  return link.kind === 'search' ? `askpapers://paper/${encodeURIComponent(id)}` : link.url
}

/**
 * The question (the last user message) and the turns before it, as the chat module keeps them.
 * System and developer messages are accepted and do not change the answer: askpapers answers from
 * the papers with its own prompts, and an instruction to a chat UI's usual model does not apply.
 */
function readConversation(messages: readonly TextMessage[], remembered: AnsweredTurns, at: string): { question: string; turns: ChatTurn[] } {
  const last = messages.findLastIndex((m) => m.role === 'user')
  if (last < 0) throw badRequest('messages has no user message: the question is the last {"role": "user", "content": "…"} message.', 'messages')
  const after = messages.findIndex((m, i) => i > last && m.role === 'assistant')
  if (after >= 0) throw badRequest('The conversation ends with an assistant message: end it with the user’s question.', `messages[${after}].role`)
  let question: string
  try {
    question = checkQuestionText(messages[last]?.text, 'last user message')
  } catch (error) {
    throw isAppError(error) ? badRequest(error.message, `messages[${last}].content`) : error
  }

  // Each assistant answer and the user message just before it make a turn; a user message without
  // an answer, and an assistant message without a question (a greeting), are not part of any.
  const turns: ChatTurn[] = []
  let asked: string | undefined
  for (const m of messages.slice(0, last)) {
    if (m.role === 'user') asked = m.text.trim() || undefined
    if (m.role !== 'assistant') continue
    const answer = m.text.trim()
    if (asked && answer) {
      // A turn this server answered keeps its standalone question and references; another is read
      // back with the offline rewrite, the cheap and deterministic half of the chat module's condensing.
      const known = remembered.get(asked, answer)
      turns.push({ message: asked, standalone: known?.standalone ?? condenseOffline(turns, asked), answer, abstained: isAbstention(answer), references: known?.references ?? [], at: known?.at ?? at })
    }
    asked = undefined
  }
  return { question, turns }
}

/**
 * The turns this server answered, by question and answer text, most recently used last. Clients
 * resend the conversation without the references; with them, a follow-up such as "and the second
 * one?" resolves as it does in /v1/chat. Bounded: the least recently used are forgotten.
 */
class AnsweredTurns {
  private readonly turns = new Map<string, Pick<ChatTurn, 'standalone' | 'references' | 'at'>>()

  constructor(private readonly max: number) {}

  get(message: string, answer: string): Pick<ChatTurn, 'standalone' | 'references' | 'at'> | undefined {
    const key = digest(message, answer)
    const turn = this.turns.get(key)
    if (turn) {
      this.turns.delete(key)
      this.turns.set(key, turn)
    }
    return turn
  }

  add(message: string, result: ChatTurnResult, at: string): void {
    const key = digest(message, result.answer.trim())
    this.turns.delete(key)
    this.turns.set(key, { standalone: result.standalone, references: result.references.map((r) => ({ ...r })), at })
    for (const oldest of this.turns.keys()) {
      if (this.turns.size <= this.max) break
      this.turns.delete(oldest)
    }
  }
}

const digest = (message: string, answer: string): string => createHash('sha256').update(message).update('\0').update(answer).digest('hex')

class UnknownModelError extends ApiError {
  constructor(model: string, models: readonly string[]) {
    super(404, 'NOT_FOUND', `The model "${model}" does not exist here: this server answers as ${models.map((m) => `"${m}"`).join(' or ')} (GET /v1/models lists them).`, { field: 'model' })
    this.name = 'UnknownModelError'
  }
}

const badRequest = (message: string, param?: string): ApiError => new ApiError(400, 'BAD_INPUT', message, { field: param })

/** A request that fails its schema, as one 400 naming the first offending field as OpenAI does ("messages[1].content"). */
function requestError(error: ZodError): ApiError {
  const issue = error.issues[0]
  if (!issue || (issue.path.length === 0 && issue.code === 'invalid_type')) {
    return badRequest('The request body must be a JSON object: {"model": "askpapers", "messages": [{"role": "user", "content": "…"}]}.')
  }
  const param = issue.path.map((key, i) => (typeof key === 'number' ? `[${key}]` : `${i > 0 ? '.' : ''}${String(key)}`)).join('')
  return badRequest(issue.message, param)
}

const hook = (result: { success: true } | { success: false; error: ZodError }): undefined => {
  if (!result.success) throw requestError(result.error)
  return undefined
}

/** What a failed answer becomes: the deadline's 504 or the client gone, else the error's own mapping. */
function failed(error: unknown, signal: AbortSignal): ApiError {
  return timedOut(signal) ?? toApiError(error)
}

const security = [{ bearerAuth: [] }]
const errors = (...statuses: ContentfulStatusCode[]) =>
  Object.fromEntries(statuses.map((status) => [status, { description: ERROR_DESCRIPTIONS[status] ?? 'Error', content: { 'application/json': { schema: OpenAIErrorResponse } } }]))
const ERROR_DESCRIPTIONS: Partial<Record<ContentfulStatusCode, string>> = {
  400: 'Invalid request (no user message, a role or content part askpapers cannot read, wrong types, malformed JSON)',
  401: 'Missing or wrong API key (only when the server has one); code "invalid_api_key"',
  404: 'Unknown model; code "model_not_found"',
  413: 'Request body over the size limit (64 KiB by default)',
  415: 'Request body not sent as application/json',
  503: 'The LLM (or embedder) is unavailable',
  504: 'No answer within the request timeout (sent with x-should-retry: false)',
}

const routes = {
  completions: createRoute({
    method: 'post',
    path: '/v1/chat/completions',
    tags: ['openai'],
    summary: 'OpenAI-compatible chat completion: the cited answer to the last user message, the conversation condensed as in /v1/chat',
    security,
    request: { body: { required: true, content: { 'application/json': { schema: ChatCompletionRequest } } } },
    responses: {
      200: {
        description: `The answer, with \`citations\` (URLs, citations[n-1] for [n]), \`search_results\` and \`askpapers\`. ${CHUNKS_DESCRIPTION}`,
        content: { 'application/json': { schema: ChatCompletion }, 'text/event-stream': { schema: ChatCompletionChunk } },
      },
      ...errors(400, 401, 404, 413, 415, 503, 504),
    },
  }),
  models: createRoute({
    method: 'get',
    path: '/v1/models',
    tags: ['openai'],
    summary: 'The model names this server answers to: "askpapers" and "askpapers:<answerer>"',
    security,
    responses: { 200: { description: 'OpenAI model list', content: { 'application/json': { schema: ModelList } } }, ...errors(401) },
  }),
  model: createRoute({
    method: 'get',
    path: '/v1/models/{model}',
    tags: ['openai'],
    summary: 'One model name',
    security,
    request: { params: ModelParams },
    responses: { 200: { description: 'The model', content: { 'application/json': { schema: Model } } }, ...errors(401, 404) },
  }),
}
