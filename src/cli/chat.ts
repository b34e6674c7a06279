import { writeFile } from 'node:fs/promises'
import { createInterface, type Interface } from 'node:readline'
import { resolve } from 'node:path'
import { defineCommand } from 'citty'
import { citationFields } from '../corpus/index.js'
import { ChatSession, SessionStore, transcriptMarkdown, type ChatTurn, type ChatTurnResult } from '../chat/index.js'
import type { StoredPaper } from '../index/index.js'
import type { PaperFilter } from '../retrieve/index.js'
import { AppError, isAppError } from '../errors.js'
import { citedAs, formatReferences, hang } from './_format.js'
import { checkFilter, filterArgs, parseFilterFlags } from './_filters.js'
import { indexArgs, llmArgs, openServices, parseK, warnNoEffect } from './_shared.js'
import { toJson } from './ask.js'
import { forTerminal, sanitize, TerminalStream, useColor } from './_terminal.js'
import { ensureIndexed } from './search.js'

export const PROMPT = 'askpapers> '

const HELP = [
  'Ask a question, then ask follow-ups about the answer:',
  '"how much memory does it save?", "which of those used LoRA?", "the second one?"',
  '',
  '  /sources     the last answer\'s references, quotes and what was searched for',
  '  /paper N     the full abstract of reference N of the last answer',
  '  /reset       forget the conversation (the next question is read on its own)',
  '  /save FILE   write the conversation as Markdown to FILE',
  '  /help        this list',
  '  /exit        leave (or Ctrl-D)',
  '',
  'Ctrl-C cancels an answer in progress.',
].join('\n')

export const chat = defineCommand({
  meta: { name: 'chat', description: 'A conversation: ask, then ask follow-ups; every answer cites the papers [n]' },
  args: {
    ...indexArgs,
    ...llmArgs,
    session: { type: 'string', description: 'Keep the conversation in <data-dir>/sessions/<session>.json and resume it next time' },
    k: { type: 'string', alias: 'k', description: 'Papers to retrieve per answer (default 5)' },
    ...filterArgs,
    json: { type: 'boolean', description: 'Print one JSON line per answer (as ask --json, plus standalone and condensedBy)' },
    verbose: { type: 'boolean', description: 'Show what each follow-up was rewritten to (the question searched for) before its answer' },
  },
  async run({ args, rawArgs }) {
    const k = parseK(args.k)
    if (args.verbose && args.json) warnNoEffect('--verbose', 'with --json (each JSON line already has the rewritten question, as "standalone")')
    const filter = parseFilterFlags(args, rawArgs)
    const services = await openServices(args)
    const { engine } = services
    try {
      const name = args.session
      const store = new SessionStore(engine.config.dataDir)
      const saved = name === undefined ? { turns: [] } : await store.load(name)
      if (saved.warning) process.stderr.write(`askpapers: ${saved.warning}\n`)
      await ensureIndexed(engine)
      checkFilter(engine, filter)
      // Built now, so an index that cannot answer fails before the first prompt.
      await engine.answerer()
      const session = await services.chat({ turns: saved.turns })
      const repl = new Repl({
        papers: services.papers,
        session,
        k,
        filter,
        json: Boolean(args.json),
        verbose: Boolean(args.verbose),
        interactive: Boolean(process.stdin.isTTY),
        ...(name === undefined ? {} : { save: () => store.save(name, session) }),
      })
      if (repl.interactive) {
        const resumed = session.turns.length > 0 ? ` Resumed session "${name}" (${session.turns.length} earlier turn(s)).` : ''
        process.stdout.write(`askpapers chat: ${engine.index.info().papers} papers, answers by ${services.model}.${resumed}\nAsk a question; /help lists the commands, Ctrl-D exits.\n\n`)
      }
      return await repl.run()
    } finally {
      await services.close()
    }
  },
})

interface ReplOptions {
  /** The papers of the index being answered from (for /sources). */
  papers: ReadonlyMap<string, StoredPaper>
  session: ChatSession
  k: number
  filter: PaperFilter | undefined
  json: boolean
  /** Print the rewritten question before each answer; otherwise only /sources shows it. */
  verbose: boolean
  /** A person at a terminal: prompt, line editing, Ctrl-C cancels. Otherwise one message per line of stdin. */
  interactive: boolean
  /** Persists the session after each change (with --session). */
  save?: () => Promise<void>
  /** Where it reads and writes; the process's stdin, stdout and stderr by default. */
  io?: ReplIo
}

