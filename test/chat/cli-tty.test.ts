import { execFileSync, spawnSync } from 'node:child_process'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import { runCli } from '../helpers/cli.js'
import { scriptedReplies, startStubOllama, type StubServer } from '../helpers/stub-ollama.js'

const BIN = join(import.meta.dirname, '../../bin/askpapers.js')
const TMUX = spawnSync('tmux', ['-V']).status === 0
// A private server (its own socket), so the test neither sees nor disturbs anyone's tmux sessions.
const SOCKET = `askpapers-test-${process.pid}`
const PANE = 'chat'

const PAPERS = [
  { title: 'BitDelta: Your Fine-Tune May Only Be Worth One Bit', abstract: 'We quantize the weight delta between a fine-tuned model and its base model down to 1 bit. BitDelta reduces GPU memory requirements by more than 10x when serving many fine-tuned models.' },
  { title: 'BitFit: Simple Parameter-efficient Fine-tuning', abstract: 'We fine-tune only the bias terms of the model. BitFit is competitive with full fine-tuning on small to medium training data.' },
]
const FIRST = 'How does BitDelta compress fine-tuned models?'
// Longer than a line: the CLI wraps it at 80 columns.
const FIRST_ANSWER = 'BitDelta splits a fine-tuned model into its base model and a delta, then quantizes that delta down to a single bit per weight [1].'
const STANDALONE = 'How much GPU memory does BitDelta save?'
// Long and slow (300 ms a word): still streaming when Ctrl-C arrives.
const SLOW_ANSWER = `BitDelta ${'saves a great deal of memory when serving many fine-tuned models '.repeat(6)}[1].`

let ollama: StubServer
let dir: string
let exitFile: string

const tmux = (...args: string[]): string => execFileSync('tmux', ['-L', SOCKET, ...args], { encoding: 'utf8' })
const screen = (): string => tmux('capture-pane', '-p', '-t', PANE)
const quote = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`
const flat = (text: string): string => text.replace(/\s+/g, ' ')
/** Polls the visible screen (trailing blank lines dropped) until `check` passes. */
const waitForScreen = (check: (screen: string) => void): Promise<void> =>
  vi.waitFor(() => check(screen().trimEnd()), { timeout: 15_000, interval: 100 })

describe.skipIf(!TMUX)(TMUX ? 'askpapers chat in a terminal' : 'askpapers chat in a terminal (skipped: tmux is not installed; apt-get install -y tmux)', () => {
  beforeAll(async () => {
    ollama = await startStubOllama({ dimensions: 32, chat: scriptedReplies(FIRST_ANSWER, STANDALONE, { answer: SLOW_ANSWER, delayMs: 300 }) })
    dir = await mkdtemp(join(tmpdir(), 'askpapers-tty-'))
    const env = { ASKPAPERS_EMBEDDER: 'ollama', OLLAMA_HOST: ollama.url, ASKPAPERS_DATA_DIR: join(dir, 'data') }
    await writeFile(join(dir, 'papers.jsonl'), PAPERS.map((p) => JSON.stringify(p)).join('\n'))
    expect((await runCli(['ingest', join(dir, 'papers.jsonl')], { env })).code).toBe(0)
    const command = ['env', ...Object.entries(env).map(([k, v]) => `${k}=${v}`), process.execPath, BIN, 'chat', '--llm', 'ollama'].map(quote).join(' ')
    exitFile = join(dir, 'exit-status')
    // tmux runs the command with sh -c; the exit status lands in a file for the test to read.
    tmux('new-session', '-d', '-x', '80', '-y', '30', '-s', PANE, `${command}; echo $? > ${quote(exitFile)}`)
  })
  afterAll(async () => {
    if (TMUX) spawnSync('tmux', ['-L', SOCKET, 'kill-server'])
    await ollama?.close()
    if (dir) await rm(dir, { recursive: true, force: true })
  })

  it('streams a turn, cancels a streaming answer with Ctrl-C, hints at an empty prompt, and leaves on Ctrl-D', async () => {
    await waitForScreen((s) => expect(s).toMatch(/^askpapers>\s*$/m))
    expect(screen()).toContain('askpapers chat: 2 papers, answers by ollama:llama3.1:8b.')

    tmux('send-keys', '-t', PANE, FIRST, 'Enter')
    await waitForScreen((s) => expect(s).toMatch(/\nReferences\n[\s\S]*\n\naskpapers>\s*$/))
    expect(flat(screen())).toContain(`askpapers> ${FIRST} ${FIRST_ANSWER} References [1] BitDelta: Your Fine-Tune May Only Be Worth One Bit authors not in the source.`)
    expect(flat(screen())).toMatch(/search by title: https:\/\/scholar\.google\.com\/scholar\?q=\S+ (\S+ )?\(id p-[0-9a-f]+\) “We quantize the weight delta/)
    // Wrapped by the CLI itself (a link stays whole on its own line, so it can be clicked): joined back, tmux's own wrapping would show as longer lines.
    expect(tmux('capture-pane', '-p', '-J', '-t', PANE).split('\n').filter((l) => l.length > 80 && !/^\s*https?:\/\/\S+$/.test(l))).toEqual([])

    tmux('send-keys', '-t', PANE, 'how much memory does it save?', 'Enter')
    await waitForScreen((s) => expect(s).toContain('saves a great deal'))
    // The model's rewrite is searched for (see the requests below) but not printed above the answer.
    expect(screen()).not.toContain('Searching for')
    expect(screen()).not.toContain(STANDALONE)
    tmux('send-keys', '-t', PANE, 'C-c')
    await waitForScreen((s) => expect(s).toMatch(/\(Cancelled\.\)\n\naskpapers>\s*$/))
    const chats = ollama.requests.filter((r) => r.path === '/api/chat')
    expect(chats.map((r) => (r.body as { messages: { content: string }[] }).messages.at(-1)?.content)).toEqual([
      expect.stringContaining(`Question: ${FIRST}`),
      expect.stringContaining('Latest message: how much memory does it save?'),
      expect.stringContaining(`Question: ${STANDALONE}`),
    ])
    // Ctrl-C closed the connection to the model mid-answer.
    await vi.waitFor(() => expect(chats[2]?.clientClosed).toBe(true), { timeout: 5_000 })
    expect(screen()).not.toContain(SLOW_ANSWER.slice(0, 120))

    // The cancelled question left nothing behind: the sources are still the first answer's.
    tmux('send-keys', '-t', PANE, '/sources', 'Enter')
    await waitForScreen((s) => expect(s).toMatch(/Sources of the last answer\n\[1\] BitDelta: Your Fine-Tune May Only Be Worth One Bit/))

    // Ctrl-C on a half-typed line clears it; on an empty one it says how to leave.
    tmux('send-keys', '-t', PANE, 'half a question')
    await waitForScreen((s) => expect(s).toMatch(/\naskpapers> half a question$/))
    tmux('send-keys', '-t', PANE, 'C-c')
    await waitForScreen((s) => expect(s).toMatch(/\naskpapers>$/))
    tmux('send-keys', '-t', PANE, 'C-c')
    await waitForScreen((s) => expect(s).toMatch(/\(To leave, press Ctrl-C again, press Ctrl-D or type \/exit\.\)\naskpapers>\s*$/))
    tmux('send-keys', '-t', PANE, 'C-d')
    await vi.waitFor(async () => expect(await readFile(exitFile, 'utf8')).toBe('0\n'), { timeout: 10_000, interval: 100 })
  })
})
