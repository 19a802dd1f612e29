/**
 * LZF, the byte-oriented LZ77 variant of liblzf 3.x that Redis uses for compressed strings
 * (`0xC3` string encoding) and compressed quicklist nodes.
 *
 * Facts (from Redis `src/lzf_d.c` and `src/lzf_c.c`, summarised in RDB-FORMAT.md §10.2): the stream
 * is a sequence of instructions, each starting with a control byte `c`:
 *   - `c < 32`: a literal run; the next `c + 1` bytes (1..32) are copied to the output.
 *   - `c >= 32`: a back-reference. `len = c >> 5`; when that is 7 the next byte is added to it.
 *     The next byte completes the distance: `((c & 0x1f) << 8) + byte + 1` (1..8192) bytes back
 *     from the current output end. `len + 2` bytes (3..264) are copied one by one, so a reference
 *     may overlap the bytes it produces (a run of one repeated byte has distance 1).
 * A reader must refuse references before the output start and output past the expected length;
 * Redis also requires the output to be exactly the stored uncompressed length.
 *
 * Both directions here are written for this codec from that description (not ported code).
 */

import { CorruptError } from './errors.js';
import { lzfWasmDecode } from './lzf-wasm.js';

/** Longest literal run one control byte can announce. */
const MAX_LITERAL = 32;
/** Longest distance a back-reference can reach. */
const MAX_DISTANCE = 8192;
/** Longest match one back-reference can copy: (7 + 255) + 2. */
const MAX_MATCH = 264;
/** Most output one input byte can yield: a 3-byte reference producing 264 bytes. */
const MAX_EXPANSION = 88;

/**
 * Decompressed values up to this size are carved out of shared slabs (see {@link lzfDecompressShared}).
 * A typical compressed Redis value is 100 B - 2 KiB, and giving each its own ArrayBuffer cost
 * more than decompressing it (an off-heap allocation, external-memory accounting and a GC
 * finalizer per value: about 0.6 s for the 365,000 LZF strings of a 300 MB RDB).
 */
const SLAB_SIZE = 64 * 1024;
const SLAB_MAX_VALUE = SLAB_SIZE / 4;

/**
 * Room the fast paths below may write past the bytes an instruction produces. They copy whole
 * 8-byte steps (two 32-bit DataView moves): a literal run of n <= 32 bytes writes 8, 16 or 32
 * bytes, a reference of len bytes up to len + 7. The extra bytes land where later instructions
 * write anyway, or in the unused space after the value (see `limit` in decompressInto).
 */
const SLOP = 32;

/**
 * From this length on, a back-reference is copied with native `copyWithin`/`fill`, whose call
 * overhead only pays off for longer copies (measured crossover about 24-32 bytes on Node 20; see
 * bench/micro-lzf.ts).
 */
const COPY_WITHIN_MIN = 32;

let slab = new Uint8Array(0);
let slabView = new DataView(slab.buffer);
let slabPos = 0;

function corruptLength(ulen: number, inLen: number, base: number): CorruptError {
  return new CorruptError({
    offset: base,
    expected: `LZF output of exactly ${ulen} bytes`,
    hint: `${inLen} compressed bytes can expand to at most ${inLen * MAX_EXPANSION} bytes`,
  });
}

/**
 * Decompresses an LZF stream that must expand to exactly `ulen` bytes.
 *
 * @param src   the compressed bytes (the whole stream, nothing after it)
 * @param ulen  the expected uncompressed length (the str's stored `ulen`)
 * @param base  absolute offset of `src[0]` in the input, so errors point into the file
 * @returns     a new array of exactly `ulen` bytes
 * @throws CorruptError when a reference points before the output start, an instruction would
 *   write past `ulen`, an instruction needs more bytes than `src` has, the stream ends before
 *   `ulen` bytes were produced, or `ulen` is more than `src` could ever expand to (checked before
 *   allocating, so a damaged length cannot request gigabytes).
 */
