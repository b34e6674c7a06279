import { defineCommand } from 'citty'
import type { AnswerResult } from '../answer/answer.js'
import { checkQuestion, forEachStdinQuestion, indexArgs, llmArgs, openEngine, parseK, printJson } from './_shared.js'
import { ensureIndexed } from './search.js'
import { formatReferences } from './_format.js'

export const ask = defineCommand({
  meta: { name: 'ask', description: 'Answer a question from the papers, citing each claim [n], or say the papers do not answer it' },
  args: {
    ...indexArgs,
    ...llmArgs,
    question: { type: 'positional', required: false, description: 'The question, in quotes' },
    k: { type: 'string', alias: 'k', description: 'Papers to retrieve (default 5)' },
    stdin: { type: 'boolean', description: 'Read one question per line from stdin' },
    json: { type: 'boolean', description: 'Print one JSON object per question' },
  },
  async run({ args }) {
    const k = parseK(args.k)
    if (!args.stdin) checkQuestion(args.question)
    const engine = await openEngine(args)
    const abort = new AbortController()
    const onSigint = (): void => abort.abort()
    process.once('SIGINT', onSigint)
    try {
      await ensureIndexed(engine)
      const answerer = await engine.answerer()
      const one = async (question: string): Promise<void> => {
        const streaming = !args.json
        const result = await answerer.ask(question, { k, signal: abort.signal, ...(streaming ? { onToken: (t: string) => process.stdout.write(t) } : {}) })
        if (args.json) printJson(toJson(result))
        else process.stdout.write(`\n${formatReferences(result, { color: useColor() })}\n`)
      }
      if (!args.stdin) return await one(checkQuestion(args.question))
      await forEachStdinQuestion(Boolean(args.json), 'question', one)
    } finally {
      process.off('SIGINT', onSigint)
      await engine.close()
    }
  },
})

/** The `ask --json` contract: field names as documented in the README. */
export function toJson(r: AnswerResult): Record<string, unknown> {
  return {
    question: r.question,
    answer: r.answer,
    abstained: r.abstained,
    references: r.references.map(({ n, id, title, url, quote }) => ({ n, id, title, url: url ?? null, quote })),
    ...(r.abstained ? { related: r.related } : {}),
    checks: r.checks,
    model: r.model,
    timings: r.timings,
  }
}

export const useColor = (): boolean => Boolean(process.stdout.isTTY) && !process.env.NO_COLOR
