/**
 * rdbmerge as a library (package.json "main"). The RDB codec itself is the `rdbmerge/codec`
 * entry (native-free-parser/index.ts). Pipelines return reports or throw typed errors; none of
 * them prints or exits.
 */

// Pipelines
export { inspect, keyText, INSPECT_FORMATS } from './pipelines/inspect.js';
export type {
  InspectOptions, InspectReport, InspectFormat, InspectProgress, InspectTotal, FileSummary, KeyStats, LargeKey,
  FunctionLibrarySummary,
} from './pipelines/inspect.js';
export { inspectMemory, inspectReport, writeMemory } from './pipelines/inspect-memory.js';
export type {
  MemoryRow, MemoryOptions, InspectMemoryOptions, InspectMemoryResult, InspectReportOptions, WriteMemoryOptions,
} from './pipelines/inspect-memory.js';
export { memoryModel, keyMemory, sizeClass, sdsSize, raxNodes, DEFAULT_ENCODING_CONFIG } from './report/memory.js';
export type { MemoryModel, KeyMemory, KeyMemoryOptions, EncodingConfig } from './report/memory.js';
export { ReportBuilder, TTL_BUCKETS } from './report/report.js';
export type { MemoryReport, ReportOptions, ReportKey, PrefixNode, TopKey, Count, TtlBucket } from './report/report.js';
export { memoryCsvHeader, memoryCsvLine, memoryJsonLine, renderMemoryReport, MEMORY_CSV_COLUMNS } from './format/memory.js';
export { merge, splitPaths, settleFunctions, MergeConflictError } from './pipelines/merge.js';
export type {
  MergeOptions, MergeReport, MergeProgress, ConflictPolicy, CollisionEntry, FunctionConflict, InputReport, OutputFile,
} from './pipelines/merge.js';
export { verify } from './pipelines/verify-run.js';
export type { VerifyAnyOptions } from './pipelines/verify-run.js';
export { verifyAgainst } from './pipelines/verify.js';
export type { VerifyOptions, VerifyReport, VerifyDifference, VerifyField, VerifyProgress } from './pipelines/verify.js';
export { verifyTarget } from './pipelines/verify-target.js';
export type { VerifyTargetOptions, VerifyTargetReport, VerifyTargetProgress } from './pipelines/verify-target.js';
export { replay, ReplayPartialFailure, ReplayBusyKeys } from './pipelines/replay.js';
export type { ReplayOptions, ReplayReport, ReplayProgress, BusyKeyPolicy, KeyFailure } from './pipelines/replay.js';
export { diff } from './pipelines/diff.js';
export type { DiffOptions, DiffReport, DiffDifference, DiffProgress, DiffInput } from './pipelines/diff.js';
export { plan } from './pipelines/plan.js';
export type { PlanOptions, PlanReport, PlanProgress, LimitSource } from './pipelines/plan.js';
export { fetch, readSourcesFile, clusterMasters, sourceFileStem } from './pipelines/fetch.js';
export type { FetchOptions, FetchReport, FetchSourceReport, FetchEvent, FetchPhase, FetchMeta } from './pipelines/fetch.js';
export { migrate, MigratePartialFailure } from './pipelines/migrate.js';
export type { MigrateOptions, MigrateReport } from './pipelines/migrate.js';
export { replayStreams } from './pipelines/stream-replay.js';
export type { StreamReplayOptions, StreamReplayReport, StreamSourceReport } from './pipelines/stream-replay.js';
export { openSnapshot } from './redis/replication.js';
export type { SnapshotStream, SnapshotOptions, TlsSettings } from './redis/replication.js';
export { readRdbFile } from './io/rdb-file.js';
export { KeyIndex, keyHash } from './merge/key-index.js';
export { keySlot, splitSlots, parseClusterNodes } from './merge/slots.js';
export { createSelector, snapshotTimeOption, unmatchedSnapshotTimes } from './pipelines/select.js';
export type { Selector, SelectInput, SnapshotTime, SnapshotTimeSource, DropReason } from './pipelines/select.js';

// The codec's main pieces (all of it: the `rdbmerge/codec` entry)
export {
  readRdb, readRdbAll, RdbWriter, decodeValue, encodeValue, convertForTarget, buildDumpPayload, parseDumpPayload,
  payloadForTarget, RdbError, CorruptError, TruncatedError, ChecksumError, UnsupportedError, LimitError, isRdbError,
} from '../native-free-parser/index.js';
export type {
  RdbRecord, KeyRecord, Value, ReadOptions, RdbInput, RdbWriterOptions, WriterKey, WriteOutcome, DumpPayload,
} from '../native-free-parser/index.js';

// Options and values
export { defaultSharedOptions } from './cli-options.js';
export type { SharedOptions, GlobalOptions } from './cli-options.js';
export {
  parseDuration, parseTime, parseSize, parseDbNumber, parseDbList, parseTypeList, parseDbMap, parseSnapshotTime,
  parseUri, redactUri, LOGICAL_TYPES,
} from './values.js';
export type { RedisUri, SnapshotTimeOption } from './values.js';
export { compileGlob, globMatch } from './glob.js';
export type { GlobMatcher } from './glob.js';
export { parseFunctionLibrary } from './functions.js';
export type { FunctionLibrary } from './functions.js';

// Files
export { expandInputs, readChunks, readStream, atomicWrite, abortAllAtomicWrites, snapshotTimeFromDisk } from './io/files.js';
export type { AtomicFile } from './io/files.js';

// Errors
export {
  EXIT, exitCodeFor, ToolError, UsageError, NetworkError, ConflictError, VerifyDiffError, PartialFailureError,
  InterruptedError,
} from './errors.js';

// The command line
export { main } from './cli.js';
