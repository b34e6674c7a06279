import type { Engine } from '../engine.js'
import { buildFilter, filterPapers, type PaperFilter } from '../retrieve/index.js'

/** Flags that restrict search, ask, chat and `papers list` to some papers. */
export const filterArgs = {
  year: { type: 'string', description: 'Only papers from these years: 2023, 2023..2024, 2023.. or ..2024' },
  source: { type: 'string', description: 'Only papers read from this file or directory (repeatable)' },
  id: { type: 'string', description: 'Only these paper ids (repeatable)' },
} as const

/**
 * The filter the flags name. citty keeps only the last value of a repeated flag, so repeated
 * `--source`/`--id` are read from the raw arguments (`--source a --source=b`).
 */
export function parseFilterFlags(args: { year?: string | undefined }, rawArgs: readonly string[]): PaperFilter | undefined {
  return buildFilter({ year: args.year, sources: repeated(rawArgs, 'source'), ids: repeated(rawArgs, 'id') })
}

function repeated(rawArgs: readonly string[], name: string): string[] {
  const values: string[] = []
  for (let i = 0; i < rawArgs.length; i++) {
    const arg = rawArgs[i] ?? ''
    if (arg === '--') break
    if (arg === `--${name}` && rawArgs[i + 1] !== undefined) values.push(rawArgs[++i] ?? '')
    else if (arg.startsWith(`--${name}=`)) values.push(arg.slice(name.length + 3))
  }
  return values
}

/** Fails at once (exit 2, naming the filter) when no indexed paper matches, before any question is read. */
export function checkFilter(engine: Engine, filter: PaperFilter | undefined): void {
  if (filter) filterPapers(engine.index.records.values(), filter)
}
