import { describe, expect, it } from 'vitest'
import {
  detectSeedLayout,
  formatProblem,
  paperId,
  parseSeedPage,
  type Paper,
  type SeedLayout,
} from '../../src/corpus/index.js'

const page = (...lines: string[]): string => lines.join('\n')

// Fragments copied from seeds/00{0,1,2}_*.txt; abstracts cut to their first sentence.
const PAIRED = page(
  'new',
  '',
  'Get trending papers in your email inbox!',
  '',
  'Subscribe',
  '',
  'byAK and the research community',
  '',
  'Mar 11',
  '',
  'Only-IF:Revealing the Decisive Effect of Instruction Diversity on Generalization',
  '',
  'Understanding and accurately following instructions is critical for large language models (LLMs) to be effective across diverse tasks.',
  '',
  'What Algorithms can Transformers Learn? A Study in Length Generalization',
  '',
  'Large language models exhibit surprising emergent generalization properties, yet also struggle on many simple reasoning tasks such as arithmetic and parity.',
)

const WITH_META = page(
  'new',
  '',
  'Get trending papers in your email inbox!',
  '',
  'Subscribe',
  '',
  'Daily Papers',
  '',
  'byAK and the research community',
  '',
  'Dec 8',
  '',
  'The Journey Matters: Average Parameter Count over Pre-training Unifies Sparse and Dense Scaling Laws',
  '',
  'Pruning eliminates unnecessary parameters in neural networks; it offers a promising solution to the growing computational demands of large language models (LLMs).',
  '',
  '  • 7 authors',
  '·',
  'Jan 21',
  '',
  'OpenBezoar: Small, Cost-Effective and Open Models Trained on Mixes of Instruction Data',
  '',
  'Instruction fine-tuning pretrained LLMs for diverse downstream tasks has demonstrated remarkable success and has captured the interest of both academics and practitioners.',
  '',
  '  • 4 authors',
  '·',
  'Apr 18, 2024 1',
  '',
  'Densing Law of LLMs',
  '',
  'Large Language Models (LLMs) have emerged as a milestone in artificial intelligence, and their performance can improve as the model size increases.',
  '',
  'openbmb OpenBMB',
  '·',
  'Dec 5, 2024 2',
  '',
  'On Robustness and Reliability of Benchmark-Based Evaluation of LLMs',
  '',
  "Large Language Models (LLMs) effectiveness is usually evaluated by means of benchmarks such as MMLU, ARC-C, or HellaSwag, where questions are presented in their original wording, thus in a fixed, standardized format.",
  '',
  'Antidote: Post-fine-tuning Safety Alignment for Large Language Models against Harmful Fine-tuning',
  '',
  'Safety aligned Large Language Models (LLMs) are vulnerable to harmful fine-tuning attacks -- a few harmful data mixed in the fine-tuning dataset can break the LLMs\'s safety alignment.',
  '',
  '  • 5 authors',
  '·',
  'Aug 18, 2024',
)

const ALTERNATING = page(
  'Get trending papers in your email inbox once a day!',
  'Get trending papers in your email inbox!',
  'SubscribeAmuro & Char: Analyzing the Relationship between Pre-Training and Fine-Tuning of Large Language Models',
  'The development of large language models leads to the formation of a pre-train-then-align paradigm, in which the model is typically pre-trained on a large text corpus and undergoes a tuning stage to align the model with human preference or downstream tasks.',
  'Meta-Learning to Improve Pre-Training',
  'Pre-training (PT) followed by fine-tuning (FT) is an effective method for training neural networks, and has led to significant performance improvements in many domains.',
  'Predictions For Pre-training Language Models',
  'Language model pre-training has proven to be useful in many language understanding tasks.',
)

/** What the seed parser yields: a derived id and one `file:line` source. */
const seedPaper = (title: string, abstract: string, line: number, meta: Partial<Paper> = {}): Paper => ({
  id: paperId(title),
  title,
  abstract,
  ...meta,
  sources: [`page.txt:${line}`],
})

