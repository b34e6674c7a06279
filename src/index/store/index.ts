export { PaperIndex, type IngestCounts, type IngestDetails, type IngestOptions, type IngestPlan } from './_paper-index.js'
export { repairIndex, type RepairOptions, type RepairReport } from './_repair.js'
export type { ChunkMeta, Manifest, SaveStep, StoredPaper } from './_generation.js'
export type { LockHolder, LockOptions } from './_lock.js'
export type {
  ChunkNeighbour,
  CorpusBatch,
  CorpusReader,
  CorpusWriter,
  PaperFilter,
  ScoredId,
  StoreInfo,
  StoredChunk,
  TermStats,
  WriteSession,
} from './_contract.js'
