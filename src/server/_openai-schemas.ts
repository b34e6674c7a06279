import { z } from '@hono/zod-openapi'
import { K_RANGE_MESSAGE, MAX_K } from '../config.js'
import { AnswerResponse, ChatResponse } from './_schemas.js'

// The OpenAI Chat Completions wire format, as far as askpapers speaks it: one set of zod schemas
// validates requests and documents /v1/chat/completions and /v1/models in /openapi.json.

/** Roles askpapers reads; "tool" and "function" need tools it does not have. */
const ROLES = ['system', 'developer', 'user', 'assistant'] as const
export type Role = (typeof ROLES)[number]

/** A message reduced to what askpapers reads: its role and its text. */
export interface TextMessage {
  role: Role
  text: string
}

const TextPart = z.object({ type: z.literal('text'), text: z.string() })

const roleError = (input: unknown): string =>
  input === 'tool' || input === 'function'
    ? `askpapers calls no tools, so it cannot read a "${input}" message.`
    : input === undefined
      ? 'A message has no role: give each one "system", "developer", "user" or "assistant".'
      : `A message's role must be "system", "developer", "user" or "assistant", not ${JSON.stringify(input)}.`

/** A string, or text parts (joined by newlines); `at` is where a problem lies, under the message. */
function contentText(content: unknown, role: Role): { text: string } | { problem: string; at: (string | number)[] } {
  if (typeof content === 'string') return { text: content }
  // OpenAI lets an assistant message that only calls tools have no content.
  if ((content === null || content === undefined) && role === 'assistant') return { text: '' }
  if (content === undefined) return { problem: `A ${role} message has no content.`, at: ['content'] }
  if (!Array.isArray(content)) return { problem: 'A message\'s content must be a string or an array of {"type": "text", "text": …} parts.', at: ['content'] }
  const texts: string[] = []
  for (const [i, part] of content.entries()) {
    const parsed = TextPart.safeParse(part)
    if (parsed.success) {
      texts.push(parsed.data.text)
      continue
    }
    const type = typeof part === 'object' && part !== null && 'type' in part ? (part as { type: unknown }).type : undefined
    return {
      problem:
        typeof type === 'string' && type !== 'text'
          ? `askpapers reads text only; it cannot answer a content part of type "${type}".`
          : 'A content part must be {"type": "text", "text": "…"}, with text a string.',
      at: ['content', i],
    }
  }
  return { text: texts.join('\n') }
}

const ChatMessage = z
  .object({
    role: z.enum(ROLES, { error: (issue) => roleError(issue.input) }).openapi({ description: 'system and developer messages are accepted and do not change the answer.' }),
    content: z
      .unknown()
      .optional()
      .openapi({
        description: 'A string, or an array of {"type": "text", "text"} parts (joined by newlines); other parts (image_url, …) are refused.',
        oneOf: [
          { type: 'string' },
          { type: 'array', items: { type: 'object', required: ['type', 'text'], properties: { type: { type: 'string', enum: ['text'] }, text: { type: 'string' } } } },
        ],
      }),
  })
  .transform((message, ctx): TextMessage => {
    const content = contentText(message.content, message.role)
    if ('problem' in content) {
      ctx.addIssue({ code: 'custom', message: content.problem, path: content.at })
      return z.NEVER
    }
    return { role: message.role, text: content.text }
  })
  .openapi('ChatCompletionMessage')

const number = (name: string, min: number, max: number) =>
  z
    .number({ error: `${name} must be a number from ${min} to ${max}.` })
    .min(min, { error: `${name} must be a number from ${min} to ${max}.` })
    .max(max, { error: `${name} must be a number from ${min} to ${max}.` })
    .nullable()
    .optional()

const tokens = (name: string) =>
  z
    .number({ error: `${name} must be a whole number of at least 1.` })
    .int({ error: `${name} must be a whole number of at least 1.` })
    .min(1, { error: `${name} must be a whole number of at least 1.` })
    .nullable()
    .optional()

// Sampling parameters are validated like OpenAI's and passed to the answering LLM; without them it
// runs at temperature 0 so that the same question gets the same citations.
const IGNORED = 'Passed to the LLM when there is one (default: temperature 0, so the same question gets the same citations); accepted and ignored by the offline answerer.'

