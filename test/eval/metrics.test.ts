import { describe, expect, it } from 'vitest'
import { isAppError } from '../../src/errors.js'
import { ndcgAt, recallAt, reciprocalRank, summarise } from '../../src/eval/metrics.js'

// Discounted gains by rank: 1 / log2(rank + 1).
const g1 = 1 // rank 1
const g2 = 1 / Math.log2(3) // rank 2, ≈ 0.6309
const g3 = 0.5 // rank 3, 1 / log2(4)

describe('recallAt', () => {
  it.each([
    { ranked: ['a', 'b', 'c'], relevant: ['b'], k: 1, expected: 0 },
    { ranked: ['a', 'b', 'c'], relevant: ['b'], k: 2, expected: 1 },
    { ranked: ['a', 'b', 'c'], relevant: ['b'], k: 10, expected: 1 },
    { ranked: ['a', 'x', 'b'], relevant: ['a', 'b'], k: 1, expected: 0.5 },
    { ranked: ['a', 'x', 'b'], relevant: ['a', 'b'], k: 3, expected: 1 },
    { ranked: ['x', 'a', 'y', 'b'], relevant: ['a', 'b', 'c'], k: 4, expected: 2 / 3 },
    { ranked: ['a', 'a', 'b'], relevant: ['a', 'b'], k: 2, expected: 0.5 }, // a duplicate counts once
    { ranked: [], relevant: ['a'], k: 5, expected: 0 },
  ])('$ranked vs $relevant at k=$k is $expected', ({ ranked, relevant, k, expected }) => {
    expect(recallAt(ranked, new Set(relevant), k)).toBe(expected)
  })
})

describe('reciprocalRank', () => {
  it.each([
    { ranked: ['a', 'b', 'c'], relevant: ['b'], expected: 0.5 },
    { ranked: ['a', 'b', 'c'], relevant: ['a'], expected: 1 },
    { ranked: ['x', 'y', 'a'], relevant: ['a'], expected: 1 / 3 },
    { ranked: ['x', 'a', 'y', 'b'], relevant: ['a', 'b'], expected: 0.5 }, // only the first hit counts
    { ranked: ['x', 'y'], relevant: ['a'], expected: 0 },
    { ranked: [], relevant: ['a'], expected: 0 },
  ])('$ranked vs $relevant is $expected', ({ ranked, relevant, expected }) => {
    expect(reciprocalRank(ranked, new Set(relevant))).toBe(expected)
  })
})

describe('ndcgAt', () => {
  it.each([
    { ranked: ['a', 'b', 'c'], relevant: ['b'], k: 10, expected: g2 }, // ≈ 0.6309
    { ranked: ['a', 'b', 'c'], relevant: ['a'], k: 10, expected: 1 },
    { ranked: ['x', 'y', 'a'], relevant: ['a'], k: 3, expected: 0.5 },
    { ranked: ['x', 'y', 'a'], relevant: ['a'], k: 2, expected: 0 },
    { ranked: ['a', 'x', 'b'], relevant: ['a', 'b'], k: 1, expected: 1 },
    { ranked: ['a', 'x', 'b'], relevant: ['a', 'b'], k: 3, expected: (g1 + g3) / (g1 + g2) }, // ≈ 0.9197
    { ranked: ['x', 'a', 'y', 'b'], relevant: ['a', 'b', 'c'], k: 2, expected: g2 / (g1 + g2) }, // ≈ 0.3869
    // The ideal ranking only has min(|relevant|, k) slots.
    { ranked: ['a'], relevant: ['a', 'b', 'c'], k: 1, expected: 1 },
    { ranked: ['a'], relevant: ['a', 'b', 'c'], k: 2, expected: g1 / (g1 + g2) }, // ≈ 0.6131
    // A paper listed twice earns its gain once, at its first rank, so nDCG never exceeds 1.
    { ranked: ['a', 'a', 'b'], relevant: ['a', 'b'], k: 3, expected: (g1 + g3) / (g1 + g2) },
    { ranked: ['a', 'a'], relevant: ['a'], k: 2, expected: 1 },
    { ranked: [], relevant: ['a'], k: 10, expected: 0 },
  ])('$ranked vs $relevant at k=$k is $expected', ({ ranked, relevant, k, expected }) => {
    expect(ndcgAt(ranked, new Set(relevant), k)).toBe(expected)
  })
})

