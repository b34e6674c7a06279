import { describe, expect, it } from 'vitest'
import { authorLine, bibtexEntry, citationFields, exportCitations, paperLink, paperYear, type Citable } from '../../src/corpus/index.js'

const LORA: Citable = {
  id: '2106.09685',
  title: 'LoRA: Low-Rank Adaptation of Large Language Models',
  authors: ['Edward J. Hu', 'Yelong Shen', 'Phillip Wallis', 'Zeyuan Allen-Zhu'],
  date: '2021-06-17',
}
// As the seed pages give a paper: a hash id, a count of authors, a date without a year.
const SEED: Citable = { id: '45a52416460ecdf0', title: 'Only-IF: Revealing the Decisive Effect of Instruction Diversity on Generalization', authorCount: 7, date: 'Oct 7' }

describe('paperLink', () => {
  it.each<[string, Citable, ReturnType<typeof paperLink>]>([
    ['the record’s url first', { id: '2106.09685', title: 'T', url: 'https://example.org/lora' }, { url: 'https://example.org/lora', kind: 'record' }],
    ['an arXiv link from a new-style id', { id: '2401.12345', title: 'T' }, { url: 'https://arxiv.org/abs/2401.12345', kind: 'arxiv' }],
    ['an arXiv link keeping the version', { id: 'arxiv:2106.09685v2', title: 'T' }, { url: 'https://arxiv.org/abs/2106.09685v2', kind: 'arxiv' }],
    ['an arXiv link from an old-style id', { id: 'hep-th/9901001', title: 'T' }, { url: 'https://arxiv.org/abs/hep-th/9901001', kind: 'arxiv' }],
    ['a DOI link from a DOI id', { id: '10.1145/3290605.3300233', title: 'T' }, { url: 'https://doi.org/10.1145/3290605.3300233', kind: 'doi' }],
    ['a DOI link from doi:', { id: 'doi:10.1000/a<b>', title: 'T' }, { url: 'https://doi.org/10.1000/a%3Cb%3E', kind: 'doi' }],
    ['a title search otherwise', { id: '45a52416460ecdf0', title: 'Only-IF & more' }, { url: 'https://scholar.google.com/scholar?q=%22Only-IF%20%26%20more%22', kind: 'search' }],
    ['no javascript: url', { id: 'x', title: 'T', url: 'javascript:alert(1)' }, { url: 'https://scholar.google.com/scholar?q=%22T%22', kind: 'search' }],
    ['no url with escape sequences', { id: 'x', title: 'T', url: 'https://a.org/\u001b]8;;https://evil\u0007' }, { url: 'https://scholar.google.com/scholar?q=%22T%22', kind: 'search' }],
  ])('%s', (_what, paper, link) => {
    expect(paperLink(paper)).toEqual(link)
  })
})

describe('paperYear', () => {
  it.each<[Pick<Citable, 'id' | 'date'>, number | undefined]>([
    [{ id: 'x', date: 'Apr 18, 2024' }, 2024],
    [{ id: 'x', date: '2023-05-01' }, 2023],
    [{ id: 'x', date: 'Jan 21' }, undefined],
    [{ id: '2401.12345' }, 2024],
    [{ id: 'hep-th/9901001' }, 1999],
    [{ id: 'math.AG/0101001' }, 2001],
    [{ id: '2106.09685', date: 'Dec 1, 2022' }, 2022],
    [{ id: '45a52416460ecdf0' }, undefined],
  ])('%j → %s', (paper, year) => {
    expect(paperYear(paper)).toBe(year)
  })
})

describe('authorLine', () => {
  it.each<[Pick<Citable, 'authors' | 'authorCount'>, number, string]>([
    [{ authors: ['A. Smith'] }, Infinity, 'A. Smith'],
    [{ authors: ['A. Smith', 'B. Jones'] }, Infinity, 'A. Smith and B. Jones'],
    [{ authors: ['A', 'B', 'C', 'D'] }, 3, 'A, B, C et al.'],
    [{ authors: ['A', 'B', 'C'] }, 3, 'A, B and C'],
    [{ authorCount: 7 }, 3, '7 authors; names not in the source'],
    [{ authorCount: 1 }, 3, '1 author; names not in the source'],
    [{}, 3, 'authors not in the source'],
  ])('%j (at most %s) → %s', (paper, max, line) => {
    expect(authorLine(paper, { max })).toBe(line)
  })
})

