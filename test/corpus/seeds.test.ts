import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { defaultSeedDir, detectSeedLayout, loadPapers, normaliseTitle, parseFile } from '../../src/corpus/index.js'

const SEEDS = ['000_45a52416460ecdf0.txt', '001_27e1f35541f4bc66.txt', '002_abaebc348fccd9e1.txt'] as const
const seed = (name: (typeof SEEDS)[number]): string => join(defaultSeedDir(), name)

const CHROME = /^(new|subscribe|daily papers|byak and the research community|get trending papers.*|[a-z]{3} \d{1,2}(, \d{4})?)$/i

describe('the shipped seed pages', () => {
  it.each([
    [SEEDS[0], 'paired-blocks', 75],
    [SEEDS[1], 'paired-blocks-with-meta', 39],
    [SEEDS[2], 'alternating-lines', 217],
  ])('%s is read as %s: %i papers, no problems', async (name, layout, count) => {
    expect(detectSeedLayout(await readFile(seed(name), 'utf8'))).toBe(layout)
    const { papers, problems } = await parseFile(seed(name))
    expect(problems).toStrictEqual([])
    expect(papers).toHaveLength(count)
  })

  it('hold 317 unique papers; the 14 listed twice keep both sources and the richer metadata', async () => {
    const { papers, problems } = await loadPapers([defaultSeedDir()])
    expect(problems).toStrictEqual([])
    expect(papers).toHaveLength(317)
    expect(new Set(papers.map((p) => p.id)).size).toBe(317)
    const twice = papers.filter((p) => p.sources.length > 1)
    expect(twice.map((p) => [p.title, ...p.sources.map((s) => s.slice(defaultSeedDir().length + 1))])).toStrictEqual([
      ['ERNIE 3.0: Large-scale Knowledge Enhanced Pre-training for Language Understanding and Generation', `${SEEDS[0]}:23`, `${SEEDS[2]}:89`],
      ['Gradient-Regulated Meta-Prompt Learning for Generalizable Vision-Language Models', `${SEEDS[0]}:35`, `${SEEDS[2]}:371`],
      ['Domain-Specific Language Model Pretraining for Biomedical Natural Language Processing', `${SEEDS[0]}:39`, `${SEEDS[2]}:213`],
      ['LEVI: Generalizable Fine-tuning via Layer-wise Ensemble of Different Views', `${SEEDS[0]}:47`, `${SEEDS[2]}:53`],
      ['Rethinking Supervised Pre-training for Better Downstream Transferring', `${SEEDS[0]}:59`, `${SEEDS[2]}:47`],
      ['Selective Self-to-Supervised Fine-Tuning for Generalization in Large Language Models', `${SEEDS[0]}:79`, `${SEEDS[2]}:57`],
      ['DSEE: Dually Sparsity-embedded Efficient Tuning of Pre-trained Language Models', `${SEEDS[0]}:107`, `${SEEDS[2]}:51`],
      ['UL2: Unifying Language Learning Paradigms', `${SEEDS[0]}:131`, `${SEEDS[2]}:49`],
      ["What's New in My Data? Novelty Exploration via Contrastive Generation", `${SEEDS[0]}:175`, `${SEEDS[2]}:351`],
      ['SPDF: Sparse Pre-training and Dense Fine-tuning for Large Language Models', `${SEEDS[0]}:179`, `${SEEDS[2]}:37`],
      ['Arbitrary Few Parameters are Good Enough for Adapting Large-scale Pre-trained Language Models', `${SEEDS[0]}:283`, `${SEEDS[1]}:189`],
      ['Towards a Unified View of Parameter-Efficient Transfer Learning', `${SEEDS[1]}:53`, `${SEEDS[2]}:139`],
      ['Adapting Language Models for Zero-shot Learning by Meta-tuning on Dataset and Prompt Collections', `${SEEDS[1]}:305`, `${SEEDS[2]}:289`],
      ['Compacter: Efficient Low-Rank Hypercomplex Adapter Layers', `${SEEDS[1]}:313`, `${SEEDS[2]}:385`],
    ])
    // Listed first on the page without metadata, second on the page with it.
    const arbitrary = twice.find((p) => p.title.startsWith('Arbitrary Few Parameters'))
    expect(arbitrary).toMatchObject({ authorCount: 10, date: 'Jun 4, 2023' })
    expect(arbitrary).not.toHaveProperty('upvotes')
  })

  it('yield no chrome titles and no abstract that is a title', async () => {
    const { papers } = await loadPapers([defaultSeedDir()])
    const titles = new Set(papers.map((p) => normaliseTitle(p.title)))
    expect(papers.filter((p) => CHROME.test(p.title) || p.title.startsWith('Subscribe'))).toStrictEqual([])
    expect(papers.filter((p) => titles.has(normaliseTitle(p.abstract)))).toStrictEqual([])
    // Titles are phrases, abstracts are prose: no title ends a sentence, every abstract has several.
    expect(papers.filter((p) => p.title.endsWith('.'))).toStrictEqual([])
    expect(papers.filter((p) => p.abstract.split(/[.!?] /).length < 2)).toStrictEqual([])
  })
})
