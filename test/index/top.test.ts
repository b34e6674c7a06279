import { describe, expect, it } from 'vitest'
import { topAcross } from '../../src/index/store/_top.js'
import { seededRandom as random } from '../helpers/synthetic-papers.js'

type Hit = { id: string; similarity: number }

/** Sources of sorted hits, and a search over them that records how many it was asked for. */
function sources(lists: Hit[][]): { sizes: number[]; search: (s: number, k: number) => Hit[]; asked: number[] } {
  const asked: number[] = []
  return {
    sizes: lists.map((l) => l.length),
    asked,
    search: (s, k) => {
      asked.push(k)
      return (lists[s] ?? []).slice(0, k)
    },
  }
}

/** What asking every source for `n` gives. */
const everything = (lists: Hit[][], n: number): Hit[] =>
  lists
    .flatMap((l) => l.slice(0, n))
    .sort((x, y) => y.similarity - x.similarity)
    .slice(0, n)

describe('topAcross', () => {
  it.each([1, 2, 3, 5, 10, 25])('gives what asking each of %i sources for n gives, on 200 random cases', (count) => {
    const rnd = random(count)
    for (let c = 0; c < 200; c++) {
      const n = 1 + Math.floor(rnd() * 130)
      // Skewed sources: some hold most of the best hits, some are small or empty.
      const lists = Array.from({ length: count }, (_, s) => {
        const size = Math.floor(rnd() * (rnd() < 0.2 ? 5 : 400))
        const bias = rnd() < 0.3 ? 0.5 : 0
        return Array.from({ length: size }, (_, i) => ({ id: `${s}:${i}`, similarity: Math.round((rnd() * 0.5 + bias) * 1e4) / 1e4 })).sort((x, y) => y.similarity - x.similarity)
      })
      const { sizes, search } = sources(lists)
      expect(topAcross(sizes, n, search)).toEqual(everything(lists, n))
    }
  })

  it('asks ten similar sources for a fraction of ten times n', () => {
    const rnd = random(7)
    const lists = Array.from({ length: 10 }, (_, s) => Array.from({ length: 5000 }, (_, i) => ({ id: `${s}:${i}`, similarity: rnd() })).sort((x, y) => y.similarity - x.similarity))
    const { sizes, search, asked } = sources(lists)
    expect(topAcross(sizes, 120, search)).toEqual(everything(lists, 120))
    expect(asked.reduce((a, b) => a + b, 0)).toBeLessThan(0.4 * 10 * 120)
  })

  it('widens the one source that holds all of the best', () => {
    const best = Array.from({ length: 200 }, (_, i) => ({ id: `best:${i}`, similarity: 1 - i / 1000 }))
    const rest = Array.from({ length: 9 }, (_, s) => Array.from({ length: 200 }, (_, i) => ({ id: `${s}:${i}`, similarity: 0.5 - i / 1000 })))
    const lists = [...rest.slice(0, 4), best, ...rest.slice(4)]
    const { sizes, search, asked } = sources(lists)
    expect(topAcross(sizes, 120, search).map((h) => h.id)).toEqual(best.slice(0, 120).map((h) => h.id))
    expect(Math.max(...asked)).toBe(120)
  })

  it('asks a single source for n once, and an empty one not at all', () => {
    const one = sources([[{ id: 'a', similarity: 0.9 }], []])
    expect(topAcross(one.sizes, 5, one.search)).toEqual([{ id: 'a', similarity: 0.9 }])
    expect(one.asked).toEqual([1])
    const single = sources([Array.from({ length: 50 }, (_, i) => ({ id: `${i}`, similarity: 1 - i / 100 }))])
    expect(topAcross(single.sizes, 10, single.search)).toHaveLength(10)
    expect(single.asked).toEqual([10])
  })
})
