import type { Retriever, SearchHit } from '../retrieve/hybrid.js'
import {
  ABSTENTION_SENTENCE,
  createCitationRewriter,
  rewriteCitations,
  finalizeAnswer,
  type CitationChecks,
  type Reference,
  type SourcePaper,
} from './citations.js'
import { assessEvidence, composeExtractiveAnswer, type Evidence } from './offline.js'
import { formatPapers, type Prompts } from './prompts.js'
import { StreamInterruptedError, type ChatProvider } from './providers.js'

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
  signal?: AbortSignal
  /** Answer text as it is produced, already with final citation numbers. */
  onToken?: (text: string) => void
  /** The papers found, before generation starts. */
  onRetrieval?: (hits: SearchHit[]) => void
}

export interface AnswererDeps {
  retriever: Retriever
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

  async ask(question: string, { k = 5, signal, onToken, onRetrieval }: AskOptions = {}): Promise<AnswerResult> {
    const started = performance.now()
    const { hits, timings, queryVector } = await this.deps.retriever.search(question, { k })
    signal?.throwIfAborted()
    onRetrieval?.(hits)
    const retrievalMs = performance.now() - started
    const evidence: AnswerEvidence = assessEvidence(question, hits, this.deps.retriever)
    if (this.deps.everyday && queryVector) evidence.everyday = this.deps.everyday(queryVector)
    const sources: SourcePaper[] = hits.map((h) => ({ id: h.id, title: h.title, abstract: h.paper.plainAbstract, ...(h.url ? { url: h.url } : {}) }))

    const generationStarted = performance.now()
    let raw = ''
    let notFound: string | undefined
    let truncated = false
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
      const rewriter = createCitationRewriter(sources.length)
      const messages = await this.messages(question, sources)
      try {
        for await (const delta of this.deps.provider.stream(messages, signal ? { signal } : {})) {
          raw += delta
          const out = rewriter.push(delta)
          if (out) onToken?.(out)
        }
      } catch (error) {
        if (!(error instanceof StreamInterruptedError)) throw error
        truncated = true
      }
      const tail = rewriter.end()
      if (tail) onToken?.(tail)
    } else {
      const extracted = composeExtractiveAnswer(question, hits, this.deps.retriever, queryVector)
      raw = extracted.text || ABSTENTION_SENTENCE
      notFound = extracted.notFound
      onToken?.(rewriteCitations(raw, sources.length).text)
    }

    const cited = finalizeAnswer(raw, sources)
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

  private async messages(question: string, sources: SourcePaper[]): Promise<{ system: string; user: string }> {
    const { answerSystem, answerUser } = this.deps.prompts
    const papers = formatPapers(sources.map((s) => ({ title: s.title, text: s.abstract })))
    return {
      system: await answerSystem.format({ abstention: ABSTENTION_SENTENCE }),
      user: await answerUser.format({ question, papers, abstention: ABSTENTION_SENTENCE }),
    }
  }
}

/** The JSON contract of an answer, shared by `ask --json` and `POST /v1/ask`: field names are public API. */
export interface AnswerJson {
  question: string
  answer: string
  abstained: boolean
  notFound?: string
  references: { n: number; id: string; title: string; url: string | null; quote: string }[]
  related?: RelatedPaper[]
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
    references: r.references.map(({ n, id, title, url, quote }) => ({ n, id, title, url: url ?? null, quote })),
    ...(r.abstained ? { related: r.related } : {}),
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
