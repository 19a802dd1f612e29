/**
 * Turns a key's serialized value (`KeyRecord.type` + `payload`) into its logical value: elements
 * as bytes, scores as doubles, stream entries and consumer groups. This is the slow path; the
 * reader never calls it. Layouts: RDB-FORMAT.md §4-§7; Redis `rdbLoadObject`.
 */
import {
  MODULE_OP_DOUBLE, MODULE_OP_EOF, MODULE_OP_FLOAT, MODULE_OP_SINT, MODULE_OP_STRING, MODULE_OP_UINT,
  QUICKLIST_NODE_PACKED, QUICKLIST_NODE_PLAIN, STREAM_ITEM_FLAG_DELETED, STREAM_ITEM_FLAG_SAMEFIELDS,
  TYPE_HASH, TYPE_HASH_LISTPACK, TYPE_HASH_LISTPACK_EX, TYPE_HASH_LISTPACK_EX_PRE_GA,
  TYPE_HASH_METADATA, TYPE_HASH_METADATA_PRE_GA, TYPE_HASH_ZIPLIST, TYPE_HASH_ZIPMAP, TYPE_LIST,
  TYPE_LIST_QUICKLIST, TYPE_LIST_QUICKLIST_2, TYPE_LIST_ZIPLIST, TYPE_MODULE_2, TYPE_MODULE_PRE_GA,
  TYPE_SET, TYPE_SET_INTSET, TYPE_SET_LISTPACK, TYPE_STREAM_LISTPACKS, TYPE_STREAM_LISTPACKS_2,
  TYPE_STREAM_LISTPACKS_3, TYPE_STRING, TYPE_ZSET, TYPE_ZSET_2, TYPE_ZSET_LISTPACK, TYPE_ZSET_ZIPLIST,
  VALKEY_TYPE_HASH_2,
} from './constants.js';
import { asciiInt, Cursor, NEED_MORE } from './bytes/cursor.js';
import { CorruptError, RdbError, UnsupportedError } from './errors.js';
import type { Elem } from './encodings/elem.js';
import { elemToBytes } from './encodings/elem.js';
import { int64ToAscii } from './encodings/int.js';
import { intsetValues } from './encodings/intset.js';
import { listpackValues } from './encodings/listpack.js';
import { ziplistValues } from './encodings/ziplist.js';
import { zipmapPairs } from './encodings/zipmap.js';

export interface StreamId {
  ms: bigint;
  seq: bigint;
}

export interface StreamPending {
  id: StreamId;
  /** Unix ms of the last delivery. */
  deliveryTime: number;
  deliveryCount: number;
}

export interface StreamConsumer {
  name: Uint8Array;
  seenTime: number;
  /** RDB 11+ (type 21) only. */
  activeTime?: number;
  pending: StreamId[];
}

export interface StreamGroup {
  name: Uint8Array;
  lastDeliveredId: StreamId;
  /** RDB 10+; -1n where the file records it as unknown. */
  entriesRead?: bigint;
  pending: StreamPending[];
  consumers: StreamConsumer[];
}

export interface StreamValue {
  /** Live entries in id order; fields as a flat [field, value, field, value, ...] list. */
  entries: Array<{ id: StreamId; fields: Uint8Array[] }>;
  length: number;
  lastId: StreamId;
  /** RDB 10+ (types 19, 21) only. */
  firstId?: StreamId;
  maxDeletedEntryId?: StreamId;
  entriesAdded?: bigint;
  groups: StreamGroup[];
}

export interface ModuleValue {
  moduleId: bigint;
  /** The 9-character module type name. */
  name: string;
  encver: number;
  /** The serialized value after the type byte (module id, annotated data, EOF). */
  raw: Uint8Array;
}

