import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { PromptTemplate } from '@langchain/core/prompts'
import { AppError } from '../errors.js'

/** Every prompt file and the placeholders it must use; checked when the prompts are loaded. */
const FILES = {
  answerSystem: { file: 'answer.system.md', variables: ['abstention'] },
  answerUser: { file: 'answer.user.md', variables: ['question', 'papers', 'abstention'] },
  condense: { file: 'condense.md', variables: ['history', 'question'] },
} as const

export type PromptName = keyof typeof FILES
export type Prompts = { [K in PromptName]: PromptTemplate }

/** Loads the prompt files once, at start; a missing file or placeholder is a configuration error. */
export async function loadPrompts(dir: string): Promise<Prompts> {
  const out = {} as Prompts
  for (const [name, { file, variables }] of Object.entries(FILES) as [PromptName, (typeof FILES)[PromptName]][]) {
    let text: string
    try {
      text = await readFile(join(dir, file), 'utf8')
    } catch {
      throw new AppError('CONFIG', `Prompt file ${join(dir, file)} is missing (set ASKPAPERS_PROMPTS_DIR to a folder holding ${Object.values(FILES).map((f) => f.file).join(', ')}).`)
    }
    let template: PromptTemplate
    try {
      template = PromptTemplate.fromTemplate(text)
    } catch (error) {
      throw new AppError('CONFIG', `Prompt file ${join(dir, file)} cannot be parsed: ${(error as Error).message}`)
    }
    const missing = variables.filter((v) => !template.inputVariables.includes(v))
    if (missing.length > 0) throw new AppError('CONFIG', `Prompt file ${join(dir, file)} lacks the placeholder(s) ${missing.map((v) => `{${v}}`).join(', ')}.`)
    out[name] = template
  }
  return out
}

export interface PromptPaper {
  title: string
  text: string
}

/**
 * Numbers the papers [1]..[k] for the answer prompt. Paper text is untrusted: anything that looks
 * like the fence's own tags is defused so an abstract cannot close the fence and speak as the user.
 */
export function formatPapers(papers: PromptPaper[]): string {
  return papers.map((p, i) => `[${i + 1}] Title: ${defuseFence(p.title)}\n${defuseFence(p.text)}`).join('\n\n')
}

/**
 * Untrusted text (an abstract, a chat turn) put inside a prompt's fence: anything that looks like
 * the fences' own tags (`<papers>`, `<conversation>`) becomes ‹papers›, so it cannot close the fence.
 */
export function defuseFence(text: string): string {
  return text.replace(/<\s*(\/?)\s*(papers?|conversation)\b[^>]*>/gi, '‹$1$2›')
}