describe('invalid input', () => {
  const code = (f: () => unknown): string | undefined => {
    try {
      f()
    } catch (e) {
      return isAppError(e) ? e.code : 'not an AppError'
    }
    return undefined
  }

  it.each([
    ['recallAt with no relevant paper', () => recallAt(['a'], new Set(), 5)],
    ['reciprocalRank with no relevant paper', () => reciprocalRank(['a'], new Set())],
    ['ndcgAt with no relevant paper', () => ndcgAt(['a'], new Set(), 5)],
    ['recallAt with k = 0', () => recallAt(['a'], new Set(['a']), 0)],
    ['ndcgAt with a fractional k', () => ndcgAt(['a'], new Set(['a']), 2.5)],
    ['summarise with k = -1', () => summarise([], { ks: [-1] })],
  ])('rejects %s as BAD_INPUT', (_name, f) => {
    expect(code(f)).toBe('BAD_INPUT')
  })
})

describe('summarise', () => {
  it('averages per kind and overall, leaving out questions with no relevant paper', () => {
    const summary = summarise(
      [
        { kind: 'paraphrase', ranked: ['a', 'b'], relevant: ['a'] }, // RR 1,   R@1 1,   nDCG@3 1
        { kind: 'unanswerable', ranked: ['a', 'b'], relevant: [] },
        { kind: 'paraphrase', ranked: ['b', 'a'], relevant: ['a'] }, // RR 1/2, R@1 0,   nDCG@3 g2
        { kind: 'multi', ranked: ['a', 'x', 'b'], relevant: ['a', 'b'] }, // RR 1, R@1 1/2, nDCG@3 (g1+g3)/(g1+g2)
        { kind: 'unanswerable', ranked: [], relevant: [] },
      ],
      { ks: [1, 3] },
    )
    const multiNdcg3 = (g1 + g3) / (g1 + g2)
    expect(summary).toEqual({
      overall: {
        questions: 3,
        mrr: (1 + 0.5 + 1) / 3,
        recall: { 1: (1 + 0 + 0.5) / 3, 3: 1 },
        ndcg: { 1: (1 + 0 + 1) / 3, 3: (1 + g2 + multiNdcg3) / 3 },
      },
      byKind: {
        paraphrase: { questions: 2, mrr: 0.75, recall: { 1: 0.5, 3: 1 }, ndcg: { 1: 0.5, 3: (1 + g2) / 2 } },
        multi: { questions: 1, mrr: 1, recall: { 1: 0.5, 3: 1 }, ndcg: { 1: 1, 3: multiNdcg3 } },
      },
      excluded: { unanswerable: 2 },
    })
  })

  it('uses k = 1, 5 and 10 by default', () => {
    const summary = summarise([{ kind: 'method', ranked: ['x', 'x2', 'x3', 'x4', 'x5', 'a'], relevant: ['a'] }])
    expect(summary.overall.recall).toEqual({ 1: 0, 5: 0, 10: 1 })
    expect(summary.overall.ndcg).toEqual({ 1: 0, 5: 0, 10: 1 / Math.log2(7) }) // ≈ 0.3562
    expect(summary.overall.mrr).toBe(1 / 6)
  })

  it('reports zero scored questions, not NaN, when every question is unanswerable', () => {
    expect(summarise([{ kind: 'unanswerable', ranked: ['a'], relevant: [] }], { ks: [10] })).toEqual({
      overall: { questions: 0, mrr: 0, recall: { 10: 0 }, ndcg: { 10: 0 } },
      byKind: {},
      excluded: { unanswerable: 1 },
    })
  })
})
