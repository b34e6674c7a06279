import { stemmer } from 'stemmer'
import { termSet, tokenize } from '../retrieve/index.js'

/**
 * What a question asks for, beyond its topic: a number ("how many GPUs"), an attribute ("which
 * license"), a unit ("in hours"), a definition ("What is LoRA?") or a name (DoRA, MT-Bench). An
 * abstract sentence about the right paper that lacks the thing asked for does not answer it.
 */
export interface QuestionFocus {
  /** The question wants a number. */
  quantity: boolean
  /** Stemmed terms an answering sentence must contain: the head noun of what is asked for. */
  terms: string[]
  /** "How many X": the sentence must count X — a number within two words before it ("8 A100 GPUs"). */
  counts?: string
  /** Units the answer must be stated in (stemmed), e.g. `hour`, `gb`. */
  units: string[]
  /** What is asked for, in the question's words, for the abstention note ("number of GPUs"). */
  asked?: string
  /** "What is X?": X as written. */
  defines?: string
  /** Words written like names (LoRA, GPT-4, MT-Bench) that the answer's papers must mention. */
  names: string[]
}

// Attributes people ask about that abstracts often leave out. A multi-word one must appear as a
// whole ("learning rate"), so it is matched on stems in order.
const QUANTITY_ATTRIBUTES = [
  'learning rate', 'batch size', 'context length', 'context window', 'sequence length', 'vocabulary size', 'model size',
  'dataset size', 'training time', 'training cost', 'compute budget', 'weight decay', 'dropout rate', 'number', 'amount',
  'score', 'accuracy', 'percentage', 'rate', 'ratio', 'rank', 'size', 'count', 'cost', 'price', 'budget', 'speedup',
  'speed-up', 'latency', 'throughput', 'perplexity', 'bleu', 'f1', 'auc', 'map', 'temperature', 'epochs', 'steps',
  'dimension', 'dimensions', 'length', 'hours', 'days', 'memory', 'improvement', 'gain', 'error', 'win rate', 'pass@1',
]
const OTHER_ATTRIBUTES = [
  'license', 'licence', 'optimizer', 'optimiser', 'affiliation', 'university', 'institution', 'company', 'lab', 'hardware',
  'gpu', 'gpus', 'tpu', 'tpus', 'venue', 'conference', 'version', 'seed', 'tokenizer',
  'programming language', 'author', 'authors', 'annotators',
]

// Units a question can name; each maps to the stems that state it in a sentence.
const UNITS: Record<string, string[]> = {
  hour: ['hour', 'hr', 'h'], dai: ['dai', 'day'], minut: ['minut', 'min'], second: ['second', 'sec', 's'], week: ['week'],
  gb: ['gb', 'gigabyt'], gigabyt: ['gb', 'gigabyt'], mb: ['mb', 'megabyt'], tb: ['tb', 'terabyt'],
  kg: ['kg', 'kilogram'], kilogram: ['kg', 'kilogram'], ton: ['ton', 'tonn'], dollar: ['dollar', 'usd', '$'], usd: ['dollar', 'usd', '$'],
  euro: ['euro', 'eur', '€'], flop: ['flop'], kwh: ['kwh'], watt: ['watt', 'w'], millisecond: ['millisecond', 'ms'], ms: ['millisecond', 'ms'],
  co2: ['co2', 'carbon'], gpuhour: ['gpuhour', 'gpu'], gpudai: ['gpudai', 'gpu'],
}

// A number as abstracts write one: digits (7B, 0.1%, 1,000), a multiplier or a number word.
const NUMBER =
  /(?:^|[^\p{L}\p{N}-])(?:\d[\d,.]*\s*(?:%|×|x\b|[kmbt]\b)?|(?:two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|twenty|thirty|forty|fifty|hundred|thousand|million|billion|trillion|half|double|twice|dozens?)\b)/iu

