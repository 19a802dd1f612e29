/**
 * Every number of the RDB format, written once. Sources: redis `src/rdb.h` at each release tag,
 * valkey `src/rdb.h` (9.x), summarised in ../shared/docs/RDB-FORMAT.md.
 *
 * When a type is added: add it here, to TYPE_NAMES / TYPE_KIND / MIN_RDB_VERSION_FOR_TYPE, to the
 * reader's skip/measure switch (reader.ts), to the decoder (decode.ts), and to the writer's
 * conversion table (convert.ts).
 *
 * Length encoding (first byte, top two bits select the form):
 *
 *   00pppppp                      6-bit length (0..63)
 *   01pppppp qqqqqqqq             14-bit length, big-endian (0..16383)
 *   10000000 [4 bytes]            32-bit length, big-endian
 *   10000001 [8 bytes]            64-bit length, big-endian (RDB >= 8)
 *   11pppppp                      special string encoding, pppppp = ENC_* below
 */

/** Highest RDB version this codec reads and writes (Redis 7.4 / 8.x). */
export const RDB_VERSION_MAX = 12;
/** Lowest RDB version the writer produces (Redis 2.6). */
export const RDB_WRITE_VERSION_MIN = 6;
/** Valkey 9.0's first version, with magic "VALKEY". */
export const VALKEY_RDB_VERSION_MIN = 80;

// ---- value types (`RDB_TYPE_*`) ------------------------------------------------------------
export const TYPE_STRING = 0;
export const TYPE_LIST = 1;
export const TYPE_SET = 2;
export const TYPE_ZSET = 3;
export const TYPE_HASH = 4;
export const TYPE_ZSET_2 = 5;
export const TYPE_MODULE_PRE_GA = 6;
export const TYPE_MODULE_2 = 7;
export const TYPE_HASH_ZIPMAP = 9;
export const TYPE_LIST_ZIPLIST = 10;
export const TYPE_SET_INTSET = 11;
export const TYPE_ZSET_ZIPLIST = 12;
export const TYPE_HASH_ZIPLIST = 13;
export const TYPE_LIST_QUICKLIST = 14;
export const TYPE_STREAM_LISTPACKS = 15;
export const TYPE_HASH_LISTPACK = 16;
export const TYPE_ZSET_LISTPACK = 17;
export const TYPE_LIST_QUICKLIST_2 = 18;
export const TYPE_STREAM_LISTPACKS_2 = 19;
export const TYPE_SET_LISTPACK = 20;
export const TYPE_STREAM_LISTPACKS_3 = 21;
/** Redis 7.4 release candidates only; Valkey 9 uses 22 for VALKEY_TYPE_HASH_2. */
export const TYPE_HASH_METADATA_PRE_GA = 22;
/** Redis 7.4 release candidates only; Valkey 9.2 uses 23 for PATH_HASH. */
export const TYPE_HASH_LISTPACK_EX_PRE_GA = 23;
export const TYPE_HASH_METADATA = 24;
export const TYPE_HASH_LISTPACK_EX = 25;

/** Valkey 9 (magic VALKEY, version >= 80): hash with per-field expiry, int64 LE ms, -1 = none. */
export const VALKEY_TYPE_HASH_2 = 22;
/** Valkey 9.2 development: layout unpublished; read as "unsupported". */
export const VALKEY_TYPE_PATH_HASH = 23;

// ---- opcodes (`RDB_OPCODE_*`) --------------------------------------------------------------
export const OP_SLOT_IMPORT_VALKEY = 243; // Valkey 9: SLOT_IMPORT (Redis 8.6: KEY_META)
export const OP_SLOT_INFO = 244;
export const OP_FUNCTION2 = 245;
export const OP_FUNCTION_PRE_GA = 246;
export const OP_MODULE_AUX = 247;
export const OP_IDLE = 248;
export const OP_FREQ = 249;
export const OP_AUX = 250;
export const OP_RESIZEDB = 251;
export const OP_EXPIRETIME_MS = 252;
export const OP_EXPIRETIME = 253;
export const OP_SELECTDB = 254;
export const OP_EOF = 255;