export function lzfDecompress(src: Uint8Array, ulen: number, base = 0): Uint8Array {
  const inLen = src.length;
  if (!Number.isSafeInteger(ulen) || ulen < 0 || ulen > inLen * MAX_EXPANSION) throw corruptLength(ulen, inLen, base);
  const fast = lzfWasmDecode(src, 0, inLen, ulen);
  if (fast !== null) return fast.slice();
  const out = new Uint8Array(ulen);
  decompressInto(src, 0, inLen, out, new DataView(out.buffer, out.byteOffset, ulen), 0, ulen, ulen, base);
  return out;
}

/**
 * As {@link lzfDecompress} for `src[start..end)`, but a value of up to 16 KiB comes back as a view
 * into a shared 64 KiB slab rather than in an ArrayBuffer of its own. The view holds exactly its
 * `ulen` bytes and nothing else writes to them; like the reader's record payloads (views into its
 * input chunks), it keeps its whole slab alive while it is referenced. This is what the cursor
 * uses: decoding a file allocates one buffer per 64 KiB of values instead of one per value.
 */
export function lzfDecompressShared(src: Uint8Array, start: number, end: number, ulen: number, base = 0): Uint8Array {
  const inLen = end - start;
  if (!Number.isSafeInteger(ulen) || ulen < 0 || ulen > inLen * MAX_EXPANSION) throw corruptLength(ulen, inLen, base);
  if (ulen > SLAB_MAX_VALUE) {
    const fast = lzfWasmDecode(src, start, end, ulen);
    if (fast !== null) return fast.slice();
    const out = new Uint8Array(ulen);
    decompressInto(src, start, end, out, new DataView(out.buffer, out.byteOffset, ulen), 0, ulen, ulen, base);
    return out;
  }
  if (slabPos + ulen + SLOP > slab.length) {
    slab = new Uint8Array(SLAB_SIZE);
    slabView = new DataView(slab.buffer);
    slabPos = 0;
  }
  const o0 = slabPos;
  const fast = lzfWasmDecode(src, start, end, ulen);
  if (fast !== null) {
    slab.set(fast, o0);
    slabPos = o0 + ulen;
    return new Uint8Array(slab.buffer, o0, ulen);
  }
  // Everything from o0 to the slab's end is unclaimed, so the fast paths may write up to there.
  decompressInto(src, start, end, slab, slabView, o0, o0 + ulen, slab.length, base);
  slabPos = o0 + ulen;
  return new Uint8Array(slab.buffer, o0, ulen);
}

let scratch = new Uint8Array(SLAB_SIZE);
let scratchView = new DataView(scratch.buffer);

/**
 * As {@link lzfDecompressShared}, into one reused buffer: the returned array holds the value in
 * its first `ulen` bytes (and possibly scratch after them) and is overwritten by the next call. For
 * readers that look at a value and drop it before inflating the next (the memory estimate's
 * listpack walks): no allocation per value at all.
 */
export function lzfDecompressScratch(src: Uint8Array, start: number, end: number, ulen: number, base = 0): Uint8Array {
  const inLen = end - start;
  if (!Number.isSafeInteger(ulen) || ulen < 0 || ulen > inLen * MAX_EXPANSION) throw corruptLength(ulen, inLen, base);
  // The WebAssembly decoder (lzf-wasm.ts) first; a stream it refuses (or one too big for it) is
  // decoded below, which throws the precise error.
  const fast = lzfWasmDecode(src, start, end, ulen);
  if (fast !== null) return fast;
  if (ulen + SLOP > scratch.length) {
    let cap = scratch.length * 2;
    while (cap < ulen + SLOP) cap *= 2;
    scratch = new Uint8Array(cap);
    scratchView = new DataView(scratch.buffer);
  }
  decompressInto(src, start, end, scratch, scratchView, 0, ulen, scratch.length, base);
  return scratch;
}

