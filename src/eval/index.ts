// The evaluation harness's one import surface: retrieval and answer metrics, and the HTML report.
export * from './answers.js'
export * from './harness.js'
export * from './metrics.js'
export * from './report.js'
