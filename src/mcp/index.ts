export { createMcpServer, type McpDeps, type McpServerOptions } from './_server.js'
export { mcpHttpHandler, type McpHttpHandler, type McpHttpOptions } from './_http.js'
export { paperJson } from './_format.js'
