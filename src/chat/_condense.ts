import { stemmer } from 'stemmer'
import { isName, defuseFence, StreamInterruptedError, type Reference, type Prompts, type ChatProvider } from '../answer/index.js'
import { MAX_QUESTION_CHARS } from '../config.js'
import { isAppError } from '../errors.js'
import { termSet } from '../retrieve/index.js'
import type { ChatTurn } from './_types.js'

/** Names carried over as the subject, at most ("QLoRA and LoRA"). */
const MAX_NAMES = 3
/** Cited papers named for "those" or "they", at most. */
const MAX_TITLES = 5
/** A longer phrase is not taken as what a question is about. */
const MAX_PHRASE_WORDS = 4
/** A message of this many words or fewer, naming nothing, leans on the conversation ("memory?", "why?"). */
const SHORT_WORDS = 3
/** A lead-in ("and", "what about") marks a follow-up only in a message this short. */
const LEAD_IN_WORDS = 8

const WORD = /[\p{L}\p{N}]+(?:[-'’][\p{L}\p{N}]+)*/gu
const QUOTED = /"[^"\n]*"|“[^”\n]*”/gu

// Words a follow-up uses without naming a topic of its own ("why?", "more details please").
// tokenize() already drops question words and glue; these are the conversational ones it keeps.
const GENERIC = new Set(
  (
    'much many well good better best compare comparison differ difference different mean means meaning say says said know ' +
    'think give get make like kind example examples detail details less else exactly really just please one ones thing ' +
    'things way ways happen role help need want important main key idea ideas result results elaborate clarify expand ' +
    'summarize summarise summary further again come hello hi thanks thank ok okay yes sure'
  )
    .split(' ')
    .map((w) => stemmer(w)),
)
// A message of only these words is not a follow-up at all ("thanks!", "ok").
const GREETING = new Set('hello hi hey thanks thank you ok okay yes sure great cool nice'.split(' '))
// Acronyms that name no method of their own: "How does LoRA reduce GPU memory?" is about LoRA.
const COMMON_ACRONYMS = new Set('GPU CPU TPU RAM VRAM NLP NLU LLM LM ML AI API RL QA SOTA FLOP'.split(' '))
// Verbs that end a question's subject: "How does [sparse pre-training] affect accuracy?".
const VERBS = new Set(
  (
    'affect improve reduce compare work help use scale handle achieve perform compress save cut need require learn ' +
    'outperform differ relate change increase decrease make train generalize generalise fail beat cause prevent enable ' +
    'lead mean stand solve avoid apply fit matter hurt forget adapt store run'
  )
    .split(' ')
    .map((w) => stemmer(w)),
)

const AUX = 'do|does|did|is|are|was|were|can|could|will|would|should|has|have|had|may|might|must'
const QUESTION_START = new RegExp(String.raw`^(?:how|why|what|which|who|whom|whose|when|where|${AUX})\b`, 'iu')
const HAS_AUX = new RegExp(String.raw`\b(?:${AUX})\b`, 'iu')
const LEAD_IN = /^(?:and|also|but|so|then|plus|what about|how about|what of|same for|compared (?:to|with)|versus|vs)\b/iu
const CONJUNCTION = /^(?:and|also|but|so|then|plus)\b[\s,]*/iu
const ABOUT = /^(?:(?:and|also|but|so|then|plus)[\s,]+)?(?:what about|how about|what of|same for)\b[\s,]*/iu
const COMPARE = /^(?:(?:and|also|but|so|then|plus)[\s,]+)?(?:compared (?:to|with)|versus|vs\.?)(?=[\s,]|$)[\s,]*/iu
const ENDS_NOUN = new RegExp(String.raw`^(?:for|on|in|with|without|of|to|from|by|at|and|or|than|compared|versus|vs|${AUX})$`, 'iu')
const PREPOSITION = /^(?:for|on|in|with|without|at|under|during|across|to|from|over|against|when|after|before)\b/iu

const METHOD_NOUNS = String.raw`papers?|methods?|approach(?:es)?|techniques?|models?|stud(?:y|ies)|ones?|frameworks?|algorithms?|tricks?`
const FINDING_NOUNS = String.raw`results?|findings?|ideas?|numbers?|claims?`
// What points back, earliest first: "that method", "those results", "the authors", "its", "they", "is that", a closing "that".
const ANAPHOR = new RegExp(
  String.raw`\b(?<det>this|that|these|those|the same|the above|said)\s+(?:(?<noun>${METHOD_NOUNS})|(?<finding>${FINDING_NOUNS}))\b` +
    String.raw`|\bthe\s+(?<the>papers?|methods?|approach(?:es)?|technique|framework|algorithm|former|latter|above|authors)\b(?!\s+(?:on|about|from|by|called|named|titled|that|which|where|for|of|in)\b)` +
    String.raw`|\b(?<pronoun>it's|it’s|its|itself|it|they|them|their|theirs|themselves|these|those|this)\b` +
    String.raw`|\b(?<verb>does|did|is|was|about|than|like|with)\s+that\b` +
    String.raw`|\bthat(?=\s*[?.!]*$)`,
  'iu',
)

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

/** What the previous question was about. */
interface Subject {
  /** Each thing it was about, as it is written into a rewrite: names ("QLoRA", "LoRA"), or one phrase or paper. */
  parts: string[]
  /** The subject as it stands in the previous question, when it is one thing: "and QLoRA?" is put in its place. */
  written?: string | undefined
}

/**
 * Rewrites a follow-up as a clean question that stands on its own, without a model. Deterministic
 * and read from the last turn only (its clean standalone question and its references):
 *
 * - A cited paper ("the second one", "paper 2", "[2]") becomes its title in quotes.
 * - A message that needs no history (it names its topic, or its pronoun has a name before it, or
 *   it is a "thanks") is returned with only that done.
 * - Otherwise the previous question's subject (see subjectOf) is written in, in place, and the
 *   first letter capitalised:
 *   - "why?", "how so?", "why is that?": the previous question asked again with "why" or "how"
 *     ("How does LoRA cut memory?" → "Why does LoRA cut memory?"), else "Why does LoRA work?".
 *   - The first word that points back: "it", "this method" → the subject; "its" → "LoRA's" (of a
 *     quoted title: "the data of "…""); "they", "those", "their" → the subject when it is several
 *     things or a plural ("model soups"), else the cited papers' titles ("Which of "A" and "B"
 *     used LoRA?"); "the authors" → "the authors of LoRA".
 *   - "and the memory cost?", "what about latency?", "memory?" → "What about LoRA's memory cost?";
 *     "and for images?" → "What about LoRA for images?"; "and QLoRA?", "what about the second
 *     one?" → the previous question with its subject swapped ("How does QLoRA cut memory?");
 *     "compared to X?" → "How does LoRA compare with X?".
 *   - "more details", "tell me more" → "Tell me more about LoRA."; a short question naming
 *     nothing ("does quantization help?") → "Does quantization help for LoRA?".
 *
 * Nothing is appended as a tail, and the next rewrite reads only the subject back, so questions
 * do not grow over the turns.
 */
export function condenseOffline(turns: readonly ChatTurn[], message: string): string {
  const last = turns.at(-1)
  if (!last) return message
  const { resolved, own, titles } = resolveReferences(message, last.references)
  if (!leansOnHistory(resolved, own, titles.length > 0)) return resolved
  const subject = subjectOf(last)
  if (!subject) return resolved
  return tidy(rewrite(resolved, subject, last))
}

/** `resolved`: references to cited papers as their quoted titles; `own`: the message without them. */
function resolveReferences(message: string, refs: readonly Reference[]): { resolved: string; own: string; titles: string[] } {
  const find = (ordinal: string | undefined, numbered: string | undefined, bracketed: string | undefined): Reference | undefined => {
    const n = ordinal ? (ordinal.toLowerCase() === 'last' ? refs.length : ORDINAL_WORDS[ordinal.toLowerCase()]) : Number(numbered ?? bracketed)
    return refs.find((r) => r.n === n)
  }
  const titles: string[] = []
  const resolved = message.replace(REFERENCE, (phrase, o: string | undefined, n: string | undefined, b: string | undefined) => {
    const ref = find(o, n, b)
    if (!ref) return phrase
    titles.push(ref.title)
    return `"${ref.title}"`
  })
  const own = message.replace(REFERENCE, (phrase, o: string | undefined, n: string | undefined, b: string | undefined) => (find(o, n, b) ? ' ' : phrase))
  return { resolved, own, titles }
}

/** A word that points back with nothing to point to in the message, a short lead-in, or too little of its own. */
function leansOnHistory(resolved: string, own: string, hasReference: boolean): boolean {
  const words = own.match(WORD) ?? []
  if (words.length > 0 && words.every((w) => GREETING.has(w.toLowerCase()))) return false
  return (
    anaphor(resolved) !== undefined ||
    (LEAD_IN.test(own.trim()) && words.length <= LEAD_IN_WORDS) ||
    (!hasReference && (contentTerms(own).length === 0 || (words.length <= SHORT_WORDS && !words.some(isName))))
  )
}

/**
 * The first word that points back ("it", "those", "that method"), unless a name comes before it
 * in the same text: in "What is LoRA and why does it work?" the "it" is LoRA. A quoted title counts as a name.
 */
function anaphor(text: string): RegExpExecArray | undefined {
  // Same length, so positions carry over; the placeholder reads as a name.
  const masked = text.replace(QUOTED, (q) => `"${'Q'.repeat(q.length - 2)}"`)
  const match = ANAPHOR.exec(masked)
  if (!match || namesIn(masked.slice(0, match.index)).length > 0) return undefined
  return match
}

/**
 * The subject of the last turn, first of: the names in its question (outside quoted titles;
 * "GPU" and the like only when nothing else is named); the papers it quoted; its main phrase
 * ("What is [sparse pre-training]?"); the first paper its answer cited.
 */
function subjectOf({ standalone, references }: ChatTurn): Subject | undefined {
  const question = withoutLegacyTail(standalone)
  const names = namesIn(question.replace(QUOTED, (q) => ' '.repeat(q.length)))
  const specific = names.filter((n) => !COMMON_ACRONYMS.has(n.replace(/s$/u, '')))
  const chosen = (specific.length > 0 ? specific : names).slice(0, MAX_NAMES)
  if (chosen.length > 0) return { parts: chosen, written: chosen.length === 1 ? chosen[0] : undefined }
  const quoted = question.match(QUOTED) ?? []
  if (quoted.length > 0) return { parts: quoted.slice(0, MAX_TITLES).map((q) => shortTitle(q.slice(1, -1))), written: quoted.length === 1 ? quoted[0] : undefined }
  const phrase = mainPhrase(question)
  if (phrase) return { parts: [phrase.replace(/^an?\s+/iu, 'the ')], written: phrase }
  const first = references[0]
  return first ? { parts: [shortTitle(first.title)] } : undefined
}

// Session files written before clean rewrites end their standalone with " (about: …; papers: …)".
const withoutLegacyTail = (standalone: string): string => standalone.replace(/ \((?:about|papers): [\s\S]*\)$/u, '')

/** Names in order, once each, adjacent ones joined ("Stable Diffusion"); a possessive "'s" dropped. */
function namesIn(text: string, { atStart = true } = {}): string[] {
  const out: string[] = []
  let run: string[] = []
  let runEnd = -1
  const flush = (): void => {
    const name = run.join(' ')
    if (name && !out.includes(name)) out.push(name)
    run = []
  }
  for (const m of text.matchAll(WORD)) {
    const word = m[0].replace(/['’]s$/u, '')
    const sentenceStart = (atStart && m.index === 0) || /[.?!:]\s*$/u.test(text.slice(0, m.index))
    if (!looksLikeName(word, sentenceStart)) {
      flush()
      continue
    }
    if (run.length > 0 && text.slice(runEnd, m.index) !== ' ') flush()
    run.push(word)
    runEnd = m.index + m[0].length
  }
  flush()
  return out
}

/** A name, or a capitalised content word inside a sentence ("Adam", "Chinchilla"). */
function looksLikeName(word: string, sentenceStart: boolean): boolean {
  return isName(word) || (!sentenceStart && /^\p{Lu}\p{Ll}/u.test(word) && contentTerms(word).length > 0)
}


/** "What is X?", "Tell me about X", "How does X affect Y?": X, when it is a short phrase with a content word. */
function mainPhrase(question: string): string | undefined {
  const q = stripEnd(question)
  const phrase =
    /^(?:what|who)\s+(?:is|are|was|were)\s+(.+)$/iu.exec(q)?.[1] ??
    owner(/^(?:tell me (?:more )?about|explain|describe|define|what about|how about)\s+(.+)$/iu.exec(q)?.[1]) ??
    beforeVerb(q)
  const words = phrase?.match(WORD) ?? []
  return phrase && words.length <= MAX_PHRASE_WORDS && contentTerms(phrase).length > 0 ? phrase : undefined
}

/** Whose facet a rewrite asked about: "sparse pre-training's cost" and "sparse pre-training for images" are about sparse pre-training. */
function owner(phrase: string | undefined): string | undefined {
  return phrase?.split(/['’]s?\s|\s+(?:for|on|in|with|without|at|under|during|across|to|from|over|against)\s/iu)[0]
}

/** The words between the auxiliary and the first known verb: "How much memory does [X] save …". */
function beforeVerb(q: string): string | undefined {
  const rest = new RegExp(String.raw`^(?:(?:how|why|when|where|what|which)(?:\s+[\p{L}\p{N}-]+){0,2}\s+)?(?:${AUX})\s+(.+)$`, 'iu').exec(q)?.[1]
  if (!rest) return undefined
  const words = [...rest.matchAll(WORD)]
  const verb = words.find((w, i) => i > 0 && VERBS.has(stemmer(w[0].toLowerCase())))
  return verb ? rest.slice(0, verb.index).trim() : undefined
}

/** A title as a person names it: its short name before a colon ("BitDelta: Your Fine-Tune …" → BitDelta), else the title quoted. */
function shortTitle(title: string): string {
  const head = /^([^:]{1,40}):\s/u.exec(title)?.[1]
  const words = head?.match(WORD) ?? []
  return head && words.length <= 3 && words.some(isName) ? head : `"${title}"`
}

type LeadIn = { kind: 'none'; text: string } | { kind: 'about' | 'compare'; rest: string }

/** "what about X", "and X", "compared to X": the lead-in and the rest. "And does it …" is a question of its own: "Does it …". */
function leadIn(text: string): LeadIn {
  const compare = COMPARE.exec(text)
  if (compare) return { kind: 'compare', rest: stripEnd(text.slice(compare[0].length)) }
  const about = ABOUT.exec(text)
  if (about) return { kind: 'about', rest: stripEnd(text.slice(about[0].length)) }
  const conjunction = CONJUNCTION.exec(text)
  if (!conjunction) return { kind: 'none', text }
  const after = text.slice(conjunction[0].length)
  if (QUESTION_START.test(after)) return { kind: 'none', text: after }
  // "and the memory cost?" asks about a thing; "but it is slower, right?" says something, and keeps its "but".
  const masked = after.replace(QUOTED, '"Q"')
  return (masked.match(WORD) ?? []).length <= 4 && !HAS_AUX.test(masked) ? { kind: 'about', rest: stripEnd(after) } : { kind: 'none', text }
}

/** The follow-up with the subject written in: the rules listed at condenseOffline, in that order. */
function rewrite(text: string, subject: Subject, last: ChatTurn): string {
  const all = list(subject.parts)
  const lead = leadIn(text.trim())
  const body = lead.kind === 'none' ? lead.text : lead.rest
  const wh = /^(why|how)\b(?!\s+(?:much|many|well|often|long|far|big|fast|large|good)\b)/iu.exec(body)?.[1]
  if (lead.kind !== 'compare' && wh && contentTerms(body).length === 0) return askAgain(wh, last.standalone, subject)

  const pointer = anaphor(body)
  if (pointer) {
    const replaced = replaceAnaphor(body, pointer, subject, last.references)
    if (lead.kind === 'none') return replaced
    return lead.kind === 'about' ? `What about ${replaced}?` : `How ${verbFor(subject)} ${all} compare with ${replaced}?`
  }
  if (lead.kind === 'compare') return lead.rest ? `How ${verbFor(subject)} ${all} compare with ${lead.rest}?` : tellMore(subject)
  if (lead.kind === 'about') return about(lead.rest, text, subject, last)

  if (contentTerms(body).length === 0) return tellMore(subject)
  if (namesIn(body).length > 0 || (body.match(WORD) ?? []).length > SHORT_WORDS) return body
  return QUESTION_START.test(body) ? `${stripEnd(body)} for ${all}?` : about(stripEnd(body), text, subject, last)
}

/** The rest of "what about …" / "and …": a new subject, a phrase of its own, or a facet of the subject. */
function about(rest: string, text: string, subject: Subject, last: ChatTurn): string {
  const all = list(subject.parts)
  if (!rest) return tellMore(subject)
  if (onlyNames(rest)) return subject.written ? swap(withoutLegacyTail(last.standalone), subject.written, rest) : `What about ${rest}?`
  if (namesIn(rest, { atStart: false }).length > 0 || /["“]/u.test(rest)) return text
  if (PREPOSITION.test(rest)) return `What about ${all} ${rest}?`
  const thing = rest.replace(/^(?:the|a|an)\s+/iu, '')
  return /"/u.test(all) ? `What about the ${thing} of ${all}?` : `What about ${possessive(all)} ${thing}?`
}

/** Nothing but names or quoted titles (and "and", "or"): "QLoRA?", "BitFit and LoRA", "\"Title\"". */
function onlyNames(text: string): boolean {
  const outside = text.replace(QUOTED, (q) => ' '.repeat(q.length))
  const words = outside.match(WORD) ?? []
  const named = outside !== text || words.some((w) => looksLikeName(w, false))
  return named && words.every((w) => looksLikeName(w.replace(/['’]s$/u, ''), false) || /^(?:and|or|the|both)$/iu.test(w))
}

/** "why?" / "how so?": the previous question with "why" or "how" in front, when it has an auxiliary to hang it on. */
function askAgain(wh: string, previous: string, subject: Subject): string {
  const Wh = capitalise(wh.toLowerCase())
  const q = new RegExp(String.raw`^(?:(?:how|why|when|where)\s+)?(${AUX})\s+(.+)$`, 'iu').exec(stripEnd(withoutLegacyTail(previous)))
  return q ? `${Wh} ${(q[1] ?? '').toLowerCase()} ${q[2] ?? ''}?` : `${Wh} ${verbFor(subject)} ${list(subject.parts)} work?`
}

function replaceAnaphor(text: string, match: RegExpExecArray, subject: Subject, refs: readonly Reference[]): string {
  const g = match.groups ?? {}
  const one = subject.parts[0] ?? ''
  const all = list(subject.parts)
  // Plural: the subject when it is several things ("QLoRA and LoRA", "model soups"), else the papers the last answer cited.
  const many = isPlural(subject) || refs.length === 0 ? all : list(refs.slice(0, MAX_TITLES).map((r) => `"${r.title}"`))
  const after = text.slice(match.index + match[0].length)
  let by = one
  if (g.det) {
    const who = /^(?:these|those)$/iu.test(g.det) || /s$/iu.test(g.noun ?? g.finding ?? '') ? many : one
    by = g.finding ? `the ${g.finding.toLowerCase()} of ${who}` : who
  } else if (g.the) {
    const word = g.the.toLowerCase()
    by = word === 'authors' ? `the authors of ${one}` : word === 'latter' ? (subject.parts.at(-1) ?? one) : /s$/u.test(word) ? many : one
  } else if (g.pronoun) {
    const word = g.pronoun.toLowerCase().replace('’', "'")
    if (word === 'its' || word === 'their') {
      const owner = word === 'its' ? one : many
      // A quoted title takes "of" rather than "'s": "the cost of "A" and "B"".
      const thing = /"/u.test(owner) ? nounAfter(after) : ''
      if (thing) return `${text.slice(0, match.index)}the ${after.slice(0, thing).trim()} of ${owner}${after.slice(thing)}`
      by = possessive(owner)
    } else if (word === "it's") by = `${one} is`
    else if (word === 'theirs') by = possessive(many)
    else if (/^(?:they|them|themselves|these|those)$/u.test(word)) by = many
  } else if (g.verb) by = `${g.verb} ${one}`
  return text.slice(0, match.index) + by + text.slice(match.index + match[0].length)
}

/** Where the noun after "its"/"their" ends (0 when there is none): up to three words, before a preposition, verb or punctuation. */
function nounAfter(text: string): number {
  let end = 0
  let count = 0
  for (const m of text.matchAll(WORD)) {
    const gap = text.slice(end, m.index)
    if (count === 3 || (count > 0 ? gap !== ' ' : gap.trim() !== '')) break
    if (ENDS_NOUN.test(m[0]) || (count > 0 && VERBS.has(stemmer(m[0].toLowerCase())))) break
    end = m.index + m[0].length
    count++
  }
  return end
}

/** The previous question with `written` (the old subject) replaced by `by`. */
function swap(previous: string, written: string, by: string): string {
  const at = new RegExp(String.raw`(?<![\p{L}\p{N}])${written.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}(?![\p{L}\p{N}])`, 'gu')
  return previous.replace(at, () => by)
}

const tellMore = (subject: Subject): string => `Tell me more about ${list(subject.parts)}.`
/** Several things, or one phrase in the plural ("model soups"; not "BitDelta", "MoEs" counts as one name). */
const isPlural = (subject: Subject): boolean => subject.parts.length > 1 || /^[^"]*[^sA-Z]s$/u.test(subject.parts[0] ?? '') && !isName(subject.parts[0] ?? '')
const verbFor = (subject: Subject): string => (isPlural(subject) ? 'do' : 'does')
const possessive = (name: string): string => (/[^sA-Z]s$/u.test(name) && !isName(name) ? `${name}'` : `${name}'s`)
const list = (items: readonly string[]): string => (items.length <= 1 ? (items[0] ?? '') : `${items.slice(0, -1).join(', ')} and ${items.at(-1)}`)
const contentTerms = (text: string): string[] => [...termSet(text)].filter((t) => !GENERIC.has(t))
const stripEnd = (text: string): string => text.trim().replace(/[\s?.!]+$/u, '')
const capitalise = (text: string): string => text.charAt(0).toUpperCase() + text.slice(1)
const tidy = (text: string): string => capitalise(text.replace(/\s+/g, ' ').replace(/\s+([?.!,])/g, '$1').trim())

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
    return defuseFence(`User: ${t.message}\nAssistant: ${t.answer}${cited ? `\nCited papers: ${cited}` : ''}`)
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
