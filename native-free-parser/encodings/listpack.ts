/**
 * Listpack (RDB types 16, 17, 20, 23, 25, quicklist v2 PACKED nodes, stream nodes): decode with
 * the deep validation Redis applies (`lpValidateIntegrity` + `lpValidateNext`, plus a strict
 * canonical-backlen check), count, and encode byte-identically to Redis.
 * See ../../shared/docs/RDB-FORMAT.md §5.4.
 *
 *   total_bytes:u32 LE  num_elements:u16 LE  entry*  0xFF
 *   entry = encoding+data  backlen
 *
 *   first byte         size of encoding+data   meaning
 *   0xxxxxxx           1                       uint 0..127
 *   10xxxxxx           1 + len                 string, len 0..63
 *   110xxxxx yyyyyyyy  2                       int13, two's complement (-4096..4095)
 *   1110xxxx yyyyyyyy  2 + len                 string, 12-bit len (high nibble first), 0..4095
 *   0xF0 + u32 LE      5 + len                 string, 32-bit len
 *   0xF1 / F2 / F3 / F4  3 / 4 / 5 / 9         int16 / int24 / int32 / int64, LE
 *   0xF5..0xFE         invalid;  0xFF end of listpack
 *
 *   backlen: the size l of encoding+data in 1..5 bytes read right to left, 7 bits per byte, every
 *   byte but the leftmost with bit 7 set. Byte count: l <= 127 → 1, l < 16383 → 2,
 *   l < 2097151 → 3, l < 268435455 → 4, else 5 (the odd `<` bounds are Redis's).
 *
 * Every error is a CorruptError whose offset is `base` + the offset of the bad byte in the blob.
 */
import { CorruptError } from '../errors.js';
import { normalizeElem, readInt64LE, writeInt64LE, type Elem } from './elem.js';

const HEADER_SIZE = 6;
const LP_EOF = 0xff;
const COUNT_UNKNOWN = 0xffff;

const ENC_STR32 = 0xf0;
const ENC_INT16 = 0xf1;
const ENC_INT24 = 0xf2;
const ENC_INT32 = 0xf3;
const ENC_INT64 = 0xf4;

function bad(base: number, off: number, expected: string): CorruptError {
  return new CorruptError({ offset: base + off, expected: `listpack: ${expected}` });
}

function hex(b: number): string {
  return b.toString(16).padStart(2, '0').toUpperCase();
}

function u32le(b: Uint8Array, o: number): number {
  return (b[o]! | (b[o + 1]! << 8) | (b[o + 2]! << 16) | (b[o + 3]! << 24)) >>> 0;
}

/** Number of backlen bytes Redis writes for an entry whose encoding+data is `l` bytes. */
export function listpackBacklenSize(l: number): number {
  return l <= 127 ? 1 : l < 16383 ? 2 : l < 2097151 ? 3 : l < 268435455 ? 4 : 5;
}

/** Header checks Redis always does; returns num_elements. */
function checkHeader(blob: Uint8Array, base: number): number {
  const size = blob.length;
  if (size < HEADER_SIZE + 1) {
    throw bad(base, 0, `at least ${HEADER_SIZE + 1} bytes (header + end marker), got ${size}`);
  }
  const total = u32le(blob, 0);
  if (total !== size) throw bad(base, 0, `total_bytes equal to the blob length ${size}, found ${total}`);
  if (blob[size - 1] !== LP_EOF) {
    throw bad(base, size - 1, `end marker 0xFF as the last byte, found 0x${hex(blob[size - 1]!)}`);
  }
  return blob[4]! | (blob[5]! << 8);
}

/**
 * Walks and validates every entry (after `checkHeader`); hands each element to `out` or `fn` when
 * given. Returns the entry count.
 */
