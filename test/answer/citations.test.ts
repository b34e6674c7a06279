import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import {
  ABSTENTION_SENTENCE,
  createCitationRewriter,
  finalizeAnswer,
  idfWeights,
  parseMarkers,
  rewriteCitations,
  SUPPORT_THRESHOLD,
  supportScore,
  type RewriteState,
  type SourcePaper,
} from '../../src/answer/citations.js'
import { splitSentences } from '../../src/answer/sentences.js'

const seedLines = readFileSync(new URL('../../seeds/000_45a52416460ecdf0.txt', import.meta.url), 'utf8').split('\n')

/** A seed paper: its title line, and the abstract on the next non-blank line. */
function seedPaper(id: string, title: string, url?: string): SourcePaper {
  const at = seedLines.indexOf(title)
  const abstract = seedLines.slice(at + 1).find((line) => line.trim() !== '')
  if (at === -1 || abstract === undefined) throw new Error(`seed paper not found: ${title}`)
  return { id, title, ...(url !== undefined && { url }), abstract }
}

const DSEE = seedPaper('dsee', 'DSEE: Dually Sparsity-embedded Efficient Tuning of Pre-trained Language Models')
const META = seedPaper(
  'meta-dr',
  'Meta-training with Demonstration Retrieval for Efficient Few-shot Learning',
  'https://example.org/meta-dr',
)
const BIOMED = seedPaper('biomed', 'Domain-Specific Language Model Pretraining for Biomedical Natural Language Processing')
const SMALL = seedPaper('small', 'Specializing Smaller Language Models towards Multi-Step Reasoning')
const PAPERS = [DSEE, META, BIOMED, SMALL]
function byId(id: string): SourcePaper {
  const paper = PAPERS.find((p) => p.id === id)
  if (paper === undefined) throw new Error(`no test paper ${id}`)
  return paper
}

describe('parseMarkers', () => {
  it.each<[string, [string, number[]][]]>([
    ['memory [2].', [['[2]', [2]]]],
    ['[1, 3] and [1,2,3]', [['[1, 3]', [1, 3]], ['[1,2,3]', [1, 2, 3]]]],
    ['[2-4] and [2–4] and [2 – 4]', [['[2-4]', [2, 3, 4]], ['[2–4]', [2, 3, 4]], ['[2 – 4]', [2, 3, 4]]]],
    ['[1, 3-5; 7]', [['[1, 3-5; 7]', [1, 3, 4, 5, 7]]]],
    ['[3, 1, 3]', [['[3, 1, 3]', [3, 1]]]],
    ['adjacent [1][2] [3]', [['[1]', [1]], ['[2]', [2]], ['[3]', [3]]]],
    ['[ 4 ]', [['[ 4 ]', [4]]]],
    ['out of range [99] and [0]', [['[99]', [99]], ['[0]', [0]]]],
    ['reversed [3-1]', [['[3-1]', []]]],
    ['too wide [1-100]', [['[1-100]', []]]],
    ['beyond safe integers [999999999999999998-999999999999999999]', [['[999999999999999998-999999999999999999]', []]]],
    ['as wide as allowed [1-20]', [['[1-20]', [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20]]]],
    ['[CLS] and [MASK] tokens', []],
    ['an interval [0.5, 1]', []],
    ['[1 2], [1-2-3], [1,], [a1], [1a], [] and [', []],
    ['[1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13] is too long to be a citation', []],
    ['[[1]]', [['[1]', [1]]]],
  ])('%s', (text, expected) => {
    expect(parseMarkers(text).map((marker) => [marker.text, marker.numbers])).toStrictEqual(expected)
  })

  it('gives each marker its span', () => {
    expect(parseMarkers('See [1] and [2–3].')).toStrictEqual([
      { start: 4, end: 7, text: '[1]', numbers: [1] },
      { start: 12, end: 17, text: '[2–3]', numbers: [2, 3] },
    ])
  })
})

