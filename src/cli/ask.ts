import { defineCommand } from 'citty'
import { toAnswerJson } from '../answer/index.js'
import { CITATION_FORMATS, exportCitations } from '../corpus/index.js'
import { AppError } from '../errors.js'
import { checkFilter, filterArgs, parseFilterFlags } from './_filters.js'
import { checkQuestion, forEachStdinQuestion, indexArgs, llmArgs, openServices, parseK, printJson, warnNoEffect } from './_shared.js'
import { forTerminal, TerminalStream, useColor } from './_terminal.js'
import { ensureIndexed } from './search.js'
import { formatReferences } from './_format.js'

export const ask = defineCommand({
  meta: { name: 'ask', description: 'Answer a question from the papers, citing each claim [n], or say the papers do not answer it' },
  args: {
    ...indexArgs,
    ...llmArgs,
    question: { type: 'positional', required: false, description: 'The question, in quotes' },
    k: { type: 'string', alias: 'k', description: 'Papers to retrieve (default 5)' },
    ...filterArgs,
    stdin: { type: 'boolean', description: 'Read one question per line from stdin' },
    json: { type: 'boolean', description: 'Print one JSON object per question' },
    format: { type: 'string', description: 'text (default), json, markdown (the answer and its references) or bibtex (the cited papers)', valueHint: 'FORMAT' },
  },
  async run({ args, rawArgs }) {
    const k = parseK(args.k)
    const format = parseFormat(args.format, Boolean(args.json))
    const filter = parseFilterFlags(args, rawArgs)
    if (!args.stdin) checkQuestion(args.question, 'question', 'ask')
    else if (args.question !== undefined) warnNoEffect(`The question "${args.question}"`, 'with --stdin (the questions are read from stdin)')
    const services = await openServices(args)
    const abort = new AbortController()
    const onSigint = (): void => abort.abort()
    process.once('SIGINT', onSigint)
    try {
      await ensureIndexed(services.engine)
      checkFilter(services.engine, filter)
      const one = async (question: string): Promise<void> => {
        const streaming = format === 'text'
        // Answer text, titles and quotes come from models and files: printed without escape sequences (_terminal.ts).
        const text = new TerminalStream()
        const result = await services.ask(question, { k, filter, signal: abort.signal, ...(streaming ? { onToken: (t: string) => process.stdout.write(text.write(t)) } : {}) })
        if (format === 'json') printJson(toJson(result))
        else if (format === 'text') process.stdout.write(`${text.end()}\n${formatReferences(forTerminal(result), { color: useColor() })}\n`)
        else process.stdout.write(exportCitations([forTerminal(result)], format))
      }
      if (!args.stdin) return await one(checkQuestion(args.question, 'question', 'ask'))
      return await forEachStdinQuestion(format === 'json', 'question', one)
    } finally {
      process.off('SIGINT', onSigint)
      await services.close()
    }
  },
})

const FORMATS = ['text', 'json', ...CITATION_FORMATS] as const

/** `--format`, with `--json` as the short form of `--format json`. */
function parseFormat(value: string | undefined, json: boolean): (typeof FORMATS)[number] {
  const format = FORMATS.find((f) => f === (value ?? (json ? 'json' : 'text')).trim().toLowerCase())
  if (!format) throw new AppError('BAD_INPUT', `Unknown --format "${value}": use ${FORMATS.join(', ')}.`, { field: 'format' })
  if (json && format !== 'json') throw new AppError('BAD_INPUT', `--json prints JSON; it cannot be combined with --format ${format}.`, { field: 'format' })
  return format
}

/** The `ask --json` contract (shared with the HTTP API). */
export const toJson = toAnswerJson