function walk(
  blob: Uint8Array,
  base: number,
  headerCount: number,
  out: Elem[] | null,
  fn: ((e: Elem, index: number) => void) | null,
): number {
  const want = out !== null || fn !== null;
  const last = blob.length - 1; // index of the end marker
  // String elements are built as `new Uint8Array(buffer, offset, length)`: about 40% cheaper
  // than blob.subarray(), which looks up the species constructor on every call.
  const ab = blob.buffer;
  const bo = blob.byteOffset;
  let p = HEADER_SIZE;
  let count = 0;
  for (;;) {
    // Invariant: p <= last, and blob[last] === 0xFF.
    const b = blob[p]!;
    if (b === LP_EOF) break;
    let l: number; // size of encoding + data
    let v: Elem | undefined;
    if (b < 0x80) {
      l = 1;
      v = b;
    } else if (b < 0xc0) {
      l = 1 + (b & 0x3f);
      if (p + l > last) throw bad(base, p, `string of ${b & 0x3f} bytes inside the listpack`);
      if (want) v = new Uint8Array(ab, bo + p + 1, l - 1);
    } else if (b < 0xe0) {
      l = 2;
      if (p + 2 > last) throw bad(base, p, 'int13 entry inside the listpack');
      if (want) {
        const u = ((b & 0x1f) << 8) | blob[p + 1]!;
        v = u >= 4096 ? u - 8192 : u;
      }
    } else if (b < 0xf0) {
      if (p + 2 > last) throw bad(base, p, '2-byte string header inside the listpack');
      const len = ((b & 0x0f) << 8) | blob[p + 1]!;
      l = 2 + len;
      if (p + l > last) throw bad(base, p, `string of ${len} bytes inside the listpack`);
      if (want) v = new Uint8Array(ab, bo + p + 2, len);
    } else {
      switch (b) {
        case ENC_STR32: {
          if (p + 5 > last) throw bad(base, p, '5-byte string header inside the listpack');
          const len = u32le(blob, p + 1);
          l = 5 + len;
          if (p + l > last) throw bad(base, p, `string of ${len} bytes inside the listpack`);
          if (want) v = new Uint8Array(ab, bo + p + 5, len);
          break;
        }
        case ENC_INT16:
          l = 3;
          if (p + l > last) throw bad(base, p, 'int16 entry inside the listpack');
          if (want) v = ((blob[p + 1]! | (blob[p + 2]! << 8)) << 16) >> 16;
          break;
        case ENC_INT24:
          l = 4;
          if (p + l > last) throw bad(base, p, 'int24 entry inside the listpack');
          if (want) v = ((blob[p + 1]! | (blob[p + 2]! << 8) | (blob[p + 3]! << 16)) << 8) >> 8;
          break;
        case ENC_INT32:
          l = 5;
          if (p + l > last) throw bad(base, p, 'int32 entry inside the listpack');
          if (want) v = blob[p + 1]! | (blob[p + 2]! << 8) | (blob[p + 3]! << 16) | (blob[p + 4]! << 24);
          break;
        case ENC_INT64:
          l = 9;
          if (p + l > last) throw bad(base, p, 'int64 entry inside the listpack');
          if (want) v = readInt64LE(blob, p + 1);
          break;
        default:
          throw bad(base, p, `a valid entry encoding, found 0x${hex(b)}`);
      }
    }
    // backlen: canonical byte count for l, entry (and backlen) must end before the end marker.
    const q = p + l;
    const bl = l <= 127 ? 1 : l < 16383 ? 2 : l < 2097151 ? 3 : l < 268435455 ? 4 : 5;
    const end = q + bl;
    if (end > last) throw bad(base, q, `${bl}-byte backlen inside the listpack`);
    if (bl === 1) {
      if (blob[q] !== l) throw bad(base, q, `backlen ${l} (0x${hex(l)}), found 0x${hex(blob[q]!)}`);
    } else {
      let rest = l;
      for (let k = bl - 1; k >= 1; k--) {
        const want7 = (rest & 127) | 128;
        if (blob[q + k] !== want7) {
          throw bad(base, q + k, `backlen byte 0x${hex(want7)} (canonical backlen of ${l}), found 0x${hex(blob[q + k]!)}`);
        }
        rest = Math.floor(rest / 128);
      }
      if (blob[q] !== (rest & 0xff)) {
        throw bad(base, q, `backlen byte 0x${hex(rest & 0xff)} (canonical backlen of ${l}), found 0x${hex(blob[q]!)}`);
      }
    }
    if (out !== null) out.push(v!);
    else if (fn !== null) fn(v!, count);
    p = end;
    count++;
  }
  if (p !== last) throw bad(base, p, `end marker only at the last byte (offset ${last})`);
  if (headerCount !== COUNT_UNKNOWN && headerCount !== count) {
    throw bad(base, 4, `num_elements ${count} (the real entry count), found ${headerCount}`);
  }
  return count;
}

/**
 * Decodes and fully validates a listpack. Strings are views into `blob`. The elements are
 * appended to `out` when given (so a caller can reuse one array), else to a new array.
 */
export function listpackValues(blob: Uint8Array, base = 0, out: Elem[] = []): Elem[] {
  walk(blob, base, checkHeader(blob, base), out, null);
  return out;
}

/**
 * Calls `fn` for each element in order (strings are views into `blob`) and returns the count.
 * Validation runs as it goes: on a corrupt blob `fn` may already have seen the entries before the
 * bad one (and a wrong num_elements is only found at the end) when the CorruptError is thrown.
 */