export type Value =
  | { type: 'string'; value: Uint8Array }
  | { type: 'list'; value: Uint8Array[] }
  | { type: 'set'; value: Uint8Array[] }
  | { type: 'zset'; value: Array<[Uint8Array, number]> }
  | { type: 'hash'; value: Array<[Uint8Array, Uint8Array]>; fieldExpireAt?: Array<[Uint8Array, number]> }
  | { type: 'stream'; value: StreamValue }
  | { type: 'module'; value: ModuleValue };

export interface DecodeOptions {
  /** Absolute offset of payload[0] in the input, for error messages. */
  offset?: number;
  /** The value comes from a Valkey 9 file (VALKEY magic): type 22 is Valkey's HASH_2. */
  valkey?: boolean;
  maxValueSize?: number;
}

/**
 * Decodes a serialized value.
 * @throws CorruptError when the payload is inconsistent, UnsupportedError for type 6 / unknown.
 */
export function decodeValue(type: number, payload: Uint8Array, opts: DecodeOptions = {}): Value {
  const c = new Cursor(payload, opts.offset ?? 0, opts.maxValueSize ?? 512 * 1024 * 1024);
  try {
    const v = decodeAt(c, type, opts.valkey === true);
    return v;
  } catch (e) {
    if (e === NEED_MORE) {
      throw new CorruptError({ offset: c.base + payload.length, expected: 'more bytes inside the value (its lengths overrun the record)' });
    }
    throw e;
  }
}

const TD = new TextDecoder('latin1');

/** 10^k for k = 0..22: exactly representable doubles. */
const POW10 = Array.from({ length: 23 }, (_, k) => 10 ** k);

/** 2^27 + 1: splits a double into two 26-bit halves (Dekker). */
const SPLIT = 134217729;
/** Low part of the last twoProduct. */
let productLow = 0;

/** a * b exactly, as the returned double plus `productLow` (Dekker's TwoProduct; no overflow here). */
function twoProduct(a: number, b: number): number {
  const p = a * b;
  let t = SPLIT * a;
  const ah = t - (t - a);
  const al = a - ah;
  t = SPLIT * b;
  const bh = t - (t - b);
  const bl = b - bh;
  productLow = ah * bh - p + ah * bl + al * bh + al * bl;
  return p;
}

const F64 = new DataView(new ArrayBuffer(8));

/** The spacing of the doubles at positive normal `r` (2^(exponent-52)), or 0 when `r` is a power of two. */
function ulpAbove(r: number): number {
  F64.setFloat64(0, r);
  const hi = F64.getUint32(0);
  if ((hi & 0xfffff) === 0 && F64.getUint32(4) === 0) return 0;
  const e = (hi >>> 20) - 52;
  F64.setUint32(0, e << 20);
  F64.setUint32(4, 0);
  return F64.getFloat64(0);
}

/** Relative slack when comparing the residual with half an ulp: far above the residual's own error. */
const TIE_MARGIN = 2 ** -20;

/**
 * (mh * 10^t + ml) / 10^k correctly rounded, for mh < 10^15, t <= 4, ml < 10^t, k <= 22 and a
 * numerator of at least 10^15, or undefined when the value lies (too close to) halfway between
 * two doubles. Redis 7.0 writes listpack scores with 17 significant digits ("45.088999999999999"),
 * too many for one exact division; Number() parses them correctly but slowly (about 180 ns).
 *
 * The candidate r = fl(M) / 10^k is within about one ulp. It is the correctly rounded value iff
 * |M - r * 10^k| < ulp(r) / 2 * 10^k. The residual is computed with error-free products
 * (twoProduct) and a Sterbenz subtraction, so its error (< 2^-36 here) is tiny next to half an ulp
 * times 10^k (>= 2^-4 for such numerators); when r is off, its neighbour is tried.
 */