describe('citationFields', () => {
  it('says what a seed page lacks instead of leaving a bare id', () => {
    expect(citationFields(SEED)).toEqual({
      authorCount: 7,
      byline: '7 authors; names not in the source',
      link: { url: 'https://scholar.google.com/scholar?q=%22Only-IF%3A%20Revealing%20the%20Decisive%20Effect%20of%20Instruction%20Diversity%20on%20Generalization%22', kind: 'search' },
    })
  })
  it('carries names, year and the arXiv link of a full record', () => {
    expect(citationFields(LORA)).toEqual({
      authors: LORA.authors,
      year: 2021,
      byline: 'Edward J. Hu, Yelong Shen, Phillip Wallis et al.',
      link: { url: 'https://arxiv.org/abs/2106.09685', kind: 'arxiv' },
    })
  })
})

describe('bibtexEntry', () => {
  it('writes @misc with author, year, eprint and url for an arXiv paper', () => {
    expect(bibtexEntry(LORA)).toBe(
      [
        '@misc{hu2021lora,',
        '  title = {{LoRA: Low-Rank Adaptation of Large Language Models}},',
        '  author = {Edward J. Hu and Yelong Shen and Phillip Wallis and Zeyuan Allen-Zhu},',
        '  year = {2021},',
        '  eprint = {2106.09685},',
        '  archivePrefix = {arXiv},',
        '  howpublished = {\\url{https://arxiv.org/abs/2106.09685}},',
        '  url = {https://arxiv.org/abs/2106.09685},',
        '}',
      ].join('\n'),
    )
  })
  it('escapes LaTeX specials and says what the source lacks', () => {
    expect(bibtexEntry({ id: 'p-1', title: '50% of {Braces} & $math$ in_snake #1 ~ \\cmd', authorCount: 3 })).toBe(
      [
        '@misc{braces,',
        '  title = {{50\\% of \\{Braces\\} \\& \\$math\\$ in\\_snake \\#1 \\textasciitilde{} \\textbackslash{}cmd}},',
        '  note = {3 authors; names not in the source; no link in the source},',
        '}',
      ].join('\n'),
    )
  })
  it('keeps keys unique and the url’s % escaped only inside \\url', () => {
    const keys = new Set<string>()
    const a = bibtexEntry({ id: 'a', title: 'Attention Is All You Need', authors: ['Ashish Vaswani'], date: '2017', url: 'https://example.org/a%20b' }, keys)
    const b = bibtexEntry({ id: 'b', title: 'Attention is all you need, again', authors: ['Vaswani, Ashish'], date: '2017' }, keys)
    expect(a).toContain('@misc{vaswani2017attention,')
    expect(a).toContain('  howpublished = {\\url{https://example.org/a\\%20b}},\n  url = {https://example.org/a%20b},')
    expect(b).toContain('@misc{vaswani2017attentionb,')
  })
})

describe('exportCitations', () => {
  const turns = [
    {
      question: 'How does LoRA cut memory?',
      answer: 'It trains low-rank matrices [1] and the seed paper agrees [2].',
      references: [
        { n: 1, ...LORA, quote: 'We freeze the pretrained model weights.' },
        { n: 2, ...SEED, title: 'Only-IF: *Revealing* [the] Effect', quote: '' },
      ],
    },
    { question: 'And again?', answer: 'Yes [1].', references: [{ n: 1, ...LORA, quote: 'LoRA reduces memory.' }] },
  ]
  it('exports a conversation as Markdown, titles escaped, search links labelled', () => {
    expect(exportCitations(turns, 'markdown')).toBe(
      [
        '## How does LoRA cut memory?',
        '',
        'It trains low-rank matrices [1] and the seed paper agrees [2].',
        '',
        '**References**',
        '',
        '1. LoRA: Low-Rank Adaptation of Large Language Models. Edward J. Hu, Yelong Shen, Phillip Wallis et al., 2021. <https://arxiv.org/abs/2106.09685>',
        '   > We freeze the pretrained model weights.',
        '2. Only-IF: \\*Revealing\\* \\[the\\] Effect. 7 authors; names not in the source. no link in the source; [search by title](https://scholar.google.com/scholar?q=%22Only-IF%3A%20*Revealing*%20%5Bthe%5D%20Effect%22)',
        '',
        '## And again?',
        '',
        'Yes [1].',
        '',
        '**References**',
        '',
        '1. LoRA: Low-Rank Adaptation of Large Language Models. Edward J. Hu, Yelong Shen, Phillip Wallis et al., 2021. <https://arxiv.org/abs/2106.09685>',
        '   > LoRA reduces memory.',
        '',
      ].join('\n'),
    )
  })
  it('exports each cited paper once as BibTeX', () => {
    const text = exportCitations(turns, 'bibtex')
    expect(text.match(/^@misc\{/gm)).toHaveLength(2)
    expect(text.match(/^@misc\{[^,]+/gm)).toEqual(['@misc{hu2021lora', '@misc{onlyif'])
  })
})
