/**
 * Down-conversion of serialized values for an older target RDB version, and serialisation of a
 * logical value the way a given Redis version would save it. RDB-FORMAT.md §9 (recipes), §4-§6
 * (layouts), §11 (what loaders check).
 *
 * Two paths:
 *  - `convertForTarget` works on a key's serialized value. It copies what the target can load,
 *    rewrites what it cannot with the cheapest faithful transform (streams lose the metadata the
 *    target cannot store but their node listpacks are copied byte for byte; listpack blobs are
 *    re-packed as ziplists element for element), and decodes and re-encodes only where the
 *    layout has to change (lists for RDB 6, HFE hashes, zset scores as text).
 *  - `encodeValue` serialises a decoded `Value` as the target's Redis would after loading it
 *    with default configuration: small collections packed (hash 512 entries / 64 bytes, zset
 *    128 / 64, set intset 512, set listpack 128 / 64 from RDB 11, list quicklist nodes of 8 KiB),
 *    the rest as hashtable / skiplist forms.
 *
 * When a type is added to constants.ts, add its case to `convertForTarget` and `encodeValue`.
 */
import {
  MIN_RDB_VERSION_FOR_TYPE, QUICKLIST_NODE_PACKED, QUICKLIST_NODE_PLAIN, STREAM_ITEM_FLAG_SAMEFIELDS,
  TYPE_HASH, TYPE_HASH_LISTPACK, TYPE_HASH_LISTPACK_EX, TYPE_HASH_LISTPACK_EX_PRE_GA,
  TYPE_HASH_METADATA, TYPE_HASH_METADATA_PRE_GA, TYPE_HASH_ZIPLIST, TYPE_KIND, TYPE_LIST,
  TYPE_LIST_QUICKLIST, TYPE_LIST_QUICKLIST_2, TYPE_LIST_ZIPLIST, TYPE_MODULE_2, TYPE_MODULE_PRE_GA,
  TYPE_SET, TYPE_SET_INTSET, TYPE_SET_LISTPACK, TYPE_STREAM_LISTPACKS,
  TYPE_STREAM_LISTPACKS_2, TYPE_STREAM_LISTPACKS_3, TYPE_STRING, TYPE_ZSET, TYPE_ZSET_2,
  TYPE_ZSET_LISTPACK, TYPE_ZSET_ZIPLIST, VALKEY_TYPE_HASH_2,
} from './constants.js';
import { ByteWriter } from './bytes/byte-writer.js';
import { Cursor, NEED_MORE } from './bytes/cursor.js';
import { decodeValue, moduleName } from './decode.js';
import type { StreamId, StreamValue, Value } from './decode.js';
import { packedScore, rdbScoreText } from './doubles.js';
import { CorruptError, RdbError, UnsupportedError } from './errors.js';
import { bytesCompare, normalizeElem, type Elem } from './encodings/elem.js';
import { parseCanonicalInt64 } from './encodings/int.js';
import { intsetEncode } from './encodings/intset.js';
import { writeLen, writeRdbString } from './encodings/length.js';
import { listpackBacklenSize, listpackEncode, listpackValues } from './encodings/listpack.js';
import { ziplistEncode } from './encodings/ziplist.js';

// ---- default configuration of the servers being targeted (redis.conf of 2.6 .. 7.4) ----------
/** hash-max-ziplist-entries / hash-max-listpack-entries. */
export const HASH_MAX_PACKED_ENTRIES = 512;
/** hash-max-*-value, zset-max-*-value, set-max-listpack-value, list-max-ziplist-value (RDB 6). */
export const MAX_PACKED_VALUE = 64;
/** zset-max-ziplist-entries / zset-max-listpack-entries. */
export const ZSET_MAX_PACKED_ENTRIES = 128;
/** set-max-intset-entries. */
export const SET_MAX_INTSET_ENTRIES = 512;
/** set-max-listpack-entries (Redis 7.2+, RDB 11+). */
export const SET_MAX_LISTPACK_ENTRIES = 128;
/** list-max-ziplist-entries of Redis 2.6-3.0 (RDB 6): a longer list is written as type 1. */
export const LIST_MAX_ZIPLIST_ENTRIES_RDB6 = 512;
/** list-max-ziplist-size / list-max-listpack-size -2: quicklist nodes of at most 8 KiB. */
export const QUICKLIST_NODE_MAX_BYTES = 8192;
/** Elements this large get a PLAIN quicklist node of their own (7.0+ `packed_threshold`, 1 GiB). */
const QUICKLIST_PACKED_THRESHOLD = 1 << 30;
/** stream-node-max-bytes and stream-node-max-entries. */
const STREAM_NODE_MAX_BYTES = 4096;
const STREAM_NODE_MAX_ENTRIES = 100;

const U64_MAX = (1n << 64n) - 1n;

