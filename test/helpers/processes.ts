import { spawn, type ChildProcess } from 'node:child_process'
import { join } from 'node:path'

/** A running child whose output a test can wait on, line by line, without any fixed delay. */
export interface Watched {
  child: ChildProcess
  stdout(): string
  stderr(): string
  /** Resolves once stdout (or stderr) matches; rejects if the child exits first. */
  waitFor(pattern: RegExp, stream?: 'stdout' | 'stderr'): Promise<void>
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>
}

export function watch(child: ChildProcess): Watched {
  const out = { stdout: '', stderr: '' }
  const waiters: { pattern: RegExp; stream: 'stdout' | 'stderr'; resolve: () => void; reject: (e: Error) => void }[] = []
  const check = () => {
    for (const w of [...waiters]) {
      if (w.pattern.test(out[w.stream])) {
        waiters.splice(waiters.indexOf(w), 1)
        w.resolve()
      }
    }
  }
  child.stdout?.on('data', (d: Buffer) => ((out.stdout += d.toString()), check()))
  child.stderr?.on('data', (d: Buffer) => ((out.stderr += d.toString()), check()))
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on('exit', (code, signal) => {
      // Let the last output arrive before rejecting whoever still waits.
      setImmediate(() => {
        check()
        for (const w of waiters.splice(0)) w.reject(new Error(`exited (${code ?? signal}) before ${w.stream} matched ${w.pattern}:\n${out.stdout}\n${out.stderr}`))
        resolve({ code, signal })
      })
    }),
  )
  return {
    child,
    stdout: () => out.stdout,
    stderr: () => out.stderr,
    waitFor: (pattern, stream = 'stdout') =>
      new Promise<void>((resolve, reject) => {
        waiters.push({ pattern, stream, resolve, reject })
        check()
      }),
    exited,
  }
}

const STEPS_FIXTURE = join(import.meta.dirname, '../fixtures/ingest-steps.mjs')

/** The ingest-steps fixture (see its header): one ingest that reports, and with `gate` waits at, each write step. */
export function stepIngest(
  dataDir: string,
  host: string,
  papersFile: string,
  { gate = true, batch, chunkSize, report = false }: { gate?: boolean; batch?: number; chunkSize?: number; report?: boolean } = {},
): Watched & { next(): void; steps(): string[] } {
  const flags = [...(gate ? ['--gate'] : []), ...(batch ? ['--batch', String(batch)] : []), ...(chunkSize !== undefined ? ['--chunk-size', String(chunkSize)] : []), ...(report ? ['--report'] : [])]
  const child = spawn(process.execPath, [STEPS_FIXTURE, dataDir, host, papersFile, ...flags], { stdio: ['pipe', 'pipe', 'pipe'] })
  const watched = watch(child)
  return {
    ...watched,
    next: () => child.stdin?.write('\n'),
    steps: () => [...watched.stdout().matchAll(/^step (\S+)$/gm)].map((m) => m[1] ?? ''),
  }
}

/** Answers a gated step-ingest's steps until it reports `step` for the `occurrence`-th time (and waits there). */
export async function advanceTo(p: ReturnType<typeof stepIngest>, step: string, occurrence = 1): Promise<void> {
  await p.waitFor(/^step \S+$/m)
  while (p.steps().at(-1) !== step || p.steps().filter((s) => s === step).length < occurrence) {
    const seen = p.steps().length
    p.next()
    await p.waitFor(new RegExp(`^(?:step \\S+\\n){${seen + 1}}`))
  }
}

/** Lets a gated step-ingest run to its end, answering every step as it comes. */
export async function release(p: ReturnType<typeof stepIngest>): Promise<void> {
  let answered = 0
  for (;;) {
    const exit = p.exited.then(() => 'exit' as const)
    const step = p.waitFor(new RegExp(`^(?:step \\S+\\n){${answered + 1}}`)).then(() => 'step' as const, () => 'exit' as const)
    if ((await Promise.race([exit, step])) === 'exit') return
    answered++
    p.next()
  }
}

const BIN = join(import.meta.dirname, '../../bin/askpapers.js')

/** The built CLI as a watched child (see `runCli` for one that just runs to the end). */
export function startCli(args: string[], { env = {} }: { env?: Record<string, string> } = {}): Watched {
  const child = spawn(process.execPath, [BIN, ...args], {
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', NO_COLOR: '1', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  return watch(child)
}
