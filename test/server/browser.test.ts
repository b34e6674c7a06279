import { existsSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { chromium, type BrowserContext, type Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ChatSession } from '../../src/chat/index.js'
import { createApp, listen, type AppDeps, type RunningServer } from '../../src/server/index.js'
import { refusedUrl, scriptedReply, type StubServer } from '../helpers/stub-ollama.js'
import { buildFixture, llmAnswerer, startChatStub, type Fixture } from './_helpers.js'

// The page end to end in headless Debian Chromium: a real server on 127.0.0.1, nothing else reachable.
const CHROMIUM = '/usr/bin/chromium'
const SCREENSHOT = '/tmp/askpapers-page.png'

let fx: Fixture
let llm: StubServer
let context: BrowserContext
let profile: string
const servers: RunningServer[] = []

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: apt-get install -y chromium`)
  fx = await buildFixture()
  llm = await startChatStub(scriptedReply({ deltas: ['LoRA freezes the pretrained weights [', '1] and cuts the GPU memory', ' requirement by 3 times [1].'], delayMs: 250 }))
  profile = await mkdtemp(join(tmpdir(), 'askpapers-chromium-'))
  context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--disable-background-networking', '--disable-gpu', '--disable-component-update', '--disable-sync', '--no-first-run'],
    viewport: { width: 900, height: 900 },
  })
  // Links to arxiv.org are rendered, never followed: only the test server may be reached.
  await context.route(/^(?!http:\/\/127\.0\.0\.1[:/])/, (route) => route.abort())
})

afterAll(async () => {
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

async function ask(page: Page, question: string): Promise<void> {
  await page.locator('#question').fill(question)
  await page.locator('#question').press('Enter')
}

describe('the page', () => {
  it('streams an answer, reveals a citation’s quote on click, and keeps the conversation', async () => {
    const { answerer } = llmAnswerer(fx, llm.url)
    const url = await serve({ answerer, newConversation: () => new ChatSession({ answerer, prompts: fx.deps.prompts }) })
    const page = await context.newPage()
    const dialogs: string[] = []
    page.on('dialog', (dialog) => {
      dialogs.push(dialog.message())
      void dialog.dismiss()
    })
    const chats: Array<Record<string, unknown>> = []
    page.on('request', (request) => {
      if (request.url().endsWith('/v1/chat')) chats.push(JSON.parse(request.postData() ?? '{}'))
    })
    await page.goto(url)
    expect(await page.locator('#keyrow').isHidden()).toBe(true)

    await ask(page, 'How does LoRA reduce GPU memory?')
    const turn = page.locator('#turn-1')
    // Streamed: the first words show before the answer is complete (and before markers become buttons).
    await turn.locator('.a').getByText('LoRA freezes the pretrained weights').waitFor()
    expect(await turn.locator('.cite').count()).toBe(0)
    await turn.locator('.cite').first().waitFor()
    expect(await turn.locator('.a').textContent()).toBe('LoRA freezes the pretrained weights 1 and cuts the GPU memory requirement by 3 times 1.')
    const quote = turn.locator('#turn-1-ref-1 blockquote')
    expect(await quote.isHidden()).toBe(true)
    await turn.locator('.cite').first().click()
    await quote.waitFor({ state: 'visible' })
    expect(await quote.textContent()).toBe(
      'We freeze the pretrained model weights and inject trainable rank decomposition matrices into each layer. LoRA reduces the number of trainable parameters by 10,000 times and the GPU memory requirement by 3 times.',
    )
    expect(await turn.locator('.cite').first().getAttribute('aria-expanded')).toBe('true')
    expect(await turn.locator('#turn-1-ref-1 a').getAttribute('href')).toBe('https://arxiv.org/abs/2106.09685')
    await page.screenshot({ path: SCREENSHOT, fullPage: true })

    await ask(page, 'How many fewer trainable parameters does it need?')
    await page.locator('#turn-2 .cite').first().waitFor()
    expect(chats).toHaveLength(2)
    expect(chats[0]).toEqual({ message: 'How does LoRA reduce GPU memory?' })
    expect(chats[1]).toEqual({ sessionId: expect.stringMatching(/^[0-9a-f-]{36}$/), message: 'How many fewer trainable parameters does it need?' })
    // The rewrite of the follow-up is folded away after the references, not in the answer's meta line.
    expect(await page.locator('#turn-2 .meta').textContent()).toMatch(/^ollama:llama3\.1:8b · \d+ ms$/)
    const searched = page.locator('#turn-2 details.searched')
    expect(await searched.getAttribute('open')).toBeNull()
    expect(await searched.locator('summary').textContent()).toBe('Searched for')
    expect(await searched.locator('p').isHidden()).toBe(true)
    expect(await searched.locator('p').textContent()).toBe('How many fewer trainable parameters does LoRA need?')
    expect(await page.locator('#turn-1 details.searched').count()).toBe(0)
    expect(dialogs).toEqual([])
    await page.screenshot({ path: SCREENSHOT.replace('.png', '-conversation.png'), fullPage: true })
    await page.close()
  })

  it('shows abstract text as text, never as markup', async () => {
    const url = await serve()
    const page = await context.newPage()
    const dialogs: string[] = []
    page.on('dialog', (dialog) => {
      dialogs.push(dialog.message())
      void dialog.dismiss()
    })
    await page.goto(url)
    await ask(page, 'How should markup in abstract text be shown?')
    await page.locator('#turn-1 .cite').first().waitFor()
    await page.locator('#turn-1 .cite').first().click()
    expect(await page.locator('#turn-1 .a').textContent()).toContain('<img src=x onerror=alert(1)>')
    expect(await page.locator('#turn-1-ref-1 .title').textContent()).toBe('Rendering <script>alert(1)</script> Safely')
    expect(await page.locator('#log img, #log script').count()).toBe(0)
    expect(dialogs).toEqual([])
    await page.close()
  })

  it('says clearly when the server fails, and still lists the papers found', async () => {
    const url = await serve(llmAnswerer(fx, await refusedUrl()))
    const page = await context.newPage()
    await page.goto(url)
    await ask(page, 'How does LoRA reduce GPU memory?')
    const error = page.locator('#turn-1 .error')
    await error.waitFor()
    expect(await error.textContent()).toMatch(/^Cannot reach Ollama at http:\/\/127\.0\.0\.1:\d+/)
    expect(await page.locator('#turn-1 .found li').first().textContent()).toBe('LoRA: Low-Rank Adaptation of Large Language Models')
    await page.screenshot({ path: SCREENSHOT.replace('.png', '-error.png'), fullPage: true })
    await page.close()
  })

  it('asks for the API key when the server needs one, and keeps it for the tab', async () => {
    const url = await serve({ apiKey: 'letmein' })
    const page = await context.newPage()
    await page.goto(url)
    expect(await page.locator('#keyrow').isVisible()).toBe(true)
    await ask(page, 'How does LoRA reduce GPU memory?')
    await page.locator('#turn-1 .error').waitFor()
    expect(await page.locator('#turn-1 .error').textContent()).toBe('This server needs an API key: send Authorization: Bearer <key>. Enter the key above, then ask again.')
    await page.locator('#apikey').fill('letmein')
    await page.locator('#apikey').press('Tab')
    await ask(page, 'How does LoRA reduce GPU memory?')
    await page.locator('#turn-2 .cite').first().waitFor()
    await page.reload()
    expect(await page.locator('#apikey').inputValue()).toBe('letmein')
    await page.close()
  })
})