/** Options of {@link convertForTarget} and {@link encodeValue}. */
export interface ConvertOptions {
  /**
   * When the target cannot hold a value (a stream below RDB 9, a module value below 8, a hash
   * with field TTLs below 12), return `{ dropped }` instead of throwing; field TTLs are removed
   * and the hash kept (`fieldTtlsDropped`). Default false: throw UnsupportedError.
   */
  dropUnsupported: boolean;
  /** Absolute offset of payload[0] in the input, for error messages. Default 0. */
  offset?: number;
  /** The value comes from a Valkey 9 file (VALKEY magic): type 22 is Valkey's HASH_2. */
  valkey?: boolean;
  /** The key, named in errors. */
  key?: Uint8Array;
  /** LZF-compress the strings and blobs this module writes (Redis's rdbcompression). Default true. */
  compress?: boolean;
}

/** A value ready to write: its type byte and serialized payload. */
export interface ConvertedValue {
  type: number;
  payload: Uint8Array;
  /** Field TTLs removed because the target has no hash field expiry (only with dropUnsupported). */
  fieldTtlsDropped?: number;
}

/** What the target cannot hold, in words (only with dropUnsupported). */
export interface DroppedValue {
  dropped: string;
}

export type ConvertResult = ConvertedValue | DroppedValue;

export function isDropped(r: ConvertResult): r is DroppedValue {
  return (r as DroppedValue).dropped !== undefined;
}

/**
 * Can a loader of `targetVersion` read `type` as it is? Types 6 (pre-GA module) and 22/23 (7.4
 * release candidates) are never written; Valkey's 22 (HASH_2) has no Redis equivalent.
 */
export function targetLoadsType(type: number, targetVersion: number, valkey = false): boolean {
  if (type === TYPE_MODULE_PRE_GA || type === TYPE_HASH_METADATA_PRE_GA || type === TYPE_HASH_LISTPACK_EX_PRE_GA) return false;
  if (valkey && type === VALKEY_TYPE_HASH_2) return false;
  const min = MIN_RDB_VERSION_FOR_TYPE[type];
  return min !== undefined && min <= targetVersion;
}

/**
 * Serialized value → a form `targetVersion` loads. Returns the input (same `payload` object)
 * when it is loadable as it is, so callers can tell "copied" from "converted" by identity.
 *
 * @throws UnsupportedError when the target cannot hold the value (and `dropUnsupported` is off),
 *   for type 6 and unknown types; CorruptError when the payload does not parse. Errors carry
 *   `opts.key` and an offset inside the value.
 */
export function convertForTarget(
  type: number,
  payload: Uint8Array,
  targetVersion: number,
  opts: ConvertOptions,
): ConvertResult {
  const valkey = opts.valkey === true;
  if (targetLoadsType(type, targetVersion, valkey)) return { type, payload };
  try {
    return convertInner(type, payload, targetVersion, opts, valkey);
  } catch (e) {
    throw withKey(e, opts, payload.length);
  }
}

function convertInner(type: number, payload: Uint8Array, target: number, opts: ConvertOptions, valkey: boolean): ConvertResult {
  const base = opts.offset ?? 0;
  const compress = opts.compress !== false;
  switch (type) {
    case TYPE_ZSET_2: {
      // Target < 8: type 3 with scores as the text that version prints.
      const v = decodeValue(type, payload, { offset: base });
      if (v.type !== 'zset') throw internal(type);
      return encodeZsetSkiplist(v.value, target, compress);
    }
    case TYPE_LIST_QUICKLIST:
    case TYPE_LIST_QUICKLIST_2:
      if (target >= 7) return quicklistToZiplistNodes(type, payload, target, base, compress);
      return encodeValueInner(decodeValue(type, payload, { offset: base }), target, opts);
    case TYPE_HASH_LISTPACK:
    case TYPE_ZSET_LISTPACK: {
      // Target < 10: the same elements as a ziplist (type 13 / 12). Scores stay as they are.
      const c = new Cursor(payload, base);
      const blob = c.string();
      const w = new ByteWriter(blob.length + 16);
      writeRdbString(w, ziplistEncode(listpackValues(blob, base), target), { compress, rdbVersion: target });
      return { type: type === TYPE_HASH_LISTPACK ? TYPE_HASH_ZIPLIST : TYPE_ZSET_ZIPLIST, payload: w.toBytes() };
    }
    case TYPE_SET_LISTPACK: {
      // Target < 11: an intset when every member is a canonical int64, else a hashtable set.
      const c = new Cursor(payload, base);
      const blob = c.string();
      const members = listpackValues(blob, base);
      return encodeSetMembers(members, target, compress, true);
    }
    case TYPE_STREAM_LISTPACKS:
    case TYPE_STREAM_LISTPACKS_2:
    case TYPE_STREAM_LISTPACKS_3:
      if (target < 9) return unsupported(opts, base, `a stream needs RDB 9 (Redis 5.0) or later; the target is RDB ${target}`);
      return streamDowngrade(type, payload, target, base);
    case TYPE_HASH_METADATA_PRE_GA:
    case TYPE_HASH_LISTPACK_EX_PRE_GA:
    case TYPE_HASH_METADATA:
    case TYPE_HASH_LISTPACK_EX: {
      // Valkey's 22 (HASH_2) decodes to the same logical value as Redis's HFE types.
      const v = decodeValue(type, payload, { offset: base, valkey });
      return encodeValueInner(v, target, opts);
    }
    case TYPE_MODULE_2:
      return unsupported(opts, base, `a module value needs RDB 8 (Redis 4.0) or later; the target is RDB ${target}`);
    case TYPE_MODULE_PRE_GA:
      return unsupported(opts, base, 'a pre-GA module value (type 6): no released Redis loads it, and it cannot be re-encoded without its module');
    default: {
      if (TYPE_KIND[type] === undefined) {
        throw new UnsupportedError({ offset: base, expected: `a known value type, found ${type}` });
      }
      // A type newer than the target that has no transform of its own: re-encode the value.
      return encodeValueInner(decodeValue(type, payload, { offset: base, valkey }), target, opts);
    }
  }
}

