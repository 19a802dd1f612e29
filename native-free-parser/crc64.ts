/**
 * CRC-64 as Redis computes it ("crc-64-jones"): the checksum stored after the EOF opcode of an RDB
 * file and in the 8-byte footer of a DUMP payload.
 *
 * Facts (from Redis `src/crc64.c` / `src/crcspeed.c`, summarised in RDB-FORMAT.md §10.1):
 *   width 64, polynomial 0xAD93D23594C935A9 (normal form) = 0x95AC9329AC4BC9B5 (reflected form,
 *   used by the right-shifting table here), reflected input and output, init 0, xorout 0,
 *   check("123456789") = 0xE9C6D914C4B8D9CA. The digest is stored little-endian.
 *
 * Implementation (written for this codec, not a port): slicing-by-8. JavaScript has no fast
 * 64-bit integers (BigInt allocates), so the 64-bit CRC register is carried as two uint32 halves
 * and every table is split the same way: LO[k*256 + n] / HI[k*256 + n] hold the low and high word
 * of "the CRC contribution of byte n followed by k zero bytes". Eight input bytes then cost 16
 * table lookups and a handful of 32-bit XORs, with no allocation in the loop.
 */

import { loadCrcWasm, type CrcWasm } from './crc64-wasm.js';

const POLY_LO = 0xac4bc9b5;
const POLY_HI = 0x95ac9329;

/** Low words of the 8 slicing tables (table k at index k*256). */
const LO = new Uint32Array(8 * 256);
/** High words of the 8 slicing tables. */
const HI = new Uint32Array(8 * 256);

(function buildTables(): void {
  // Table 0: the classic reflected byte-at-a-time table.
  for (let n = 0; n < 256; n++) {
    let lo = n;
    let hi = 0;
    for (let bit = 0; bit < 8; bit++) {
      const carry = lo & 1;
      lo = (lo >>> 1) | (hi << 31);
      hi = hi >>> 1;
      if (carry !== 0) {
        lo ^= POLY_LO;
        hi ^= POLY_HI;
      }
    }
    LO[n] = lo;
    HI[n] = hi;
  }
  // Table k: table k-1 advanced through one more zero byte.
  for (let k = 1; k < 8; k++) {
    for (let n = 0; n < 256; n++) {
      const plo = LO[(k - 1) * 256 + n]!;
      const phi = HI[(k - 1) * 256 + n]!;
      const idx = plo & 0xff;
      LO[k * 256 + n] = ((plo >>> 8) | (phi << 24)) ^ LO[idx]!;
      HI[k * 256 + n] = (phi >>> 8) ^ HI[idx]!;
    }
  }
})();

/**
 * Whether the host stores a uint32 little-endian. When it does, long inputs are read through an
 * Int32Array view (2 loads per 8 bytes instead of 8 loads and 6 shifts).
 */
const HOST_LE = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

/**
 * From this many bytes on, the word-view path is used. The view is an allocation per call, which
 * short updates (most RDB values) do not earn back: 100-byte updates ran about 1.5x faster on the
 * byte-load path in bench/micro-crc64.ts.
 */
const WORD_PATH_MIN = 512;

/**
 * From this many bytes on, the WebAssembly step (crc64-wasm.ts) runs: it copies the bytes into its
 * memory first, which short updates do not earn back.
 */
const WASM_MIN = 2048;

/** The WebAssembly step; null when the runtime has none; undefined until first needed. */
let wasm: CrcWasm | null | undefined;

/** Whether long updates run in WebAssembly in this process. */
export function crc64WasmAvailable(): boolean {
  if (wasm === undefined) wasm = loadCrcWasm(LO, HI);
  return wasm !== null;
}

/**
 * An incremental CRC-64/Jones. Feed bytes with {@link Crc64.update} in any number of chunks; the
 * result equals a single call over the concatenation.
 */
export class Crc64 {
  // The register as two 32-bit halves (signed or unsigned; normalised with >>> 0 on read).
  private l = 0;
  private h = 0;

