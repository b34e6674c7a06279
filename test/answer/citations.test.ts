import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import {
  ABSTENTION_SENTENCE,
  createCitationRewriter,
  finalizeAnswer,
  idfWeights,
  MAX_MARKER_LENGTH,
  parseMarkers,
  rewriteCitations,
  SUPPORT_THRESHOLD,
  supportScore,
  type RewriteState,
  type SourcePaper,
} from '../../src/answer/citations.js'
import { splitSentences } from '../../src/answer/sentences.js'

const LONG_LIST = `[${Array.from({ length: 20 }, (_, i) => i + 1).join(', ')}]`

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
    [`${LONG_LIST} is too long to be a citation`, []],
    ['[[1]]', [['[1]', [1]]]],
    ['[Paper 2] and [paper 1, Paper 3] and [Papers 2-4] and (Paper 2)', [['[Paper 2]', [2]], ['[paper 1, Paper 3]', [1, 3]], ['[Papers 2-4]', [2, 3, 4]], ['(Paper 2)', [2]]]],
    ['[Source 2], [Abstract 3], [Doc 1], [Document #4], [Ref. 5], [Source: 6]', [['[Source 2]', [2]], ['[Abstract 3]', [3]], ['[Doc 1]', [1]], ['[Document #4]', [4]], ['[Ref. 5]', [5]], ['[Source: 6]', [6]]]],
    ['【1】【2, 3】【4†source】【1†source, 2†source】', [['【1】', [1]], ['【2, 3】', [2, 3]], ['【4†source】', [4]], ['【1†source, 2†source】', [1, 2]]]],
    ['[^1][^2] and [1†L3-L5]', [['[^1]', [1]], ['[^2]', [2]], ['[1†L3-L5]', [1]]]],
    ['out of range [Paper 9] and 【0】', [['[Paper 9]', [9]], ['【0】', [0]]]],
    ['[ref], [Paper], [Paper one], (Paper), 【source】 and [^a]', []],
    ['without k a parenthesised number is not read: weights (1).', []],
  ])('%s', (text, expected) => {
    expect(parseMarkers(text).map((marker) => [marker.text, marker.numbers])).toStrictEqual(expected)
  })

  it('gives each marker its span and says whether it is written as [n]', () => {
    expect(parseMarkers('See [1] and [Paper 2–3], then weights (1).', 3)).toStrictEqual([
      { start: 4, end: 7, text: '[1]', numbers: [1], canonical: true },
      { start: 12, end: 23, text: '[Paper 2–3]', numbers: [2, 3], canonical: false },
      { start: 38, end: 41, text: '(1)', numbers: [1], canonical: false },
    ])
  })

  it.each<[string, number, string[]]>([
    ['LoRA freezes the weights (1).', 5, ['(1)']],
    ['adapters (1, 3), while prompts (2-4) (5); and (1)', 5, ['(1, 3)', '(2-4)', '(5)', '(1)']],
    ['weights (6).', 5, []],
    ['We do two things: (1) freeze, (2) train.', 5, []],
  ])('with k, reads a parenthesised number only where a citation goes: %j', (text, k, expected) => {
    expect(parseMarkers(text, k).map((marker) => marker.text)).toStrictEqual(expected)
  })
})

