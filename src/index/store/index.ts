export type { Paper } from '../../corpus/index.js'
export { PaperIndex } from './_paper-index.js'
export { assertEmbedder, chunkCache, embedWithProgress, ingestPapers, type IngestCounts, type IngestDetails, type IngestOptions, type IngestPlan, type IngestResult } from './_ingest.js'
export { repairIndex, type RepairOptions, type RepairReport } from './_repair.js'
export type { Manifest, SaveStep, StoredPaper } from './_generation.js'
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
