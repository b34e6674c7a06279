import { describe, expect, it } from 'vitest'
import { KeywordIndex } from '../../src/retrieve/keyword.js'
import { tokenize } from '../../src/retrieve/tokenize.js'

describe('tokenize', () => {
  it.each([
    ['Which papers used LoRA?', ['lora']],
    ['LoRA-based fine-tuning', ['lorabas', 'lora', 'base', 'finetun', 'fine', 'tune']],
    ['GPT-4 scores 85.3% on MMLU', ['gpt4', 'gpt', '4', 'score', '85', '3', 'mmlu']],
    ['What is the model\'s memory cost?', ['model', 'memori', 'cost']],
  ])('%s', (text, terms) => {
    expect(tokenize(text)).toEqual(terms)
  })
})

describe('KeywordIndex', () => {
  const index = new KeywordIndex([
    { id: 'lora', fields: [{ text: 'LoRA: Low-Rank Adaptation of Large Language Models', weight: 2 }, { text: 'We freeze the pretrained weights and inject trainable rank decomposition matrices.', weight: 1 }] },
    { id: 'scaling', fields: [{ text: 'Scaling Laws for Neural Language Models', weight: 2 }, { text: 'Loss scales as a power law with model size, dataset size and compute.', weight: 1 }] },
    { id: 'prune', fields: [{ text: 'Sparse pre-training', weight: 2 }, { text: 'Pruning during pre-training with a power law fit of the loss.', weight: 1 }] },
  ])

  it('matches a term whatever the punctuation around it', () => {
    expect(index.search('Which papers use LoRA?').map((h) => h.id)).toEqual(['lora'])
  })

  it('ranks the title match above a body-only match', () => {
    const ids = index.search('scaling laws power law').map((h) => h.id)
    expect(ids[0]).toBe('scaling')
    expect(ids).toContain('prune')
  })

  it('returns nothing for a question with no shared term', () => {
    expect(index.search('protein folding wet lab')).toEqual([])
  })
})
