import { z } from '@hono/zod-openapi'
import { MAX_QUESTION_CHARS, searchableWordsProblem } from '../config.js'

// One set of zod schemas validates requests and documents the API (/openapi.json).

/** A question (or chat message, or search query): trimmed, non-empty, at most MAX_QUESTION_CHARS. */
const text = (name: string, example: string) =>
  z
    .string({ error: (issue) => (issue.input === undefined ? `The ${name} is missing.` : `The ${name} must be a string.`) })
    .trim()
    .min(1, { error: `The ${name} is empty.` })
    .max(MAX_QUESTION_CHARS, { error: (issue) => `The ${name} is ${String(issue.input).length} characters long; the limit is ${MAX_QUESTION_CHARS}.` })
    .openapi({ example })

/** A question or query that must have words to search for (a chat message may lean on the conversation instead). */
const searchable = (name: string, example: string) =>
  text(name, example).superRefine((value, ctx) => {
    const problem = searchableWordsProblem(value, name)
    if (problem) ctx.addIssue({ code: 'custom', message: problem })
  })

const k = (max: number) =>
  z
    .number({ error: 'k must be a number.' })
    .int({ error: `k must be a whole number from 1 to ${max}.` })
    .min(1, { error: `k must be a whole number from 1 to ${max}.` })
    .max(max, { error: `k must be a whole number from 1 to ${max}.` })

/** Most papers an answer is written from: each costs prompt tokens. */
export const MAX_ANSWER_K = 20
export const MAX_SEARCH_K = 100

const stream = z.boolean({ error: 'stream must be true or false.' }).optional().openapi({ description: 'Answer as server-sent events (as with Accept: text/event-stream).' })

export const AskRequest = z
  .object({
    question: searchable('question', 'How does LoRA reduce the memory needed for fine-tuning?'),
    k: k(MAX_ANSWER_K).optional().openapi({ description: 'Papers to retrieve (default 5).', example: 5 }),
    stream,
  })
  .openapi('AskRequest')

export const ChatRequest = z
  .object({
    sessionId: z.string({ error: 'sessionId must be a string.' }).min(1).max(100).optional().openapi({ description: 'Omit to start a conversation; then send the sessionId of the reply.' }),
    message: text('message', 'And how does it compare with full fine-tuning?'),
    k: k(MAX_ANSWER_K).optional().openapi({ description: 'Papers to retrieve (default 5).', example: 5 }),
    stream,
  })
  .openapi('ChatRequest')

export const SearchQuery = z.object({
  q: searchable('query', 'parameter-efficient fine-tuning').openapi({ param: { name: 'q', in: 'query' } }),
  k: z.coerce
    .number({ error: 'k must be a number.' })
    .pipe(k(MAX_SEARCH_K))
    .optional()
    .openapi({ param: { name: 'k', in: 'query' }, description: `Number of papers, 1 to ${MAX_SEARCH_K} (default 5).`, example: 5 }),
})

export const PaperParams = z.object({
  id: z.string().min(1).openapi({ param: { name: 'id', in: 'path' }, example: '2106.09685' }),
})

const Reference = z
  .object({
    n: z.number().int().openapi({ description: 'The number the answer cites the paper by: [n].' }),
    id: z.string(),
    title: z.string(),
    url: z.string().nullable(),
    quote: z.string().openapi({ description: 'The abstract sentence(s) that best support the citing sentences.' }),
  })
  .openapi('Reference')

const RelatedPaper = z.object({ id: z.string(), title: z.string(), url: z.string().optional(), score: z.number() }).openapi('RelatedPaper')

