/**
 * A synchronous read cursor over one contiguous byte array: the hot path of the reader.
 *
 * Running past `end` throws the shared NEED_MORE token instead of an error: the streaming reader
 * catches it, gathers more input and re-parses the record from its start (see reader.ts). A
 * cursor over a complete buffer (a DUMP payload, a record span being decoded) turns NEED_MORE
 * into a CorruptError instead. `base` is the absolute input offset of `buf[0]`, so every error
 * names the byte offset in the file.
 */
import {
  ENC_INT16, ENC_INT32, ENC_INT8, ENC_LZF, LEN_32BIT, LEN_64BIT,
} from '../constants.js';
import { CorruptError, LimitError } from '../errors.js';
import { lzfDecompressShared } from '../lzf.js';

/** Thrown (never escaping the codec) when the cursor needs bytes past `end`. */
export interface NeedMore {
  /** Absolute offset the reader must have data up to, at least. */
  needUpTo: number;
}
export const NEED_MORE: NeedMore = { needUpTo: 0 };

const TEXT_DECODER = new TextDecoder('latin1');
const TWO_32 = 4294967296;

export class Cursor {
  buf: Uint8Array;
  pos: number;
  end: number;
  /** Absolute offset of buf[0] in the input. */
  base: number;
  /** Largest single string / collection length accepted before allocating. */
  maxValueSize: number;
  /** RDB version of the input: lengths 0x82..0xBF mean "32-bit" before version 8. */
  rdbVersion: number;

  constructor(buf: Uint8Array, base = 0, maxValueSize = 512 * 1024 * 1024, rdbVersion = 12) {
    this.buf = buf;
    this.pos = 0;
    this.end = buf.length;
    this.base = base;
    this.maxValueSize = maxValueSize;
    this.rdbVersion = rdbVersion;
  }

  reset(buf: Uint8Array, base: number, pos = 0): void {
    this.buf = buf;
    this.pos = pos;
    this.end = buf.length;
    this.base = base;
  }

  /** Absolute offset of the cursor. */
  get offset(): number {
    return this.base + this.pos;
  }

  need(n: number): void {
    if (this.pos + n > this.end) {
      NEED_MORE.needUpTo = this.base + this.pos + n;
      throw NEED_MORE;
    }
  }

  u8(): number {
    if (this.pos >= this.end) {
      NEED_MORE.needUpTo = this.base + this.pos + 1;
      throw NEED_MORE;
    }
    return this.buf[this.pos++]!;
  }

  skip(n: number): void {
    this.need(n);
    this.pos += n;
  }

  take(n: number): Uint8Array {
    this.need(n);
    const out = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }

  /** Little-endian u32. */
  u32le(): number {
    this.need(4);
    const b = this.buf;
    const p = this.pos;
    this.pos = p + 4;
    return (b[p]! | (b[p + 1]! << 8) | (b[p + 2]! << 16)) + b[p + 3]! * 0x1000000;
  }

  /** Little-endian signed 64-bit as a number (exact up to 2^53; ms times fit easily). */
  i64le(): number {
    this.need(8);
    const b = this.buf;
    const p = this.pos;
    this.pos = p + 8;
    const lo = (b[p]! | (b[p + 1]! << 8) | (b[p + 2]! << 16)) + b[p + 3]! * 0x1000000;
    const hi = b[p + 4]! | (b[p + 5]! << 8) | (b[p + 6]! << 16) | (b[p + 7]! << 24); // signed
    return hi * TWO_32 + lo;
  }

  /** Little-endian signed 64-bit as a bigint (exact). */
  i64leBig(): bigint {
    this.need(8);
    const b = this.buf;
    const p = this.pos;
    this.pos = p + 8;
    const lo = (b[p]! | (b[p + 1]! << 8) | (b[p + 2]! << 16)) + b[p + 3]! * 0x1000000;
    const hi = b[p + 4]! | (b[p + 5]! << 8) | (b[p + 6]! << 16) | (b[p + 7]! << 24);
    return (BigInt(hi) << 32n) + BigInt(lo);
  }

