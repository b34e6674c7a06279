import type { ParseProblem } from './types.js'

/** `file:line: reason`, the one-line form the CLI prints and editors can jump to. */
export const formatProblem = (problem: ParseProblem): string => `${problem.file}:${problem.line}: ${problem.reason}`