function internal(type: number): Error {
  return new Error(`internal: decoding type ${type} gave an unexpected value kind`);
}

function unsupported(opts: ConvertOptions, offset: number, what: string): DroppedValue {
  if (opts.dropUnsupported) return { dropped: what };
  throw new UnsupportedError({
    offset,
    expected: what,
    hint: 'choose a newer target version, or drop such values (--drop-unsupported)',
    ...(opts.key !== undefined ? { key: opts.key } : {}),
  });
}

/** NEED_MORE from a cursor over a complete payload means the payload lies; name the key. */
function withKey(e: unknown, opts: ConvertOptions, len: number): unknown {
  if (e === NEED_MORE) {
    return new CorruptError({
      offset: (opts.offset ?? 0) + len,
      expected: 'more bytes inside the value (its lengths overrun the record)',
      ...(opts.key !== undefined ? { key: opts.key } : {}),
    });
  }
  if (e instanceof RdbError && e.key === undefined && opts.key !== undefined) e.key = opts.key;
  return e;
}

// ---- lists --------------------------------------------------------------------------------

/**
 * Type 14/18 → type 14 (RDB 7-9): node for node, each PACKED listpack re-packed as a ziplist with
 * the same elements, each PLAIN node (one huge element) as a one-element ziplist. Empty nodes are
 * left out (Redis skips them on load).
 */
function quicklistToZiplistNodes(type: number, payload: Uint8Array, target: number, base: number, compress: boolean): ConvertResult {
  const c = new Cursor(payload, base);
  const n = c.size('a quicklist node count');
  const nodes: Uint8Array[] = [];
  for (let i = 0; i < n; i++) {
    let container = QUICKLIST_NODE_PACKED;
    if (type === TYPE_LIST_QUICKLIST_2) {
      const at = c.offset;
      container = c.len();
      if (container !== QUICKLIST_NODE_PACKED && container !== QUICKLIST_NODE_PLAIN) {
        throw new CorruptError({ offset: at, expected: `a quicklist node container 1 or 2, found ${container}` });
      }
    }
    const at = c.offset;
    const data = c.string();
    if (container === QUICKLIST_NODE_PLAIN) {
      nodes.push(ziplistEncode([data], target));
      continue;
    }
    if (type === TYPE_LIST_QUICKLIST) {
      // Already a ziplist: keep it (only reached when re-targeting type 14 itself).
      nodes.push(data);
      continue;
    }
    const vals = listpackValues(data, at);
    if (vals.length > 0) nodes.push(ziplistEncode(vals, target));
  }
  if (nodes.length === 0) return { dropped: 'an empty list (Redis skips empty keys on load)' };
  const w = new ByteWriter(payload.length + 64);
  writeLen(w, nodes.length, target);
  for (const z of nodes) writeRdbString(w, z, { compress, rdbVersion: target });
  return { type: TYPE_LIST_QUICKLIST, payload: w.toBytes() };
}

/** Size of a ziplist entry holding `e` after an entry of `prev` bytes (RDB >= 6 encodings). */
function ziplistEntrySize(e: Uint8Array | number | bigint, prev: number): number {
  const prevlen = prev < 254 ? 1 : 5;
  if (typeof e === 'object') {
    const l = e.length;
    return prevlen + (l <= 0x3f ? 1 : l <= 0x3fff ? 2 : 5) + l;
  }
  if (typeof e === 'bigint') return prevlen + 9;
  if (e >= 0 && e <= 12) return prevlen + 1;
  if (e >= -128 && e <= 127) return prevlen + 2;
  if (e >= -32768 && e <= 32767) return prevlen + 3;
  if (e >= -8388608 && e <= 8388607) return prevlen + 4;
  if (e >= -2147483648 && e <= 2147483647) return prevlen + 5;
  return prevlen + 9;
}

/** Size of a listpack entry holding `e` (encoding, data and backlen). */
function listpackEntrySize(e: Uint8Array | number | bigint): number {
  let l: number;
  if (typeof e === 'object') {
    const n = e.length;
    l = (n < 64 ? 1 : n < 4096 ? 2 : 5) + n;
  } else if (typeof e === 'bigint') {
    l = 9;
  } else if (e >= 0 && e <= 127) {
    l = 1;
  } else if (e >= -4096 && e <= 4095) {
    l = 2;
  } else if (e >= -32768 && e <= 32767) {
    l = 3;
  } else if (e >= -8388608 && e <= 8388607) {
    l = 4;
  } else if (e >= -2147483648 && e <= 2147483647) {
    l = 5;
  } else {
    l = 9;
  }
  return l + listpackBacklenSize(l);
}