// ---- special string encodings (`RDB_ENC_*`), low 6 bits after the 11 marker ----------------
export const ENC_INT8 = 0;
export const ENC_INT16 = 1;
export const ENC_INT32 = 2;
export const ENC_LZF = 3;

// ---- length-encoding first bytes ----------------------------------------------------------
export const LEN_6BIT = 0;
export const LEN_14BIT = 1;
export const LEN_32BIT = 0x80;
export const LEN_64BIT = 0x81;
export const LEN_ENCVAL = 3;

// ---- module serialisation opcodes (`RDB_MODULE_OPCODE_*`) ----------------------------------
export const MODULE_OP_EOF = 0;
export const MODULE_OP_SINT = 1;
export const MODULE_OP_UINT = 2;
export const MODULE_OP_FLOAT = 3;
export const MODULE_OP_DOUBLE = 4;
export const MODULE_OP_STRING = 5;

// ---- quicklist v2 node containers ----------------------------------------------------------
export const QUICKLIST_NODE_PLAIN = 1;
export const QUICKLIST_NODE_PACKED = 2;

// ---- stream entry flags --------------------------------------------------------------------
export const STREAM_ITEM_FLAG_DELETED = 1;
export const STREAM_ITEM_FLAG_SAMEFIELDS = 2;

/** Logical Redis type of a key, as TYPE and the JSONL form name it. */
export type LogicalType = 'string' | 'list' | 'set' | 'zset' | 'hash' | 'stream' | 'module';

/** Logical type per RDB type id (Redis numbering). */
export const TYPE_KIND: Readonly<Record<number, LogicalType>> = {
  [TYPE_STRING]: 'string',
  [TYPE_LIST]: 'list',
  [TYPE_SET]: 'set',
  [TYPE_ZSET]: 'zset',
  [TYPE_HASH]: 'hash',
  [TYPE_ZSET_2]: 'zset',
  [TYPE_MODULE_PRE_GA]: 'module',
  [TYPE_MODULE_2]: 'module',
  [TYPE_HASH_ZIPMAP]: 'hash',
  [TYPE_LIST_ZIPLIST]: 'list',
  [TYPE_SET_INTSET]: 'set',
  [TYPE_ZSET_ZIPLIST]: 'zset',
  [TYPE_HASH_ZIPLIST]: 'hash',
  [TYPE_LIST_QUICKLIST]: 'list',
  [TYPE_STREAM_LISTPACKS]: 'stream',
  [TYPE_HASH_LISTPACK]: 'hash',
  [TYPE_ZSET_LISTPACK]: 'zset',
  [TYPE_LIST_QUICKLIST_2]: 'list',
  [TYPE_STREAM_LISTPACKS_2]: 'stream',
  [TYPE_SET_LISTPACK]: 'set',
  [TYPE_STREAM_LISTPACKS_3]: 'stream',
  [TYPE_HASH_METADATA_PRE_GA]: 'hash',
  [TYPE_HASH_LISTPACK_EX_PRE_GA]: 'hash',
  [TYPE_HASH_METADATA]: 'hash',
  [TYPE_HASH_LISTPACK_EX]: 'hash',
};

/** Encoding name per RDB type id, as `inspect` reports it (redis-check-rdb's names where it has them). */
export const TYPE_NAMES: Readonly<Record<number, string>> = {
  [TYPE_STRING]: 'string',
  [TYPE_LIST]: 'linkedlist',
  [TYPE_SET]: 'hashtable',
  [TYPE_ZSET]: 'skiplist',
  [TYPE_HASH]: 'hashtable',
  [TYPE_ZSET_2]: 'skiplist',
  [TYPE_MODULE_PRE_GA]: 'module-pre-ga',
  [TYPE_MODULE_2]: 'module',
  [TYPE_HASH_ZIPMAP]: 'zipmap',
  [TYPE_LIST_ZIPLIST]: 'ziplist',
  [TYPE_SET_INTSET]: 'intset',
  [TYPE_ZSET_ZIPLIST]: 'ziplist',
  [TYPE_HASH_ZIPLIST]: 'ziplist',
  [TYPE_LIST_QUICKLIST]: 'quicklist',
  [TYPE_STREAM_LISTPACKS]: 'stream',
  [TYPE_HASH_LISTPACK]: 'listpack',
  [TYPE_ZSET_LISTPACK]: 'listpack',
  [TYPE_LIST_QUICKLIST_2]: 'quicklist2',
  [TYPE_STREAM_LISTPACKS_2]: 'stream2',
  [TYPE_SET_LISTPACK]: 'listpack',
  [TYPE_STREAM_LISTPACKS_3]: 'stream3',
  [TYPE_HASH_METADATA_PRE_GA]: 'hashtable-ttl-pre-ga',
  [TYPE_HASH_LISTPACK_EX_PRE_GA]: 'listpackex-pre-ga',
  [TYPE_HASH_METADATA]: 'hashtable-ttl',
  [TYPE_HASH_LISTPACK_EX]: 'listpackex',
};

