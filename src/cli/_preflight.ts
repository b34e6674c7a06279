import { Ollama } from 'ollama'
import type { ChatProvider } from '../answer/index.js'
import type { Config } from '../config.js'
import { rootCause } from '../remote/index.js'

/** How long a start-up check may take: a server that is up answers its model list at once. */
const CHECK_TIMEOUT_MS = 3000

/**
 * Why the configured chat model cannot answer, checked once when a server starts (a request would
 * otherwise be the first to find out), or undefined when it can. Ollama is asked for its local
 * models, so a model that was never pulled is named; other providers get their reachability ping.
 */
export async function chatModelProblem(config: Pick<Config, 'llm' | 'llmModel' | 'ollamaHost'>, provider: ChatProvider | undefined): Promise<string | undefined> {
  if (!provider) return undefined
  if (config.llm !== 'ollama') {
    return (await provider.ping()) ? undefined : `the chat model ${config.llmModel} cannot be reached (${provider.name}): check OPENAI_BASE_URL and OPENAI_API_KEY.`
  }
  const ollama = new Ollama({ host: config.ollamaHost, fetch: (input, init) => fetch(input, { ...init, signal: AbortSignal.timeout(CHECK_TIMEOUT_MS) }) })
  let names: string[]
  try {
    names = (await ollama.list()).models.map((m) => m.name)
  } catch (error) {
    return `Ollama at ${config.ollamaHost} cannot be reached (${reason(error)}): start it with \`ollama serve\`, or point OLLAMA_HOST at it.`
  }
  const model = config.llmModel
  if (names.includes(model) || (!model.includes(':') && names.includes(`${model}:latest`))) return undefined
  return `Ollama at ${config.ollamaHost} has no model "${model}": run \`ollama pull ${model}\`, or pick one it has with --model (${names.length > 0 ? names.join(', ') : 'it has none'}).`
}

function reason(error: unknown): string {
  const timedOut = error instanceof Error && (error.name === 'TimeoutError' || (error.cause as Error | undefined)?.name === 'TimeoutError')
  return timedOut ? `no answer within ${CHECK_TIMEOUT_MS / 1000} s` : rootCause(error)
}
