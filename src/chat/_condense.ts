import { stemmer } from 'stemmer'
import type { Prompts } from '../answer/prompts.js'
import { StreamInterruptedError, type ChatProvider } from '../answer/providers.js'
import { MAX_QUESTION_CHARS } from '../config.js'
import { isAppError } from '../errors.js'
import { termSet, tokenize } from '../retrieve/tokenize.js'
import type { ChatTurn } from './_types.js'

/** Topic words carried over from the previous question, at most. */
const MAX_TOPIC_WORDS = 8
/** Titles of cited papers carried over, at most. */
const MAX_TITLES = 5
/** A message of this many words or fewer, naming nothing, leans on the conversation ("memory?", "why?"). */
const SHORT_WORDS = 3
/** A lead-in ("and", "what about") marks a follow-up only in a message this short. */
const LEAD_IN_WORDS = 8

const WORD = /[\p{L}\p{N}]+(?:[-'’][\p{L}\p{N}]+)*/gu

// Words a follow-up uses without naming a topic of its own ("why?", "more details please").
// tokenize() already drops question words and glue; these are the conversational ones it keeps.
const GENERIC = new Set(
  (
    'much many well good better best compare comparison differ difference different mean means meaning say says said know ' +
    'think give get make like kind example examples detail details less else exactly really just please one ones thing ' +
    'things way ways happen role help need want important main key idea ideas result results elaborate clarify expand ' +
    'summarize summarise summary further again hello hi thanks thank ok okay yes sure'
  )
    .split(' ')
    .map((w) => stemmer(w)),
)

const PRONOUN = /\b(?:it|its|it's|itself|they|them|their|theirs|themselves|these|those|this)\b/giu
const PLURAL = /\b(?:they|them|their|theirs|themselves|these|those|both)\b|\bthe (?:papers|methods|approaches|works|studies|authors)\b/iu
const DEICTIC =
  /\b(?:that|the same|the above|the former|the latter|said)\s+(?:papers?|methods?|approach(?:es)?|techniques?|models?|works?|stud(?:y|ies)|ones?|results?|ideas?|tricks?|frameworks?|algorithms?)\b|\bthe (?:paper|papers|method|methods|approach|approaches|technique|authors|framework|algorithm|former|latter|above)\b(?!\s+(?:on|about|from|by|called|named|titled|that|which|where|for|of|in)\b)|\b(?:does|did|is|was|about|than|like|with)\s+that\b|\bthat\s*[?.!]*$/giu
const LEAD_IN = /^(?:and|also|but|so|then|plus|what about|how about|what of|same for|compared to|versus|vs)\b/iu

const ORDINAL_WORDS: Record<string, number> = {
  first: 1, second: 2, third: 3, fourth: 4, fifth: 5, sixth: 6, seventh: 7, eighth: 8, ninth: 9, tenth: 10,
  '1st': 1, '2nd': 2, '3rd': 3, '4th': 4, '5th': 5, '6th': 6, '7th': 7, '8th': 8, '9th': 9, '10th': 10,
}
// "the second one", "the 2nd paper", "the last one" | "paper 2", "reference #3", "source [1]" | "[2]"
const REFERENCE = new RegExp(
  String.raw`(?:\bthe\s+)?\b(${Object.keys(ORDINAL_WORDS).join('|')}|last)\s+(?:one|paper|reference|source|result|article|citation|work|study)\b` +
    String.raw`|\b(?:paper|reference|ref|source|citation)\s*(?:#|no\.?\s*|number\s*)?\[?(\d{1,2})\]?(?![\w\]])` +
    String.raw`|\[(\d{1,2})\]`,
  'giu',
)

/**
 * Rewrites a follow-up as a question that stands on its own, without a model: a reference to a
 * cited paper ("the second one", "paper 2", "[2]") becomes that paper's title, and a message that
 * leans on the conversation (a pronoun such as "it" or "those", a lead-in such as "what about", or
 * too few words of its own) gets the previous question's topic words and the titles of the papers
 * the last answer cited appended as `(about: …; papers: "…")`. A self-contained message is returned
 * unchanged. Deterministic: the same history and message give the same question.
 */
export function condenseOffline(turns: readonly ChatTurn[], message: string): string {
  const last = turns.at(-1)
  if (!last) return message
  const refs = last.references

  const resolvedTitles: string[] = []
  const resolved = message.replace(REFERENCE, (phrase, ordinal: string | undefined, numbered: string | undefined, bracketed: string | undefined) => {
    const n = ordinal ? (ordinal.toLowerCase() === 'last' ? refs.length : ORDINAL_WORDS[ordinal.toLowerCase()]) : Number(numbered ?? bracketed)
    const ref = refs.find((r) => r.n === n)
    if (!ref) return phrase
    resolvedTitles.push(ref.title)
    return `"${ref.title}"`
  })
  // What the user wrote besides the references: does it name a topic of its own?
  const own = message.replace(REFERENCE, ' ')
  const ownWords = own.match(WORD) ?? []
  const ownTerms = [...termSet(own)].filter((t) => !GENERIC.has(t))

  const plural = PLURAL.test(own)
  const leansOnHistory =
    pronounWithoutAntecedent(own) ||
    (LEAD_IN.test(own.trim()) && ownWords.length <= LEAD_IN_WORDS) ||
    (resolvedTitles.length === 0 && (ownTerms.length === 0 || (ownWords.length <= SHORT_WORDS && !ownWords.some(isName))))
  if (!leansOnHistory) return resolved

  const mentioned = new Set([...termSet(message), ...resolvedTitles.flatMap((t) => tokenize(t))])
  const topic = topicWords(topicSource(last.standalone), mentioned)
  const cited = plural ? refs : resolvedTitles.length > 0 ? [] : refs.slice(0, 1)
  const titles = cited
    .map((r) => r.title)
    .filter((t) => !resolvedTitles.includes(t))
    .slice(0, MAX_TITLES)
  const parts = [
    ...(topic.length > 0 ? [`about: ${topic.join(' ')}`] : []),
    ...(titles.length > 0 ? [`papers: ${titles.map((t) => `"${t}"`).join('; ')}`] : []),
  ]
  return parts.length > 0 ? `${resolved} (${parts.join('; ')})` : resolved
}

/**
 * A pronoun or deictic ("it", "those", "that method") with no name before it in the same message:
 * in "What is LoRA and why does it work?" the "it" is LoRA, so the message stands on its own.
 */
function pronounWithoutAntecedent(text: string): boolean {
  const first = Math.min(...[...text.matchAll(PRONOUN), ...text.matchAll(DEICTIC)].map((m) => m.index))
  if (!Number.isFinite(first)) return false
  const before = [...text.slice(0, first).matchAll(WORD)]
  return !before.some((m) => isName(m[0]) || (m.index > 0 && /^\p{Lu}\p{Ll}/u.test(m[0]) && m[0] !== 'I'))
}

/** Written like a name: an acronym or mixed case (LoRA, MT-Bench), or letters with digits (GPT-4, not 10x). */
function isName(word: string): boolean {
  const bare = word.replace(/['’]s$/, '')
  const lettersWithDigits = /\p{L}/u.test(bare) && /\p{N}/u.test(bare) && !/^\d+(?:\.\d+)?-?\p{L}{1,4}$/u.test(bare)
  return /\p{Lu}.*\p{Lu}/u.test(bare) || /\p{Ll}\p{Lu}/u.test(bare) || lettersWithDigits
}

/** The part of an earlier standalone question that says what it was about (its own words and topic, not the titles). */
function topicSource(standalone: string): string {
  const at = standalone.search(/ \((?:about|papers): /)
  if (at < 0) return standalone
  const about = /^about: (.*?)(?:; papers: |\)$)/su.exec(standalone.slice(at + 2))?.[1] ?? ''
  return `${standalone.slice(0, at)} ${about}`
}

/** Content words of `text` as written, in order, once each, skipping the generic and those already `mentioned`. */
function topicWords(text: string, mentioned: Set<string>): string[] {
  const out: string[] = []
  const seen = new Set<string>()
  for (const word of text.match(WORD) ?? []) {
    const terms = tokenize(word)
    const key = terms.join(' ')
    if (terms.length === 0 || seen.has(key) || terms.every((t) => GENERIC.has(t) || mentioned.has(t))) continue
    seen.add(key)
    out.push(word)
    if (out.length === MAX_TOPIC_WORDS) break
  }
  return out
}

export interface ModelCondenseOptions {
  signal?: AbortSignal | undefined
  /** Longest wait for the rewrite before falling back. */
  timeoutMs: number
  /** Bound on the history text in the prompt. */
  maxChars: number
}

/** Why the model's rewrite was not used; its message completes "The model could not rewrite the follow-up (…)". */
export class CondenseFailure extends Error {
  override readonly name = 'CondenseFailure'
}

/**
 * Asks the model for the standalone question with the condensing prompt. Fails with a
 * CondenseFailure when the model fails, is slow, or answers with nothing usable; rethrows the
 * caller's own abort.
 */
export async function condenseWithModel(
  provider: ChatProvider,
  prompts: Prompts,
  turns: readonly ChatTurn[],
  message: string,
  { signal, timeoutMs, maxChars }: ModelCondenseOptions,
): Promise<string> {
  const user = await prompts.condense.format({ history: formatHistory(turns, maxChars), question: message })
  const limit = Math.min(MAX_QUESTION_CHARS, Math.max(500, 3 * message.length))
  const timeout = AbortSignal.timeout(timeoutMs)
  let text = ''
  try {
    // The prompt file holds the whole instruction; there is no separate system prompt.
    for await (const delta of provider.stream({ system: '', user }, { signal: signal ? AbortSignal.any([signal, timeout]) : timeout })) {
      text += delta
      // Leaving the loop closes the request: no need to hear the rest of a rambling reply.
      if (text.length > 2 * limit) break
    }
  } catch (error) {
    if (signal?.aborted) throw error
    if (timeout.aborted) throw new CondenseFailure(`no reply within ${timeoutMs / 1000} s`, { cause: error })
    if (error instanceof StreamInterruptedError) throw new CondenseFailure('the reply broke off', { cause: error })
    throw new CondenseFailure(isAppError(error) ? error.message : String(error), { cause: error })
  }
  const standalone = cleanRewrite(text)
  if (!standalone) throw new CondenseFailure('the rewrite was empty')
  if (standalone.length > limit) throw new CondenseFailure(`the rewrite was over-long: ${text.trim().length} characters`)
  return standalone
}

/** The question alone: first non-empty line, without a "Standalone question:" label or wrapping quotes. */
function cleanRewrite(text: string): string {
  const line = text.split(/\r?\n/).find((l) => l.trim() !== '') ?? ''
  return line
    .trim()
    .replace(/^(?:\*\*)?(?:standalone question|question)\s*:\s*(?:\*\*)?\s*/i, '')
    .replace(/^["“'`]+|["”'`]+$/g, '')
    .trim()
}

/**
 * The conversation for the condensing prompt, newest turns kept when it must be cut. Turn text is
 * untrusted: anything that looks like the fence's own tags is defused.
 */
export function formatHistory(turns: readonly ChatTurn[], maxChars: number): string {
  const blocks = turns.map((t) => {
    const cited = t.references.map((r) => `[${r.n}] ${r.title}`).join('; ')
    return defuse(`User: ${t.message}\nAssistant: ${t.answer}${cited ? `\nCited papers: ${cited}` : ''}`)
  })
  const kept: string[] = []
  let size = 0
  for (const block of blocks.reverse()) {
    if (kept.length > 0 && size + block.length > maxChars) break
    kept.unshift(block.length > maxChars ? `${block.slice(0, maxChars - 1)}…` : block)
    size += block.length + 2
  }
  return kept.join('\n\n')
}

function defuse(text: string): string {
  return text.replace(/<\s*(\/?)\s*(conversation|papers?)\b[^>]*>/gi, '‹$1$2›')
}
