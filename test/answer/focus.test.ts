import { describe, expect, it } from 'vitest'
import { answersFocus, questionFocus } from '../../src/answer/focus.js'
import { standAlone } from '../../src/answer/offline.js'

describe('questionFocus', () => {
  it.each([
    ['How many GPUs were used to train OpenBezoar?', { quantity: true, terms: ['gpu'], asked: 'number of GPUs', names: ['OpenBezoar'] }],
    ['What peak learning rate was used to pre-train MPNet?', { quantity: true, terms: ['learn', 'rate'], asked: 'peak learning rate' }],
    ['What is the maximum context length of the TeleChat models?', { quantity: true, terms: ['context', 'length'] }],
    ['How much memory does QLoRA save in GB?', { quantity: true, terms: ['memori'], units: ['gb'], names: ['QLoRA'] }],
    ['Which optimizer did they use?', { quantity: false, terms: ['optim'], asked: 'optimizer' }],
    ['How many papers does the survey review?', { quantity: true, terms: ['paper'] }],
    ['What is LoRA?', { quantity: false, terms: [], defines: 'LoRA', names: ['LoRA'] }],
    ['what is the Lion optimizer', { quantity: false, terms: [], defines: 'Lion optimizer' }],
    ['How does LoRA reduce memory?', { quantity: false, terms: [], units: [], names: ['LoRA'] }],
  ])('reads %s', (question, expected) => {
    expect(questionFocus(question)).toMatchObject(expected)
  })
})

// Pairs about the same paper: the answerable question and the near-miss one, against one abstract sentence.
describe('answersFocus', () => {
  it.each([
    ['How much GPU memory does BitDelta save?', 'BitDelta reduces GPU memory requirements by more than 10x.', true],
    ['How many GPUs were used to train BitDelta?', 'BitDelta reduces GPU memory requirements by more than 10x.', false],
    ['How many trainable parameters does LoRA remove?', 'LoRA can reduce the number of trainable parameters by 10,000 times.', true],
    ['What learning rate does LoRA use?', 'LoRA can reduce the number of trainable parameters by 10,000 times.', false],
    ['How long does MosaicBERT take to pretrain, in hours?', 'MosaicBERT reaches a GLUE score of 79.6 in 1.13 hours on 8 A100 GPUs.', true],
    ['How long does MosaicBERT take to pretrain, in days?', 'MosaicBERT reaches a GLUE score of 79.6 in 1.13 hours on 8 A100 GPUs.', false],
    ['What GLUE score does MosaicBERT reach?', 'MosaicBERT reaches a GLUE score of 79.6 in 1.13 hours on 8 A100 GPUs.', true],
    ['What accuracy does the model reach on SQuAD?', 'The model reaches 85.3% on SQuAD.', true],
    ['What batch size was used to pre-train XDoc?', 'XDoc uses one backbone for several document formats.', false],
    ['How many parameters does TeleChat have?', 'TeleChat is a collection of models with 3B, 7B and 12B parameters.', true],
    ['How many parameters does GPT-4 have?', 'GPT-4 is compared with Llama-2 on reasoning.', false],
  ])('%s ← "%s": %s', (question, sentence, expected) => {
    expect(answersFocus(questionFocus(question), sentence)).toBe(expected)
  })
})

describe('standAlone', () => {
  it.each([
    ['Then, we fine-tune the model on code.', 'We pretrain a model.', ['We fine-tune the model on code.']],
    ['Moreover, the method halves memory.', undefined, ['The method halves memory.']],
    ['These methods forget less.', 'LoRA and prefix tuning train few weights.', ['LoRA and prefix tuning train few weights.', 'These methods forget less.']],
    ['To address this problem, we propose X.', 'Fine-tuning forgets.', ['Fine-tuning forgets.', 'To address this problem, we propose X.']],
    ['In order to solve the above problems, we propose X.', 'Moreover, old methods are slow.', ['Old methods are slow.', 'In order to solve the above problems, we propose X.']],
    ['These methods forget less.', undefined, ['These methods forget less.']],
    ['This paper proposes X.', 'Background.', ['This paper proposes X.']],
    ['We propose X.', 'Background.', ['We propose X.']],
  ])('%s', (sentence, previous, expected) => {
    expect(standAlone(sentence, previous)).toEqual(expected)
  })
})
