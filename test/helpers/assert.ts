import { expect } from 'vitest'
import { AppError } from '../../src/errors.js'

/** The vector scaled to unit length, as every embedder returns it. */
export const unit = (v: number[]): number[] => {
  const norm = Math.hypot(...v)
  return v.map((x) => x / norm)
}

/** The AppError a promise rejects with; fails the test if it resolves or rejects with anything else. */
export async function rejection(promise: Promise<unknown>): Promise<AppError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  )
  expect(error).toBeInstanceOf(AppError)
  return error as AppError
}
