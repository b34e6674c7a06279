import type { AnswerResult, Reference } from '../answer/index.js'

/** One exchange of a conversation, as kept in the history and in session files. */
export interface ChatTurn {
  /** What the user typed. */
  message: string
  /** The message as a question that stands on its own: what was searched for and answered. */
  standalone: string
  answer: string
  abstained: boolean
  references: Reference[]
  /** ISO 8601 time the answer was complete. */
  at: string
}

/** How the follow-up became `standalone`: by the model, by the offline rewrite, or not at all. */
export type CondensedBy = 'llm' | 'offline' | 'none'

export interface ChatTurnResult extends AnswerResult {
  /** `question` is the message as typed; this is what was answered. */
  standalone: string
  condensedBy: CondensedBy
  /** Set when the model was asked to rewrite the follow-up but failed, so the offline rewrite was used. */
  condenseWarning?: string
}

/** The contents of a session file. */
export interface SessionData {
  version: 1
  turns: ChatTurn[]
}
