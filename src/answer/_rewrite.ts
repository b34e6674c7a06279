import { CLAUSE_END, createMarkerScanner, type Marker, type MarkerRun, type Scanned } from './_markers.js'

// Reading and rewriting citation markers: the answer's `[n]` renumbered against the retrieved papers.

export interface RewriteState {
  /** Original numbers (positions among the retrieved papers) of the cited papers, in new-number order. */
  cited: number[]
  /** Markers read so far; `[1][2]` counts as two. */
  markersTotal: number
  /** Markers citing a paper that was not retrieved, or malformed (`[3-1]`), as they appeared. */
  invalidMarkers: string[]
  /** Markers not written as `[n]` (`[Paper 2]`, `(2)`, `【2†source】`), as they appeared. */
  reformattedMarkers: string[]
}

export interface CitationRewriter {
  /** Takes the next piece of the answer; returns the rewritten text that is now certain. */
  push(delta: string): string
  /** Returns whatever was held back waiting for the rest of a marker. */
  end(): string
  state(): RewriteState
}

/**
 * Finds citation markers, as `createCitationRewriter` reads them: `[2]`, `[1, 3-5]`, and the forms
 * models write instead — `[Paper 2]`, `[Source 1, Source 3]`, `(Paper 2)`, `【2】`, `【2†source】`,
 * `[^2]`, `[2†L3-L5]`. Bracketed text that is not a list of integers (`[CLS]`, `[0.5, 1]`) is not
 * one. With `k`, so is a parenthesised number citing only papers 1..k where a citation goes
 * ("weights (1).", "adapters (1, 3), while"), but not an enumeration, an equation or a year.
 */
export function parseMarkers(text: string, k?: number): Marker[] {
  const scanner = createMarkerScanner(k)
  const markers: Marker[] = []
  let offset = 0
  for (const piece of [...scanner.push(text), ...scanner.end()]) {
    if ('text' in piece) {
      offset += piece.text.length
      continue
    }
    for (const marker of piece.run.markers) markers.push({ ...marker, start: offset + marker.start, end: offset + marker.end })
    offset += piece.run.raw.length
  }
  return markers
}

export interface MarkerOptions {
  /**
   * Also read the forms models write instead of `[n]` (`(1)`, `[Paper 2]`, `【3】`); off for text
   * askpapers composed itself, whose quoted abstract sentences may hold "(2)" that cites nothing.
   */
  modelForms?: boolean
}

/**
 * Rewrites a streamed answer: drops markers citing no retrieved paper (numbered 1..k), renumbers the
 * rest by first use, merges adjacent markers (`[3][1]` → `[1, 2]`) and re-emits each as a sorted list,
 * whatever form the model wrote it in (`[Paper 3]`, `(3)`, `【3†source】`: see `parseMarkers`).
 *
 * Only a possible marker at the end of the text so far is held back — with the whitespace before it,
 * since removing the marker may remove that too — so the output never depends on how the text was split.
 */
export function createCitationRewriter(k: number, { modelForms = true }: MarkerOptions = {}): CitationRewriter {
  if (!Number.isInteger(k) || k < 0) throw new RangeError(`k must be a non-negative integer, got ${k}`)
  const scanner = createMarkerScanner(k, { canonicalOnly: !modelForms })
  const renumbered = new Map<number, number>()
  const cited: number[] = []
  const invalidMarkers: string[] = []
  const reformattedMarkers: string[] = []
  let markersTotal = 0
  // The last character emitted, which decides how a removed marker's whitespace is tidied.
  let last = ''

  const write = (pieces: Scanned[]): string => {
    let out = ''
    for (const piece of pieces) {
      const text = 'text' in piece ? piece.text : resolve(piece.run)
      last = text.at(-1) ?? last
      out += text
    }
    return out
  }

  const resolve = (run: MarkerRun): string => {
    const numbers: number[] = []
    for (const marker of run.markers) {
      markersTotal++
      if (!marker.canonical) reformattedMarkers.push(marker.text)
      const valid = marker.numbers.filter((n) => n >= 1 && n <= k)
      if (valid.length === 0 || valid.length < marker.numbers.length) invalidMarkers.push(marker.text)
      for (const n of valid) {
        let renumber = renumbered.get(n)
        if (renumber === undefined) {
          cited.push(n)
          renumber = cited.length
          renumbered.set(n, renumber)
        }
        numbers.push(renumber)
      }
    }
    if (numbers.length > 0) return `${run.lead}${formatMarker(numbers)}${run.trail}`
    // Nothing left to cite: drop the marker without leaving "memory ." or "memory  and" behind.
    if (run.next === '' || CLAUSE_END.test(run.next) || last === '' || /[\s([{【]/.test(last)) return ''
    return run.lead === '' && run.trail === '' ? '' : ' '
  }

  return {
    push: (delta) => write(scanner.push(delta)),
    end: () => write(scanner.end()),
    state: () => ({ cited: [...cited], markersTotal, invalidMarkers: [...invalidMarkers], reformattedMarkers: [...reformattedMarkers] }),
  }
}

/** The non-streaming rewrite: the same as pushing the whole text at once. */
export function rewriteCitations(text: string, k: number, options: MarkerOptions = {}): { text: string; state: RewriteState } {
  const rewriter = createCitationRewriter(k, options)
  const out = rewriter.push(text) + rewriter.end()
  return { text: out, state: rewriter.state() }
}

function formatMarker(numbers: readonly number[]): string {
  return `[${[...new Set(numbers)].sort((a, b) => a - b).join(', ')}]`
}
