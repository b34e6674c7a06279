import type { ArgDef, ArgsDef, CommandDef } from 'citty'
import { distance } from 'fastest-levenshtein'
import { AppError } from '../errors.js'

type AnyCommand = CommandDef<ArgsDef>
type Resolvable<T> = T | Promise<T> | (() => T | Promise<T>)

const resolve = async <T>(value: Resolvable<T>): Promise<T> => (typeof value === 'function' ? (value as () => T | Promise<T>)() : value)

/**
 * citty (0.2) accepts any option and drops the ones a command does not declare, so `--jsn` or a
 * flag from another command would silently do nothing. This checks the raw arguments against the
 * options each command declares (its `args`, so commands and flags added later are covered),
 * following subcommands as citty does, and fails on the first unknown one with the closest
 * spelling. `path` names the command for the message, e.g. "askpapers search".
 */
export async function checkOptions(command: AnyCommand, rawArgs: readonly string[], path: string): Promise<void> {
  const options = optionTable(await resolve(command.args ?? {}))
  const subCommands = await resolve(command.subCommands ?? {})
  for (let i = 0; i < rawArgs.length; i++) {
    const arg = rawArgs[i] ?? ''
    if (arg === '--') return
    if (!arg.startsWith('-') || arg === '-' || /^-\d/.test(arg)) {
      const sub = (subCommands as Record<string, Resolvable<AnyCommand>>)[arg]
      // Options after a subcommand's name are that subcommand's.
      if (sub) return checkOptions(await resolve(sub), rawArgs.slice(i + 1), `${path} ${arg}`)
      continue
    }
    const eq = arg.indexOf('=')
    const name = eq === -1 ? arg : arg.slice(0, eq)
    const option = options.get(name)
    if (!option) throw unknownOption(name, options, path)
    if (option.takesValue && eq === -1) i++
  }
}

/**
 * The command the arguments name, following subcommands as citty does (`papers list` → list), with
 * a parent that names the path to it: what `--help` describes.
 */
export async function resolveCommand(command: AnyCommand, rawArgs: readonly string[], parent?: AnyCommand, path = ''): Promise<[AnyCommand, AnyCommand | undefined]> {
  const options = optionTable(await resolve(command.args ?? {}))
  const subCommands = (await resolve(command.subCommands ?? {})) as Record<string, Resolvable<AnyCommand>>
  for (let i = 0; i < rawArgs.length; i++) {
    const arg = rawArgs[i] ?? ''
    if (arg === '--') break
    if (arg.startsWith('-')) {
      if (!arg.includes('=') && options.get(arg)?.takesValue) i++
      continue
    }
    const sub = subCommands[arg]
    if (!sub) return [command, parent]
    // The usage line names the whole path: "askpapers papers list".
    const meta = await resolve(command.meta ?? {})
    const name = path || `${(await resolve(parent?.meta ?? {})).name ?? ''} ${meta.name ?? ''}`.trim()
    return resolveCommand(await resolve(sub), rawArgs.slice(i + 1), { meta: { ...meta, name } }, `${name} ${arg}`)
  }
  return [command, parent]
}

interface Option {
  takesValue: boolean
  /** How the help spells it: a suggestion names this. */
  canonical: string
}

/** Every spelling citty accepts: --name, its camelCase and kebab-case forms, aliases (-k), --no-name for booleans. */
function optionTable(args: ArgsDef): Map<string, Option> {
  const table = new Map<string, Option>([
    ['--help', { takesValue: false, canonical: '--help' }],
    ['-h', { takesValue: false, canonical: '--help' }],
  ])
  for (const [name, def] of Object.entries(args) as [string, ArgDef][]) {
    if (def.type === 'positional') continue
    const takesValue = def.type === 'string' || def.type === 'enum'
    const canonical = `--${kebab(name)}`
    const alias = 'alias' in def ? def.alias : undefined
    const aliases = alias === undefined ? [] : Array.isArray(alias) ? alias : [alias]
    for (const spelling of new Set([name, kebab(name), camel(name), ...aliases])) {
      table.set(spelling.length === 1 ? `-${spelling}` : `--${spelling}`, { takesValue, canonical })
      if (spelling.length === 1) table.set(`--${spelling}`, { takesValue, canonical })
      if (def.type === 'boolean') table.set(`--no-${spelling}`, { takesValue: false, canonical: `--no-${kebab(name)}` })
    }
  }
  return table
}

function unknownOption(name: string, options: Map<string, Option>, path: string): AppError {
  const closest = suggest(name, [...new Set([...options.values()].map((o) => o.canonical))])
  const hint = closest ? `did you mean ${closest}? (${path} --help lists its options)` : `${path} --help lists its options`
  return new AppError('BAD_INPUT', `unknown option ${name}; ${hint}`, { field: name })
}

/** The option (or command) a typo most likely meant: a unique prefix (--embed → --embedder is not unique), else within a few edits. */
export function suggest(name: string, candidates: string[]): string | undefined {
  const bare = name.replace(/^-+/, '')
  const prefixed = candidates.filter((c) => bare.length >= 2 && c.replace(/^-+/, '').startsWith(bare))
  if (prefixed.length === 1) return prefixed[0]
  let best: { candidate: string; edits: number } | undefined
  for (const candidate of candidates) {
    const edits = distance(bare, candidate.replace(/^-+/, ''))
    if (!best || edits < best.edits) best = { candidate, edits }
  }
  // About one edit in three letters is a typo (a swap of two letters counts two: --modle, --prot);
  // more, and the suggestion would be a guess ("--bogus").
  return best && best.edits <= Math.max(1, Math.ceil(bare.length / 3)) ? best.candidate : undefined
}

const kebab = (name: string): string => name.replace(/([a-z0-9])([A-Z])/g, '$1-$2').toLowerCase()
const camel = (name: string): string => name.replace(/-([a-z0-9])/g, (_, c: string) => c.toUpperCase())