/** Reads a question's focus. Deterministic and cheap: a few patterns over the question's words. */
export function questionFocus(question: string): QuestionFocus {
  const q = question.normalize('NFKC').trim().replace(/\s+/g, ' ')
  const lower = q.toLowerCase()
  const names = namesIn(q)
  const focus: QuestionFocus = { quantity: false, terms: [], units: [], names }

  const howMany = /\bhow (many|much|long|large|big|fast|often)\b\s*([^?.,;]*)/i.exec(q)
  if (howMany) {
    focus.quantity = true
    const kind = howMany[1]?.toLowerCase()
    const rest = (howMany[2] ?? '').trim()
    if (kind === 'many' || (kind === 'much' && !/^(?:do|does|did|is|are|was|were|can|could|will|would|has|have)\b/i.test(rest))) {
      const phrase = nounPhrase(rest)
      if (phrase) {
        focus.asked = kind === 'many' ? `number of ${phrase}` : `amount of ${phrase}`
        focus.terms = headTerms(phrase)
        if (kind === 'many' && focus.terms[0]) focus.counts = focus.terms[0]
      }
    } else if (kind === 'long') focus.asked = 'duration'
    else focus.asked = kind === 'much' ? 'amount' : `${kind === 'often' ? 'frequency' : kind === 'fast' ? 'speed' : 'size'}`
  }

  const attribute = attributeAsked(lower)
  if (attribute && !howMany) {
    focus.quantity = attribute.quantity
    focus.asked = attribute.text
    // "number" and "amount" are containers: the noun after them is what must be found.
    const after = /\b(?:number|amount) of ([^?.,;]*)/i.exec(q)?.[1]
    focus.terms = after ? headTerms(nounPhrase(after)) : attribute.terms
    if (after) focus.asked = `number of ${nounPhrase(after)}`
  }
  if (/^(?:when|in what year|in which year)\b/i.test(lower) && !focus.quantity) {
    focus.quantity = true
    focus.asked = 'date'
  }

  for (const m of lower.matchAll(/\b(?:in|of|per|how many|much)\s+([a-z0-9$€-]+)/g)) {
    const unit = unitKey(m[1] ?? '')
    if (unit && (focus.quantity || /\bin\s/.test(m[0]))) focus.units.push(unit)
  }
  focus.units = [...new Set(focus.units)]

  const defines = definedThing(q)
  if (defines && !focus.quantity && !attribute) focus.defines = defines
  return focus
}

/** Whether a sentence gives what the question asks for (its number, attribute and unit). */
export function answersFocus(focus: QuestionFocus, sentence: string): boolean {
  const terms = termSet(sentence)
  if (focus.quantity && !NUMBER.test(withoutNames(sentence))) return false
  for (const term of focus.terms) if (!hasTerm(terms, sentence, term)) return false
  if (focus.counts && !countsNoun(sentence, focus.counts)) return false
  for (const unit of focus.units) if (!(UNITS[unit] ?? [unit]).some((u) => terms.has(u) || (u.length === 1 ? false : sentence.toLowerCase().includes(u)) || unitSuffix(sentence, u))) return false
  return true
}

/** Whether the focus asks for something specific a sentence can lack (beyond the topic). */
export function isSpecific(focus: QuestionFocus): boolean {
  return focus.quantity || focus.terms.length > 0 || focus.units.length > 0
}

