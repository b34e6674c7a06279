import { defaultSeedDir, loadPapers, type Paper } from '../../src/corpus/index.js'

/** The seed papers with these exact titles, in this order; a missing title fails the test setup. */
export async function seedPapers(titles: readonly string[]): Promise<Paper[]> {
  const { papers } = await loadPapers([defaultSeedDir()])
  return titles.map((title) => {
    const paper = papers.find((p) => p.title === title)
    if (!paper) throw new Error(`no seed paper titled "${title}"`)
    return paper
  })
}