describe('createCitationRewriter', () => {
  it.each<[string, string, number, string, RewriteState]>([
    [
      'renumbers by first use across sentences',
      'Sparse updates help [3]. Retrieval helps [1]. Both [3] agree [2].',
      3,
      'Sparse updates help [1]. Retrieval helps [2]. Both [1] agree [3].',
      { cited: [3, 1, 2], markersTotal: 4, invalidMarkers: [] },
    ],
    [
      'sorts lists, drops duplicates and expands ranges',
      'A [2, 1, 2] and B [3-4] and C [4–2] [1].',
      4,
      'A [1, 2] and B [3, 4] and C [2].',
      { cited: [2, 1, 3, 4], markersTotal: 4, invalidMarkers: ['[4–2]'] },
    ],
    [
      'merges adjacent markers',
      'Both help [3][1] and [2] [3].',
      3,
      'Both help [1, 2] and [1, 3].',
      { cited: [3, 1, 2], markersTotal: 4, invalidMarkers: [] },
    ],
    [
      'removes a marker before a full stop with its space',
      'It saves memory [99].',
      3,
      'It saves memory.',
      { cited: [], markersTotal: 1, invalidMarkers: ['[99]'] },
    ],
    [
      'removes a marker between words leaving one space',
      'It saves memory [0] and time [1].',
      3,
      'It saves memory and time [1].',
      { cited: [1], markersTotal: 2, invalidMarkers: ['[0]'] },
    ],
    [
      'tidies "memory [99] ." and a marker after a full stop',
      'It saves memory [99] . [98] Next [1-100] , then [3-1]\nDone [1].',
      3,
      'It saves memory. Next, then\nDone [1].',
      { cited: [1], markersTotal: 5, invalidMarkers: ['[99]', '[98]', '[1-100]', '[3-1]'] },
    ],
    [
      'removes a marker starting the text or a bracket',
      '[99] Sparse updates (see [7]) help.',
      3,
      'Sparse updates (see) help.',
      { cited: [], markersTotal: 2, invalidMarkers: ['[99]', '[7]'] },
    ],
    [
      'keeps the valid part of a partly invalid marker',
      'It saves memory [2, 99] [98].',
      3,
      'It saves memory [1].',
      { cited: [2], markersTotal: 2, invalidMarkers: ['[2, 99]', '[98]'] },
    ],
    [
      'leaves brackets that are not citations alone',
      'The [CLS] token, p in [0.5, 1] and [ref] stay [1].',
      1,
      'The [CLS] token, p in [0.5, 1] and [ref] stay [1].',
      { cited: [1], markersTotal: 1, invalidMarkers: [] },
    ],
    [
      'cites nothing when nothing was retrieved',
      'Nothing [1].',
      0,
      'Nothing.',
      { cited: [], markersTotal: 1, invalidMarkers: ['[1]'] },
    ],
    [
      'passes an unclosed bracket through',
      'Ranges [1, 2, 3 and [2',
      3,
      'Ranges [1, 2, 3 and [2',
      { cited: [], markersTotal: 0, invalidMarkers: [] },
    ],
  ])('%s', (_name, text, k, expected, state) => {
    expect(rewriteCitations(text, k)).toStrictEqual({ text: expected, state })
  })

  const samples: [string, number][] = [
    ['Sparse updates cut memory [12]. Retrieval helps [3][1], as does [2–4] [99].\n\n- Both [1, 3] agree. [0]', 12],
    ['[99] LoRA [1] reduces memory  [7] . [2-1] Fine [2,1]', 2],
    ['a [[1]] b [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13] c [1 2] d [ 2 ]   ', 3],
    ['Ünïcode 😀 [1]\r\n[2–3]\t[4]  😀[', 3],
    [`Runaway${' '.repeat(90)}[9]${'[1] '.repeat(25)}end`, 3],
  ]

  it.each(samples)('gives the same output and state however %j is split', (text, k) => {
    const whole = rewriteCitations(text, k)
    const streamed = (pieces: string[]): { text: string; state: RewriteState } => {
      const rewriter = createCitationRewriter(k)
      const out = pieces.map((piece) => rewriter.push(piece)).join('') + rewriter.end()
      return { text: out, state: rewriter.state() }
    }
    for (let i = 0; i <= text.length; i++) expect(streamed([text.slice(0, i), text.slice(i)])).toStrictEqual(whole)
    expect(streamed([...text])).toStrictEqual(whole)
    expect(whole.state.markersTotal).toBe(parseMarkers(text).length)
  })

  it('holds back only what may still become a marker', () => {
    const rewriter = createCitationRewriter(20)
    expect(['It saves memory [', '1', '2', '] and', ' time [9', '9].'].map((delta) => rewriter.push(delta))).toStrictEqual([
      'It saves memory',
      '',
      '',
      ' [1] and',
      ' time',
      '.',
    ])
    const long = `Lists [${'1, '.repeat(20)}`
    expect(rewriter.push(long)).toBe(long.trimEnd())
    expect(rewriter.end()).toBe(' ')
  })

  it('bounds what it holds back when whitespace or adjacent markers run away', () => {
    const rewriter = createCitationRewriter(3)
    expect(rewriter.push(`Gap${' '.repeat(100)}`)).toBe(`Gap${' '.repeat(81)}`)
    // The first 20 markers merge, then the held-back text is full and they are let go.
    expect(rewriter.push('[1]'.repeat(30))).toBe(`${' '.repeat(19)}[1]`)
    expect(rewriter.end()).toBe('[1]')
  })

  it('rejects a negative number of papers', () => {
    expect(() => createCitationRewriter(-1)).toThrow(RangeError)
  })
})

