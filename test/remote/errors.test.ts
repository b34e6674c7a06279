import { describe, expect, it } from 'vitest'
import { describeOllamaError, describeOpenAIError, httpStatus, retryOnlyTransient, rootCause } from '../../src/remote/index.js'

const refused = (): Error => new TypeError('fetch failed', { cause: Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:9'), { code: 'ECONNREFUSED' }) })
const withStatus = (status: number, key: 'status' | 'status_code' = 'status'): Error => Object.assign(new Error(`${status} failed`), { [key]: status })

describe('retryOnlyTransient (the clients fail fast: no retry loop for what will not fix itself)', () => {
  it.each([
    ['a refused connection', refused()],
    ['401 (a wrong key)', withStatus(401)],
    ['404 (no such model, ollama-js status_code)', withStatus(404, 'status_code')],
    ['400 (a wrong request)', withStatus(400)],
  ])('gives up at once on %s', (_name, error) => {
    expect(() => retryOnlyTransient(error)).toThrow(error)
  })

  it.each([
    ['429 (rate limited)', withStatus(429)],
    ['500', withStatus(500)],
    ['503 (busy, ollama-js status_code)', withStatus(503, 'status_code')],
  ])('lets the client retry %s', (_name, error) => {
    expect(() => retryOnlyTransient(error)).not.toThrow()
  })
})

describe('how client failures read', () => {
  it('finds the status and the innermost cause', () => {
    expect(httpStatus(withStatus(404, 'status_code'))).toBe(404)
    expect(httpStatus(refused())).toBeUndefined()
    expect(rootCause(refused())).toBe('connect ECONNREFUSED 127.0.0.1:9')
  })

  it('maps the same failure the same way for Ollama and OpenAI-compatible servers', () => {
    const where = { model: 'm', timeoutMs: 1000 }
    expect(describeOllamaError(refused(), { host: 'http://h:1', ...where })).toMatchObject({ code: 'PROVIDER_UNAVAILABLE' })
    expect(describeOpenAIError(refused(), { baseURL: 'http://h:1/v1', ...where })).toMatchObject({ code: 'PROVIDER_UNAVAILABLE' })
    expect(describeOpenAIError(withStatus(401), { baseURL: 'http://h:1/v1', ...where })).toMatchObject({ code: 'CONFIG' })
    expect(describeOllamaError(withStatus(500, 'status_code'), { host: 'http://h:1', ...where })).toMatchObject({ code: 'PROVIDER_UNAVAILABLE' })
  })
})
