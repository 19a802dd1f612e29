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

/** Longest literal run one control byte can announce. */
const MAX_LITERAL = 32;
/** Longest distance a back-reference can reach. */
const MAX_DISTANCE = 8192;
/** Longest match one back-reference can copy: (7 + 255) + 2. */
const MAX_MATCH = 264;
/** Most output one input byte can yield: a 3-byte reference producing 264 bytes. */
const MAX_EXPANSION = 88;

/**
 * Below this length a back-reference is copied with a byte loop; from it on with native
 * `copyWithin`/`fill`, whose call overhead only pays off for longer copies (measured crossover
 * about 24-32 bytes on Node 20; see bench/micro-lzf.ts).
 */
const COPY_WITHIN_MIN = 32;

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
  if (!Number.isSafeInteger(ulen) || ulen < 0 || ulen > inLen * MAX_EXPANSION) {
    throw new CorruptError({
      offset: base,
      expected: `LZF output of exactly ${ulen} bytes`,
      hint: `${inLen} compressed bytes can expand to at most ${inLen * MAX_EXPANSION} bytes`,
    });
  }
  const out = new Uint8Array(ulen);
  let ip = 0;
  let op = 0;

  while (ip < inLen) {
    const at = ip; // where this instruction starts, for error offsets
    const c = src[ip++]!;

    if (c < 32) {
      // Literal run of c + 1 bytes.
      const n = c + 1;
      if (ip + n > inLen) {
        throw new CorruptError({
          offset: base + at,
          expected: `LZF literal run of ${n} bytes within input (${inLen - ip} left)`,
        });
      }
      if (op + n > ulen) {
        throw new CorruptError({
          offset: base + at,
          expected: `LZF output of exactly ${ulen} bytes`,
          hint: `a ${n}-byte literal run at output position ${op} runs past the end`,
        });
      }
      // Runs are at most 32 bytes: a plain loop beats set(subarray()), which allocates a view.
      const stop = ip + n;
      while (ip < stop) out[op++] = src[ip++]!;
      continue;
    }

    // Back-reference.
    let len = c >>> 5;
    if (len === 7) {
      if (ip >= inLen) {
        throw new CorruptError({ offset: base + at, expected: 'LZF back-reference length byte within input' });
      }
      len += src[ip++]!;
    }
    if (ip >= inLen) {
      throw new CorruptError({ offset: base + at, expected: 'LZF back-reference offset byte within input' });
    }
    const distance = ((c & 0x1f) << 8) + src[ip++]! + 1;
    len += 2;
    let ref = op - distance;
    if (ref < 0) {
      throw new CorruptError({
        offset: base + at,
        expected: 'LZF back-reference within output',
        hint: `reference ${distance} bytes back at output position ${op}`,
      });
    }
    if (op + len > ulen) {
      throw new CorruptError({
        offset: base + at,
        expected: `LZF output of exactly ${ulen} bytes`,
        hint: `a ${len}-byte reference at output position ${op} runs past the end`,
      });
    }
    if (len < COPY_WITHIN_MIN) {
      // Short copy: byte by byte. Reading bytes this very copy has just written is what makes
      // overlapping references (distance < len) repeat their pattern, as LZF requires.
      const stop = op + len;
      while (op < stop) out[op++] = out[ref++]!;
    } else if (distance >= len) {
      // Source and destination are disjoint: one native copy.
      out.copyWithin(op, ref, ref + len);
      op += len;
    } else if (distance === 1) {
      // A run of one byte (e.g. zero padding).
      out.fill(out[ref]!, op, op + len);
      op += len;
    } else {
      // Overlapping copy of a period-`distance` pattern: [ref, op) is one period; copying it
      // doubles the periodic region each time, so log2(len / distance) native copies suffice.
      const stop = op + len;
      while (op < stop) {
        const n = Math.min(op - ref, stop - op);
        out.copyWithin(op, ref, ref + n);
        op += n;
      }
    }
  }

  if (op !== ulen) {
    throw new CorruptError({
      offset: base + inLen,
      expected: `LZF output of exactly ${ulen} bytes`,
      hint: `the stream ended after ${op} bytes`,
    });
  }
  return out;
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
