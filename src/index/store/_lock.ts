import { mkdir, readFile, rm, stat, utimes } from 'node:fs/promises'
import { hostname } from 'node:os'
import { join, resolve } from 'node:path'
import lockfile from 'proper-lockfile'
import { AppError } from '../../errors.js'
import { writeFileAtomic } from './_files.js'

/** Who holds a data directory's write lock, as written beside the lock by its holder. */
export interface LockHolder {
  pid: number
  host: string
  since: string
  /** Inode of the lock directory this record belongs to: a record left by a killed holder does not describe a newer lock. */
  lockIno: number
}

export interface WriteLock {
  readonly dataDir: string
  /** Throws INDEX_LOCKED unless this process still holds the lock: checked right before every commit. */
  assertHeld(): Promise<void>
  release(): Promise<void>
}

export interface LockOptions {
  /** Wait for the holder to finish (default), or fail at once with INDEX_LOCKED. */
  wait?: boolean
  /** Called once when the lock is taken by another process and this one starts waiting. */
  onWait?: (message: string, holder: LockHolder | undefined) => void
  pollMs?: number
  /**
   * A lock whose holder stopped refreshing it this long ago is stale (holder frozen or killed on
   * another host). Long, because building a large HNSW graph blocks the holder's event loop; a
   * holder on this host whose pid is gone is stale at once.
   */
  staleMs?: number
}

const LOCK_DIR = 'write.lock'
const HOLDER_FILE = 'write.lock.json'

/**
 * Takes the exclusive write lock of a data directory (proper-lockfile: an atomic mkdir whose mtime
 * the holder refreshes), waiting for the current holder unless `wait` is false. Readers never lock:
 * generations are immutable and `CURRENT` is swapped atomically.
 */
export async function lockDataDir(dataDir: string, { wait = true, onWait, pollMs = 200, staleMs = 60_000 }: LockOptions = {}): Promise<WriteLock> {
  const dir = resolve(dataDir)
  await mkdir(dir, { recursive: true })
  const lockPath = join(dir, LOCK_DIR)
  let compromised: Error | undefined
  let announced = false
  for (;;) {
    try {
      const release = await lockfile.lock(dir, {
        lockfilePath: lockPath,
        realpath: false,
        stale: staleMs,
        onCompromised: (error) => {
          compromised = error
        },
      })
      const holder: LockHolder = { pid: process.pid, host: hostname(), since: new Date().toISOString(), lockIno: (await stat(lockPath)).ino }
      await writeFileAtomic(join(dir, HOLDER_FILE), `${JSON.stringify(holder)}\n`)
      return {
        dataDir: dir,
        assertHeld: async () => {
          const current = await readHolder(dir)
          if (compromised || current?.pid !== holder.pid || current.host !== holder.host || current.lockIno !== holder.lockIno) {
            throw new AppError('INDEX_LOCKED', `This ingest lost the write lock on ${dir} (${compromised?.message ?? 'another process took it over'}); nothing more was committed. Run it again.`)
          }
        },
        release: async () => {
          if ((await readHolder(dir))?.lockIno === holder.lockIno) await rm(join(dir, HOLDER_FILE), { force: true })
          await release().catch(() => undefined)
        },
      }
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ELOCKED') throw error
    }
    const holder = await readHolder(dir)
    if (holder && holder.host === hostname() && !isAlive(holder.pid)) {
      // Its holder died without releasing it (kill -9): age the lock so proper-lockfile removes it as stale.
      await utimes(lockPath, 0, 0).catch(() => undefined)
      continue
    }
    const message = `waiting for the ingest (${describeHolder(holder)}) that holds ${dir}…`
    if (!wait) {
      const since = holder ? `, since ${holder.since}` : ''
      throw new AppError('INDEX_LOCKED', `Another ingest (${describeHolder(holder)}${since}) is writing to ${dir}; run again without --no-wait to wait for it to finish.`)
    }
    if (!announced) onWait?.(message, holder)
    announced = true
    await new Promise((r) => setTimeout(r, pollMs))
  }
}

/** The holder record, if it describes the lock directory that exists now. */
async function readHolder(dir: string): Promise<LockHolder | undefined> {
  try {
    const [text, info] = await Promise.all([readFile(join(dir, HOLDER_FILE), 'utf8'), stat(join(dir, LOCK_DIR))])
    const holder = JSON.parse(text) as LockHolder
    return holder.lockIno === info.ino && Number.isInteger(holder.pid) ? holder : undefined
  } catch {
    return undefined
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM'
  }
}

const describeHolder = (holder: LockHolder | undefined): string =>
  holder ? `pid ${holder.pid} on host ${holder.host}` : 'a process that is just starting or did not say who it is'
