import { z } from 'zod'
import { K_RANGE_MESSAGE, MAX_K, MAX_QUESTION_CHARS } from '../config.js'

// The tools' input and output schemas. Outputs are the public JSON contracts (`search --json`,
// `ask --json`, GET /v1/papers/{id}); objects are loose so a field added there later does not make
// a client's schema check (ajv, additionalProperties) reject the answer.

/** The number of papers: one limit and one message everywhere (config.ts). */
const k = () => z.number({ error: K_RANGE_MESSAGE }).int({ error: K_RANGE_MESSAGE }).min(1, { error: K_RANGE_MESSAGE }).max(MAX_K, { error: K_RANGE_MESSAGE })

// Emptiness, length and "no words to search for" are checked by checkSearchableQuestion in the
// handler, so the messages are the CLI's and the HTTP API's own.
const text = (description: string) => z.string({ error: 'Pass the text as a string.' }).describe(`${description} At most ${MAX_QUESTION_CHARS} characters.`)

/** The CLI's `--year`/`--source`/`--id` filters (parsed in the handler by the same function). */
const filterInput = {
  year: z.string({ error: 'year must be text such as "2023..2024".' }).optional().describe('Only papers from these years: "2023", "2023..2024", "2023.." or "..2024".'),
  sources: z.array(z.string({ error: 'sources must be an array of strings.' }), { error: 'sources must be an array of strings.' }).optional().describe('Only papers read from these input files (a path, a directory or a bare file name).'),
  ids: z.array(z.string({ error: 'ids must be an array of strings.' }), { error: 'ids must be an array of strings.' }).optional().describe('Only these paper ids.'),
}

export const SearchInput = {
  query: text('What to look for: a question or a few words, e.g. "how does LoRA reduce memory?".'),
  k: k().default(5).describe(`Number of papers, 1 to ${MAX_K} (default 5).`),
  mode: z.enum(['hybrid', 'keyword', 'dense'], { error: 'mode must be hybrid, keyword or dense.' }).default('hybrid').describe('hybrid (default): keyword and dense search fused; keyword: BM25 only; dense: embeddings only.'),
  ...filterInput,
}

export const AskInput = {
  question: text('The question, in plain words.'),
  k: k().optional().describe(`Papers to answer from, 1 to ${MAX_K} (default 5).`),
  ...filterInput,
}

export const PaperInput = {
  id: z.string({ error: 'id must be a string.' }).min(1, { error: 'The paper id is empty.' }).describe('A paper id as search_papers or ask_papers report it, e.g. "2106.09685".'),
}

const SearchResult = z.looseObject({
  id: z.string(),
  title: z.string(),
  score: z.number().describe('Fused relevance in [0, 1], comparable within one query.'),
  passages: z.array(z.string()).describe("The paper's best passages for the query, best first."),
  url: z.string().optional(),
})

export const SearchOutput = z.looseObject({ query: z.string(), results: z.array(SearchResult) })

export const AskOutput = z.looseObject({
  question: z.string(),
  answer: z.string().describe('Each claim cites its papers as [n], the n of references.'),
  abstained: z.boolean().describe('True when the papers do not answer the question; then `related` lists the closest ones.'),
  notFound: z.string().optional().describe('With an abstention: what was looked for and not found, when known.'),
  references: z.array(
    z.looseObject({
      n: z.number().int(),
      id: z.string(),
      title: z.string(),
      url: z.string().nullable(),
      quote: z.string().describe('The abstract sentence(s) that best support the citing sentences.'),
      authors: z.array(z.string()).optional(),
      year: z.number().int().optional(),
      byline: z.string().describe('The authors as a reader sees them, or what the source lacks ("7 authors; names not in the source").'),
      link: z
        .looseObject({ url: z.string(), kind: z.enum(['record', 'arxiv', 'doi', 'search']) })
        .describe('Where to find the paper; kind "search" is a title search, not the paper’s own page.'),
    }),
  ),
  related: z.array(z.looseObject({ id: z.string(), title: z.string(), url: z.string().optional(), score: z.number() })).optional(),
  checks: z
    .looseObject({
      markersTotal: z.number().int(),
      invalidMarkers: z.array(z.string()),
      uncitedSentences: z.array(z.string()),
      unsupportedCitations: z.array(z.looseObject({ n: z.number().int(), sentence: z.string() })),
      truncated: z.boolean(),
      notes: z.array(z.string()),
    })
    .describe('Citation checks (markers removed, uncited sentences, citations a cited abstract may not support) and how the answer was made.'),
  model: z.string(),
  timings: z.looseObject({ embedMs: z.number(), retrievalMs: z.number(), generationMs: z.number(), totalMs: z.number() }),
})

export const PaperOutput = z.looseObject({
  id: z.string(),
  title: z.string(),
  abstract: z.string().describe('As the source gave it (may hold LaTeX).'),
  plainAbstract: z.string().optional().describe('The abstract with LaTeX leftovers cleaned: what is searched and quoted.'),
  url: z.string().optional(),
  authors: z.array(z.string()).optional(),
  authorCount: z.number().int().optional(),
  date: z.string().optional(),
  upvotes: z.number().optional(),
  sources: z.array(z.string()).describe('The files (and lines) the paper was read from.'),
  year: z.number().int().optional().describe('From the date, else from an arXiv id.'),
  byline: z.string().optional().describe('The authors as a reader sees them, or what the source lacks.'),
  link: z.looseObject({ url: z.string(), kind: z.enum(['record', 'arxiv', 'doi', 'search']) }).optional().describe('Where to find the paper; kind "search" is a title search.'),
  sentences: z.array(z.string()).optional().describe('The cleaned abstract as the sentences answers quote from.'),
})
