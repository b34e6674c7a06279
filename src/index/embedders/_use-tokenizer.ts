// Run directly as `.ts` by Node in a worker under vitest (type stripping): erasable TypeScript only, and
// relative imports name the `.ts` file (tsc rewrites them to `.js` in dist/).

/** A SentencePiece vocabulary: pieces with their scores, in id order. */
export type Vocabulary = Array<[string, number]>

interface TrieNode {
  children: Map<string, TrieNode>
  /** Vocabulary index of the piece ending here, or -1. */
  index: number
  score: number
  /** Length of the piece in symbols (code points). */
  symbols: number
}

/**
 * The SentencePiece-style Viterbi tokenizer of `@energetic-ai/embeddings` (Apache-2.0, from
 * tfjs-models), producing the same ids; the trie walk starts at an offset instead of copying the
 * rest of the input for every position.
 */
export function createTokenizer(vocabulary: Vocabulary, reserved = 6): (text: string) => number[] {
  const root: TrieNode = { children: new Map(), index: -1, score: 0, symbols: 0 }
  for (let i = reserved; i < vocabulary.length; i++) {
    const [piece, score] = vocabulary[i] ?? ['', 0]
    let node = root
    for (const symbol of piece) {
      let next = node.children.get(symbol)
      if (!next) {
        next = { children: new Map(), index: -1, score: 0, symbols: node.symbols + 1 }
        node.children.set(symbol, next)
      }
      node = next
    }
    node.index = i
    node.score = score
  }
  // Walking back uses the piece's UTF-16 length, exactly as the original does.
  const pieceLength = vocabulary.map(([piece]) => piece.length)

  return (text) => {
    const normalised = text.normalize('NFKC')
    const input = normalised.length > 0 ? '\u2581' + normalised.replace(/ /g, '\u2581') : normalised
    const symbols = [...input]
    const n = symbols.length
    // Candidates ending at each position, visited in order of their start (as the original does).
    const starts: number[][] = Array.from({ length: n + 1 }, () => [])
    const pieces: number[][] = Array.from({ length: n + 1 }, () => [])
    const scores: number[][] = Array.from({ length: n + 1 }, () => [])
    for (let i = 0; i < n; i++) {
      let node = root.children.get(symbols[i] ?? '')
      let found = false
      for (let j = i; node; j++) {
        if (node.index >= 0) {
          const end = i + node.symbols
          starts[end]?.push(i)
          pieces[end]?.push(node.index)
          scores[end]?.push(node.score)
          found = true
        }
        if (j + 1 >= n) break
        node = node.children.get(symbols[j + 1] ?? '')
      }
      if (!found) {
        // Unknown symbol: id 0 with score 0.
        starts[i + 1]?.push(i)
        pieces[i + 1]?.push(0)
        scores[i + 1]?.push(0)
      }
    }
    const best = new Float64Array(n + 1)
    const words = new Int32Array(n + 1)
    for (let end = 0; end <= n; end++) {
      const s = starts[end] ?? []
      // Starts were pushed in increasing order of i, which is the order the original visits them.
      for (let c = 0; c < s.length; c++) {
        const start = s[c] ?? 0
        const score = (scores[end]?.[c] ?? 0) + (best[start] ?? 0)
        if (best[end] === 0 || score >= (best[end] ?? 0)) {
          best[end] = score
          words[end] = pieces[end]?.[c] ?? 0
        }
      }
    }
    const reversed: number[] = []
    for (let at = n; at > 0; ) {
      const id = words[at] ?? 0
      reversed.push(id)
      at -= pieceLength[id] ?? 1
    }
    // Consecutive unknowns collapse into one.
    const ids: number[] = []
    let previousUnknown = false
    for (const id of reversed) {
      if (!(previousUnknown && id === 0)) ids.push(id)
      previousUnknown = id === 0
    }
    return ids.reverse()
  }
}
