import { readFileSync } from 'node:fs'

/*
 * hnswlib can load a graph only by copying it into memory it allocates with malloc, so a cold open
 * of a large index is mostly the kernel handing out and zeroing fresh pages (39 % of a 100 k-paper
 * open in perf was `clear_page_erms`). glibc backs malloc's large blocks with transparent huge pages
 * (one fault per 2 MB instead of per 4 KB) only when the tunable `glibc.malloc.hugetlb=1` asks for
 * it, and on kernels whose THP mode is the usual `madvise`. glibc reads tunables once, when a process
 * starts, so the CLI sets it and re-executes itself in place (`process.execve`: same pid, same
 * descriptors) before it loads anything. Measured here: a 10 k-paper open 990 → 566 ms.
 * Nothing is done where it would not help (THP `always` or `never`, not Linux, an older Node) or
 * where the user already chose: any `glibc.malloc.hugetlb=` in GLIBC_TUNABLES is kept as it is
 * (`glibc.malloc.hugetlb=0` turns this off).
 */

export const HUGE_PAGES_TUNABLE = 'glibc.malloc.hugetlb=1'

export interface RelaunchOptions {
  env?: NodeJS.ProcessEnv
  platform?: NodeJS.Platform
  /** The kernel's THP mode line, as /sys/kernel/mm/transparent_hugepage/enabled prints it. */
  thpMode?: () => string | undefined
  /** `null`: this Node has none (before 22.15 / 23.11). */
  execve?: ((file: string, args: readonly string[], env: NodeJS.ProcessEnv) => never) | null
  argv?: string[]
  execArgv?: string[]
  execPath?: string
}

const readThpMode = (): string | undefined => {
  try {
    return readFileSync('/sys/kernel/mm/transparent_hugepage/enabled', 'utf8')
  } catch {
    return undefined
  }
}

/** The environment to re-execute with, or undefined when a re-exec would not help. */
export function hugePagesEnv({ env = process.env, platform = process.platform, thpMode = readThpMode }: Pick<RelaunchOptions, 'env' | 'platform' | 'thpMode'> = {}): NodeJS.ProcessEnv | undefined {
  if (platform !== 'linux') return undefined
  const tunables = env.GLIBC_TUNABLES ?? ''
  if (tunables.includes('glibc.malloc.hugetlb=')) return undefined
  if (!/\[madvise\]/.test(thpMode() ?? '')) return undefined
  return { ...env, GLIBC_TUNABLES: tunables ? `${tunables}:${HUGE_PAGES_TUNABLE}` : HUGE_PAGES_TUNABLE }
}

/** Re-executes this process with huge pages for malloc where that helps; returns only when it does not. */
export function relaunchWithHugePages({
  env = process.env,
  platform = process.platform,
  thpMode = readThpMode,
  execve = process.execve ?? null,
  argv = process.argv,
  execArgv = process.execArgv,
  execPath = process.execPath,
}: RelaunchOptions = {}): void {
  if (typeof execve !== 'function') return
  const next = hugePagesEnv({ env, platform, thpMode })
  if (!next) return
  try {
    execve(execPath, [execPath, ...execArgv, ...argv.slice(1)], next)
  } catch {
    // The exec was refused (a sandbox, a seccomp policy): carry on without huge pages.
  }
}
