/**
 * Writers for the RDB length encoding and the RDB string ("str") encoding, following Redis's
 * `rdbSaveLen` and `rdbSaveRawString` (`src/rdb.c`; RDB-FORMAT.md §3.1, §3.2).
 *
 * Length forms, always the smallest that fits:
 *   00pppppp                 0..63
 *   01pppppp qqqqqqqq        64..16383 (14 bits, big-endian)
 *   0x80 + u32 big-endian    up to 2^32-1
 *   0x81 + u64 big-endian    larger (RDB >= 8 only)
 *
 * String forms: integer-encoded (0xC0/0xC1/0xC2 + int8/16/32 little-endian) for short canonical
 * decimal integers, LZF-compressed (0xC3 clen ulen data) when asked and worthwhile, else a length
 * and the raw bytes.
 */

import type { ByteWriter } from '../bytes/byte-writer.js';
import { ENC_INT16, ENC_INT32, ENC_INT8, ENC_LZF, LEN_32BIT, LEN_64BIT } from '../constants.js';
import { UnsupportedError } from '../errors.js';
import { lzfCompress } from '../lzf.js';
import { parseCanonicalInt64 } from './int.js';

const TWO_32 = 4294967296;
const UINT64_MAX = 2n ** 64n - 1n;
/** First RDB version whose loaders understand the 0x81 (64-bit) length form. */
const RDB_VERSION_LEN64 = 8;
/** `11pppppp`: the first byte of a special string encoding. */
const ENC_MARKER = 0xc0;
/** Longest string that can be a canonical int32 ("-2147483648"). */
const INT_ENCODE_MAX_LEN = 11;
/** Redis compresses only strings longer than this. */
const LZF_MIN_LEN = 20;

/**
 * Writes `n` in the smallest RDB length form.
 *
 * @param n a non-negative integer up to 2^64-1 (a number past 2^53 is taken as the exact double)
 * @param rdbVersion the target RDB version (default 12); below 8 the 64-bit form does not exist
 * @throws UnsupportedError when `n` > 2^32-1 and `rdbVersion` < 8 (offset = the writer position)
 * @throws RangeError when `n` is negative, not an integer, or above 2^64-1
 */
export function writeLen(w: ByteWriter, n: number | bigint, rdbVersion = 12): void {
  if (typeof n === 'number') {
    if (!(Number.isInteger(n) && n >= 0)) throw new RangeError(`writeLen: ${n} is not a length`);
    if (n < 64) {
      w.u8(n);
    } else if (n < 16384) {
      w.u8(0x40 | (n >>> 8));
      w.u8(n & 0xff);
    } else if (n <= 0xffffffff) {
      w.u8(LEN_32BIT);
      w.u32be(n);
    } else if (n <= Number.MAX_SAFE_INTEGER) {
      checkLen64(w, n, rdbVersion);
      w.u8(LEN_64BIT);
      w.u32be(Math.floor(n / TWO_32));
      w.u32be(n % TWO_32);
    } else {
      writeLen(w, BigInt(n), rdbVersion);
    }
    return;
  }
  if (n < 0n || n > UINT64_MAX) throw new RangeError(`writeLen: ${n} is not a length`);
  if (n <= 0xffffffffn) {
    writeLen(w, Number(n), rdbVersion);
    return;
  }
  checkLen64(w, n, rdbVersion);
  w.u8(LEN_64BIT);
  w.u64beBig(n);
}

function checkLen64(w: ByteWriter, n: number | bigint, rdbVersion: number): void {
  if (rdbVersion < RDB_VERSION_LEN64) {
    throw new UnsupportedError({
      offset: w.length,
      expected: `a length of at most 4294967295 for RDB version ${rdbVersion} (got ${n})`,
      hint: '64-bit lengths need RDB version 8 (Redis 4.0) or later',
    });
  }
}

/**
 * Bytes {@link writeLen} uses for `n`: 1, 2, 5 or 9. (Does not validate `n`.)
 */
export function lenSize(n: number | bigint): number {
  if (n < 64) return 1;
  if (n < 16384) return 2;
  if (n <= 0xffffffff) return 5;
  return 9;
}

/** Options of {@link writeRdbString}. */
export interface RdbStringOptions {
  /**
   * Try LZF compression for strings longer than 20 bytes, kept only when it saves at least 4
   * bytes (Redis's `rdbcompression yes`). Default false: compression costs CPU and merge/replay
   * normally copies values as they were.
   */
  compress?: boolean;
  /** Store short canonical decimal integers as INT8/16/32, as Redis does. Default true. */
  intEncode?: boolean;
  /** Target RDB version for the length fields (default 12); see {@link writeLen}. */
  rdbVersion?: number;
}

/**
 * Writes `bytes` as an RDB str, choosing the form as Redis's `rdbSaveRawString` does:
 * integer encoding when allowed and the bytes are a canonical int fitting int32 (<= 11 bytes),
 * else LZF when `compress` is set, the string is > 20 bytes and compression pays, else raw.
 * @throws UnsupportedError for a string longer than 2^32-1 bytes with `rdbVersion` < 8
 */
export function writeRdbString(w: ByteWriter, bytes: Uint8Array, opts: RdbStringOptions = {}): void {
  const n = bytes.length;
  const rdbVersion = opts.rdbVersion ?? 12;

  if (n <= INT_ENCODE_MAX_LEN && n > 0 && opts.intEncode !== false) {
    const v = parseCanonicalInt64(bytes);
    if (typeof v === 'number') {
      if (v >= -128 && v <= 127) {
        w.u8(ENC_MARKER | ENC_INT8);
        w.u8(v & 0xff);
        return;
      }
      if (v >= -32768 && v <= 32767) {
        w.u8(ENC_MARKER | ENC_INT16);
        w.u16le(v & 0xffff); // little-endian, two's complement
        return;
      }
      if (v >= -2147483648 && v <= 2147483647) {
        w.u8(ENC_MARKER | ENC_INT32);
        w.u32le(v >>> 0); // little-endian, two's complement
        return;
      }
    }
  }

  if (opts.compress === true && n > LZF_MIN_LEN) {
    const packed = lzfCompress(bytes);
    if (packed !== null) {
      w.u8(ENC_MARKER | ENC_LZF);
      writeLen(w, packed.length, rdbVersion);
      writeLen(w, n, rdbVersion);
      w.bytes(packed);
      return;
    }
  }

  writeLen(w, n, rdbVersion);
  w.bytes(bytes);
}

/**
 * {@link writeRdbString} for an ASCII string (AUX names and values such as "redis-ver", "64").
 * Integer encoding applies by default, as in Redis: "64" is written `c0 40`.
 * @throws RangeError on a character above 0x7F
 */
export function writeRdbStringAscii(w: ByteWriter, s: string, opts: RdbStringOptions = {}): void {
  const n = s.length;
  if (n > INT_ENCODE_MAX_LEN && opts.compress !== true) {
    // Neither integer encoding nor compression can apply: skip the temporary bytes.
    writeLen(w, n, opts.rdbVersion ?? 12);
    w.ascii(s);
    return;
  }
  const bytes = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    const c = s.charCodeAt(i);
    if (c > 0x7f) throw new RangeError(`writeRdbStringAscii: character ${c} at index ${i} is not ASCII`);
    bytes[i] = c;
  }
  writeRdbString(w, bytes, opts);
}
