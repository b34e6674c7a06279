import { copyFile, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { runCli } from '../helpers/cli.js'
import { startStubOllama, type StubServer } from '../helpers/stub-ollama.js'

const LORA = { title: 'LoRA: Low-Rank Adaptation of Large Language Models', abstract: 'We freeze the pretrained model weights and inject trainable rank decomposition matrices into each layer of the Transformer.' }
const SCALING = { title: 'Scaling Laws for Neural Language Models', abstract: 'Loss scales as a power law with model size, dataset size and the compute used for training, so larger models are more sample-efficient.' }
const LENGTH = { title: 'Length Generalization in Transformers', abstract: 'Transformers fail to extrapolate to inputs longer than those seen in training, and position encodings decide length extrapolation.' }
const jsonl = (...records: object[]): string => `${records.map((r) => JSON.stringify(r)).join('\n')}\n`
/** A listing page as the seeds have it: chrome, then title, abstract and an optional metadata block. */
const page = (...papers: { title: string; abstract: string; meta?: string[] }[]): string =>
  ['Daily Papers', '', ...papers.flatMap((p) => [p.title, '', p.abstract, '', ...(p.meta ? [...p.meta, ''] : [])])].join('\n')

let ollama: StubServer
let dir: string
const envFor = (name: string): Record<string, string> => ({ ASKPAPERS_EMBEDDER: 'ollama', OLLAMA_HOST: ollama.url, ASKPAPERS_DATA_DIR: join(dir, name) })
const ingest = async (name: string, ...args: string[]) => {
  const run = await runCli(['ingest', '--json', ...args], { env: envFor(name) })
  return { ...run, summary: run.stdout ? JSON.parse(run.stdout) : undefined }
}
const show = async (name: string, id: string) => JSON.parse((await runCli(['papers', 'show', id, '--json'], { env: envFor(name) })).stdout)
const list = async (name: string) => JSON.parse((await runCli(['papers', 'list', '--json'], { env: envFor(name) })).stdout).papers

beforeAll(async () => {
  ollama = await startStubOllama({ dimensions: 32 })
  dir = await mkdtemp(join(tmpdir(), 'askpapers-inputs-cli-'))
})
afterAll(async () => {
  await ollama.close()
  await rm(dir, { recursive: true, force: true })
})

describe('ingest: duplicates and conflicts', () => {
  it('merges a record of an indexed title under another id, reports a different abstract as a conflict, and --replace applies it', async () => {
    const seeds = join(dir, 'seed.txt')
    await writeFile(seeds, page({ ...LORA, meta: ['• 7 authors', '·', 'Jun 17, 2021 12'] }, SCALING))
    const first = await ingest('dups', seeds)
    expect(first.summary).toMatchObject({ papers: 2, added: 2, updated: 0, unchanged: 0, conflicts: [], merged: [] })
    const seedId = (await list('dups'))[0].id

    // The arXiv snapshot record of the same paper: another id, a url and authors, the same abstract.
    const arxiv = join(dir, 'arxiv.jsonl')
    await writeFile(arxiv, jsonl({ id: '2106.09685', title: 'LoRA: Low-Rank Adaptation of Large\n Language Models', abstract: LORA.abstract, authors: 'Edward J. Hu and Yelong Shen', update_date: '2021-10-19' }))
    const merged = await ingest('dups', arxiv)
    expect(merged.code).toBe(0)
    expect(merged.summary).toMatchObject({ papers: 2, added: 0, updated: 1, unchanged: 0, conflicts: [], merged: [{ id: seedId, title: LORA.title, recordId: 'arxiv:2106.09685', source: `${arxiv}:1` }] })
    expect(await show('dups', seedId)).toMatchObject({ id: seedId, authors: ['Edward J. Hu', 'Yelong Shen'], authorCount: 7, url: 'https://arxiv.org/abs/2106.09685', sources: [`${seeds}:3`, `${arxiv}:1`] })

    // Another abstract for an indexed paper: reported, kept.
    const revised = join(dir, 'revised.jsonl')
    const other = 'We freeze the pretrained weights and train low-rank matrices, cutting trainable parameters ten thousand fold.'
    await writeFile(revised, jsonl({ id: seedId, title: LORA.title, abstract: other }))
    const conflict = await ingest('dups', revised)
    expect(conflict.code).toBe(0)
    expect(conflict.summary).toMatchObject({ added: 0, updated: 0, unchanged: 1, conflicts: [{ id: seedId, title: LORA.title, source: `${revised}:1`, field: 'abstract', resolution: 'kept', against: 'indexed' }] })
    expect(conflict.stderr).toContain(`${revised}:1: conflict: this record's abstract differs from the indexed "${LORA.title}" (${seedId}); kept the indexed one (ingest --replace uses this record's).`)
    expect((await show('dups', seedId)).abstract).toBe(LORA.abstract)

    // The fix the message names works.
    const replaced = await ingest('dups', revised, '--replace')
    expect(replaced.summary).toMatchObject({ added: 0, updated: 1, unchanged: 0, conflicts: [{ id: seedId, resolution: 'replaced' }] })
    expect((await show('dups', seedId)).abstract).toBe(other)
  })

  it('counts the same content from another path as unchanged, and one seed file re-ingested keeps what another merged in', async () => {
    const a = join(dir, 'a.txt')
    const b = join(dir, 'b.txt')
    await writeFile(a, page({ ...LENGTH, meta: ['• 3 authors', '·', 'Apr 18, 2024 5'] }))
    await writeFile(b, page(LENGTH))
    expect((await ingest('paths', a, b)).summary).toMatchObject({ added: 1, unchanged: 0 })
    const again = await ingest('paths', b)
    expect(again.summary).toMatchObject({ papers: 1, added: 0, updated: 0, unchanged: 1 })
    const copy = join(dir, 'copy', 'b.txt')
    await mkdir(join(dir, 'copy'))
    await copyFile(b, copy)
    const moved = await ingest('paths', copy)
    expect(moved.summary).toMatchObject({ papers: 1, added: 0, updated: 0, unchanged: 1 })
    const [paper] = await list('paths')
    expect(paper).toMatchObject({ title: LENGTH.title, year: 2024, date: 'Apr 18, 2024', sources: [`${a}:3`, `${b}:3`, `${copy}:3`] })
    expect((await show('paths', paper.id)).authorCount).toBe(3)
  })

  it('keeps the old --json fields first and adds the new ones after them', async () => {
    const file = join(dir, 'one.jsonl')
    await writeFile(file, jsonl(SCALING))
    const run = await ingest('fields', file)
    expect(Object.keys(run.summary)).toStrictEqual(['papers', 'added', 'updated', 'unchanged', 'skipped', 'seconds', 'reembedded', 'conflicts', 'merged', 'problems'])
  })
})

describe('ingest --rebuild', () => {
  it('without PATH re-embeds what is indexed, counted as re-embedded, and adds no seeds', async () => {
    const file = join(dir, 'custom.jsonl')
    await writeFile(file, jsonl(LORA, SCALING, LENGTH))
    expect((await ingest('rebuild', file)).summary).toMatchObject({ papers: 3, added: 3 })
    const before = ollama.requests.length
    const run = await ingest('rebuild', '--rebuild')
    expect(run.code).toBe(0)
    expect(run.summary).toMatchObject({ papers: 3, added: 0, updated: 0, unchanged: 0, reembedded: 3, skipped: 0 })
    expect(ollama.requests.length).toBeGreaterThan(before)
    const human = await runCli(['ingest', '--rebuild'], { env: envFor('rebuild') })
    expect(human.stdout).toMatch(/^3 papers in .*: 0 added, 0 updated, 0 unchanged, 3 re-embedded, 0 skipped in /)
  })

  it('on an empty index says there is nothing to rebuild, and the ingest it names works', async () => {
    const run = await runCli(['ingest', '--rebuild'], { env: envFor('empty') })
    expect(run.code).toBe(2)
    expect(run.stderr).toBe(`askpapers: Nothing to rebuild: the index in ${join(dir, 'empty')} is empty. Run \`askpapers ingest\` (the bundled seeds) or \`askpapers ingest PATH\` instead.\n`)
    const file = join(dir, 'custom.jsonl')
    expect((await ingest('empty', file)).summary).toMatchObject({ added: 3 })
  })
})

describe('ingest: bad inputs', () => {
  it('skips a bad file of a directory as a reported problem and ingests the rest (exit 5)', async () => {
    const corpus = join(dir, 'corpus')
    await mkdir(corpus)
    await writeFile(join(corpus, 'a.jsonl'), jsonl(LORA, { title: 'Notes', abstract: SCALING.abstract }, { title: 'Short One', abstract: 'Too short to be an abstract.' }))
    await writeFile(join(corpus, 'b.csv'), '')
    await writeFile(join(corpus, 'c.txt'), 'Remember to read the LoRA paper and the scaling laws paper before Friday.\n')
    const run = await ingest('dir', corpus)
    expect(run.code).toBe(5)
    expect(run.summary).toMatchObject({ papers: 1, added: 1, skipped: 4 })
    // Progress lines aside, the problems in file order.
    expect(run.stderr.split('\n').filter((line) => line.startsWith(corpus))).toStrictEqual([
      `${join(corpus, 'a.jsonl')}:2: title "Notes" is one word; a paper's title has at least 2`,
      `${join(corpus, 'a.jsonl')}:3: abstract of 6 word(s); an abstract has at least 8`,
      `${join(corpus, 'b.csv')}: the file is empty; file skipped`,
      `${join(corpus, 'c.txt')}: not a listing page (no "Daily Papers" page text nor "• N authors" / "·" / date lines); supported: .jsonl, .ndjson or .json (JSON lines), .csv (with a header row), .txt (a listing page); file skipped`,
    ])
    expect(run.summary.problems[2]).toStrictEqual({ file: join(corpus, 'b.csv'), line: 0, reason: 'the file is empty; file skipped' })
  })

  it('refuses a note .txt named on its own as an unknown format, indexing nothing', async () => {
    const note = join(dir, 'note.txt')
    await writeFile(note, 'Remember to read the LoRA paper and the scaling laws paper before Friday.\n\nAnd the one about length generalization.\n')
    const run = await ingest('note', note)
    expect(run.code).toBe(2)
    expect(run.stderr).toMatch(new RegExp(`^askpapers: ${note}: not a listing page`))
    expect((await runCli(['papers', 'list', '--json'], { env: envFor('note') })).stdout).toContain('"total":0')
  })

  it('when every record fails, prints the first reasons with file:line, not only a count', async () => {
    const bad = join(dir, 'bad.jsonl')
    await writeFile(bad, ['oops', '{"title": "x"}', '{"abstract": "y"}', '[1]', '{"title": 3, "abstract": "z"}', '{"title": "Single", "abstract": "one two three four five six seven eight"}', 'nope'].join('\n'))
    const run = await ingest('bad', bad)
    expect(run.code).toBe(2)
    expect(run.stderr).toBe(
      [
        `askpapers: No valid paper in ${bad}: 7 record(s) skipped:`,
        `  ${bad}:1: invalid JSON`,
        `  ${bad}:2: missing abstract`,
        `  ${bad}:3: missing title`,
        `  ${bad}:4: expected a JSON object`,
        `  ${bad}:5: title must be a string`,
        '  … and 2 more',
        '',
      ].join('\n'),
    )
  })
})
