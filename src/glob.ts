/**
 * Redis glob patterns (`KEYS`, `SCAN MATCH`) on raw key bytes, with the semantics of Redis's
 * `stringmatchlen` (src/util.c, 7.x):
 *
 * - `*` any run of bytes, `?` one byte, `\x` the byte x literally (a lone trailing `\` is itself);
 * - `[...]` one byte from a set: `^` first negates, `\x` is literal inside, `a-z` is a range
 *   (reversed ranges `z-a` are swapped), and the range test wins over `]` as an end: `[a-]` is
 *   the range a..']' (which then runs on to the next `]` or the end of the pattern);
 * - an unclosed `[` takes the rest of the pattern as its set; `[]` matches nothing, `[^]` any byte;
 * - an empty key matches only the empty pattern; the whole pattern `*` matches every key, the
 *   shortcut `KEYS *` and `SCAN` take;
 * - a pattern whose match must pass more than 1000 `*` groups never matches (Redis's nesting cap).
 *
 * One deliberate difference: range bounds compare as unsigned bytes. Redis compares `char`s, which
 * are signed on x86, so there a range crossing 0x7f/0x80 such as `[a-\xff]` means something odd
 * (0xff and 0x00..0x61); ranges within 0x00-0x7f or within 0x80-0xff agree on every platform.
 *
 * A pattern is compiled once into tokens (each `?`, class or literal consumes exactly one byte, so
 * the classic two-pointer matcher with star backtracking gives exactly the recursive matcher's
 * answers in O(pattern x key) at worst), with fast paths for literal, prefix*, *suffix and *infix*.
 */

/** A compiled pattern: true when the key matches. */
export type GlobMatcher = (key: Uint8Array) => boolean;

const STAR = -1;
const ANY = -2;
// Tokens >= 0 are literal bytes; tokens <= -3 index a class: -(3 + i).

const BS = 0x5c; // '\'
const LB = 0x5b; // '['
const RB = 0x5d; // ']'
const CARET = 0x5e; // '^'
const DASH = 0x2d; // '-'
const AST = 0x2a; // '*'
const QM = 0x3f; // '?'

/** Nesting cap of Redis's recursive matcher (util.c: `if (nesting > 1000) return 0`). */
const MAX_NESTING = 1000;

const te = new TextEncoder();

function toBytes(p: string | Uint8Array): Uint8Array {
  return typeof p === 'string' ? te.encode(p) : p;
}

interface Compiled {
  tokens: Int32Array;
  /** 256-entry membership tables, negation already applied. */
  classes: Uint8Array[];
}

/** Parses a bracket expression starting after `[`; returns the table and the index after it. */
function parseClass(p: Uint8Array, i: number): { table: Uint8Array; next: number } {
  const n = p.length;
  const table = new Uint8Array(256);
  const not = i < n && p[i] === CARET;
  if (not) i++;
  for (;;) {
    if (i < n && p[i] === BS && n - i >= 2) {
      i++;
      table[p[i]!] = 1;
    } else if (i < n && p[i] === RB) {
      break;
    } else if (i >= n) {
      // Unclosed: Redis backs up one byte so its common "advance" lands on the end.
      i = n - 1;
      break;
    } else if (n - i >= 3 && p[i + 1] === DASH) {
      let start = p[i]!;
      let end = p[i + 2]!;
      if (start > end) [start, end] = [end, start];
      for (let c = start; c <= end; c++) table[c] = 1;
      i += 2;
    } else {
      table[p[i]!] = 1;
    }
    i++;
  }
  if (not) for (let c = 0; c < 256; c++) table[c] ^= 1;
  return { table, next: i + 1 };
}

function compile(p: Uint8Array): Compiled {
  const tokens: number[] = [];
  const classes: Uint8Array[] = [];
  let i = 0;
  const n = p.length;
  while (i < n) {
    const ch = p[i]!;
    if (ch === AST) {
      if (tokens.length === 0 || tokens[tokens.length - 1] !== STAR) tokens.push(STAR);
      i++;
    } else if (ch === QM) {
      tokens.push(ANY);
      i++;
    } else if (ch === LB) {
      const { table, next } = parseClass(p, i + 1);
      tokens.push(-(3 + classes.length));
      classes.push(table);
      i = next;
    } else if (ch === BS && n - i >= 2) {
      tokens.push(p[i + 1]!);
      i += 2;
    } else {
      tokens.push(ch);
      i++;
    }
  }
  return { tokens: Int32Array.from(tokens), classes };
}

function literalBytes(tokens: Int32Array, from: number, to: number): Uint8Array | null {
  const out = new Uint8Array(to - from);
  for (let i = from; i < to; i++) {
    const t = tokens[i]!;
    if (t < 0) return null;
    out[i - from] = t;
  }
  return out;
}

function startsWithAt(key: Uint8Array, lit: Uint8Array, at: number): boolean {
  if (at + lit.length > key.length) return false;
  for (let i = 0; i < lit.length; i++) if (key[at + i] !== lit[i]) return false;
  return true;
}

function indexOfBytes(key: Uint8Array, lit: Uint8Array, from: number): number {
  const last = key.length - lit.length;
  if (lit.length === 0) return from <= key.length ? from : -1;
  const first = lit[0]!;
  for (let i = from; i <= last; i++) {
    if (key[i] === first && startsWithAt(key, lit, i)) return i;
  }
  return -1;
}

