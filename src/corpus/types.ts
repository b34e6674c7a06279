/** One paper in the corpus: what every parser produces and every later stage consumes. */
export interface Paper {
  /** Stable across runs and machines: the source's own id when it has one, else derived from the title. */
  id: string
  title: string
  abstract: string
  url?: string
  /** Author names when the source lists them. */
  authors?: string[]
  /** Number of authors when the source only shows a count ("• 7 authors"). */
  authorCount?: number
  /** As printed by the source (`Apr 18, 2024`, `2023-05-01`). */
  date?: string
  upvotes?: number
  /** Every file (and line) the paper was read from; a paper listed twice keeps both. */
  sources: string[]
}

/** A record that could not be read, reported as `file:line: reason`. */
export interface ParseProblem {
  file: string
  /** 1-based; 0 when the problem is the whole file (empty, unknown format). */
  line: number
  reason: string
}

export interface ParseResult {
  papers: Paper[]
  problems: ParseProblem[]
}
