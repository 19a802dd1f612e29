/**
 * Doubles as text, the way each Redis version prints a sorted-set score: into a type-3 zset
 * (`rdbSaveDoubleValue`) and into a ziplist/listpack score entry (`zzlInsertAt` + `d2string`).
 * RDB-FORMAT.md §3.3 and §5.6.
 *
 *   Redis <= 7.0   integral values as integer text, everything else C's `%.17g`
 *   Redis >= 7.2   integral values as integer text, everything else the shortest round-trip
 *                  digits (`fpconv_dtoa`, a grisu2 port) in its own layout ("1e+300", "0.1")
 *
 * The integral ranges differ: `rdbSaveDoubleValue` <= 7.0 and `d2string` <= 6.2 test
 * (-(2^52-1), 2^52); `double2ll` (7.0 listpacks, 7.2+) accepts [-2^62, 2^62].
 */

const TWO_52 = 4503599627370496;
const TWO_62 = 4611686018427387904;
const G17_DIGITS = 17;

/** Sign, and the exact value |v| = D × 10^p (D a bigint without trailing decimal zeros dropped). */
function exactDecimal(v: number): { neg: boolean; digits: string; exp10: number } {
  const dv = new DataView(new ArrayBuffer(8));
  dv.setFloat64(0, v);
  const hi = dv.getUint32(0);
  const lo = dv.getUint32(4);
  const neg = hi >>> 31 === 1;
  const bexp = (hi >>> 20) & 0x7ff;
  let mant = (BigInt(hi & 0xfffff) << 32n) | BigInt(lo);
  let e2: number;
  if (bexp === 0) {
    e2 = -1074; // subnormal
  } else {
    mant |= 1n << 52n;
    e2 = bexp - 1075;
  }
  // |v| = mant × 2^e2. For a negative e2, mant × 2^e2 = mant × 5^-e2 / 10^-e2: exact digits.
  if (e2 >= 0) return { neg, digits: (mant << BigInt(e2)).toString(), exp10: 0 };
  return { neg, digits: (mant * 5n ** BigInt(-e2)).toString(), exp10: e2 };
}

/**
 * C's `printf("%.17g", v)` as glibc prints it: 17 significant digits from the exact binary
 * value, ties to even; `%e` layout when the decimal exponent is < -4 or >= 17, else `%f`;
 * trailing zeros (and a bare point) removed; an exponent of at least two digits with its sign.
 * "inf", "-inf", "nan" as glibc prints them.
 *
 * Examples: 0.1 → "0.10000000000000001", 1e300 → "1.0000000000000001e+300", 100 → "100",
 * 1e17 → "1e+17", -0 → "-0".
 */
export function formatDoubleG17(v: number): string {
  if (Number.isNaN(v)) return 'nan';
  if (v === Infinity) return 'inf';
  if (v === -Infinity) return '-inf';
  if (v === 0) return Object.is(v, -0) ? '-0' : '0';
  const { neg, digits: all, exp10 } = exactDecimal(v);
  // Decimal exponent of the leading digit.
  let x = all.length - 1 + exp10;
  let keep: string;
  if (all.length <= G17_DIGITS) {
    keep = all.padEnd(G17_DIGITS, '0');
  } else {
    keep = all.slice(0, G17_DIGITS);
    const first = all.charCodeAt(G17_DIGITS) - 48;
    let up: boolean;
    if (first !== 5) {
      up = first > 5;
    } else {
      let restZero = true;
      for (let i = G17_DIGITS + 1; i < all.length; i++) {
        if (all.charCodeAt(i) !== 48) {
          restZero = false;
          break;
        }
      }
      // An exact tie goes to the even digit (glibc, default rounding mode).
      up = restZero ? (keep.charCodeAt(G17_DIGITS - 1) - 48) % 2 === 1 : true;
    }
    if (up) {
      const bumped = (BigInt(keep) + 1n).toString();
      if (bumped.length > G17_DIGITS) {
        keep = bumped.slice(0, G17_DIGITS);
        x += 1;
      } else {
        keep = bumped;
      }
    }
  }
  const sign = neg ? '-' : '';
  if (x < -4 || x >= G17_DIGITS) {
    const frac = keep.slice(1).replace(/0+$/, '');
    const ex = Math.abs(x);
    return `${sign}${keep[0]}${frac === '' ? '' : `.${frac}`}e${x < 0 ? '-' : '+'}${ex < 10 ? `0${ex}` : ex}`;
  }
  let int: string;
  let frac: string;
  if (x >= 0) {
    int = keep.slice(0, x + 1);
    frac = keep.slice(x + 1);
  } else {
    int = '0';
    frac = '0'.repeat(-x - 1) + keep;
  }
  frac = frac.replace(/0+$/, '');
  return `${sign}${int}${frac === '' ? '' : `.${frac}`}`;
}

