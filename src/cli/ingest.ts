import { defineCommand } from 'citty'
import { formatProblem, type MergeConflict } from '../corpus/index.js'
import { sanitize } from './_terminal.js'
import { indexArgs, ingestProgress, lockOptions, openServices, printJson, writeArgs } from './_shared.js'

export const SKIPPED_EXIT_CODE = 5

export const ingest = defineCommand({
  meta: { name: 'ingest', description: 'Add papers to the index (no PATH: the bundled seeds). JSONL, CSV, arXiv metadata or seed pages.' },
  args: {
    // Named for the help ("[PATH...]"); the paths are read from args._, all of them.
    'path...': { type: 'positional', required: false, description: 'Files or directories to ingest (default: the bundled seeds)' },
    ...indexArgs,
    ...writeArgs,
    rebuild: { type: 'boolean', description: 'Re-embed every indexed paper (e.g. after changing embedder); without PATH adds nothing' },
    replace: { type: 'boolean', description: "Let a record's title or abstract replace the indexed paper's (otherwise a reported conflict)" },
    json: { type: 'boolean', description: 'Print one summary object' },
  },
  async run({ args }) {
    const paths = args._.map(String)
    const { engine } = await openServices(args)
    const progress = ingestProgress('Embedding')
    try {
      const summary = await engine.ingest(paths, { ...lockOptions(args), rebuild: Boolean(args.rebuild), replace: Boolean(args.replace), onPlan: progress.onPlan, onProgress: progress.onProgress })
      progress.stop()
      for (const p of summary.problems) process.stderr.write(`${sanitize(formatProblem(p))}\n`)
      for (const c of summary.conflicts) process.stderr.write(`${sanitize(conflictLine(c))}\n`)
      if (args.json) {
        const { papers, added, updated, unchanged, skipped, seconds, reembedded, conflicts, merged, problems } = summary
        // The first six fields are the original contract; the rest were added after them (issue 14).
        printJson({ papers, added, updated, unchanged, skipped, seconds: Math.round(seconds * 100) / 100, reembedded, conflicts, merged, problems })
      } else {
        process.stdout.write(
          `${summary.papers} papers in ${engine.location}: ${summary.added} added, ${summary.updated} updated, ` +
            `${summary.unchanged} unchanged, ${summary.reembedded ? `${summary.reembedded} re-embedded, ` : ''}${summary.merged.length ? `${summary.merged.length} merged into indexed papers, ` : ''}${summary.conflicts.length ? `${summary.conflicts.length} conflict(s), ` : ''}${summary.skipped} skipped in ${summary.seconds.toFixed(1)} s\n`,
        )
      }
      return summary.skipped > 0 ? SKIPPED_EXIT_CODE : undefined
    } finally {
      progress.stop()
      await engine.close()
    }
  },
})

/** One conflict as a line on stderr, with the flag that resolves it the other way. */
function conflictLine(c: MergeConflict): string {
  if (c.against === 'input') return `${c.source}: conflict: this record's ${c.field} differs from that of "${c.title}" (${c.id}) read before it; kept the first (name the file you prefer first).`
  const what = `${c.source}: conflict: this record's ${c.field} differs from the indexed "${c.title}" (${c.id})`
  return c.resolution === 'replaced' ? `${what}; replaced it (--replace).` : `${what}; kept the indexed one (ingest --replace uses this record's).`
}
