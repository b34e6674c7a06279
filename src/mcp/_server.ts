import { McpServer, ResourceTemplate } from '@modelcontextprotocol/sdk/server/mcp.js'
import { ErrorCode, ListResourcesRequestSchema, type CallToolResult } from '@modelcontextprotocol/sdk/types.js'
import { untilAborted } from '../abort.js'
import { toAnswerJson } from '../answer/index.js'
import { checkSearchableQuestion, VERSION } from '../config.js'
import { AppError, isAppError } from '../errors.js'
import type { StoredPaper } from '../index/index.js'
import { buildFilter, toSearchJson, type SearchHit } from '../retrieve/index.js'
import type { Services } from '../services.js'
import { formatAnswer, formatPaper, formatResults, paperJson } from './_format.js'
import { AskInput, AskOutput, PaperInput, PaperOutput, SearchInput, SearchOutput } from './_schemas.js'

/** What the tools run on: the services' search, answers and papers (as the HTTP API holds them). */
export type McpDeps = Pick<Services, 'search' | 'ask' | 'papers'>

export interface McpServerOptions {
  /** The engine pieces, or their promise while the index loads: stdio answers `initialize` at once, tools wait. */
  deps: McpDeps | Promise<McpDeps>
  /** Aborts every tool call in flight (the HTTP request's deadline); a client's cancellation aborts its own call. */
  signal?: AbortSignal
  /** Unexpected errors, with their stack; stderr by default (stdout belongs to the protocol). */
  log?: (line: string) => void
  /** Papers per resources/list page. */
  pageSize?: number
}

const PAPER_URI_TEMPLATE = 'askpapers://paper/{id}'
const paperUri = (id: string): string => `askpapers://paper/${encodeURIComponent(id)}`

const INSTRUCTIONS = [
  'askpapers answers from a collection of research-paper abstracts.',
  'ask_papers: a question answered from the papers, each claim cited [n] with the supporting quote; it says so when the papers do not answer.',
  'search_papers: the papers that bear on a query, with their best passages. get_paper: one paper by id (also the resource askpapers://paper/{id}).',
].join(' ')

const READ_ONLY = { readOnlyHint: true, idempotentHint: true, openWorldHint: false } as const

