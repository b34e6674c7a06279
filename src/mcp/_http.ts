import { WebStandardStreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/webStandardStreamableHttp.js'
import { createMcpServer, type McpServerOptions } from './_server.js'

export interface McpHttpOptions extends Omit<McpServerOptions, 'signal'> {
  /** A POST body over this is answered 413 before it is parsed. */
  maxBodyBytes?: number
}

/** Answers one HTTP request to /mcp (the request's deadline, when given, aborts its tool calls). */
export type McpHttpHandler = (request: Request, options?: { signal?: AbortSignal }) => Promise<Response>

/**
 * The MCP server over Streamable HTTP, on web-standard Request/Response (what Hono hands a route).
 *
 * Stateless, as the SDK recommends for a server that only answers requests: every tool and resource
 * is a pure function of the index, the server never calls the client back (no sampling, elicitation
 * or subscriptions), so a session would hold nothing but memory to expire. A fresh McpServer and
 * transport per POST (the SDK forbids reusing a stateless transport: request ids of two clients
 * would collide) costs a few objects. Replies are plain JSON rather than an SSE stream, since no
 * call sends progress before its result. With no session, there is no stream to GET nor session to
 * DELETE: both are 405, which Streamable HTTP clients take to mean exactly that.
 */
export function mcpHttpHandler({ maxBodyBytes = 64 * 1024, ...options }: McpHttpOptions): McpHttpHandler {
  return async (request, { signal } = {}) => {
    if (request.method !== 'POST') return methodNotAllowed()
    const server = createMcpServer({ ...options, ...(signal ? { signal } : {}) })
    const transport = new WebStandardStreamableHTTPServerTransport({ sessionIdGenerator: undefined, enableJsonResponse: true, maxRequestBodySize: maxBodyBytes })
    await server.connect(transport)
    try {
      return await transport.handleRequest(request)
    } finally {
      await server.close()
    }
  }
}

function methodNotAllowed(): Response {
  const body = { jsonrpc: '2.0', error: { code: -32000, message: 'Method not allowed: this MCP endpoint is stateless; send JSON-RPC messages with POST.' }, id: null }
  return new Response(JSON.stringify(body), { status: 405, headers: { 'Content-Type': 'application/json', Allow: 'POST' } })
}
