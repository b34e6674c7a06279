import { createHash } from 'node:crypto'

// Example questions for the page's first screen, made from titles of indexed papers so that each one
// has an answer in this corpus. The choice depends only on the corpus version and the papers' ids:
// the same index shows the same examples, a new ingest may show others.

export interface ExampleQuestion {
  question: string
  /** The paper the question was made from. */
  id: string
  title: string
}

/** "LoRA: Low-Rank Adaptation …" names its method before the colon; so do "BitDelta - …" titles. */
const NAMED = /^\s*([^:–—]{2,40}?)\s*(?::|\s[–—-]\s)\s*(\S.*)$/
const MAX_TITLE = 140

/** A question a title answers, or undefined for a title too long or too odd to ask about. */
export function questionFromTitle(title: string): { question: string; named: boolean } | undefined {
  const tidy = title.replace(/\s+/g, ' ').trim()
  if (tidy.length < 8 || tidy.length > MAX_TITLE || /[<>{}\\$]/.test(tidy)) return undefined
  if (tidy.endsWith('?')) return { question: tidy, named: false }
  const named = NAMED.exec(tidy)
  const name = named?.[1]
  if (name && name.split(' ').length <= 4 && /\p{Lu}/u.test(name)) return { question: `What is ${name}?`, named: true }
  return { question: `What do the papers say about ${sentenceCase(tidy.replace(/[.!]+$/, ''))}?`, named: false }
}

/** "Scaling Laws for Neural Language Models" → "scaling laws for neural language models"; LLMs, GPT-4 and LoRA keep their case. */
const sentenceCase = (title: string): string => title.replace(/\p{L}[\p{L}\p{N}'’-]*/gu, (word) => (/^\p{Lu}[\p{Ll}'’-]*$/u.test(word) ? word.toLowerCase() : word))

/**
 * `count` questions from the papers: titles that name a method first (they make the clearest
 * questions), in an order fixed by hashing `version` with each id.
 */
export function exampleQuestions(papers: Iterable<{ id: string; title: string }>, { version = '', count = 3 }: { version?: string; count?: number } = {}): ExampleQuestion[] {
  const ranked: (ExampleQuestion & { named: boolean; rank: string })[] = []
  for (const { id, title } of papers) {
    const made = questionFromTitle(title)
    if (made) ranked.push({ ...made, id, title, rank: createHash('sha256').update(`${version}\n${id}`).digest('hex') })
  }
  ranked.sort((a, b) => Number(b.named) - Number(a.named) || (a.rank < b.rank ? -1 : a.rank > b.rank ? 1 : 0))
  return ranked.slice(0, count).map(({ question, id, title }) => ({ question, id, title }))
}