/** The first RDB version whose loaders accept each type id (RDB-FORMAT.md §0, §9.2). */
export const MIN_RDB_VERSION_FOR_TYPE: Readonly<Record<number, number>> = {
  [TYPE_STRING]: 1,
  [TYPE_LIST]: 1,
  [TYPE_SET]: 1,
  [TYPE_ZSET]: 1,
  [TYPE_HASH]: 1,
  [TYPE_ZSET_2]: 8,
  [TYPE_MODULE_PRE_GA]: 8,
  [TYPE_MODULE_2]: 8,
  [TYPE_HASH_ZIPMAP]: 2,
  [TYPE_LIST_ZIPLIST]: 2,
  [TYPE_SET_INTSET]: 2,
  [TYPE_ZSET_ZIPLIST]: 2,
  [TYPE_HASH_ZIPLIST]: 4,
  [TYPE_LIST_QUICKLIST]: 7,
  [TYPE_STREAM_LISTPACKS]: 9,
  [TYPE_HASH_LISTPACK]: 10,
  [TYPE_ZSET_LISTPACK]: 10,
  [TYPE_LIST_QUICKLIST_2]: 10,
  [TYPE_STREAM_LISTPACKS_2]: 10,
  [TYPE_SET_LISTPACK]: 11,
  [TYPE_STREAM_LISTPACKS_3]: 11,
  [TYPE_HASH_METADATA_PRE_GA]: 12,
  [TYPE_HASH_LISTPACK_EX_PRE_GA]: 12,
  [TYPE_HASH_METADATA]: 12,
  [TYPE_HASH_LISTPACK_EX]: 12,
};

/** Is `t` a value type id in the Redis numbering (not an opcode)? */
export function isRedisValueType(t: number): boolean {
  return TYPE_KIND[t] !== undefined;
}

/**
 * The RDB version a Redis (or Valkey) server version writes and reads, from RDB-FORMAT.md §0.
 * Returns undefined for an unparseable version string.
 */
export function rdbVersionForServer(version: string, valkey = false): number | undefined {
  const m = /^(\d+)\.(\d+)/.exec(version);
  if (m === null) return undefined;
  const major = Number(m[1]);
  const minor = Number(m[2]);
  const v = major * 100 + minor;
  if (valkey) {
    if (v >= 900) return 80;
    return 11;
  }
  if (v >= 704) return 12;
  if (v >= 702) return 11;
  if (v >= 700) return 10;
  if (v >= 500) return 9;
  if (v >= 400) return 8;
  if (v >= 302) return 7;
  if (v >= 206) return 6;
  if (v >= 204) return 2;
  return 1;
}

/** The Redis version string a file of this RDB version claims in its `redis-ver` aux field. */
export function serverVersionForRdb(rdbVersion: number): string {
  switch (rdbVersion) {
    case 6: return '2.8.24';
    case 7: return '3.2.13';
    case 8: return '4.0.14';
    case 9: return '6.2.14';
    case 10: return '7.0.15';
    case 11: return '7.2.6';
    default: return '7.4.1';
  }
}

/** Type ids of hashes that carry field TTLs (Redis numbering: 7.4 release candidates and GA). */
export const FIELD_TTL_TYPES: ReadonlySet<number> = new Set([
  TYPE_HASH_METADATA_PRE_GA, TYPE_HASH_LISTPACK_EX_PRE_GA, TYPE_HASH_METADATA, TYPE_HASH_LISTPACK_EX,
]);
