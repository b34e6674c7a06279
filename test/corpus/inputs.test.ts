import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { formatProblem, loadPapers, matchesFilter, mergeIntoIndexed, parseFile, type Paper } from '../../src/corpus/index.js'
import { parseYearRange } from '../../src/retrieve/filter.js'

let dir = ''
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'askpapers-inputs-'))
})
afterEach(async () => {
  await rm(dir, { recursive: true, force: true })
})
const write = async (name: string, text: string): Promise<string> => {
  const path = join(dir, name)
  await writeFile(path, text)
  return path
}

const ABSTRACT = 'We freeze the pretrained weights and train two small low-rank matrices per layer instead.'
const OTHER_ABSTRACT = 'Loss follows a power law in model size, data and compute, so larger models learn faster.'

describe('parseYearRange', () => {
  it.each([
    ['2023', { from: 2023, to: 2023 }],
    ['2023..2024', { from: 2023, to: 2024 }],
    [' 2023 .. 2024 ', { from: 2023, to: 2024 }],
    ['2023..', { from: 2023 }],
    ['..2024', { to: 2024 }],
  ])('reads %j', (text, range) => {
    expect(parseYearRange(text)).toStrictEqual(range)
  })

  it.each([
    ['20x4', '--year must be a year (2023) or a range (2023..2024, 2023.., ..2024), not "20x4".'],
    ['', '--year must be a year (2023) or a range (2023..2024, 2023.., ..2024), not "".'],
    ['..', '--year must be a year (2023) or a range (2023..2024, 2023.., ..2024), not "..".'],
    ['2023...2024', '--year must be a year (2023) or a range (2023..2024, 2023.., ..2024), not "2023...2024".'],
    ['2023..2024..2025', '--year must be a year (2023) or a range (2023..2024, 2023.., ..2024), not "2023..2024..2025".'],
    ['23', '--year must be a year (2023) or a range (2023..2024, 2023.., ..2024), not "23".'],
    ['2024..2023', '--year 2024..2023 is an empty range: the first year is after the last.'],
  ])('rejects %j with a message that shows the accepted forms', (text, message) => {
    expect(() => parseYearRange(text)).toThrow(message)
  })
})

describe('matchesFilter', () => {
  const paper = { id: 'p1', date: 'Apr 18, 2024', sources: ['/data/seeds/000.txt:12', 'extra.jsonl:3'] }
  it.each([
    [{}, true],
    [{ years: { from: 2024, to: 2024 } }, true],
    [{ years: { from: 2025 } }, false],
    [{ years: { to: 2023 } }, false],
    [{ sources: ['/data/seeds/000.txt'] }, true],
    [{ sources: ['/data/seeds'] }, true],
    [{ sources: ['/data/seed'] }, false],
    [{ sources: ['000.txt'] }, true],
    [{ sources: ['extra.jsonl'] }, true],
    [{ sources: ['other.jsonl', 'extra.jsonl'] }, true],
    [{ ids: ['p2', 'p1'] }, true],
    [{ ids: ['p2'] }, false],
    [{ ids: ['p1'], years: { from: 2025 } }, false],
  ])('%j → %s', (filter, expected) => {
    expect(matchesFilter(paper, filter)).toBe(expected)
  })

  it.each([
    ['Jan 21', undefined, false],
    ['2023-05-01', undefined, true],
    [undefined, 'arxiv:2301.00001', true],
    [undefined, 'p-abc', false],
  ])('reads the year of date %j / id %j (a paper without one matches no year)', (date, id, expected) => {
    expect(matchesFilter({ id: id ?? 'x', sources: [], ...(date ? { date } : {}) }, { years: { from: 2023, to: 2023 } })).toBe(expected)
  })
})

