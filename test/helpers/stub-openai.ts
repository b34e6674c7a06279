import {
  fakeEmbedding,
  listen,
  playScript,
  promptTokens,
  type ChatHandler,
  type StubHandler,
  type StubReply,
  type StubServer,
  type WireFormat,
} from './stub-ollama.js'

export {
  fakeEmbedding,
  refusedUrl,
  scriptedReplies,
  scriptedReply,
  type ChatHandler,
  type ChatScript,
  type RecordedRequest,
  type StubHandler,
  type StubReply,
} from './stub-ollama.js'

/**
 * A local stand-in for an OpenAI-compatible server on 127.0.0.1, speaking the real HTTP API so
 * tests drive the real `openai` client (via @langchain/openai):
 *
 *   const api = await startStubOpenAI({ apiKey: 'sk-test' })
 *   ... createEmbedder({ provider: 'openai', apiKey: 'sk-test', baseURL: api.baseURL, model: 'text-embedding-3-small' })
 *
 * Requests without `Authorization: Bearer <apiKey>` get OpenAI's 401; unknown models its 404.
 * `embeddings` replaces the default handler of `POST /v1/embeddings` (after the key check).
 * `POST /v1/chat/completions` answers 404 `model_not_found` for a model not in `chatModels`;
 * otherwise `chat` decides, usually with a script (the same `ChatScript` as the Ollama stub's)
 * that the stub streams as server-sent events for `stream: true`, or sends whole:
 *
 *   const api = await startStubOpenAI({ chat: scriptedReply({ deltas: ['LoRA cuts memory [1', '].'] }) })
 *
 * `GET /v1/models` lists `models` and `chatModels` (after the key check).
 */
export interface StubOpenAIOptions {
  apiKey?: string
  /** Embedding models. */
  models?: string[]
  /** Chat models; `POST /v1/chat/completions` for others answers 404 `model_not_found`. */
  chatModels?: string[]
  /** Length of the default handler's vectors when the request names no `dimensions`. */
  dimensions?: number
  embeddings?: StubHandler
  /** Without one, chat requests for a known model answer 501. */
  chat?: ChatHandler
}

export interface StubOpenAI extends StubServer {
  /** `${url}/v1`, what clients take as baseURL. */
  baseURL: string
}

export async function startStubOpenAI({
  apiKey = 'sk-test',
  models = ['text-embedding-3-small'],
  chatModels = ['gpt-4o-mini'],
  dimensions = 8,
  embeddings,
  chat,
}: StubOpenAIOptions = {}): Promise<StubOpenAI> {
  const error = (status: number, message: string, code: string | null, type = 'invalid_request_error'): StubReply => ({
    status,
    body: { error: { message, type, param: null, code } },
  })
  const missing = (model: unknown): StubReply =>
    error(404, `The model \`${String(model)}\` does not exist or you do not have access to it.`, 'model_not_found')
  const authorised =
    (handler: StubHandler): StubHandler =>
    (body, request) =>
      request.headers.authorization === `Bearer ${apiKey}`
        ? handler(body, request)
        : error(401, 'Incorrect API key provided. You can find your API key at https://platform.openai.com/account/api-keys.', 'invalid_api_key')

  let completions = 0
  const routes: Record<string, StubHandler> = {
    'POST /v1/embeddings': authorised(
      embeddings ??
        ((body) => {
          if (!models.includes(String(body.model))) return missing(body.model)
          const input = Array.isArray(body.input) ? body.input.map(String) : [String(body.input)]
          const size = typeof body.dimensions === 'number' ? body.dimensions : dimensions
          // The openai client asks for base64 (little-endian float32) unless told otherwise.
          const encode = (vector: number[]): number[] | string =>
            body.encoding_format === 'base64' ? Buffer.from(new Float32Array(vector).buffer).toString('base64') : vector
          return {
            body: {
              object: 'list',
              data: input.map((text, index) => ({ object: 'embedding', index, embedding: encode(fakeEmbedding(text, size)) })),
              model: body.model,
              usage: { prompt_tokens: input.length, total_tokens: input.length },
            },
          }
        }),
    ),
    'POST /v1/chat/completions': authorised(async (body, request) => {
      if (!chatModels.includes(String(body.model))) return missing(body.model)
      const reply = chat ? await chat(body, request) : error(501, 'the stub has no chat handler', null)
      return 'script' in reply ? playScript(reply.script, body.stream === true, openAIWire(body, ++completions)) : reply
    }),
    'GET /v1/models': authorised(() => ({
      body: { object: 'list', data: [...models, ...chatModels].map((id) => ({ id, object: 'model', created: 1_700_000_000, owned_by: 'stub' })) },
    })),
  }
  const server = await listen(
    (request) => routes[`${request.method} ${request.path}`],
    error(404, 'Invalid URL', null),
  )
  return { ...server, baseURL: `${server.url}/v1` }
}

/**
 * OpenAI's chat completions: `chat.completion.chunk` events (a role-only first delta, one per
 * text delta, a `finish_reason: "stop"` one, a usage one when asked for), then `data: [DONE]`.
 */
function openAIWire(request: Record<string, unknown>, serial: number): WireFormat {
  const id = `chatcmpl-stub${serial}`
  const created = Math.floor(Date.now() / 1000)
  const model = String(request.model)
  const withUsage = (request.stream_options as { include_usage?: unknown } | undefined)?.include_usage === true
  const usage = (deltas: number): Record<string, number> => {
    const prompt = promptTokens(request)
    return { prompt_tokens: prompt, completion_tokens: deltas, total_tokens: prompt + deltas }
  }
  const event = (choices: unknown[], extra: Record<string, unknown> = {}): string =>
    `data: ${JSON.stringify({ id, object: 'chat.completion.chunk', created, model, system_fingerprint: 'fp_stub', choices, ...(withUsage ? { usage: null } : {}), ...extra })}\n\n`
  const choice = (delta: Record<string, unknown>, finishReason: string | null): Record<string, unknown> => ({
    index: 0,
    delta,
    logprobs: null,
    finish_reason: finishReason,
  })
  return {
    streamType: 'text/event-stream; charset=utf-8',
    open: event([choice({ role: 'assistant', content: '', refusal: null }, null)]),
    delta: (text) => event([choice({ content: text }, null)]),
    thinking: (text) => event([choice({ reasoning_content: text }, null)]),
    // What OpenAI-compatible servers (vLLM, LiteLLM…) send when generation fails after the headers.
    error: (message) => `data: ${JSON.stringify({ error: { message, type: 'server_error', param: null, code: null } })}\n\n`,
    finish: (_answer, deltas) => `${event([choice({}, 'stop')])}${withUsage ? event([], { usage: usage(deltas) }) : ''}data: [DONE]\n\n`,
    whole: (answer, deltas) => ({
      id,
      object: 'chat.completion',
      created,
      model,
      choices: [{ index: 0, message: { role: 'assistant', content: answer, refusal: null, annotations: [] }, logprobs: null, finish_reason: 'stop' }],
      usage: usage(deltas),
      system_fingerprint: 'fp_stub',
    }),
  }
}