function longDecimal(mh: number, t: number, ml: number, k: number): number | undefined {
  const hi = twoProduct(mh, POW10[t]!);
  const lo = productLow + ml; // exact: both are small integers
  const p10 = POW10[k]!;
  let r = (hi + lo) / p10;
  for (let tries = 0; tries < 3; tries++) {
    const q = twoProduct(r, p10);
    const residual = hi - q + lo - productLow; // M - r * 10^k
    const ulp = ulpAbove(r);
    if (ulp === 0) return undefined; // a power of two: the spacing below differs; let Number() decide
    const half = ulp * 0.5 * p10;
    const a = residual < 0 ? -residual : residual;
    if (a < half * (1 - TIE_MARGIN)) return r;
    if (a <= half * (1 + TIE_MARGIN)) return undefined;
    r = residual > 0 ? r + ulp : r - ulp;
  }
  return undefined;
}

/**
 * The common score text `-?digits[.digits]` with at most 19 significant digits, as the double
 * Number() would give, or undefined for anything else (exponents, "inf", spaces, signs...), which
 * the caller parses as text. With at most 15 significant digits the text is m / 10^k, both exact
 * doubles, and one IEEE division rounds correctly (Clinger's fast path); longer ones go through
 * longDecimal. Reading the bytes directly also skips the TextDecoder and trim.
 */
function simpleDecimal(b: Uint8Array): number | undefined {
  const n = b.length;
  let i = 0;
  const neg = n > 0 && b[0] === 0x2d;
  if (neg) i = 1;
  if (i >= n || n - i > 41) return undefined;
  let mh = 0; // the first 15 significant digits
  let ml = 0; // the ones after them (at most 4)
  let sig = 0; // significant digits (leading zeros do not count)
  let digits = 0;
  let frac = -1; // digits after the point, -1 before one is seen
  for (; i < n; i++) {
    const d = b[i]! - 0x30;
    if (d >= 0 && d <= 9) {
      digits++;
      if (frac >= 0) frac++;
      if (sig === 0 && d === 0) continue;
      if (sig < 15) mh = mh * 10 + d;
      else ml = ml * 10 + d;
      sig++;
    } else if (d === -2 && frac < 0 && digits > 0) {
      frac = 0; // '.'
    } else {
      return undefined;
    }
  }
  if (frac === 0 || sig > 19 || frac > 22) return undefined;
  const k = frac > 0 ? frac : 0;
  let v: number | undefined;
  if (sig <= 15) v = k > 0 ? mh / POW10[k]! : mh;
  else v = longDecimal(mh, sig - 15, ml, k);
  if (v === undefined) return undefined;
  return neg ? -v : v;
}

/** Parses a double as Redis's strtod does for zset scores stored as text ("inf", "-inf", "1e+300"). */
export function parseRedisDouble(b: Uint8Array, offset = 0): number {
  const fast = simpleDecimal(b);
  if (fast !== undefined) return fast;
  const s = TD.decode(b).trim();
  const low = s.toLowerCase();
  if (low === 'inf' || low === '+inf' || low === 'infinity' || low === '+infinity') return Infinity;
  if (low === '-inf' || low === '-infinity') return -Infinity;
  const v = s === '' ? NaN : Number(s);
  if (Number.isNaN(v)) throw new CorruptError({ offset, expected: `a score as decimal text, found "${s}"` });
  return v;
}

function elemScore(e: Elem, offset: number): number {
  if (typeof e === 'number') return e;
  if (typeof e === 'bigint') return Number(e);
  return parseRedisDouble(e, offset);
}

/**
 * An element's bytes, as elemToBytes but through asciiInt: integers are written digit by digit
 * and small ones (-128..1023) come back as shared read-only arrays, as the cursor returns
 * integer-encoded strings. Listpacks store every integer-looking string as an integer, so this
 * runs for a good part of all elements.
 */
function elemBytes(e: Elem): Uint8Array {
  if (typeof e === 'object') return e;
  return typeof e === 'number' ? asciiInt(e) : int64ToAscii(e);
}