/** The streams the chat talks through: injected, so it can be driven without a terminal. */
export interface ReplIo {
  input: NodeJS.ReadableStream
  output: NodeJS.WritableStream & { isTTY?: boolean; columns?: number }
  errors: { write(text: string): unknown }
}

/** Reads messages and commands, answers them one at a time, and handles Ctrl-C and Ctrl-D. */
class Repl {
  readonly interactive: boolean
  private readonly color: boolean
  private readonly width: number
  /** Every turn since the start or the last /reset, for /save (the session keeps a bounded window). */
  private log: ChatTurn[]
  private current: AbortController | undefined
  private closed = false
  /** Leave after the current line (double Ctrl-C, or Ctrl-C with piped input). */
  private stopped = false
  private interrupts = 0
  private exitCode: number | undefined

  private readonly io: ReplIo

  constructor(private readonly options: ReplOptions) {
    this.io = options.io ?? { input: process.stdin, output: process.stdout, errors: process.stderr }
    this.interactive = options.interactive
    this.color = useColor()
    this.width = this.io.output.isTTY ? Math.min(Math.max(this.io.output.columns || 80, 40), 100) : 80
    this.log = [...options.session.turns]
  }

  /** Reads until the end of input or /exit; returns the exit code (130 after Ctrl-C on piped input, 2 after a bad line), none for success. */
  async run(): Promise<number | undefined> {
    const rl = createInterface({
      input: this.io.input,
      ...(this.interactive ? { output: this.io.output, prompt: PROMPT, terminal: true, historySize: 200 } : { terminal: false }),
      crlfDelay: Infinity,
    })
    const onInterrupt = (): void => this.interrupt(rl)
    rl.on('SIGINT', onInterrupt)
    rl.on('close', () => (this.closed = true))
    // Raw mode turns Ctrl-C into a keypress (rl's SIGINT); a real signal (kill -INT, or piped input) lands here.
    process.on('SIGINT', onInterrupt)
    try {
      if (this.interactive) rl.prompt()
      // Lines typed (or piped) while an answer streams wait their turn in the iterator's buffer.
      for await (const line of rl) {
        if (this.stopped) break
        this.interrupts = 0
        const text = line.trim()
        if (text) {
          if (!this.interactive && !this.options.json) this.io.output.write(`${PROMPT}${sanitize(text)}\n`)
          if ((await this.handle(text)) === 'exit' || this.stopped) break
        }
        if (this.interactive && !this.closed) rl.prompt()
      }
      // Ctrl-D leaves the cursor after the prompt: end that line before the shell's prompt.
      if (this.interactive && this.closed && !this.stopped) this.io.output.write('\n')
    } finally {
      process.off('SIGINT', onInterrupt)
      rl.close()
    }
    return this.exitCode
  }

  /** Ctrl-C: cancel the answer in flight; at the prompt, clear the line, then hint, then leave. */
  private interrupt(rl: Interface): void {
    if (!this.interactive) {
      // Piped input has no prompt to return to: stop, as any command does on Ctrl-C.
      this.current?.abort()
      this.stopped = true
      this.exitCode = 130
      rl.close()
      return
    }
    if (this.current) {
      this.current.abort()
      return
    }
    if (rl.line) {
      rl.write(null, { ctrl: true, name: 'e' })
      rl.write(null, { ctrl: true, name: 'u' })
      return
    }
    if (++this.interrupts >= 2) {
      this.io.output.write('\n')
      this.stopped = true
      rl.close()
      return
    }
    this.io.output.write('\n(To leave, press Ctrl-C again, press Ctrl-D or type /exit.)\n')
    rl.prompt()
  }

