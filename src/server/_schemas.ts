import { z } from '@hono/zod-openapi'
import { K_RANGE_MESSAGE, MAX_K, MAX_QUESTION_CHARS, searchableWordsProblem } from '../config.js'
import { isAppError } from '../errors.js'
import { parseYearRange } from '../retrieve/index.js'

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

/** The number of papers: one limit and one message everywhere (config.ts). */
const k = () => z.number({ error: K_RANGE_MESSAGE }).int({ error: K_RANGE_MESSAGE }).min(1, { error: K_RANGE_MESSAGE }).max(MAX_K, { error: K_RANGE_MESSAGE })

const stream = z.boolean({ error: 'stream must be true or false.' }).optional().openapi({ description: 'Answer as server-sent events (as with Accept: text/event-stream).' })

/** `2023`, `2023..2024`, `2023..`, `..2024`: the CLI's `--year` syntax, parsed by the same function. */
const yearText = (name: string) =>
  z.string({ error: `${name} must be a year or a range such as "2023..2024".` }).transform((value, ctx) => {
    try {
      return parseYearRange(value, name)
    } catch (error) {
      if (!isAppError(error)) throw error
      ctx.addIssue({ code: 'custom', message: error.message })
      return z.NEVER
    }
  })

const YEARS_MESSAGE = 'filters.years must be a year range: "2023..2024" (or 2023, "2023..", "..2024") or {"from": 2023, "to": 2024}.'
const year = z.number({ error: YEARS_MESSAGE }).int({ error: YEARS_MESSAGE })
const strings = (name: string, max: number) =>
  z.array(z.string({ error: `${name} must be an array of strings.` }).trim().min(1, { error: `${name} holds an empty string.` }), { error: `${name} must be an array of strings.` }).max(max, { error: `${name} holds more than ${max} entries.` })

/** Restricts retrieval to some papers (every condition given must hold); one no paper matches is a 400 naming it. */
export const Filters = z
  .object({
    years: z
      .union([z.string(), z.number(), z.object({ from: year.optional(), to: year.optional() }).strict()], { error: YEARS_MESSAGE })
      .transform((value, ctx) => {
        const range = typeof value === 'string' ? yearText('filters.years').safeParse(value) : undefined
        if (range && !range.success) {
          ctx.addIssue({ code: 'custom', message: range.error.issues[0]?.message ?? YEARS_MESSAGE })
          return z.NEVER
        }
        const years = range ? range.data : typeof value === 'number' ? { from: value, to: value } : (value as { from?: number; to?: number })
        if (years.from !== undefined && years.to !== undefined && years.from > years.to) ctx.addIssue({ code: 'custom', message: 'filters.years is an empty range: "from" is after "to".' })
        return Object.fromEntries(Object.entries(years).filter(([, v]) => v !== undefined)) as { from?: number; to?: number }
      })
      .optional()
      .openapi({ description: 'Inclusive years, from the paper\'s date (else its arXiv id): "2023..2024", 2023, "2023..", "..2024" or {"from", "to"}. Papers without a year never match.', example: '2023..2024' }),
    sources: strings('filters.sources', 100).optional().openapi({ description: 'Input files (as ingested: a path, a directory or a bare file name), any of them.', example: ['papers.jsonl'] }),
    ids: strings('filters.ids', 1000).optional().openapi({ description: 'Paper ids, any of them.', example: ['arxiv:2106.09685'] }),
  }, { error: 'filters must be an object, e.g. {"years": "2023..2024"}.' })
  .strict()
  .openapi('Filters')

export const AskRequest = z
  .object({
    question: searchable('question', 'How does LoRA reduce the memory needed for fine-tuning?'),
    k: k().optional().openapi({ description: `Papers to retrieve, 1 to ${MAX_K} (default 5).`, example: 5 }),
    filters: Filters.optional(),
    stream,
  })
  .openapi('AskRequest')

export const ChatRequest = z
  .object({
    sessionId: z.string({ error: 'sessionId must be a string.' }).min(1).max(100).optional().openapi({ description: 'Omit to start a conversation; then send the sessionId of the reply.' }),
    message: text('message', 'And how does it compare with full fine-tuning?'),
    k: k().optional().openapi({ description: `Papers to retrieve, 1 to ${MAX_K} (default 5).`, example: 5 }),
    filters: Filters.optional().openapi({ description: 'Applies to this message only; send it again with each follow-up to keep it.' }),
    stream,
  })
  .openapi('ChatRequest')

/** A query parameter that may be repeated (`?id=a&id=b`): always a list. */
function repeatedParam(name: string) {
  return z
    .union([z.string(), z.array(z.string())], { error: `${name} must be text.` })
    .optional()
    .transform((v) => (v === undefined ? undefined : [v].flat().map((x) => x.trim()).filter((x) => x !== '')))
}

