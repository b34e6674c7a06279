// A PGlite server for the PostgreSQL benchmarks: `pglite-server` (from @electric-sql/pglite-socket)
// with pgvector, on a file-backed data directory, in its own process (so its memory is measured
// apart from askpapers'). The data directory starts as a copy of an initialised template, because
// PGlite's initdb takes 5–35 s here (the same template the tests' helper makes).
import { spawn, spawnSync } from 'node:child_process'
import { cpSync, existsSync, readFileSync, renameSync, rmSync } from 'node:fs'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'

const require = createRequire(import.meta.url)
const SERVER = join(dirname(require.resolve('@electric-sql/pglite-socket')), 'scripts/server.js')
const PGLITE_MAIN = require.resolve('@electric-sql/pglite')
const PGLITE_DIR = PGLITE_MAIN.slice(0, PGLITE_MAIN.lastIndexOf('/dist/'))
const VERSION = JSON.parse(readFileSync(join(PGLITE_DIR, 'package.json'), 'utf8')).version

/** A fresh data directory at `dir` (a copy of the initialised template). */
export function freshDataDir(dir) {
  const template = join(tmpdir(), `askpapers-pglite-${VERSION}`)
  if (!existsSync(join(template, 'PG_VERSION'))) {
    const building = `${template}.${process.pid}`
    const init = spawnSync(process.execPath, ['--input-type=module', '-e', `const { PGlite } = await import('@electric-sql/pglite'); const db = await PGlite.create(${JSON.stringify(building)}); await db.close()`], { cwd: PGLITE_DIR, stdio: 'inherit' })
    if (init.status !== 0) throw new Error('initialising a PGlite data directory failed')
    try {
      renameSync(building, template)
    } catch {
      rmSync(building, { recursive: true, force: true })
    }
  }
  cpSync(template, dir, { recursive: true })
}

/** Starts `pglite-server` on `dir`; resolves with its port, pid, a URL and `stop()` once it listens. */
export async function startServer(dir, { connections = 8 } = {}) {
  const t0 = performance.now()
  const child = spawn(process.execPath, [SERVER, `--db=${dir}`, '--host=127.0.0.1', '--port=0', `--max-connections=${connections}`, '--extensions=@electric-sql/pglite-pgvector:vector'], { stdio: ['ignore', 'pipe', 'pipe'] })
  let out = ''
  const port = await new Promise((resolve, reject) => {
    const onData = (d) => {
      out += d
      const m = /listening on \{[^}]*"port":(\d+)/.exec(out)
      if (m) resolve(Number(m[1]))
    }
    child.stdout.on('data', onData)
    child.stderr.on('data', (d) => (out += d))
    child.once('exit', (code, signal) => reject(new Error(`pglite-server exited (${code ?? signal}) before listening:\n${out}`)))
  })
  const startMs = performance.now() - t0
  const exited = new Promise((resolve) => child.once('exit', resolve))
  return {
    port,
    pid: child.pid,
    startMs,
    url: `postgres://postgres:postgres@127.0.0.1:${port}/postgres`,
    log: () => out,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM')
        const timer = setTimeout(() => child.kill('SIGKILL'), 30_000)
        await exited
        clearTimeout(timer)
      }
    },
  }
}

/** Resident and peak resident memory of a process, in MB (Linux /proc). */
export function memoryOf(pid) {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8')
  const kb = (name) => Number(new RegExp(`^${name}:\\s+(\\d+)`, 'm').exec(status)?.[1] ?? 0)
  return { rssMB: Math.round(kb('VmRSS') / 1024), peakRssMB: Math.round(kb('VmHWM') / 1024) }
}
