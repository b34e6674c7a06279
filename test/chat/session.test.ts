import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import { Answerer } from '../../src/answer/answer.js'
import { loadPrompts, type Prompts } from '../../src/answer/prompts.js'
import { createChatProvider, type ChatProvider } from '../../src/answer/providers.js'
import { ChatSession, condenseOffline, type ChatTurn } from '../../src/chat/index.js'
import { seedPapers } from '../helpers/seeds.js'
import { createEmbedder, type Embedder } from '../../src/index/embedders/index.js'
import { PaperIndex } from '../../src/index/store.js'
import { Retriever } from '../../src/retrieve/hybrid.js'
import { refusedUrl, scriptedReplies, startStubOllama, type ChatHandler, type RecordedRequest, type StubServer } from '../helpers/stub-ollama.js'

const BITDELTA = 'BitDelta: Your Fine-Tune May Only Be Worth One Bit'
const TITLES = [
  BITDELTA,
  'LoRA: Low-Rank Adaptation of Large Language Models',
  'LoRA Learns Less and Forgets Less',
  'Model soups: averaging weights of multiple fine-tuned models improves accuracy without increasing inference time',
  'Symbolic Discovery of Optimization Algorithms',
]
const FIRST = 'How does BitDelta compress fine-tuned models?'
const FOLLOW_UP = 'how much memory does it save?'
const NOW = new Date('2026-01-01T12:00:00.000Z')

let ollama: StubServer
let embedder: Embedder
let retriever: Retriever
let prompts: Prompts
let dir: string
/** What the stub's model says next; each test sets it. */
let chat: ChatHandler = scriptedReplies('')

beforeAll(async () => {
  ollama = await startStubOllama({ dimensions: 16, chat: (body, request) => chat(body, request) })
  embedder = await createEmbedder({ provider: 'ollama', host: ollama.url, model: 'nomic-embed-text' })
  dir = await mkdtemp(join(tmpdir(), 'askpapers-session-'))
  const chosen = await seedPapers(TITLES)
  const { index } = await (await PaperIndex.open(dir)).ingest(chosen, embedder, { size: 300, overlap: 0 })
  retriever = new Retriever(index, (q) => embedder.embeddings.embedQuery(q))
  prompts = await loadPrompts('prompts')
})
afterAll(async () => {
  await embedder.close()
  await ollama.close()
  await rm(dir, { recursive: true, force: true })
})

const llm = (host = ollama.url): ChatProvider => createChatProvider({ provider: 'ollama', host, model: 'llama3.1:8b', timeoutMs: 5_000 })
const offline = (): Answerer => new Answerer({ retriever, corpus: retriever.corpus, prompts })
const chatRequests = (): RecordedRequest[] => ollama.requests.filter((r) => r.path === '/api/chat')
const lastMessages = (): { role: string; content: string }[] => (chatRequests().at(-1)?.body as { messages: { role: string; content: string }[] }).messages

/** A session that has answered FIRST offline. */
async function afterFirst(provider?: ChatProvider, options: ConstructorParameters<typeof ChatSession>[1] = {}): Promise<ChatSession> {
  const session = new ChatSession({ answerer: offline(), provider, prompts, now: () => NOW }, options)
  await session.send(FIRST)
  return session
}