/**
 * A list as the target's Redis saves it after pushing the elements one by one to the tail:
 *   RDB 6      one ziplist (type 10) when <= 512 elements of <= 64 bytes, else type 1
 *   RDB 7-9    type 14: ziplist nodes, a node taking an element while its size plus the element
 *              and its entry overhead stays <= 8 KiB (`_quicklistNodeAllowInsert`, 3.2-6.2)
 *   RDB 10+    type 18: listpack nodes, the same rule with an overhead estimate of 8 bytes
 *              (7.0+); elements of 1 GiB or more get a PLAIN node
 */
function encodeList(items: Uint8Array[], target: number, compress: boolean): ConvertedValue {
  const w = new ByteWriter(256);
  if (target < 7) {
    let small = items.length <= LIST_MAX_ZIPLIST_ENTRIES_RDB6;
    for (let i = 0; small && i < items.length; i++) if (items[i]!.length > MAX_PACKED_VALUE) small = false;
    if (small) {
      writeRdbString(w, ziplistEncode(items, target), { compress, rdbVersion: target });
      return { type: TYPE_LIST_ZIPLIST, payload: w.toBytes() };
    }
    writeLen(w, items.length, target);
    for (const it of items) writeRdbString(w, it, { compress, rdbVersion: target });
    return { type: TYPE_LIST, payload: w.toBytes() };
  }
  const v2 = target >= 10;
  // Nodes as [start, end) ranges of `items`, plus PLAIN markers.
  const nodes: Array<{ start: number; end: number; plain: boolean }> = [];
  let cur: { start: number; end: number; plain: boolean } | undefined;
  let curSize = 0;
  let prevEntry = 0;
  const norm: Array<Uint8Array | number | bigint> = new Array(items.length);
  for (let i = 0; i < items.length; i++) {
    const raw = items[i]!;
    const sz = raw.length;
    const e = normalizeElem(raw);
    norm[i] = e;
    if (v2 && sz >= QUICKLIST_PACKED_THRESHOLD) {
      nodes.push({ start: i, end: i + 1, plain: true });
      cur = undefined;
      continue;
    }
    let allow = false;
    if (cur !== undefined) {
      let estimate: number;
      if (v2) {
        estimate = curSize + sz + 8;
      } else {
        const overhead = (sz < 254 ? 1 : 5) + (sz < 64 ? 1 : sz < 16384 ? 2 : 5);
        estimate = curSize + sz + overhead;
      }
      allow = estimate <= QUICKLIST_NODE_MAX_BYTES;
    }
    if (!allow) {
      cur = { start: i, end: i, plain: false };
      nodes.push(cur);
      curSize = v2 ? 7 : 11; // empty listpack / ziplist
      prevEntry = 0;
    }
    if (v2) {
      curSize += listpackEntrySize(e);
    } else {
      const es = ziplistEntrySize(e, prevEntry);
      curSize += es;
      prevEntry = es;
    }
    cur!.end = i + 1;
  }
  writeLen(w, nodes.length, target);
  for (const nd of nodes) {
    if (v2) writeLen(w, nd.plain ? QUICKLIST_NODE_PLAIN : QUICKLIST_NODE_PACKED, target);
    if (nd.plain) {
      writeRdbString(w, items[nd.start]!, { compress, rdbVersion: target });
      continue;
    }
    const slice = norm.slice(nd.start, nd.end);
    const blob = v2 ? listpackEncode(slice) : ziplistEncode(slice, target);
    writeRdbString(w, blob, { compress, rdbVersion: target });
  }
  return { type: v2 ? TYPE_LIST_QUICKLIST_2 : TYPE_LIST_QUICKLIST, payload: w.toBytes() };
}

// ---- sets ---------------------------------------------------------------------------------

/**
 * Set members → intset (all canonical int64 and <= 512, or any count when converting a
 * listpack set, whose members Redis would have kept as an intset had they all been integers),
 * listpack (RDB 11+, <= 128 members of <= 64 bytes), else a hashtable set (type 2).
 */
