import { defineCommand } from 'citty'
import { fileURLToPath } from 'node:url'
import { AppError } from '../errors.js'
import { OFFLINE_MODEL } from '../answer/index.js'
import { evaluateAnswers, formatAnswerReport, evaluateRetrieval, formatTable, loadQuestions, resolveExpected, spreadSample, checkReportPath, writeReport, type AnswerReport } from '../eval/index.js'
import { progress } from './_progress.js'
import { indexArgs, llmArgs, openServices, printJson, warnNoEffect } from './_shared.js'
import { sanitize } from './_terminal.js'
import { ensureIndexed } from './search.js'

const DEFAULT_QUESTIONS = fileURLToPath(new URL('../../evals/questions.jsonl', import.meta.url))

export const evaluate = defineCommand({
  meta: {
    name: 'eval',
    description: 'Measure retrieval (Recall@5/@10, MRR, nDCG@10 per question kind) for keyword, dense and hybrid; with --answers, the answers of the offline answerer or --llm ollama|openai',
  },
  args: {
    ...indexArgs,
    ...llmArgs,
    answers: { type: 'boolean', description: 'Also measure answers: citations, quotes, abstention, key facts' },
    questions: { type: 'string', description: 'Question set (JSONL); default evals/questions.jsonl' },
    split: { type: 'string', description: 'dev | test | all (default all)' },
    limit: { type: 'string', description: 'At most N questions, spread over the question kinds (for a quick run against a slow model)' },
    json: { type: 'boolean', description: 'Print the report as JSON' },
    report: { type: 'string', description: 'Also write a self-contained HTML report (charts and tables) to FILE.html' },
  },
  async run({ args }) {
    const split = args.split ?? 'all'
    if (!['dev', 'test', 'all'].includes(split)) throw new AppError('BAD_INPUT', `Unknown --split "${split}": use dev, test or all.`, { field: 'split' })
    const limit = parseLimit(args.limit)
    if (!args.answers) {
      for (const flag of ['llm', 'model'] as const) if (args[flag] !== undefined) warnNoEffect(`--${flag}`, 'without --answers (retrieval is measured without a chat model)', 'to measure answers too, add --answers')
    }
    const inSplit = (await loadQuestions(args.questions ?? DEFAULT_QUESTIONS)).filter((q) => split === 'all' || q.split === split)
    const questions = limit === undefined ? inSplit : spreadSample(inSplit, limit)
    // Checked now rather than after minutes of evaluation.
    if (args.report) await checkReportPath(args.report)
    // Without --answers the chat model is not used: warned about above, once.
    const { engine } = await openServices(args.answers ? args : { ...args, llm: undefined, model: undefined })
    try {
      await ensureIndexed(engine)
      const retriever = await engine.retriever()
      const embedder = await engine.embedder()
      const expected = resolveExpected(questions, engine.index.records.values())
      const retrieving = progress({ label: 'Retrieval', unit: 'questions' })
      retrieving.start(questions.length)
      let report: Awaited<ReturnType<typeof evaluateRetrieval>>
      try {
        report = await evaluateRetrieval(retriever, (q) => embedder.embeddings.embedQuery(q), questions, expected, { onProgress: (done) => retrieving.update(done) })
      } finally {
        retrieving.stop()
      }
      const answerer = args.answers ? await engine.answerer() : undefined
      let answers: AnswerReport | undefined
      if (answerer) {
        // An LLM takes seconds a question: say what runs, and show progress (a line every few seconds when stderr is no TTY).
        if (answerer.model !== OFFLINE_MODEL) process.stderr.write(`Answering ${questions.length} questions with ${answerer.model}…\n`)
        const bar = progress({ label: 'Answers', unit: 'questions' })
        bar.start(questions.length)
        try {
          answers = await evaluateAnswers(answerer, questions, expected, { onProgress: (done) => bar.update(done) })
        } finally {
          bar.stop()
        }
        for (const f of answers.failed) process.stderr.write(`${sanitize(`${f.id}: ${f.error}`)}\n`)
      }
      if (args.report) {
        const meta = {
          split,
          questions: questions.length,
          questionSet: args.questions ?? 'evals/questions.jsonl',
          embedder: `${embedder.info.provider} ${embedder.info.model} (${embedder.info.dimensions} dimensions)`,
          answerModel: answerer?.model,
          date: new Date().toISOString(),
          corpus: { papers: engine.index.info().papers, chunks: engine.index.info().chunks },
        }
        await writeReport(args.report, { meta, retrieval: report, answers, questions })
        process.stderr.write(`Report written to ${args.report}\n`)
      }
      if (args.json) {
        printJson({ split, questions: questions.length, table: report.table, perQuestion: report.perQuestion, latency: report.latency, ...(answers ? { answers } : {}) })
        return
      }
      // The question set is a file like any other input: its ids and texts are printed without escape sequences.
      process.stdout.write(sanitize(`Retrieval on ${questions.length} questions (split: ${split})\n\n${formatTable(report)}\n`))
      if (answers && answerer) process.stdout.write(sanitize(`\nAnswers (${answerer.model}, split: ${split})\n\n${formatAnswerReport(answers)}\n`))
    } finally {
      await engine.close()
    }
  },
})

function parseLimit(value: string | undefined): number | undefined {
  if (value === undefined) return undefined
  const n = Number(value)
  if (!Number.isInteger(n) || n < 1) throw new AppError('BAD_INPUT', `--limit must be a whole number of questions, at least 1, not "${value}".`, { field: 'limit' })
  return n
}
