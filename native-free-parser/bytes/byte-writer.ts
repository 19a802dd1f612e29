/**
 * A growable byte buffer for building RDB records, DUMP payloads and inner blobs. One writer is
 * meant to be reused across records (`reset()` keeps the memory), so steady-state writing does not
 * allocate: the buffer grows by doubling and a single DataView over it serves every multi-byte
 * write. Every multi-byte method names its byte order, because RDB mixes both (lengths big-endian,
 * integers inside strings, listpacks and footers little-endian; see RDB-FORMAT.md §3).
 */

const TWO_32 = 4294967296;
const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;
const UINT64_MAX = 2n ** 64n - 1n;

/** Copies of up to this many bytes use a loop; longer ones `Uint8Array#set` (a native memcpy). */
const SMALL_COPY = 16;

export class ByteWriter {
  /**
   * Number of bytes written so far. It may be set back to an earlier value to drop what was
   * written after it (e.g. to undo a half-written record); never set it forward.
   */
  length = 0;
  private buf: Uint8Array;
  private dv: DataView;

  /** @param initial starting capacity in bytes (default 64 KiB); the buffer doubles as needed */
  constructor(initial = 64 * 1024) {
    this.buf = new Uint8Array(Math.max(16, Math.floor(initial) || 0));
    this.dv = new DataView(this.buf.buffer);
  }

  /** Forgets the written bytes but keeps the buffer, ready for the next record. */
  reset(): void {
    this.length = 0;
  }

  /** Makes room for `n` more bytes, growing (by doubling) when needed. */
  ensure(n: number): void {
    if (this.length + n > this.buf.length) this.grow(n);
  }

  private grow(n: number): void {
    const need = this.length + n;
    let cap = this.buf.length * 2;
    while (cap < need) cap *= 2;
    const next = new Uint8Array(cap);
    next.set(this.buf.subarray(0, this.length));
    this.buf = next;
    this.dv = new DataView(next.buffer);
  }

  /** One byte (the low 8 bits of `v`). */
  u8(v: number): void {
    if (this.length + 1 > this.buf.length) this.grow(1);
    this.buf[this.length++] = v;
  }

  /** Unsigned 16-bit, little-endian (taken modulo 2^16). */
  u16le(v: number): void {
    if (this.length + 2 > this.buf.length) this.grow(2);
    this.dv.setUint16(this.length, v, true);
    this.length += 2;
  }

  /** Unsigned 32-bit, little-endian (taken modulo 2^32). */
  u32le(v: number): void {
    if (this.length + 4 > this.buf.length) this.grow(4);
    this.dv.setUint32(this.length, v, true);
    this.length += 4;
  }

  /** Unsigned 32-bit, big-endian (taken modulo 2^32); the 32-bit RDB length form. */
  u32be(v: number): void {
    if (this.length + 4 > this.buf.length) this.grow(4);
    this.dv.setUint32(this.length, v, false);
    this.length += 4;
  }

  /** 64-bit little-endian from its two 32-bit halves (e.g. a CRC-64 or a stored u64). */
  u64le(lo: number, hi: number): void {
    if (this.length + 8 > this.buf.length) this.grow(8);
    this.dv.setUint32(this.length, lo, true);
    this.dv.setUint32(this.length + 4, hi, true);
    this.length += 8;
  }

  /**
   * Signed 64-bit, little-endian (millisecond expiry times, module SINT values). A number must
   * be an integer; past 2^53 it is taken exactly as the double it is.
   * @throws RangeError when `v` is not an integer in the int64 range
   */
  i64le(v: number | bigint): void {
    if (typeof v === 'number' && Number.isSafeInteger(v)) {
      // Split without BigInt: hi = floor(v / 2^32) fits int32 for safe integers.
      const hi = Math.floor(v / TWO_32);
      const lo = v - hi * TWO_32;
      if (this.length + 8 > this.buf.length) this.grow(8);
      this.dv.setUint32(this.length, lo, true);
      this.dv.setInt32(this.length + 4, hi, true);
      this.length += 8;
      return;
    }
    if (typeof v === 'number' && !Number.isInteger(v)) {
      throw new RangeError(`i64le: ${v} is not an integer`);
    }
    const b = BigInt(v);
    if (b < INT64_MIN || b > INT64_MAX) throw new RangeError(`i64le: ${b} is outside int64`);
    if (this.length + 8 > this.buf.length) this.grow(8);
    this.dv.setBigInt64(this.length, b, true);
    this.length += 8;
  }

