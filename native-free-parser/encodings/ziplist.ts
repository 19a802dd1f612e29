/**
 * Ziplist (RDB types 10, 12, 13 and quicklist v1 nodes): decode with the full structural
 * validation Redis >= 7 applies on load (`ziplistValidateIntegrity` + `zipEntrySafe`), count, and
 * encode byte-identically to Redis. See ../../shared/docs/RDB-FORMAT.md §5.2.
 *
 *   zlbytes:u32 LE  zltail:u32 LE  zllen:u16 LE  entry*  0xFF
 *   entry = prevlen  encoding  [data]
 *   prevlen = 1 byte (0..253) | 0xFE + u32 LE (the 5-byte form may hold a small value)
 *
 *   encoding (first byte)        size       meaning
 *   00pppppp                     1          string, len 0..63
 *   01pppppp qqqqqqqq            2          string, 14-bit len, BIG-endian
 *   10______ + u32 BE            5          string, 32-bit len, BIG-endian (low 6 bits ignored)
 *   0xC0 / 0xD0 / 0xE0           1 + 2/4/8  int16 / int32 / int64 LE
 *   0xF0 / 0xFE                  1 + 3/1    int24 / int8 LE (RDB >= 6)
 *   0xF1..0xFD                   1          immediate 0..12 = (b & 0x0F) - 1 (RDB >= 6)
 *
 * Every error is a CorruptError whose offset is `base` + the offset of the bad byte in the blob.
 */
import { CorruptError } from '../errors.js';
import { normalizeElem, readInt64LE, writeInt64LE, type Elem } from './elem.js';

const HEADER_SIZE = 10;
const ZIP_END = 0xff;
const BIG_PREVLEN = 0xfe;
const COUNT_UNKNOWN = 0xffff;

const ENC_INT16 = 0xc0;
const ENC_INT32 = 0xd0;
const ENC_INT64 = 0xe0;
const ENC_INT24 = 0xf0;
const ENC_INT8 = 0xfe;
const ENC_IMM_MIN = 0xf1;
const ENC_IMM_MAX = 0xfd;

function bad(base: number, off: number, expected: string): CorruptError {
  return new CorruptError({ offset: base + off, expected: `ziplist: ${expected}` });
}

function u32le(b: Uint8Array, o: number): number {
  return (b[o]! | (b[o + 1]! << 8) | (b[o + 2]! << 16) | (b[o + 3]! << 24)) >>> 0;
}

/** Header checks Redis always does; returns the header entry count (zllen). */
function checkHeader(blob: Uint8Array, base: number): number {
  const size = blob.length;
  if (size < HEADER_SIZE + 1) {
    throw bad(base, 0, `at least ${HEADER_SIZE + 1} bytes (header + end marker), got ${size}`);
  }
  const zlbytes = u32le(blob, 0);
  if (zlbytes !== size) throw bad(base, 0, `zlbytes equal to the blob length ${size}, found ${zlbytes}`);
  if (blob[size - 1] !== ZIP_END) {
    throw bad(base, size - 1, `end marker 0xFF as the last byte, found 0x${hex(blob[size - 1]!)}`);
  }
  const tail = u32le(blob, 4);
  if (tail > size - 1) throw bad(base, 4, `zltail within the blob (<= ${size - 1}), found ${tail}`);
  return blob[8]! | (blob[9]! << 8);
}

function hex(b: number): string {
  return b.toString(16).padStart(2, '0').toUpperCase();
}

/**
 * Walks and validates every entry (after `checkHeader`). Pushes each element to `out` when given (strings as subarray
 * views). Returns the entry count.
 */
