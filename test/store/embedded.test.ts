import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { PaperIndex } from '../../src/index/store/index.js'
import { storeContract } from './contract.js'

// The same contract suite the PostgreSQL store runs (postgres.test.ts), against a data directory.
storeContract('embedded (data directory)', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'askpapers-contract-'))
  const index = await PaperIndex.open(dir)
  return {
    writer: index,
    reader: () => PaperIndex.open(dir),
    close: () => rm(dir, { recursive: true, force: true }),
  }
})
