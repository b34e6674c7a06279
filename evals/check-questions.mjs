#!/usr/bin/env node
// Checks evals/questions.jsonl against the seed pages, with no dependencies:
//   node evals/check-questions.mjs [questions.jsonl] [seeds-dir]
// Every problem is printed as `file:line: reason`; the exit code is 1 when there is any.
import { readFileSync, readdirSync } from 'node:fs'
import { dirname, join, relative } from 'node:path'
import { fileURLToPath } from 'node:url'

const here = dirname(fileURLToPath(import.meta.url))
const questionsPath = process.argv[2] ?? join(here, 'questions.jsonl')
const seedsDir = process.argv[3] ?? join(here, '..', 'seeds')

const KINDS = ['paraphrase', 'method', 'multi', 'unanswerable', 'vocab-gap', 'search-box', 'own-words', 'off-topic', 'near-miss']
// Kinds the corpus cannot answer: no expected paper, no facts.
const UNANSWERABLE = new Set(['unanswerable', 'off-topic', 'near-miss'])
const SPLITS = ['dev', 'test']
// How many expected papers each kind may have: [min, max].
const EXPECTED_RANGE = {
  paraphrase: [1, 1],
  method: [1, 4],
  multi: [2, 4],
  unanswerable: [0, 0],
  'vocab-gap': [1, 1],
  'search-box': [1, 1],
  'own-words': [1, 1],
  'off-topic': [0, 0],
  'near-miss': [0, 0],
}

const normalise = (s) => s.replace(/\s+/g, ' ').trim()
const fold = (s) => normalise(s).toLowerCase()

/** Title line (whitespace-normalised) -> the texts (title + following abstract) it heads. */
function indexSeedTitles(dir) {
  const titles = new Map()
  for (const name of readdirSync(dir).filter((f) => f.endsWith('.txt')).sort()) {
    const lines = readFileSync(join(dir, name), 'utf8').split(/\r?\n/).map(normalise)
    lines.forEach((line, i) => {
      if (!line) return
      const abstract = lines.slice(i + 1).find((l) => l !== '') ?? ''
      // The first title of a page can be glued to the "Subscribe" button text.
      const candidates = [line, line.replace(/^Subscribe(?=\S)/, '')].filter((c) => c !== '')
      for (const title of new Set(candidates)) {
        const texts = titles.get(title) ?? []
        texts.push(fold(`${title} ${abstract}`))
        titles.set(title, texts)
      }
    })
  }
  return titles
}

const problems = []
const where = relative(process.cwd(), questionsPath) || questionsPath
const report = (line, reason) => problems.push(`${where}:${line}: ${reason}`)

const titles = indexSeedTitles(seedsDir)
const seen = new Map()
const counts = new Map(KINDS.map((k) => [k, { dev: 0, test: 0 }]))
let total = 0

readFileSync(questionsPath, 'utf8').split(/\r?\n/).forEach((text, i) => {
  const line = i + 1
  if (text.trim() === '') return
  let q
  try {
    q = JSON.parse(text)
  } catch (e) {
    report(line, `not JSON: ${e.message}`)
    return
  }
  total++
  const { id, kind, split, question, expected, facts, about } = q

  if (typeof id !== 'string' || !/^q\d{3}$/.test(id)) report(line, `bad id ${JSON.stringify(id)}`)
  else if (seen.has(id)) report(line, `duplicate id ${id} (first on line ${seen.get(id)})`)
  else seen.set(id, line)

  if (!KINDS.includes(kind)) report(line, `unknown kind ${JSON.stringify(kind)}`)
  if (!SPLITS.includes(split)) report(line, `split must be dev or test, got ${JSON.stringify(split)}`)
  if (KINDS.includes(kind) && SPLITS.includes(split)) counts.get(kind)[split]++
  if (typeof question !== 'string' || question.trim() === '') report(line, 'question is empty')

  const isStrings = (a) => Array.isArray(a) && a.every((s) => typeof s === 'string' && s.trim() !== '')
  if (!isStrings(expected)) return report(line, 'expected must be an array of non-empty strings')
  if (!isStrings(facts)) return report(line, 'facts must be an array of non-empty strings')

  const [min, max] = EXPECTED_RANGE[kind] ?? [0, Infinity]
  if (expected.length < min || expected.length > max) {
    report(line, `${kind} needs ${min}-${max} expected papers, has ${expected.length}`)
  }
  if (new Set(expected.map(normalise)).size !== expected.length) report(line, 'expected lists a title twice')
  const none = UNANSWERABLE.has(kind)
  if (none ? facts.length !== 0 : facts.length < 1 || facts.length > 3) {
    report(line, `${kind} needs ${none ? 'no' : '1-3'} facts, has ${facts.length}`)
  }
  // A near-miss names the paper it is about: that paper must exist, or the question is off-topic.
  if (kind === 'near-miss' && !(typeof about === 'string' && titles.has(normalise(about)))) {
    report(line, `near-miss needs "about": the title of the paper it asks about, got ${JSON.stringify(about)}`)
  }

  const texts = []
  for (const title of expected) {
    const found = titles.get(normalise(title))
    if (found) texts.push(...found)
    else report(line, `expected title is not a line of any seed file: ${JSON.stringify(title)}`)
  }
  // Facts are matched fuzzily against answers later; here they must at least be stated in a source.
  if (texts.length === expected.length && texts.length > 0) {
    for (const fact of facts) {
      if (!texts.some((t) => t.includes(fold(fact)))) report(line, `fact not stated in any expected paper: ${JSON.stringify(fact)}`)
    }
  }
})

console.log(`${total} questions in ${where}`)
console.log('kind          dev  test  total')
for (const [kind, c] of counts) {
  console.log(`${kind.padEnd(13)} ${String(c.dev).padStart(3)} ${String(c.test).padStart(5)} ${String(c.dev + c.test).padStart(6)}`)
}
const dev = [...counts.values()].reduce((n, c) => n + c.dev, 0)
const test = [...counts.values()].reduce((n, c) => n + c.test, 0)
console.log(`${'all'.padEnd(13)} ${String(dev).padStart(3)} ${String(test).padStart(5)} ${String(dev + test).padStart(6)}`)

if (problems.length > 0) {
  console.error(`\n${problems.length} problem(s):`)
  for (const p of problems) console.error(`  ${p}`)
  process.exit(1)
}
console.log('ok')
