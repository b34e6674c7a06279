import { defineConfig } from 'vitest/config'

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Rebuilds dist/ when src/ is newer, for the tests that spawn the built CLI (test/global-setup.ts).
    globalSetup: ['./test/global-setup.ts'],
    testTimeout: 60_000,
    hookTimeout: 180_000,
    // The embedded encoder is CPU-bound; two cores are shared by every worker.
    maxWorkers: 2,
    reporters: ['default', './test/summary-reporter.ts'],
  },
})
