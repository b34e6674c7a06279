import { defineConfig } from 'vitest/config'

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 180_000,
    // The embedded encoder is CPU-bound; two cores are shared by every worker.
    maxWorkers: 2,
    reporters: ['default', './test/summary-reporter.ts'],
  },
})
