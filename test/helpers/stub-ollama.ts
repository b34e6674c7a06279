import { createServer, type IncomingHttpHeaders, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { setTimeout as sleep } from 'node:timers/promises'

/**
 * A local stand-in for an Ollama server that speaks its real HTTP API on 127.0.0.1, so tests
 * drive the real client libraries (ollama-js via @langchain/ollama) without a model.
 *
 *   const ollama = await startStubOllama()            // knows `nomic-embed-text` and `llama3.1:8b`
 *   ... createEmbedder({ provider: 'ollama', host: ollama.url, model: 'nomic-embed-text' })
 *   expect(ollama.requests[0]).toMatchObject({ path: '/api/embed', body: { model: 'nomic-embed-text' } })
 *   await ollama.close()
 *
 * `embed` replaces the default handler of `POST /api/embed`. `POST /api/chat` answers 404 for a
 * model not in `chatModels`, as Ollama does; otherwise `chat` decides, usually with a script that
 * the stub streams as NDJSON (or sends whole for `stream: false`):
 *
 *   const ollama = await startStubOllama({ chat: scriptedReply({ deltas: ['LoRA cuts memory [1', '].'] }) })
 *   const ollama = await startStubOllama({ chat: scriptedReply({ deltas, delayMs: 50 }) })   // slow
 *   const ollama = await startStubOllama({ chat: scriptedReply({ deltas, cutAfter: 2 }) })   // dropped
 *   const ollama = await startStubOllama({ chat: scriptedReply({ hang: true }) })            // never answers
 *   const ollama = await startStubOllama({ chatModels: [] })                                 // 404, pull it
 *
 * `GET /api/version` and `GET /api/tags` answer as Ollama does (for reachability checks);
 * `POST /api/show` reports each chat model's `contextLength` in `model_info`, as Ollama does.
 *
 * Like Ollama, the stub runs each chat request in a context of `options.num_ctx` tokens (default
 * `defaultNumCtx`, 2048 as in Ollama before 0.6) and silently drops the front of a longer prompt:
 * `request.seen` is the prompt as the "model" got it, so a handler can answer as a model that lost
 * its instructions would. A stub token is 4 characters (real tokenizers: ~4 for English).
 *
 *   const ollama = await startStubOllama({ chat: (body, request) => request.seen?.includes('cite') ? … : … })
 */
export interface RecordedRequest {
  method: string
  path: string
  headers: IncomingHttpHeaders
  /** Parsed JSON (or the raw text when it is not JSON). */
  body: unknown
  /**
   * The client closed the connection before the reply was complete (it gave up, timed out or was
   * cancelled); set when that happens, so poll it (`vi.waitFor`). A cut scripted by `cutAfter` is
   * the server's doing and does not count.
   */
  clientClosed: boolean
  /** Chat requests: the prompt (messages' contents joined by newlines) after the context window cut its front. */
  seen?: string
  /** Chat requests: the context size the request ran with, in stub tokens. */
  numCtx?: number
}

export interface StubReply {
  status?: number
  body: unknown
  /** Milliseconds to wait before answering (for timeouts). */
  delayMs?: number
}

/** A reply that writes the response itself: streams, dropped connections, silence. */
export interface StreamedReply {
  respond(res: ServerResponse): void | Promise<void>
}

export type StubHandler = (
  body: Record<string, unknown>,
  request: RecordedRequest,
) => StubReply | StreamedReply | Promise<StubReply | StreamedReply>

/**
 * What the model "says" and how the server delivers it. The same script plays in either
 * server's wire format (Ollama NDJSON, OpenAI server-sent events).
 */
export interface ChatScript {
  /** The reply's text pieces, streamed one per chunk, in order. */
  deltas?: string[]
  /** The whole reply, split into one delta per word (with its trailing space); ignored with `deltas`. */
  answer?: string
  /** Milliseconds to wait before each delta: a slow model (to cancel midway). */
  delayMs?: number
  /** Send this many deltas, then wait for `resume` before the rest: a test sees the stream midway whatever the load. */
  pauseAfter?: number
  resume?: Promise<unknown>
  /** Destroy the connection after this many deltas: a crashed server or a dropped network. */
  cutAfter?: number
  /** Send this many deltas, then nothing more, ever: a model that hangs midway (0: headers only). */
  stallAfter?: number
  /** Accept the request and never send a byte: a server stuck loading the model. */
  hang?: boolean
  /**
   * Reasoning sent before the answer in the server's separate field (Ollama's `message.thinking`,
   * an OpenAI-compatible server's `delta.reasoning_content`), one piece per chunk.
   */
  thinking?: string[]
  /** After the deltas, an error line inside the 200 stream instead of a clean end (Ollama: `{"error": "…"}`). */
  streamError?: string
}

/** A chat handler returns a script, or a plain reply (`{ status: 500, body: ... }`). */
export type ChatReply = StubReply | StreamedReply | { script: ChatScript }
export type ChatHandler = (body: Record<string, unknown>, request: RecordedRequest) => ChatReply | Promise<ChatReply>

/** Every chat request gets this script; a string is the whole answer, one delta per word. */
export function scriptedReply(script: ChatScript | string): ChatHandler {
  const playable = typeof script === 'string' ? { answer: script } : script
  return () => ({ script: playable })
}

/** The n-th chat request gets the n-th script; the last one repeats (e.g. condense, then answer). */
export function scriptedReplies(...scripts: Array<ChatScript | string>): ChatHandler {
  let next = 0
  return (body, request) => {
    const script = scripts[Math.min(next++, scripts.length - 1)]
    if (script === undefined) throw new Error('scriptedReplies needs at least one script')
    return scriptedReply(script)(body, request)
  }
}

export interface StubServer {
  /** e.g. http://127.0.0.1:40123 (no trailing slash) */
  url: string
  requests: RecordedRequest[]
  close(): Promise<void>
}

export interface StubOllamaOptions {
  /** Embedding models the server has pulled; others answer 404 as Ollama does. */
  models?: string[]
  /** Chat models the server has pulled; `POST /api/chat` for others answers 404 as Ollama does. */
  chatModels?: string[]
  /** Length of the default handler's vectors. */
  dimensions?: number
  embed?: StubHandler
  /** Without one, chat requests for a pulled model answer 501. */
  chat?: ChatHandler
  /** The chat models' trained context length, reported by /api/show (0: not reported). */
  contextLength?: number
  /** The context a chat request runs with when it sends no `options.num_ctx`. */
  defaultNumCtx?: number
}

/** Characters per stub token. */
export const STUB_TOKEN_CHARS = 4

export function startStubOllama({
  models = ['nomic-embed-text'],
  chatModels = ['llama3.1:8b'],
  dimensions = 8,
  embed,
  chat,
  contextLength = 131072,
  defaultNumCtx = 2048,
}: StubOllamaOptions = {}): Promise<StubServer> {
  const missing = (model: unknown): StubReply => ({ status: 404, body: { error: `model "${String(model)}" not found, try pulling it first` } })
  const routes: Record<string, StubHandler> = {
    'POST /api/embed':
      embed ??
      ((body) => {
        if (!models.includes(String(body.model))) return missing(body.model)
        const input = Array.isArray(body.input) ? body.input.map(String) : [String(body.input)]
        return {
          body: {
            model: body.model,
            embeddings: input.map((text) => fakeEmbedding(text, dimensions)),
            total_duration: 1_000_000,
            load_duration: 1_000,
            prompt_eval_count: input.length,
          },
        }
      }),
    'POST /api/chat': async (body, request) => {
      if (!chatModels.includes(String(body.model))) return missing(body.model)
      const numCtx = Number((body.options as { num_ctx?: unknown } | undefined)?.num_ctx ?? defaultNumCtx)
      const prompt = promptText(body)
      request.numCtx = numCtx
      // What Ollama does with an over-long prompt: keeps its end, drops the front without a word.
      request.seen = prompt.length > numCtx * STUB_TOKEN_CHARS ? prompt.slice(prompt.length - numCtx * STUB_TOKEN_CHARS) : prompt
      const reply = chat ? await chat(body, request) : { status: 501, body: { error: 'the stub has no chat handler' } }
      return 'script' in reply ? playScript(reply.script, body.stream !== false, ollamaWire(body, defaultNumCtx)) : reply
    },
    'GET /api/version': () => ({ body: { version: '0.12.0' } }),
    'POST /api/show': (body) => {
      const name = String(body.model ?? body.name)
      if (!chatModels.includes(name) && !models.includes(name)) return missing(name)
      return {
        body: {
          modelfile: `FROM ${name}`,
          parameters: 'stop "<|eot_id|>"',
          template: '{{ .Prompt }}',
          details: { format: 'gguf', family: 'llama', parameter_size: '8.0B', quantization_level: 'Q4_K_M' },
          model_info: {
            'general.architecture': 'llama',
            'general.parameter_count': 8030261248,
            ...(contextLength ? { 'llama.context_length': contextLength } : {}),
            'llama.embedding_length': 4096,
          },
          capabilities: ['completion'],
        },
      }
    },
    'GET /api/tags': () => ({
      body: {
        models: [...models, ...chatModels].map((name) => ({
          name,
          model: name,
          modified_at: '2026-01-01T00:00:00Z',
          size: 1_000_000,
          digest: 'stub',
          details: { format: 'gguf', family: 'stub', parameter_size: '1B', quantization_level: 'Q4_0' },
        })),
      },
    }),
  }
  return listen((request) => routes[`${request.method} ${request.path}`], { status: 404, body: '404 page not found' })
}

/** Ollama's `/api/chat`: NDJSON lines with a message delta each, then a `done` line with counts. */
function ollamaWire(request: Record<string, unknown>, defaultNumCtx: number): WireFormat {
  const model = String(request.model)
  const line = (content: string, done: boolean, extra: Record<string, unknown> = {}): Record<string, unknown> => ({
    model,
    created_at: new Date().toISOString(),
    message: { role: 'assistant', content },
    done,
    ...extra,
  })
  const counts = (deltas: number): Record<string, unknown> => ({
    done_reason: 'stop',
    total_duration: 1_000_000 * (deltas + 1),
    load_duration: 1_000,
    prompt_eval_count: promptTokens(request, Number((request.options as { num_ctx?: unknown } | undefined)?.num_ctx ?? defaultNumCtx)),
    prompt_eval_duration: 1_000_000,
    eval_count: deltas,
    eval_duration: 1_000_000 * deltas,
  })
  return {
    streamType: 'application/x-ndjson',
    delta: (text) => `${JSON.stringify(line(text, false))}\n`,
    thinking: (text) => `${JSON.stringify({ ...line('', false), message: { role: 'assistant', content: '', thinking: text } })}\n`,
    error: (message) => `${JSON.stringify({ error: message })}\n`,
    finish: (_answer, deltas) => `${JSON.stringify(line('', true, counts(deltas)))}\n`,
    whole: (answer, deltas) => line(answer, true, counts(deltas)),
  }
}

/** How a server frames a scripted reply. */
export interface WireFormat {
  /** Content type of a streamed reply. */
  streamType: string
  /** Written right after the headers of a streamed reply. */
  open?: string
  /** One streamed delta. */
  delta(text: string): string
  /** One streamed piece of reasoning, in the server's separate field. */
  thinking(text: string): string
  /** An error reported inside the stream, which then ends. */
  error(message: string): string
  /** What ends a complete streamed reply. */
  finish(answer: string, deltas: number): string
  /** The JSON body of a non-streamed reply. */
  whole(answer: string, deltas: number): unknown
}

/** Plays a script in a server's wire format, streamed or whole. */
export function playScript(script: ChatScript, streamed: boolean, wire: WireFormat): StreamedReply {
  const deltas = script.deltas ?? script.answer?.match(/\s*\S+\s*/g) ?? []
  const answer = deltas.join('')
  const { delayMs = 0, cutAfter, stallAfter, hang = false } = script
  const cutAt = cutAfter === undefined ? Infinity : Math.min(cutAfter, deltas.length)
  const stallAt = stallAfter === undefined ? Infinity : Math.min(stallAfter, deltas.length)
  const ending = cutAt !== Infinity && cutAt <= stallAt ? 'cut' : stallAt !== Infinity ? 'stall' : 'finish'
  const sent = deltas.slice(0, Math.min(cutAt, stallAt))
  return {
    async respond(res) {
      if (hang) return
      if (!streamed) {
        // A whole reply comes only once the model has finished, so a cut or stall means no reply at all.
        await sleep(delayMs * sent.length)
        if (res.destroyed || ending === 'stall') return
        if (ending === 'cut') return cut(res)
        res.writeHead(200, { 'content-type': 'application/json; charset=utf-8' })
        res.end(JSON.stringify(wire.whole(answer, deltas.length)))
        return
      }
      res.writeHead(200, { 'content-type': wire.streamType })
      res.flushHeaders()
      if (wire.open) await write(res, wire.open)
      for (const piece of script.thinking ?? []) {
        if (res.destroyed) return
        await write(res, wire.thinking(piece))
      }
      for (const [i, delta] of sent.entries()) {
        if (i === script.pauseAfter) await script.resume
        if (delayMs) await sleep(delayMs)
        if (res.destroyed) return
        await write(res, wire.delta(delta))
      }
      if (res.destroyed || ending === 'stall') return
      if (ending === 'cut') return cut(res)
      if (script.streamError !== undefined) return void res.end(wire.error(script.streamError))
      res.end(wire.finish(answer, deltas.length))
    },
  }
}

/** A chat request's messages' contents, joined by newlines. */
export function promptText(request: Record<string, unknown>): string {
  const messages = Array.isArray(request.messages) ? request.messages : []
  return messages.map((message) => String((message as { content?: unknown }).content ?? '')).join('\n')
}

/** Token count of a chat request's prompt as the stub counts (capped by its context for Ollama), for the usage numbers servers report. */
export function promptTokens(request: Record<string, unknown>, numCtx = Infinity): number {
  return Math.min(Math.ceil(promptText(request).length / STUB_TOKEN_CHARS), numCtx)
}

/** Destroys the connection mid-reply, as a crashed server does (not counted as `clientClosed`). */
function cut(res: ServerResponse): void {
  cutByServer.add(res)
  res.destroy()
}

/** Resolves once the frame has left for the socket, so a cut that follows does not swallow it. */
function write(res: ServerResponse, frame: string): Promise<void> {
  return new Promise((resolve) => {
    if (res.destroyed) return resolve()
    res.write(frame, () => resolve())
  })
}

const cutByServer = new WeakSet<ServerResponse>()

/**
 * A deterministic vector for a text, deliberately not unit length (so tests see normalisation).
 * Different texts get different directions.
 */
export function fakeEmbedding(text: string, dimensions: number): number[] {
  let hash = 2166136261
  for (const char of text) hash = Math.imul(hash ^ (char.codePointAt(0) ?? 0), 16777619)
  return Array.from({ length: dimensions }, (_, i) => {
    const h = Math.imul(hash ^ (i + 1), 2654435761) >>> 0
    return ((h % 2001) - 1000) / 250
  })
}

/** A URL on 127.0.0.1 where nothing listens: connecting is refused at once. */
export async function refusedUrl(): Promise<string> {
  const stub = await listen(() => undefined, { status: 404, body: '' })
  await stub.close()
  return stub.url
}

export async function listen(route: (request: RecordedRequest) => StubHandler | undefined, notFound: StubReply): Promise<StubServer> {
  const requests: RecordedRequest[] = []
  const server = createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (chunk: Buffer) => chunks.push(chunk))
    req.on('end', () => {
      const text = Buffer.concat(chunks).toString('utf8')
      let body: unknown = text
      try {
        body = text ? JSON.parse(text) : undefined
      } catch {
        // keep the raw text
      }
      const recorded: RecordedRequest = {
        method: req.method ?? '',
        path: (req.url ?? '').split('?')[0] ?? '',
        headers: req.headers,
        body,
        clientClosed: false,
      }
      requests.push(recorded)
      res.on('close', () => {
        if (!res.writableFinished && !cutByServer.has(res)) recorded.clientClosed = true
      })
      const handler = route(recorded)
      const object = typeof body === 'object' && body !== null ? (body as Record<string, unknown>) : {}
      Promise.resolve(handler ? handler(object, recorded) : notFound).then(
        async (reply) => {
          if ('respond' in reply) return Promise.resolve(reply.respond(res)).catch(() => res.destroy())
          if (reply.delayMs) await new Promise((resolve) => setTimeout(resolve, reply.delayMs))
          if (res.destroyed) return
          const isText = typeof reply.body === 'string'
          res.writeHead(reply.status ?? 200, { 'content-type': isText ? 'text/plain; charset=utf-8' : 'application/json; charset=utf-8' })
          res.end(isText ? reply.body : JSON.stringify(reply.body))
        },
        (error: unknown) => {
          res.writeHead(500, { 'content-type': 'application/json' })
          res.end(JSON.stringify({ error: String(error) }))
        },
      )
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
      }),
  }
}
