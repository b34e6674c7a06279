import { defineCommand } from 'citty'
import type { Engine } from '../engine.js'
import { AppError } from '../errors.js'
import { toSearchJson, type SearchJson, type SearchMode } from '../retrieve/index.js'
import { checkFilter, filterArgs, parseFilterFlags } from './_filters.js'
import { checkQuestion, forEachStdinQuestion, indexArgs, ingestProgress, lockOptions, openServices, parseK, printJson, warnNoEffect } from './_shared.js'
import { forTerminal } from './_terminal.js'

export const search = defineCommand({
  meta: { name: 'search', description: 'Find the papers that bear on a question (hybrid keyword + dense search)' },
  args: {
    ...indexArgs,
    question: { type: 'positional', required: false, description: 'The question, in quotes' },
    k: { type: 'string', alias: 'k', description: 'Number of papers (default 5)' },
    mode: { type: 'string', description: 'hybrid (default) | keyword | dense' },
    ...filterArgs,
    stdin: { type: 'boolean', description: 'Read one question per line from stdin' },
    json: { type: 'boolean', description: 'JSON output (one line per question with --stdin)' },
  },
  async run({ args, rawArgs }) {
    const k = parseK(args.k)
    const mode = parseMode(args.mode)
    const filter = parseFilterFlags(args, rawArgs)
    if (!args.stdin) checkQuestion(args.question)
    else if (args.question !== undefined) warnNoEffect(`The question "${args.question}"`, 'with --stdin (the questions are read from stdin)')
    const services = await openServices(args)
    try {
      await ensureIndexed(services.engine)
      checkFilter(services.engine, filter)
      const one = async (question: string) => toSearchJson(question, (await services.search(question, { k, mode, filter })).hits)
      if (!args.stdin) {
        const result = await one(checkQuestion(args.question))
        if (args.json) printJson(result)
        else printHuman(result)
        return
      }
      return await forEachStdinQuestion(Boolean(args.json), 'query', async (question) => {
        const result = await one(question)
        if (args.json) printJson(result)
        else printHuman(result)
      })
    } finally {
      await services.close()
    }
  },
})

/**
 * A fresh clone has no index yet: build it from the seeds so the first search just works. Only a
 * directory with no index at all is seeded (a damaged one fails to open instead), and only if it is
 * still empty once this process holds the write lock.
 */
export async function ensureIndexed(engine: Engine): Promise<void> {
  if (!engine.index.isEmpty) return
  process.stderr.write(`No index in ${engine.location} yet: indexing the bundled seed papers first.\n`)
  const progress = ingestProgress('Embedding')
  try {
    const summary = await engine.ingest([], { ...lockOptions({}), onlyIfEmpty: true, onPlan: progress.onPlan, onProgress: progress.onProgress })
    progress.stop()
    process.stderr.write(`Indexed ${summary.papers} papers in ${summary.seconds.toFixed(1)} s.\n`)
  } finally {
    progress.stop()
  }
}

function parseMode(mode: string | undefined): SearchMode {
  if (mode === undefined || mode === 'hybrid' || mode === 'keyword' || mode === 'dense') return mode ?? 'hybrid'
  throw new AppError('BAD_INPUT', `Unknown --mode "${mode}": use hybrid, keyword or dense.`, { field: 'mode' })
}

function printHuman(result: SearchJson): void {
  const { query, results } = forTerminal(result)
  const lines = [`Results for: ${query}`]
  if (results.length === 0) lines.push('  No paper matches.')
  results.forEach((r, i) => {
    lines.push(`${String(i + 1).padStart(2)}. ${r.title}  (score ${r.score.toFixed(3)}, ${r.id})`)
    if (r.passages[0]) lines.push(`    “${truncate(r.passages[0], 240)}”`)
  })
  process.stdout.write(`${lines.join('\n')}\n\n`)
}

const truncate = (s: string, n: number): string => (s.length > n ? `${s.slice(0, n - 1)}…` : s)
