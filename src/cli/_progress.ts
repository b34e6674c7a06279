import cliProgress from 'cli-progress'

export interface ProgressOptions {
  /** What is being done, e.g. "Embedding". */
  label: string
  /** What is counted, plural: "chunks", "questions". */
  unit: string
  /** Where it is shown: stderr, so `--json` on stdout stays clean. */
  stream?: NodeJS.WriteStream
  /** Without a terminal: one line this often (milliseconds), instead of a redrawn bar. */
  everyMs?: number
}

export interface Progress {
  start(total: number): void
  update(done: number): void
  /** Shows the final count; safe to call twice, or before start. */
  stop(): void
}

/**
 * Progress of long work on stderr. At a terminal, a bar redrawn in place; otherwise (a log, a CI
 * job, `2>file`) a plain line every few seconds with done/total, rate and ETA, so piped runs are
 * not silent for minutes. Neither uses colour.
 */
export function progress({ label, unit, stream = process.stderr, everyMs = 5000 }: ProgressOptions): Progress {
  const tty = stream.isTTY === true
  const counts = `{value}/{total} ${unit} ({percentage}%), {rate} ${unit}/s, ETA {etaText}`
  const bar = new cliProgress.SingleBar(
    {
      format: tty ? `${label} {bar} ${counts}` : `${label}: ${counts}`,
      stream,
      hideCursor: tty,
      noTTYOutput: true,
      notTTYSchedule: everyMs,
      // Without a terminal the last line already ended with a newline: no blank line after it.
      clearOnComplete: !tty,
    },
    cliProgress.Presets.shades_classic,
  )
  let started = 0
  let total = 0
  let running = false
  const payload = (done: number): { rate: string; etaText: string } => {
    const seconds = (performance.now() - started) / 1000
    const rate = done / Math.max(seconds, 0.001)
    return { rate: rate.toFixed(1), etaText: done === 0 ? 'unknown' : formatSeconds((total - done) / rate) }
  }
  const stop = (): void => {
    if (running) bar.stop()
    running = false
  }
  return {
    start: (of) => {
      started = performance.now()
      total = of
      bar.start(of, 0, payload(0))
      running = true
    },
    update: (done) => {
      if (!running) return
      bar.update(done, payload(done))
      // Work after the last item (a commit, a calibration) is no more of these: stop repeating 100 %.
      if (done >= total) stop()
    },
    stop,
  }
}

function formatSeconds(seconds: number): string {
  const s = Math.max(0, Math.round(seconds))
  if (s < 60) return `${s}s`
  const m = Math.floor(s / 60)
  return m < 60 ? `${m}m${String(s % 60).padStart(2, '0')}s` : `${Math.floor(m / 60)}h${String(m % 60).padStart(2, '0')}m`
}
