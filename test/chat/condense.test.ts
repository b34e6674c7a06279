import { describe, expect, it } from 'vitest'
import type { Reference } from '../../src/answer/citations.js'
import { condenseOffline, type ChatTurn } from '../../src/chat/index.js'

const BITDELTA = 'BitDelta: Your Fine-Tune May Only Be Worth One Bit'
const LORA = 'LoRA: Low-Rank Adaptation of Large Language Models'
const FORGETS = 'LoRA Learns Less and Forgets Less'
const SOUPS = 'Model soups: averaging weights of multiple fine-tuned models improves accuracy without increasing inference time'
const ref = (n: number, title: string): Reference => ({ n, id: `p-${n}`, title, quote: '' })

function turn(message: string, references: Reference[], standalone = message): ChatTurn {
  return { message, standalone, answer: 'An answer [1].', abstained: references.length === 0, references, at: '2026-01-01T00:00:00.000Z' }
}

const FIRST = turn('How does BitDelta compress fine-tuned models?', [ref(1, BITDELTA), ref(2, LORA)])
const BOTH = `"${BITDELTA}" and "${LORA}"`

/** Feeds each message the history so far, as a session does, and returns each standalone question. */
function chain(first: ChatTurn, messages: string[]): string[] {
  const turns = [first]
  for (const message of messages) turns.push(turn(message, first.references, condenseOffline(turns, message)))
  return turns.slice(1).map((t) => t.standalone)
}