/**
 * The decoder: expands `src[start..end)` into `dst[o0..oend)`. `dv` views `dst` (same indexes);
 * bytes from `oend` up to `limit` are scratch space the fast paths may scribble on.
 *
 * Literal runs and references (in the benchmark RDB: 50 million instructions, averaging 7 and
 * 5.4 bytes) are copied in 8-byte steps of two unaligned 32-bit DataView moves rather than byte
 * by byte: fewer loop iterations and fewer mispredicted loop exits. This needs `SLOP` bytes of
 * room after the write position, 32 readable bytes after the read position in `src`'s buffer,
 * and, for references, a distance of at least 8 (each step must read only bytes already
 * produced). Everything else (the last bytes of a buffer, short-distance references that repeat
 * a pattern) goes through plain byte loops. On that file's 365,000 LZF strings (300 MB out) this
 * took 0.75 s against 1.1 s for byte loops (and 1.4 s for the former byte loops + copyWithin,
 * one ArrayBuffer per value). `set`/`copyWithin` per instruction lose: a subarray view per
 * literal, and call overhead for 5-10 byte copies.
 */
let lastSrcBuffer: ArrayBufferLike | null = null;
let lastSrcOffset = 0;
let lastSrcLength = 0;
let lastSrcView: DataView<ArrayBufferLike> = new DataView(new ArrayBuffer(0));

function decompressInto(
  src: Uint8Array, start: number, end: number,
  dst: Uint8Array, dv: DataView, o0: number, oend: number, limit: number,
  base: number,
): void {
  // DataView over src's buffer from src[0] on: reading a few bytes past `end` is harmless (those
  // bytes are copied into the scratch area only), reading past the buffer is not.
  const sbuf = src.buffer;
  // Values of one record batch are views into the same chunk: one DataView per chunk, not per value.
  if (sbuf !== lastSrcBuffer || src.byteOffset !== lastSrcOffset || sbuf.byteLength !== lastSrcLength) {
    lastSrcBuffer = sbuf;
    lastSrcOffset = src.byteOffset;
    lastSrcLength = sbuf.byteLength; // a detached or resized buffer gets a new view
    lastSrcView = new DataView(sbuf, src.byteOffset, sbuf.byteLength - src.byteOffset);
  }
  const sview = lastSrcView;
  const sFast = sbuf.byteLength - src.byteOffset - SLOP; // ip <= sFast: 32 bytes readable at ip
  const dFast = limit - SLOP; // op <= dFast: 32 bytes writable at op
  let ip = start;
  let op = o0;

  while (ip < end) {
    const at = ip; // where this instruction starts, for error offsets
    const c = src[ip++]!;

    if (c < 32) {
      // Literal run of c + 1 bytes.
      const n = c + 1;
      if (ip + n <= end && op + n <= oend && ip <= sFast && op <= dFast) {
        // The run fits input and output (so the checks below cannot fail) and 32 bytes can be
        // read and written: copy 8, 16 or 32 bytes, unrolled.
        dv.setUint32(op, sview.getUint32(ip, true), true);
        dv.setUint32(op + 4, sview.getUint32(ip + 4, true), true);
        if (n > 8) {
          dv.setUint32(op + 8, sview.getUint32(ip + 8, true), true);
          dv.setUint32(op + 12, sview.getUint32(ip + 12, true), true);
          if (n > 16) {
            dv.setUint32(op + 16, sview.getUint32(ip + 16, true), true);
            dv.setUint32(op + 20, sview.getUint32(ip + 20, true), true);
            dv.setUint32(op + 24, sview.getUint32(ip + 24, true), true);
            dv.setUint32(op + 28, sview.getUint32(ip + 28, true), true);
          }
        }
        op += n;
        ip += n;
        continue;
      }
      if (ip + n > end) {
        throw new CorruptError({
          offset: base + at - start,
          expected: `LZF literal run of ${n} bytes within input (${end - ip} left)`,
        });
      }
      if (op + n > oend) {
        throw new CorruptError({
          offset: base + at - start,
          expected: `LZF output of exactly ${oend - o0} bytes`,
          hint: `a ${n}-byte literal run at output position ${op - o0} runs past the end`,
        });
      }
      const stop = ip + n;
      while (ip < stop) dst[op++] = src[ip++]!;
      continue;
    }

    // Back-reference.
    let len = c >>> 5;
    if (len === 7) {
      if (ip >= end) {
        throw new CorruptError({ offset: base + at - start, expected: 'LZF back-reference length byte within input' });
      }
      len += src[ip++]!;
    }
    if (ip >= end) {
      throw new CorruptError({ offset: base + at - start, expected: 'LZF back-reference offset byte within input' });
    }
    const distance = ((c & 0x1f) << 8) + src[ip++]! + 1;
    len += 2;
    let ref = op - distance;
    if (ref < o0) {
      throw new CorruptError({
        offset: base + at - start,
        expected: 'LZF back-reference within output',
        hint: `reference ${distance} bytes back at output position ${op - o0}`,
      });
    }
    if (op + len > oend) {
      throw new CorruptError({
        offset: base + at - start,
        expected: `LZF output of exactly ${oend - o0} bytes`,
        hint: `a ${len}-byte reference at output position ${op - o0} runs past the end`,
      });
    }
    if (len >= COPY_WITHIN_MIN) {
      // Long references (rare in values, common in runs of padding): native copies.
      if (distance >= len) {
        dst.copyWithin(op, ref, ref + len); // source and destination are disjoint
        op += len;
      } else if (distance === 1) {
        dst.fill(dst[ref]!, op, op + len); // a run of one byte
        op += len;
      } else {
        // Overlapping copy of a period-`distance` pattern: [ref, op) is one period; copying it
        // doubles the periodic region each time, so log2(len / distance) native copies suffice.
        const stop = op + len;
        while (op < stop) {
          const n = Math.min(op - ref, stop - op);
          dst.copyWithin(op, ref, ref + n);
          op += n;
        }
      }
    } else if (distance >= 8 && op + len <= dFast) { // len + 7 bytes writable
      // 8 bytes at a time; each step reads bytes at least 8 behind the ones it writes: all already final.
      dv.setUint32(op, dv.getUint32(ref, true), true);
      dv.setUint32(op + 4, dv.getUint32(ref + 4, true), true);
      for (let k = 8; k < len; k += 8) {
        dv.setUint32(op + k, dv.getUint32(ref + k, true), true);
        dv.setUint32(op + k + 4, dv.getUint32(ref + k + 4, true), true);
      }
      op += len;
    } else {
      // Byte by byte: reading bytes this very copy has just written is what makes overlapping
      // references (distance < len) repeat their pattern, as LZF requires.
      const stop = op + len;
      while (op < stop) dst[op++] = dst[ref++]!;
    }
  }

  if (op !== oend) {
    throw new CorruptError({
      offset: base + end - start,
      expected: `LZF output of exactly ${oend - o0} bytes`,
      hint: `the stream ended after ${op - o0} bytes`,
    });
  }
}

