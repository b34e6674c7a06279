import { spawn } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { cp, mkdtemp, rename, rm, stat } from 'node:fs/promises'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import pg from 'pg'
import { watch, type Watched } from './processes.js'

/** A PGlite database served over the PostgreSQL wire protocol by `pglite-server`, in a child process. */
export interface PgliteServer {
  port: number
  /** A URL for `pg` (PGlite accepts any user and password, and serves one database whatever it is called). */
  url(options?: { user?: string; password?: string; database?: string }): string
  process: Watched
  stop(): Promise<void>
}

const require = createRequire(import.meta.url)
// The package exports only its library; its `pglite-server` bin sits beside it in dist/scripts.
const SERVER = join(dirname(require.resolve('@electric-sql/pglite-socket')), 'scripts/server.js')
const PGLITE_MAIN = require.resolve('@electric-sql/pglite')
const PGLITE_DIR = PGLITE_MAIN.slice(0, PGLITE_MAIN.lastIndexOf('/dist/'))
const PGLITE_VERSION = (JSON.parse(readFileSync(join(PGLITE_DIR, 'package.json'), 'utf8')) as { version: string }).version

/**
 * Starts `pglite-server` on a free 127.0.0.1 port (`-p 0`: the kernel picks one, and the server
 * prints it), with pgvector loaded unless `vector` is false, on a fresh copy of an initialised data
 * directory, and resolves once a client has connected and run a query: waiting on the server's
 * state, not on a fixed delay.
 */
export async function startPglite({ vector = true, maxConnections = 8 }: { vector?: boolean; maxConnections?: number } = {}): Promise<PgliteServer> {
  const dataDir = await freshDataDir()
  const args = [SERVER, `--db=${dataDir}`, '--host=127.0.0.1', '--port=0', `--max-connections=${maxConnections}`, ...(vector ? ['--extensions=@electric-sql/pglite-pgvector:vector'] : [])]
  const child = watch(spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] }))
  const stop = async (): Promise<void> => {
    if (child.child.exitCode === null && child.child.signalCode === null) {
      child.child.kill('SIGTERM')
      const timer = setTimeout(() => child.child.kill('SIGKILL'), 5_000)
      await child.exited
      clearTimeout(timer)
    }
    await rm(dataDir, { recursive: true, force: true })
  }
  try {
    await child.waitFor(/listening on \{[^}]*"port":\d+/)
    const port = Number(/listening on \{[^}]*"port":(\d+)/.exec(child.stdout())?.[1])
    const url = ({ user = 'postgres', password = 'secret', database = 'postgres' } = {}): string =>
      `postgres://${encodeURIComponent(user)}:${encodeURIComponent(password)}@127.0.0.1:${port}/${encodeURIComponent(database)}`
    const client = new pg.Client({ connectionString: url() })
    await client.connect()
    await client.query('SELECT 1')
    await client.end()
    return { port, url, process: child, stop }
  } catch (error) {
    await stop()
    throw error
  }
}

/**
 * PGlite's initdb takes 5–35 s on this 2-core machine; opening an initialised directory ~4 s. So the
 * first start initialises a template (in a child process: PGlite holds ~1 GB while it does) and every
 * server gets a copy of it (~40 MB).
 */
async function freshDataDir(): Promise<string> {
  const template = join(tmpdir(), `askpapers-pglite-${PGLITE_VERSION}`)
  if (!(await stat(join(template, 'PG_VERSION')).catch(() => undefined))) {
    const building = `${template}.${process.pid}.${Date.now()}`
    const init = watch(
      spawn(process.execPath, ['--input-type=module', '-e', `const { PGlite } = await import('@electric-sql/pglite'); const db = await PGlite.create(${JSON.stringify(building)}); await db.close()`], {
        cwd: PGLITE_DIR,
        stdio: ['ignore', 'pipe', 'pipe'],
      }),
    )
    const { code } = await init.exited
    if (code !== 0) throw new Error(`initialising a PGlite data directory failed:\n${init.stderr()}`)
    // Another test process may have finished its template first: then keep theirs.
    await rename(building, template).catch(() => rm(building, { recursive: true, force: true }))
  }
  const dir = await mkdtemp(join(tmpdir(), 'askpapers-pglite-db-'))
  await cp(template, dir, { recursive: true })
  return dir
}