/** Turns a blob's elements into bytes in place; the array then holds only Uint8Arrays. */
function bytesInPlace(values: Elem[]): Uint8Array[] {
  for (let i = 0; i < values.length; i++) {
    const e = values[i]!;
    if (typeof e !== 'object') values[i] = elemBytes(e);
  }
  return values as Uint8Array[];
}

function pairs(values: Elem[], base: number, what: string): Array<[Uint8Array, Uint8Array]> {
  if (values.length % 2 !== 0) throw new CorruptError({ offset: base, expected: `an even number of ${what} entries` });
  const out = new Array<[Uint8Array, Uint8Array]>(values.length / 2);
  for (let i = 0, j = 0; i < values.length; i += 2, j++) out[j] = [elemBytes(values[i]!), elemBytes(values[i + 1]!)];
  return out;
}

function zpairs(values: Elem[], base: number): Array<[Uint8Array, number]> {
  if (values.length % 2 !== 0) throw new CorruptError({ offset: base, expected: 'an even number of zset entries' });
  const out = new Array<[Uint8Array, number]>(values.length / 2);
  for (let i = 0, j = 0; i < values.length; i += 2, j++) out[j] = [elemBytes(values[i]!), elemScore(values[i + 1]!, base)];
  return out;
}

/** True when the RDB string at the cursor is stored as is (not integer-encoded, not LZF). */
function rawStringAt(c: Cursor): boolean {
  return c.pos < c.end && c.buf[c.pos]! >> 6 !== 3;
}

/** The CorruptError `e` raised inside an LZF-compressed blob, re-based on the compressed string at `at`. */
function inCompressedBlob(e: unknown, at: number): unknown {
  if (!(e instanceof CorruptError)) return e;
  return new CorruptError({
    offset: at,
    expected: `${e.expected} (at byte ${e.offset} of the LZF-compressed blob)`,
    hint: e.hint,
  });
}

/**
 * Reads a blob string at the cursor and runs `fn` on it. Errors inside a raw blob carry file
 * offsets; inside an LZF-compressed blob the offset is that of the compressed string, and the
 * position within the decompressed bytes is named in the message.
 */
function withBlob<T>(c: Cursor, fn: (blob: Uint8Array, base: number) => T): T {
  const at = c.offset;
  const raw = rawStringAt(c);
  const blob = c.string();
  if (raw) return fn(blob, c.base + (blob.byteOffset - c.buf.byteOffset));
  try {
    return fn(blob, 0);
  } catch (e) {
    throw inCompressedBlob(e, at);
  }
}

/**
 * Elements of a blob, reused by the types that pair them up (hash, zset), so only the result is
 * allocated per key. Emptied after each use so that it keeps no views alive.
 */
const scratch: Elem[] = [];

/**
 * The value of a single-blob type (ziplist, listpack, intset encodings): withBlob without a
 * closure per key, the whole decoding under one try so errors are re-based as withBlob does.
 */
function decodeBlobValue(c: Cursor, type: number): Value {
  const at = c.offset;
  const raw = rawStringAt(c);
  const blob = c.string();
  const base = raw ? c.base + (blob.byteOffset - c.buf.byteOffset) : 0;
  try {
    switch (type) {
      case TYPE_LIST_ZIPLIST:
        return { type: 'list', value: bytesInPlace(ziplistValues(blob, base)) };
      case TYPE_SET_INTSET:
        return { type: 'set', value: bytesInPlace(intsetValues(blob, base)) };
      case TYPE_SET_LISTPACK:
        return { type: 'set', value: bytesInPlace(listpackValues(blob, base)) };
      case TYPE_ZSET_ZIPLIST:
        return { type: 'zset', value: zpairs(ziplistValues(blob, base, scratch), base) };
      case TYPE_ZSET_LISTPACK:
        return { type: 'zset', value: zpairs(listpackValues(blob, base, scratch), base) };
      case TYPE_HASH_ZIPLIST:
        return { type: 'hash', value: pairs(ziplistValues(blob, base, scratch), base, 'hash') };
      default: // TYPE_HASH_LISTPACK
        return { type: 'hash', value: pairs(listpackValues(blob, base, scratch), base, 'hash') };
    }
  } catch (e) {
    throw raw ? e : inCompressedBlob(e, at);
  } finally {
    scratch.length = 0;
  }
}