function walk(blob: Uint8Array, base: number, headerCount: number, out: Elem[] | null): number {
  const last = blob.length - 1; // index of the end marker
  // Views built with the constructor: cheaper than blob.subarray() (see listpack.ts).
  const ab = blob.buffer;
  const bo = blob.byteOffset;
  let p = HEADER_SIZE;
  let prevSize = 0;
  let prevStart = -1;
  let count = 0;
  for (;;) {
    // Invariant: p <= last, and blob[last] === 0xFF.
    const b0 = blob[p]!;
    if (b0 === ZIP_END) break;
    let prevlen: number;
    let e: number;
    if (b0 < BIG_PREVLEN) {
      prevlen = b0;
      e = p + 1;
    } else {
      if (p + 5 > last) throw bad(base, p, '5-byte prevlen inside the ziplist');
      prevlen = u32le(blob, p + 1);
      e = p + 5;
    }
    if (prevlen !== prevSize) {
      throw bad(base, p, `prevlen ${prevSize} (the previous entry's size), found ${prevlen}`);
    }
    // e <= last here (for 1-byte prevlen, p < last because blob[p] !== 0xFF).
    const enc = blob[e]!;
    let end: number;
    if (enc < 0xc0) {
      let d: number;
      let len: number;
      if (enc < 0x40) {
        d = e + 1;
        len = enc;
      } else if (enc < 0x80) {
        d = e + 2;
        if (d > last) throw bad(base, e, '2-byte string header inside the ziplist');
        len = ((enc & 0x3f) << 8) | blob[e + 1]!;
      } else {
        d = e + 5;
        if (d > last) throw bad(base, e, '5-byte string header inside the ziplist');
        len = ((blob[e + 1]! << 24) | (blob[e + 2]! << 16) | (blob[e + 3]! << 8) | blob[e + 4]!) >>> 0;
      }
      end = d + len;
      if (end > last) throw bad(base, e, `string of ${len} bytes inside the ziplist`);
      if (out !== null) out.push(new Uint8Array(ab, bo + d, len));
    } else {
      const d = e + 1;
      let v: number | bigint;
      switch (enc) {
        case ENC_INT8:
          end = d + 1;
          if (end > last) throw bad(base, e, 'int8 entry inside the ziplist');
          v = (blob[d]! << 24) >> 24;
          break;
        case ENC_INT16:
          end = d + 2;
          if (end > last) throw bad(base, e, 'int16 entry inside the ziplist');
          v = ((blob[d]! | (blob[d + 1]! << 8)) << 16) >> 16;
          break;
        case ENC_INT24:
          end = d + 3;
          if (end > last) throw bad(base, e, 'int24 entry inside the ziplist');
          v = ((blob[d]! | (blob[d + 1]! << 8) | (blob[d + 2]! << 16)) << 8) >> 8;
          break;
        case ENC_INT32:
          end = d + 4;
          if (end > last) throw bad(base, e, 'int32 entry inside the ziplist');
          v = blob[d]! | (blob[d + 1]! << 8) | (blob[d + 2]! << 16) | (blob[d + 3]! << 24);
          break;
        case ENC_INT64:
          end = d + 8;
          if (end > last) throw bad(base, e, 'int64 entry inside the ziplist');
          v = out !== null ? readInt64LE(blob, d) : 0;
          break;
        default:
          if (enc >= ENC_IMM_MIN && enc <= ENC_IMM_MAX) {
            end = d;
            v = (enc & 0x0f) - 1;
            break;
          }
          throw bad(base, e, `a valid entry encoding, found 0x${hex(enc)}`);
      }
      if (out !== null) out.push(v);
    }
    prevStart = p;
    prevSize = end - p;
    p = end;
    count++;
  }
  if (p !== last) throw bad(base, p, `end marker only at the last byte (offset ${last})`);
  if (count > 0) {
    const tail = u32le(blob, 4);
    if (tail !== prevStart) throw bad(base, 4, `zltail ${prevStart} (the last entry), found ${tail}`);
  }
  if (headerCount !== COUNT_UNKNOWN && headerCount !== count) {
    throw bad(base, 8, `zllen ${count} (the real entry count), found ${headerCount}`);
  }
  return count;
}

/**
 * Decodes and fully validates a ziplist. Strings are views into `blob`. The elements are appended
 * to `out` when given (so a caller can reuse one array), else to a new array.
 */
export function ziplistValues(blob: Uint8Array, base = 0, out: Elem[] = []): Elem[] {
  walk(blob, base, checkHeader(blob, base), out);
  return out;
}

/**
 * The entry count: zllen after the header checks, or (when zllen is 65535, "unknown") a validating
 * walk that allocates no elements.
 */
export function ziplistCount(blob: Uint8Array, base = 0): number {
  const n = checkHeader(blob, base);
  return n !== COUNT_UNKNOWN ? n : walk(blob, base, n, null);
}

