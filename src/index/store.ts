// The store lives in ./store/ (its index.ts is the surface); this path stays for existing importers.
export * from './store/index.js'