export function listpackForEach(blob: Uint8Array, base: number, fn: (e: Elem, index: number) => void): number {
  return walk(blob, base, checkHeader(blob, base), null, fn);
}

/**
 * The entry count: num_elements after the header checks, or (when it is 65535, "unknown") a
 * validating walk that allocates no elements.
 */
export function listpackCount(blob: Uint8Array, base = 0): number {
  const n = checkHeader(blob, base);
  return n !== COUNT_UNKNOWN ? n : walk(blob, base, n, null, null);
}

/** Size of encoding+data for an integer element. */
function intEncSize(v: number | bigint): number {
  if (typeof v === 'bigint') return 9;
  if (v >= 0 && v <= 127) return 1;
  if (v >= -4096 && v <= 4095) return 2;
  if (v >= -32768 && v <= 32767) return 3;
  if (v >= -8388608 && v <= 8388607) return 4;
  if (v >= -2147483648 && v <= 2147483647) return 5;
  return 9;
}

/**
 * Encodes `values` as Redis builds a listpack: canonical int64 strings and integers as the
 * smallest integer encoding, strings with the smallest length form (< 64, < 4096, else 32-bit),
 * canonical backlens, num_elements 65535 when there are 65535 entries or more.
 */
export function listpackEncode(values: readonly Elem[]): Uint8Array {
  const n = values.length;
  const norm: (Uint8Array | number | bigint)[] = new Array(n);
  let total = HEADER_SIZE + 1;
  for (let i = 0; i < n; i++) {
    const v = normalizeElem(values[i]!);
    norm[i] = v;
    let l: number;
    if (typeof v === 'object') {
      const len = v.length;
      l = (len < 64 ? 1 : len < 4096 ? 2 : 5) + len;
    } else {
      l = intEncSize(v);
    }
    total += l + listpackBacklenSize(l);
  }
  if (total > 0xffffffff) throw new RangeError(`listpack of ${total} bytes exceeds the 32-bit size field`);
  const out = new Uint8Array(total);
  putU32le(out, 0, total);
  const cnt = n < COUNT_UNKNOWN ? n : COUNT_UNKNOWN;
  out[4] = cnt & 0xff;
  out[5] = cnt >>> 8;
  let p = HEADER_SIZE;
  for (let i = 0; i < n; i++) {
    const start = p;
    const v = norm[i]!;
    if (typeof v === 'object') {
      const len = v.length;
      if (len < 64) {
        out[p++] = 0x80 | len;
      } else if (len < 4096) {
        out[p++] = 0xe0 | (len >>> 8);
        out[p++] = len & 0xff;
      } else {
        out[p++] = ENC_STR32;
        putU32le(out, p, len);
        p += 4;
      }
      out.set(v, p);
      p += len;
    } else {
      const x = v as number; // only used on the number paths below
      switch (intEncSize(v)) {
        case 1:
          out[p++] = x;
          break;
        case 2: {
          const u = x < 0 ? x + 8192 : x;
          out[p++] = 0xc0 | (u >>> 8);
          out[p++] = u & 0xff;
          break;
        }
        case 3:
          out[p++] = ENC_INT16;
          out[p++] = x & 0xff;
          out[p++] = (x >> 8) & 0xff;
          break;
        case 4:
          out[p++] = ENC_INT24;
          out[p++] = x & 0xff;
          out[p++] = (x >> 8) & 0xff;
          out[p++] = (x >> 16) & 0xff;
          break;
        case 5:
          out[p++] = ENC_INT32;
          putU32le(out, p, x >>> 0);
          p += 4;
          break;
        default:
          out[p++] = ENC_INT64;
          writeInt64LE(out, p, v);
          p += 8;
      }
    }
    p = putBacklen(out, p, p - start);
  }
  out[p] = LP_EOF;
  return out;
}

/** Writes Redis's backlen for an entry of `l` bytes at `p`; returns the position after it. */
function putBacklen(b: Uint8Array, p: number, l: number): number {
  const bl = listpackBacklenSize(l);
  let rest = l;
  for (let k = bl - 1; k >= 1; k--) {
    b[p + k] = (rest & 127) | 128;
    rest = Math.floor(rest / 128);
  }
  b[p] = rest & 0xff;
  return p + bl;
}

function putU32le(b: Uint8Array, o: number, v: number): void {
  b[o] = v & 0xff;
  b[o + 1] = (v >>> 8) & 0xff;
  b[o + 2] = (v >>> 16) & 0xff;
  b[o + 3] = (v >>> 24) & 0xff;
}