describe('.txt files', () => {
  it.each([
    ['a page with its navigation text', `Daily Papers\n\nLoRA: Low-Rank Adaptation\n\n${ABSTRACT}\n`],
    ['a page with the chrome glued to the first title', `SubscribeLoRA: Low-Rank Adaptation\n${ABSTRACT}\n`],
    ['a page with only metadata blocks', `LoRA: Low-Rank Adaptation\n\n${ABSTRACT}\n\n• 7 authors\n·\nJun 17, 2021 12\n`],
  ])('reads %s as a listing', async (_name, text) => {
    const { papers } = await parseFile(await write('page.txt', text))
    expect(papers.map((p) => [p.title, p.abstract])).toStrictEqual([['LoRA: Low-Rank Adaptation', ABSTRACT]])
  })

  it.each([
    ['a note', 'Meeting notes\n\nAsk about the LoRA results on Tuesday and bring the slides for the group.\n'],
    ['a note with a date and "New"', 'New\n\nMar 11\n\nReading list for the week: adapters, scaling laws and long-context evaluation.\n'],
  ])('rejects %s as an unknown format instead of making it a paper', async (_name, text) => {
    const path = await write('notes.txt', text)
    await expect(parseFile(path)).rejects.toMatchObject({ code: 'UNKNOWN_FORMAT', message: expect.stringMatching(new RegExp(`^${path}: not a listing page`)) })
  })
})

describe('records too thin to be papers', () => {
  it.each([
    ['a one-word title', { title: 'Introduction', abstract: ABSTRACT }, 'title "Introduction" is one word; a paper\'s title has at least 2'],
    ['an abstract of a few words', { title: 'Scaling Laws', abstract: 'See the PDF for details.' }, 'abstract of 5 word(s); an abstract has at least 8'],
    ['an abstract of punctuation and 7 words', { title: 'Scaling Laws', abstract: 'One two three - four five six seven.' }, 'abstract of 7 word(s); an abstract has at least 8'],
  ])('reports %s with file:line and does not return it', async (_name, record, reason) => {
    const path = await write('papers.jsonl', `${JSON.stringify({ title: 'Low-Rank Adapters', abstract: ABSTRACT })}\n${JSON.stringify(record)}\n`)
    const { papers, problems } = await loadPapers([path])
    expect(papers.map((p) => p.title)).toStrictEqual(['Low-Rank Adapters'])
    expect(problems.map(formatProblem)).toStrictEqual([`${path}:2: ${reason}`])
  })
})

describe('a directory with bad files', () => {
  it('skips each bad file as a reported problem and reads the rest', async () => {
    await write('a.jsonl', `${JSON.stringify({ title: 'Low-Rank Adapters', abstract: ABSTRACT })}\n`)
    await write('b-empty.csv', '')
    await write('c-notes.txt', 'Things to read next week, in no particular order at all.\n')
    await write('d-array.json', '[{"title": "T", "abstract": "A."}]\n')
    const { papers, problems } = await loadPapers([dir])
    expect(papers.map((p) => p.title)).toStrictEqual(['Low-Rank Adapters'])
    expect(problems.map(formatProblem)).toStrictEqual([
      `${join(dir, 'b-empty.csv')}: the file is empty; file skipped`,
      `${join(dir, 'c-notes.txt')}: not a listing page (no "Daily Papers" page text nor "• N authors" / "·" / date lines); supported: .jsonl, .ndjson or .json (JSON lines), .csv (with a header row), .txt (a listing page); file skipped`,
      `${join(dir, 'd-array.json')}: a JSON array is not supported; write one JSON object per line; file skipped`,
    ])
  })
})

describe('conflicts within one ingest', () => {
  it('keeps the record read first and reports the other; naming the other file first keeps that one', async () => {
    const a = await write('a.jsonl', `${JSON.stringify({ id: 'x', title: 'Low-Rank Adapters', abstract: ABSTRACT })}\n`)
    const b = await write('b.jsonl', `${JSON.stringify({ id: 'x', title: 'Low-Rank Adapters', abstract: OTHER_ABSTRACT })}\n`)
    const first = await loadPapers([a, b])
    expect(first.papers.map((p) => p.abstract)).toStrictEqual([ABSTRACT])
    expect(first.conflicts).toStrictEqual([{ id: 'x', title: 'Low-Rank Adapters', source: `${b}:1`, field: 'abstract', resolution: 'kept', against: 'input' }])
    const swapped = await loadPapers([b, a])
    expect(swapped.papers.map((p) => p.abstract)).toStrictEqual([OTHER_ABSTRACT])
    expect(swapped.conflicts.map((c) => c.source)).toStrictEqual([`${a}:1`])
  })
})

