// The index layer's one import surface: chunking, the embedders, and the two stores (the embedded
// one in ./store, PostgreSQL in ./postgres), each behind its own index.ts.
export * from './chunk.js'
export * from './embedders/index.js'
export * from './store/index.js'
export * from './postgres/index.js'