describe('ChatSession offline', () => {
  it('answers a first message as asked and remembers the turn', async () => {
    const session = new ChatSession({ answerer: offline(), prompts, now: () => NOW })
    const result = await session.send(`  ${FIRST} `)
    expect(result).toMatchObject({ question: FIRST, standalone: FIRST, condensedBy: 'none', abstained: false })
    expect(result.references[0]?.title).toBe(BITDELTA)
    expect(session.turns).toEqual([
      { message: FIRST, standalone: FIRST, answer: result.answer, abstained: false, references: result.references, at: '2026-01-01T12:00:00.000Z' },
    ])
  })

  it('rewrites a follow-up from the history, then answers the rewrite', async () => {
    const session = await afterFirst()
    const seen: string[] = []
    const result = await session.send(FOLLOW_UP, { onStandalone: (q) => seen.push(q) })
    const standalone = 'How much memory does BitDelta save?'
    expect(condenseOffline(session.turns.slice(0, 1), FOLLOW_UP)).toBe(standalone)
    expect(seen).toEqual([standalone])
    expect(result).toMatchObject({ question: FOLLOW_UP, standalone, condensedBy: 'offline' })
    expect(result.references[0]?.title).toBe(BITDELTA)
    expect(result.answer).toMatch(/10x/)
  })

  it('finds the paper a follow-up is about once its pronoun is resolved: "its effect on forgetting" after LoRA', async () => {
    const session = new ChatSession({ answerer: offline(), prompts, now: () => NOW })
    await session.send('What is LoRA?')
    const result = await session.send('What about its effect on forgetting?')
    expect(result).toMatchObject({ standalone: "What about LoRA's effect on forgetting?", condensedBy: 'offline', abstained: false })
    expect(result.references[0]?.title).toBe('LoRA Learns Less and Forgets Less')
  })

  it('reads the next message on its own after reset()', async () => {
    const session = await afterFirst()
    session.reset()
    expect(session.turns).toEqual([])
    expect(await session.send(FOLLOW_UP)).toMatchObject({ standalone: FOLLOW_UP, condensedBy: 'none' })
  })

  it('keeps the newest turns within maxTurns, dropping the oldest first', async () => {
    const session = new ChatSession({ answerer: offline(), prompts }, { maxTurns: 2 })
    for (const m of ['What is BitDelta?', 'What is LoRA?', 'What are model soups?']) await session.send(m)
    expect(session.turns.map((t) => t.message)).toEqual(['What is LoRA?', 'What are model soups?'])
  })

  it('keeps the newest turns within maxChars, but always the last one', async () => {
    const turn = (message: string, answer: string): ChatTurn => ({ message, standalone: message, answer, abstained: false, references: [], at: NOW.toISOString() })
    const turns = [turn('one', 'a'.repeat(40)), turn('two', 'b'.repeat(40)), turn('three', 'c'.repeat(40))]
    expect(new ChatSession({ answerer: offline(), prompts }, { turns, maxChars: 100 }).turns.map((t) => t.message)).toEqual(['two', 'three'])
    expect(new ChatSession({ answerer: offline(), prompts }, { turns, maxChars: 10 }).turns.map((t) => t.message)).toEqual(['three'])
    expect(new ChatSession({ answerer: offline(), prompts }, { turns }).toJSON()).toEqual({ version: 1, turns })
  })

  it('rejects an empty or over-long message and adds no turn', async () => {
    const session = await afterFirst()
    await expect(session.send('   ')).rejects.toMatchObject({ code: 'BAD_INPUT', message: 'The message is empty.' })
    await expect(session.send('x'.repeat(4001))).rejects.toMatchObject({ code: 'BAD_INPUT', message: 'The message is 4001 characters long; the limit is 4000.' })
    expect(session.turns).toHaveLength(1)
  })

  it('adds no turn for a send that was cancelled', async () => {
    const session = await afterFirst()
    await expect(session.send(FOLLOW_UP, { signal: AbortSignal.abort() })).rejects.toMatchObject({ name: 'AbortError' })
    expect(session.turns).toHaveLength(1)
  })
})

