import { describe, expect, it } from 'vitest'
import { createThinkingFilter, stripThinking } from '../../src/answer/_thinking.js'

function filtered(deltas: string[]): { text: string; thinking: number } {
  const filter = createThinkingFilter()
  const text = deltas.map((d) => filter.push(d)).join('') + filter.end()
  return { text, thinking: filter.thinkingChars() }
}

describe('the thinking filter', () => {
  it.each([
    ['<think>Paper [3] is off-topic.</think>LoRA freezes weights [1].', 'LoRA freezes weights [1].'],
    ['  <think>\nhmm\n</think>\n\nLoRA freezes weights [1].', 'LoRA freezes weights [1].'],
    ['<THINKING>upper case</THINKING>Answer [1].', 'Answer [1].'],
    ['<reasoning>why</reasoning> Answer [1].', 'Answer [1].'],
    ['No thinking at all [1].', 'No thinking at all [1].'],
    ['Answer first, then <think>this is text the model wrote</think> [1].', 'Answer first, then <think>this is text the model wrote</think> [1].'],
    ['<think>cut off before it ended', ''],
    ['<b>bold</b> answer [1].', '<b>bold</b> answer [1].'],
    ['<thin', '<thin'],
    ['', ''],
  ])('%j → %j', (input, expected) => {
    expect(filtered([input]).text).toBe(expected)
  })

  it('gives the same text however the stream is split', () => {
    const input = '<think>Paper [3] seems off-topic; I will cite [1].</think>\n\nLoRA freezes the weights [1].'
    const whole = filtered([input])
    expect(whole.text).toBe('LoRA freezes the weights [1].')
    for (let i = 0; i <= input.length; i++) {
      for (const j of [i, Math.min(input.length, i + 3), Math.min(input.length, i + 9)]) {
        expect(filtered([input.slice(0, i), input.slice(i, j), input.slice(j)]), `split at ${i}, ${j}`).toEqual(whole)
      }
    }
  })

  it('counts the thinking it dropped', () => {
    expect(filtered(['<think>abc</think>Answer.']).thinking).toBe('<think>abc</think>'.length)
    expect(filtered(['Answer.']).thinking).toBe(0)
  })

  it('drops thinking that ends in a bare closing tag, from the whole reply', () => {
    expect(stripThinking('Okay, paper [2] looks relevant.\n</think>\n\nLoRA freezes weights [1].')).toBe('LoRA freezes weights [1].')
    expect(stripThinking('LoRA freezes weights [1].')).toBe('LoRA freezes weights [1].')
  })
})
