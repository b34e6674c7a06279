import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { isAbsolute, join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { defaultSeedDir, formatProblem, loadPapers, paperId, parseFile, readIngestInput } from '../../src/corpus/index.js'

let dir = ''
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'askpapers-corpus-'))
})
afterEach(async () => {
  await rm(dir, { recursive: true, force: true })
})

const write = async (name: string, text: string): Promise<string> => {
  const path = join(dir, name)
  await writeFile(path, text)
  return path
}

const JSONL = '{"title": "J", "abstract": "From JSON lines."}\n'
const CSV = 'title,abstract\nC,From CSV.\n'
const PAGE = 'Subscribe\n\nS\n\nFrom a page.\n'

describe('parseFile', () => {
  it.each([
    ['a.jsonl', JSONL, 'J', 1],
    ['a.ndjson', JSONL, 'J', 1],
    ['a.JSON', JSONL, 'J', 1],
    ['a.csv', CSV, 'C', 2],
    ['a.txt', PAGE, 'S', 3],
    // JSON lines are recognised by content under any other name.
    ['a.txt', JSONL, 'J', 1],
    ['export', JSONL, 'J', 1],
  ])('reads %s by its format', async (name, text, title, line) => {
    const path = await write(name, text)
    const { papers } = await parseFile(path)
    expect(papers.map((p) => [p.title, p.sources])).toStrictEqual([[title, [`${path}:${line}`]]])
  })

  it.each([
    [
      'notes.md',
      '# Notes\n',
      'UNKNOWN_FORMAT',
      'unknown format; supported: .jsonl, .ndjson or .json (JSON lines), .csv (with a header row), .txt (a listing page)',
    ],
    [
      'array.json',
      '[{"title": "T", "abstract": "A."}]\n',
      'UNKNOWN_FORMAT',
      'a JSON array is not supported; write one JSON object per line',
    ],
    ['empty.jsonl', '', 'EMPTY_FILE', 'the file is empty'],
    ['blank.txt', ' \n\t\n', 'EMPTY_FILE', 'the file is empty'],
  ])('rejects %s with %s', async (name, text, code, message) => {
    const path = await write(name, text)
    await expect(parseFile(path)).rejects.toMatchObject({ name: 'AppError', code, message: `${path}: ${message}` })
  })

  it('rejects a missing path with NOT_FOUND naming it', async () => {
    const path = join(dir, 'missing.jsonl')
    await expect(parseFile(path)).rejects.toMatchObject({
      code: 'NOT_FOUND',
      message: `${path}: no such file or directory`,
    })
  })

  it('reads every supported file of a directory in name order, skipping others and dotfiles', async () => {
    await write('b.csv', CSV)
    await write('a.jsonl', JSONL)
    await write('README.md', '# not a corpus\n')
    await write('.hidden.jsonl', JSONL)
    await mkdir(join(dir, 'nested.txt'))
    const { papers } = await parseFile(dir)
    expect(papers.flatMap((p) => p.sources)).toStrictEqual([join(dir, 'a.jsonl:1'), join(dir, 'b.csv:2')])
  })

  it('rejects a directory without supported files', async () => {
    await write('README.md', '# not a corpus\n')
    await expect(parseFile(dir)).rejects.toMatchObject({ code: 'EMPTY_FILE' })
  })
})

// loadPapers indexes only records that look like papers: two-word titles, abstracts of 8 words or more.
const SHORT = 'We adapt frozen weights with two small low-rank matrices.'
const LONG = 'We propose Low-Rank Adaptation, which freezes the pretrained weights and injects trainable rank decomposition matrices.'
const WORDS = 'An abstract long enough to be indexed as a paper here.'

