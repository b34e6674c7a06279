import { readFile } from 'node:fs/promises'
import { fileURLToPath } from 'node:url'

const EVERYDAY_FILE = fileURLToPath(new URL('../../data/everyday.txt', import.meta.url))

/**
 * A background sample of ordinary questions (recipes, visas, car repair, sport…), one per line in
 * `data/everyday.txt`, written for this purpose and never used as an evaluation question. A
 * question nearer to one of these than to any passage of the corpus is not about the corpus: the
 * comparison is between two similarities from the same embedder, so it needs no threshold tuned
 * to one encoder.
 */
export async function loadEverydayQuestions(file = EVERYDAY_FILE): Promise<string[]> {
  const text = await readFile(file, 'utf8')
  return text.split(/\r?\n/).map((line) => line.trim()).filter((line) => line !== '')
}

/** Highest cosine similarity of a unit-length query vector to the (unit-length) background vectors. */
export function everydaySimilarity(background: readonly number[][]): (query: readonly number[]) => number {
  return (query) => {
    let best = -1
    for (const v of background) {
      let dot = 0
      for (let i = 0; i < v.length; i++) dot += (v[i] ?? 0) * (query[i] ?? 0)
      if (dot > best) best = dot
    }
    return best
  }
}
