import { randomUUID } from 'node:crypto'
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { z } from 'zod'
import { AppError } from '../errors.js'
import type { ChatTurn, SessionData } from './_types.js'

const NAME = /^[A-Za-z0-9_-]{1,64}$/

const Reference = z.object({
  n: z.number().int().positive(),
  id: z.string(),
  title: z.string(),
  url: z.string().optional(),
  quote: z.string(),
  authors: z.array(z.string()).optional(),
  authorCount: z.number().int().optional(),
  date: z.string().optional(),
})
const Turn = z.object({
  message: z.string(),
  standalone: z.string(),
  answer: z.string(),
  abstained: z.boolean(),
  references: z.array(Reference),
  at: z.string(),
})
const SessionFile = z.object({ version: z.literal(1), turns: z.array(Turn) })

/**
 * Named chat sessions as JSON files in `<dataDir>/sessions/<name>.json`. A save replaces the file
 * atomically (temporary file, then rename), so a crash leaves the previous save whole; a file that
 * is damaged anyway loads as a fresh session with a warning, never an error.
 */
export class SessionStore {
  readonly dir: string

  /** `dataDir`: the index directory; sessions live in its `sessions/` folder. */
  constructor(dataDir: string) {
    this.dir = join(dataDir, 'sessions')
  }

  /** Where the session of this name is kept; fails with BAD_INPUT for a name that is not a plain file name. */
  path(name: string): string {
    if (!NAME.test(name)) {
      throw new AppError('BAD_INPUT', `Invalid session name "${name}": use 1 to 64 letters, digits, - or _.`, { field: 'session' })
    }
    return join(this.dir, `${name}.json`)
  }

  async load(name: string): Promise<{ turns: ChatTurn[]; warning?: string }> {
    const file = this.path(name)
    let text: string
    try {
      text = await readFile(file, 'utf8')
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { turns: [] }
      return damaged(file, (error as NodeJS.ErrnoException).code ?? (error as Error).message)
    }
    let value: unknown
    try {
      value = JSON.parse(text)
    } catch {
      return damaged(file, 'invalid JSON')
    }
    const parsed = SessionFile.safeParse(value)
    if (!parsed.success) {
      const issue = parsed.error.issues[0]
      return damaged(file, issue ? `${issue.path.join('.') || 'file'}: ${issue.message}` : 'unexpected content')
    }
    return { turns: parsed.data.turns }
  }

  async save(name: string, session: { toJSON(): SessionData }): Promise<void> {
    const file = this.path(name)
    await mkdir(this.dir, { recursive: true })
    const tmp = `${file}.${process.pid}.${randomUUID().slice(0, 8)}.tmp`
    try {
      await writeFile(tmp, `${JSON.stringify(session.toJSON(), null, 2)}\n`)
      await rename(tmp, file)
    } catch (error) {
      await rm(tmp, { force: true })
      throw new AppError('BAD_INPUT', `Cannot save the session to ${file}: ${(error as Error).message}`, { cause: error, field: 'session' })
    }
  }
}

function damaged(file: string, reason: string): { turns: ChatTurn[]; warning: string } {
  return { turns: [], warning: `Session file ${file} is damaged (${reason}); starting a fresh session.` }
}
