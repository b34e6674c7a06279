import { existsSync } from 'node:fs'
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { chromium, type BrowserContext, type Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ChatSession } from '../../src/chat/index.js'
import { createApp, listen, type AppDeps, type RunningServer } from '../../src/server/index.js'
import { refusedUrl, scriptedReplies, type StubServer } from '../helpers/stub-ollama.js'
import { buildFixture, llmAnswerer, startChatStub, withParts, type Fixture } from './_helpers.js'

// The page end to end in headless Debian Chromium: a real server on 127.0.0.1, nothing else reachable.
// Every wait is on the page's own state (data-state attributes, elements it adds), never on a timer.
const CHROMIUM = '/usr/bin/chromium'
const ARTIFACTS = join(import.meta.dirname, '../../test-artifacts')
const shot = (page: Page, name: string): Promise<Buffer> => page.screenshot({ path: join(ARTIFACTS, `page-${name}.png`), fullPage: true })

const LORA_TITLE = 'LoRA: Low-Rank Adaptation of Large Language Models'
const LORA_FIRST = 'We freeze the pretrained model weights and inject trainable rank decomposition matrices into each layer.'
const LORA_QUOTE = 'LoRA reduces the number of trainable parameters by 10,000 times and the GPU memory requirement by 3 times.'

let fx: Fixture
let llm: StubServer
/** Lets the n-th answer of the LLM stub go on past its first two pieces. */
const release: Array<() => void> = []
let context: BrowserContext
let profile: string
const servers: RunningServer[] = []

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: apt-get install -y chromium`)
  await mkdir(ARTIFACTS, { recursive: true })
  fx = await buildFixture()
  // Each answer stops after two pieces until the test has seen it midway: no race with the machine's load.
  const deltas = ['LoRA freezes the pretrained weights [', '1] and cuts the GPU memory', ' requirement by 3 times [1].']
  const gates = [0, 1].map(() => new Promise<void>((resolve) => release.push(resolve)))
  llm = await startChatStub(scriptedReplies(...gates.map((resume) => ({ deltas, pauseAfter: 2, resume }))))
  profile = await mkdtemp(join(tmpdir(), 'askpapers-chromium-'))
  context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--disable-background-networking', '--disable-gpu', '--disable-component-update', '--disable-sync', '--no-first-run'],
    viewport: { width: 900, height: 900 },
    acceptDownloads: true,
  })
  // Links to arxiv.org are rendered, never followed: only the test server may be reached.
  await context.route(/^(?!http:\/\/127\.0\.0\.1[:/])/, (route) => route.abort())
})

afterAll(async () => {
  for (const go of release) go()
  await context?.close()
  await Promise.all(servers.map((s) => s.close()))
  await llm?.close()
  await fx?.close()
  if (profile) await rm(profile, { recursive: true, force: true })
})

async function serve(options: Partial<AppDeps> = {}): Promise<string> {
  const server = await listen(createApp({ ...fx.deps, log: () => {}, ...options }), { port: 0 })
  servers.push(server)
  return server.url
}

async function open(url: string): Promise<Page> {
  const page = await context.newPage()
  await page.goto(url)
  await page.locator('body:not([data-state="loading"])').waitFor()
  return page
}

async function ask(page: Page, question: string): Promise<void> {
  await page.locator('#question').fill(question)
  await page.locator('#question').press('Enter')
}

/** Where `selector` is relative to the window and the input bar fixed at its bottom. */
const placement = (page: Page, selector: string) =>
  page.evaluate((s) => {
    // Runs in the page: the DOM is there, though not in this file's types.
    const { document } = globalThis as unknown as { document: { querySelector(s: string): { getBoundingClientRect(): { top: number; bottom: number } } | null } }
    const node = document.querySelector(s)
    const bar = document.querySelector('#ask')
    if (!node || !bar) throw new Error(`no ${s}`)
    const rect = node.getBoundingClientRect()
    return { top: rect.top, bottom: rect.bottom, barTop: bar.getBoundingClientRect().top }
  }, selector)

describe('the page', () => {
  it('opens on a first screen: corpus size, embedder, answerer and three questions from the corpus', async () => {
    const page = await open(await serve())
    await page.locator('#intro[data-state="ready"]').waitFor()
    expect(await page.locator('#corpus').textContent()).toBe(`4 papers indexed · embeddings: ollama ${fx.deps.services.index.embedder.model}`)
    expect(await page.locator('#answerer').textContent()).toBe('Answers: quoted sentences from the abstracts (offline, no language model).')
    const examples = page.locator('#examples button')
    expect(await examples.count()).toBe(3)
    expect(await examples.first().textContent()).toBe('What is LoRA?')
    await shot(page, 'first-screen')
    // An example is asked as it is.
    await examples.first().click()
    await page.locator('#turn-1[data-state="done"]').waitFor()
    expect(await page.locator('#turn-1 .q').textContent()).toBe('What is LoRA?')
    expect(await page.locator('#intro').isHidden()).toBe(true)
    await page.close()
  })

  it('streams an answer, keeps it in view above the input bar, reveals a citation’s quote and keeps the conversation', async () => {
    const { answerer, provider } = llmAnswerer(fx, llm.url)
    const url = await serve({ services: withParts(fx, { answerer, provider, newConversation: () => new ChatSession({ answerer, prompts: fx.prompts }) }) })
    const page = await open(url)
    await page.locator('#intro[data-state="ready"]').waitFor()
    expect(await page.locator('#answerer').textContent()).toBe('Answers: written by ollama llama3.1:8b, each claim cited.')
    await page.setViewportSize({ width: 900, height: 560 })
    const dialogs: string[] = []
    page.on('dialog', (dialog) => {
      dialogs.push(dialog.message())
      void dialog.dismiss()
    })
    const chats: Array<Record<string, unknown>> = []
    page.on('request', (request) => {
      if (request.url().endsWith('/v1/chat')) chats.push(JSON.parse(request.postData() ?? '{}'))
    })
    expect(await page.locator('#keyrow').isHidden()).toBe(true)

    await ask(page, 'How does LoRA reduce GPU memory?')
    const turn = page.locator('#turn-1')
    // Streamed: the first words show while the model is held midway, before markers become buttons.
    await page.locator('#turn-1[data-state="streaming"]').waitFor()
    await turn.locator('.a').getByText('LoRA freezes the pretrained weights [1] and cuts the GPU memory').waitFor()
    expect(await page.locator('body').getAttribute('data-state')).toBe('streaming')
    expect(await turn.locator('.cite').count()).toBe(0)
    release[0]!()
    await page.locator('#turn-1[data-state="done"]').waitFor()
    expect(await page.locator('body').getAttribute('data-state')).toBe('done')
    expect(await turn.locator('.a').textContent()).toBe('LoRA freezes the pretrained weights 1 and cuts the GPU memory requirement by 3 times 1.')
    // The chip and the full stop after it are one unbreakable run.
    expect(await turn.locator('.cite-run').allTextContents()).toEqual(['1', '1.'])
    const quote = turn.locator('#turn-1-ref-1 blockquote')
    expect(await quote.isHidden()).toBe(true)
    await turn.locator('.cite').first().click()
    await quote.waitFor({ state: 'visible' })
    expect(await quote.textContent()).toBe(`${LORA_FIRST} ${LORA_QUOTE}`)
    expect(await turn.locator('.cite').first().getAttribute('aria-expanded')).toBe('true')
    expect(await turn.locator('#turn-1-ref-1 .facts').textContent()).toBe('Edward J. Hu, Yelong Shen, Phillip Wallis et al., 2021 · arxiv.org')
    expect(await turn.locator('#turn-1-ref-1 .facts a').getAttribute('href')).toBe('https://arxiv.org/abs/2106.09685')
    await shot(page, 'answer')

    await ask(page, 'How many fewer trainable parameters does it need?')
    // Midway, the streaming answer is in view above the fixed input bar…
    await page.locator('#turn-2[data-state="streaming"]').waitFor()
    await page.locator('#turn-2 .a').getByText('and cuts the GPU memory').waitFor()
    const streaming = await placement(page, '#turn-2 .a')
    expect(streaming.top).toBeGreaterThanOrEqual(0)
    expect(streaming.bottom).toBeLessThanOrEqual(streaming.barTop)
    release[1]!()
    await page.locator('#turn-2[data-state="done"]').waitFor()
    // …and so is the finished one.
    const where = await placement(page, '#turn-2 .a')
    expect(where.top).toBeGreaterThanOrEqual(0)
    expect(where.bottom).toBeLessThanOrEqual(where.barTop)
    expect(chats).toHaveLength(2)
    expect(chats[0]).toEqual({ message: 'How does LoRA reduce GPU memory?' })
    expect(chats[1]).toEqual({ sessionId: expect.stringMatching(/^[0-9a-f-]{36}$/), message: 'How many fewer trainable parameters does it need?' })
    // The rewrite of the follow-up is folded away after the references, not in the answer's meta line.
    expect(await page.locator('#turn-2 .meta').textContent()).toMatch(/^ollama:llama3\.1:8b · \d+ ms · Copy citations \(BibTeX\)$/)
    const searched = page.locator('#turn-2 details.searched')
    expect(await searched.getAttribute('open')).toBeNull()
    expect(await searched.locator('summary').textContent()).toBe('Searched for')
    expect(await searched.locator('p').isHidden()).toBe(true)
    expect(await searched.locator('p').textContent()).toBe('How many fewer trainable parameters does LoRA need?')
    expect(await page.locator('#turn-1 details.searched').count()).toBe(0)
    expect(dialogs).toEqual([])
    await shot(page, 'conversation')

    // At every width, no chip's run is broken across lines: its full stop never starts one.
    const broken: number[] = []
    for (let width = 280; width <= 520; width += 6) {
      await page.setViewportSize({ width, height: 560 })
      const lines = await page.locator('.cite-run').evaluateAll((runs) => runs.map((run) => new Set([...run.getClientRects()].map((r) => Math.round(r.top))).size))
      if (lines.some((n) => n !== 1)) broken.push(width)
    }
    expect(broken).toEqual([])
    await page.close()
  })

  it('opens a reference in a panel: authors, year, link, the abstract with the quote marked', async () => {
    const page = await open(await serve())
    await ask(page, 'How does LoRA reduce GPU memory?')
    await page.locator('#turn-1[data-state="done"]').waitFor()
    await page.locator('#turn-1-ref-1 .title').click()
    const panel = page.locator('#panel[data-state="ready"]')
    await panel.waitFor()
    expect(await panel.locator('#panel-title').textContent()).toBe(LORA_TITLE)
    expect(await panel.locator('#panel-authors').textContent()).toBe('Edward J. Hu, Yelong Shen, Phillip Wallis, Zeyuan Allen-Zhu')
    expect(await panel.locator('#panel-year').textContent()).toBe('2021')
    expect(await panel.locator('#panel-link a').getAttribute('href')).toBe('https://arxiv.org/abs/2106.09685')
    expect(await panel.locator('#panel-abstract').textContent()).toBe(`${LORA_FIRST} ${LORA_QUOTE}`)
    expect(await panel.locator('#panel-abstract mark').allTextContents()).toEqual([LORA_QUOTE])
    await shot(page, 'reference-panel')
    await page.keyboard.press('Escape')
    await page.locator('#panel[data-state="closed"]').waitFor({ state: 'hidden' })
    // Focus goes back to the reference that opened it.
    expect(await page.locator('#turn-1-ref-1 .title').evaluate((title) => title === title.ownerDocument.activeElement)).toBe(true)

    // A paper the source gives no link for: the title search is labelled as such.
    await ask(page, 'How does loss scale with model size?')
    await page.locator('#turn-2[data-state="done"]').waitFor()
    expect(await page.locator('#turn-2-ref-1 .facts').textContent()).toBe('authors not in the source · No link in the source: search for the title')
    await page.locator('#turn-2-ref-1 .title').click()
    await page.locator('#panel[data-state="ready"]').waitFor()
    expect(await page.locator('#panel-year').textContent()).toBe('Year not in the source')
    expect(await page.locator('#panel-link a').getAttribute('href')).toBe('https://scholar.google.com/scholar?q=%22Scaling%20Laws%20for%20Neural%20Language%20Models%22')
    await page.close()
  })

  it('exports the conversation as Markdown and copies an answer’s citations as BibTeX', async () => {
    const url = await serve()
    await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: url.replace(/\/$/, '') })
    const page = await open(url)
    expect(await page.locator('#export').isDisabled()).toBe(true)
    await ask(page, 'How does LoRA reduce GPU memory?')
    await page.locator('#turn-1[data-state="done"]').waitFor()
    await ask(page, 'How does loss scale with model size?')
    await page.locator('#turn-2[data-state="done"]').waitFor()

    const [download] = await Promise.all([page.waitForEvent('download'), page.locator('#export').click()])
    expect(download.suggestedFilename()).toBe('askpapers-conversation.md')
    const markdown = await readFile(await download.path(), 'utf8')
    expect(markdown).toMatch(/^## How does LoRA reduce GPU memory\?\n\n/)
    expect(markdown).toContain(`1. ${LORA_TITLE}. Edward J. Hu, Yelong Shen, Phillip Wallis et al., 2021. <https://arxiv.org/abs/2106.09685>\n   > ${LORA_QUOTE}\n`)
    expect(markdown).toContain('\n\n## How does loss scale with model size?\n\n')
    expect(markdown).toContain('1. Scaling Laws for Neural Language Models. authors not in the source. no link in the source; [search by title](https://scholar.google.com/')

    await page.locator('#turn-1 .copy').click()
    await page.locator('#turn-1 .copy[data-state="done"]').waitFor()
    expect(await page.locator('#turn-1 .copied').textContent()).toBe('Copied 1 BibTeX entry.')
    const copied = await page.evaluate(() => (globalThis as unknown as { navigator: { clipboard: { readText(): Promise<string> } } }).navigator.clipboard.readText())
    expect(copied).toMatch(/^@misc\{hu2021lora,\n {2}title = \{\{LoRA: Low-Rank Adaptation of Large Language Models\}\},\n/)
    await shot(page, 'exported')
    await page.close()
  })

  it('sends k and the year and source filters set under "Papers and filters"', async () => {
    const page = await open(await serve())
    const chats: Array<Record<string, unknown>> = []
    page.on('request', (request) => {
      if (request.url().endsWith('/v1/chat')) chats.push(JSON.parse(request.postData() ?? '{}'))
    })
    await page.locator('#settings summary').click()
    await page.locator('#k').fill('2')
    await page.locator('#year-from').fill('2020')
    await page.locator('#year-to').fill('2022')
    await page.locator('#source').fill('papers.jsonl')
    expect(await page.locator('#settings-note').textContent()).toBe('Asking with 2 papers, years 2020–2022, from papers.jsonl.')
    await shot(page, 'settings')
    await ask(page, 'How does LoRA reduce GPU memory?')
    await page.locator('#turn-1[data-state="done"]').waitFor()
    expect(chats).toEqual([{ message: 'How does LoRA reduce GPU memory?', k: 2, filters: { years: { from: 2020, to: 2022 }, sources: ['papers.jsonl'] } }])
    // Only the LoRA record is dated, 2021: the filter kept the others out.
    expect(await page.locator('#turn-1 .refs .title').allTextContents()).toEqual([LORA_TITLE])
    // A filter no paper matches is said so, not answered from everything.
    await page.locator('#year-from').fill('1990')
    await page.locator('#year-to').fill('1991')
    await ask(page, 'How does LoRA reduce GPU memory?')
    await page.locator('#turn-2[data-state="error"]').waitFor()
    expect(await page.locator('#turn-2 .error').textContent()).toMatch(/1990/)
    await page.close()
  })

  it('shows abstract text as text, never as markup', async () => {
    const page = await open(await serve())
    const dialogs: string[] = []
    page.on('dialog', (dialog) => {
      dialogs.push(dialog.message())
      void dialog.dismiss()
    })
    await ask(page, 'How should markup in abstract text be shown?')
    await page.locator('#turn-1[data-state="done"]').waitFor()
    await page.locator('#turn-1 .cite').first().click()
    expect(await page.locator('#turn-1 .a').textContent()).toContain('<img src=x onerror=alert(1)>')
    expect(await page.locator('#turn-1-ref-1 .title').textContent()).toBe('Rendering <script>alert(1)</script> Safely')
    await page.locator('#turn-1-ref-1 .title').click()
    await page.locator('#panel[data-state="ready"]').waitFor()
    expect(await page.locator('#panel-title').textContent()).toBe('Rendering <script>alert(1)</script> Safely')
    expect(await page.locator('#log img, #log script, #panel img, #panel script').count()).toBe(0)
    expect(dialogs).toEqual([])
    await page.close()
  })

  it('says clearly when the server fails, and still lists the papers found', async () => {
    const page = await open(await serve(llmAnswerer(fx, await refusedUrl())))
    await ask(page, 'How does LoRA reduce GPU memory?')
    await page.locator('#turn-1[data-state="error"]').waitFor()
    expect(await page.locator('body').getAttribute('data-state')).toBe('error')
    expect(await page.locator('#turn-1 .error').textContent()).toMatch(/^Cannot reach Ollama at http:\/\/127\.0\.0\.1:\d+/)
    expect(await page.locator('#turn-1 .found li').first().textContent()).toBe(LORA_TITLE)
    await shot(page, 'error')
    await page.close()
  })

  it('asks for the API key when the server needs one, and keeps it for the tab', async () => {
    const page = await open(await serve({ apiKey: 'letmein' }))
    expect(await page.locator('#keyrow').isVisible()).toBe(true)
    await page.locator('#intro[data-state="ready"]').waitFor()
    expect(await page.locator('#examples').textContent()).toBe('Enter the API key above to see example questions.')
    await ask(page, 'How does LoRA reduce GPU memory?')
    await page.locator('#turn-1[data-state="error"]').waitFor()
    expect(await page.locator('#turn-1 .error').textContent()).toBe('This server needs an API key: send Authorization: Bearer <key>. Enter the key above, then ask again.')
    await page.locator('#apikey').fill('letmein')
    await page.locator('#apikey').press('Tab')
    await ask(page, 'How does LoRA reduce GPU memory?')
    await page.locator('#turn-2[data-state="done"]').waitFor()
    await page.reload()
    expect(await page.locator('#apikey').inputValue()).toBe('letmein')
    await page.locator('#intro[data-state="ready"]').waitFor()
    expect(await page.locator('#examples button').count()).toBe(3)
    await page.close()
  })
})
