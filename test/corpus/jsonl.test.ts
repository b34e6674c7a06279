import { describe, expect, it } from 'vitest'
import { formatProblem, paperId, parseJsonLines, type Paper } from '../../src/corpus/index.js'

const lines = (...records: unknown[]): string =>
  records.map((r) => (typeof r === 'string' ? r : JSON.stringify(r))).join('\n')

describe('parseJsonLines', () => {
  it('reads our records: optional fields, authors as a list or "A, B and C", blank lines skipped', () => {
    const text = lines(
      { id: 'x1', title: 'First  Paper', abstract: 'About\nthings.', url: 'https://e.x/1', authors: ['Ada Lovelace', ' Alan Turing '], date: '2024-01-02' },
      '',
      { title: 'Second', abstract: 'More.', authors: 'Ada Lovelace, Alan Turing and Grace Hopper', extra: 'ignored' },
    )
    expect(parseJsonLines(text, 'in.jsonl')).toStrictEqual({
      papers: [
        {
          id: 'x1',
          title: 'First Paper',
          abstract: 'About things.',
          url: 'https://e.x/1',
          authors: ['Ada Lovelace', 'Alan Turing'],
          date: '2024-01-02',
          sources: ['in.jsonl:1'],
        },
        {
          id: paperId('Second'),
          title: 'Second',
          abstract: 'More.',
          authors: ['Ada Lovelace', 'Alan Turing', 'Grace Hopper'],
          sources: ['in.jsonl:3'],
        },
      ],
      problems: [],
    })
  })

  it('reads an arXiv metadata snapshot: arxiv: ids, abs urls, split authors, normalised text', () => {
    const text = lines({
      id: '2106.09685',
      submitter: 'Edward J. Hu',
      authors: 'Edward J. Hu, Yelong Shen, Phillip Wallis, and Weizhu Chen',
      title: 'LoRA: Low-Rank Adaptation of Large\n  Language Models',
      comments: 'Draft V2',
      categories: 'cs.CL cs.AI cs.LG',
      abstract: '  An important paradigm of natural language processing consists of large-scale\npre-training on general domain data.\n',
      versions: [{ version: 'v1', created: 'Thu, 17 Jun 2021 17:37:18 GMT' }],
      update_date: '2021-10-19',
      authors_parsed: [['Hu', 'Edward J.', '']],
    })
    expect(parseJsonLines(text, 'arxiv.json').papers).toStrictEqual<Paper[]>([
      {
        id: 'arxiv:2106.09685',
        title: 'LoRA: Low-Rank Adaptation of Large Language Models',
        abstract: 'An important paradigm of natural language processing consists of large-scale pre-training on general domain data.',
        url: 'https://arxiv.org/abs/2106.09685',
        authors: ['Edward J. Hu', 'Yelong Shen', 'Phillip Wallis', 'Weizhu Chen'],
        date: '2021-10-19',
        sources: ['arxiv.json:1'],
      },
    ])
  })

  it.each<[string, string]>([
    ['{"title": "T", "abstract": ', 'invalid JSON'],
    ['["T", "A"]', 'expected a JSON object'],
    ['null', 'expected a JSON object'],
    ['{"abstract": "A."}', 'missing title'],
    ['{"title": null, "abstract": "A."}', 'missing title'],
    ['{"title": "T"}', 'missing abstract'],
    ['{"title": "  ", "abstract": "A."}', 'empty title'],
    ['{"title": "T", "abstract": ""}', 'empty abstract'],
    ['{"title": 42, "abstract": "A."}', 'title must be a string'],
    ['{"title": "T", "abstract": ["A."]}', 'abstract must be a string'],
    ['{"title": "T", "abstract": "A.", "id": 7}', 'id must be a string'],
    ['{"title": "T", "abstract": "A.", "url": {}}', 'url must be a string'],
    ['{"title": "T", "abstract": "A.", "date": 2024}', 'date must be a string'],
    ['{"title": "T", "abstract": "A.", "authors": ["A", 1]}', 'authors must be a string or an array of strings'],
    [`{"title": "${'t'.repeat(1001)}", "abstract": "A."}`, 'title longer than 1000 characters'],
    [`{"title": "T", "abstract": "${'a'.repeat(20_001)}"}`, 'abstract longer than 20000 characters'],
    ['{"title": "?!", "abstract": "A."}', 'title has no letters or digits'],
  ])('skips %s as "%s" and reads the lines around it', (bad, reason) => {
    const text = lines({ title: 'Before', abstract: 'B.' }, bad, { title: 'After', abstract: 'A.' })
    const result = parseJsonLines(text, 'in.jsonl')
    expect(result.problems.map(formatProblem)).toStrictEqual([`in.jsonl:2: ${reason}`])
    expect(result.papers.map((p) => p.title)).toStrictEqual(['Before', 'After'])
  })

  it('reports an arXiv record without an id', () => {
    const record = { id: '1', title: 'T', abstract: 'A.', authors: 'X', update_date: '2020-01-01' }
    const result = parseJsonLines(lines(record, { ...record, id: undefined }), 'arxiv.json')
    expect(result.problems.map(formatProblem)).toStrictEqual(['arxiv.json:2: missing id'])
  })

  it('accepts limits exactly at the maximum lengths', () => {
    const text = lines({ title: 't'.repeat(1000), abstract: 'a'.repeat(20_000) })
    expect(parseJsonLines(text, 'in.jsonl').papers).toHaveLength(1)
  })
})