describe('createCitationRewriter', () => {
  it.each<[string, string, number, string, RewriteState]>([
    [
      'renumbers by first use across sentences',
      'Sparse updates help [3]. Retrieval helps [1]. Both [3] agree [2].',
      3,
      'Sparse updates help [1]. Retrieval helps [2]. Both [1] agree [3].',
      { cited: [3, 1, 2], markersTotal: 4, invalidMarkers: [], reformattedMarkers: [] },
    ],
    [
      'sorts lists, drops duplicates and expands ranges',
      'A [2, 1, 2] and B [3-4] and C [4–2] [1].',
      4,
      'A [1, 2] and B [3, 4] and C [2].',
      { cited: [2, 1, 3, 4], markersTotal: 4, invalidMarkers: ['[4–2]'], reformattedMarkers: [] },
    ],
    [
      'merges adjacent markers',
      'Both help [3][1] and [2] [3].',
      3,
      'Both help [1, 2] and [1, 3].',
      { cited: [3, 1, 2], markersTotal: 4, invalidMarkers: [], reformattedMarkers: [] },
    ],
    [
      'removes a marker before a full stop with its space',
      'It saves memory [99].',
      3,
      'It saves memory.',
      { cited: [], markersTotal: 1, invalidMarkers: ['[99]'], reformattedMarkers: [] },
    ],
    [
      'removes a marker between words leaving one space',
      'It saves memory [0] and time [1].',
      3,
      'It saves memory and time [1].',
      { cited: [1], markersTotal: 2, invalidMarkers: ['[0]'], reformattedMarkers: [] },
    ],
    [
      'tidies "memory [99] ." and a marker after a full stop',
      'It saves memory [99] . [98] Next [1-100] , then [3-1]\nDone [1].',
      3,
      'It saves memory. Next, then\nDone [1].',
      { cited: [1], markersTotal: 5, invalidMarkers: ['[99]', '[98]', '[1-100]', '[3-1]'], reformattedMarkers: [] },
    ],
    [
      'removes a marker starting the text or a bracket',
      '[99] Sparse updates (see [7]) help.',
      3,
      'Sparse updates (see) help.',
      { cited: [], markersTotal: 2, invalidMarkers: ['[99]', '[7]'], reformattedMarkers: [] },
    ],
    [
      'keeps the valid part of a partly invalid marker',
      'It saves memory [2, 99] [98].',
      3,
      'It saves memory [1].',
      { cited: [2], markersTotal: 2, invalidMarkers: ['[2, 99]', '[98]'], reformattedMarkers: [] },
    ],
    [
      'leaves brackets that are not citations alone',
      'The [CLS] token, p in [0.5, 1] and [ref] stay [1].',
      1,
      'The [CLS] token, p in [0.5, 1] and [ref] stay [1].',
      { cited: [1], markersTotal: 1, invalidMarkers: [], reformattedMarkers: [] },
    ],
    [
      'cites nothing when nothing was retrieved',
      'Nothing [1].',
      0,
      'Nothing.',
      { cited: [], markersTotal: 1, invalidMarkers: ['[1]'], reformattedMarkers: [] },
    ],
    [
      'passes an unclosed bracket through',
      'Ranges [1, 2, 3 and [2',
      3,
      'Ranges [1, 2, 3 and [2',
      { cited: [], markersTotal: 0, invalidMarkers: [], reformattedMarkers: [] },
    ],
  ])('%s', (_name, text, k, expected, state) => {
    expect(rewriteCitations(text, k)).toStrictEqual({ text: expected, state })
  })

  // Models ignore the citation format; each form is rewritten into [n] and renumbered like [n].
  it.each<[string, string, string, number[]]>([
    ['(n) after a word, before a full stop', 'LoRA freezes the weights (3).', 'LoRA freezes the weights [1].', [3]],
    ['(n, m) before a comma', 'Adapters (3, 1), while prompts (2).', 'Adapters [1, 2], while prompts [3].', [3, 1, 2]],
    ['(n-m) at the end of the text', 'Adapters help (2-4)', 'Adapters help [1, 2, 3]', [2, 3, 4]],
    ['(n) before a line break and after a closing quote', 'The "LoRA" (2)\nand **DoRA** (1);', 'The "LoRA" [1]\nand **DoRA** [2];', [2, 1]],
    ['(n) after et al.', 'As shown by Hu et al. (4).', 'As shown by Hu et al. [1].', [4]],
    ['(n) beside other markers', 'Both help (2) [3](1).', 'Both help [1, 2, 3].', [2, 3, 1]],
    ['[Paper n]', 'LoRA freezes the weights [Paper 3].', 'LoRA freezes the weights [1].', [3]],
    ['[Paper n, Paper m]', 'Both [Paper 1, Paper 3] help.', 'Both [1, 2] help.', [1, 3]],
    ['[Papers n-m] and [Paper n, m]', 'All [Papers 2-3] and [paper 4, 1].', 'All [1, 2] and [3, 4].', [2, 3, 4, 1]],
    ['(Paper n)', 'Retrieval helps (Paper 2).', 'Retrieval helps [1].', [2]],
    ['[Source n]', 'Retrieval helps [Source 2].', 'Retrieval helps [1].', [2]],
    ['[Abstract n]', 'Retrieval helps [Abstract 3].', 'Retrieval helps [1].', [3]],
    ['[Doc n]', 'Retrieval helps [Doc 1].', 'Retrieval helps [1].', [1]],
    ['[Ref. n]', 'Retrieval helps [Ref. 5].', 'Retrieval helps [1].', [5]],
    ['【n】', 'Retrieval helps【2】.', 'Retrieval helps[1].', [2]],
    ['【n†source】 twice', 'Retrieval helps 【2†source】【1†source】.', 'Retrieval helps [1, 2].', [2, 1]],
    ['[^n] footnotes', 'Retrieval helps[^3][^2].', 'Retrieval helps[1, 2].', [3, 2]],
    ['[n†L3-L5]', 'Retrieval helps [4†L3-L5].', 'Retrieval helps [1].', [4]],
  ])('rewrites %s', (_name, text, expected, cited) => {
    const { text: out, state } = rewriteCitations(text, 5)
    expect({ out, cited: state.cited }).toStrictEqual({ out: expected, cited })
    const reformatted = parseMarkers(text, 5).filter((marker) => !marker.canonical)
    expect(state.reformattedMarkers).toStrictEqual(reformatted.map((marker) => marker.text))
    expect(reformatted.length).toBeGreaterThan(0)
    expect(state.invalidMarkers).toStrictEqual([])
  })

  it.each<[string, string]>([
    ['an enumeration after ":" and ","', 'We do two things: (1) we freeze the weights, (2) we train adapters.'],
    ['an enumeration after ";"', 'First we freeze; (2) then we train.'],
    ['an enumeration starting sentences', '(1) Freeze the weights. (2) Train adapters.'],
    ['an enumeration in mid-sentence', 'The steps (1) and (2) are distinct.'],
    ['a number after a full stop', 'It saves memory. (1)'],
    ['an equation', 'The loss is given in Eq. (1).'],
    ['equations named in full', 'Combine Equation (1), Eqs. (1) and (2), and Eqn (3).'],
    ['a table', 'Table (2) lists the results, as does Table (3).'],
    ['a figure panel', 'Figure 3 (a) shows it, and so does Figure 3 (1).'],
    ['an algorithm step', 'See Algorithm (1) and Step (2).'],
    ['a year', 'BERT (2019) and GPT-2 (2019).'],
    ['a decimal', 'A dropout of (0.5).'],
    ['a number with a unit', 'GPT-2 (1.5 B) and T5 (11 B).'],
    ['a function call', 'where f(1) = 0 and g(2).'],
    ['a paper that was not retrieved', 'It saves memory (7), and (2, 6).'],
    ['paper zero', 'It saves memory (0).'],
    ['a reversed range', 'It saves memory (3-1).'],
  ])('leaves %s untouched', (_name, text) => {
    expect(rewriteCitations(text, 5)).toStrictEqual({
      text,
      state: { cited: [], markersTotal: 0, invalidMarkers: [], reformattedMarkers: [] },
    })
  })

  it.each(['[Paper 7]', '[paper 1, Paper 7]', '(Paper 6)', '[Source 7]', '[Abstract 7]', '[Doc 7]', '[Ref 7]', '【7】', '【7†source】', '[^7]', '[7†L3-L5]', '[Paper 0]'])(
    'removes %s, citing no retrieved paper, and reports it',
    (marker) => {
      const valid = marker.includes('1') ? ' [1]' : ''
      expect(rewriteCitations(`It saves memory ${marker}.`, 5)).toStrictEqual({
        text: `It saves memory${valid}.`,
        state: { cited: valid ? [1] : [], markersTotal: 1, invalidMarkers: [marker], reformattedMarkers: [marker] },
      })
    },
  )

  const samples: [string, number][] = [
    ['Sparse updates cut memory [12]. Retrieval helps [3][1], as does [2–4] [99].\n\n- Both [1, 3] agree. [0]', 12],
    ['[99] LoRA [1] reduces memory  [7] . [2-1] Fine [2,1]', 2],
    [`a [[1]] b ${LONG_LIST} c [1 2] d [ 2 ]   `, 3],
    ['Ünïcode 😀 [1]\r\n[2–3]\t[4]  😀[', 3],
    [`Runaway${' '.repeat(150)}[9]${'[1] '.repeat(40)}end`, 3],
    ['LoRA freezes the weights (3). Adapters (3, 1), while prompts (2)(4) [1] (5)\nand "DoRA" (2-4); Hu et al. (1)', 5],
    ['Both [Paper 1, Paper 3] and [Papers 2-4] (Paper 2), [paper 7] [Source 2] [Abstract 3] [Doc 1] [Ref. 5] [Document #4].', 5],
    ['See 【1】 and 【2†source】【3†source】, 【9†source】 [^1][^4] [^0], [1†L3-L5] [2 †L1]. [Pap [Paper [Sou 【1 【1†', 5],
    ['We do two things: (1) train, (2) test. Eq. (1), Eqs. (1) and (2), Table (2), Figure 3 (a), in (2019), (0.5), (1.5 B), f(1). (7) (2)', 5],
    ['The steps (1) and (2) are distinct, as are (3) (4) words (5) (6). ((1)) (Paper ) (Paper 2', 5],
    [`Runaway (1)${' (2)'.repeat(40)}. And${' (3)'.repeat(40)} words`, 5],
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
    expect(whole.state.markersTotal).toBe(parseMarkers(text, k).length)
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
    const long = `Lists [${'1, '.repeat(MAX_MARKER_LENGTH / 2)}`
    expect(rewriter.push(long)).toBe(long.trimEnd())
    expect(rewriter.end()).toBe(' ')
  })

  it('holds back a marker of another form until it is decided', () => {
    const rewriter = createCitationRewriter(20)
    const deltas = ['It saves memory (', '1', ')', ' and', ' time [Pap', 'er 9', '9]', ', like 【2', '†sour', 'ce】', ' (1', ') ', '(2)', ' well', ' (3', ')']
    expect(deltas.map((delta) => rewriter.push(delta))).toStrictEqual([
      'It saves memory',
      '',
      '',
      ' (1) and',
      ' time',
      '',
      '',
      ', like',
      '',
      '',
      '',
      '',
      '',
      ' [1] (1) (2) well',
      '',
      '',
    ])
    expect(rewriter.end()).toBe(' [2]')
  })

  it('bounds what it holds back when whitespace or adjacent markers run away', () => {
    const rewriter = createCitationRewriter(3)
    // At most 2 * MAX_MARKER_LENGTH = 128 characters are held back.
    expect(rewriter.push(`Gap${' '.repeat(150)}`)).toBe(`Gap${' '.repeat(129)}`)
    // The first 36 markers merge, then the held-back text is full and they are let go.
    expect(rewriter.push('[1]'.repeat(50))).toBe(`${' '.repeat(21)}[1]`)
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
      checks: { markersTotal: 3, invalidMarkers: [], uncitedSentences: [], unsupportedCitations: [], reformattedMarkers: [] },
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
      reformattedMarkers: [],
    })
  })

  it('rewrites the citation forms a model used instead of [n], and lists them as written', () => {
    const raw =
      'Smaller models can trade generic ability for multi-step math reasoning (Paper 4). ' +
      'Meta-training with demonstration retrieval uses a dense passage retriever【2†source】, and it can be meta-trained on a single GPU (2). ' +
      'We compare two things: (1) memory and (2) speed [Source 9].'
    const { answer, references, checks } = finalizeAnswer(raw, PAPERS)
    expect(answer).toBe(
      'Smaller models can trade generic ability for multi-step math reasoning [1]. ' +
        'Meta-training with demonstration retrieval uses a dense passage retriever[2], and it can be meta-trained on a single GPU [2]. ' +
        'We compare two things: (1) memory and (2) speed.',
    )
    expect(references.map((r) => [r.n, r.id])).toStrictEqual([
      [1, 'small'],
      [2, 'meta-dr'],
    ])
    expect(checks).toStrictEqual({
      markersTotal: 4,
      invalidMarkers: ['[Source 9]'],
      uncitedSentences: ['We compare two things: (1) memory and (2) speed.'],
      unsupportedCitations: [],
      reformattedMarkers: ['(Paper 4)', '【2†source】', '(2)', '[Source 9]'],
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
        checks: { markersTotal: 0, invalidMarkers: [], uncitedSentences: [], unsupportedCitations: [], reformattedMarkers: [] },
      })
    },
  )
})

describe('text askpapers composed itself', () => {
  it('reads only [n] as a citation, so a quoted "(2)" or "[Paper 1]" stays text', () => {
    const text = 'It improves GLUE scores (2) over the baseline as in [Paper 1] [1].'
    expect(rewriteCitations(text, 5, { modelForms: false }).text).toBe('It improves GLUE scores (2) over the baseline as in [Paper 1] [1].')
    expect(rewriteCitations('It improves GLUE scores (2).', 5, { modelForms: false }).state.reformattedMarkers).toEqual([])
    expect(rewriteCitations('It improves GLUE scores (2).', 5).text).toBe('It improves GLUE scores [1].')
  })
})