// ---- compressor ------------------------------------------------------------------------------

/** log2 of the hash table size: 2^16 slots of recent positions of 3-byte sequences. */
const HASH_LOG = 16;
const HASH_SIZE = 1 << HASH_LOG;

/**
 * Hash table reused across calls (256 KiB; allocating and clearing it per call would dominate the
 * cost of compressing short strings). Each slot holds `position + epoch`; a slot is trusted only if
 * its value is at least the current call's epoch, so entries left by earlier calls are never used
 * and the output depends on the input alone. Compression is synchronous, so no two calls interleave.
 */
const table = new Uint32Array(HASH_SIZE);
/** Epoch of the current call: every slot value below it is stale. 0 marks "never written". */
let epoch = 1;

/** Hash of the 3 bytes packed in `v` (24 bits), Fibonacci style, to a table slot. */
function slotOf(v: number): number {
  return Math.imul(v, 0x9e3779b1) >>> (32 - HASH_LOG);
}

/**
 * Compresses `src` into a standard LZF stream (readable by Redis's `lzf_decompress` and by
 * {@link lzfDecompress}): greedy matching of 3-byte sequences through a hash table of recent
 * positions, literal runs of at most 32 bytes, distances up to 8192, matches up to 264 bytes.
 *
 * Follows Redis's rule for when compression is worth it (`rdbSaveLzfStringObject`): the result
 * must be at least 4 bytes shorter than the input, and inputs of 4 bytes or fewer are not tried.
 * Deterministic: the same input always gives the same output.
 *
 * @returns the compressed bytes, or null when the input is too short or does not compress enough
 */
