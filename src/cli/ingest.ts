import { defineCommand } from 'citty'
import { indexArgs, ingestProgress, lockOptions, openEngine, printJson, writeArgs } from './_shared.js'

export const SKIPPED_EXIT_CODE = 5

export const ingest = defineCommand({
  meta: { name: 'ingest', description: 'Add papers to the index (no PATH: the bundled seeds). JSONL, CSV, arXiv metadata or seed pages.' },
  args: {
    ...indexArgs,
    ...writeArgs,
    rebuild: { type: 'boolean', description: 'Re-embed every indexed paper (e.g. after changing embedder)' },
    json: { type: 'boolean', description: 'Print one summary object' },
  },
  async run({ args }) {
    const paths = args._.map(String)
    const engine = await openEngine(args)
    const progress = ingestProgress('Embedding')
    try {
      const summary = await engine.ingest(paths, { ...lockOptions(args), rebuild: Boolean(args.rebuild), onPlan: progress.onPlan, onProgress: progress.onProgress })
      progress.stop()
      for (const p of summary.problems) process.stderr.write(`${p.file}:${p.line}: ${p.reason}\n`)
      if (args.json) {
        const { papers, added, updated, unchanged, skipped, seconds } = summary
        printJson({ papers, added, updated, unchanged, skipped, seconds: Math.round(seconds * 100) / 100 })
      } else {
        process.stdout.write(
          `${summary.papers} papers in ${engine.config.dataDir}: ${summary.added} added, ${summary.updated} updated, ` +
            `${summary.unchanged} unchanged, ${summary.skipped} skipped in ${summary.seconds.toFixed(1)} s\n`,
        )
      }
      if (summary.skipped > 0) process.exitCode = SKIPPED_EXIT_CODE
    } finally {
      progress.stop()
      await engine.close()
    }
  },
})
