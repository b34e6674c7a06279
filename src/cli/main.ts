import { defineCommand, runCommand, showUsage } from 'citty'
import { isAppError, type ErrorCode } from '../errors.js'
import { ask } from './ask.js'
import { chat } from './chat.js'
import { evaluate } from './eval.js'
import { ingest } from './ingest.js'
import { mcp } from './mcp.js'
import { repair } from './repair.js'
import { search } from './search.js'
import { serve } from './serve.js'

const main = defineCommand({
  meta: { name: 'askpapers', version: '0.1.0', description: 'Cited answers from research-paper abstracts' },
  subCommands: { ingest, repair, search, ask, chat, eval: evaluate, serve, mcp },
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
  MODEL_MISSING: 4,
  TIMEOUT: 4,
}

/** The one place CLI errors become a message and an exit code; user errors never show a stack. */
export async function runCli(argv: string[]): Promise<void> {
  try {
    if (argv.length === 0 || argv[0] === '--help' || argv[0] === '-h') {
      await showUsage(main)
      return
    }
    if (argv[0] === '--version' || argv[0] === '-v') {
      process.stdout.write('0.1.0\n')
      return
    }
    const sub = argv[0] ?? ''
    const commands = main.subCommands as Record<string, Parameters<typeof showUsage>[0]>
    const command = commands[sub]
    if (!command) {
      process.stderr.write(`askpapers: unknown command "${sub}". Commands: ${Object.keys(commands).join(', ')}. Try askpapers --help.\n`)
      process.exitCode = 2
      return
    }
    if (argv.includes('--help') || argv.includes('-h')) {
      await showUsage(command, main)
      return
    }
    await runCommand(command, { rawArgs: argv.slice(1) })
  } catch (error) {
    if (isAppError(error)) {
      process.stderr.write(`askpapers: ${error.message}\n`)
      process.exitCode = EXIT_CODES[error.code]
    } else {
      process.stderr.write(`askpapers: unexpected error: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`)
      process.exitCode = 1
    }
  }
}
