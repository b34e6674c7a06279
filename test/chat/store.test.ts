import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { SessionStore, transcriptMarkdown, type ChatTurn } from '../../src/chat/index.js'
import { AppError } from '../../src/errors.js'

const TURNS: ChatTurn[] = [
  {
    message: 'How does BitDelta compress fine-tuned models?',
    standalone: 'How does BitDelta compress fine-tuned models?',
    answer: 'BitDelta quantizes the fine-tune delta to 1 bit [1].',
    abstained: false,
    references: [
      { n: 1, id: '2402.10193', title: 'BitDelta: Your Fine-Tune May Only Be Worth One Bit', url: 'https://arxiv.org/abs/2402.10193', quote: 'We introduce a simple method, BitDelta, which successfully quantizes this delta down to 1 bit.' },
    ],
    at: '2026-01-01T10:00:00.000Z',
  },
  {
    message: 'how much memory does it save?',
    standalone: 'How much memory does BitDelta save?',
    answer: 'It cuts GPU memory by more than 10x [1] and fits more models per GPU [2].',
    abstained: false,
    references: [
      { n: 1, id: '2402.10193', title: 'BitDelta: Your Fine-Tune May Only Be Worth One Bit', url: 'https://arxiv.org/abs/2402.10193', quote: 'BitDelta dramatically reduces GPU memory requirements by more than 10x.' },
      { n: 2, id: 'p-abc', title: 'Model soups', quote: '' },
    ],
    at: '2026-01-01T10:01:00.000Z',
  },
  {
    message: 'Does it work for images?',
    standalone: 'Does BitDelta work for images?',
    answer: 'The retrieved papers do not answer this question.',
    abstained: true,
    references: [],
    at: '2026-01-01T10:02:00.000Z',
  },
]

let dataDir: string
beforeEach(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'askpapers-sessions-'))
})
afterEach(async () => {
  await rm(dataDir, { recursive: true, force: true })
})

const session = (turns: ChatTurn[]) => ({ toJSON: () => ({ version: 1 as const, turns }) })

describe('SessionStore', () => {
  it('saves to <dataDir>/sessions/<name>.json and loads the same turns back', async () => {
    const store = new SessionStore(dataDir)
    await store.save('lit-review_2', session(TURNS))
    expect(JSON.parse(await readFile(join(dataDir, 'sessions', 'lit-review_2.json'), 'utf8'))).toEqual({ version: 1, turns: TURNS })
    expect(await store.load('lit-review_2')).toEqual({ turns: TURNS })
  })

  it('replaces a session atomically and leaves no temporary file behind', async () => {
    const store = new SessionStore(dataDir)
    await store.save('s', session(TURNS))
    await store.save('s', session(TURNS.slice(0, 1)))
    expect(await readdir(join(dataDir, 'sessions'))).toEqual(['s.json'])
    expect((await store.load('s')).turns).toEqual(TURNS.slice(0, 1))
  })

  it('starts an unknown session empty, without a warning', async () => {
    expect(await new SessionStore(dataDir).load('new')).toEqual({ turns: [] })
  })

  it.each(['', '../escape', 'a/b', 'has space', 'dot.json', 'x'.repeat(65), 'ümlaut'])('rejects the session name %j', async (name) => {
    const store = new SessionStore(dataDir)
    const error = await store.load(name).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(AppError)
    expect(error).toMatchObject({ code: 'BAD_INPUT', message: `Invalid session name "${name}": use 1 to 64 letters, digits, - or _.` })
    await expect(store.save(name, session(TURNS))).rejects.toMatchObject({ code: 'BAD_INPUT' })
  })

  it.each([
    ['not JSON', '{"version": 1, "turns": [', 'invalid JSON'],
    ['another version', '{"version": 2, "turns": []}', 'version: Invalid input: expected 1'],
    ['a turn of the wrong shape', '{"version": 1, "turns": [{"message": 42}]}', 'turns.0.message: Invalid input: expected string, received number'],
    ['an array', '[]', 'file: Invalid input: expected object, received array'],
    ['an empty file', '', 'invalid JSON'],
  ])('loads %s as a fresh session with a warning', async (_name, text, reason) => {
    await mkdir(join(dataDir, 'sessions'), { recursive: true })
    const file = join(dataDir, 'sessions', 'broken.json')
    await writeFile(file, text)
    expect(await new SessionStore(dataDir).load('broken')).toEqual({ turns: [], warning: `Session file ${file} is damaged (${reason}); starting a fresh session.` })
  })
})

describe('transcriptMarkdown', () => {
  it('writes each question, the standalone question when it differs, the answer and the quoted references', () => {
    expect(transcriptMarkdown(TURNS)).toBe(`# askpapers chat

## 1. How does BitDelta compress fine-tuned models?

BitDelta quantizes the fine-tune delta to 1 bit [1].

**References**

- [1] BitDelta: Your Fine-Tune May Only Be Worth One Bit. authors not in the source, 2024. <https://arxiv.org/abs/2402.10193> (id 2402.10193)
  > We introduce a simple method, BitDelta, which successfully quantizes this delta down to 1 bit.

## 2. how much memory does it save?

*Standalone question:* How much memory does BitDelta save?

It cuts GPU memory by more than 10x [1] and fits more models per GPU [2].

**References**

- [1] BitDelta: Your Fine-Tune May Only Be Worth One Bit. authors not in the source, 2024. <https://arxiv.org/abs/2402.10193> (id 2402.10193)
  > BitDelta dramatically reduces GPU memory requirements by more than 10x.
- [2] Model soups. authors not in the source. no link in the source; [search by title](https://scholar.google.com/scholar?q=%22Model%20soups%22) (id p-abc)

## 3. Does it work for images?

*Standalone question:* Does BitDelta work for images?

The retrieved papers do not answer this question.
`)
  })

  it('says so when there is nothing to save', () => {
    expect(transcriptMarkdown([])).toBe('# askpapers chat\n\nNo questions yet.\n')
  })
})
