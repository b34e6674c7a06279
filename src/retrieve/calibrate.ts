import type { PaperIndex } from '../index/store.js'
import { KeywordIndex } from './keyword.js'

/** How the two legs did on pseudo-queries drawn from the corpus, and the dense share that follows. */
export interface FusionCalibration {
  /** Share of the fused score given to the dense leg (see `QUESTION_ODDS`). */
  denseWeight: number
  /** Pseudo-queries measured. */
  queries: number
  /** Share of pseudo-queries whose paper each leg ranked in its top 5. */
  keywordHitRate: number
  denseHitRate: number
  /** The embedder the dense leg was measured with. */
  embedder: string
}

export interface CalibrationOptions {
  /** Pseudo-queries to draw (one per sampled paper). */
  sample?: number
  /** Fewer papers with two or more passages than this: too few to measure; no calibration. */
  minQueries?: number
  /** A leg "finds" the paper when it ranks it within this many. */
  depth?: number
}

const TOP = 5

/**
 * Pseudo-queries are passages of the abstracts, so they favour the keyword leg more than people's
 * questions do. The dense leg's odds are its hit rate over the keyword leg's, times this factor:
 * fitted once by leave-one-style-out cross-validation on the seed questions (every fold chose the
 * same dense share, 0.4, which with USE-lite's measured rates is a factor of 1.5). One parameter,
 * and it scales with what the embedder actually achieves on the corpus rather than fixing a weight.
 */
export const QUESTION_ODDS = 1.5

/**
 * Measures what each leg is worth on this corpus with this embedder, so the fusion weight is not a
 * constant fitted to one encoder: a stronger embedder (nomic-embed-text, OpenAI) earns the dense leg
 * a larger share by itself. A pseudo-query is one passage of a paper (the middle one), and the
 * target is that paper *without* the passage: keyword search scores it as if the passage were not in
 * its abstract and dense search skips the passage's own vector, so neither leg wins by finding the
 * very text it was asked with. Papers are drawn by a hash of their id, so the same corpus gives the
 * same sample on every machine.
 */
export async function calibrateFusion(
  index: PaperIndex,
  embed: (texts: string[]) => Promise<number[][]>,
  embedder: string,
  { sample = 100, minQueries = 20, depth = 60 }: CalibrationOptions = {},
): Promise<FusionCalibration | undefined> {
  const byPaper = new Map<string, { label: number; text: string }[]>()
  for (const { chunk, label } of index.chunks()) {
    const list = byPaper.get(chunk.paperId) ?? []
    list.push({ label, text: chunk.text })
    byPaper.set(chunk.paperId, list)
  }
  const drawn = [...index.papers.values()]
    .filter((p) => (byPaper.get(p.id)?.length ?? 0) >= 2)
    .sort((a, b) => hash(a.id) - hash(b.id) || a.id.localeCompare(b.id))
    .slice(0, sample)
  if (drawn.length < minQueries) return undefined

  const keyword = new KeywordIndex(
    [...index.papers.values()].map((p) => ({ id: p.id, fields: [{ text: p.title, weight: 2 }, { text: p.plainAbstract, weight: 1 }] })),
  )
  const labelPaper = new Map<number, string>()
  for (const [paperId, list] of byPaper) for (const { label } of list) labelPaper.set(label, paperId)

  const queries = drawn.map((paper) => {
    const passages = byPaper.get(paper.id) ?? []
    const held = passages[Math.floor(passages.length / 2)] ?? { label: -1, text: '' }
    return { paper, held }
  })
  const vectors = await embed(queries.map((q) => q.held.text))
  let keywordHits = 0
  let denseHits = 0
  queries.forEach(({ paper, held }, i) => {
    // Keyword: the paper's score with the passage left out, against every other paper's score.
    const rest = paper.plainAbstract.replace(held.text, ' ')
    const target = keyword.scoreFields(held.text, [{ text: paper.title, weight: 2 }, { text: rest, weight: 1 }])
    const ahead = keyword.search(held.text, TOP + 1).filter((h) => h.id !== paper.id && h.score > target).length
    if (target > 0 && ahead < TOP) keywordHits++
    // Dense: papers ranked by their best chunk, the held-out passage's own vector skipped.
    const seen: string[] = []
    for (const { label } of index.nearestChunks(vectors[i] ?? [], depth)) {
      const id = labelPaper.get(label)
      if (label === held.label || id === undefined || seen.includes(id)) continue
      seen.push(id)
      if (seen.length === TOP) break
    }
    if (seen.includes(paper.id)) denseHits++
  })
  const keywordHitRate = keywordHits / queries.length
  const denseHitRate = denseHits / queries.length
  const odds = keywordHitRate > 0 ? (QUESTION_ODDS * denseHitRate) / keywordHitRate : Number.POSITIVE_INFINITY
  return {
    denseWeight: round(Number.isFinite(odds) ? odds / (1 + odds) : 1),
    queries: queries.length,
    keywordHitRate: round(keywordHitRate),
    denseHitRate: round(denseHitRate),
    embedder,
  }
}

/** FNV-1a: a stable, well-spread order for drawing papers. */
function hash(text: string): number {
  let h = 0x811c9dc5
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193) >>> 0
  return h
}

const round = (x: number): number => Math.round(x * 1000) / 1000