/**
 * The shortest round-trip text of a finite double in the layout of Redis 7.2+'s `fpconv_dtoa`
 * (`emit_digits`): plain digits for integers up to 7 places past the digits, a plain decimal
 * for exponents down to -6 (or short ones), else `d.ddde±x` with an unpadded exponent.
 * Examples: 0.1 → "0.1", 1e300 → "1e+300", 1.5e-7 → "1.5e-7", 123456789 → "123456789".
 */
export function formatDoubleShortest(v: number): string {
  if (Number.isNaN(v)) return 'nan';
  if (v === Infinity) return 'inf';
  if (v === -Infinity) return '-inf';
  if (v === 0) return Object.is(v, -0) ? '-0' : '0';
  const neg = v < 0;
  // toExponential() without an argument gives as many digits as needed to round-trip.
  const m = /^(\d)(?:\.(\d+))?e([+-]\d+)$/.exec(Math.abs(v).toExponential());
  if (m === null) return String(v);
  const digits = m[1]! + (m[2] ?? '');
  const nd = digits.length;
  const k = Number(m[3]) - (nd - 1); // value = digits × 10^k
  const exp = Math.abs(k + nd - 1);
  const sign = neg ? '-' : '';
  if (k >= 0 && exp < nd + 7) return sign + digits + '0'.repeat(k);
  if (k < 0 && (k > -7 || exp < 4)) {
    const offset = nd + k;
    if (offset <= 0) return `${sign}0.${'0'.repeat(-offset)}${digits}`;
    return `${sign}${digits.slice(0, offset)}.${digits.slice(offset)}`;
  }
  const e = k + nd - 1;
  return `${sign}${digits[0]}${nd > 1 ? `.${digits.slice(1)}` : ''}e${e < 0 ? '-' : '+'}${Math.abs(e)}`;
}

/**
 * The text a type-3 zset score gets from `rdbSaveDoubleValue` of the Redis version writing
 * `rdbVersion` (finite values only; the caller writes NaN/±inf as the 253/254/255 length codes).
 */
export function rdbScoreText(v: number, rdbVersion: number): string {
  if (rdbVersion >= 11) {
    if (isLongLong(v)) return String(v === 0 ? 0 : v);
    return formatDoubleShortest(v);
  }
  if (v > -(TWO_52 - 1) && v < TWO_52 && Number.isInteger(v)) return String(v === 0 ? 0 : v);
  return formatDoubleG17(v);
}

/**
 * A score as the ziplist/listpack entry the Redis version writing `rdbVersion` stores in a
 * small sorted set: an integer (stored as an integer entry) or the bytes of its text.
 */
export function packedScore(v: number, rdbVersion: number): number | Uint8Array {
  if (rdbVersion >= 10) {
    // 7.0+: `double2ll` first (so -0 becomes 0), then d2string.
    if (isLongLong(v)) return v === 0 ? 0 : v;
    return ascii(rdbVersion >= 11 ? formatDoubleShortest(v) : formatDoubleG17(v));
  }
  // <= 6.2: d2string text; the ziplist stores canonical integer text as an integer.
  if (v === 0) return Object.is(v, -0) ? ascii('-0') : 0;
  if (v > -(TWO_52 - 1) && v < TWO_52 && Number.isInteger(v)) return v;
  return ascii(formatDoubleG17(v));
}

/** `double2ll`: integral and within [-2^62, 2^62]. */
function isLongLong(v: number): boolean {
  return Number.isInteger(v) && v >= -TWO_62 && v <= TWO_62;
}

function ascii(s: string): Uint8Array {
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i);
  return out;
}
