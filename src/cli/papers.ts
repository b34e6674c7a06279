import { createInterface } from 'node:readline/promises'
import { defineCommand } from 'citty'
import { authorLine, linkLabel, paperLink, paperYear } from '../corpus/index.js'
import type { Engine } from '../engine.js'
import { AppError } from '../errors.js'
import type { StoredPaper } from '../index/index.js'
import { describeFilter, filterPapers } from '../retrieve/index.js'
import { filterArgs, parseFilterFlags } from './_filters.js'
import { indexArgs, lockOptions, openServices, printJson, writeArgs } from './_shared.js'
import { sanitize } from './_terminal.js'

const SUBCOMMANDS = ['list', 'show', 'remove'] as const
const DEFAULT_LIMIT = 50
const MAX_LIMIT = 100_000

const list = defineCommand({
  meta: { name: 'list', description: 'The indexed papers (id, year, title), filtered and paged' },
  args: {
    ...indexArgs,
    ...filterArgs,
    limit: { type: 'string', description: `Papers to show (default ${DEFAULT_LIMIT})` },
    offset: { type: 'string', description: 'Papers to skip first (default 0)' },
    json: { type: 'boolean', description: 'Print {total, offset, limit, papers: [...]}' },
  },
  async run({ args, rawArgs }) {
    const filter = parseFilterFlags(args, rawArgs)
    const limit = wholeNumber(args.limit, '--limit', DEFAULT_LIMIT, 1)
    const offset = wholeNumber(args.offset, '--offset', 0, 0)
    await withEngine(args, async (engine) => {
      const all = [...engine.index.records.values()]
      const matching = filter ? filterPapers(all, filter) : all
      const page = matching.slice(offset, offset + limit)
      if (args.json) {
        printJson({ total: matching.length, offset, limit, papers: page.map(summary) })
        return
      }
      const what = filter ? ` matching ${describeFilter(filter)}` : ''
      if (all.length === 0) return void process.stdout.write(`No papers in ${engine.location} yet: \`askpapers ingest\` indexes the bundled seeds.\n`)
      const lines = [`${matching.length} of ${all.length} papers${what}${page.length < matching.length ? `, ${offset + 1}–${offset + page.length} shown` : ''}:`]
      const width = Math.max(...page.map((p) => p.id.length), 2)
      for (const p of page) lines.push(`  ${sanitize(p.id).padEnd(width)}  ${String(paperYear(p) ?? '').padEnd(4)}  ${sanitize(truncate(p.title, 100))}`)
      if (offset + page.length < matching.length) lines.push(`Next page: --offset ${offset + page.length}${args.limit ? ` --limit ${limit}` : ''}.`)
      else if (page.length === 0) lines.push(`  (none at --offset ${offset})`)
      process.stdout.write(`${lines.join('\n')}\n`)
    })
  },
})

const show = defineCommand({
  meta: { name: 'show', description: 'One paper in full: title, authors, date, link, sources, abstract' },
  args: {
    ...indexArgs,
    id: { type: 'positional', required: false, description: 'The paper id (askpapers papers list shows them)' },
    json: { type: 'boolean', description: 'Print the record as JSON' },
  },
  async run({ args }) {
    const id = args.id
    if (!id) throw new AppError('BAD_INPUT', 'Which paper? Pass its id: askpapers papers show ID (askpapers papers list shows the ids).', { field: 'id' })
    await withEngine(args, async (engine) => {
      const paper = known(engine, [id])[0] as StoredPaper
      if (args.json) return printJson(record(paper))
      const year = paperYear(paper)
      const lines = [
        sanitize(paper.title),
        '',
        `Id:       ${sanitize(paper.id)}`,
        `Authors:  ${sanitize(authorLine(paper))}`,
        `Date:     ${paper.date ? `${sanitize(paper.date)}${year !== undefined && !paper.date.includes(String(year)) ? ` (year ${year})` : ''}` : year !== undefined ? `${year} (from the id)` : 'not in the source'}`,
        `Link:     ${sanitize(linkLabel(paperLink(paper)))}`,
        ...paper.sources.map((s, i) => `${i === 0 ? 'Sources:' : '        '}  ${sanitize(s)}`),
        '',
        sanitize(paper.abstract),
      ]
      process.stdout.write(`${lines.join('\n')}\n`)
    })
  },
})

