// `askpapers serve` in its own process, as in production, so the load generator does not share its
// event loop. Used by load.mjs and search-load.mjs.
import { spawn } from 'node:child_process'
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'

/**
 * `askpapers serve --port 0` over the data dir with the offline answerer, run from `root` (a
 * checkout with bin/ and a built dist/); resolves once it listens.
 */
export function startServer(root, dataDir) {
  const child = spawn(process.execPath, [join(root, 'bin', 'askpapers.js'), 'serve', '--port', '0', '--host', '127.0.0.1', '--data-dir', dataDir, '--llm', 'none'], {
    env: { ...process.env, ASKPAPERS_API_KEY: '', ASKPAPERS_CORS_ORIGINS: '' },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  // The access log (one stderr line per request) is part of the cost measured; only its tail is kept.
  let stderr = ''
  child.stderr.on('data', (d) => (stderr = (stderr + d.toString()).slice(-4000)))
  return new Promise((resolveStart, reject) => {
    let stdout = ''
    child.stdout.on('data', (d) => {
      stdout += d.toString()
      const url = /askpapers listening on (http:\/\/\S+)\n/.exec(stdout)?.[1]
      const papers = Number(/^(\d+) papers/m.exec(stderr)?.[1] ?? NaN)
      if (url)
        resolveStart({
          url: url.replace(/\/$/, ''),
          papers,
          pid: child.pid,
          stop: () =>
            new Promise((done) => {
              child.once('exit', done)
              child.kill('SIGTERM')
            }),
        })
    })
    child.once('exit', (code) => reject(new Error(`askpapers serve exited with ${code} before listening:\n${stderr}`)))
  })
}

/**
 * CPU time a process has used so far, in ms, by thread kind: the main thread, worker threads (the
 * USE-lite encoders), and the rest (GC, libuv). Linux only (/proc); undefined elsewhere.
 */
export function threadCpuMs(pid) {
  const tasks = `/proc/${pid}/task`
  if (!existsSync(tasks)) return undefined
  const totals = { main: 0, workers: 0, other: 0 }
  for (const tid of readdirSync(tasks)) {
    try {
      const name = readFileSync(join(tasks, tid, 'comm'), 'utf8').trim()
      // Fields after the parenthesised name: utime and stime are the 12th and 13th, in 1/100 s.
      const fields = readFileSync(join(tasks, tid, 'stat'), 'utf8').split(') ')[1].split(' ')
      const ms = (Number(fields[11]) + Number(fields[12])) * 10
      totals[name === 'MainThread' ? 'main' : name === 'WorkerThread' ? 'workers' : 'other'] += ms
    } catch {
      // The thread ended between listing and reading.
    }
  }
  return totals
}
