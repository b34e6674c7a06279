import { createHash } from 'node:crypto'
import type { Paper } from './types.js'

const sha256 = (text: string): string => createHash('sha256').update(text, 'utf8').digest('hex')

/** Collapses every run of whitespace (newlines, tabs, NBSP) to one space; nothing else changes. */
export const normaliseWhitespace = (text: string): string => text.replace(/\s+/g, ' ').trim()

/**
 * The key two listings of one paper share: lowercase, every run of non-alphanumerics one space.
 * Unicode-aware (and NFKC, so ligatures match their letters) so non-Latin titles keep their letters.
 */
export const normaliseTitle = (title: string): string =>
  title
    .normalize('NFKC')
    .toLowerCase()
    .replace(/[^\p{L}\p{M}\p{N}]+/gu, ' ')
    .trim()

/** Id for a paper whose source has none: stable across runs because it hashes the normalised title. */
export const paperId = (title: string): string => `p-${sha256(normaliseTitle(title)).slice(0, 12)}`

/** Changes whenever the text that gets embedded changes; re-ingest compares it to skip unchanged papers. */
export const paperContentHash = (paper: Pick<Paper, 'title' | 'abstract'>): string =>
  sha256(`${paper.title}\n${paper.abstract}`)

/** "A, B and C" / "A; B & C" → ["A", "B", "C"]. */
export const splitAuthors = (authors: string): string[] =>
  normaliseWhitespace(authors)
    .split(/\s*[,;]\s*(?:(?:and|&)\s+)?|\s+(?:and|&)\s+/)
    .filter((name) => name !== '')
