import { describe, expect, it } from 'vitest'
import { HUGE_PAGES_TUNABLE, hugePagesEnv, relaunchWithHugePages } from '../src/hugepages.js'

const MADVISE = 'always [madvise] never\n'

describe('hugePagesEnv: when a re-exec with huge pages for malloc helps', () => {
  it.each([
    ['Linux, THP madvise, no tunables', 'linux', MADVISE, undefined, HUGE_PAGES_TUNABLE],
    ['other tunables are kept, ours appended', 'linux', MADVISE, 'glibc.malloc.arena_max=2', `glibc.malloc.arena_max=2:${HUGE_PAGES_TUNABLE}`],
    ['an empty GLIBC_TUNABLES', 'linux', MADVISE, '', HUGE_PAGES_TUNABLE],
    ['the user turned it off', 'linux', MADVISE, 'glibc.malloc.hugetlb=0', undefined],
    ['already set (the re-executed process itself)', 'linux', MADVISE, HUGE_PAGES_TUNABLE, undefined],
    ['THP always: malloc gets huge pages anyway', 'linux', '[always] madvise never\n', undefined, undefined],
    ['THP never: nothing to gain', 'linux', 'always madvise [never]\n', undefined, undefined],
    ['no THP at all (no sysfs file)', 'linux', undefined, undefined, undefined],
    ['not Linux', 'darwin', MADVISE, undefined, undefined],
  ] as const)('%s', (_, platform, thp, tunables, expected) => {
    const env: NodeJS.ProcessEnv = { PATH: '/bin', ...(tunables === undefined ? {} : { GLIBC_TUNABLES: tunables }) }
    const next = hugePagesEnv({ env, platform, thpMode: () => thp })
    expect(next?.GLIBC_TUNABLES).toBe(expected)
    if (next) expect(next.PATH).toBe('/bin')
  })
})

describe('relaunchWithHugePages', () => {
  const base = { platform: 'linux' as const, thpMode: () => MADVISE, argv: ['/usr/bin/node', '/app/bin/askpapers.js', 'serve', '--port', '0'], execArgv: ['--max-old-space-size=4096'], execPath: '/usr/bin/node' }

  it('re-executes the same program, node flags and arguments, with the tunable added', () => {
    const calls: unknown[][] = []
    relaunchWithHugePages({ ...base, env: { HOME: '/root' }, execve: ((...args: unknown[]) => calls.push(args)) as never })
    expect(calls).toEqual([['/usr/bin/node', ['/usr/bin/node', '--max-old-space-size=4096', '/app/bin/askpapers.js', 'serve', '--port', '0'], { HOME: '/root', GLIBC_TUNABLES: HUGE_PAGES_TUNABLE }]])
  })

  it('returns without a re-exec when the tunable is already there, or execve is missing or refused', () => {
    const calls: unknown[] = []
    relaunchWithHugePages({ ...base, env: { GLIBC_TUNABLES: HUGE_PAGES_TUNABLE }, execve: ((...a: unknown[]) => calls.push(a)) as never })
    expect(calls).toEqual([])
    expect(() => relaunchWithHugePages({ ...base, env: {}, execve: null })).not.toThrow()
    const refused = () => {
      throw Object.assign(new Error('EPERM'), { code: 'EPERM' })
    }
    expect(() => relaunchWithHugePages({ ...base, env: {}, execve: refused as never })).not.toThrow()
  })
})
