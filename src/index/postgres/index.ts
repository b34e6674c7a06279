export { PostgresStore, SCHEMA_VERSION, type PostgresStoreOptions } from './_store.js'
export { LATEST, MIGRATIONS, migrate, type Migration } from './_schema.js'
export { parseStoreUrl, redactUrl, type StoreTarget } from './_url.js'
export { storeError, CREATE_EXTENSION_HINT } from './_errors.js'
