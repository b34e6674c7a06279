import type { AnswerJson } from '../answer/answer.js'
import type { StoredPaper } from '../index/store.js'

// What a model reads: the tools' `content`, as Markdown. `structuredContent` carries the same as JSON.

export interface SearchJson {
  query: string
  results: { id: string; title: string; score: number; passages: string[]; url?: string }[]
}

export function formatResults({ query, results }: SearchJson): string {
  const lines = [`Results for: ${query}`]
  if (results.length === 0) lines.push('', 'No paper matches.')
  results.forEach((r, i) => {
    lines.push('', `${i + 1}. ${r.title}${r.url ? ` <${r.url}>` : ''} (id ${r.id}, score ${r.score.toFixed(3)})`)
    for (const passage of r.passages) lines.push(`   > ${passage}`)
  })
  return lines.join('\n')
}

/** The answer, then its references with the quotes that support it, then what the checks found. */
export function formatAnswer(a: AnswerJson): string {
  const lines = [a.answer]
  if (a.abstained) {
    if (a.notFound && a.notFound !== a.answer) lines.push('', a.notFound)
    if (a.related && a.related.length > 0) {
      lines.push('', 'Closest papers (they do not answer it, but may help):')
      for (const r of a.related) lines.push(`- ${r.title}${r.url ? ` <${r.url}>` : ''} (id ${r.id})`)
    }
  } else if (a.references.length > 0) {
    lines.push('', 'References:')
    for (const ref of a.references) {
      lines.push(`[${ref.n}] ${ref.title}${ref.url ? ` <${ref.url}>` : ''} (id ${ref.id})`)
      if (ref.quote) lines.push(`    > ${ref.quote}`)
    }
  }
  const c = a.checks
  const notes = [
    ...(c.truncated ? [`${c.interruption ?? 'The model stopped mid-answer.'} The answer above is incomplete.`] : []),
    ...c.notes,
    ...(c.invalidMarkers.length > 0 ? [`Removed citation(s) to papers that were not retrieved: ${c.invalidMarkers.join(' ')}`] : []),
    ...c.uncitedSentences.map((s) => `No citation: ${s}`),
    ...c.unsupportedCitations.map((u) => `[${u.n}] may not support: ${u.sentence}`),
  ]
  if (notes.length > 0) lines.push('', 'Checks:', ...notes.map((n) => `- ${n}`))
  return lines.join('\n')
}

/** A paper as Markdown: title, what is known of it, the (cleaned) abstract. */
export function formatPaper(p: Omit<StoredPaper, 'contentHash'>): string {
  const authors = p.authors?.join(', ') ?? (p.authorCount ? `${p.authorCount} authors` : undefined)
  const facts = [`- id: ${p.id}`, authors && `- authors: ${authors}`, p.date && `- date: ${p.date}`, p.url && `- url: <${p.url}>`].filter(Boolean)
  return [`# ${p.title}`, '', ...facts, '', p.plainAbstract || p.abstract].join('\n')
}
