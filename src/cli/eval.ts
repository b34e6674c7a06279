import { defineCommand } from 'citty'
import { fileURLToPath } from 'node:url'
import { AppError } from '../errors.js'
import { evaluateAnswers, formatAnswerReport } from '../eval/answers.js'
import { evaluateRetrieval, formatTable, loadQuestions, resolveExpected } from '../eval/harness.js'
import { indexArgs, llmArgs, openEngine, printJson } from './_shared.js'
import { ensureIndexed } from './search.js'

const DEFAULT_QUESTIONS = fileURLToPath(new URL('../../evals/questions.jsonl', import.meta.url))

export const evaluate = defineCommand({
  meta: { name: 'eval', description: 'Measure retrieval (Recall@5/@10, MRR, nDCG@10 per question kind) for keyword, dense and hybrid' },
  args: {
    ...indexArgs,
    ...llmArgs,
    answers: { type: 'boolean', description: 'Also measure answers: citations, quotes, abstention, key facts' },
    questions: { type: 'string', description: 'Question set (JSONL); default evals/questions.jsonl' },
    split: { type: 'string', description: 'dev | test | all (default all)' },
    json: { type: 'boolean', description: 'Print the report as JSON' },
  },
  async run({ args }) {
    const split = args.split ?? 'all'
    if (!['dev', 'test', 'all'].includes(split)) throw new AppError('BAD_INPUT', `Unknown --split "${split}": use dev, test or all.`, { field: 'split' })
    const questions = (await loadQuestions(args.questions ?? DEFAULT_QUESTIONS)).filter((q) => split === 'all' || q.split === split)
    const engine = await openEngine(args)
    try {
      await ensureIndexed(engine)
      const retriever = await engine.retriever()
      const embedder = await engine.embedder()
      const expected = resolveExpected(questions, engine.index.papers.values())
      const report = await evaluateRetrieval(retriever, (q) => embedder.embeddings.embedQuery(q), questions, expected)
      const answerer = args.answers ? await engine.answerer() : undefined
      const answers = answerer ? await evaluateAnswers(answerer, questions, expected) : undefined
      if (args.json) {
        printJson({ split, questions: questions.length, table: report.table, perQuestion: report.perQuestion, ...(answers ? { answers } : {}) })
        return
      }
      process.stdout.write(`Retrieval on ${questions.length} questions (split: ${split})\n\n${formatTable(report)}\n`)
      if (answers && answerer) process.stdout.write(`\nAnswers (${answerer.model}, split: ${split})\n\n${formatAnswerReport(answers)}\n`)
    } finally {
      await engine.close()
    }
  },
})