export function lzfCompress(src: Uint8Array): Uint8Array | null {
  const inLen = src.length;
  if (inLen <= 4) return null;
  // Longest acceptable output; give up as soon as the stream cannot end up within it.
  const limit = inLen - 4;

  if (epoch + inLen + 1 >= 0xffffffff) {
    table.fill(0);
    epoch = 1;
  }
  const ep = epoch;
  epoch += inLen + 1;
  const tab = table;

  // Every write is checked against `limit` first; the slack covers the reserved control byte.
  const out = new Uint8Array(limit + 2);
  // `op` always leaves one byte free before the pending literal run for its control byte.
  let op = 1;
  let lit = 0; // length of the pending literal run
  let ip = 0;
  // Rolling 24-bit window of src[ip..ip+2].
  let v = (src[0]! << 8) | src[1]!;

  while (ip < inLen - 2) {
    v = ((v << 8) | src[ip + 2]!) & 0xffffff;
    const slot = slotOf(v);
    const stored = tab[slot]!;
    tab[slot] = ip + ep;
    const ref = stored - ep; // candidate earlier position (negative when stale or empty)
    const distance = ip - ref;

    if (
      stored >= ep &&
      distance <= MAX_DISTANCE &&
      src[ref] === src[ip] &&
      src[ref + 1] === src[ip + 1] &&
      src[ref + 2] === src[ip + 2]
    ) {
      // A match of at least 3 bytes: extend it as far as it goes (up to 264 or the input end).
      let maxLen = inLen - ip;
      if (maxLen > MAX_MATCH) maxLen = MAX_MATCH;
      let len = 3;
      while (len < maxLen && src[ref + len] === src[ip + len]) len++;

      // Close the pending literal run (or drop its reserved control byte if it is empty).
      if (lit > 0) {
        out[op - lit - 1] = lit - 1;
      } else {
        op--;
      }
      const code = len - 2; // 1..262, as the decoder adds 2 back
      const d = distance - 1; // 0..8191
      // Bytes written are never taken back, so once the output is sure to exceed the limit, stop.
      if (op + (code < 7 ? 2 : 3) > limit) return null;
      if (code < 7) {
        out[op++] = (code << 5) | (d >>> 8);
      } else {
        out[op++] = (7 << 5) | (d >>> 8);
        out[op++] = code - 7;
      }
      out[op++] = d & 0xff;
      op++; // reserve the control byte of the next literal run
      lit = 0;

      ip += len;
      if (ip >= inLen - 2) break;
      // Index the last two positions inside the match, so the next repeat can find them.
      v = (src[ip - 2]! << 16) | (src[ip - 1]! << 8) | src[ip]!;
      tab[slotOf(v)] = ip - 2 + ep;
      v = ((v << 8) | src[ip + 1]!) & 0xffffff;
      tab[slotOf(v)] = ip - 1 + ep;
      v &= 0xffff; // the window for ip, minus its third byte (added at the loop top)
      continue;
    }

    // No match: extend the literal run. (A byte written at `op` makes the output op+1 long.)
    if (op >= limit) return null;
    out[op++] = src[ip++]!;
    if (++lit === MAX_LITERAL) {
      out[op - lit - 1] = lit - 1;
      lit = 0;
      op++;
    }
  }

  // The last bytes (fewer than 3 left, or after a final match) go out as literals.
  while (ip < inLen) {
    if (op >= limit) return null;
    out[op++] = src[ip++]!;
    if (++lit === MAX_LITERAL) {
      out[op - lit - 1] = lit - 1;
      lit = 0;
      op++;
    }
  }
  if (lit > 0) {
    out[op - lit - 1] = lit - 1;
  } else {
    op--; // the reserved control byte was never used
  }
  return op <= limit ? out.slice(0, op) : null;
}