  /**
   * Unsigned 64-bit, big-endian from a bigint (the `0x81` RDB length form).
   * @throws RangeError when `v` is outside 0..2^64-1
   */
  u64beBig(v: bigint): void {
    if (v < 0n || v > UINT64_MAX) throw new RangeError(`u64beBig: ${v} is outside uint64`);
    if (this.length + 8 > this.buf.length) this.grow(8);
    this.dv.setBigUint64(this.length, v, false);
    this.length += 8;
  }

  /** IEEE 754 double, little-endian (binary doubles of RDB >= 8, e.g. sorted-set scores). */
  f64le(v: number): void {
    if (this.length + 8 > this.buf.length) this.grow(8);
    this.dv.setFloat64(this.length, v, true);
    this.length += 8;
  }

  /** IEEE 754 single, little-endian (module FLOAT values). */
  f32le(v: number): void {
    if (this.length + 4 > this.buf.length) this.grow(4);
    this.dv.setFloat32(this.length, v, true);
    this.length += 4;
  }

  /** Appends `b[start..end)`. */
  bytes(b: Uint8Array, start = 0, end: number = b.length): void {
    const n = end - start;
    if (n <= 0) return;
    if (this.length + n > this.buf.length) this.grow(n);
    const buf = this.buf;
    let o = this.length;
    if (n <= SMALL_COPY) {
      // Short copies: a loop is cheaper than creating a subarray view for set().
      for (let i = start; i < end; i++) buf[o++] = b[i]!;
    } else if (start === 0 && end === b.length) {
      buf.set(b, o);
    } else {
      buf.set(b.subarray(start, end), o);
    }
    this.length += n;
  }

  /**
   * Appends a string of ASCII characters, one byte each (AUX field names, magic, numbers as text).
   * @throws RangeError on a character above 0x7F (text must be encoded by the caller)
   */
  ascii(s: string): void {
    const n = s.length;
    if (this.length + n > this.buf.length) this.grow(n);
    const buf = this.buf;
    let o = this.length;
    for (let i = 0; i < n; i++) {
      const c = s.charCodeAt(i);
      if (c > 0x7f) throw new RangeError(`ascii: character ${c} at index ${i} is not ASCII`);
      buf[o++] = c;
    }
    this.length = o;
  }

  /** The written bytes, without copying. Valid until the next write or reset. */
  view(): Uint8Array {
    return this.buf.subarray(0, this.length);
  }

  /** A copy of the written bytes, independent of later writes. */
  toBytes(): Uint8Array {
    return this.buf.slice(0, this.length);
  }

  /**
   * Overwrites a u32 little-endian at an earlier position (a length or count known only later).
   * @throws RangeError when `pos..pos+4` is not inside the written bytes
   */
  setU32le(pos: number, v: number): void {
    if (!(pos >= 0 && pos + 4 <= this.length)) {
      throw new RangeError(`setU32le: position ${pos} is outside the ${this.length} written bytes`);
    }
    this.dv.setUint32(pos, v, true);
  }

  /**
   * Overwrites a u16 little-endian at an earlier position.
   * @throws RangeError when `pos..pos+2` is not inside the written bytes
   */
  setU16le(pos: number, v: number): void {
    if (!(pos >= 0 && pos + 2 <= this.length)) {
      throw new RangeError(`setU16le: position ${pos} is outside the ${this.length} written bytes`);
    }
    this.dv.setUint16(pos, v, true);
  }
}