const remove = defineCommand({
  meta: { name: 'remove', description: 'Remove papers (and their chunks) from the index; asks first unless --yes' },
  args: {
    ...indexArgs,
    ...writeArgs,
    yes: { type: 'boolean', description: 'Remove without asking (needed when stdin is not a terminal)' },
    json: { type: 'boolean', description: 'Print {removed: [{id, title}], papers}' },
  },
  async run({ args }) {
    const ids = [...new Set(args._.map(String))]
    if (ids.length === 0) throw new AppError('BAD_INPUT', 'Which papers? Pass their ids: askpapers papers remove ID... (askpapers papers list shows the ids).', { field: 'id' })
    await withEngine(args, async (engine) => {
      const papers = known(engine, ids)
      const listing = papers.map((p) => `  ${sanitize(p.id)}  ${sanitize(truncate(p.title, 100))}`).join('\n')
      const what = `${papers.length} paper${papers.length === 1 ? '' : 's'}`
      if (!args.yes) {
        if (!process.stdin.isTTY) {
          throw new AppError('BAD_INPUT', `Not removing ${what} without confirmation (stdin is not a terminal): add --yes, e.g. askpapers papers remove ${ids.join(' ')} --yes`, { field: 'yes' })
        }
        // Thrown, not returned: citty drops a subcommand's result; main.ts maps DECLINED to exit 1.
        if (!(await confirm(`Remove ${what} from ${engine.location}?\n${listing}\n[y/N] `))) throw new AppError('DECLINED', 'Nothing removed.')
      }
      const { removed, papers: left } = await engine.remove(ids, lockOptions(args))
      if (args.json) return printJson({ removed: removed.map((p) => ({ id: p.id, title: p.title })), papers: left })
      const lines = [`Removed ${removed.length} paper${removed.length === 1 ? '' : 's'} from ${engine.location}; ${left} left:`]
      for (const p of removed) lines.push(`  ${sanitize(p.id)}  ${sanitize(truncate(p.title, 100))}`)
      process.stdout.write(`${lines.join('\n')}\n`)
    })
  },
})

export const papers = defineCommand({
  meta: { name: 'papers', description: 'List, show or remove indexed papers: papers list | show ID | remove ID...' },
  subCommands: { list, show, remove },
  // citty's own "unknown command" is no AppError: answered here, with the fix, before it looks.
  setup({ rawArgs }) {
    const sub = rawArgs.find((a) => !a.startsWith('-'))
    if (!sub || !(SUBCOMMANDS as readonly string[]).includes(sub)) {
      throw new AppError('BAD_INPUT', `${sub ? `Unknown papers command "${sub}"` : 'papers needs a command'}: use askpapers papers list, papers show ID or papers remove ID...`)
    }
  },
})

/** Runs with the engine open; returns what `run` returns (an exit code, or nothing). */
async function withEngine<T>(args: Parameters<typeof openServices>[0], run: (engine: Engine) => Promise<T>): Promise<T> {
  const { engine } = await openServices(args)
  try {
    return await run(engine)
  } finally {
    await engine.close()
  }
}

/** The papers with these ids; any unknown id is an error naming it, before anything is done. */
function known(engine: Engine, ids: readonly string[]): StoredPaper[] {
  const missing = ids.filter((id) => !engine.index.records.has(id))
  if (missing.length > 0) {
    const names = missing.map((id) => `"${sanitize(id)}"`).join(', ')
    throw new AppError('NOT_FOUND', `No paper with id ${names} in ${engine.location}${ids.length > 1 ? ' (nothing was done)' : ''}; \`askpapers papers list\` shows the ids.`, { field: 'id' })
  }
  return ids.map((id) => engine.index.records.get(id) as StoredPaper)
}

/** The stored record as `papers show --json` (and GET /v1/papers/{id}) give it, plus its year. */
function record(paper: StoredPaper): Record<string, unknown> {
  const { contentHash: _hash, plainAbstract: _plain, ...rest } = paper
  const year = paperYear(paper)
  return { ...rest, ...(year !== undefined ? { year } : {}) }
}

function summary(paper: StoredPaper): Record<string, unknown> {
  const year = paperYear(paper)
  return {
    id: paper.id,
    title: paper.title,
    ...(year !== undefined ? { year } : {}),
    ...(paper.date ? { date: paper.date } : {}),
    ...(paper.authors ? { authors: paper.authors } : {}),
    ...(paper.authorCount !== undefined ? { authorCount: paper.authorCount } : {}),
    ...(paper.url ? { url: paper.url } : {}),
    sources: paper.sources,
  }
}

function wholeNumber(value: string | undefined, flag: string, fallback: number, min: number): number {
  if (value === undefined) return fallback
  const n = Number(value)
  if (!Number.isInteger(n) || n < min || n > MAX_LIMIT) throw new AppError('BAD_INPUT', `${flag} must be a whole number from ${min} to ${MAX_LIMIT}, not "${value}".`, { field: flag.slice(2) })
  return n
}

async function confirm(question: string): Promise<boolean> {
  const rl = createInterface({ input: process.stdin, output: process.stderr })
  try {
    return /^y(es)?$/i.test((await rl.question(question)).trim())
  } finally {
    rl.close()
  }
}

const truncate = (s: string, n: number): string => (s.length > n ? `${s.slice(0, n - 1)}…` : s)
