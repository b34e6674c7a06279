import { createRoute, z, type OpenAPIHono } from '@hono/zod-openapi'
import type { ContentfulStatusCode } from 'hono/utils/http-status'
import { VERSION } from '../config.js'
import type { AppEnv } from './app.js'
import {
  AnswerResponse,
  AskRequest,
  ChatRequest,
  ChatResponse,
  CitationsRequest,
  CitationsResponse,
  ErrorResponse,
  ExamplesResponse,
  HealthResponse,
  PaperParams,
  PaperResponse,
  SearchQuery,
  SearchResponse,
  SSE_DESCRIPTION,
} from './_schemas.js'

// The API's routes as /openapi.json documents them; app.ts binds a handler to each.

const security = [{ bearerAuth: [] }]
const errors = (...statuses: ContentfulStatusCode[]) =>
  Object.fromEntries(statuses.map((status) => [status, { description: ERROR_DESCRIPTIONS[status] ?? 'Error', content: { 'application/json': { schema: ErrorResponse } } }]))
const ERROR_DESCRIPTIONS: Partial<Record<ContentfulStatusCode, string>> = {
  400: 'Invalid request (missing, empty or over-long text, wrong types, malformed JSON)',
  401: 'Missing or wrong API key (only when the server has one)',
  404: 'Not found',
  409: 'The conversation is still answering its previous message',
  413: 'Request body over the size limit (64 KiB by default)',
  415: 'Request body not sent as application/json',
  503: 'The LLM (or embedder) is unavailable; `results` holds the papers found, if any',
  504: 'No answer within the request timeout; `results` holds the papers found, if any',
}
const answerContent = (schema: typeof AnswerResponse | typeof ChatResponse) => ({
  'application/json': { schema },
  'text/event-stream': { schema: z.string().openapi({ description: SSE_DESCRIPTION }) },
})

/** Every route, as documented in /openapi.json; handlers get their inputs validated by these schemas. */
export const routes = {
  ask: createRoute({
    method: 'post',
    path: '/v1/ask',
    tags: ['answers'],
    summary: 'Answer a question from the papers, citing each claim [n], or abstain',
    security,
    request: { body: { required: true, content: { 'application/json': { schema: AskRequest } } } },
    responses: { 200: { description: `The answer. ${SSE_DESCRIPTION}`, content: answerContent(AnswerResponse) }, ...errors(400, 401, 413, 415, 503, 504) },
  }),
  chat: createRoute({
    method: 'post',
    path: '/v1/chat',
    tags: ['answers'],
    summary: 'One turn of a conversation: follow-up questions are rewritten to stand alone, then answered',
    security,
    request: { body: { required: true, content: { 'application/json': { schema: ChatRequest } } } },
    responses: { 200: { description: `The answer and the sessionId to continue with. ${SSE_DESCRIPTION}`, content: answerContent(ChatResponse) }, ...errors(400, 401, 404, 409, 413, 415, 503, 504) },
  }),
  search: createRoute({
    method: 'get',
    path: '/v1/search',
    tags: ['papers'],
    summary: 'Papers that bear on a query (hybrid keyword + dense search), with their best passages',
    security,
    request: { query: SearchQuery },
    responses: { 200: { description: 'Ranked papers', content: { 'application/json': { schema: SearchResponse } } }, ...errors(400, 401, 503, 504) },
  }),
  paper: createRoute({
    method: 'get',
    path: '/v1/papers/{id}',
    tags: ['papers'],
    summary: 'One paper record',
    security,
    request: { params: PaperParams },
    responses: { 200: { description: 'The paper', content: { 'application/json': { schema: PaperResponse } } }, ...errors(401, 404) },
  }),
  examples: createRoute({
    method: 'get',
    path: '/v1/examples',
    tags: ['papers'],
    summary: 'Three example questions made from titles of indexed papers (the page’s first screen)',
    security,
    responses: { 200: { description: 'Example questions', content: { 'application/json': { schema: ExamplesResponse } } }, ...errors(401) },
  }),
  citations: createRoute({
    method: 'post',
    path: '/v1/citations',
    tags: ['answers'],
    summary: 'Answers and their references as Markdown, or the cited papers as BibTeX',
    security,
    request: { body: { required: true, content: { 'application/json': { schema: CitationsRequest } } } },
    responses: { 200: { description: 'The export', content: { 'application/json': { schema: CitationsResponse } } }, ...errors(400, 401, 413, 415) },
  }),
  health: createRoute({
    method: 'get',
    path: '/health',
    tags: ['service'],
    summary: 'Index size, embedder, and whether the LLM answers',
    responses: { 200: { description: 'Service state', content: { 'application/json': { schema: HealthResponse } } } },
  }),
  page: createRoute({
    method: 'get',
    path: '/',
    tags: ['service'],
    summary: 'A web page to ask questions in a browser',
    responses: { 200: { description: 'HTML page', content: { 'text/html': { schema: z.string() } } } },
  }),
  openapi: createRoute({
    method: 'get',
    path: '/openapi.json',
    tags: ['service'],
    summary: 'This document',
    responses: { 200: { description: 'OpenAPI 3 document', content: { 'application/json': { schema: z.record(z.string(), z.unknown()) } } } },
  }),
}

export function openApiDocument(app: OpenAPIHono<AppEnv>): Record<string, unknown> {
  return app.getOpenAPIDocument({
    openapi: '3.0.3',
    info: {
      title: 'askpapers',
      version: VERSION,
      description: 'Cited answers from research-paper abstracts. Every error is {"error": {"code", "message", "field"?}}.',
    },
  }) as unknown as Record<string, unknown>
}