  /**
   * Adds `buf[start..end)` to the checksum.
   * @throws RangeError when the range lies outside `buf`.
   */
  update(buf: Uint8Array, start = 0, end: number = buf.length): void {
    if (start < 0 || end > buf.length || start > end) {
      throw new RangeError(`crc64 range [${start}, ${end}) outside a buffer of ${buf.length} bytes`);
    }
    if (end - start >= WASM_MIN && crc64WasmAvailable()) {
      wasm!.update(this.l, this.h, buf, start, end);
      this.l = wasm!.lo;
      this.h = wasm!.hi;
      return;
    }
    // Tables in locals, so the loop does not re-read (and hole-check) the module bindings.
    const L = LO;
    const H = HI;
    let lo = this.l;
    let hi = this.h;
    let i = start;

    if (HOST_LE && end - i >= WORD_PATH_MIN) {
      // Byte steps up to a 4-byte aligned address, so an Int32Array can view the rest.
      while (((buf.byteOffset + i) & 3) !== 0) {
        const idx = (lo ^ buf[i++]!) & 0xff;
        lo = ((lo >>> 8) | (hi << 24)) ^ L[idx]!;
        hi = (hi >>> 8) ^ H[idx]!;
      }
      const pairs = (end - i) >>> 3;
      const words = new Int32Array(buf.buffer, buf.byteOffset + i, pairs * 2);
      for (let w = 0; w < words.length; w += 2) {
        // Bytes 0..3 of this block meet the low CRC word, bytes 4..7 the high one; byte j still
        // has 7-j bytes to travel, so it is looked up in table 7-j.
        const a = lo ^ words[w]!;
        const b = hi ^ words[w + 1]!;
        lo =
          L[0x700 + (a & 0xff)]! ^
          L[0x600 + ((a >>> 8) & 0xff)]! ^
          L[0x500 + ((a >>> 16) & 0xff)]! ^
          L[0x400 + (a >>> 24)]! ^
          L[0x300 + (b & 0xff)]! ^
          L[0x200 + ((b >>> 8) & 0xff)]! ^
          L[0x100 + ((b >>> 16) & 0xff)]! ^
          L[b >>> 24]!;
        hi =
          H[0x700 + (a & 0xff)]! ^
          H[0x600 + ((a >>> 8) & 0xff)]! ^
          H[0x500 + ((a >>> 16) & 0xff)]! ^
          H[0x400 + (a >>> 24)]! ^
          H[0x300 + (b & 0xff)]! ^
          H[0x200 + ((b >>> 8) & 0xff)]! ^
          H[0x100 + ((b >>> 16) & 0xff)]! ^
          H[b >>> 24]!;
      }
      i += pairs * 8;
    } else {
      // Same slicing step with the little-endian words assembled from bytes (short inputs, or a
      // big-endian host).
      const stop = end - 7;
      for (; i < stop; i += 8) {
        const a = lo ^ (buf[i]! | (buf[i + 1]! << 8) | (buf[i + 2]! << 16) | (buf[i + 3]! << 24));
        const b = hi ^ (buf[i + 4]! | (buf[i + 5]! << 8) | (buf[i + 6]! << 16) | (buf[i + 7]! << 24));
        lo =
          L[0x700 + (a & 0xff)]! ^
          L[0x600 + ((a >>> 8) & 0xff)]! ^
          L[0x500 + ((a >>> 16) & 0xff)]! ^
          L[0x400 + (a >>> 24)]! ^
          L[0x300 + (b & 0xff)]! ^
          L[0x200 + ((b >>> 8) & 0xff)]! ^
          L[0x100 + ((b >>> 16) & 0xff)]! ^
          L[b >>> 24]!;
        hi =
          H[0x700 + (a & 0xff)]! ^
          H[0x600 + ((a >>> 8) & 0xff)]! ^
          H[0x500 + ((a >>> 16) & 0xff)]! ^
          H[0x400 + (a >>> 24)]! ^
          H[0x300 + (b & 0xff)]! ^
          H[0x200 + ((b >>> 8) & 0xff)]! ^
          H[0x100 + ((b >>> 16) & 0xff)]! ^
          H[b >>> 24]!;
      }
    }

    // Tail (and tiny inputs): one byte at a time through table 0.
    for (; i < end; i++) {
      const idx = (lo ^ buf[i]!) & 0xff;
      lo = ((lo >>> 8) | (hi << 24)) ^ L[idx]!;
      hi = (hi >>> 8) ^ H[idx]!;
    }
    this.l = lo;
    this.h = hi;
  }

  /** Low 32 bits of the CRC, unsigned. */
  get lo(): number {
    return this.l >>> 0;
  }

  /** High 32 bits of the CRC, unsigned. */
  get hi(): number {
    return this.h >>> 0;
  }

  /** The CRC as 8 bytes little-endian, as stored in RDB files and DUMP payloads. */
  digestBytes(): Uint8Array {
    const out = new Uint8Array(8);
    this.digestInto(out, 0);
    return out;
  }

  /** Writes the CRC as 8 bytes little-endian at `out[off..off+8)` (no array of its own: replay's per-key footer). */
  digestInto(out: Uint8Array, off: number): void {
    const lo = this.l;
    const hi = this.h;
    out[off] = lo;
    out[off + 1] = lo >>> 8;
    out[off + 2] = lo >>> 16;
    out[off + 3] = lo >>> 24;
    out[off + 4] = hi;
    out[off + 5] = hi >>> 8;
    out[off + 6] = hi >>> 16;
    out[off + 7] = hi >>> 24;
  }