describe('supportScore', () => {
  it.each<[string, string, Map<string, number> | undefined, number]>([
    ['DSEE saves inference FLOPs', 'For instance, DSEE saves about 25% inference FLOPs.', undefined, 1],
    ['sparse updates reduce memory', 'We use sparse updates.', undefined, 0.5],
    ['sparse updates reduce memory [1, 2]', 'We use sparse updates.', undefined, 0.5],
    ['sparse updates', 'Dense passage retrieval.', undefined, 0],
    ['what is this?', 'What is this?', undefined, 0],
    ['sparse model', 'A model.', new Map([['spars', 3], ['model', 1]]), 0.25],
    ['sparse LoRA', 'Sparse weights.', new Map([['spars', 1], ['model', 3]]), 0.25],
  ])('scores %j against %j', (claim, evidence, idf, expected) => {
    expect(supportScore(claim, evidence, idf)).toBe(expected)
  })

  // The threshold separates a faithful paraphrase of a sentence in the cited abstract from a sentence
  // about another of the retrieved papers (the usual wrong citation: right claim, wrong number).
  it.each<[string, string, boolean]>([
    ['DSEE makes fine-tuning cheaper by using sparse low-rank weight updates.', 'dsee', true],
    ['DSEE keeps downstream performance competitive while cutting inference FLOPs.', 'dsee', true],
    ['Sparse weight structure makes inference resource-efficient.', 'dsee', true],
    ['Retrieving demonstrations gives the meta-trained model more varied supervision.', 'meta-dr', true],
    ['Large language models need a lot of memory and computation.', 'meta-dr', true],
    ['The meta-training approach beats other parameter-efficient few-shot methods on QA and NLI.', 'meta-dr', true],
    ['Training a biomedical language model from scratch beats continuing to pretrain a general one.', 'biomed', true],
    ['Complex tagging schemes for named entity recognition turn out to be unnecessary with BERT.', 'biomed', true],
    ['Specializing a small model on math reasoning costs it some generic ability.', 'small', true],
    ['Multi-step reasoning abilities can be distilled from GPT-3.5 into T5 models smaller than 11B.', 'small', true],
    ['Training a biomedical language model from scratch beats continuing to pretrain a general one.', 'meta-dr', false],
    ['Retrieving demonstrations gives the meta-trained model more varied supervision.', 'small', false],
    ['The meta-training approach beats other parameter-efficient few-shot methods on QA and NLI.', 'small', false],
    ['Specializing a small model on math reasoning costs it some generic ability.', 'dsee', false],
    ['DSEE keeps downstream performance competitive while cutting inference FLOPs.', 'biomed', false],
    ['Complex tagging schemes for named entity recognition turn out to be unnecessary with BERT.', 'dsee', false],
    ['Instruction tuning on diverse domains improves generalization to unseen instructions.', 'dsee', false],
  ])('%j is supported by %s: %s', (claim, id, supported) => {
    const idf = idfWeights(PAPERS.map((p) => p.abstract))
    const best = Math.max(...splitSentences(byId(id).abstract).map((sentence) => supportScore(claim, sentence, idf)))
    expect(best >= SUPPORT_THRESHOLD).toBe(supported)
  })
})