function encodeSetMembers(members: Elem[], target: number, compress: boolean, fromListpack: boolean): ConvertedValue {
  const w = new ByteWriter(256);
  const ints: Array<number | bigint> = [];
  let allInts = true;
  let maxLen = 0;
  for (const m of members) {
    if (typeof m !== 'object') {
      ints.push(m);
      const l = String(m).length;
      if (l > maxLen) maxLen = l;
      continue;
    }
    if (m.length > maxLen) maxLen = m.length;
    if (allInts) {
      const v = parseCanonicalInt64(m);
      if (v === null) allInts = false;
      else ints.push(v);
    }
  }
  if (allInts && members.length > 0 && (fromListpack || members.length <= SET_MAX_INTSET_ENTRIES)) {
    writeRdbString(w, intsetEncode(ints), { compress, rdbVersion: target });
    return { type: TYPE_SET_INTSET, payload: w.toBytes() };
  }
  if (target >= 11 && members.length <= SET_MAX_LISTPACK_ENTRIES && maxLen <= MAX_PACKED_VALUE) {
    writeRdbString(w, listpackEncode(members), { compress, rdbVersion: target });
    return { type: TYPE_SET_LISTPACK, payload: w.toBytes() };
  }
  writeLen(w, members.length, target);
  for (const m of members) writeRdbString(w, elemBytes(m), { compress, rdbVersion: target });
  return { type: TYPE_SET, payload: w.toBytes() };
}

function elemBytes(e: Elem): Uint8Array {
  if (typeof e === 'object') return e;
  const s = e.toString();
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i);
  return out;
}

// ---- sorted sets --------------------------------------------------------------------------

function sortZset(pairs: Array<[Uint8Array, number]>): Array<[Uint8Array, number]> {
  return [...pairs].sort((a, b) => (a[1] < b[1] ? -1 : a[1] > b[1] ? 1 : bytesCompare(a[0], b[0])));
}

/** Type 5 (RDB 8+) or type 3 with text scores; highest score first, as Redis 4.0+ writes. */
function encodeZsetSkiplist(pairs: Array<[Uint8Array, number]>, target: number, compress: boolean): ConvertedValue {
  const sorted = sortZset(pairs);
  const w = new ByteWriter(256);
  writeLen(w, sorted.length, target);
  for (let i = sorted.length - 1; i >= 0; i--) {
    const [m, s] = sorted[i]!;
    writeRdbString(w, m, { compress, rdbVersion: target });
    if (target >= 8) {
      w.f64le(s);
    } else if (Number.isNaN(s)) {
      w.u8(253);
    } else if (s === Infinity) {
      w.u8(254);
    } else if (s === -Infinity) {
      w.u8(255);
    } else {
      const t = rdbScoreText(s, target);
      w.u8(t.length);
      w.ascii(t);
    }
  }
  return { type: target >= 8 ? TYPE_ZSET_2 : TYPE_ZSET, payload: w.toBytes() };
}

function encodeZset(pairs: Array<[Uint8Array, number]>, target: number, compress: boolean): ConvertedValue {
  let small = pairs.length <= ZSET_MAX_PACKED_ENTRIES;
  for (let i = 0; small && i < pairs.length; i++) if (pairs[i]![0].length > MAX_PACKED_VALUE) small = false;
  if (!small) return encodeZsetSkiplist(pairs, target, compress);
  const sorted = sortZset(pairs);
  const flat: Elem[] = [];
  for (const [m, s] of sorted) flat.push(m, packedScore(s, target));
  const w = new ByteWriter(256);
  if (target >= 10) {
    writeRdbString(w, listpackEncode(flat), { compress, rdbVersion: target });
    return { type: TYPE_ZSET_LISTPACK, payload: w.toBytes() };
  }
  writeRdbString(w, ziplistEncode(flat, target), { compress, rdbVersion: target });
  return { type: TYPE_ZSET_ZIPLIST, payload: w.toBytes() };
}

// ---- hashes -------------------------------------------------------------------------------

function hashFits(pairs: Array<[Uint8Array, Uint8Array]>): boolean {
  if (pairs.length > HASH_MAX_PACKED_ENTRIES) return false;
  for (const [f, v] of pairs) if (f.length > MAX_PACKED_VALUE || v.length > MAX_PACKED_VALUE) return false;
  return true;
}

function encodePlainHash(pairs: Array<[Uint8Array, Uint8Array]>, target: number, compress: boolean): ConvertedValue {
  const w = new ByteWriter(256);
  if (hashFits(pairs)) {
    const flat: Uint8Array[] = [];
    for (const [f, v] of pairs) flat.push(f, v);
    if (target >= 10) {
      writeRdbString(w, listpackEncode(flat), { compress, rdbVersion: target });
      return { type: TYPE_HASH_LISTPACK, payload: w.toBytes() };
    }
    writeRdbString(w, ziplistEncode(flat, target), { compress, rdbVersion: target });
    return { type: TYPE_HASH_ZIPLIST, payload: w.toBytes() };
  }
  writeLen(w, pairs.length, target);
  for (const [f, v] of pairs) {
    writeRdbString(w, f, { compress, rdbVersion: target });
    writeRdbString(w, v, { compress, rdbVersion: target });
  }
  return { type: TYPE_HASH, payload: w.toBytes() };
}

const LATIN1 = new TextDecoder('latin1');

/**
 * A hash with field TTLs for RDB 12 (Redis 7.4 GA layouts):
 *   type 25 (small): 8-byte LE minExpire, then a listpack of (field, value, expireAt-or-0)
 *                    triples, TTL fields first in non-decreasing expireAt order, TTL-less after
 *   type 24 (large): 8-byte LE minExpire (the real minimum), count, then per field
 *                    len(ttl ? expireAt - minExpire + 1 : 0), field, value
 */
