import { citationFields, paperLink, type CitationFields, type PaperLink } from '../corpus/index.js'
import type { CorpusReader, StoredChunk } from '../index/index.js'
import type { Retriever, SearchHit, PaperFilter } from '../retrieve/index.js'
import {
  ABSTENTION_SENTENCE,
  createCitationRewriter,
  rewriteCitations,
  finalizeAnswer,
  type CitationChecks,
  type Reference,
  type SourcePaper,
} from './citations.js'
import { assessEvidence, composeExtractiveAnswer, questionTerms, type Evidence } from './offline.js'
import { formatPapers, type Prompts } from './prompts.js'
import { estimateTokens, REPLY_TOKENS, StreamInterruptedError, type ChatProvider, type ContextWindow, type Sampling, type StreamStats } from './providers.js'
import { stripThinking } from './_thinking.js'

/** The closest papers, listed when the answer abstains so the user can look for themselves. */
export interface RelatedPaper {
  id: string
  title: string
  url?: string
  score: number
}

export interface AnswerEvidence extends Evidence {
  /** Similarity of the question to the nearest everyday, non-research question (absent without dense retrieval). */
  everyday?: number
}

export interface AnswerChecks extends CitationChecks {
  /** How strongly the retrieved papers bear on the question (drives abstention). */
  evidence: AnswerEvidence
  /** The model's stream was cut off; the answer holds what arrived. */
  truncated: boolean
  /** With `truncated`: why, in words ("Ollama at … failed mid-answer: CUDA error: out of memory. …"). */
  interruption?: string
  /** Things the reader should know about how the answer was made (papers left out of the prompt…). */
  notes: string[]
  /** With an LLM: how the prompt was fitted to the model's context. */
  context?: PromptContext
  /** Characters of the model's thinking (`<think>…</think>`) dropped from the answer. */
  thinkingChars?: number
}

export interface PromptContext {
  /** Tokens the model takes (prompt and reply), and where that figure came from; absent when unknown. */
  windowTokens?: number
  windowSource?: string
  /** Estimated tokens of the prompt sent. */
  promptTokens: number
  /** The context size requested of the server (Ollama's num_ctx). */
  numCtx?: number
  /** Prompt tokens the server reports it processed. */
  reportedPromptTokens?: number
  /** Papers given to the model, numbered [1]..[n] in that order. */
  papersInPrompt: number
  /** Retrieved papers that did not fit. */
  papersLeftOut: { id: string; title: string }[]
  /** Papers were cut to their best-matching passages to fit. */
  passagesOnly: boolean
}

export interface AnswerResult {
  question: string
  answer: string
  abstained: boolean
  /** With an abstention, what was looked for and not found ("None of the retrieved abstracts reports the number of GPUs."), when known. */
  notFound?: string
  references: Reference[]
  related: RelatedPaper[]
  checks: AnswerChecks
  model: string
  timings: { embedMs: number; retrievalMs: number; generationMs: number; totalMs: number }
}

export interface AbstentionGate {
  /** Abstain when the best paper holds less than this idf-weighted share of the question's terms… */
  minCoverage: number
  /** …and no chunk is at least this similar to the question. */
  minDense: number
  /** Abstain when the question names something (DoRA, CO2) the corpus never mentions. */
  unknownNames: boolean
}

/**
 * Chosen on the dev split (README, "Answers"): the offline answerer must be strict, since it cannot
 * judge relevance itself; an LLM is told to abstain on its own, so the gate before it only stops
 * questions nothing in the corpus bears on.
 */
// Names the corpus never mentions are checked by the offline answerer itself, against the papers it
// retrieved (`composeExtractiveAnswer`), which also says which name was not found.
export const OFFLINE_GATE: AbstentionGate = { minCoverage: 0.2, minDense: 0.52, unknownNames: false }
export const LLM_GATE: AbstentionGate = { minCoverage: 0.1, minDense: 0.45, unknownNames: false }

export interface AskOptions {
  k?: number
  /** Only papers matching it are retrieved; one no paper matches is an error (BAD_INPUT). */
  filter?: PaperFilter | undefined
  signal?: AbortSignal
  /** Generation settings for the LLM (ignored by the offline answerer). */
  sampling?: Sampling
  /** Answer text as it is produced, already with final citation numbers. */
  onToken?: (text: string) => void
  /** The papers found, before generation starts. */
  onRetrieval?: (hits: SearchHit[]) => void
}