  /** Little-endian signed 32-bit (EXPIRETIME in seconds). */
  i32le(): number {
    this.need(4);
    const b = this.buf;
    const p = this.pos;
    this.pos = p + 4;
    return b[p]! | (b[p + 1]! << 8) | (b[p + 2]! << 16) | (b[p + 3]! << 24);
  }

  f64le(): number {
    this.need(8);
    const v = new DataView(this.buf.buffer, this.buf.byteOffset + this.pos, 8).getFloat64(0, true);
    this.pos += 8;
    return v;
  }

  f32le(): number {
    this.need(4);
    const v = new DataView(this.buf.buffer, this.buf.byteOffset + this.pos, 4).getFloat32(0, true);
    this.pos += 4;
    return v;
  }

  /**
   * An RDB length (§3.1) as a number. 64-bit lengths past 2^53 come back rounded; callers that
   * use a length as a size compare it with maxValueSize, so such values are refused anyway.
   * Throws CorruptError on the special-encoding marker (11xxxxxx) where a length is required.
   */
  len(): number {
    const start = this.pos;
    const b0 = this.u8();
    const t = b0 >> 6;
    if (t === 0) return b0 & 0x3f;
    if (t === 1) return ((b0 & 0x3f) << 8) | this.u8();
    if (b0 === LEN_32BIT || (t === 2 && this.rdbVersion < 8)) {
      this.need(4);
      const b = this.buf;
      const p = this.pos;
      this.pos = p + 4;
      return b[p]! * 0x1000000 + ((b[p + 1]! << 16) | (b[p + 2]! << 8) | b[p + 3]!);
    }
    if (b0 === LEN_64BIT) {
      this.need(8);
      const b = this.buf;
      const p = this.pos;
      this.pos = p + 8;
      const hi = b[p]! * 0x1000000 + ((b[p + 1]! << 16) | (b[p + 2]! << 8) | b[p + 3]!);
      const lo = b[p + 4]! * 0x1000000 + ((b[p + 5]! << 16) | (b[p + 6]! << 8) | b[p + 7]!);
      return hi * TWO_32 + lo;
    }
    throw new CorruptError({
      offset: this.base + start,
      expected: `a length (0x00-0x81), found byte 0x${b0.toString(16)}`,
    });
  }

  /** An RDB length as an exact unsigned 64-bit bigint (stream ids, counters, module UINTs). */
  lenBig(): bigint {
    const start = this.pos;
    const b0 = this.u8();
    if (b0 === LEN_64BIT) {
      this.need(8);
      const b = this.buf;
      const p = this.pos;
      this.pos = p + 8;
      const hi = b[p]! * 0x1000000 + ((b[p + 1]! << 16) | (b[p + 2]! << 8) | b[p + 3]!);
      const lo = b[p + 4]! * 0x1000000 + ((b[p + 5]! << 16) | (b[p + 6]! << 8) | b[p + 7]!);
      return (BigInt(hi) << 32n) | BigInt(lo);
    }
    this.pos = start;
    return BigInt(this.len());
  }

  /** A length used as a count or a size: refused past maxValueSize before anything is allocated. */
  size(what: string): number {
    const start = this.pos;
    const n = this.len();
    if (n > this.maxValueSize) {
      throw new LimitError({
        offset: this.base + start,
        expected: `${what} of at most ${this.maxValueSize} (--max-value-size), found ${n}`,
        hint: 'raise --max-value-size if the file is sound',
      });
    }
    return n;
  }

  /**
   * Skips an RDB string (§3.2) without decoding it. Returns its decoded length (for LZF, the
   * uncompressed length), so callers can total sizes without decompressing.
   */
  skipString(): number {
    const start = this.pos;
    const b0 = this.u8();
    if (b0 >> 6 !== 3) {
      this.pos = start;
      const n = this.size('a string length');
      this.need(n);
      this.pos += n;
      return n;
    }
    switch (b0 & 0x3f) {
      case ENC_INT8: this.skip(1); return 4;
      case ENC_INT16: this.skip(2); return 6;
      case ENC_INT32: this.skip(4); return 11;
      case ENC_LZF: {
        const clen = this.size('an LZF compressed length');
        const ulen = this.size('an LZF uncompressed length');
        this.need(clen);
        this.pos += clen;
        return ulen;
      }
      default:
        throw new CorruptError({
          offset: this.base + start,
          expected: `a string encoding 0xC0-0xC3, found 0x${b0.toString(16)}`,
        });
    }
  }