/**
 * Compiles a Redis glob pattern (a string is taken as its UTF-8 bytes) into a matcher over raw
 * key bytes. Compile once, call per key.
 */
export function compileGlob(pattern: string | Uint8Array): GlobMatcher {
  const p = toBytes(pattern);
  if (p.length === 1 && p[0] === AST) return () => true;
  if (p.length === 0) return (key) => key.length === 0;
  const { tokens, classes } = compile(p);
  const m = tokens.length;

  // The k-th non-trailing `*` group recurses at nesting k; past MAX_NESTING Redis answers "no".
  let starGroups = 0;
  for (let i = 0; i < m; i++) if (tokens[i] === STAR) starGroups++;
  const trailingStar = tokens[m - 1] === STAR;
  if (starGroups - (trailingStar ? 1 : 0) > MAX_NESTING) return () => false;

  // Fast paths over literal runs.
  if (starGroups === 0) {
    const lit = literalBytes(tokens, 0, m);
    if (lit !== null) return (key) => key.length === lit.length && startsWithAt(key, lit, 0);
  } else if (starGroups === 1 && trailingStar) {
    const lit = literalBytes(tokens, 0, m - 1);
    if (lit !== null) return (key) => key.length > 0 && startsWithAt(key, lit, 0);
  } else if (starGroups === 1 && tokens[0] === STAR) {
    const lit = literalBytes(tokens, 1, m);
    if (lit !== null) return (key) => key.length > 0 && startsWithAt(key, lit, key.length - lit.length);
  } else if (starGroups === 2 && tokens[0] === STAR && trailingStar) {
    const lit = literalBytes(tokens, 1, m - 1);
    if (lit !== null) return (key) => key.length > 0 && indexOfBytes(key, lit, 0) >= 0;
  }

  return (key) => {
    const n = key.length;
    if (n === 0) return false; // p is non-empty here
    let pi = 0;
    let si = 0;
    let starP = -1;
    let starS = 0;
    while (si < n) {
      if (pi < m) {
        const t = tokens[pi]!;
        if (t === STAR) {
          starP = pi++;
          starS = si;
          continue;
        }
        const b = key[si]!;
        if (t >= 0 ? t === b : t === ANY || classes[-t - 3]![b] === 1) {
          pi++;
          si++;
          continue;
        }
      }
      if (starP < 0) return false;
      pi = starP + 1;
      si = ++starS;
    }
    while (pi < m && tokens[pi] === STAR) pi++;
    return pi === m;
  };
}

/** One-off match (compiles each call: use compileGlob in loops). */
export function globMatch(pattern: string | Uint8Array, key: Uint8Array): boolean {
  return compileGlob(pattern)(key);
}

/**
 * A line-by-line port of Redis's recursive `stringmatchlen_impl` (util.c, 7.x, case-sensitive),
 * kept as the reference the compiled matcher is tested against. Bytes past the pattern's end
 * read as 0, like the NUL terminator after an sds string. Slow on purpose: not for hot paths.
 */
export function stringMatchLen(pattern: string | Uint8Array, str: Uint8Array): boolean {
  const pat = toBytes(pattern);
  const skip = { longer: false };
  return matchImpl(pat, 0, pat.length, str, 0, str.length, skip, 0);
}

function matchImpl(
  p: Uint8Array, pi: number, plen: number, s: Uint8Array, si: number, slen: number,
  skip: { longer: boolean }, nesting: number,
): boolean {
  const at = (i: number): number => (i < p.length ? p[i]! : 0);
  if (nesting > MAX_NESTING) return false;
  while (plen > 0 && slen > 0) {
    switch (at(pi)) {
      case AST: {
        while (plen > 0 && at(pi + 1) === AST) {
          pi++;
          plen--;
        }
        if (plen === 1) return true;
        while (slen > 0) {
          if (matchImpl(p, pi + 1, plen - 1, s, si, slen, skip, nesting + 1)) return true;
          if (skip.longer) return false;
          si++;
          slen--;
        }
        skip.longer = true;
        return false;
      }
      case QM:
        si++;
        slen--;
        break;
      case LB: {
        pi++;
        plen--;
        const not = at(pi) === CARET;
        if (not) {
          pi++;
          plen--;
        }
        let match = false;
        for (;;) {
          if (at(pi) === BS && plen >= 2) {
            pi++;
            plen--;
            if (at(pi) === s[si]) match = true;
          } else if (at(pi) === RB) {
            break;
          } else if (plen === 0) {
            pi--;
            plen++;
            break;
          } else if (plen >= 3 && at(pi + 1) === DASH) {
            let start = at(pi);
            let end = at(pi + 2);
            const c = s[si]!;
            if (start > end) [start, end] = [end, start];
            pi += 2;
            plen -= 2;
            if (c >= start && c <= end) match = true;
          } else if (at(pi) === s[si]) {
            match = true;
          }
          pi++;
          plen--;
        }
        if (not) match = !match;
        if (!match) return false;
        si++;
        slen--;
        break;
      }
      case BS:
        if (plen >= 2) {
          pi++;
          plen--;
        }
        if (at(pi) !== s[si]) return false;
        si++;
        slen--;
        break;
      default:
        if (at(pi) !== s[si]) return false;
        si++;
        slen--;
        break;
    }
    pi++;
    plen--;
    if (slen === 0) {
      while (plen > 0 && at(pi) === AST) {
        pi++;
        plen--;
      }
      break;
    }
  }
  return plen === 0 && slen === 0;
}