const Checks = z
  .object({
    markersTotal: z.number().int(),
    invalidMarkers: z.array(z.string()),
    reformattedMarkers: z
      .array(z.string())
      .optional()
      .openapi({ description: 'Citations the model wrote in another format ("(1)", "[Paper 2]", "【1】"), as written; rewritten to [n].' }),
    uncitedSentences: z.array(z.string()),
    unsupportedCitations: z.array(z.object({ n: z.number().int(), sentence: z.string() })),
    evidence: z.object({ coverage: z.number(), dense: z.number(), unknownNames: z.array(z.string()) }),
    truncated: z.boolean(),
    interruption: z.string().optional().openapi({ description: 'With truncated: why the reply broke off, with the server’s own message (e.g. "CUDA error: out of memory").' }),
    notes: z.array(z.string()).openapi({ description: 'How the answer was made, when the reader should know: papers left out of the prompt to fit the model’s context, a context that was full.' }),
    context: z
      .object({
        windowTokens: z.number().int().optional(),
        windowSource: z.string().optional(),
        promptTokens: z.number().int(),
        numCtx: z.number().int().optional(),
        reportedPromptTokens: z.number().int().optional(),
        papersInPrompt: z.number().int(),
        papersLeftOut: z.array(z.object({ id: z.string(), title: z.string() })),
        passagesOnly: z.boolean(),
      })
      .optional()
      .openapi({ description: 'With an LLM: how the prompt was fitted to the model’s context window.' }),
    thinkingChars: z.number().int().optional().openapi({ description: 'Characters of the model’s thinking (<think>…</think>) left out of the answer.' }),
  })
  .openapi('AnswerChecks')

export const AnswerResponse = z
  .object({
    question: z.string(),
    answer: z.string(),
    abstained: z.boolean(),
    references: z.array(Reference),
    related: z.array(RelatedPaper).optional().openapi({ description: 'The closest papers, present when the answer abstains.' }),
    checks: Checks,
    model: z.string(),
    timings: z.object({ embedMs: z.number(), retrievalMs: z.number(), generationMs: z.number(), totalMs: z.number() }),
  })
  .openapi('Answer')

export const ChatResponse = AnswerResponse.extend({
  sessionId: z.string(),
  standalone: z.string().openapi({ description: 'The message rewritten as a question that stands on its own (what was searched for).' }),
  condensedBy: z.enum(['llm', 'offline', 'none']),
  condenseWarning: z.string().optional().openapi({ description: 'Set when the model could not rewrite the follow-up and the offline rewrite was used.' }),
}).openapi('ChatAnswer')

export const SearchResult = z
  .object({ id: z.string(), title: z.string(), score: z.number(), passages: z.array(z.string()), url: z.string().optional() })
  .openapi('SearchResult')

export const SearchResponse = z.object({ query: z.string(), results: z.array(SearchResult) }).openapi('SearchResults')

export const PaperResponse = z
  .object({
    id: z.string(),
    title: z.string(),
    abstract: z.string(),
    url: z.string().optional(),
    authors: z.array(z.string()).optional(),
    authorCount: z.number().int().optional(),
    date: z.string().optional(),
    upvotes: z.number().optional(),
    sources: z.array(z.string()),
  })
  .openapi('Paper')

export const HealthResponse = z
  .object({
    status: z.enum(['ok', 'degraded']).openapi({ description: '"degraded" when the index is empty or the LLM is unreachable.' }),
    index: z.object({
      loaded: z.boolean(),
      papers: z.number().int(),
      chunks: z.number().int(),
      generation: z.string().optional().openapi({ description: 'The committed index generation being served; changes when an ingest commits and the server swaps it in.' }),
    }),
    embedder: z.object({ provider: z.string(), model: z.string(), dimensions: z.number().int().nullable() }),
    llm: z.object({ provider: z.string(), model: z.string(), reachable: z.boolean() }),
  })
  .openapi('Health')

export const ErrorResponse = z
  .object({
    error: z.object({
      code: z.string().openapi({ example: 'BAD_INPUT' }),
      message: z.string(),
      field: z.string().optional().openapi({ description: 'The request field at fault.' }),
    }),
    results: z.array(SearchResult).optional().openapi({ description: 'With 503/504 from /v1/ask and /v1/chat: the papers found before answering failed.' }),
  })
  .openapi('Error')

/** What the event stream carries, for the documentation (each `data:` is one JSON object). */
export const SSE_DESCRIPTION = [
  'With `Accept: text/event-stream` or `"stream": true`: server-sent events, each `data:` one JSON object.',
  '`retrieval` {papers: [{id, title, score, url?}]} once the papers are found;',
  '`token` {text} for each piece of the answer, citation numbers already final;',
  '`done` with the same object as the JSON reply; or `error` {code, message} instead of `done`.',
  '/v1/chat also sends `standalone` {question}, the follow-up rewritten to stand alone, before `retrieval`.',
].join(' ')
