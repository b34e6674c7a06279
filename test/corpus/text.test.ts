import { describe, expect, it } from 'vitest'
import { normaliseTitle, paperContentHash, paperId } from '../../src/corpus/index.js'

describe('title keys and hashes', () => {
  it.each([
    ['Amuro & Char: Analyzing  Pre-Training', 'amuro char analyzing pre training'],
    ["  What's New in My Data?  ", 'what s new in my data'],
    ['UL2: Unifying\nLanguage Learning', 'ul2 unifying language learning'],
    // Letters outside ASCII are letters too, and ligatures match the letters they stand for.
    ['Über ﬁne-tuning — 预训练', 'über fine tuning 预训练'],
  ])('normaliseTitle(%j) is %j', (title, key) => {
    expect(normaliseTitle(title)).toBe(key)
  })

  it.each([
    // Same key, same id: a title listed with different punctuation or case is one paper.
    ['Amuro & Char: Analyzing the Relationship between Pre-Training and Fine-Tuning of Large Language Models', 'p-6b9f9dec3650'],
    ['AMURO & CHAR — analyzing the relationship between pre training and fine tuning of large language models!', 'p-6b9f9dec3650'],
    ['Densing Law of LLMs', 'p-f406616514c5'],
  ])('paperId(%j) is %s', (title, id) => {
    expect(paperId(title)).toBe(id)
  })

  it.each([
    [{ title: 'T', abstract: 'A' }, 'e9e80f122aaf0f591ff92a4123a61a4dd5c39f64f3a7de3507d36f36aa6cc6f1'],
    [{ title: 'T A', abstract: '' }, 'dce47e5b2dfede4d9017be19b3b35027ed7f0746e3d25ff8fdffcffac2b733e7'],
  ])('paperContentHash(%j) is the sha256 of title, newline, abstract', (paper, hash) => {
    expect(paperContentHash(paper)).toBe(hash)
  })
})