/** Words written like names: an acronym or mixed case (DoRA, MT-Bench) or letters with digits (CO2, GPT-4, not 10x). */
export function isName(word: string): boolean {
  const bare = word.replace(/['’]s$/, '')
  const lettersWithDigits = /\p{L}/u.test(bare) && /\p{N}/u.test(bare) && !/^\d+(?:\.\d+)?-?\p{L}{1,4}$/u.test(bare)
  return /\p{Lu}.*\p{Lu}/u.test(bare) || /\p{Ll}\p{Lu}/u.test(bare) || lettersWithDigits
}

function namesIn(question: string): string[] {
  const words = question.match(/[\p{L}\p{N}]+(?:[-'’.][\p{L}\p{N}]+)*/gu) ?? []
  return [...new Set(words.map((w) => w.replace(/['’]s$/, '')).filter((w) => isName(w) && !/^(?:I|AI|ML|NLP|LLMs?|GPUs?|TPUs?)$/.test(w) && unitKey(w) === undefined))]
}

/**
 * "What peak learning rate…", "Which optimizer…", "what is the maximum context length…": the noun
 * phrase after what/which, when it ends in (or starts with) an attribute people ask about.
 */
function attributeAsked(lower: string): { text: string; quantity: boolean; terms: string[] } | undefined {
  const lead = /\b(?:what|which|whats|what's)\s+(?:is |was |are |were |did |does |do )?(?:the |its |their |a |an )?([a-z0-9@ -]{2,60})/.exec(lower)
  if (!lead) return undefined
  const phrase = nounPhrase(lead[1] ?? '').toLowerCase()
  const words = phrase.split(' ')
  for (const [list, quantity] of [[QUANTITY_ATTRIBUTES, true], [OTHER_ATTRIBUTES, false]] as const) {
    for (const attribute of [...list].sort((a, b) => b.length - a.length)) {
      const n = attribute.split(' ').length
      const tail = words.slice(-n).join(' ')
      const head = words.slice(0, n).join(' ')
      // A quantity may close the phrase ("peak learning rate"); another attribute must open it, or
      // "the Lion optimizer" would read as a question about an optimizer rather than about Lion.
      if (head === attribute || (quantity && tail === attribute)) return { text: phrase, quantity, terms: tokenize(attribute) }
    }
  }
  return undefined
}

/** "What is X?", "whats X", "define X", "X explained", "how does X work": X, when it is short. */
function definedThing(question: string): string | undefined {
  const q = question.replace(/[?.!\s]+$/, '')
  const m =
    /^(?:what(?:'s|’s| is| are)|whats|define|explain)\s+(?:an?\s+|the\s+)?(.+)$/i.exec(q) ??
    /^(.+?)\s+explained$/i.exec(q) ??
    /^how (?:does|do) (.+?) work$/i.exec(q)
  const thing = m?.[1]?.trim()
  if (!thing || thing.split(/\s+/).length > 5) return undefined
  if (/^(?:the\s+)?(?:best|difference|effect|role|impact|purpose|reason|relationship|main|key|advantage|benefit|idea)\b/i.test(thing)) return undefined
  return thing
}

/** The noun phrase at the start of `text`: words up to the first verb-like or linking word. */
function nounPhrase(text: string): string {
  const words: string[] = []
  for (const word of text.split(/\s+/)) {
    if (/^(?:are|is|was|were|do|does|did|can|could|will|would|has|have|had|should|of|in|on|for|to|with|by|from|at|per|than|that|which|when|the|it|they|does|used|needed|required)$/i.test(word)) break
    words.push(word)
    if (words.length === 3) break
  }
  return words.join(' ')
}

/** The stems that must appear: the last word of the phrase is its head ("training tokens" → token). */
function headTerms(phrase: string): string[] {
  const last = phrase.trim().split(/\s+/).at(-1) ?? ''
  // The head may be a word the tokenizer drops as too common to search for ("papers", "studies").
  const terms = tokenize(last)
  return terms.length > 0 ? terms.slice(-1) : last ? [stemmer(last.toLowerCase())] : []
}

// Synonyms a sentence may use for a head term the question used.
const EQUIVALENT: Record<string, string[]> = {
  paramet: ['param', 'b', 'm'],
  gpu: ['gpu', 'a100', 'h100', 'v100'],
  token: ['token'],
  hour: ['hour', 'hr'],
  sampl: ['sampl', 'exampl', 'instanc'],
  exampl: ['exampl', 'sampl', 'instanc'],
  languag: ['languag'],
  layer: ['layer'],
}

// Attributes a percentage states by itself ("reaches 85% on SQuAD" gives an accuracy).
const PERCENT_STATES = new Set(['accuraci', 'percentag', 'score', 'improv', 'gain', 'error', 'rate'])

function hasTerm(terms: Set<string>, sentence: string, term: string): boolean {
  if (terms.has(term)) return true
  if (PERCENT_STATES.has(term) && /\d\s?%|percent/.test(sentence)) return true
  const alternatives = EQUIVALENT[term] ?? []
  if (alternatives.some((a) => terms.has(a))) return true
  // "7B", "350M": a model size states its parameters.
  return term === 'paramet' && /\b\d+(?:\.\d+)?\s?[BMK]\b/.test(sentence)
}

/** A number, then at most two words, then the counted noun (the caller has checked a number is there): "8 A100 GPUs", "three billion parameters", "7B". */
function countsNoun(sentence: string, stem: string): boolean {
  if (stem === 'paramet' && /\b\d+(?:\.\d+)?\s?[BMK]\b/.test(sentence)) return true
  const words = sentence.match(/[\p{L}\p{N}][\p{L}\p{N}.,%×-]*/gu) ?? []
  const same = (word: string): boolean => {
    const t = tokenize(word)
    return t.includes(stem) || (EQUIVALENT[stem] ?? []).some((a) => t.includes(a))
  }
  if (words.some((word, i) => NUMBER.test(` ${word}`) && words.slice(i + 1, i + 4).some(same))) return true
  // "reduces the number of trainable parameters by 10,000 times": the count, stated as a change.
  return words.some((word, i) => word.toLowerCase() === 'number' && words[i + 1]?.toLowerCase() === 'of' && words.slice(i + 2, i + 5).some(same))
}

function unitKey(word: string): string | undefined {
  const stem = tokenize(word)[0] ?? word
  return stem in UNITS ? stem : undefined
}

function unitSuffix(sentence: string, unit: string): boolean {
  return new RegExp(`\\d\\s?${escape(unit)}\\b`, 'i').test(sentence)
}

/** The sentence without name-shaped words, so "GPT-4" or "Llama-2" is not read as a number. */
function withoutNames(sentence: string): string {
  return sentence.replace(/[\p{L}\p{N}]+(?:[-'’.][\p{L}\p{N}]+)*/gu, (w) => (isName(w) && !/^\d/.test(w) ? ' ' : w))
}

const escape = (s: string): string => s.replace(/[.*+?^${}()|[\]\\@]/g, '\\$&')