  /**
   * Whether `b[off..off+8)` holds this CRC little-endian (the stored checksum matches).
   * Returns false when fewer than 8 bytes are available there.
   */
  equalsBytes(b: Uint8Array, off = 0): boolean {
    if (off < 0 || off + 8 > b.length) return false;
    const lo = (b[off]! | (b[off + 1]! << 8) | (b[off + 2]! << 16) | (b[off + 3]! << 24)) >>> 0;
    const hi = (b[off + 4]! | (b[off + 5]! << 8) | (b[off + 6]! << 16) | (b[off + 7]! << 24)) >>> 0;
    return lo === this.l >>> 0 && hi === this.h >>> 0;
  }

  /** Restores a register saved from `lo`/`hi` (to resume a CRC from a known prefix). */
  setState(lo: number, hi: number): void {
    this.l = lo | 0;
    this.h = hi | 0;
  }

  /**
   * Appends a stream whose own CRC (from 0) is `lo`/`hi` over `length` bytes: afterwards this is
   * the CRC of both streams one after the other. Lets threads checksum the parts of one file.
   */
  append(lo: number, hi: number, length: number): void {
    // CRC(A . B) = CRC(A) * x^(8 |B|) mod P  xor  CRC(B), for a CRC with init 0 and no final xor.
    const shift = xPow8n(length);
    mulModP(shift.lo, shift.hi, this.l >>> 0, this.h >>> 0);
    this.l = (PROD_LO ^ lo) | 0;
    this.h = (PROD_HI ^ hi) | 0;
  }

  /** Back to the initial value (0), to checksum another stream with the same object. */
  reset(): void {
    this.l = 0;
    this.h = 0;
  }

  /** The CRC as 16 lowercase hex digits, most significant first (as messages show a checksum). */
  hex(): string {
    return this.hi.toString(16).padStart(8, '0') + this.lo.toString(16).padStart(8, '0');
  }

  /** The CRC as an unsigned 64-bit bigint (for display and tests; not for hot paths). */
  toBigInt(): bigint {
    return (BigInt(this.h >>> 0) << 32n) | BigInt(this.l >>> 0);
  }
}

// ---- combining CRCs: polynomials mod P in the reflected bit order of the register -------------
// Bit 63 of a (lo, hi) pair is the coefficient of x^0, bit 0 that of x^63 (the table CRC's
// order). Used per part of a file, never per byte: plain loops over 64 bits.

let PROD_LO = 0;
let PROD_HI = 0;

/** (a * b) mod P into PROD_LO/PROD_HI. */
function mulModP(alo: number, ahi: number, blo: number, bhi: number): void {
  let plo = 0;
  let phi = 0;
  for (let bit = 63; bit >= 0; bit--) {
    const set = bit >= 32 ? (ahi >>> (bit - 32)) & 1 : (alo >>> bit) & 1;
    if (set !== 0) {
      plo ^= blo;
      phi ^= bhi;
    }
    // b = b * x mod P
    const carry = blo & 1;
    blo = (blo >>> 1) | ((bhi & 1) << 31);
    bhi >>>= 1;
    if (carry !== 0) {
      blo ^= POLY_LO;
      bhi ^= POLY_HI;
    }
  }
  PROD_LO = plo >>> 0;
  PROD_HI = phi >>> 0;
}

/** x^(2^k) mod P for k = 0..63. */
const X2N_LO = new Uint32Array(64);
const X2N_HI = new Uint32Array(64);
(function buildX2n(): void {
  let lo = 0;
  let hi = 0x40000000; // x^1
  for (let k = 0; k < 64; k++) {
    X2N_LO[k] = lo;
    X2N_HI[k] = hi;
    mulModP(lo, hi, lo, hi);
    lo = PROD_LO;
    hi = PROD_HI;
  }
})();

/** x^(8n) mod P: the factor that moves a CRC past n zero bytes. */
function xPow8n(n: number): { lo: number; hi: number } {
  if (!Number.isSafeInteger(n) || n < 0) throw new RangeError(`crc64 append: a byte length, found ${n}`);
  let lo = 0;
  let hi = 0x80000000; // x^0
  for (let k = 3; n > 0; k++) {
    if (n % 2 === 1) {
      mulModP(X2N_LO[k & 63]!, X2N_HI[k & 63]!, lo, hi);
      lo = PROD_LO;
      hi = PROD_HI;
    }
    n = Math.floor(n / 2);
  }
  return { lo, hi };
}

/**
 * CRC-64/Jones of `buf[start..end)` in one call.
 * @throws RangeError when the range lies outside `buf`.
 */
export function crc64(buf: Uint8Array, start = 0, end: number = buf.length): Crc64 {
  const c = new Crc64();
  c.update(buf, start, end);
  return c;
}

/** CRC-64/Jones of `buf` as 16 lowercase hex digits, most significant first (for tests and debug). */
export function crc64Hex(buf: Uint8Array): string {
  return crc64(buf).hex();
}