  private async handle(text: string): Promise<'exit' | undefined> {
    const command = /^\/([a-z]+)\b\s*(.*)$/i.exec(text)
    try {
      if (!command) return await this.ask(text)
      return await this.command((command[1] ?? '').toLowerCase(), (command[2] ?? '').trim())
    } catch (error) {
      if (!isAppError(error) || (!this.interactive && error.code !== 'BAD_INPUT')) throw error
      if (!this.interactive) this.exitCode = 2
      if (this.options.json) this.printJson(command ? { command: command[1], error: { code: error.code, message: error.message } } : { question: text.slice(0, 200), error: { code: error.code, message: error.message } })
      else this.io.errors.write(`askpapers: ${sanitize(error.message)}\n`)
      return undefined
    }
  }

  private async ask(message: string): Promise<undefined> {
    const { json, verbose } = this.options
    const dim = paint(this.color, '2')
    // The answer (and the rewritten question) come from a model: printed without escape sequences (_terminal.ts).
    const text = new TerminalStream()
    const out = new WrappedWriter(this.width, (s) => this.io.output.write(s))
    const controller = new AbortController()
    this.current = controller
    let result: ChatTurnResult
    try {
      result = await this.options.session.send(message, {
        signal: controller.signal,
        k: this.options.k,
        filter: this.options.filter,
        onStandalone: (standalone, { warning }) => {
          if (warning) this.io.errors.write(`askpapers: ${sanitize(warning)}\n`)
          if (verbose && !json && standalone !== message) this.io.output.write(`${hang(`(Searching for: ${sanitize(standalone)})`, this.width, '  ').map(dim).join('\n')}\n`)
        },
        ...(json ? {} : { onToken: (t: string) => out.write(text.write(t)) }),
      })
    } catch (error) {
      out.write(text.end())
      out.end()
      if (!controller.signal.aborted) throw error
      if (json) this.io.errors.write('Cancelled.\n')
      else this.io.output.write(`${dim('(Cancelled.)')}\n\n`)
      return undefined
    } finally {
      this.current = undefined
    }
    const turn = this.options.session.turns.at(-1)
    if (turn) this.log.push(turn)
    if (json) this.printJson({ ...toJson(result), standalone: result.standalone, condensedBy: result.condensedBy, ...(result.condenseWarning ? { condenseWarning: result.condenseWarning } : {}) })
    else {
      out.write(text.end())
      out.end()
      this.io.output.write(`${formatReferences(forTerminal(result), { color: this.color, width: this.width })}\n\n`)
    }
    await this.persist()
    return undefined
  }

  private async command(name: string, arg: string): Promise<'exit' | undefined> {
    switch (name) {
      case 'exit':
      case 'quit':
        return 'exit'
      case 'help':
        this.io.output.write(`${HELP}\n\n`)
        return undefined
      case 'reset':
        this.options.session.reset()
        this.log = []
        await this.persist()
        if (this.options.json) this.printJson({ command: 'reset' })
        else this.io.output.write('New conversation: the next question is read on its own.\n\n')
        return undefined
      case 'sources':
        return this.sources()
      case 'paper':
        return this.paper(arg)
      case 'save':
        return this.saveTranscript(arg)
      default:
        throw new AppError('BAD_INPUT', `Unknown command /${name}: try /help.`)
    }
  }

  private lastTurn(): ChatTurn {
    const last = this.options.session.turns.at(-1)
    if (!last) throw new AppError('BAD_INPUT', 'No answer yet: ask a question first.')
    return last
  }

  private sources(): undefined {
    const turn = this.lastTurn()
    if (this.options.json) {
      this.printJson({ command: 'sources', references: turn.references.map((r) => ({ n: r.n, id: r.id, title: r.title, url: r.url ?? null, quote: r.quote, ...citationFields(r) })) })
      return undefined
    }
    const { references, message, standalone } = forTerminal(turn)
    const bold = paint(this.color, '1')
    const dim = paint(this.color, '2')
    // The rewrite of a follow-up is the question that was searched for; it is shown here, not above the answer.
    const searched = standalone !== message ? hang(`Searched for: ${standalone}`, this.width, '  ').map(dim) : []
    if (references.length === 0) {
      this.io.output.write(`${['The last answer cites no papers.', ...searched].join('\n')}\n\n`)
      return undefined
    }
    const lines = [bold('Sources of the last answer')]
    for (const r of references) {
      lines.push(...hang(`[${r.n}] ${r.title}`, this.width, '    '), ...hang(citedAs(r), this.width, '    ', '    '))
      if (r.quote) lines.push(...hang(`“${r.quote}”`, this.width, '    ', '    ').map(dim))
    }
    lines.push(...searched)
    this.io.output.write(`${lines.join('\n')}\n\n`)
    return undefined
  }

