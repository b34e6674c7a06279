import { stripVTControlCharacters } from 'node:util'
import { defineCommand, renderUsage, runCommand } from 'citty'
import { VERSION } from '../config.js'
import { AppError, isAppError, type ErrorCode } from '../errors.js'
import { checkOptions, resolveCommand, suggest } from './_args.js'
import { sanitize, useColor } from './_terminal.js'
import { ask } from './ask.js'
import { chat } from './chat.js'
import { evaluate } from './eval.js'
import { ingest } from './ingest.js'
import { mcp } from './mcp.js'
import { migrate } from './migrate.js'
import { papers } from './papers.js'
import { repair } from './repair.js'
import { search } from './search.js'
import { serve } from './serve.js'

const main = defineCommand({
  meta: { name: 'askpapers', version: VERSION, description: 'Cited answers from research-paper abstracts' },
  subCommands: { ingest, papers, repair, search, ask, chat, eval: evaluate, serve, mcp, migrate },
})

/** Exit codes by error kind, documented in the README. */
const EXIT_CODES: Record<ErrorCode, number> = {
  BAD_INPUT: 2,
  NOT_FOUND: 2,
  UNKNOWN_FORMAT: 2,
  EMPTY_FILE: 2,
  CONFIG: 2,
  EMBEDDER_MISMATCH: 3,
  INDEX_CORRUPT: 3,
  INDEX_LOCKED: 6,
  PROVIDER_UNAVAILABLE: 4,
  STORE_UNAVAILABLE: 4,
  MODEL_MISSING: 4,
  TIMEOUT: 4,
  DECLINED: 1,
}

/** The one place CLI errors become a message and an exit code; user errors never show a stack. */
export async function runCli(argv: string[]): Promise<void> {
  try {
    if (argv.length === 0 || argv[0] === '--help' || argv[0] === '-h') {
      await showUsage(main)
      return
    }
    if (argv[0] === '--version' || argv[0] === '-v') {
      process.stdout.write(`${VERSION}\n`)
      return
    }
    const sub = argv[0] ?? ''
    const commands = main.subCommands as Record<string, Command>
    const command = commands[sub]
    if (!command) {
      const closest = suggest(sub, Object.keys(commands))
      throw new AppError('BAD_INPUT', `unknown command "${sub}"${closest ? `; did you mean ${closest}?` : '.'} Commands: ${Object.keys(commands).join(', ')}. Try askpapers --help.`)
    }
    if (argv.includes('--help') || argv.includes('-h')) {
      const [described, parent] = await resolveCommand(command, argv.slice(1), main)
      await showUsage(described, parent)
      return
    }
    await checkOptions(command, argv.slice(1), `askpapers ${sub}`)
    // A command returns the exit code of an outcome that is no error but not plain success (README, "Exit codes").
    const { result } = await runCommand(command, { rawArgs: argv.slice(1) })
    if (typeof result === 'number') process.exitCode = result
  } catch (error) {
    if (isAppError(error)) {
      // A declined confirmation is the person's own choice, not a fault: its message stands alone.
      process.stderr.write(error.code === 'DECLINED' ? `${sanitize(error.message)}\n` : `askpapers: ${sanitize(error.message)}\n`)
      process.exitCode = EXIT_CODES[error.code]
    } else if (error instanceof Error && error.name === 'CLIError') {
      // citty's own argument errors ("Missing required positional argument: ID"): a usage error, no stack.
      process.stderr.write(`askpapers: ${sanitize(error.message)}; askpapers ${sanitize(argv[0] ?? '')} --help shows the usage.\n`)
      process.exitCode = 2
    } else {
      process.stderr.write(`askpapers: unexpected error: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`)
      process.exitCode = 1
    }
  }
}

type Command = Parameters<typeof renderUsage>[0]

/** citty's usage, without its colours when stdout is no terminal or NO_COLOR is set (citty only checks NO_COLOR=1). */
async function showUsage(command: Command, parent?: Command): Promise<void> {
  const usage = await renderUsage(command, parent)
  process.stdout.write(`${useColor() ? usage : stripVTControlCharacters(usage)}\n\n`)
}