/** The one MCP server over the engine, for both stdio (`askpapers mcp`) and Streamable HTTP (`/mcp`). */
export function createMcpServer({ deps, signal, log = stderrLine, pageSize = 100 }: McpServerOptions): McpServer {
  const server = new McpServer({ name: 'askpapers', version: VERSION }, { instructions: INSTRUCTIONS })
  const engine = Promise.resolve(deps)
  // A failed load (an index built by another embedder…) is reported by every call, not as an unhandled rejection.
  engine.catch(() => {})

  server.registerTool(
    'search_papers',
    {
      title: 'Search the papers',
      description: 'Find the papers that bear on a query (hybrid keyword + dense search): id, title, score and best passages of each, best first.',
      inputSchema: SearchInput,
      outputSchema: SearchOutput,
      annotations: READ_ONLY,
    },
    ({ query, k, mode, year, sources, ids }, extra) =>
      run(extra.signal, async (aborted) => {
        const text = checkSearchableQuestion(query, 'query')
        const filter = buildFilter({ year, sources, ids }, { year: 'year' })
        const services = await engine
        const { hits } = await untilAborted(services.search(text, { k, mode, filter }), aborted)
        const json = toSearchJson(text, hits)
        return { content: [{ type: 'text', text: formatResults(json) }], structuredContent: { ...json } }
      }),
  )

  server.registerTool(
    'ask_papers',
    {
      title: 'Ask the papers',
      description:
        'Answer a question from the papers only: every claim cites its paper as [n], references list each paper with the sentence that supports it. When the papers do not answer, it abstains (abstained: true) and lists the closest papers.',
      inputSchema: AskInput,
      outputSchema: AskOutput,
      annotations: READ_ONLY,
    },
    ({ question, k, year, sources, ids }, extra) => {
      let found: SearchHit[] | undefined
      return run(
        extra.signal,
        async (aborted) => {
          const text = checkSearchableQuestion(question, 'question')
          const filter = buildFilter({ year, sources, ids }, { year: 'year' })
          const services = await engine
          const result = await untilAborted(services.ask(text, { signal: aborted, filter, onRetrieval: (hits) => (found = hits), ...(k ? { k } : {}) }), aborted)
          const json = toAnswerJson(result)
          return { content: [{ type: 'text', text: formatAnswer(json) }], structuredContent: { ...json } }
        },
        () => found,
      )
    },
  )

  server.registerTool(
    'get_paper',
    {
      title: 'Get a paper',
      description: 'One paper by id: title, abstract, authors, date and URL where known, and the files it was read from.',
      inputSchema: PaperInput,
      outputSchema: PaperOutput,
      annotations: READ_ONLY,
    },
    ({ id }, extra) =>
      run(extra.signal, async () => {
        const record = paperRecord((await engine).papers, id)
        return { content: [{ type: 'text', text: formatPaper(record) }], structuredContent: { ...record } }
      }),
  )

  server.registerResource(
    'paper',
    new ResourceTemplate(PAPER_URI_TEMPLATE, {
      // resources/list is answered below, page by page.
      list: undefined,
      complete: {
        id: async (prefix) => {
          const ids: string[] = []
          for (const id of (await engine).papers.keys()) if (id.startsWith(prefix) && ids.push(id) >= 100) break
          return ids
        },
      },
    }),
    { title: 'A paper', description: 'A paper of the collection, as Markdown: title, authors, date, URL, abstract.', mimeType: 'text/markdown' },
    async (uri, variables) => {
      const id = decodeURIComponent(String(variables.id ?? ''))
      const papers = (await engine).papers
      if (!papers.has(id)) throw rpcError(RESOURCE_NOT_FOUND, notFound(id), { uri: uri.href })
      return { contents: [{ uri: uri.href, mimeType: 'text/markdown', text: formatPaper(paperRecord(papers, id)) }] }
    },
  )

  // McpServer hands a template's `list` callback no cursor, and a corpus may hold 200 k papers: so
  // resources/list is answered here, pageSize papers at a time, the cursor being the next offset.
  server.server.setRequestHandler(ListResourcesRequestSchema, async (request) => {
    const { papers } = await engine
    const start = parseCursor(request.params?.cursor, papers.size)
    const resources: { uri: string; name: string; title: string; mimeType: string }[] = []
    let i = 0
    for (const paper of papers.values()) {
      if (i++ < start) continue
      resources.push({ uri: paperUri(paper.id), name: paper.id, title: paper.title, mimeType: 'text/markdown' })
      if (resources.length === pageSize) break
    }
    const next = start + resources.length
    return { resources, ...(next < papers.size ? { nextCursor: Buffer.from(String(next)).toString('base64url') } : {}) }
  })

  /**
   * Runs one tool call; a failure becomes a tool result with isError and the message the CLI and the
   * HTTP API give, so the agent reads it and the server goes on. Past retrieval, it names the papers found.
   */
  async function run(clientSignal: AbortSignal, work: (signal: AbortSignal) => Promise<CallToolResult>, found: () => SearchHit[] | undefined = () => undefined): Promise<CallToolResult> {
    const aborted = signal ? AbortSignal.any([clientSignal, signal]) : clientSignal
    try {
      return await work(aborted)
    } catch (error) {
      const message = aborted.aborted ? abortMessage(aborted.reason) : isAppError(error) ? error.message : unexpected(error)
      const hits = found()
      const papers = hits && hits.length > 0 ? `\n\nPapers found before it failed:\n${hits.map((h) => `- ${h.title} (id ${h.id})`).join('\n')}` : ''
      return { content: [{ type: 'text', text: message + papers }], isError: true }
    }
  }

  function unexpected(error: unknown): string {
    log(`mcp: unexpected error: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`)
    return 'Unexpected server error; the server log has the details.'
  }

  return server
}

/** JSON-RPC code for an unknown resource (MCP specification, "Resources": error handling). */
const RESOURCE_NOT_FOUND = -32002

/** A JSON-RPC error the SDK sends as is (McpError would prefix its message with "MCP error <code>: ", which the client then prefixes again). */
function rpcError(code: number, message: string, data?: unknown): Error {
  return Object.assign(new Error(message), { code, ...(data === undefined ? {} : { data }) })
}

/** The record GET /v1/papers/{id} returns. */
function paperRecord(papers: ReadonlyMap<string, StoredPaper>, id: string): ReturnType<typeof paperJson> {
  const paper = papers.get(id)
  if (!paper) throw new AppError('NOT_FOUND', notFound(id), { field: 'id' })
  return paperJson(paper)
}

const notFound = (id: string): string => `No paper with id "${id}" in the index.`

function parseCursor(cursor: string | undefined, size: number): number {
  if (cursor === undefined) return 0
  const offset = Number(Buffer.from(cursor, 'base64url').toString())
  if (!Number.isInteger(offset) || offset < 0 || offset > size) throw rpcError(ErrorCode.InvalidParams, 'Unknown cursor: list the resources again without one.')
  return offset
}

/** Why a call stopped: the deadline's own error (a 504's message), or the client's cancellation. */
function abortMessage(reason: unknown): string {
  if (reason instanceof Error && reason.name !== 'AbortError') return reason.message
  return typeof reason === 'string' && reason ? `Cancelled: ${reason}` : 'The request was cancelled.'
}

const stderrLine = (line: string): void => void process.stderr.write(`${line}\n`)