  /**
   * Reads an RDB string as bytes: a view into the buffer when stored raw, a view into a shared
   * slab when LZF-compressed (see lzfDecompressShared), the decimal text when integer-encoded
   * (shared read-only arrays for small values, see asciiInt).
   */
  string(): Uint8Array {
    const start = this.pos;
    const b0 = this.u8();
    if (b0 >> 6 !== 3) {
      this.pos = start;
      const n = this.size('a string length');
      this.need(n);
      // The constructor rather than subarray(), which looks up the species constructor per call.
      const buf = this.buf;
      const out = new Uint8Array(buf.buffer, buf.byteOffset + this.pos, n);
      this.pos += n;
      return out;
    }
    switch (b0 & 0x3f) {
      case ENC_INT8: {
        const v = (this.u8() << 24) >> 24;
        return asciiInt(v);
      }
      case ENC_INT16: {
        this.need(2);
        const b = this.buf;
        const v = ((b[this.pos]! | (b[this.pos + 1]! << 8)) << 16) >> 16;
        this.pos += 2;
        return asciiInt(v);
      }
      case ENC_INT32: {
        return asciiInt(this.i32le());
      }
      case ENC_LZF: {
        const clen = this.size('an LZF compressed length');
        const ulen = this.size('an LZF uncompressed length');
        this.need(clen);
        const dataOff = this.pos;
        this.pos += clen;
        // Into a shared slab: one ArrayBuffer per value cost more than the decompression itself.
        return lzfDecompressShared(this.buf, dataOff, dataOff + clen, ulen, this.base + dataOff);
      }
      default:
        throw new CorruptError({
          offset: this.base + start,
          expected: `a string encoding 0xC0-0xC3, found 0x${b0.toString(16)}`,
        });
    }
  }

  /** An RDB string as text (latin1: aux keys, module names). */
  latin1(): string {
    return TEXT_DECODER.decode(this.string());
  }

  /** A text double of type 3 zsets (§3.3): length byte, 253 NaN, 254 +inf, 255 -inf. */
  textDouble(): number {
    const start = this.pos;
    const n = this.u8();
    if (n === 253) return NaN;
    if (n === 254) return Infinity;
    if (n === 255) return -Infinity;
    const s = TEXT_DECODER.decode(this.take(n));
    const v = Number(s);
    if (Number.isNaN(v) && s.trim().toLowerCase() !== 'nan') {
      throw new CorruptError({ offset: this.base + start, expected: `a double as text, found "${s}"` });
    }
    return v;
  }

  skipTextDouble(): void {
    const n = this.u8();
    if (n < 253) this.skip(n);
  }
}

const SMALL_INTS: Uint8Array[] = [];
for (let i = -128; i < 1024; i++) SMALL_INTS.push(new TextEncoder().encode(String(i)));

/**
 * Decimal text of an integer as bytes (shared arrays for -128..1023: treat as read-only).
 * Integers within ±(2^31-1) are written digit by digit: String(v) then copying its characters
 * cost about three times as much, and listpacks are full of integers (decode's hot path).
 */
export function asciiInt(v: number): Uint8Array {
  if (v >= -128 && v < 1024) return SMALL_INTS[v + 128]!;
  if (v > -2147483648 && v < 2147483648 && Math.floor(v) === v) {
    const neg = v < 0;
    let u = neg ? -v : v;
    const digits = u < 1000 ? 3 : u < 10000 ? 4 : u < 100000 ? 5 : u < 1000000 ? 6 : u < 10000000 ? 7 : u < 100000000 ? 8 : u < 1000000000 ? 9 : 10;
    const out = new Uint8Array(neg ? digits + 1 : digits);
    let p = out.length;
    while (u >= 10) {
      const q = (u / 10) | 0;
      out[--p] = 0x30 + u - q * 10;
      u = q;
    }
    out[--p] = 0x30 + u;
    if (neg) out[0] = 0x2d;
    return out;
  }
  const s = String(v);
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i);
  return out;
}
