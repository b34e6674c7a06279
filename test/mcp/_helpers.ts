import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Client } from '@modelcontextprotocol/sdk/client/index.js'
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js'
import { loadConfig } from '../../src/config.js'
import { Engine } from '../../src/engine.js'
import { scriptedReply, startStubOllama, type StubServer } from '../helpers/stub-ollama.js'

export const BIN = join(import.meta.dirname, '../../bin/askpapers.js')

export const PAPERS = [
  {
    id: 'lora',
    title: 'LoRA: Low-Rank Adaptation of Large Language Models',
    url: 'https://arxiv.org/abs/2106.09685',
    authors: ['Edward J. Hu', 'Yelong Shen'],
    date: 'Jun 17, 2021',
    abstract:
      'We freeze the pretrained model weights and inject trainable rank decomposition matrices into each layer. LoRA reduces the number of trainable parameters by 10,000 times and the GPU memory requirement by 3 times.',
  },
  {
    id: 'scaling',
    title: 'Scaling Laws for Neural Language Models',
    abstract: 'Loss scales as a power law with model size, dataset size and the compute used for training. Larger models are more sample-efficient.',
  },
  {
    id: 'length',
    title: 'Length Generalization in Transformers',
    abstract: 'Transformers fail to extrapolate to inputs longer than those seen in training. We find that position encodings decide length extrapolation.',
  },
  {
    // An old-style arXiv id: a slash, which the resource URI must carry encoded.
    id: 'cs/9901001',
    title: 'Decision Trees for Spam Filtering',
    abstract: 'We filter unsolicited e-mail with decision trees over word features. Pruned trees keep precision above 95 percent.',
  },
]

/** The stub model's reply (with --llm ollama): slow enough for a short request timeout to cut it. */
export const LLM_DELTAS = ['LoRA cuts GPU memory by 3 times [1]', '.']
export const LLM_DELAY_MS = 500

/** A small real index, built with the stub Ollama embedder, which the askpapers processes under test share. */
export interface Fixture {
  ollama: StubServer
  dir: string
  /** The environment `askpapers` runs with: the stub embedder and this index. */
  env: Record<string, string>
  engine: Engine
  close(): Promise<void>
}

export async function buildFixture(): Promise<Fixture> {
  const ollama = await startStubOllama({ dimensions: 32, chat: scriptedReply({ deltas: LLM_DELTAS, delayMs: LLM_DELAY_MS }) })
  const dir = await mkdtemp(join(tmpdir(), 'askpapers-mcp-'))
  await writeFile(join(dir, 'papers.jsonl'), `${PAPERS.map((p) => JSON.stringify(p)).join('\n')}\n`)
  const env = { ASKPAPERS_EMBEDDER: 'ollama', OLLAMA_HOST: ollama.url, ASKPAPERS_DATA_DIR: join(dir, 'data') }
  const engine = await Engine.open(loadConfig(env))
  await engine.ingest([join(dir, 'papers.jsonl')])
  return {
    ollama,
    dir,
    env,
    engine,
    close: async () => {
      await engine.close()
      await ollama.close()
      await rm(dir, { recursive: true, force: true })
    },
  }
}

/** The SDK's own client, connected to `askpapers mcp …` run as a process (the built CLI). */
export async function connectStdio(args: string[], env: Record<string, string>): Promise<{ client: Client; transport: StdioClientTransport; stderr: () => string; errors: Error[] }> {
  const transport = new StdioClientTransport({
    command: process.execPath,
    args: [BIN, 'mcp', ...args],
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', NO_COLOR: '1', ...env },
    stderr: 'pipe',
  })
  let stderr = ''
  transport.stderr?.on('data', (d: Buffer) => (stderr += d.toString()))
  const client = new Client({ name: 'askpapers-test', version: '0.0.0' })
  const errors: Error[] = []
  client.onerror = (error) => errors.push(error)
  await client.connect(transport)
  return { client, transport, stderr: () => stderr, errors }
}

/** The text of a tool result's (single) text block. */
export function textOf(result: unknown): string {
  const content = ((result as { content?: unknown }).content ?? []) as { type: string; text?: string }[]
  return content.map((c) => (c.type === 'text' ? (c.text ?? '') : '')).join('\n')
}