function encodeHfeHash(pairs: Array<[Uint8Array, Uint8Array]>, ttls: Array<[Uint8Array, number]>, target: number, compress: boolean): ConvertedValue {
  const ttlOf = new Map<string, number>();
  let minExpire = Infinity;
  for (const [f, t] of ttls) {
    ttlOf.set(LATIN1.decode(f), t);
    if (t < minExpire) minExpire = t;
  }
  const min = minExpire === Infinity ? 0 : minExpire;
  const w = new ByteWriter(256);
  w.i64le(min); // 8 bytes LE
  if (hashFits(pairs)) {
    const withTtl: Array<[Uint8Array, Uint8Array, number]> = [];
    const without: Array<[Uint8Array, Uint8Array, number]> = [];
    for (const [f, v] of pairs) {
      const t = ttlOf.get(LATIN1.decode(f));
      if (t === undefined) without.push([f, v, 0]);
      else withTtl.push([f, v, t]);
    }
    withTtl.sort((a, b) => a[2] - b[2]); // stable: equal expiries keep their order
    const flat: Elem[] = [];
    for (const [f, v, t] of withTtl) flat.push(f, v, t);
    for (const [f, v] of without) flat.push(f, v, 0);
    writeRdbString(w, listpackEncode(flat), { compress, rdbVersion: target });
    return { type: TYPE_HASH_LISTPACK_EX, payload: w.toBytes() };
  }
  writeLen(w, pairs.length, target);
  for (const [f, v] of pairs) {
    const t = ttlOf.get(LATIN1.decode(f));
    writeLen(w, t === undefined ? 0 : t - min + 1, target);
    writeRdbString(w, f, { compress, rdbVersion: target });
    writeRdbString(w, v, { compress, rdbVersion: target });
  }
  return { type: TYPE_HASH_METADATA, payload: w.toBytes() };
}

// ---- streams: raw down-conversion ---------------------------------------------------------

/**
 * Type 19/21 → 19 (RDB 10: consumers lose active_time) or → 15 (RDB 9: also first_id,
 * max_deleted_entry_id, entries_added and the groups' entries_read go). The node keys and node
 * listpacks, and every field kept, are copied byte for byte.
 */
function streamDowngrade(type: number, payload: Uint8Array, target: number, base: number): ConvertResult {
  const outType = target >= 11 ? TYPE_STREAM_LISTPACKS_3 : target >= 10 ? TYPE_STREAM_LISTPACKS_2 : TYPE_STREAM_LISTPACKS;
  if (outType >= type) return { type, payload };
  const keepV2 = outType !== TYPE_STREAM_LISTPACKS;
  const c = new Cursor(payload, base);
  const w = new ByteWriter(payload.length + 16);
  let mark = 0;
  /** Copies payload[mark..c.pos) and moves the mark. */
  const copy = (): void => {
    w.bytes(payload, mark, c.pos);
    mark = c.pos;
  };
  /** Skips what the cursor just passed over. */
  const drop = (): void => {
    mark = c.pos;
  };
  const nodes = c.size('a stream node count');
  for (let i = 0; i < nodes; i++) {
    c.skipString();
    c.skipString();
  }
  c.lenBig(); // length
  c.lenBig(); // last_id.ms
  c.lenBig(); // last_id.seq
  copy();
  if (type !== TYPE_STREAM_LISTPACKS) {
    c.lenBig(); // first_id
    c.lenBig();
    c.lenBig(); // max_deleted_entry_id
    c.lenBig();
    c.lenBig(); // entries_added
    if (keepV2) copy();
    else drop();
  }
  const groups = c.size('a consumer group count');
  for (let g = 0; g < groups; g++) {
    c.skipString(); // name
    c.lenBig(); // last delivered id
    c.lenBig();
    copy();
    if (type !== TYPE_STREAM_LISTPACKS) {
      c.lenBig(); // entries_read
      if (keepV2) copy();
      else drop();
    }
    const pel = c.size('a PEL size');
    for (let p = 0; p < pel; p++) {
      c.skip(16 + 8); // raw id, delivery time
      c.len(); // delivery count
    }
    const consumers = c.size('a consumer count');
    copy();
    for (let k = 0; k < consumers; k++) {
      c.skipString(); // name
      c.skip(8); // seen time
      copy();
      if (type === TYPE_STREAM_LISTPACKS_3) {
        c.skip(8); // active time
        drop();
      }
      const cpel = c.size('a consumer PEL size');
      c.skip(16 * cpel);
      copy();
    }
  }
  copy();
  if (c.pos !== payload.length) {
    throw new CorruptError({ offset: base + c.pos, expected: `the end of the stream value (${payload.length - c.pos} bytes remain)` });
  }
  return { type: outType, payload: w.toBytes() };
}

// ---- streams: serialising a decoded value -------------------------------------------------

function cmpId(a: StreamId, b: StreamId): number {
  return a.ms !== b.ms ? (a.ms < b.ms ? -1 : 1) : a.seq !== b.seq ? (a.seq < b.seq ? -1 : 1) : 0;
}

