import type { Answerer, Prompts, ChatProvider, Sampling } from '../answer/index.js'
import { checkQuestionText } from '../config.js'
import { AppError } from '../errors.js'
import type { SearchHit, PaperFilter } from '../retrieve/index.js'
import { condenseOffline, condenseWithModel, CondenseFailure } from './_condense.js'
import type { ChatTurn, ChatTurnResult, CondensedBy, SessionData } from './_types.js'

export interface ChatSessionDeps {
  answerer: Pick<Answerer, 'ask'>
  /** Rewrites follow-ups with the condensing prompt; without one, the offline rewrite does. */
  provider?: ChatProvider | undefined
  prompts: Prompts
  /** The clock that stamps turns. */
  now?: () => Date
}

export interface ChatSessionOptions {
  /** Turns of history kept; the oldest go first. */
  maxTurns?: number
  /** Characters of history kept (messages and answers); the oldest turns go first, the newest always stays. */
  maxChars?: number
  /** History to resume from (e.g. a session file); bounded like any other. */
  turns?: ChatTurn[]
  /** Longest wait for the model's rewrite of a follow-up before the offline rewrite is used. */
  condenseTimeoutMs?: number
}

export interface SendOptions {
  signal?: AbortSignal
  /** Papers to retrieve (default 5). */
  k?: number
  /** Only papers matching it are retrieved (see `AskOptions.filter`). */
  filter?: PaperFilter | undefined
  /** Answer text as it is produced, with final citation numbers. */
  onToken?: (text: string) => void
  /** The papers found, before generation starts. */
  onRetrieval?: (hits: SearchHit[]) => void
  /** The standalone question, once known and before retrieval, and how it was made. */
  onStandalone?: (question: string, how: { condensedBy: CondensedBy; warning?: string }) => void
  /** Generation settings for the answer's LLM (not the condensing, which stays at temperature 0). */
  sampling?: Sampling
}

/**
 * A message sent while the conversation is still answering the previous one: the one busy guard,
 * which the HTTP API reports as 409 SESSION_BUSY and a library caller sees as BAD_INPUT.
 */
export class SessionBusyError extends AppError {
  constructor() {
    super('BAD_INPUT', 'This conversation is still answering the previous message; wait for it, then send the next.', { field: 'message' })
    this.name = 'SessionBusyError'
  }
}

/**
 * A conversation: each message is rewritten as a standalone question from the bounded history,
 * answered with citations, and remembered. One message at a time; a cancelled one leaves no trace.
 */
export class ChatSession {
  private history: ChatTurn[]
  private readonly maxTurns: number
  private readonly maxChars: number
  private readonly condenseTimeoutMs: number
  private readonly now: () => Date
  private answering = false

  constructor(
    private readonly deps: ChatSessionDeps,
    { maxTurns = 6, maxChars = 6_000, turns = [], condenseTimeoutMs = 30_000 }: ChatSessionOptions = {},
  ) {
    this.maxTurns = maxTurns
    this.maxChars = maxChars
    this.condenseTimeoutMs = condenseTimeoutMs
    this.now = deps.now ?? (() => new Date())
    this.history = bound(turns.map(copyTurn), maxTurns, maxChars)
  }

  /** A message is being answered: another sent now fails with SessionBusyError. */
  get busy(): boolean {
    return this.answering
  }

  get turns(): readonly ChatTurn[] {
    return this.history
  }

  async send(message: string, { signal, k, filter, onToken, onRetrieval, onStandalone, sampling }: SendOptions = {}): Promise<ChatTurnResult> {
    const text = checkQuestionText(message, 'message')
    if (this.answering) throw new SessionBusyError()
    this.answering = true
    try {
      signal?.throwIfAborted()
      const { standalone, condensedBy, warning } = await this.condense(text, signal)
      signal?.throwIfAborted()
      onStandalone?.(standalone, { condensedBy, ...(warning ? { warning } : {}) })
      const result = await this.deps.answerer.ask(standalone, {
        k,
        filter,
        ...(signal ? { signal } : {}),
        ...(sampling ? { sampling } : {}),
        ...(onToken ? { onToken } : {}),
        ...(onRetrieval ? { onRetrieval } : {}),
      })
      // An answer that completes just as the user cancels is still cancelled: it is not remembered.
      signal?.throwIfAborted()
      const turn: ChatTurn = {
        message: text,
        standalone,
        answer: result.answer,
        abstained: result.abstained,
        references: result.references.map((r) => ({ ...r })),
        at: this.now().toISOString(),
      }
      this.history = bound([...this.history, turn], this.maxTurns, this.maxChars)
      return { ...result, question: text, standalone, condensedBy, ...(warning ? { condenseWarning: warning } : {}) }
    } finally {
      this.answering = false
    }
  }

  /** Forgets the conversation: the next message is read on its own. */
  reset(): void {
    this.history = []
  }

  toJSON(): SessionData {
    return { version: 1, turns: this.history.map(copyTurn) }
  }

  private async condense(message: string, signal: AbortSignal | undefined): Promise<{ standalone: string; condensedBy: CondensedBy; warning?: string }> {
    if (this.history.length === 0) return { standalone: message, condensedBy: 'none' }
    let warning: string | undefined
    if (this.deps.provider) {
      try {
        const standalone = await condenseWithModel(this.deps.provider, this.deps.prompts, this.history, message, {
          signal,
          timeoutMs: this.condenseTimeoutMs,
          maxChars: this.maxChars,
        })
        return { standalone, condensedBy: 'llm' }
      } catch (error) {
        if (!(error instanceof CondenseFailure)) throw error
        warning = `The model could not rewrite the follow-up (${error.message}); used the offline rewrite.`
      }
    }
    const standalone = condenseOffline(this.history, message)
    return { standalone, condensedBy: standalone === message ? 'none' : 'offline', ...(warning ? { warning } : {}) }
  }
}

/** The newest turns within both bounds; the newest turn stays even when it alone is over `maxChars`. */
function bound(turns: ChatTurn[], maxTurns: number, maxChars: number): ChatTurn[] {
  const kept = turns.slice(-Math.max(1, maxTurns))
  let size = kept.reduce((sum, t) => sum + turnChars(t), 0)
  while (kept.length > 1 && size > maxChars) size -= turnChars(kept.shift() as ChatTurn)
  return kept
}

const turnChars = (t: ChatTurn): number => t.message.length + t.answer.length

const copyTurn = (t: ChatTurn): ChatTurn => ({ ...t, references: t.references.map((r) => ({ ...r })) })
