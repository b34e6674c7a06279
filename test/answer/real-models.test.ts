import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { HumanMessage, SystemMessage } from '@langchain/core/messages'
import { ChatOllama } from '@langchain/ollama'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { Answerer, type AbstentionGate } from '../../src/answer/answer.js'
import { loadPrompts, type Prompts } from '../../src/answer/prompts.js'
import { createChatProvider, type ChatProvider } from '../../src/answer/providers.js'
import { defaultSeedDir, loadPapers } from '../../src/corpus/index.js'
import { formatReferences } from '../../src/cli/_format.js'
import { createEmbedder, type Embedder } from '../../src/index/embedders/index.js'
import { PaperIndex } from '../../src/index/store.js'
import { Retriever, type SearchHit } from '../../src/retrieve/hybrid.js'
import { startStubOllama, type ChatHandler, type ChatScript, type StubServer } from '../helpers/stub-ollama.js'
import { startStubOpenAI } from '../helpers/stub-openai.js'

/**
 * The LLM path against stand-ins that behave as real local models do: a context window that cuts
 * the front of a long prompt, thinking in the reply, errors inside a 200 stream.
 */

// Every test here scripts the model; the gate must let every question through to it.
const OPEN_GATE: AbstentionGate = { minCoverage: 0, minDense: 0, unknownNames: false }
const QUESTION = 'How do parameter-efficient fine-tuning methods reduce memory when adapting language models?'
const K = 8

let embedStub: StubServer
let embedder: Embedder
let retriever: Retriever
let prompts: Prompts
let dir: string
const stubs: StubServer[] = []

beforeAll(async () => {
  embedStub = await startStubOllama({ dimensions: 16 })
  embedder = await createEmbedder({ provider: 'ollama', host: embedStub.url, model: 'nomic-embed-text' })
  // The seeds with the longest abstracts, so eight of them overflow a 2,048-token context.
  const { papers } = await loadPapers([defaultSeedDir()])
  const long = [...papers].sort((a, b) => b.abstract.length - a.abstract.length || a.id.localeCompare(b.id)).slice(0, 12)
  dir = await mkdtemp(join(tmpdir(), 'askpapers-real-models-'))
  const { index } = await (await PaperIndex.open(dir)).ingest(long, embedder, { size: 300, overlap: 0 })
  retriever = new Retriever(index, (q) => embedder.embeddings.embedQuery(q))
  prompts = await loadPrompts('prompts')
})
afterAll(async () => {
  await embedder.close()
  await embedStub.close()
  await rm(dir, { recursive: true, force: true })
})
afterEach(async () => {
  await Promise.all(stubs.splice(0).map((s) => s.close()))
})

async function ollamaStub(options: Parameters<typeof startStubOllama>[0]): Promise<StubServer> {
  const stub = await startStubOllama(options)
  stubs.push(stub)
  return stub
}

async function openaiStub(chat: ChatHandler): Promise<Awaited<ReturnType<typeof startStubOpenAI>>> {
  const stub = await startStubOpenAI({ apiKey: 'sk-local', chat })
  stubs.push(stub)
  return stub
}

const ollamaProvider = (stub: StubServer, contextTokens?: number): ChatProvider =>
  createChatProvider({ provider: 'ollama', host: stub.url, model: 'llama3.1:8b', timeoutMs: 5_000, contextTokens })

async function ask(provider: ChatProvider, question = QUESTION) {
  const answerer = new Answerer({ retriever, corpus: retriever.corpus, prompts, provider, gate: OPEN_GATE })
  let streamed = ''
  let hits: SearchHit[] = []
  const result = await answerer.ask(question, { k: K, onToken: (t) => (streamed += t), onRetrieval: (h) => (hits = h) })
  return { result, streamed, hits }
}

/**
 * A model that does what it was told only if it saw the instructions: with the system prompt and
 * the question cut away, it describes "the papers" without citing, as real models do.
 */
const obedientModel: ChatHandler = (_body, request) => {
  const seen = request.seen ?? ''
  if (!seen.includes('You are askpapers') || !seen.includes(`Question: ${QUESTION}`)) {
    return { script: { answer: 'These papers describe several training techniques for neural networks.' } }
  }
  return { script: { answer: 'They train a small number of added or selected parameters while the pretrained weights stay frozen [1].' } }
}