  private paper(arg: string): undefined {
    const { references } = this.lastTurn()
    if (!/^\d+$/.test(arg)) throw new AppError('BAD_INPUT', 'Which paper? Give its number in the last answer, e.g. /paper 1.')
    const n = Number(arg)
    const ref = references.find((r) => r.n === n)
    if (!ref) {
      const range = references.length === 0 ? 'the last answer cites no papers' : references.length === 1 ? 'the last answer cites only [1]' : `the last answer cites [1] to [${references.length}]`
      throw new AppError('BAD_INPUT', `There is no paper [${n}]: ${range}.`)
    }
    const paper = this.options.papers.get(ref.id)
    const plain = paper?.plainAbstract ?? '(This paper is no longer in the index.)'
    if (this.options.json) {
      this.printJson({ command: 'paper', n, id: ref.id, title: ref.title, url: ref.url ?? null, abstract: plain, ...citationFields(paper ?? ref) })
      return undefined
    }
    const { title, id, abstract, cited } = forTerminal({ title: ref.title, id: ref.id, abstract: plain, cited: citedAs(paper ?? ref, { id: false }) })
    const bold = paint(this.color, '1')
    const lines = [
      ...hang(`[${n}] ${title}`, this.width, '    ').map(bold),
      `    id: ${id}`,
      ...hang(cited, this.width, '    ', '    '),
      '',
      ...hang(abstract, this.width, ''),
    ]
    this.io.output.write(`${lines.join('\n')}\n\n`)
    return undefined
  }

  private async saveTranscript(arg: string): Promise<undefined> {
    if (!arg) throw new AppError('BAD_INPUT', 'Save where? Give a file name, e.g. /save chat.md.')
    const file = resolve(arg)
    try {
      await writeFile(file, transcriptMarkdown(this.log))
    } catch (error) {
      throw new AppError('BAD_INPUT', `Cannot write ${file}: ${(error as Error).message}`, { cause: error })
    }
    if (this.options.json) this.printJson({ command: 'save', file, turns: this.log.length })
    else this.io.output.write(`Saved ${this.log.length} turn(s) to ${file}.\n\n`)
    return undefined
  }

  private async persist(): Promise<void> {
    try {
      await this.options.save?.()
    } catch (error) {
      this.io.errors.write(`askpapers: ${sanitize(isAppError(error) ? error.message : String(error))} (the conversation goes on, unsaved).\n`)
    }
  }

  /** One JSON line on the output. */
  private printJson(value: unknown): void {
    this.io.output.write(`${JSON.stringify(value)}\n`)
  }
}

/**
 * Word-wraps streamed text at `width` columns as it arrives. A word is held back until it is
 * complete, so a line never breaks inside one; newlines in the text are kept.
 */
class WrappedWriter {
  private column = 0
  private word = ''
  private space = false

  constructor(
    private readonly width: number,
    private readonly emit: (text: string) => void,
  ) {}

  write(text: string): void {
    for (const char of text) {
      if (char === '\n') {
        this.flush()
        this.emit('\n')
        this.column = 0
        this.space = false
      } else if (/\s/.test(char)) {
        this.flush()
        this.space = this.column > 0
      } else this.word += char
    }
  }

  /** Writes what is held back and ends the line. */
  end(): void {
    this.flush()
    if (this.column > 0) this.emit('\n')
    this.column = 0
    this.space = false
  }

  private flush(): void {
    if (!this.word) return
    const length = [...this.word].length
    if (this.column > 0 && this.column + (this.space ? 1 : 0) + length > this.width) {
      this.emit('\n')
      this.column = 0
    } else if (this.space && this.column > 0) {
      this.emit(' ')
      this.column++
    }
    this.emit(this.word)
    this.column += length
    this.word = ''
    this.space = false
  }
}

const paint = (on: boolean, code: string) => (s: string): string => (on ? `\u001b[${code}m${s}\u001b[0m` : s)