describe('ChatSession with a model', () => {
  it('asks the model with the condensing prompt and answers its rewrite', async () => {
    chat = scriptedReplies('Standalone question: "How much GPU memory does BitDelta save?"\n\nThe user refers to BitDelta.')
    const session = await afterFirst(llm())
    const before = chatRequests().length
    const result = await session.send(FOLLOW_UP)
    expect(chatRequests()).toHaveLength(before + 1)
    expect(result).toMatchObject({ question: FOLLOW_UP, standalone: 'How much GPU memory does BitDelta save?', condensedBy: 'llm' })
    expect(result).not.toHaveProperty('condenseWarning')
    expect(result.references[0]?.title).toBe(BITDELTA)
    const [system, user] = lastMessages()
    expect(system).toEqual({ role: 'system', content: '' })
    expect(user?.content).toContain(`<conversation>\nUser: ${FIRST}\nAssistant: ${session.turns[0]?.answer}\nCited papers: [1] ${BITDELTA}`)
    expect(user?.content).toContain(`Latest message: ${FOLLOW_UP}`)
  })

  it('does not ask the model about a first message', async () => {
    const before = chatRequests().length
    await new ChatSession({ answerer: offline(), provider: llm(), prompts }).send(FIRST)
    expect(chatRequests()).toHaveLength(before)
  })

  it('puts only the newest history within maxChars into the prompt', async () => {
    chat = scriptedReplies('What are model soups?')
    const session = new ChatSession({ answerer: offline(), provider: llm(), prompts }, { maxChars: 700 })
    await session.send('What is LoRA?')
    await session.send('What are model soups?')
    await session.send('And Lion?')
    const prompt = lastMessages()[1]?.content ?? ''
    expect(prompt).toContain('User: What are model soups?')
    expect(prompt).not.toContain('User: What is LoRA?')
  })

  it.each<[string, () => ChatProvider, ChatHandler, RegExp, number?]>([
    ['an empty rewrite', () => llm(), scriptedReplies({ deltas: [] }), /\(the rewrite was empty\)/],
    ['an over-long rewrite', () => llm(), scriptedReplies('word '.repeat(400)), /\(the rewrite was over-long: \d+ characters\)/],
    ['a server that is down', () => llm(downUrl), scriptedReplies(''), /\(Cannot reach Ollama at http:\/\/127\.0\.0\.1:\d+/],
    ['a model that never answers', () => llm(), scriptedReplies({ hang: true }), /\(no reply within 0\.3 s\)/, 300],
    ['a reply that breaks off', () => llm(), scriptedReplies({ answer: 'How much memory', cutAfter: 1 }), /\(the reply broke off\)/],
  ])('falls back to the offline rewrite on %s, and says so', async (_name, provider, handler, reason, condenseTimeoutMs) => {
    chat = handler
    const session = await afterFirst(provider(), condenseTimeoutMs ? { condenseTimeoutMs } : {})
    const warnings: (string | undefined)[] = []
    const result = await session.send(FOLLOW_UP, { onStandalone: (_q, how) => warnings.push(how.warning) })
    expect(result).toMatchObject({ standalone: 'How much memory does BitDelta save?', condensedBy: 'offline' })
    expect(result.condenseWarning).toMatch(/^The model could not rewrite the follow-up \(.+\); used the offline rewrite\.$/)
    expect(result.condenseWarning).toMatch(reason)
    expect(warnings).toEqual([result.condenseWarning])
    expect(result.references[0]?.title).toBe(BITDELTA)
  })

  it('cancels while the model rewrites: the request is closed and no turn added', async () => {
    chat = scriptedReplies({ answer: 'How much GPU memory does BitDelta save when serving models?', delayMs: 200 })
    const session = await afterFirst(llm())
    const abort = new AbortController()
    const before = chatRequests().length
    const sent = session.send(FOLLOW_UP, { signal: abort.signal })
    await vi.waitFor(() => expect(chatRequests()).toHaveLength(before + 1))
    const request = chatRequests().at(-1)!
    abort.abort()
    await expect(sent).rejects.toMatchObject({ name: 'AbortError' })
    await vi.waitFor(() => expect(request.clientClosed).toBe(true))
    expect(session.turns).toHaveLength(1)
  })

  it('cancels while the model answers: the request is closed and no turn added', async () => {
    chat = scriptedReplies({ answer: 'BitDelta saves memory [1]. '.repeat(20), delayMs: 100 })
    const provider = llm()
    const session = new ChatSession({ answerer: new Answerer({ retriever, corpus: retriever.corpus, prompts, provider }), provider, prompts })
    const abort = new AbortController()
    let streamed = ''
    const sent = session.send(FIRST, { signal: abort.signal, onToken: (t) => (streamed += t) })
    await vi.waitFor(() => expect(streamed).toContain('BitDelta'))
    abort.abort()
    await expect(sent).rejects.toMatchObject({ name: 'AbortError' })
    await vi.waitFor(() => expect(chatRequests().at(-1)?.clientClosed).toBe(true))
    expect(session.turns).toEqual([])
  })

  it('answers one message at a time', async () => {
    chat = scriptedReplies({ answer: 'BitDelta saves memory [1].', delayMs: 50 })
    const provider = llm()
    const session = new ChatSession({ answerer: new Answerer({ retriever, corpus: retriever.corpus, prompts, provider }), provider, prompts })
    const first = session.send(FIRST)
    await expect(session.send(FOLLOW_UP)).rejects.toMatchObject({ code: 'BAD_INPUT', message: expect.stringMatching(/still answering/) })
    await first
    expect(session.turns).toHaveLength(1)
  })
})

let downUrl: string
beforeAll(async () => {
  downUrl = await refusedUrl()
})