/** Appends the elements of a quicklist node (a ziplist or listpack blob) to `out`, as bytes. */
function quicklistNode(c: Cursor, ziplist: boolean, out: Uint8Array[]): void {
  const at = c.offset;
  const raw = rawStringAt(c);
  const blob = c.string();
  const base = raw ? c.base + (blob.byteOffset - c.buf.byteOffset) : 0;
  const start = out.length;
  try {
    // Appended as they come (integers included), then turned into bytes where they lie.
    if (ziplist) ziplistValues(blob, base, out);
    else listpackValues(blob, base, out);
  } catch (e) {
    throw raw ? e : inCompressedBlob(e, at);
  }
  const elems = out as Elem[];
  for (let i = start; i < elems.length; i++) {
    const e = elems[i]!;
    if (typeof e !== 'object') elems[i] = elemBytes(e);
  }
}

function decodeAt(c: Cursor, type: number, valkey: boolean): Value {
  switch (type) {
    case TYPE_STRING:
      return { type: 'string', value: c.string() };
    case TYPE_LIST:
    case TYPE_SET: {
      const n = c.size('an element count');
      const out: Uint8Array[] = [];
      for (let i = 0; i < n; i++) out.push(c.string());
      return type === TYPE_LIST ? { type: 'list', value: out } : { type: 'set', value: out };
    }
    case TYPE_ZSET:
    case TYPE_ZSET_2: {
      const n = c.size('an element count');
      const out: Array<[Uint8Array, number]> = [];
      for (let i = 0; i < n; i++) {
        const m = c.string();
        const at = c.offset;
        const score = type === TYPE_ZSET ? c.textDouble() : c.f64le();
        if (Number.isNaN(score)) throw new CorruptError({ offset: at, expected: 'a zset score that is not NaN' });
        out.push([m, score]);
      }
      return { type: 'zset', value: out };
    }
    case TYPE_HASH: {
      const n = c.size('a field count');
      const out: Array<[Uint8Array, Uint8Array]> = [];
      for (let i = 0; i < n; i++) out.push([c.string(), c.string()]);
      return { type: 'hash', value: out };
    }
    case TYPE_MODULE_PRE_GA:
      throw new UnsupportedError({ offset: c.offset, expected: 'a module value of type 7; type 6 cannot be decoded without its module' });
    case TYPE_MODULE_2: {
      const start = c.pos;
      const moduleId = c.lenBig();
      skipModule(c);
      return { type: 'module', value: { moduleId, ...moduleName(moduleId), raw: c.buf.subarray(start, c.pos) } };
    }
    case TYPE_HASH_ZIPMAP: {
      const flat = withBlob(c, zipmapPairs);
      const out: Array<[Uint8Array, Uint8Array]> = [];
      for (let i = 0; i < flat.length; i += 2) out.push([flat[i]!, flat[i + 1]!]);
      return { type: 'hash', value: out };
    }
    case TYPE_LIST_ZIPLIST:
    case TYPE_SET_INTSET:
    case TYPE_SET_LISTPACK:
    case TYPE_ZSET_ZIPLIST:
    case TYPE_ZSET_LISTPACK:
    case TYPE_HASH_ZIPLIST:
    case TYPE_HASH_LISTPACK:
      return decodeBlobValue(c, type);
    case TYPE_LIST_QUICKLIST:
    case TYPE_LIST_QUICKLIST_2: {
      const nodes = c.size('a quicklist node count');
      const out: Uint8Array[] = [];
      for (let i = 0; i < nodes; i++) {
        let container = QUICKLIST_NODE_PACKED;
        if (type === TYPE_LIST_QUICKLIST_2) {
          const at = c.offset;
          container = c.len();
          if (container !== QUICKLIST_NODE_PACKED && container !== QUICKLIST_NODE_PLAIN) {
            throw new CorruptError({ offset: at, expected: `a quicklist node container 1 or 2, found ${container}` });
          }
        }
        if (container === QUICKLIST_NODE_PLAIN) {
          out.push(c.string());
          continue;
        }
        quicklistNode(c, type === TYPE_LIST_QUICKLIST, out);
      }
      return { type: 'list', value: out };
    }
    case TYPE_STREAM_LISTPACKS:
    case TYPE_STREAM_LISTPACKS_2:
    case TYPE_STREAM_LISTPACKS_3:
      return { type: 'stream', value: decodeStream(c, type) };
    case TYPE_HASH_METADATA_PRE_GA: {
      const n = c.size('a field count');
      const out: Array<[Uint8Array, Uint8Array]> = [];
      const ttl: Array<[Uint8Array, number]> = [];
      for (let i = 0; i < n; i++) {
        if (valkey) {
          // Valkey 9 HASH_2: field, value, int64 LE expiry ms (-1 = none).
          const f = c.string();
          const v = c.string();
          const at = c.offset;
          const exp = c.i64le();
          if (exp < -1) throw new CorruptError({ offset: at, expected: 'a field expiry of -1 or a Unix ms time' });
          out.push([f, v]);
          if (exp !== -1) ttl.push([f, exp]);
        } else {
          // Redis 7.4 RC: absolute expiry ms (0 = none), then field and value.
          const exp = c.len();
          const f = c.string();
          const v = c.string();
          out.push([f, v]);
          if (exp !== 0) ttl.push([f, exp]);
        }
      }
      return ttl.length > 0 ? { type: 'hash', value: out, fieldExpireAt: ttl } : { type: 'hash', value: out };
    }
    case TYPE_HASH_METADATA: {
      const minExpire = c.i64le();
      const n = c.size('a field count');
      const out: Array<[Uint8Array, Uint8Array]> = [];
      const ttl: Array<[Uint8Array, number]> = [];
      for (let i = 0; i < n; i++) {
        const t = c.len();
        const f = c.string();
        const v = c.string();
        out.push([f, v]);
        // 0 = no TTL; otherwise stored as expireAt - minExpire + 1 (rdbSaveObject OBJ_HASH).
        if (t !== 0) ttl.push([f, t + minExpire - 1]);
      }
      return ttl.length > 0 ? { type: 'hash', value: out, fieldExpireAt: ttl } : { type: 'hash', value: out };
    }
    case TYPE_HASH_LISTPACK_EX:
    case TYPE_HASH_LISTPACK_EX_PRE_GA: {
      if (type === TYPE_HASH_LISTPACK_EX) c.skip(8); // cached minExpire, ignored by the loader
      const start = c.offset;
      const vals = withBlob(c, listpackValues);
      if (vals.length % 3 !== 0) throw new CorruptError({ offset: start, expected: 'hash listpack entries in (field, value, expiry) triples' });
      const out: Array<[Uint8Array, Uint8Array]> = [];
      const ttl: Array<[Uint8Array, number]> = [];
      for (let i = 0; i < vals.length; i += 3) {
        const f = elemToBytes(vals[i]!);
        out.push([f, elemToBytes(vals[i + 1]!)]);
        const e = vals[i + 2]!;
        if (typeof e !== 'number' && typeof e !== 'bigint') {
          throw new CorruptError({ offset: start, expected: 'an integer field expiry in a hash listpack triple' });
        }
        const exp = Number(e);
        if (exp !== 0) ttl.push([f, exp]);
      }
      return ttl.length > 0 ? { type: 'hash', value: out, fieldExpireAt: ttl } : { type: 'hash', value: out };
    }
    default:
      if (valkey && type === VALKEY_TYPE_HASH_2) return decodeAt(c, TYPE_HASH_METADATA_PRE_GA, true);
      throw new UnsupportedError({ offset: c.offset, expected: `a known value type, found ${type}` });
  }
}

