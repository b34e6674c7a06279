import { RecursiveCharacterTextSplitter } from '@langchain/textsplitters'
import type { Paper } from '../corpus/index.js'

export interface Chunk {
  /** `${paperId}#${index}`: stable while the abstract is unchanged. */
  id: string
  paperId: string
  index: number
  /** The passage itself, as shown to users and quoted. */
  text: string
}

export interface ChunkOptions {
  /** Target characters per chunk; 0 means one chunk per abstract. */
  size: number
  overlap: number
}

/** Chosen by `askpapers eval` on the dev questions (see README: sentence-sized chunks). */
export const DEFAULT_CHUNKING: ChunkOptions = { size: 300, overlap: 0 }

// Sentence boundaries first, then clauses, then words: chunks end where a reader would pause.
const SEPARATORS = ['\n\n', '\n', '. ', '? ', '! ', '; ', ', ', ' ', '']

export function createChunker({ size, overlap }: ChunkOptions): (paper: Paper) => Promise<Chunk[]> {
  const splitter = size > 0 ? new RecursiveCharacterTextSplitter({ chunkSize: size, chunkOverlap: overlap, separators: SEPARATORS }) : undefined
  return async (paper) => {
    const pieces = splitter ? reattachPunctuation(await splitter.splitText(paper.abstract)) : [paper.abstract]
    return pieces
      .map((text) => text.trim())
      .filter((text) => text.length > 0)
      .map((text, index) => ({ id: `${paper.id}#${index}`, paperId: paper.id, index, text }))
  }
}

/**
 * The text to embed for a chunk: the title gives a sentence its context ("we propose X" says
 * little without the paper it belongs to).
 */
export function embeddingText(title: string, chunk: Pick<Chunk, 'text'>): string {
  return `${title}: ${chunk.text}`
}

/**
 * LangChain's splitter keeps a separator at the start of the next piece (". In this work…");
 * move it back to the end of the sentence it closes so every chunk reads as whole sentences.
 */
function reattachPunctuation(pieces: string[]): string[] {
  const out: string[] = []
  for (const piece of pieces) {
    const match = /^([.?!;,])\s*/.exec(piece)
    const last = out.length - 1
    if (match && last >= 0) {
      out[last] = `${out[last] ?? ''}${match[1] ?? ''}`
      out.push(piece.slice(match[0].length))
    } else {
      out.push(piece)
    }
  }
  return out
}