export const ChatCompletionRequest = z
  .object({
    model: z
      .string({ error: (issue) => (issue.input === undefined ? 'model is missing: use "askpapers" (GET /v1/models lists the choices).' : 'model must be a string.') })
      .min(1, { error: 'model is empty: use "askpapers" (GET /v1/models lists the choices).' })
      .openapi({ example: 'askpapers', description: '"askpapers", or "askpapers:<answerer>" as GET /v1/models lists.' }),
    messages: z
      .array(ChatMessage, { error: (issue) => (issue.input === undefined ? 'messages is missing: send the question as {"role": "user", "content": "…"}.' : 'messages must be an array of {role, content} objects.') })
      .min(1, { error: 'messages is empty: send the question as {"role": "user", "content": "…"}.' })
      .openapi({ description: 'The last user message is the question; earlier user and assistant messages are the conversation it follows.' }),
    stream: z.boolean({ error: 'stream must be true or false.' }).nullable().optional().openapi({ description: 'Answer as server-sent chat.completion.chunk events.' }),
    stream_options: z
      .object({ include_usage: z.boolean({ error: 'stream_options.include_usage must be true or false.' }).nullable().optional() }, { error: 'stream_options must be an object.' })
      .nullable()
      .optional(),
    temperature: number('temperature', 0, 2).openapi({ description: IGNORED }),
    top_p: number('top_p', 0, 1).openapi({ description: IGNORED }),
    max_tokens: tokens('max_tokens').openapi({ description: IGNORED }),
    max_completion_tokens: tokens('max_completion_tokens').openapi({ description: IGNORED }),
    n: z.literal(1, { error: 'askpapers gives one answer per request: n must be 1.' }).nullable().optional(),
    // Not OpenAI's: the openai clients send it as an extra body field (extra_body={"k": 8}).
    k: z
      .number({ error: K_RANGE_MESSAGE })
      .int({ error: K_RANGE_MESSAGE })
      .min(1, { error: K_RANGE_MESSAGE })
      .max(MAX_K, { error: K_RANGE_MESSAGE })
      .nullable()
      .optional()
      .openapi({ description: `askpapers' own: papers to retrieve, 1 to ${MAX_K} (default 5), as in /v1/ask.` }),
  })
  .openapi('ChatCompletionRequest')

export const ModelParams = z.object({
  model: z.string().min(1).openapi({ param: { name: 'model', in: 'path' }, example: 'askpapers' }),
})

export const SearchResultItem = z
  .object({
    title: z.string(),
    url: z.string(),
    snippet: z.string().openapi({ description: 'The abstract sentence(s) that support the answer’s citation of the paper.' }),
    date: z.string().optional(),
  })
  .openapi('ChatCompletionSearchResult')

/** The full answer as askpapers made it: the fields of /v1/chat's reply beyond the answer text. */
export const AskpapersExtras = AnswerResponse.pick({ abstained: true, references: true, related: true, checks: true, timings: true })
  .extend({
    notFound: z.string().optional().openapi({ description: 'With an abstention: what was looked for and not found, when known.' }),
    standalone: ChatResponse.shape.standalone,
    condensedBy: ChatResponse.shape.condensedBy,
    condenseWarning: ChatResponse.shape.condenseWarning,
  })
  .openapi('AskpapersAnswer')

const Usage = z
  .object({ prompt_tokens: z.number().int(), completion_tokens: z.number().int(), total_tokens: z.number().int() })
  .openapi('ChatCompletionUsage', { description: 'Estimates (about 3 characters a token) of the messages sent and the answer, not a tokenizer’s count.' })

const Citations = {
  citations: z.array(z.string()).openapi({ description: 'The URL of each cited paper: citations[n-1] is the paper the answer cites as [n].' }),
  search_results: z.array(SearchResultItem).openapi({ description: 'The cited papers, in [n] order, each with its supporting quote.' }),
  askpapers: AskpapersExtras,
}

export const ChatCompletion = z
  .object({
    id: z.string(),
    object: z.literal('chat.completion'),
    created: z.number().int(),
    model: z.string(),
    choices: z.array(
      z.object({
        index: z.number().int(),
        message: z.object({ role: z.literal('assistant'), content: z.string(), refusal: z.null() }),
        logprobs: z.null(),
        finish_reason: z.literal('stop'),
      }),
    ),
    usage: Usage,
    ...Citations,
  })
  .openapi('ChatCompletion')

export const ChatCompletionChunk = z
  .object({
    id: z.string(),
    object: z.literal('chat.completion.chunk'),
    created: z.number().int(),
    model: z.string(),
    choices: z.array(
      z.object({
        index: z.number().int(),
        delta: z.object({ role: z.literal('assistant').optional(), content: z.string().optional() }),
        logprobs: z.null(),
        finish_reason: z.literal('stop').nullable(),
      }),
    ),
    usage: Usage.nullable().optional(),
    // Only on the chunk with the finish_reason.
    citations: Citations.citations.optional(),
    search_results: Citations.search_results.optional(),
    askpapers: Citations.askpapers.optional(),
  })
  .openapi('ChatCompletionChunk')

export const Model = z
  .object({ id: z.string(), object: z.literal('model'), created: z.number().int(), owned_by: z.literal('askpapers') })
  .openapi('Model')

export const ModelList = z.object({ object: z.literal('list'), data: z.array(Model) }).openapi('ModelList')

export const OpenAIErrorResponse = z
  .object({
    error: z.object({
      message: z.string(),
      type: z.string().openapi({ example: 'invalid_request_error' }),
      code: z.string().nullable().openapi({ example: 'model_not_found' }),
      param: z.string().nullable().openapi({ example: 'model', description: 'The request field at fault, e.g. "messages[1].content".' }),
    }),
  })
  .openapi('OpenAIError')

export const CHUNKS_DESCRIPTION = [
  'With `"stream": true`: server-sent events, each `data:` one ChatCompletionChunk.',
  'First a delta with the role, then content deltas as the answer is written (citation numbers already final),',
  'then a chunk with `finish_reason: "stop"` that carries `citations`, `search_results` and `askpapers`,',
  'with `stream_options.include_usage` a chunk with empty `choices` and the `usage`, then `data: [DONE]`.',
  'A failure after the stream began arrives as `data: {"error": {…}}` instead of the rest.',
].join(' ')