const U64 = (1n << 64n) - 1n;

function rawId(c: Cursor): StreamId {
  const b = c.take(16);
  let ms = 0n;
  let seq = 0n;
  for (let i = 0; i < 8; i++) ms = (ms << 8n) | BigInt(b[i]!);
  for (let i = 8; i < 16; i++) seq = (seq << 8n) | BigInt(b[i]!);
  return { ms, seq };
}

function lenId(c: Cursor): StreamId {
  const ms = c.lenBig();
  const seq = c.lenBig();
  return { ms, seq };
}

function idKey(id: StreamId): string {
  return `${id.ms}-${id.seq}`;
}

function asBig(e: Elem | undefined, base: number, what: string): bigint {
  if (typeof e === 'number') return BigInt(e);
  if (typeof e === 'bigint') return e;
  throw new CorruptError({ offset: base, expected: `an integer ${what} in a stream node` });
}

function asNum(e: Elem | undefined, base: number, what: string): number {
  if (typeof e === 'number') return e;
  throw new CorruptError({ offset: base, expected: `an integer ${what} in a stream node` });
}

function decodeStream(c: Cursor, type: number): StreamValue {
  const entries: StreamValue['entries'] = [];
  const nodes = c.size('a stream node count');
  for (let n = 0; n < nodes; n++) {
    const keyAt = c.offset;
    const nodeKey = c.string();
    if (nodeKey.length !== 16) throw new CorruptError({ offset: keyAt, expected: 'a 16-byte stream node key' });
    let mms = 0n;
    let mseq = 0n;
    for (let i = 0; i < 8; i++) mms = (mms << 8n) | BigInt(nodeKey[i]!);
    for (let i = 8; i < 16; i++) mseq = (mseq << 8n) | BigInt(nodeKey[i]!);
    const base = c.offset;
    const lp = withBlob(c, listpackValues);
    // Every read below is bounds-checked: a damaged node must fail as corrupt, never as undefined.
    let i = 0;
    const next = (what: string): Elem => {
      if (i >= lp.length) throw new CorruptError({ offset: base, expected: `a stream node ${what} (node ended after ${lp.length} entries)` });
      return lp[i++]!;
    };
    const count = asNum(next('entry count'), base, 'entry count');
    const deleted = asNum(next('deleted count'), base, 'deleted count');
    const mfc = asNum(next('master field count'), base, 'master field count');
    const masterFields: Uint8Array[] = [];
    for (let f = 0; f < mfc; f++) masterFields.push(elemToBytes(next('master field')));
    if (asNum(next('master terminator'), base, 'master terminator') !== 0) {
      throw new CorruptError({ offset: base, expected: 'the master entry terminator 0 in a stream node' });
    }
    const total = count + deleted;
    for (let e = 0; e < total; e++) {
      const flags = asNum(next('entry flags'), base, 'entry flags');
      const msd = asBig(next('ms delta'), base, 'ms delta');
      const seqd = asBig(next('seq delta'), base, 'seq delta');
      const id = { ms: (mms + msd) & U64, seq: (mseq + seqd) & U64 };
      const fields: Uint8Array[] = [];
      if ((flags & STREAM_ITEM_FLAG_SAMEFIELDS) !== 0) {
        for (let f = 0; f < mfc; f++) {
          fields.push(masterFields[f]!);
          fields.push(elemToBytes(next('field value')));
        }
      } else {
        const nf = asNum(next('field count'), base, 'field count');
        for (let f = 0; f < nf; f++) {
          fields.push(elemToBytes(next('field')));
          fields.push(elemToBytes(next('field value')));
        }
      }
      next('entry lp-count');
      if ((flags & STREAM_ITEM_FLAG_DELETED) === 0) entries.push({ id, fields });
    }
  }
  const length = c.len();
  const lastId = lenId(c);
  const v: StreamValue = { entries, length, lastId, groups: [] };
  if (type !== TYPE_STREAM_LISTPACKS) {
    v.firstId = lenId(c);
    v.maxDeletedEntryId = lenId(c);
    v.entriesAdded = c.lenBig();
  }
  const groups = c.size('a consumer group count');
  for (let g = 0; g < groups; g++) {
    const name = c.string();
    const lastDeliveredId = lenId(c);
    const group: StreamGroup = { name, lastDeliveredId, pending: [], consumers: [] };
    if (type !== TYPE_STREAM_LISTPACKS) {
      const er = c.lenBig();
      group.entriesRead = er === U64 ? -1n : er;
    }
    const pel = c.size('a PEL size');
    const known = new Set<string>();
    for (let p = 0; p < pel; p++) {
      const id = rawId(c);
      const deliveryTime = c.i64le();
      const deliveryCount = c.len();
      known.add(idKey(id));
      group.pending.push({ id, deliveryTime, deliveryCount });
    }
    const consumers = c.size('a consumer count');
    for (let k = 0; k < consumers; k++) {
      const cname = c.string();
      const seenTime = c.i64le();
      const consumer: StreamConsumer = { name: cname, seenTime, pending: [] };
      if (type === TYPE_STREAM_LISTPACKS_3) consumer.activeTime = c.i64le();
      const cpel = c.size('a consumer PEL size');
      for (let p = 0; p < cpel; p++) {
        const at = c.offset;
        const id = rawId(c);
        if (!known.has(idKey(id))) {
          throw new CorruptError({ offset: at, expected: 'a consumer PEL id present in its group PEL' });
        }
        consumer.pending.push(id);
      }
      group.consumers.push(consumer);
    }
    v.groups.push(group);
  }
  return v;
}

