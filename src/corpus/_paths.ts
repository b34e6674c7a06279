import { fileURLToPath } from 'node:url'

/** The repo's `seeds/`: this file sits two levels below the root both as src/corpus/*.ts and dist/corpus/*.js. */
export const defaultSeedDir = (): string => fileURLToPath(new URL('../../seeds', import.meta.url))
