import { randomUUID } from 'node:crypto'
import { hostname } from 'node:os'
import type pg from 'pg'
import { AppError } from '../../errors.js'
import { LOCK_NAMESPACE } from './_schema.js'

export interface WriteLease {
  /** The connection the lock lives on: every commit of the session runs on it. */
  client: pg.PoolClient
  token: string
  /** Throws INDEX_LOCKED unless this session still holds the lock (and refreshes its heartbeat); run inside each commit's transaction. */
  verify(): Promise<void>
  /** Runs `fn` on the lock's connection with the heartbeat paused (it would land inside the transaction). */
  exclusive<T>(fn: () => Promise<T>): Promise<T>
  release(): Promise<void>
}

export interface WriteLockOptions {
  wait: boolean
  onWait?: ((holder: string) => void) | undefined
  /** Describes the store in messages (the URL without its password). */
  location: string
  pollMs?: number
  /** A holder row not refreshed for this long belongs to a writer that is gone. */
  staleMs?: number
  heartbeatMs?: number
}

/**
 * The corpus's write lock: a session-level `pg_try_advisory_lock` on a dedicated connection (released
 * by PostgreSQL itself when the writer's connection dies), plus a holder row claimed atomically in the
 * same schema. The row says who holds the lock (advisory locks name only a backend pid), and it keeps
 * the lock exclusive where sessions are shared between clients, which makes advisory locks re-entrant
 * for everyone: PGlite's socket server (one backend for every connection) and PgBouncer in
 * transaction mode. A row is taken over once its holder's backend is gone or it stops heartbeating.
 */
export async function acquireWriteLock(pool: pg.Pool, schema: string, { wait, onWait, location, pollMs = 100, staleMs = 30_000, heartbeatMs = 5_000 }: WriteLockOptions): Promise<WriteLease> {
  const token = randomUUID()
  const holder = `pid ${process.pid} on ${hostname()} since ${new Date().toISOString()}`
  const s = `"${schema}"`
  let told = false
  let client: pg.PoolClient
  for (let delay = pollMs; ; delay = Math.min(delay * 2, 1000)) {
    client = await pool.connect()
    // A checked-out client whose connection breaks emits 'error': without a listener that ends the process.
    if (!client.listeners('error').includes(ignore)) client.on('error', ignore)
    let current: string
    try {
      if (await tryLock(client, schema, token, holder, staleMs)) break
      current = (await client.query<{ holder: string }>(`SELECT holder FROM ${s}.writer`)).rows[0]?.holder ?? 'another askpapers process'
    } catch (error) {
      client.release(error as Error)
      throw error
    }
    // Not held while waiting: the pool's other connections stay free for readers and the holder.
    client.release()
    if (!wait) throw new AppError('INDEX_LOCKED', `Another ingest (${current}) is writing to ${location}; wait for it to finish, or run this one again later.`)
    if (!told) onWait?.(current)
    told = true
    await new Promise((resolve) => setTimeout(resolve, delay))
  }
  // On the lock's own connection (a writer needs no second one), between commits; a commit's verify() beats too.
  // pg runs one query at a time per client: the heartbeat never overlaps the writer's own queries
  // (they all go through `exclusive`, which waits for a heartbeat in flight).
  let busy = 0
  let beating: Promise<unknown> = Promise.resolve()
  const heartbeat = setInterval(() => {
    if (busy === 0) beating = client.query(`UPDATE ${s}.writer SET heartbeat_at = now() WHERE token = $1`, [token]).catch(() => undefined)
  }, heartbeatMs)
  heartbeat.unref()
  let released = false
  return {
    client,
    token,
    async verify() {
      const row = await client.query<{ token: string }>(`UPDATE ${s}.writer SET heartbeat_at = now() WHERE token = $1 RETURNING token`, [token])
      if (row.rows[0]?.token !== token) {
        throw new AppError('INDEX_LOCKED', `This ingest lost the write lock on ${location} (another process took it over); nothing more was committed. Run it again.`)
      }
    },
    async exclusive(fn) {
      busy++
      try {
        await beating
        return await fn()
      } finally {
        busy--
      }
    },
    async release() {
      if (released) return
      released = true
      clearInterval(heartbeat)
      try {
        await client.query(`DELETE FROM ${s}.writer WHERE token = $1`, [token])
        await client.query('SELECT pg_advisory_unlock($1, hashtext($2))', [LOCK_NAMESPACE.write, schema])
        client.release()
      } catch (error) {
        // A broken connection: discarding it ends the session, and with it the advisory lock.
        client.release(error as Error)
      }
    },
  }
}

const ignore = (): void => undefined

/** Takes the advisory lock and claims the holder row; false (holding nothing) when another writer has either. */
async function tryLock(client: pg.PoolClient, schema: string, token: string, holder: string, staleMs: number): Promise<boolean> {
  const s = `"${schema}"`
  const locked = (await client.query<{ ok: boolean }>('SELECT pg_try_advisory_lock($1, hashtext($2)) AS ok', [LOCK_NAMESPACE.write, schema])).rows[0]?.ok === true
  if (!locked) return false
  const claimed = await client.query(
    `INSERT INTO ${s}.writer (token, holder, pid, acquired_at, heartbeat_at) VALUES ($1, $2, pg_backend_pid(), now(), now())
     ON CONFLICT (id) DO UPDATE SET token = excluded.token, holder = excluded.holder, pid = excluded.pid, acquired_at = now(), heartbeat_at = now()
     WHERE ${s}.writer.heartbeat_at < now() - make_interval(secs => $3)
        OR (${s}.writer.pid <> pg_backend_pid() AND NOT EXISTS (SELECT 1 FROM pg_stat_activity a WHERE a.pid = ${s}.writer.pid))
     RETURNING token`,
    [token, holder, staleMs / 1000],
  )
  if (claimed.rowCount === 1) return true
  // The advisory lock was granted to a session another writer shares: the row decides.
  await client.query('SELECT pg_advisory_unlock($1, hashtext($2))', [LOCK_NAMESPACE.write, schema])
  return false
}