function skipModule(c: Cursor): void {
  for (;;) {
    const at = c.offset;
    const op = c.len();
    switch (op) {
      case MODULE_OP_EOF: return;
      case MODULE_OP_SINT:
      case MODULE_OP_UINT: c.lenBig(); break;
      case MODULE_OP_FLOAT: c.skip(4); break;
      case MODULE_OP_DOUBLE: c.skip(8); break;
      case MODULE_OP_STRING: c.skipString(); break;
      default: throw new CorruptError({ offset: at, expected: `a module data opcode 0-5, found ${op}` });
    }
  }
}

const MODULE_CHARSET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';

/** Splits a 64-bit module type id into its 9-character name and encoding version (§7.1). */
export function moduleName(id: bigint): { name: string; encver: number } {
  const encver = Number(id & 1023n);
  let rest = id >> 10n;
  const chars: string[] = new Array(9);
  for (let i = 8; i >= 0; i--) {
    chars[i] = MODULE_CHARSET[Number(rest & 63n)]!;
    rest >>= 6n;
  }
  return { name: chars.join(''), encver };
}

/** Builds a module type id from a 9-character name and an encoding version. */
export function moduleId(name: string, encver: number): bigint {
  if (name.length !== 9) throw new RangeError('a module type name has 9 characters');
  let id = 0n;
  for (const ch of name) {
    const v = MODULE_CHARSET.indexOf(ch);
    if (v < 0) throw new RangeError(`module name character ${ch} outside A-Z a-z 0-9 - _`);
    id = (id << 6n) | BigInt(v);
  }
  return (id << 10n) | BigInt(encver & 1023);
}

export function streamIdToString(id: StreamId): string {
  return idKey(id);
}

/** Re-exported so callers of decode can tell codec errors apart. */
export { RdbError };
