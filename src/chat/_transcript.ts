import { referenceMarkdown } from '../corpus/index.js'
import type { ChatTurn } from './_types.js'

/**
 * A conversation as Markdown: per turn the question, the standalone question when the rewrite
 * changed it, the answer, and the references with their supporting quotes.
 */
export function transcriptMarkdown(turns: readonly ChatTurn[]): string {
  const lines = ['# askpapers chat', '']
  if (turns.length === 0) lines.push('No questions yet.', '')
  turns.forEach((t, i) => {
    lines.push(`## ${i + 1}. ${oneLine(t.message)}`, '')
    if (t.standalone !== t.message) lines.push(`*Standalone question:* ${oneLine(t.standalone)}`, '')
    lines.push(t.answer.trim(), '')
    if (t.references.length === 0) return
    lines.push('**References**', '')
    for (const r of t.references) {
      lines.push(`- [${r.n}] ${referenceMarkdown(r)} (id ${r.id})`)
      if (r.quote) lines.push(...r.quote.trim().split(/\r?\n/).map((q) => `  > ${q}`))
    }
    lines.push('')
  })
  return `${lines.join('\n').trimEnd()}\n`
}

const oneLine = (text: string): string => text.replace(/\s+/g, ' ').trim()
