import { splitSentences, type AnswerJson } from '../answer/index.js'
import { authorLine, citationFields, linkLabel, paperLink, paperYear } from '../corpus/index.js'
import type { StoredPaper } from '../index/index.js'
import type { SearchJson } from '../retrieve/index.js'

// What a model reads: the tools' `content`, as Markdown. `structuredContent` carries the same as JSON.


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
      for (const r of a.related) lines.push(`- ${r.title}${r.link.kind === 'search' ? `: no link in the source; search by title: <${r.link.url}>` : ` <${r.link.url}>`} (id ${r.id})`)
    }
  } else if (a.references.length > 0) {
    lines.push('', 'References:')
    for (const ref of a.references) {
      const where = ref.link.kind === 'search' ? `no link in the source; search by title: <${ref.link.url}>` : `<${ref.link.url}>`
      lines.push(`[${ref.n}] ${ref.title}. ${ref.byline}${ref.year !== undefined ? `, ${ref.year}` : ''}. ${where} (id ${ref.id})`)
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

/** A paper as Markdown: title, what is known of it (what the source lacks said so), the (cleaned) abstract. */
export function formatPaper(p: Omit<StoredPaper, 'contentHash'>): string {
  const year = paperYear(p)
  const facts = [`- id: ${p.id}`, `- authors: ${authorLine(p)}`, p.date && `- date: ${p.date}`, year !== undefined && `- year: ${year}`, `- link: ${linkLabel(paperLink(p))}`].filter(Boolean)
  return [`# ${p.title}`, '', ...facts, '', p.plainAbstract || p.abstract].join('\n')
}

/**
 * A paper record as GET /v1/papers/{id} and get_paper return it: the stored record, how to cite it
 * (`citationFields`), and the sentences of its abstract that answers quote from.
 */
export function paperJson(paper: StoredPaper) {
  const { contentHash: _hash, ...record } = paper
  const { authors: _authors, authorCount: _count, ...cite } = citationFields(paper)
  return { ...record, ...cite, sentences: splitSentences(paper.plainAbstract) }
}
