/**
 * Intset (RDB type 11): decode with Redis's deep validation (`intsetValidateIntegrity`), count, and
 * encode as Redis would. See ../../shared/docs/RDB-FORMAT.md §5.3.
 *
 *   encoding:u32 LE (2, 4 or 8 = bytes per member)  length:u32 LE  length × signed int LE
 *
 * The blob is exactly 8 + length*encoding bytes, length > 0, members strictly increasing.
 * Every error is a CorruptError whose offset is `base` + the offset of the bad byte in the blob.
 */
import { CorruptError } from '../errors.js';
import { readInt64LE, toInt64, writeInt64LE } from './elem.js';

const HEADER_SIZE = 8;

function bad(base: number, off: number, expected: string): CorruptError {
  return new CorruptError({ offset: base + off, expected: `intset: ${expected}` });
}

function u32le(b: Uint8Array, o: number): number {
  return (b[o]! | (b[o + 1]! << 8) | (b[o + 2]! << 16) | (b[o + 3]! << 24)) >>> 0;
}

/** Checks the header and the size; returns the member width (2, 4 or 8). */
function checkHeader(blob: Uint8Array, base: number): number {
  const size = blob.length;
  if (size < HEADER_SIZE) throw bad(base, 0, `at least ${HEADER_SIZE} bytes (header), got ${size}`);
  const enc = u32le(blob, 0);
  if (enc !== 2 && enc !== 4 && enc !== 8) throw bad(base, 0, `encoding 2, 4 or 8, found ${enc}`);
  const len = u32le(blob, 4);
  if (len === 0) throw bad(base, 4, 'a non-empty intset (length > 0)');
  if (HEADER_SIZE + len * enc !== size) {
    throw bad(base, 4, `length ${(size - HEADER_SIZE) / enc} (blob of ${size} bytes, ${enc}-byte members), found ${len}`);
  }
  return enc;
}

/** Decodes and fully validates an intset (members strictly increasing). */
export function intsetValues(blob: Uint8Array, base = 0): (number | bigint)[] {
  const enc = checkHeader(blob, base);
  const size = blob.length;
  const n = (size - HEADER_SIZE) / enc;
  const out: (number | bigint)[] = new Array(n);
  if (enc === 8) {
    // Compare (hi signed, lo unsigned) pairs: no bigint arithmetic for the order check.
    let prevHi = 0;
    let prevLo = 0;
    for (let i = 0, o = HEADER_SIZE; i < n; i++, o += 8) {
      const lo = u32le(blob, o);
      const hi = blob[o + 4]! | (blob[o + 5]! << 8) | (blob[o + 6]! << 16) | (blob[o + 7]! << 24);
      if (i > 0 && (hi < prevHi || (hi === prevHi && lo <= prevLo))) {
        throw bad(base, o, `members in strictly increasing order (member ${i})`);
      }
      prevHi = hi;
      prevLo = lo;
      out[i] = readInt64LE(blob, o);
    }
  } else {
    let prev = 0;
    for (let i = 0, o = HEADER_SIZE; i < n; i++, o += enc) {
      const v = enc === 2
        ? ((blob[o]! | (blob[o + 1]! << 8)) << 16) >> 16
        : blob[o]! | (blob[o + 1]! << 8) | (blob[o + 2]! << 16) | (blob[o + 3]! << 24);
      if (i > 0 && v <= prev) throw bad(base, o, `members in strictly increasing order (member ${i})`);
      prev = v;
      out[i] = v;
    }
  }
  return out;
}

/** The member count after the header and size checks (order is not checked). */
export function intsetCount(blob: Uint8Array, base = 0): number {
  const enc = checkHeader(blob, base);
  return (blob.length - HEADER_SIZE) / enc;
}

function compareInt(a: number | bigint, b: number | bigint): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * Encodes a set of int64s as Redis's intset: sorted ascending, duplicates dropped, the smallest
 * width (2, 4 or 8 bytes) that fits every member. An empty input gives the 8-byte empty intset
 * Redis creates in memory (`intsetNew`), which a loader rejects: do not write it to a file.
 */
export function intsetEncode(values: readonly (number | bigint)[]): Uint8Array {
  const sorted: (number | bigint)[] = new Array(values.length);
  for (let i = 0; i < values.length; i++) sorted[i] = toInt64(values[i]!);
  sorted.sort(compareInt);
  let n = 0;
  for (let i = 0; i < sorted.length; i++) {
    const v = sorted[i]!;
    // Normalised: equal values have the same type (a bigint here is never within the safe range).
    if (n === 0 || sorted[n - 1] !== v) sorted[n++] = v;
  }
  sorted.length = n;
  let enc = 2;
  if (n > 0) {
    const lo = sorted[0]!;
    const hi = sorted[n - 1]!;
    if (typeof lo === 'bigint' || typeof hi === 'bigint' || lo < -2147483648 || hi > 2147483647) enc = 8;
    else if (lo < -32768 || hi > 32767) enc = 4;
  }
  const out = new Uint8Array(HEADER_SIZE + n * enc);
  out[0] = enc;
  out[4] = n & 0xff;
  out[5] = (n >>> 8) & 0xff;
  out[6] = (n >>> 16) & 0xff;
  out[7] = (n >>> 24) & 0xff;
  let o = HEADER_SIZE;
  for (let i = 0; i < n; i++, o += enc) {
    const v = sorted[i]!;
    if (enc === 8) {
      writeInt64LE(out, o, v);
    } else {
      const x = v as number;
      out[o] = x & 0xff;
      out[o + 1] = (x >> 8) & 0xff;
      if (enc === 4) {
        out[o + 2] = (x >> 16) & 0xff;
        out[o + 3] = (x >> 24) & 0xff;
      }
    }
  }
  return out;
}