function rawId(w: ByteWriter, id: StreamId): void {
  w.u32be(Number((id.ms >> 32n) & 0xffffffffn));
  w.u32be(Number(id.ms & 0xffffffffn));
  w.u32be(Number((id.seq >> 32n) & 0xffffffffn));
  w.u32be(Number(id.seq & 0xffffffffn));
}

function rawIdBytes(id: StreamId): Uint8Array {
  const w = new ByteWriter(16);
  rawId(w, id);
  return w.toBytes();
}

function lenId(w: ByteWriter, id: StreamId, target: number): void {
  writeLen(w, id.ms, target);
  writeLen(w, id.seq, target);
}

function sameFields(fields: Uint8Array[], master: Uint8Array[]): boolean {
  if (fields.length !== master.length * 2) return false;
  for (let i = 0; i < master.length; i++) if (bytesCompare(fields[2 * i]!, master[i]!) !== 0) return false;
  return true;
}

/** `streamEstimateDistanceFromFirstEverEntry` (7.0+), used for a group read from a type 15 value. */
function estimateEntriesRead(s: StreamValue, firstId: StreamId, maxDeleted: StreamId, entriesAdded: bigint, id: StreamId): bigint {
  if (entriesAdded === 0n) return 0n;
  if (s.length === 0 && cmpId(id, s.lastId) < 1) return entriesAdded;
  const cmpLast = cmpId(id, s.lastId);
  if (cmpLast === 0) return entriesAdded;
  if (cmpLast > 0) return -1n;
  const cmpFirst = cmpId(id, firstId);
  const zero = maxDeleted.ms === 0n && maxDeleted.seq === 0n;
  if (zero || cmpId(maxDeleted, firstId) < 0) {
    if (cmpFirst < 0) return entriesAdded - BigInt(s.length);
    if (cmpFirst === 0) return entriesAdded - BigInt(s.length) + 1n;
  }
  return -1n;
}

/**
 * A stream as `streamAppendItem` would build it from its live entries (nodes of at most 100
 * entries and 4096 bytes, master fields from each node's first entry, SAMEFIELDS where they
 * match), then the metadata of the target's layout (15, 19 or 21).
 */
function encodeStream(s: StreamValue, target: number, compress: boolean): ConvertedValue {
  const type = target >= 11 ? TYPE_STREAM_LISTPACKS_3 : target >= 10 ? TYPE_STREAM_LISTPACKS_2 : TYPE_STREAM_LISTPACKS;
  // Build the nodes.
  const nodes: Array<{ master: StreamId; items: Elem[] }> = [];
  let node: { master: StreamId; items: Elem[]; fields: Uint8Array[]; count: number; bytes: number } | undefined;
  /** Appends to the node's listpack elements, keeping its byte size (as lpBytes would report it). */
  const push = (x: Elem): void => {
    node!.items.push(x);
    node!.bytes += listpackEntrySize(typeof x === 'object' ? x : normalizeElem(x));
  };
  for (const e of s.entries) {
    let tot = 0;
    for (const f of e.fields) tot += f.length;
    if (node !== undefined && (node.bytes + tot >= STREAM_NODE_MAX_BYTES || node.count >= STREAM_NODE_MAX_ENTRIES)) {
      node = undefined;
    }
    if (node === undefined) {
      const fields: Uint8Array[] = [];
      for (let i = 0; i < e.fields.length; i += 2) fields.push(e.fields[i]!);
      // Master entry: count (patched below), deleted 0, the field names, the 0 terminator.
      node = { master: e.id, items: [], fields, count: 0, bytes: 7 };
      nodes.push(node);
      push(1);
      push(0);
      push(fields.length);
      for (const f of fields) push(f);
      push(0);
    }
    const same = sameFields(e.fields, node.fields);
    push(same ? STREAM_ITEM_FLAG_SAMEFIELDS : 0);
    push(BigInt.asIntN(64, e.id.ms - node.master.ms));
    push(BigInt.asIntN(64, e.id.seq - node.master.seq));
    const nf = e.fields.length / 2;
    if (same) {
      for (let i = 1; i < e.fields.length; i += 2) push(e.fields[i]!);
      push(nf + 3);
    } else {
      push(nf);
      for (const f of e.fields) push(f);
      push(2 * nf + 4);
    }
    node.count++;
    // The master count grows with the node (1..100: the 1-byte encoding, so the size holds).
    node.items[0] = node.count;
  }
  const w = new ByteWriter(1024);
  writeLen(w, nodes.length, target);
  for (const nd of nodes) {
    writeRdbString(w, rawIdBytes(nd.master), { compress: false, intEncode: false, rdbVersion: target });
    writeRdbString(w, listpackEncode(nd.items), { compress, rdbVersion: target });
  }
  writeLen(w, s.length, target);
  lenId(w, s.lastId, target);
  const zero: StreamId = { ms: 0n, seq: 0n };
  const firstId = s.firstId ?? (s.entries.length > 0 ? s.entries[0]!.id : zero);
  const maxDeleted = s.maxDeletedEntryId ?? zero;
  const entriesAdded = s.entriesAdded ?? BigInt(s.length);
  if (type !== TYPE_STREAM_LISTPACKS) {
    lenId(w, firstId, target);
    lenId(w, maxDeleted, target);
    writeLen(w, entriesAdded, target);
  }
  const groups = [...s.groups].sort((a, b) => bytesCompare(a.name, b.name));
  writeLen(w, groups.length, target);
  for (const g of groups) {
    writeRdbString(w, g.name, { compress, rdbVersion: target });
    lenId(w, g.lastDeliveredId, target);
    if (type !== TYPE_STREAM_LISTPACKS) {
      const er = g.entriesRead ?? estimateEntriesRead(s, firstId, maxDeleted, entriesAdded, g.lastDeliveredId);
      writeLen(w, er < 0n ? U64_MAX : er, target);
    }
    const pel = [...g.pending].sort((a, b) => cmpId(a.id, b.id));
    writeLen(w, pel.length, target);
    for (const p of pel) {
      rawId(w, p.id);
      w.i64le(p.deliveryTime); // 8 bytes LE
      writeLen(w, p.deliveryCount, target);
    }
    const consumers = [...g.consumers].sort((a, b) => bytesCompare(a.name, b.name));
    writeLen(w, consumers.length, target);
    for (const k of consumers) {
      writeRdbString(w, k.name, { compress, rdbVersion: target });
      w.i64le(k.seenTime); // 8 bytes LE
      if (type === TYPE_STREAM_LISTPACKS_3) w.i64le(k.activeTime ?? k.seenTime);
      const cp = [...k.pending].sort(cmpId);
      writeLen(w, cp.length, target);
      for (const id of cp) rawId(w, id);
    }
  }
  return { type, payload: w.toBytes() };
}