describe('loadPapers', () => {
  it('merges a paper listed in several inputs into one record with every source and the richest metadata', async () => {
    const title = 'LoRA: Low-Rank Adaptation of Large Language Models'
    const page = await write('page.txt', ['Subscribe', '', title, '', SHORT, '', '  • 7 authors', '·', 'Jun 17, 2021 12'].join('\n'))
    const arxiv = await write(
      'arxiv.json',
      JSON.stringify({
        id: '2106.09685',
        title: 'LoRA: Low-Rank Adaptation of Large\n Language Models',
        abstract: LONG,
        authors: 'Edward J. Hu and Yelong Shen',
        update_date: '2021-10-19',
      }),
    )
    const { papers, problems, conflicts } = await loadPapers([page, arxiv])
    expect(problems).toStrictEqual([])
    // The two abstracts differ: the first one read is kept, and the other is reported, not dropped silently.
    expect(conflicts).toStrictEqual([{ id: 'arxiv:2106.09685', title, source: `${arxiv}:1`, field: 'abstract', resolution: 'kept', against: 'input' }])
    expect(papers).toStrictEqual([
      {
        id: 'arxiv:2106.09685',
        title,
        abstract: SHORT,
        url: 'https://arxiv.org/abs/2106.09685',
        authors: ['Edward J. Hu', 'Yelong Shen'],
        authorCount: 7,
        date: 'Jun 17, 2021',
        upvotes: 12,
        sources: [`${page}:3`, `${arxiv}:1`],
      },
    ])
  })

  it('merges records that share an id, keeps input order and reports each problem once', async () => {
    const a = await write(
      'a.jsonl',
      [`{"id": "x", "title": "First Paper", "abstract": "${WORDS}"}`, 'oops', `{"title": "Other Paper", "abstract": "${WORDS}"}`].join('\n'),
    )
    const b = await write(
      'b.jsonl',
      [`{"id": "x", "title": "First Paper, revised", "abstract": "${WORDS}", "url": "https://e.x"}`, `{"title": "Last Paper", "abstract": "${WORDS}"}`].join('\n'),
    )
    const { papers, problems } = await loadPapers([a, b, a])
    expect(papers.map((p) => [p.id, p.title, p.url, p.sources])).toStrictEqual([
      ['x', 'First Paper', 'https://e.x', [`${a}:1`, `${b}:1`]],
      [paperId('Other Paper'), 'Other Paper', undefined, [`${a}:3`]],
      [paperId('Last Paper'), 'Last Paper', undefined, [`${b}:2`]],
    ])
    expect(problems.map(formatProblem)).toStrictEqual([`${a}:2: invalid JSON`])
  })

  it('names sources by the path as given', async () => {
    const { papers } = await loadPapers(['seeds/001_27e1f35541f4bc66.txt'])
    expect(papers[0]?.sources).toStrictEqual(['seeds/001_27e1f35541f4bc66.txt:13'])
  })
})

describe('defaultSeedDir', () => {
  it('is the absolute seeds/ directory of the repo', async () => {
    expect(isAbsolute(defaultSeedDir())).toBe(true)
    expect(await readdir(defaultSeedDir())).toStrictEqual([
      '000_45a52416460ecdf0.txt',
      '001_27e1f35541f4bc66.txt',
      '002_abaebc348fccd9e1.txt',
    ])
  })
})

describe('readIngestInput', () => {
  const empty = { indexEmpty: true, location: '/data' }
  const full = { indexEmpty: false, location: '/data' }

  it('refuses to rebuild an empty index without paths, naming where it is', async () => {
    await expect(readIngestInput([], { rebuild: true, ...empty })).rejects.toMatchObject({
      code: 'BAD_INPUT',
      message: 'Nothing to rebuild: the index in /data is empty. Run `askpapers ingest` (the bundled seeds) or `askpapers ingest PATH` instead.',
    })
  })

  it('reads nothing for a rebuild of an index without paths', async () => {
    expect(await readIngestInput([], { rebuild: true, ...full })).toEqual({ papers: [], problems: [], conflicts: [] })
  })

  it('reads the bundled seeds when no path is given', async () => {
    expect(await readIngestInput([], empty)).toEqual(await loadPapers([defaultSeedDir()]))
  })

  it('fails when not one record of the inputs can be read, quoting the problems', async () => {
    const bad = await write('bad.jsonl', 'not json\n{"title": "T"}\n')
    await expect(readIngestInput([bad], full)).rejects.toMatchObject({
      code: 'BAD_INPUT',
      message: [`No valid paper in ${bad}: 2 record(s) skipped:`, `  ${bad}:1: invalid JSON`, `  ${bad}:2: missing abstract`].join('\n'),
    })
  })
})
