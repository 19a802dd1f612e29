/**
 * One element of a ziplist, listpack or intset, as the decoders hand it out.
 *
 * - `Uint8Array`: a string entry (a view into the blob, never a copy).
 * - `number`: an integer entry within ±(2^53−1).
 * - `bigint`: an integer entry outside that range (still an int64).
 *
 * Redis treats an integer entry and the decimal text of that integer as the same value (it stores
 * canonical decimal strings as integers), so comparisons go through the byte form.
 */
import { int64ToAscii, parseCanonicalInt64 } from './int.js';

export type Elem = Uint8Array | number | bigint;

/** The element's bytes: strings as they are, integers as canonical decimal ASCII. */
export function elemToBytes(e: Elem): Uint8Array {
  return typeof e === 'object' ? e : int64ToAscii(e);
}

/** memcmp order of the byte forms (shorter prefix first): negative, 0 or positive. */
export function elemCompare(a: Elem, b: Elem): number {
  if (typeof a !== 'object' && typeof b !== 'object') {
    // Decimal text is ASCII, so UTF-16 string order equals byte order.
    const sa = String(a);
    const sb = String(b);
    return sa < sb ? -1 : sa > sb ? 1 : 0;
  }
  return bytesCompare(elemToBytes(a), elemToBytes(b));
}

/** True when both elements have the same byte form (so `5`, `5n` and the bytes "5" are equal). */
export function elemEquals(a: Elem, b: Elem): boolean {
  if (typeof a !== 'object' && typeof b !== 'object') {
    // Loose equality compares a number and a bigint by mathematical value.
    // eslint-disable-next-line eqeqeq
    return a == b;
  }
  const x = elemToBytes(a);
  const y = elemToBytes(b);
  if (x.length !== y.length) return false;
  for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) return false;
  return true;
}

/** memcmp of two byte strings, then length. */
export function bytesCompare(x: Uint8Array, y: Uint8Array): number {
  const n = x.length < y.length ? x.length : y.length;
  for (let i = 0; i < n; i++) {
    const d = x[i]! - y[i]!;
    if (d !== 0) return d;
  }
  return x.length - y.length;
}

// ---- integer helpers shared by the blob codecs (ziplist, listpack, intset) -----------------

const TWO_32 = 4294967296;
const MIN_SAFE_MINUS_ONE = -9007199254740992; // -2^53: exact as a double, but not "safe"
const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;

/**
 * Reads a signed int64, little-endian, at `b[o..o+8)`: a `number` when within ±(2^53−1), else a
 * `bigint`. The caller has checked the bounds.
 */
export function readInt64LE(b: Uint8Array, o: number): number | bigint {
  const lo = (b[o]! | (b[o + 1]! << 8) | (b[o + 2]! << 16) | (b[o + 3]! << 24)) >>> 0;
  const hi = b[o + 4]! | (b[o + 5]! << 8) | (b[o + 6]! << 16) | (b[o + 7]! << 24);
  if (hi >= -0x200000 && hi < 0x200000) {
    const v = hi * TWO_32 + lo; // exact: |v| <= 2^53
    if (v !== MIN_SAFE_MINUS_ONE) return v;
  }
  return (BigInt(hi) << 32n) + BigInt(lo);
}

/** Writes `v` (an int64, already normalised by `toInt64`) as 8 bytes little-endian at `b[o]`. */
export function writeInt64LE(b: Uint8Array, o: number, v: number | bigint): void {
  let lo: number;
  let hi: number;
  if (typeof v === 'number') {
    hi = Math.floor(v / TWO_32);
    lo = v - hi * TWO_32;
  } else {
    const u = BigInt.asUintN(64, v);
    lo = Number(u & 0xffffffffn);
    hi = Number(u >> 32n);
  }
  b[o] = lo & 0xff;
  b[o + 1] = (lo >>> 8) & 0xff;
  b[o + 2] = (lo >>> 16) & 0xff;
  b[o + 3] = (lo >>> 24) & 0xff;
  b[o + 4] = hi & 0xff;
  b[o + 5] = (hi >>> 8) & 0xff;
  b[o + 6] = (hi >>> 16) & 0xff;
  b[o + 7] = (hi >>> 24) & 0xff;
}

/**
 * Normalises an integer element: a `number` when within ±(2^53−1), else a `bigint`. Throws a
 * RangeError for a non-integer number or a value outside int64 (a caller bug, not bad input).
 */
export function toInt64(v: number | bigint): number | bigint {
  if (typeof v === 'number') {
    if (Number.isSafeInteger(v)) return v;
    if (!Number.isInteger(v)) throw new RangeError(`not an integer element: ${v}`);
    const b = BigInt(v);
    if (b < INT64_MIN || b > INT64_MAX) throw new RangeError(`integer element outside int64: ${v}`);
    return b;
  }
  if (v < INT64_MIN || v > INT64_MAX) throw new RangeError(`integer element outside int64: ${v}`);
  return v >= -9007199254740991n && v <= 9007199254740991n ? Number(v) : v;
}

/**
 * What the blob encoders store for an element: an integer (`number` within ±(2^53−1), else
 * `bigint`) when the element is an integer or a canonical decimal int64 string (as Redis's
 * `string2ll` accepts it: no `+`, no leading zeros, no "-0", at most 20 characters), otherwise the
 * string bytes.
 */
export function normalizeElem(e: Elem): Uint8Array | number | bigint {
  if (typeof e === 'object') {
    const n = e.length;
    if (n === 0 || n > 20) return e;
    const c = e[0]!;
    // Fast reject: a canonical int starts with '-' or a digit.
    if (c !== 0x2d && (c < 0x30 || c > 0x39)) return e;
    const v = parseCanonicalInt64(e, 0, n);
    return v === null ? e : v;
  }
  return toInt64(e);
}
