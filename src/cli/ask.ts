import { defineCommand } from 'citty'
import { toAnswerJson } from '../answer/answer.js'
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

/** The `ask --json` contract (shared with the HTTP API). */
export const toJson = toAnswerJson

export const useColor = (): boolean => Boolean(process.stdout.isTTY) && !process.env.NO_COLOR