describe("Ollama's context window", () => {
  it('cuts the front of a long prompt sent without num_ctx: the instructions are lost', async () => {
    const stub = await ollamaStub({ chat: obedientModel, contextLength: 131072, defaultNumCtx: 2048 })
    const { hits } = await ask(ollamaProvider(stub))
    const papers = hits.map((h, i) => `[${i + 1}] Title: ${h.title}\n${h.paper.plainAbstract}`).join('\n\n')
    // The same prompt, sent the way a client does that leaves num_ctx to the server.
    const naive = new ChatOllama({ baseUrl: stub.url, model: 'llama3.1:8b', temperature: 0 })
    const reply = await naive.invoke([new SystemMessage('You are askpapers. Cite every claim as [n].'), new HumanMessage(`Question: ${QUESTION}\n\n${papers}`)])
    expect(reply.content).toBe('These papers describe several training techniques for neural networks.')
    expect(stub.requests.at(-1)?.seen).not.toContain('You are askpapers')
  })

  it('sizes num_ctx to the prompt, so the model sees its instructions and cites', async () => {
    const stub = await ollamaStub({ chat: obedientModel, contextLength: 131072, defaultNumCtx: 2048 })
    const { result } = await ask(ollamaProvider(stub))
    const chat = stub.requests.find((r) => r.path === '/api/chat')
    const numCtx = (chat?.body as { options: { num_ctx: number } }).options.num_ctx
    expect(numCtx).toBeGreaterThanOrEqual(4096)
    expect(chat?.seen).toContain('You are askpapers')
    expect(result.answer).toBe('They train a small number of added or selected parameters while the pretrained weights stay frozen [1].')
    expect(result.checks.context).toMatchObject({ windowTokens: 131072, windowSource: 'Ollama /api/show', numCtx, papersInPrompt: K, papersLeftOut: [], passagesOnly: false })
    expect(result.checks.context?.promptTokens).toBeLessThan(numCtx)
    expect(result.checks.notes).toEqual([])
  })

  it("fits k and passages to a small model's window, and says which papers were left out", async () => {
    const stub = await ollamaStub({ chat: obedientModel, contextLength: 2048 })
    const { result, hits } = await ask(ollamaProvider(stub))
    const context = result.checks.context
    expect(context).toMatchObject({ windowTokens: 2048, windowSource: 'Ollama /api/show', numCtx: 2048, passagesOnly: true })
    expect(context?.papersInPrompt).toBeGreaterThanOrEqual(1)
    expect(context?.papersInPrompt).toBeLessThan(K)
    expect(context?.papersLeftOut.map((p) => p.id)).toEqual(hits.slice(context?.papersInPrompt).map((h) => h.id))
    expect(context!.promptTokens + 1024).toBeLessThanOrEqual(2048)
    const left = K - context!.papersInPrompt
    expect(result.checks.notes[0]).toBe(
      `${left} of ${K} retrieved papers were left out of the prompt to fit ollama:llama3.1:8b's context (2048 tokens, Ollama /api/show): ` +
        `${hits.slice(K - left).map((h) => `"${h.title}"`).join('; ')}.`,
    )
    // The model saw everything it was sent, and the papers it was sent are numbered as it saw them.
    const chat = stub.requests.find((r) => r.path === '/api/chat')
    expect(chat?.seen).toContain('You are askpapers')
    expect(chat?.seen).not.toContain(hits.at(-1)!.title)
    expect(result.references.map((r) => r.id)).toEqual([hits[0]!.id])
    expect(formatReferences(result)).toContain(`! ${left} of ${K} retrieved papers were left out of the prompt`)
  })

  it('takes the window from ASKPAPERS_LLM_CONTEXT over what the server reports', async () => {
    const stub = await ollamaStub({ chat: obedientModel, contextLength: 131072 })
    const { result } = await ask(ollamaProvider(stub, 3000))
    expect(result.checks.context).toMatchObject({ windowTokens: 3000, windowSource: 'ASKPAPERS_LLM_CONTEXT', numCtx: 3000 })
    expect(result.checks.context!.promptTokens).toBeLessThanOrEqual(3000 - 1024)
  })

  it('says so when the server still processed its whole window', async () => {
    // A model whose tokenizer counts far more tokens than estimated: the stub reports the prompt as cut.
    const stub = await ollamaStub({ chat: obedientModel, contextLength: 0, defaultNumCtx: 2048 })
    const provider = ollamaProvider(stub)
    const original = provider.stream.bind(provider)
    // Ask for less than the prompt needs, as a too-small configured window would.
    const squeezed: ChatProvider = { ...provider, stream: (m, o) => original({ system: m.system, user: m.user + 'x'.repeat(200_000) }, o) }
    const { result } = await ask(squeezed)
    expect(result.checks.notes.at(-1)).toMatch(/^The model's context was full \(\d+ of 8192 tokens\): the server may have cut the start of the prompt/)
  })
})

const providers: [string, (chat: ChatHandler) => Promise<ChatProvider>][] = [
  ['ollama', async (chat) => ollamaProvider(await ollamaStub({ chat }))],
  [
    'openai',
    async (chat) => {
      const stub = await openaiStub(chat)
      return createChatProvider({ provider: 'openai', apiKey: 'sk-local', baseURL: stub.baseURL, model: 'gpt-4o-mini', timeoutMs: 5_000 })
    },
  ],
]
const play = (script: ChatScript): ChatHandler => () => ({ script })

describe.each(providers)('a local model through %s', (_name, provider) => {
  it('never shows <think>…</think> as the answer, nor reads citations from it', async () => {
    const { result, streamed } = await ask(
      await provider(
        play({ deltas: ['<thi', 'nk>Paper [3] seems off-topic; ', 'I will cite [1].</th', 'ink>\n\nThey freeze the pretrained weights ', 'and train few parameters [1].'] }),
      ),
    )
    expect(result.answer).toBe('They freeze the pretrained weights and train few parameters [1].')
    expect(streamed).toBe(result.answer)
    expect(result.checks.markersTotal).toBe(1)
    expect(result.checks.invalidMarkers).toEqual([])
    expect(result.references).toHaveLength(1)
    expect(result.checks.thinkingChars).toBe('<think>Paper [3] seems off-topic; I will cite [1].</think>'.length)
  })

  it('keeps the separate reasoning field out of the answer', async () => {
    const { result, streamed } = await ask(
      await provider(play({ thinking: ['Paper [3] seems off-topic; ', 'I will cite [2].'], deltas: ['They freeze the pretrained weights [1].'] })),
    )
    expect(result.answer).toBe('They freeze the pretrained weights [1].')
    expect(streamed).toBe(result.answer)
    expect(result.checks.markersTotal).toBe(1)
  })

  it('drops thinking that ends in a bare </think> (the template opened it)', async () => {
    const { result } = await ask(await provider(play({ deltas: ['Paper [3] is off-topic; cite [1].', '</think>', 'They freeze the weights [1].'] })))
    expect(result.answer).toBe('They freeze the weights [1].')
    expect(result.checks.markersTotal).toBe(1)
  })

  it('reports an error sent mid-stream with its message, not as a lost connection', async () => {
    const { result } = await ask(await provider(play({ deltas: ['They freeze the ', 'pretrained weights'], streamError: 'CUDA error: out of memory' })))
    expect(result.checks.truncated).toBe(true)
    expect(result.answer).toBe('They freeze the pretrained weights')
    expect(result.checks.interruption).toMatch(/failed mid-answer: CUDA error: out of memory\. The answer was cut off after 34 characters\.$/)
    const printed = formatReferences(result).replace(/\s+/g, ' ')
    expect(printed).toContain('failed mid-answer: CUDA error: out of memory. The answer was cut off after 34 characters. The answer above is incomplete.')
    expect(printed).not.toMatch(/connection/)
  })

  it('fails with the server’s message when the error comes before any text', async () => {
    const failing = await provider(play({ deltas: [], streamError: 'CUDA error: out of memory' }))
    await expect(ask(failing)).rejects.toMatchObject({ code: 'PROVIDER_UNAVAILABLE', message: expect.stringMatching(/failed: CUDA error: out of memory/) })
  })

  it('rewrites citations in the formats models use instead of [n]', async () => {
    const { result, streamed } = await ask(
      await provider(play({ answer: 'They freeze the pretrained weights (1). Others train a prefix [Paper 2]. Some quantize the delta 【3†source】.' })),
    )
    expect(result.answer).toBe('They freeze the pretrained weights [1]. Others train a prefix [2]. Some quantize the delta [3].')
    expect(streamed).toBe(result.answer)
    expect(result.references.map((r) => r.n)).toEqual([1, 2, 3])
    expect(result.checks.reformattedMarkers).toEqual(['(1)', '[Paper 2]', '【3†source】'])
    expect(formatReferences(result).replace(/\s+/g, ' ')).toContain('! The model cited in its own format ((1) [Paper 2] 【3†source】); rewritten as [n].')
  })

  it('removes a citation to a paper number it was never given', async () => {
    const { result } = await ask(await provider(play({ answer: `They freeze the pretrained weights [1]. Others prune them [${K + 3}].` })))
    expect(result.answer).toBe('They freeze the pretrained weights [1]. Others prune them.')
    expect(result.checks.invalidMarkers).toEqual([`[${K + 3}]`])
  })
})