/** Bytes of integer data after the encoding byte (0 for the immediate form). */
function intDataSize(v: number | bigint, modern: boolean): number {
  if (typeof v === 'bigint') return 8;
  if (modern) {
    if (v >= 0 && v <= 12) return 0;
    if (v >= -128 && v <= 127) return 1;
  }
  if (v >= -32768 && v <= 32767) return 2;
  if (modern && v >= -8388608 && v <= 8388607) return 3;
  if (v >= -2147483648 && v <= 2147483647) return 4;
  return 8;
}

/**
 * Encodes `values` as Redis would build the ziplist by pushing them in order: canonical int64
 * strings and integers as the smallest integer encoding (for `rdbVersion` < 6 only int16/32/64,
 * which is all Redis <= 2.4 knows), strings with the smallest length form, prevlen 1 byte when the
 * previous entry is < 254 bytes, zllen 65535 when there are 65535 entries or more.
 */
export function ziplistEncode(values: readonly Elem[], rdbVersion = 12): Uint8Array {
  const n = values.length;
  const modern = rdbVersion >= 6;
  const norm: (Uint8Array | number | bigint)[] = new Array(n);
  let total = HEADER_SIZE + 1;
  let tail = HEADER_SIZE;
  let prev = 0;
  for (let i = 0; i < n; i++) {
    const v = normalizeElem(values[i]!);
    norm[i] = v;
    let es: number;
    if (typeof v === 'object') {
      const l = v.length;
      es = (l <= 0x3f ? 1 : l <= 0x3fff ? 2 : 5) + l;
    } else {
      es = 1 + intDataSize(v, modern);
    }
    const entry = (prev < BIG_PREVLEN ? 1 : 5) + es;
    tail = total - 1;
    total += entry;
    prev = entry;
  }
  if (total > 0xffffffff) throw new RangeError(`ziplist of ${total} bytes exceeds the 32-bit size field`);
  const out = new Uint8Array(total);
  putU32le(out, 0, total);
  putU32le(out, 4, tail);
  const cnt = n < COUNT_UNKNOWN ? n : COUNT_UNKNOWN;
  out[8] = cnt & 0xff;
  out[9] = cnt >>> 8;
  let p = HEADER_SIZE;
  prev = 0;
  for (let i = 0; i < n; i++) {
    const start = p;
    if (prev < BIG_PREVLEN) {
      out[p++] = prev;
    } else {
      out[p] = BIG_PREVLEN;
      putU32le(out, p + 1, prev);
      p += 5;
    }
    const v = norm[i]!;
    if (typeof v === 'object') {
      const l = v.length;
      if (l <= 0x3f) {
        out[p++] = l;
      } else if (l <= 0x3fff) {
        out[p++] = 0x40 | (l >>> 8);
        out[p++] = l & 0xff;
      } else {
        out[p++] = 0x80;
        out[p++] = l >>> 24;
        out[p++] = (l >>> 16) & 0xff;
        out[p++] = (l >>> 8) & 0xff;
        out[p++] = l & 0xff;
      }
      out.set(v, p);
      p += l;
    } else {
      switch (intDataSize(v, modern)) {
        case 0:
          out[p++] = ENC_IMM_MIN + (v as number);
          break;
        case 1:
          out[p++] = ENC_INT8;
          out[p++] = (v as number) & 0xff;
          break;
        case 2:
          out[p++] = ENC_INT16;
          out[p++] = (v as number) & 0xff;
          out[p++] = ((v as number) >> 8) & 0xff;
          break;
        case 3:
          out[p++] = ENC_INT24;
          out[p++] = (v as number) & 0xff;
          out[p++] = ((v as number) >> 8) & 0xff;
          out[p++] = ((v as number) >> 16) & 0xff;
          break;
        case 4:
          out[p++] = ENC_INT32;
          putU32le(out, p, (v as number) >>> 0);
          p += 4;
          break;
        default:
          out[p++] = ENC_INT64;
          writeInt64LE(out, p, v);
          p += 8;
      }
    }
    prev = p - start;
  }
  out[p] = ZIP_END;
  return out;
}

function putU32le(b: Uint8Array, o: number, v: number): void {
  b[o] = v & 0xff;
  b[o + 1] = (v >>> 8) & 0xff;
  b[o + 2] = (v >>> 16) & 0xff;
  b[o + 3] = (v >>> 24) & 0xff;
}
