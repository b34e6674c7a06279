import { createHash } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { buildFixture, json, quietApp, type Fixture } from './_helpers.js'

let fx: Fixture
beforeAll(async () => {
  fx = await buildFixture()
})
afterAll(() => fx.close())

const LORA_TITLE = 'LoRA: Low-Rank Adaptation of Large Language Models'
const LORA_QUOTE = 'LoRA reduces the number of trainable parameters by 10,000 times and the GPU memory requirement by 3 times.'

describe('references are citable', () => {
  it('a paper without url, authors or date gets a labelled title search and says what is missing', async () => {
    const { app } = quietApp(fx)
    const body = await (await app.request('/v1/ask', json({ question: 'How does loss scale with model size?' }))).json()
    expect(body.references[0]).toEqual({
      n: 1,
      id: 'scaling',
      title: 'Scaling Laws for Neural Language Models',
      url: null,
      quote: expect.any(String),
      byline: 'authors not in the source',
      link: { url: 'https://scholar.google.com/scholar?q=%22Scaling%20Laws%20for%20Neural%20Language%20Models%22', kind: 'search' },
    })
  })

  it('an abstention’s closest papers carry a labelled link too', async () => {
    const { app } = quietApp(fx)
    const body = await (await app.request('/v1/ask', json({ question: 'What is DoRA?' }))).json()
    expect(body.abstained).toBe(true)
    const byId = Object.fromEntries(body.related.map((p: { id: string; link: unknown }) => [p.id, p.link]))
    expect(byId.lora).toEqual({ url: 'https://arxiv.org/abs/2106.09685', kind: 'record' })
    expect(byId.scaling).toEqual({ url: 'https://scholar.google.com/scholar?q=%22Scaling%20Laws%20for%20Neural%20Language%20Models%22', kind: 'search' })
  })

  it('GET /v1/papers/:id adds year, byline, link and the sentences a quote is made of', async () => {
    const { app } = quietApp(fx)
    const paper = await (await app.request('/v1/papers/lora')).json()
    expect(paper).toMatchObject({
      id: 'lora',
      authors: ['Edward J. Hu', 'Yelong Shen', 'Phillip Wallis', 'Zeyuan Allen-Zhu'],
      date: '2021-06-17',
      year: 2021,
      byline: 'Edward J. Hu, Yelong Shen, Phillip Wallis et al.',
      link: { url: 'https://arxiv.org/abs/2106.09685', kind: 'record' },
      sentences: ['We freeze the pretrained model weights and inject trainable rank decomposition matrices into each layer.', LORA_QUOTE],
    })
  })
})

describe('GET /v1/examples', () => {
  it('makes three questions from indexed titles, the same on every call', async () => {
    const { app } = quietApp(fx)
    const first = await (await app.request('/v1/examples')).json()
    expect(first.questions).toHaveLength(3)
    // The named title comes first; the others are asked about by title; a title with markup is not asked about.
    expect(first.questions[0]).toEqual({ question: 'What is LoRA?', id: 'lora', title: LORA_TITLE })
    expect(first.questions.slice(1).map((q: { question: string }) => q.question).sort()).toEqual([
      'What do the papers say about length generalization in transformers?',
      'What do the papers say about scaling laws for neural language models?',
    ])
    expect(await (await app.request('/v1/examples')).json()).toEqual(first)
  })

  it('asks for the key like any /v1 route', async () => {
    const { app } = quietApp(fx, { apiKey: 'k' })
    expect((await app.request('/v1/examples')).status).toBe(401)
    expect((await app.request('/v1/examples', { headers: { Authorization: 'Bearer k' } })).status).toBe(200)
  })
})

describe('POST /v1/citations', () => {
  const turn = async (question: string) => {
    const { app } = quietApp(fx)
    const answer = await (await app.request('/v1/ask', json({ question }))).json()
    return { question, answer: answer.answer, references: answer.references }
  }

  it('exports answers as Markdown with the references completed from the index', async () => {
    const { app } = quietApp(fx)
    const lora = await turn('How does LoRA reduce GPU memory?')
    // The page sends back only what it shows; authors and date come from the index.
    const sent = { ...lora, references: lora.references.map(({ n, id, title, url, quote }: Record<string, unknown>) => ({ n, id, title, url, quote })) }
    const res = await app.request('/v1/citations', json({ format: 'markdown', turns: [sent] }))
    expect(res.status).toBe(200)
    expect(await res.json()).toEqual({
      format: 'markdown',
      text: [
        '## How does LoRA reduce GPU memory?',
        '',
        `${LORA_QUOTE.slice(0, -1)} [1].`,
        '',
        '**References**',
        '',
        `1. LoRA: Low-Rank Adaptation of Large Language Models. Edward J. Hu, Yelong Shen, Phillip Wallis et al., 2021. <https://arxiv.org/abs/2106.09685>`,
        `   > ${LORA_QUOTE}`,
        '',
      ].join('\n'),
    })
  })

  it('exports the cited papers as BibTeX', async () => {
    const { app } = quietApp(fx)
    const turns = [await turn('How does LoRA reduce GPU memory?'), await turn('How does loss scale with model size?')]
    const { text } = await (await app.request('/v1/citations', json({ format: 'bibtex', turns }))).json()
    expect(text).toBe(
      [
        '@misc{hu2021lora,',
        '  title = {{LoRA: Low-Rank Adaptation of Large Language Models}},',
        '  author = {Edward J. Hu and Yelong Shen and Phillip Wallis and Zeyuan Allen-Zhu},',
        '  year = {2021},',
        '  howpublished = {\\url{https://arxiv.org/abs/2106.09685}},',
        '  url = {https://arxiv.org/abs/2106.09685},',
        '}',
        '',
        '@misc{scaling,',
        '  title = {{Scaling Laws for Neural Language Models}},',
        '  note = {authors not in the source; no link in the source},',
        '}',
        '',
      ].join('\n'),
    )
  })

  it.each([
    ['an unknown format', { format: 'ris', turns: [] }, 'format', 'format must be markdown or bibtex.'],
    ['no turns', { format: 'bibtex', turns: [] }, 'turns', 'turns is empty: send at least one answered question.'],
    ['a reference without its id', { format: 'bibtex', turns: [{ question: 'q', answer: 'a', references: [{ n: 1, title: 't' }] }] }, 'turns.0.references.0.id', 'Each reference needs the paper id.'],
  ])('refuses %s', async (_what, body, field, message) => {
    const { app } = quietApp(fx)
    const res = await app.request('/v1/citations', json(body))
    expect(res.status).toBe(400)
    expect(await res.json()).toEqual({ error: { code: 'BAD_INPUT', field, message } })
  })
})

describe('the page', () => {
  it('is one document whose CSP hash is that of its only script, the typed page script inlined', async () => {
    const { app } = quietApp(fx)
    const res = await app.request('/')
    const html = await res.text()
    const scripts = [...html.matchAll(/<script([^>]*)>([\s\S]*?)<\/script>/g)]
    expect(scripts).toHaveLength(1)
    expect(scripts[0]![1]).toBe('')
    const script = scripts[0]![2]!
    expect(script).toContain('// @ts-check')
    expect(script).toContain('function createSseParser(onEvent)')
    const digest = createHash('sha256').update(script).digest('base64')
    expect(res.headers.get('content-security-policy')).toContain(`script-src 'sha256-${digest}'`)
    expect(html).not.toMatch(/<(?:link|img|script)[^>]+(?:src|href)="(?!data:)/)
    expect(html).toContain('data-max-k="100"')
  })
})