describe('parseSeedPage', () => {
  it.each<[string, string, Paper[]]>([
    [
      'paired blocks after page chrome',
      PAIRED,
      [
        seedPaper(
          'Only-IF:Revealing the Decisive Effect of Instruction Diversity on Generalization',
          'Understanding and accurately following instructions is critical for large language models (LLMs) to be effective across diverse tasks.',
          11,
        ),
        seedPaper(
          'What Algorithms can Transformers Learn? A Study in Length Generalization',
          'Large language models exhibit surprising emergent generalization properties, yet also struggle on many simple reasoning tasks such as arithmetic and parity.',
          15,
        ),
      ],
    ],
    [
      'paired blocks with author/date/upvote blocks, an organisation line and a paper without a block',
      WITH_META,
      [
        seedPaper(
          'The Journey Matters: Average Parameter Count over Pre-training Unifies Sparse and Dense Scaling Laws',
          'Pruning eliminates unnecessary parameters in neural networks; it offers a promising solution to the growing computational demands of large language models (LLMs).',
          13,
          { authorCount: 7, date: 'Jan 21' },
        ),
        seedPaper(
          'OpenBezoar: Small, Cost-Effective and Open Models Trained on Mixes of Instruction Data',
          'Instruction fine-tuning pretrained LLMs for diverse downstream tasks has demonstrated remarkable success and has captured the interest of both academics and practitioners.',
          21,
          { authorCount: 4, date: 'Apr 18, 2024', upvotes: 1 },
        ),
        seedPaper(
          'Densing Law of LLMs',
          'Large Language Models (LLMs) have emerged as a milestone in artificial intelligence, and their performance can improve as the model size increases.',
          29,
          { date: 'Dec 5, 2024', upvotes: 2 },
        ),
        seedPaper(
          'On Robustness and Reliability of Benchmark-Based Evaluation of LLMs',
          'Large Language Models (LLMs) effectiveness is usually evaluated by means of benchmarks such as MMLU, ARC-C, or HellaSwag, where questions are presented in their original wording, thus in a fixed, standardized format.',
          37,
        ),
        seedPaper(
          'Antidote: Post-fine-tuning Safety Alignment for Large Language Models against Harmful Fine-tuning',
          "Safety aligned Large Language Models (LLMs) are vulnerable to harmful fine-tuning attacks -- a few harmful data mixed in the fine-tuning dataset can break the LLMs's safety alignment.",
          41,
          { authorCount: 5, date: 'Aug 18, 2024' },
        ),
      ],
    ],
    [
      'alternating lines with "Subscribe" glued to the first title',
      ALTERNATING,
      [
        seedPaper(
          'Amuro & Char: Analyzing the Relationship between Pre-Training and Fine-Tuning of Large Language Models',
          'The development of large language models leads to the formation of a pre-train-then-align paradigm, in which the model is typically pre-trained on a large text corpus and undergoes a tuning stage to align the model with human preference or downstream tasks.',
          3,
        ),
        seedPaper(
          'Meta-Learning to Improve Pre-Training',
          'Pre-training (PT) followed by fine-tuning (FT) is an effective method for training neural networks, and has led to significant performance improvements in many domains.',
          5,
        ),
        seedPaper(
          'Predictions For Pre-training Language Models',
          'Language model pre-training has proven to be useful in many language understanding tasks.',
          7,
        ),
      ],
    ],
    [
      'metadata lines in the alternating layout',
      page('Subscribe', 'A Title', 'An abstract.', '  • 1 author', '·', 'Jan 2 3', 'Short', 'Also short.'),
      [
        seedPaper('A Title', 'An abstract.', 2, { authorCount: 1, date: 'Jan 2', upvotes: 3 }),
        seedPaper('Short', 'Also short.', 7),
      ],
    ],
    [
      'whitespace runs, tabs and CRLF line ends',
      page('Subscribe\r', '\r', '  Spaced \t Title \r', '\r', 'An   abstract\u00a0with  runs. \r'),
      [seedPaper('Spaced Title', 'An abstract with runs.', 3)],
    ],
    [
      'chrome glued only to the first title, and only before a capital',
      page('SubscriberNet: Churn Prediction', 'First abstract.', 'SubscribeThis Is Kept', 'Second abstract.'),
      [
        seedPaper('SubscriberNet: Churn Prediction', 'First abstract.', 1),
        seedPaper('SubscribeThis Is Kept', 'Second abstract.', 3),
      ],
    ],
  ])('reads %s', (_name, text, expected) => {
    expect(parseSeedPage(text, 'page.txt')).toStrictEqual({ papers: expected, problems: [] })
  })

  it.each<[string, string, string[], string[]]>([
    ['a title at the end without abstract', page('T1', 'A1.', 'T2'), ['page.txt:3: title without abstract'], ['T1']],
    [
      'a metadata block where the abstract should be',
      page('T1', '', '• 3 authors', '·', 'Jan 1', '', 'T2', '', 'A2.'),
      ['page.txt:1: title without abstract'],
      ['T2'],
    ],
    [
      'two metadata blocks in a row',
      page('T1', '', 'A1.', '', '• 3 authors', '·', 'Jan 1', '', '• 4 authors', '·', 'Jan 2', '', 'T2', '', 'A2.'),
      ['page.txt:9: metadata block without a paper'],
      ['T1', 'T2'],
    ],
    [
      'an over-long title',
      page('x'.repeat(1001), 'A1.', 'T2', 'A2.'),
      ['page.txt:1: title longer than 1000 characters'],
      ['T2'],
    ],
  ])('reports %s and reads the rest', (_name, text, problems, titles) => {
    const result = parseSeedPage(text, 'page.txt')
    expect(result.problems.map(formatProblem)).toStrictEqual(problems)
    expect(result.papers.map((p) => p.title)).toStrictEqual(titles)
  })
})

describe('detectSeedLayout', () => {
  it.each<[string, SeedLayout]>([
    [PAIRED, 'paired-blocks'],
    [WITH_META, 'paired-blocks-with-meta'],
    [ALTERNATING, 'alternating-lines'],
    // One stray blank line does not turn alternating lines into blocks.
    [page('T1', 'A1.', '', 'T2', 'A2.', 'T3', 'A3.', 'T4', 'A4.', 'T5', 'A5.'), 'alternating-lines'],
  ])('layout %#', (text, layout) => {
    expect(detectSeedLayout(text)).toBe(layout)
  })
})