describe('condenseOffline', () => {
  it.each([
    // What points back becomes the previous question's subject, in place.
    ['how much memory does it save?', 'How much memory does BitDelta save?'],
    ['Is this method better than full fine-tuning?', 'Is BitDelta better than full fine-tuning?'],
    ['How does that compare with LoRA?', 'How does BitDelta compare with LoRA?'],
    ['and does it scale?', 'Does BitDelta scale?'],
    ['but it is slower, right?', 'But BitDelta is slower, right?'],
    ['What did the authors find?', 'What did the authors of BitDelta find?'],
    // "those", "they", "their": the papers the last answer cited, named compactly.
    ['which of those used LoRA?', `Which of ${BOTH} used LoRA?`],
    ['Do they need calibration data?', `Do ${BOTH} need calibration data?`],
    ['what are their limitations?', `What are the limitations of ${BOTH}?`],
    ['Are those results significant?', `Are the results of ${BOTH} significant?`],
    // Too little of its own: the subject comes in, as a sentence.
    ['why?', 'Why does BitDelta compress fine-tuned models?'],
    ['why is that?', 'Why does BitDelta compress fine-tuned models?'],
    ['how come?', 'How does BitDelta compress fine-tuned models?'],
    ['memory?', "What about BitDelta's memory?"],
    ['and latency?', "What about BitDelta's latency?"],
    ['and the memory cost?', "What about BitDelta's memory cost?"],
    ['and for images?', 'What about BitDelta for images?'],
    ['more details', 'Tell me more about BitDelta.'],
    ['tell me more', 'Tell me more about BitDelta.'],
    ['does quantization help?', 'Does quantization help for BitDelta?'],
    // A new subject in the same question.
    ['and QLoRA?', 'How does QLoRA compress fine-tuned models?'],
    ['What about the second one?', `How does "${LORA}" compress fine-tuned models?`],
    ['compared to LoRA?', 'How does BitDelta compare with LoRA?'],
    // References to a cited paper become its title.
    ['What does the second one propose?', `What does "${LORA}" propose?`],
    ['Does [2] beat full fine-tuning?', `Does "${LORA}" beat full fine-tuning?`],
    ['Tell me more about paper 1', `Tell me more about "${BITDELTA}"`],
    ['Does the last one need more GPU memory?', `Does "${LORA}" need more GPU memory?`],
    // A reference past the end of the list stays as written.
    ['What does the fifth one say?', 'What does the fifth one say?'],
    // Self-contained: unchanged, even with a pronoun that the message itself resolves.
    ['Which papers study scaling laws for neural language models?', 'Which papers study scaling laws for neural language models?'],
    ['What is LoRA and why does it work?', 'What is LoRA and why does it work?'],
    ['What does the paper on LoRA say?', 'What does the paper on LoRA say?'],
    ['What does Prefix-Tuning optimize?', 'What does Prefix-Tuning optimize?'],
    ['thanks!', 'thanks!'],
  ])('%s', (message, standalone) => {
    expect(condenseOffline([FIRST], message)).toBe(standalone)
  })

  it.each([
    // The subject is the names in the previous question…
    ['What is LoRA?', 'What about its effect on forgetting?', "What about LoRA's effect on forgetting?"],
    ['How does QLoRA cut memory?', 'How much does it save?', 'How much does QLoRA save?'],
    ['How does LoRA reduce the number of trainable parameters?', 'and the memory cost?', "What about LoRA's memory cost?"],
    ['How does LoRA reduce the number of trainable parameters?', 'why?', 'Why does LoRA reduce the number of trainable parameters?'],
    ['Does LoRA forget less?', 'how?', 'How does LoRA forget less?'],
    // …leaving out the likes of "GPU" when something else is named…
    ['How does LoRA reduce GPU memory?', 'How many fewer trainable parameters does it need?', 'How many fewer trainable parameters does LoRA need?'],
    // …and all of them, for "those", when there are several.
    ['How does QLoRA compare with LoRA?', 'which of those uses less memory?', 'Which of QLoRA and LoRA uses less memory?'],
    ['How does QLoRA compare with LoRA?', 'why?', 'Why does QLoRA compare with LoRA?'],
    ['Which of QLoRA and LoRA is faster?', 'why?', 'Why do QLoRA and LoRA work?'],
    // Naming nothing, the subject is its main phrase…
    ['What is sparse pre-training?', 'how much compute does it save?', 'How much compute does sparse pre-training save?'],
    ['How does sparse pre-training affect accuracy?', 'and its cost?', "What about sparse pre-training's cost?"],
    ['What are model soups?', 'and their cost?', "What about model soups' cost?"],
    ['What are model soups?', 'why?', 'Why do model soups work?'],
    // …else the first paper cited, by its short name when the title has one.
    ['Which papers study weight compression?', 'how much memory does it save?', 'How much memory does BitDelta save?'],
  ])('after %j: %j is %j', (previous, message, standalone) => {
    expect(condenseOffline([turn(previous, [ref(1, BITDELTA), ref(2, LORA)])], message)).toBe(standalone)
  })

  it('takes a quoted paper of the previous question as its subject, by its short name', () => {
    const previous = turn('What does the second one propose?', [ref(1, BITDELTA), ref(2, LORA)], `What does "${LORA}" propose?`)
    expect(condenseOffline([previous], 'why does it work?')).toBe('Why does LoRA work?')
    expect(condenseOffline([previous], 'and the first one?')).toBe(`What does "${BITDELTA}" propose?`)
  })

  it('uses the title quoted when it has no short name', () => {
    const previous = turn('Which papers study forgetting?', [ref(1, FORGETS)])
    expect(condenseOffline([previous], 'what does it measure?')).toBe(`What does "${FORGETS}" measure?`)
    expect(condenseOffline([previous], 'and its data?')).toBe(`What about the data of "${FORGETS}"?`)
  })

  it('leaves every message unchanged when there is no history', () => {
    expect(condenseOffline([], 'how much memory does it save?')).toBe('how much memory does it save?')
  })

  it('leaves a follow-up unchanged when nothing earlier says what it is about', () => {
    expect(condenseOffline([turn('Tell me something.', [])], 'how much memory does it save?')).toBe('how much memory does it save?')
  })

  it('reads only the latest turn, so a reset topic does not leak back', () => {
    const older = turn('What is LoRA?', [ref(1, LORA)])
    expect(condenseOffline([older, FIRST], 'how much memory does it save?')).toBe('How much memory does BitDelta save?')
  })

  it('reads the subject out of an old session file’s tail-style rewrite, and drops the tail', () => {
    const old = turn('how much memory does it save?', [ref(1, BITDELTA)], `how much memory does it save? (about: BitDelta compress fine-tuned models; papers: "${BITDELTA}")`)
    expect(condenseOffline([FIRST, old], 'and its latency?')).toBe("What about BitDelta's latency?")
    expect(condenseOffline([FIRST, old], 'why?')).toBe('Why does BitDelta work?')
  })

  it('rewrites a follow-up of a follow-up from the clean question, so nothing accumulates over five turns', () => {
    const standalones = chain(turn('What is LoRA?', [ref(1, LORA), ref(2, FORGETS)]), [
      'What about its effect on forgetting?',
      'and the memory cost?',
      'why?',
      'How much does it save?',
      'and QLoRA?',
    ])
    expect(standalones).toEqual([
      "What about LoRA's effect on forgetting?",
      "What about LoRA's memory cost?",
      'Why does LoRA work?',
      'How much does LoRA save?',
      'How much does QLoRA save?',
    ])
    for (const s of standalones) expect(s).not.toMatch(/\(about:|papers:|forgetting.*memory|memory.*forgetting/)
    expect(Math.max(...standalones.map((s) => s.length))).toBeLessThanOrEqual('What about its effect on forgetting?'.length + 'LoRA'.length)
  })

  it('keeps each turn of a chain about its own topic and the resolved subject', () => {
    expect(
      chain(turn('How does QLoRA cut memory?', [ref(1, LORA)]), [
        'How much does it save?',
        'and its accuracy?',
        'compared to LoRA?',
        'which of those is faster?',
        'more details',
      ]),
    ).toEqual([
      'How much does QLoRA save?',
      "What about QLoRA's accuracy?",
      'How does QLoRA compare with LoRA?',
      'Which of QLoRA and LoRA is faster?',
      'Tell me more about QLoRA and LoRA.',
    ])
    expect(
      chain(turn('Which papers study quantization?', [ref(1, BITDELTA), ref(2, SOUPS)]), [
        'Which of those use LoRA?',
        'how much memory does it save?',
        'and for images?',
        'why?',
        'what are their limitations?',
      ]),
    ).toEqual([
      `Which of "${BITDELTA}" and "${SOUPS}" use LoRA?`,
      'How much memory does LoRA save?',
      'What about LoRA for images?',
      'Why does LoRA work?',
      `What are the limitations of "${BITDELTA}" and "${SOUPS}"?`,
    ])
  })
})