describe('finalizeAnswer', () => {
  it('renumbers, and lists exactly the cited papers with the abstract sentences that support them', () => {
    const raw =
      'Smaller models can trade generic ability for multi-step math reasoning [4]. ' +
      'Meta-training with demonstration retrieval uses a dense passage retriever [2], and it can be meta-trained on a single GPU [2].'
    expect(finalizeAnswer(raw, PAPERS)).toStrictEqual({
      answer:
        'Smaller models can trade generic ability for multi-step math reasoning [1]. ' +
        'Meta-training with demonstration retrieval uses a dense passage retriever [2], and it can be meta-trained on a single GPU [2].',
      references: [
        {
          n: 1,
          id: 'small',
          title: SMALL.title,
          quote:
            "We show two important aspects of model abilities: (1). there exists a very complex balance/ tradeoff between language models' multi-dimensional abilities; (2). by paying the price of decreased generic ability, we can clearly lift up the scaling curve of models smaller than 10B towards a specialized multi-step math reasoning ability.",
        },
        {
          n: 2,
          id: 'meta-dr',
          title: META.title,
          url: 'https://example.org/meta-dr',
          quote:
            'To overcome this issue, we propose meta-training with demonstration retrieval, where we use a dense passage retriever to retrieve semantically similar labeled demonstrations to each example for more varied supervision. Our approach can be meta-trained and fine-tuned quickly on a single GPU.',
        },
      ],
      checks: { markersTotal: 3, invalidMarkers: [], uncitedSentences: [], unsupportedCitations: [] },
    })
  })

  it('expands a range, drops invalid markers and reports a claim left without a citation', () => {
    const raw =
      'Both train parameter-efficient models by fine-tuning only a few parameters [1-2]. ' +
      'Pretraining from scratch on biomedical text beats general-domain pretraining [99]. ' +
      'Multi-step reasoning can be distilled into T5 models [0] [4].'
    const { answer, references, checks } = finalizeAnswer(raw, PAPERS)
    expect(answer).toBe(
      'Both train parameter-efficient models by fine-tuning only a few parameters [1, 2]. ' +
        'Pretraining from scratch on biomedical text beats general-domain pretraining. ' +
        'Multi-step reasoning can be distilled into T5 models [3].',
    )
    expect(references.map((r) => [r.n, r.id])).toStrictEqual([
      [1, 'dsee'],
      [2, 'meta-dr'],
      [3, 'small'],
    ])
    expect(checks).toStrictEqual({
      markersTotal: 4,
      invalidMarkers: ['[99]', '[0]'],
      uncitedSentences: ['Pretraining from scratch on biomedical text beats general-domain pretraining.'],
      unsupportedCitations: [],
    })
  })

  it('reports a citation to a paper that does not say it, and still quotes its closest sentence', () => {
    const raw =
      'Pretraining language models from scratch on biomedical text beats continual pretraining [1]. ' +
      'DSEE saves about 25% of inference FLOPs [1], while meta-training with demonstration retrieval uses a dense passage retriever [2].'
    const { references, checks } = finalizeAnswer(raw, PAPERS)
    expect(checks.unsupportedCitations).toStrictEqual([
      { n: 1, sentence: 'Pretraining language models from scratch on biomedical text beats continual pretraining [1].' },
    ])
    expect(references.map((r) => [r.id, r.quote])).toStrictEqual([
      [
        'dsee',
        'For instance, DSEE saves about 25% inference FLOPs while achieving comparable performance, with 0.5% trainable parameters on BERT.',
      ],
      [
        'meta-dr',
        'To overcome this issue, we propose meta-training with demonstration retrieval, where we use a dense passage retriever to retrieve semantically similar labeled demonstrations to each example for more varied supervision.',
      ],
    ])
  })

  it('asks a citation only of sentences that make a claim', () => {
    const raw = [
      '## How to cut fine-tuning costs',
      'Two approaches:',
      '',
      '- DSEE enforces sparsity-aware low-rank updates [1].',
      '- Prompt tuning learns soft prompts for frozen models.',
      '',
      'See also [2].',
      'Both work well.',
    ].join('\n')
    expect(finalizeAnswer(raw, PAPERS).checks.uncitedSentences).toStrictEqual(['- Prompt tuning learns soft prompts for frozen models.'])
  })

  it.each([ABSTENTION_SENTENCE, `**${ABSTENTION_SENTENCE}**`, 'the retrieved papers do not answer this question'])(
    'takes the abstention %j as no claim',
    (raw) => {
      expect(finalizeAnswer(raw, PAPERS)).toStrictEqual({
        answer: raw,
        references: [],
        checks: { markersTotal: 0, invalidMarkers: [], uncitedSentences: [], unsupportedCitations: [] },
      })
    },
  )
})
