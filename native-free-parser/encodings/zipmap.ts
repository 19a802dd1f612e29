/**
 * Zipmap (RDB type 9, hashes written by Redis <= 2.4/2.6): decode with Redis's deep validation
 * (`zipmapValidateIntegrity`) and count. No encoder: nothing loads a zipmap that cannot load the
 * ziplist/listpack forms. See ../../shared/docs/RDB-FORMAT.md §5.1.
 *
 *   zmlen:u8  entry*  0xFF
 *   entry = len key-bytes  len free:u8 value-bytes  <free bytes of padding>
 *   len   = 1 byte (0..253) | 0xFE + u32 LE
 *
 * zmlen is the pair count when < 254 (254: "unknown, walk"). A 0xFF where a key length is
 * expected is the end marker; at a value length Redis reads it as the 5-byte form, and so do we.
 * Stricter than Redis in one point: the end marker must be the last byte of the blob (Redis
 * stops at the first end marker and only checks that the last byte is 0xFF).
 *
 * Every error is a CorruptError whose offset is `base` + the offset of the bad byte in the blob.
 */
import { CorruptError } from '../errors.js';

const ZIPMAP_BIGLEN = 254;
const ZIPMAP_END = 0xff;

function bad(base: number, off: number, expected: string): CorruptError {
  return new CorruptError({ offset: base + off, expected: `zipmap: ${expected}` });
}

function u32le(b: Uint8Array, o: number): number {
  return (b[o]! | (b[o + 1]! << 8) | (b[o + 2]! << 16) | (b[o + 3]! << 24)) >>> 0;
}

function checkHeader(blob: Uint8Array, base: number): void {
  const size = blob.length;
  if (size < 2) throw bad(base, 0, `at least 2 bytes (count + end marker), got ${size}`);
  if (blob[size - 1] !== ZIPMAP_END) {
    throw bad(base, size - 1, `end marker 0xFF as the last byte, found 0x${blob[size - 1]!.toString(16)}`);
  }
}

/** Walks and validates (after `checkHeader`); pushes key, value views to `out` when given. */
function walk(blob: Uint8Array, base: number, out: Uint8Array[] | null): number {
  const last = blob.length - 1; // index of the end marker
  let p = 1;
  let count = 0;
  for (;;) {
    // Invariant: p <= last, and blob[last] === 0xFF.
    let b = blob[p]!;
    if (b === ZIPMAP_END) break;
    // key length
    let klen: number;
    const kp = p;
    if (b < ZIPMAP_BIGLEN) {
      klen = b;
      p += 1;
    } else {
      if (p + 5 > last) throw bad(base, p, '5-byte key length inside the zipmap');
      klen = u32le(blob, p + 1);
      p += 5;
    }
    const ks = p;
    p += klen;
    if (p > last) throw bad(base, kp, `key of ${klen} bytes inside the zipmap`);
    // value length (0xFE and 0xFF both mean "u32 follows", as in Redis)
    const vp = p;
    b = blob[p]!;
    let vlen: number;
    if (b < ZIPMAP_BIGLEN) {
      vlen = b;
      p += 1;
    } else {
      if (p + 5 > last) throw bad(base, p, '5-byte value length inside the zipmap');
      vlen = u32le(blob, p + 1);
      p += 5;
    }
    // p <= last here, so the free byte is readable.
    const free = blob[p]!;
    p += 1;
    const vs = p;
    p += vlen + free;
    if (p > last) throw bad(base, vp, `value of ${vlen} bytes + ${free} free bytes inside the zipmap`);
    if (out !== null) {
      out.push(blob.subarray(ks, ks + klen), blob.subarray(vs, vs + vlen));
    }
    count++;
  }
  if (p !== last) throw bad(base, p, `end marker only at the last byte (offset ${last})`);
  if (count === 0) throw bad(base, 1, 'a non-empty zipmap');
  const zmlen = blob[0]!;
  if (zmlen !== ZIPMAP_BIGLEN && zmlen !== count) {
    throw bad(base, 0, `zmlen ${count < ZIPMAP_BIGLEN ? count : ZIPMAP_BIGLEN} (the real pair count ${count}), found ${zmlen}`);
  }
  return count;
}

/** Decodes and fully validates a zipmap: flat [field, value, field, value, ...] views into `blob`. */
export function zipmapPairs(blob: Uint8Array, base = 0): Uint8Array[] {
  checkHeader(blob, base);
  const out: Uint8Array[] = [];
  walk(blob, base, out);
  return out;
}

/**
 * The pair count: zmlen when < 254 (after the header checks), else a validating walk that
 * allocates nothing.
 */
export function zipmapCount(blob: Uint8Array, base = 0): number {
  checkHeader(blob, base);
  const zmlen = blob[0]!;
  return zmlen < ZIPMAP_BIGLEN ? zmlen : walk(blob, base, null);
}