describe('mergeIntoIndexed', () => {
  const indexed = (...papers: Paper[]): Map<string, Paper> => new Map(papers.map((p) => [p.id, p]))
  const SEED: Paper = { id: 'p-seed', title: 'LoRA: Low-Rank Adaptation of Large Language Models', abstract: ABSTRACT, authorCount: 7, date: 'Jun 17, 2021', sources: ['seeds/a.txt:3', 'seeds/b.txt:9'] }

  it.each<[string, Paper, { replace?: boolean }, { counts: object; changed: Partial<Paper>[]; conflicts: object[]; merged: object[] }]>([
    [
      'a record of the same title under another id is merged into the indexed paper, keeping its id',
      { id: 'arxiv:2106.09685', title: 'LoRA: Low-Rank Adaptation of Large  language models', abstract: ABSTRACT, url: 'https://arxiv.org/abs/2106.09685', authors: ['Edward J. Hu'], sources: ['arxiv.jsonl:1'] },
      {},
      {
        counts: { added: 0, updated: 1, unchanged: 0 },
        changed: [{ id: 'p-seed', title: SEED.title, url: 'https://arxiv.org/abs/2106.09685', authors: ['Edward J. Hu'], authorCount: 7, sources: ['seeds/a.txt:3', 'seeds/b.txt:9', 'arxiv.jsonl:1'] }],
        conflicts: [],
        merged: [{ id: 'p-seed', title: SEED.title, recordId: 'arxiv:2106.09685', source: 'arxiv.jsonl:1' }],
      },
    ],
    [
      'a different abstract is a conflict: kept, and reported',
      { ...SEED, abstract: OTHER_ABSTRACT, sources: ['seeds/a.txt:3'] },
      {},
      { counts: { added: 0, updated: 0, unchanged: 1 }, changed: [], conflicts: [{ id: 'p-seed', title: SEED.title, source: 'seeds/a.txt:3', field: 'abstract', resolution: 'kept', against: 'indexed' }], merged: [] },
    ],
    [
      'with replace, a different abstract replaces the indexed one, and is still reported',
      { ...SEED, abstract: OTHER_ABSTRACT, sources: ['seeds/a.txt:3'] },
      { replace: true },
      {
        counts: { added: 0, updated: 1, unchanged: 0 },
        changed: [{ id: 'p-seed', abstract: OTHER_ABSTRACT }],
        conflicts: [{ id: 'p-seed', title: SEED.title, source: 'seeds/a.txt:3', field: 'abstract', resolution: 'replaced', against: 'indexed' }],
        merged: [],
      },
    ],
    [
      'the same content from another path is unchanged (its new source is recorded)',
      { id: 'p-seed', title: SEED.title, abstract: ABSTRACT, sources: ['copy/a.txt:3'] },
      {},
      { counts: { added: 0, updated: 0, unchanged: 1 }, changed: [{ id: 'p-seed', authorCount: 7, sources: ['seeds/a.txt:3', 'seeds/b.txt:9', 'copy/a.txt:3'] }], conflicts: [], merged: [] },
    ],
    [
      'one file re-ingested without the metadata another gave keeps it, and its line moves',
      { id: 'p-seed', title: SEED.title, abstract: ABSTRACT, sources: ['seeds/b.txt:12'] },
      {},
      { counts: { added: 0, updated: 0, unchanged: 1 }, changed: [{ id: 'p-seed', authorCount: 7, date: 'Jun 17, 2021', sources: ['seeds/a.txt:3', 'seeds/b.txt:12'] }], conflicts: [], merged: [] },
    ],
    ['the very same record is unchanged and not rewritten', { ...SEED }, {}, { counts: { added: 0, updated: 0, unchanged: 1 }, changed: [], conflicts: [], merged: [] }],
  ])('%s', (_name, record, options, expected) => {
    const result = mergeIntoIndexed(indexed(SEED), [record], options)
    expect(result.counts).toStrictEqual(expected.counts)
    expect(result.changed).toHaveLength(expected.changed.length)
    result.changed.forEach((paper, i) => expect(paper).toMatchObject(expected.changed[i] ?? {}))
    expect(result.conflicts).toStrictEqual(expected.conflicts)
    expect(result.merged).toStrictEqual(expected.merged)
  })

  it('marks only added papers and replaced texts as new text (what must be embedded)', () => {
    const fresh: Paper = { id: 'new', title: 'Scaling Laws for Neural Language Models', abstract: OTHER_ABSTRACT, sources: ['x.jsonl:1'] }
    const result = mergeIntoIndexed(indexed(SEED), [fresh, { ...SEED, sources: ['copy.txt:1'] }])
    expect(result.counts).toStrictEqual({ added: 1, updated: 0, unchanged: 1 })
    expect([...result.newText]).toStrictEqual(['new'])
  })
})
