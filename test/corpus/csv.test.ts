import { describe, expect, it } from 'vitest'
import { formatProblem, paperId, parseCsv } from '../../src/corpus/index.js'

describe('parseCsv', () => {
  it('reads a header in any case and order, quoted commas and newlines, and optional columns', () => {
    const text = [
      '\uFEFFAbstract,TITLE,Authors,url,Date,ID,notes',
      '"Uses commas, and ""quotes"".","A, B: C",Ada Lovelace; Alan Turing,https://e.x/1,2024-01-02,x1,n',
      '',
      '"Spans',
      'two lines.",Second,,,,,',
    ].join('\r\n')
    expect(parseCsv(text, 'in.csv')).toStrictEqual({
      papers: [
        {
          id: 'x1',
          title: 'A, B: C',
          abstract: 'Uses commas, and "quotes".',
          url: 'https://e.x/1',
          authors: ['Ada Lovelace', 'Alan Turing'],
          date: '2024-01-02',
          sources: ['in.csv:2'],
        },
        { id: paperId('Second'), title: 'Second', abstract: 'Spans two lines.', sources: ['in.csv:4'] },
      ],
      problems: [],
    })
  })

  it.each<[string, string]>([
    ['T,too,many', 'expected 2 columns, found 3'],
    ['only-one', 'expected 2 columns, found 1'],
    [',A.', 'empty title'],
    ['T," "', 'empty abstract'],
    [`${'t'.repeat(1001)},A.`, 'title longer than 1000 characters'],
    [`T,${'a'.repeat(20_001)}`, 'abstract longer than 20000 characters'],
  ])('skips the record %s as "%s" and reads the rest', (bad, reason) => {
    const text = ['title,abstract', 'Before,B.', bad, '"After","A', 'multi-line."'].join('\n')
    const result = parseCsv(text, 'in.csv')
    expect(result.problems.map(formatProblem)).toStrictEqual([`in.csv:3: ${reason}`])
    expect(result.papers.map((p) => [p.title, p.sources])).toStrictEqual([
      ['Before', ['in.csv:2']],
      ['After', ['in.csv:4']],
    ])
  })

  it('reports a multi-line record at the line it starts on', () => {
    const text = ['title,abstract', '"Multi', 'line title",A.,extra', 'Ok,A.'].join('\n')
    expect(parseCsv(text, 'in.csv').problems.map(formatProblem)).toStrictEqual(['in.csv:2: expected 2 columns, found 3'])
  })

  it.each<[string, string, string[], string[]]>([
    [
      'a broken quote ends the file',
      ['title,abstract', 'Before,B.', '', '"Bad" x,A.', 'Lost,L.'].join('\n'),
      ['in.csv:4: invalid CSV: unexpected character after a closing quote; the rest of the file was not read'],
      ['Before'],
    ],
    [
      'an unclosed quote ends the file',
      ['title,abstract', 'Before,B.', '"Open,A.', 'Lost,L.'].join('\n'),
      ['in.csv:3: invalid CSV: quote not closed; the rest of the file was not read'],
      ['Before'],
    ],
    [
      'a header without the required columns',
      ['name,summary', 'T,A.'].join('\n'),
      ['in.csv:1: header has no title or abstract column'],
      [],
    ],
    ['a header without abstract', ['Title,Authors', 'T,X'].join('\n'), ['in.csv:1: header has no abstract column'], []],
  ])('reports %s', (_name, text, problems, titles) => {
    const result = parseCsv(text, 'in.csv')
    expect(result.problems.map(formatProblem)).toStrictEqual(problems)
    expect(result.papers.map((p) => p.title)).toStrictEqual(titles)
  })
})
