/**
 * rdbmerge's RDB codec: no dependencies, no Node.js APIs. Reads RDB 1-12 and Valkey 9 streams,
 * writes RDB 6-12, builds and verifies DUMP payloads.
 */

// Reader
export { readRdb, readRdbAll, RdbParser, blobCount, isStreamType, parseKeyAt, rawKeyOf } from './reader.js';
export type { ReadOptions, RdbInput } from './reader.js';

// Records
export type {
  RdbRecord, HeaderRecord, AuxRecord, SelectDbRecord, ResizeDbRecord, SlotInfoRecord, FunctionRecord,
  ModuleAuxRecord, KeyRecord, SkippedRecord, EofRecord,
} from './model.js';

// Values
export { decodeValue, parseRedisDouble, moduleName, moduleId, streamIdToString } from './decode.js';
export type {
  Value, StreamValue, StreamId, StreamGroup, StreamConsumer, StreamPending, ModuleValue, DecodeOptions,
} from './decode.js';

// Errors
export {
  RdbError, CorruptError, TruncatedError, ChecksumError, UnsupportedError, LimitError, isRdbError, checksumMismatch,
} from './errors.js';
export type { RdbErrorKind, RdbErrorInfo } from './errors.js';

// Format constants
export * as rdb from './constants.js';
export {
  TYPE_KIND, TYPE_NAMES, MIN_RDB_VERSION_FOR_TYPE, RDB_VERSION_MAX, RDB_WRITE_VERSION_MIN,
  rdbVersionForServer, serverVersionForRdb,
} from './constants.js';
export type { LogicalType } from './constants.js';

// Leaf codecs
export { Crc64, crc64, crc64Hex } from './crc64.js';
export { lzfCompress, lzfDecompress, lzfDecompressScratch, lzfDecompressShared } from './lzf.js';
export {
  lzfWalkListpack, listpackWalk, listpackWalkPreloaded, lzfWasmAvailable, lzfWasmFunctions, lzfWasmPreload, lzfWasmPreloadedAt, lzfWasmScratchAt, lzfWasmShare, LZF_WASM_MAX_OUTPUT,
} from './lzf-wasm.js';
export { bytesCompare as compareBytes } from './encodings/elem.js';
export type { Elem } from './encodings/elem.js';

// Writer
export { RdbWriter, functionLibraryName } from './writer.js';
export type { RdbWriterOptions, WriterKey, WriteOutcome, WriterDrop, WriterStats } from './writer.js';
export { convertForTarget, encodeValue, targetLoadsType, isDropped } from './convert.js';
export type { ConvertOptions, ConvertResult, ConvertedValue, DroppedValue } from './convert.js';
export { formatDoubleG17, formatDoubleShortest, rdbScoreText } from './doubles.js';

// Payloads
export { buildDumpPayload, parseDumpPayload, payloadForTarget } from './dump-payload.js';
export type {
  DumpPayload, ParseDumpOptions, PayloadSource, PayloadForTargetOptions, PayloadForTargetResult,
} from './dump-payload.js';
