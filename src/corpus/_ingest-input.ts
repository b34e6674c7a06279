import { AppError } from '../errors.js'
import { loadPapers, type LoadResult } from './_files.js'
import { defaultSeedDir } from './_paths.js'
import { formatProblem } from './_problem.js'

export interface IngestInputOptions {
  /** Re-embed what is indexed: without paths nothing is read (and an empty index has nothing to re-embed). */
  rebuild?: boolean
  /** The index holds no paper yet. */
  indexEmpty: boolean
  /** Where the index is (data directory, or database URL without its password), for the messages. */
  location: string
}

/** Problems quoted in the error when no record at all could be read. */
const PROBLEMS_SHOWN = 5

/**
 * The records an ingest of these paths adds: the files and directories named, the bundled seeds
 * when none is, nothing for a rebuild without paths. Fails (BAD_INPUT) when there is nothing to
 * do: a rebuild of an empty index, or inputs of which not one record could be read (the first
 * problems quoted).
 */
export async function readIngestInput(paths: readonly string[], { rebuild = false, indexEmpty, location }: IngestInputOptions): Promise<LoadResult> {
  if (rebuild && paths.length === 0) {
    if (indexEmpty) {
      throw new AppError('BAD_INPUT', `Nothing to rebuild: the index in ${location} is empty. Run \`askpapers ingest\` (the bundled seeds) or \`askpapers ingest PATH\` instead.`)
    }
    return { papers: [], problems: [], conflicts: [] }
  }
  const loaded = await loadPapers(paths.length > 0 ? paths : [defaultSeedDir()])
  const { papers, problems } = loaded
  if (papers.length === 0 && problems.length > 0) {
    const shown = problems.slice(0, PROBLEMS_SHOWN).map((p) => `  ${formatProblem(p)}`)
    const more = problems.length > PROBLEMS_SHOWN ? [`  … and ${problems.length - PROBLEMS_SHOWN} more`] : []
    const where = paths.length > 0 ? paths.join(', ') : defaultSeedDir()
    throw new AppError('BAD_INPUT', [`No valid paper in ${where}: ${problems.length} record(s) skipped:`, ...shown, ...more].join('\n'))
  }
  return loaded
}
