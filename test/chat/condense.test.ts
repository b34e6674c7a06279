import { describe, expect, it } from 'vitest'
import type { Reference } from '../../src/answer/citations.js'
import { condenseOffline, type ChatTurn } from '../../src/chat/index.js'

const BITDELTA = 'BitDelta: Your Fine-Tune May Only Be Worth One Bit'
const LORA = 'LoRA: Low-Rank Adaptation of Large Language Models'
const ref = (n: number, title: string): Reference => ({ n, id: `p-${n}`, title, quote: '' })

function turn(message: string, references: Reference[], standalone = message): ChatTurn {
  return { message, standalone, answer: 'An answer [1].', abstained: references.length === 0, references, at: '2026-01-01T00:00:00.000Z' }
}

const FIRST = turn('How does BitDelta compress fine-tuned models?', [ref(1, BITDELTA), ref(2, LORA)])
const CARRIED = `(about: BitDelta compress fine-tuned models; papers: "${BITDELTA}")`

describe('condenseOffline', () => {
  it.each([
    // A pronoun with nothing it could refer to in the message: the topic and the first cited paper come along.
    ['how much memory does it save?', `how much memory does it save? ${CARRIED}`],
    ['Is this method better than full fine-tuning?', `Is this method better than full fine-tuning? (about: BitDelta compress models; papers: "${BITDELTA}")`],
    ['How does that compare with LoRA?', `How does that compare with LoRA? (about: BitDelta compress fine-tuned models; papers: "${BITDELTA}")`],
    // A plural pronoun means every paper the last answer cited.
    ['which of those used LoRA?', `which of those used LoRA? (about: BitDelta compress fine-tuned models; papers: "${BITDELTA}"; "${LORA}")`],
    // Too little of its own to stand alone.
    ['why?', `why? ${CARRIED}`],
    ['memory?', `memory? ${CARRIED}`],
    ['and latency?', `and latency? ${CARRIED}`],
    // References to a cited paper become its title.
    ['What does the second one propose?', `What does "${LORA}" propose?`],
    ['Does [2] beat full fine-tuning?', `Does "${LORA}" beat full fine-tuning?`],
    ['Tell me more about paper 1', `Tell me more about "${BITDELTA}"`],
    ['Does the last one need more GPU memory?', `Does "${LORA}" need more GPU memory?`],
    ['What about the second one?', `What about "${LORA}"? (about: BitDelta compress fine-tuned)`],
    // A reference past the end of the list stays as written.
    ['What does the fifth one say?', `What does the fifth one say? ${CARRIED}`],
    // Self-contained: unchanged, even with a pronoun that the message itself resolves.
    ['Which papers study scaling laws for neural language models?', 'Which papers study scaling laws for neural language models?'],
    ['What is LoRA and why does it work?', 'What is LoRA and why does it work?'],
    ['What does the paper on LoRA say?', 'What does the paper on LoRA say?'],
    ['What does Prefix-Tuning optimize?', 'What does Prefix-Tuning optimize?'],
  ])('%s', (message, standalone) => {
    expect(condenseOffline([FIRST], message)).toBe(standalone)
  })

  it('leaves every message unchanged when there is no history', () => {
    expect(condenseOffline([], 'how much memory does it save?')).toBe('how much memory does it save?')
  })

  it('carries the topic of an earlier rewrite forward, without its titles', () => {
    const second = turn('how much memory does it save?', [ref(1, BITDELTA)], `how much memory does it save? ${CARRIED}`)
    expect(condenseOffline([FIRST, second], 'and its latency?')).toBe(
      `and its latency? (about: memory save BitDelta compress fine-tuned models; papers: "${BITDELTA}")`,
    )
  })

  it('carries only the topic when the last answer cited nothing', () => {
    expect(condenseOffline([turn('How does BitDelta compress fine-tuned models?', [])], 'how much memory does it save?')).toBe(
      'how much memory does it save? (about: BitDelta compress fine-tuned models)',
    )
  })

  it('reads only the latest turn, so a reset topic does not leak back', () => {
    const older = turn('What is LoRA?', [ref(1, LORA)])
    expect(condenseOffline([older, FIRST], 'how much memory does it save?')).toBe(`how much memory does it save? ${CARRIED}`)
  })
})