export const SearchQuery = z.object({
  q: searchable('query', 'parameter-efficient fine-tuning').openapi({ param: { name: 'q', in: 'query' } }),
  k: z.coerce
    .number({ error: K_RANGE_MESSAGE })
    .pipe(k())
    .optional()
    .openapi({ param: { name: 'k', in: 'query' }, description: `Number of papers, 1 to ${MAX_K} (default 5).`, example: 5 }),
  year: yearText('year')
    .optional()
    .openapi({ param: { name: 'year', in: 'query' }, description: 'Only papers from these years: 2023, 2023..2024, 2023.. or ..2024.', example: '2023..2024' }),
  source: repeatedParam('source').openapi({ param: { name: 'source', in: 'query', style: 'form', explode: true }, description: 'Only papers read from this input file (repeat for several).' }),
  id: repeatedParam('id').openapi({ param: { name: 'id', in: 'query', style: 'form', explode: true }, description: 'Only these paper ids (repeat for several).' }),
})

export const PaperParams = z.object({
  id: z.string().min(1).openapi({ param: { name: 'id', in: 'path' }, example: '2106.09685' }),
})

const PaperLink = z
  .object({
    url: z.string(),
    kind: z.enum(['record', 'arxiv', 'doi', 'search']).openapi({
      description: 'record: the url the source gave; arxiv / doi: derived from the paper’s arXiv or DOI id; search: no link is known, so this is a title search (Google Scholar).',
    }),
  })
  .openapi('PaperLink')

/** How to cite a paper (src/corpus/_cite.ts), on every reference. */
const Citation = z.object({
  authors: z.array(z.string()).optional().openapi({ description: 'Author names, when the source lists them.' }),
  authorCount: z.number().int().optional().openapi({ description: 'Number of authors, when the source only counts them.' }),
  year: z.number().int().optional().openapi({ description: 'From the source’s date, else from an arXiv id.' }),
  byline: z.string().openapi({ description: 'The authors as a reader sees them, or what the source lacks: "7 authors; names not in the source".' }),
  link: PaperLink,
})

const Reference = z
  .object({
    n: z.number().int().openapi({ description: 'The number the answer cites the paper by: [n].' }),
    id: z.string(),
    title: z.string(),
    url: z.string().nullable(),
    quote: z.string().openapi({ description: 'The abstract sentence(s) that best support the citing sentences.' }),
    ...Citation.shape,
  })
  .openapi('Reference')

const RelatedPaper = z.object({ id: z.string(), title: z.string(), url: z.string().optional(), score: z.number(), link: PaperLink }).openapi('RelatedPaper')

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
    year: Citation.shape.year,
    byline: Citation.shape.byline,
    link: Citation.shape.link,
    sentences: z.array(z.string()).openapi({ description: 'The cleaned abstract split into the sentences answers quote from: a reference’s quote is one or two of them, joined by a space.' }),
  })
  .openapi('Paper')

export const ExamplesResponse = z
  .object({
    questions: z.array(z.object({ question: z.string(), id: z.string(), title: z.string() })).openapi({ description: 'Up to three questions made from titles of indexed papers (`id`); the same while the index is unchanged.' }),
  })
  .openapi('Examples')

const CitedReference = z.object({
  n: z.number({ error: 'Each reference needs its number n.' }).int().min(1),
  id: z.string({ error: 'Each reference needs the paper id.' }).min(1).max(500),
  title: z.string({ error: 'Each reference needs the paper title.' }).max(2000),
  url: z.string().max(2000).nullable().optional(),
  quote: z.string().max(20_000).optional(),
})

export const CitationsRequest = z
  .object({
    format: z.enum(['markdown', 'bibtex'], { error: 'format must be markdown or bibtex.' }),
    turns: z
      .array(
        z.object({
          question: z.string({ error: 'Each turn needs its question.' }).max(MAX_QUESTION_CHARS),
          answer: z.string({ error: 'Each turn needs its answer.' }).max(100_000),
          references: z.array(CitedReference).max(100),
        }),
        { error: 'turns must be a list of {question, answer, references}.' },
      )
      .min(1, { error: 'turns is empty: send at least one answered question.' })
      .max(200),
  })
  .openapi('CitationsRequest', { description: 'Answers as /v1/ask or /v1/chat returned them; each reference is completed from the index by its id (authors, date).' })

export const CitationsResponse = z
  .object({ format: z.enum(['markdown', 'bibtex']), text: z.string().openapi({ description: 'Markdown of every turn with its references, or one BibTeX @misc entry per cited paper.' }) })
  .openapi('Citations')

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
    store: z
      .object({
        kind: z.enum(['embedded', 'postgres']),
        location: z.string().openapi({ description: 'The data directory, or the database URL without its password.' }),
        version: z.string().openapi({ description: 'Changes with every commit (the generation, or the database corpus version); empty while nothing is indexed.' }),
      })
      .optional(),
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