/**
 * What the answerer reads of the corpus besides the search: term statistics for the evidence checks,
 * and the found papers' chunks with their similarity to the question for the extractive answer.
 */
export type EvidenceReader = Pick<CorpusReader, 'termStats' | 'chunksOf' | 'chunkSimilarities'>

/**
 * The answerer's two narrow dependencies: `retriever` finds the papers (`Retriever.retrieve`: the
 * hits plus the question's embedding, which never leaves the answerer), and `corpus` gives the
 * evidence about them (the store the retriever searches).
 */
export interface AnswererDeps {
  retriever: Pick<Retriever, 'retrieve'>
  corpus: EvidenceReader
  prompts: Prompts
  /** No provider: the offline extractive answerer. */
  provider?: ChatProvider | undefined
  gate?: AbstentionGate
  /** Similarity of a query vector to the nearest everyday (non-research) question (`everyday.ts`). */
  everyday?: ((queryVector: readonly number[]) => number) | undefined
}

export const OFFLINE_MODEL = 'offline-extractive'

/**
 * A question that looks like everyday talk is still answered when one paper holds this share of its
 * idf-weighted terms: a search-box query ("What is PEGO?") resembles everyday questions in form
 * while naming something only the corpus knows.
 */
const OFF_TOPIC_MAX_COVERAGE = 0.5

/** Retrieval → abstention gate → generation (LLM or extractive) → citation checks. */
export class Answerer {
  private readonly gate: AbstentionGate

  constructor(private readonly deps: AnswererDeps) {
    this.gate = deps.gate ?? (deps.provider ? LLM_GATE : OFFLINE_GATE)
  }

  get model(): string {
    return this.deps.provider?.name ?? OFFLINE_MODEL
  }