// ---- logical values -----------------------------------------------------------------------

/**
 * Serialises a decoded value as the Redis of `targetVersion` saves it after loading it with
 * default configuration (see the module comment for the thresholds).
 *
 * @param opts.dropUnsupported as in {@link convertForTarget}: with it, a hash loses its field
 *   TTLs below RDB 12 (`fieldTtlsDropped`), and streams below 9 / module values below 8 come back
 *   as `{ dropped }`. Default false.
 * @throws UnsupportedError when the target cannot hold the value and dropUnsupported is off
 */
export function encodeValue(v: Value, targetVersion: number, opts: Partial<ConvertOptions> = {}): ConvertResult {
  const o: ConvertOptions = { ...opts, dropUnsupported: opts.dropUnsupported === true };
  try {
    return encodeValueInner(v, targetVersion, o);
  } catch (e) {
    throw withKey(e, o, 0);
  }
}

function encodeValueInner(v: Value, target: number, opts: ConvertOptions): ConvertResult {
  const compress = opts.compress !== false;
  const base = opts.offset ?? 0;
  switch (v.type) {
    case 'string': {
      const w = new ByteWriter(v.value.length + 16);
      writeRdbString(w, v.value, { compress, rdbVersion: target });
      return { type: TYPE_STRING, payload: w.toBytes() };
    }
    case 'list':
      if (v.value.length === 0) return { dropped: 'an empty list (Redis skips empty keys on load)' };
      return encodeList(v.value, target, compress);
    case 'set':
      if (v.value.length === 0) return { dropped: 'an empty set (Redis skips empty keys on load)' };
      return encodeSetMembers(v.value, target, compress, false);
    case 'zset':
      if (v.value.length === 0) return { dropped: 'an empty sorted set (Redis skips empty keys on load)' };
      return encodeZset(v.value, target, compress);
    case 'hash': {
      if (v.value.length === 0) return { dropped: 'an empty hash (Redis skips empty keys on load)' };
      const ttls = v.fieldExpireAt ?? [];
      if (ttls.length === 0) return encodePlainHash(v.value, target, compress);
      if (target >= 12) return encodeHfeHash(v.value, ttls, target, compress);
      if (!opts.dropUnsupported) {
        unsupported(opts, base, `hash field TTLs (${ttls.length}) need RDB 12 (Redis 7.4) or later; the target is RDB ${target}`);
      }
      return { ...encodePlainHash(v.value, target, compress), fieldTtlsDropped: ttls.length };
    }
    case 'stream':
      if (target < 9) return unsupported(opts, base, `a stream needs RDB 9 (Redis 5.0) or later; the target is RDB ${target}`);
      return encodeStream(v.value, target, compress);
    case 'module':
      if (target < 8) {
        return unsupported(opts, base, `a module value (${v.value.name}) needs RDB 8 (Redis 4.0) or later; the target is RDB ${target}`);
      }
      return { type: TYPE_MODULE_2, payload: v.value.raw };
  }
}

/** The module type name inside a serialized type-7 value or a MODULE_AUX record, or undefined. */
export function moduleNameOf(raw: Uint8Array): string | undefined {
  try {
    const c = new Cursor(raw);
    return moduleName(c.lenBig()).name;
  } catch {
    return undefined;
  }
}
