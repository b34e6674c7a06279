import { describe, expect, it } from 'vitest'
import { createChunker, embeddingText } from '../../src/index/chunk.js'

const paper = {
  id: 'p-1',
  title: 'Only-IF',
  abstract:
    'Understanding and accurately following instructions is critical for large language models (LLMs) to be effective across diverse tasks. ' +
    'In this work, we rigorously examine the key factors that enable models to generalize to unseen instructions, e.g. in new domains. ' +
    'Through controlled experiments, we demonstrate that such generalization only emerges when training data is diversified enough across semantic domains.',
  sources: ['x.txt:1'],
}

describe('chunking', () => {
  it('cuts sentence-sized chunks that keep their full stops and their paper id', async () => {
    const chunks = await createChunker({ size: 200, overlap: 0 })(paper)
    expect(chunks.map((c) => c.text)).toEqual([
      'Understanding and accurately following instructions is critical for large language models (LLMs) to be effective across diverse tasks.',
      'In this work, we rigorously examine the key factors that enable models to generalize to unseen instructions, e.g. in new domains.',
      'Through controlled experiments, we demonstrate that such generalization only emerges when training data is diversified enough across semantic domains.',
    ])
    expect(chunks.map((c) => [c.id, c.paperId, c.index])).toEqual([
      ['p-1#0', 'p-1', 0],
      ['p-1#1', 'p-1', 1],
      ['p-1#2', 'p-1', 2],
    ])
  })

  it('keeps the whole abstract as one chunk at size 0', async () => {
    const chunks = await createChunker({ size: 0, overlap: 0 })(paper)
    expect(chunks).toHaveLength(1)
    expect(chunks[0]?.text).toBe(paper.abstract)
  })

  it('never exceeds the chunk size', async () => {
    const chunks = await createChunker({ size: 120, overlap: 0 })(paper)
    for (const c of chunks) expect(c.text.length).toBeLessThanOrEqual(121)
    expect(chunks.map((c) => c.text).join(' ').replace(/\s+/g, ' ')).toBe(paper.abstract)
  })

  it('embeds each chunk with its title as context', () => {
    expect(embeddingText('Only-IF', { text: 'A sentence.' })).toBe('Only-IF: A sentence.')
  })
})
