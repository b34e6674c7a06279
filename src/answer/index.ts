// The answer layer's one import surface: the answerer (retrieval → abstention gate → generation →
// citation checks), the chat providers, prompts, citations and the offline extractive answerer.
export * from './answer.js'
export * from './citations.js'
export * from './everyday.js'
export * from './focus.js'
export * from './offline.js'
export * from './prompts.js'
export * from './providers.js'
export * from './sentences.js'