  async ask(question: string, { k = 5, filter, signal, onToken, onRetrieval, sampling }: AskOptions = {}): Promise<AnswerResult> {
    const started = performance.now()
    const { hits, timings, queryVector } = await this.deps.retriever.retrieve(question, { k, filter })
    signal?.throwIfAborted()
    onRetrieval?.(hits)
    const retrievalMs = performance.now() - started
    const stats = await this.deps.corpus.termStats(questionTerms(question))
    const evidence: AnswerEvidence = assessEvidence(question, hits, stats)
    if (this.deps.everyday && queryVector) evidence.everyday = this.deps.everyday(queryVector)
    const sources: SourcePaper[] = hits.map(({ id, title, url, paper }) => ({
      id,
      title,
      abstract: paper.plainAbstract,
      ...(url ? { url } : {}),
      ...(paper.authors ? { authors: paper.authors } : {}),
      ...(paper.authorCount !== undefined ? { authorCount: paper.authorCount } : {}),
      ...(paper.date !== undefined ? { date: paper.date } : {}),
    }))

    const generationStarted = performance.now()
    let raw = ''
    let notFound: string | undefined
    let truncated = false
    let interruption: string | undefined
    let thinkingChars: number | undefined
    let context: PromptContext | undefined
    const notes: string[] = []
    // The papers the answer's [n] refer to: those the model was shown, in order.
    let prompted = sources
    // The model's text may cite as "(1)" or "[Paper 1]"; text askpapers composed cites only as [n].
    let modelWrote = false
    const weak =
      (evidence.coverage < this.gate.minCoverage && evidence.dense < this.gate.minDense) ||
      (this.gate.unknownNames && evidence.unknownNames.length > 0)
    // Nearer to an everyday question than to any passage, and no paper holds half its terms.
    const offTopic = evidence.everyday !== undefined && evidence.everyday > evidence.dense && evidence.coverage < OFF_TOPIC_MAX_COVERAGE
    if (offTopic) notFound = 'The question does not seem to be about the research papers in this collection.'
    if (hits.length === 0 || weak || offTopic) {
      raw = ABSTENTION_SENTENCE
      onToken?.(raw)
    } else if (this.deps.provider) {
      const provider = this.deps.provider
      modelWrote = true
      const fitted = await this.fitPrompt(question, hits, sources, await provider.contextWindow())
      prompted = fitted.papers
      context = fitted.context
      notes.push(...fitted.notes)
      const rewriter = createCitationRewriter(prompted.length)
      let stats: StreamStats | undefined
      try {
        for await (const delta of provider.stream(fitted.messages, { ...(signal ? { signal } : {}), ...(sampling ? { sampling } : {}), onStats: (s) => (stats = s) })) {
          raw += delta
          const out = rewriter.push(delta)
          if (out) onToken?.(out)
        }
      } catch (error) {
        if (!(error instanceof StreamInterruptedError)) throw error
        truncated = true
        interruption = error.message
      }
      const tail = rewriter.end()
      if (tail) onToken?.(tail)
      raw = stripThinking(raw)
      if (stats) {
        thinkingChars = stats.thinkingChars
        if (stats.numCtx) context.numCtx = stats.numCtx
        if (stats.promptTokens) context.reportedPromptTokens = stats.promptTokens
        // A server that processed (nearly) its whole window has most likely cut the prompt's front.
        if (stats.numCtx && stats.promptTokens && stats.promptTokens >= FULL_CONTEXT * stats.numCtx) {
          notes.push(
            `The model's context was full (${stats.promptTokens} of ${stats.numCtx} tokens): the server may have cut the start of the prompt, instructions included. ` +
              'Set ASKPAPERS_LLM_CONTEXT to the context the model takes, or ask with a smaller -k.',
          )
        }
      }
    } else {
      const chunks = queryVector ? await chunksWithSimilarity(this.deps.corpus, hits.map((h) => h.id), queryVector) : new Map()
      const extracted = composeExtractiveAnswer(question, hits, { stats, chunks }, queryVector)
      raw = extracted.text || ABSTENTION_SENTENCE
      notFound = extracted.notFound
      onToken?.(rewriteCitations(raw, sources.length, OWN_TEXT).text)
    }

    const cited = finalizeAnswer(raw, prompted, modelWrote ? {} : OWN_TEXT)
    const abstained = isAbstention(cited.answer) || (cited.answer.trim() === '' && !truncated)
    const result: AnswerResult = {
      question,
      answer: abstained ? ABSTENTION_SENTENCE : cited.answer,
      abstained,
      ...(abstained && notFound ? { notFound } : {}),
      references: abstained ? [] : cited.references,
      related: abstained ? hits.map((h) => ({ id: h.id, title: h.title, score: h.score, ...(h.url ? { url: h.url } : {}) })) : [],
      checks: {
        ...cited.checks,
        evidence: { ...evidence, coverage: round(evidence.coverage), dense: round(evidence.dense), ...(evidence.everyday !== undefined ? { everyday: round(evidence.everyday) } : {}) },
        truncated,
        ...(interruption ? { interruption } : {}),
        notes,
        ...(context ? { context } : {}),
        ...(thinkingChars !== undefined ? { thinkingChars } : {}),
      },
      model: this.model,
      timings: {
        embedMs: round(timings.embedMs),
        retrievalMs: round(retrievalMs),
        generationMs: round(performance.now() - generationStarted),
        totalMs: round(performance.now() - started),
      },
    }
    return result
  }

  /**
   * The answer prompt, fitted to the model's context: every retrieved paper whole if it fits, else
   * each cut to its best-matching passages, else the lowest-ranked papers left out (at least one
   * stays) — with a note saying so, since an answer from fewer papers than were found may miss one.
   */
  private async fitPrompt(
    question: string,
    hits: SearchHit[],
    sources: SourcePaper[],
    window: ContextWindow | undefined,
  ): Promise<{ messages: { system: string; user: string }; papers: SourcePaper[]; context: PromptContext; notes: string[] }> {
    const limit = window ? window.tokens - REPLY_TOKENS : Infinity
    const whole = sources.map((s) => ({ title: s.title, text: s.abstract }))
    const cut = hits.map((h, i) => ({ title: h.title, text: h.passages.length ? h.passages.slice(0, PASSAGES_WHEN_SHORT).join(' … ') : (sources[i]?.abstract ?? '') }))
    const size = (m: { system: string; user: string }): number => estimateTokens(m.system + m.user)
    let papers = whole
    let messages = await this.messages(question, papers)
    let passagesOnly = false
    if (size(messages) > limit) {
      passagesOnly = true
      papers = cut
      messages = await this.messages(question, papers)
    }
    while (size(messages) > limit && papers.length > 1) {
      papers = papers.slice(0, -1)
      messages = await this.messages(question, papers)
    }
    const leftOut = sources.slice(papers.length).map((s) => ({ id: s.id, title: s.title }))
    const notes: string[] = []
    const model = this.deps.provider?.name ?? 'the model'
    const where = window ? `${model}'s context (${window.tokens} tokens, ${window.source})` : `${model}'s context`
    if (leftOut.length > 0) {
      notes.push(
        `${leftOut.length} of ${sources.length} retrieved papers ${leftOut.length === 1 ? 'was' : 'were'} left out of the prompt to fit ${where}: ` +
          `${leftOut.map((p) => `"${p.title}"`).join('; ')}.`,
      )
    }
    if (passagesOnly) notes.push(`The papers were cut to their best-matching passages to fit ${where}.`)
    if (size(messages) > limit) notes.push(`The prompt (about ${size(messages)} tokens) is still larger than ${where} allows; the model may not see all of it.`)
    const context: PromptContext = {
      ...(window ? { windowTokens: window.tokens, windowSource: window.source } : {}),
      promptTokens: size(messages),
      papersInPrompt: papers.length,
      papersLeftOut: leftOut,
      passagesOnly,
    }
    return { messages, papers: sources.slice(0, papers.length), context, notes }
  }

