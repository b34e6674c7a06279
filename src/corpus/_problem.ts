import type { ParseProblem } from './types.js'

/** `file:line: reason`, the one-line form the CLI prints and editors can jump to; `file: reason` for a whole file (line 0). */
export const formatProblem = (problem: ParseProblem): string => `${problem.file}${problem.line > 0 ? `:${problem.line}` : ''}: ${problem.reason}`
