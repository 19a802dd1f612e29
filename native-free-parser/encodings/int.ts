/**
 * Decimal integers as Redis treats them inside strings. A string value or key that is the
 * *canonical* decimal form of an int64 (what Redis's `string2ll` accepts and `ll2string` gives back
 * unchanged) may be stored integer-encoded, and an integer-encoded str loads back as its decimal
 * text (RDB-FORMAT.md §3.2; Redis `src/util.c`, `rdbTryIntegerEncoding` in `src/rdb.c`).
 *
 * Canonical means: an optional '-', then either the single digit "0" or a digit 1-9 followed by
 * digits; no '+', no spaces, no leading zeros, not "-0", not empty, and within int64.
 */

const CH_MINUS = 0x2d;
const CH_0 = 0x30;
const CH_1 = 0x31;
const CH_9 = 0x39;

/** Digits that always fit a double exactly (10^15 < 2^53). */
const EXACT_DIGITS = 15;
const INT64_MAX = 2n ** 63n - 1n;
const INT64_MIN = -(2n ** 63n);
const SAFE_MAX = BigInt(Number.MAX_SAFE_INTEGER);

/**
 * Parses `b[start..end)` as a canonical decimal int64.
 *
 * @returns the value as a number when |v| <= 2^53-1, as a bigint when larger but within int64,
 *   or null when the bytes are not a canonical decimal int64 (see the module comment)
 */
export function parseCanonicalInt64(b: Uint8Array, start = 0, end: number = b.length): number | bigint | null {
  let i = start;
  const len = end - start;
  // Longest canonical int64 is "-9223372036854775808": 20 characters.
  if (len <= 0 || len > 20) return null;

  const negative = b[i] === CH_MINUS;
  if (negative) i++;
  if (i === end) return null; // "-" alone

  const first = b[i]!;
  if (first === CH_0) {
    // Zero is canonical only as the whole string "0" (so "-0" and "007" are not).
    return !negative && end - start === 1 ? 0 : null;
  }
  if (first < CH_1 || first > CH_9) return null;

  const digits = end - i;
  if (digits > 19) return null; // 2^63 has 19 digits

  // Up to 15 digits the value is exact in a double; longer ones finish in bigint (rare).
  const split = digits > EXACT_DIGITS ? end - EXACT_DIGITS : i;
  let head = 0;
  for (; i < split; i++) {
    const d = b[i]! - CH_0;
    if (d < 0 || d > 9) return null;
    head = head * 10 + d;
  }
  let tail = 0;
  for (; i < end; i++) {
    const d = b[i]! - CH_0;
    if (d < 0 || d > 9) return null;
    tail = tail * 10 + d;
  }
  if (split === start + (negative ? 1 : 0)) {
    // No head: at most 15 digits, all in `tail`.
    return negative ? -tail : tail;
  }
  let v = BigInt(head) * 10n ** BigInt(EXACT_DIGITS) + BigInt(tail);
  if (negative) v = -v;
  if (v > INT64_MAX || v < INT64_MIN) return null;
  return v <= SAFE_MAX && v >= -SAFE_MAX ? Number(v) : v;
}

/**
 * The decimal text of an integer, as bytes ("-123" → `2d 31 32 33`), i.e. what an
 * integer-encoded str loads back as.
 * @throws RangeError when `v` is not an integer within int64
 */
export function int64ToAscii(v: number | bigint): Uint8Array {
  let s: string;
  if (typeof v === 'number') {
    if (!Number.isInteger(v)) throw new RangeError(`int64ToAscii: ${v} is not an integer`);
    if (Number.isSafeInteger(v)) {
      s = String(v === 0 ? 0 : v); // (-0 prints as "0" anyway; explicit for the reader)
    } else {
      const b = BigInt(v);
      if (b > INT64_MAX || b < INT64_MIN) throw new RangeError(`int64ToAscii: ${v} is outside int64`);
      s = b.toString();
    }
  } else {
    if (v > INT64_MAX || v < INT64_MIN) throw new RangeError(`int64ToAscii: ${v} is outside int64`);
    s = v.toString();
  }
  const out = new Uint8Array(s.length);
  for (let k = 0; k < s.length; k++) out[k] = s.charCodeAt(k);
  return out;
}
