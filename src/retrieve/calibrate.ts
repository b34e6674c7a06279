import type { CorpusReader, StoredChunk, StoredPaper } from '../index/index.js'
import { paperDocument, scoreFields, termFrequencies } from './keyword.js'
import { tokenize } from './tokenize.js'

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
  corpus: CorpusReader,
  embed: (texts: string[]) => Promise<number[][]>,
  embedder: string,
  { sample = 100, minQueries = 20, depth = 60 }: CalibrationOptions = {},
): Promise<FusionCalibration | undefined> {
  // Papers in draw order; only the first `sample` with two or more passages are read.
  const order = (await corpus.paperIds()).sort((a, b) => hash(a) - hash(b) || a.localeCompare(b))
  const drawn: { paper: StoredPaper; passages: StoredChunk[] }[] = []
  for (let i = 0; i < order.length && drawn.length < sample; i += 4 * sample) {
    const ids = order.slice(i, i + 4 * sample)
    const [chunks, papers] = await Promise.all([corpus.chunksOf(ids), corpus.papers(ids)])
    for (const paper of papers) {
      const passages = chunks.get(paper.id) ?? []
      if (passages.length >= 2 && drawn.length < sample) drawn.push({ paper, passages })
    }
  }
  if (drawn.length < minQueries) return undefined

  const queries = drawn.map(({ paper, passages }) => ({ paper, held: passages[Math.floor(passages.length / 2)] as StoredChunk }))
  const vectors = await embed(queries.map((q) => q.held.text))
  let averageLength: number | undefined
  let keywordHits = 0
  let denseHits = 0
  for (const [i, { paper, held }] of queries.entries()) {
    // Keyword: the paper's score with the passage left out, against every other paper's score.
    const stats = await corpus.termStats([...new Set(tokenize(held.text))])
    averageLength ??= stats.averageLength ?? (await meanLength(corpus))
    const rest = paper.plainAbstract.replace(held.text, ' ')
    const target = scoreFields(held.text, paperDocument({ title: paper.title, plainAbstract: rest }), stats, averageLength)
    const ahead = (await corpus.keywordPapers(held.text, { limit: TOP + 1 })).filter((h) => h.id !== paper.id && h.score > target).length
    if (target > 0 && ahead < TOP) keywordHits++
    // Dense: papers ranked by their best chunk, the held-out passage's own vector skipped.
    const seen: string[] = []
    for (const { chunkId, paperId } of await corpus.nearestChunks(vectors[i] ?? [], depth)) {
      if (chunkId === held.id || seen.includes(paperId)) continue
      seen.push(paperId)
      if (seen.length === TOP) break
    }
    if (seen.includes(paper.id)) denseHits++
  }
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

/** Mean BM25 length of a paper, from the records (for a store whose term statistics do not give it). */
async function meanLength(corpus: CorpusReader): Promise<number> {
  const papers = await corpus.papers(await corpus.paperIds())
  let total = 0
  for (const p of papers) total += termFrequencies(paperDocument(p)).length
  return papers.length ? total / papers.length : 0
}

/** FNV-1a: a stable, well-spread order for drawing papers. */
function hash(text: string): number {
  let h = 0x811c9dc5
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193) >>> 0
  return h
}

const round = (x: number): number => Math.round(x * 1000) / 1000
