import { AppError } from '../errors.js'
import { defineCommand } from 'citty'
import { embedderConfig, loadConfig, type Config } from '../config.js'
import { DEFAULT_CHUNKING, repairIndex } from '../index/index.js'
import { createEmbedder, type Embedder, type EmbedderInfo } from '../index/embedders/index.js'
import { sanitize } from './_terminal.js'
import { indexArgs, ingestProgress, lockOptions, printJson, warnInertModels, writeArgs } from './_shared.js'

export const repair = defineCommand({
  meta: { name: 'repair', description: 'Rebuild a damaged index from whatever is intact (records, vectors whose checksum holds); re-embeds only the rest' },
  args: {
    ...indexArgs,
    ...writeArgs,
    json: { type: 'boolean', description: 'Print one summary object' },
  },
  async run({ args }) {
    const config = loadConfig(process.env, { dataDir: args['data-dir'], embedder: args.embedder, embedModel: args['embed-model'] })
    if (args.store !== undefined) {
      throw new AppError('BAD_INPUT', 'repair mends an embedded index (--data-dir); a PostgreSQL corpus commits atomically and needs no repair.', { field: 'store' })
    }
    warnInertModels(config, args)
    const progress = ingestProgress('Re-embedding')
    let embedder: Embedder | undefined
    try {
      const report = await repairIndex(config.dataDir, {
        ...lockOptions(args),
        chunking: { ...DEFAULT_CHUNKING, size: config.chunkSize },
        // Re-embed with the embedder the index was built with (its host and key from the configuration).
        embedder: async (recorded) => (embedder = await createEmbedder(embedderConfig(recorded ? asRecorded(config, recorded) : config))),
        onPlan: progress.onPlan,
        onProgress: progress.onProgress,
      })
      progress.stop()
      if (args.json) printJson(report)
      else if (report.action === 'intact') process.stdout.write(`The index in ${config.dataDir} is intact (${report.generation}, ${report.papers} papers): nothing to repair.\n`)
      else {
        for (const d of report.damage) process.stderr.write(`damaged: ${sanitize(d)}\n`)
        process.stdout.write(
          report.action === 'pointed'
            ? `Repaired ${config.dataDir}: CURRENT now names ${report.generation} (${report.papers} papers), the newest complete generation.\n`
            : `Repaired ${config.dataDir}: ${report.generation} holds ${report.papers} papers in ${report.chunks} chunks (${report.reused} vectors reused, ${report.embedded} re-embedded).\n`,
        )
      }
    } finally {
      progress.stop()
      await embedder?.close()
    }
  },
})

function asRecorded(config: Config, recorded: EmbedderInfo): Config {
  if (recorded.provider === 'ollama') return { ...config, embedder: 'ollama', ollamaEmbedModel: recorded.model }
  if (recorded.provider === 'openai') return { ...config, embedder: 'openai', openaiEmbedModel: recorded.model }
  return { ...config, embedder: 'use-lite' }
}
