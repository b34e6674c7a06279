import { describe, expect, it } from 'vitest'
import { exampleQuestions, questionFromTitle } from '../../src/server/_examples.js'
import { createSseParser } from './_helpers.js'

describe('the page’s SSE parser', () => {
  const parse = (pieces: string[]): Array<[string, unknown]> => {
    const events: Array<[string, unknown]> = []
    const parser = createSseParser((event, data) => events.push([event, data]))
    for (const piece of pieces) parser.push(piece)
    parser.end()
    return events
  }
  const stream = 'event: token\ndata: {"text":"Lo"}\n\nevent: done\ndata: {"answer":"Lo ü"}\n\n'

  it.each([
    ['whole', [stream]],
    ['one character at a time', [...stream]],
    ['split inside a field name and a blank line', ['event: tok', 'en\ndata: {"text":"Lo"}\n', '\nevent: done\ndata: {"answer":"Lo ü"}\n\n']],
    ['with CRLF, the CR and LF in different pieces', ['event: token\r', '\ndata: {"text":"Lo"}\r\n\r', '\nevent: done\r\ndata: {"answer":"Lo ü"}\r\n\r\n']],
  ])('reads events given %s', (_how, pieces) => {
    expect(parse(pieces)).toEqual([
      ['token', { text: 'Lo' }],
      ['done', { answer: 'Lo ü' }],
    ])
  })

  it('joins multi-line data, names unnamed events "message", and reads a last block without its blank line', () => {
    expect(parse(['data: [1,\ndata: 2]\n\n: a comment\n\nevent: x\ndata: {}'])).toEqual([
      ['message', [1, 2]],
      ['x', {}],
    ])
  })
})

describe('example questions', () => {
  it.each<[string, string | undefined]>([
    ['LoRA: Low-Rank Adaptation of Large Language Models', 'What is LoRA?'],
    ['BitDelta - Your Fine-Tune May Only Be Worth One Bit', 'What is BitDelta?'],
    ['Are Emergent Abilities of Large Language Models a Mirage?', 'Are Emergent Abilities of Large Language Models a Mirage?'],
    ['Scaling Laws for Neural Language Models', 'What do the papers say about scaling laws for neural language models?'],
    ['Training GPT-4 with LLMs in the Loop.', 'What do the papers say about training GPT-4 with LLMs in the loop?'],
    ['a very long prefix that is no name at all: the rest', 'What do the papers say about a very long prefix that is no name at all: the rest?'],
    ['Rendering <script>alert(1)</script> Safely', undefined],
    ['Short', undefined],
  ])('%s → %s', (title, question) => {
    expect(questionFromTitle(title)?.question).toBe(question)
  })

  const papers = Array.from({ length: 12 }, (_, i) => ({ id: `p${i}`, title: `Method${i}: A Paper About Topic ${i}` }))
  it('are fixed for a corpus version and may change with it', () => {
    const one = exampleQuestions(papers, { version: 'gen-000001' })
    expect(one).toHaveLength(3)
    expect(exampleQuestions([...papers].reverse(), { version: 'gen-000001' })).toEqual(one)
    const versions = ['gen-000002', 'gen-000003', 'gen-000004'].map((version) => exampleQuestions(papers, { version }).map((q) => q.id).join())
    expect(new Set([one.map((q) => q.id).join(), ...versions]).size).toBeGreaterThan(1)
  })
})