  private async messages(question: string, papers: { title: string; text: string }[]): Promise<{ system: string; user: string }> {
    const { answerSystem, answerUser } = this.deps.prompts
    return {
      system: await answerSystem.format({ abstention: ABSTENTION_SENTENCE }),
      user: await answerUser.format({ question, papers: formatPapers(papers), abstention: ABSTENTION_SENTENCE }),
    }
  }
}

/** Each paper's chunks with their cosine similarity to a unit-length query vector, in abstract order. */
async function chunksWithSimilarity(
  corpus: EvidenceReader,
  paperIds: readonly string[],
  queryVector: readonly number[],
): Promise<Map<string, { chunk: StoredChunk; similarity: number }[]>> {
  const [chunks, sims] = await Promise.all([corpus.chunksOf(paperIds), corpus.chunkSimilarities(paperIds, queryVector)])
  return new Map([...chunks].map(([id, list]) => [id, list.map((chunk) => ({ chunk, similarity: sims.get(chunk.id) ?? 0 }))]))
}

/** Citation reading for text askpapers composed from abstracts: only its own `[n]` markers are citations. */
const OWN_TEXT = { modelForms: false } as const

/** Passages per paper when whole abstracts do not fit the model's context. */
const PASSAGES_WHEN_SHORT = 2

/** Share of its num_ctx a server must have processed for the prompt to count as (probably) cut. */
const FULL_CONTEXT = 0.9

/** The JSON contract of an answer, shared by `ask --json` and `POST /v1/ask`: field names are public API. */
export interface AnswerJson {
  question: string
  answer: string
  abstained: boolean
  notFound?: string
  /** `{n, id, title, url, quote}`, then how to cite the paper (`citationFields`: authors, year, byline, link). */
  references: ({ n: number; id: string; title: string; url: string | null; quote: string } & CitationFields)[]
  /** With an abstention: the closest papers, each with where to find it (`link`, as on references). */
  related?: (RelatedPaper & { link: PaperLink })[]
  checks: AnswerChecks
  model: string
  timings: AnswerResult['timings']
}

export function toAnswerJson(r: AnswerResult): AnswerJson {
  return {
    question: r.question,
    answer: r.answer,
    abstained: r.abstained,
    ...(r.notFound ? { notFound: r.notFound } : {}),
    references: r.references.map((ref) => ({ n: ref.n, id: ref.id, title: ref.title, url: ref.url ?? null, quote: ref.quote, ...citationFields(ref) })),
    ...(r.abstained ? { related: r.related.map((p) => ({ ...p, link: paperLink(p) })) } : {}),
    checks: r.checks,
    model: r.model,
    timings: r.timings,
  }
}

/** The model's fixed abstention sentence, allowing for case, markdown emphasis and a missing stop. */
export function isAbstention(answer: string): boolean {
  const norm = (s: string): string => s.toLowerCase().replace(/[*_`"“”]/g, '').replace(/[.\s]+$/, '').trim()
  return norm(answer) === norm(ABSTENTION_SENTENCE)
}

const round = (x: number): number => Math.round(x * 1000) / 1000
