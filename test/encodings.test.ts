/**
 * Inner blob codecs: ziplist, listpack, intset, zipmap (native-free-parser/encodings/).
 *
 * - round trips over boundary lists (integer widths, string length forms, prevlen/backlen sizes);
 * - exact bytes of small blobs computed by hand from RDB-FORMAT.md §5;
 * - corruption: targeted (exact offsets) and thousands of random mutations (only CorruptError);
 * - real blobs cut out of the fixture RDB files, checked against the manifests, and re-encoded
 *   byte for byte (the "byte-identical to Redis" proof).
 */
import t, { type Test } from 'tap';
import { rng } from './helpers/rng.js';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CorruptError } from '../native-free-parser/errors.js';
import {
  bytesCompare, elemCompare, elemEquals, elemToBytes, type Elem,
} from '../native-free-parser/encodings/elem.js';
import { ziplistCount, ziplistEncode, ziplistValues } from '../native-free-parser/encodings/ziplist.js';
import {
  listpackBacklenSize, listpackCount, listpackEncode, listpackForEach, listpackValues,
} from '../native-free-parser/encodings/listpack.js';
import { intsetCount, intsetEncode, intsetValues } from '../native-free-parser/encodings/intset.js';
import { zipmapCount, zipmapPairs } from '../native-free-parser/encodings/zipmap.js';
import { parseCanonicalInt64 } from '../native-free-parser/encodings/int.js';
import { RDB_FIXTURES } from './helpers/fixtures.js';

const FIXTURES = RDB_FIXTURES;

const te = new TextEncoder();
const s = (x: string): Uint8Array => te.encode(x);
const rep = (ch: string, n: number): Uint8Array => new Uint8Array(n).fill(ch.charCodeAt(0));
const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const fromHex = (h: string): Uint8Array => new Uint8Array(Buffer.from(h.replace(/[\s|]/g, ''), 'hex'));
/** A stable printable form of an element's bytes, for deep comparisons. */
const show = (e: Elem): string => Buffer.from(elemToBytes(e)).toString('latin1');

const BOUNDARY_INTS: (number | bigint)[] = [
  0, 12, 13, 127, 128, -1, -128, -129, 4095, 4096, -4096, -4097, 32767, 32768, -32768, -32769,
  8388607, 8388608, -8388608, -8388609, 2147483647, 2147483648, -2147483648, -2147483649,
  2 ** 53 - 1, -(2 ** 53 - 1), 2 ** 53, -(2 ** 53), 9223372036854775807n, -9223372036854775808n,
];
const BOUNDARY_STRINGS: Uint8Array[] = [
  s(''), s('a'), rep('x', 63), rep('x', 64), rep('y', 4095), rep('y', 4096), rep('z', 16383),
  rep('z', 16384), s('007'), s('+1'), s('-0'), s('1.5'), s(' 1'), s('1 '), s('-'), s('00'),
  s('9223372036854775808'), s('-9223372036854775809'), s('99999999999999999999'),
];
/** Integers given as their decimal text: the encoders must store them as integers. */
const INT_STRINGS: Uint8Array[] = BOUNDARY_INTS.map((v) => elemToBytes(v));
const BOUNDARY: Elem[] = [...BOUNDARY_INTS, ...BOUNDARY_STRINGS, ...INT_STRINGS];

/** Decoded elements must equal the inputs by byte form, and be typed as the spec says. */
function checkDecoded(tt: Test, got: Elem[], want: readonly Elem[], what: string): void {
  tt.equal(got.length, want.length, `${what}: count`);
  let bad = 0;
  for (let i = 0; i < want.length; i++) {
    const g = got[i]!;
    const w = want[i]!;
    if (!elemEquals(g, w)) {
      if (bad++ < 5) tt.fail(`${what}[${i}]: got ${show(g).slice(0, 40)} want ${show(w).slice(0, 40)}`);
      continue;
    }
    const asInt = parseCanonicalInt64(elemToBytes(w));
    const canonicalInt = typeof w !== 'object' || asInt !== null;
    if (canonicalInt) {
      const big = BigInt(show(w)); // exact decimal of the integer
      const safe = big >= -9007199254740991n && big <= 9007199254740991n;
      if (safe ? typeof g !== 'number' : typeof g !== 'bigint') {
        if (bad++ < 5) tt.fail(`${what}[${i}]: ${show(w)} decoded as ${typeof g}`);
      }
    } else if (!(g instanceof Uint8Array)) {
      if (bad++ < 5) tt.fail(`${what}[${i}]: string ${show(w).slice(0, 20)} decoded as ${typeof g}`);
    }
  }
  tt.equal(bad, 0, `${what}: every element equal and typed right`);
}

// ---- elem helpers --------------------------------------------------------------------------

t.test('elem helpers', async (tt) => {
  tt.same([...elemToBytes(-12)], [...s('-12')]);
  tt.same([...elemToBytes(9223372036854775807n)], [...s('9223372036854775807')]);
  tt.same([...elemToBytes(2 ** 60)], [...s('1152921504606846976')]);
  tt.ok(elemEquals(5, 5n));
  tt.ok(elemEquals(5, s('5')));
  tt.ok(elemEquals(s('5'), 5n));
  tt.notOk(elemEquals(5, s('05')));
  tt.notOk(elemEquals(s('ab'), s('abc')));
  tt.ok(elemCompare(10, 9) < 0, '"10" < "9" in memcmp order');
  tt.ok(elemCompare(s('a'), s('ab')) < 0);
  tt.ok(elemCompare(s('b'), 1) > 0);
  tt.ok(elemCompare(-1, 1) < 0, '"-" (0x2D) < "1"');
  tt.equal(elemCompare(7n, s('7')), 0);
});

// ---- ziplist -------------------------------------------------------------------------------

t.test('ziplist exact bytes', async (tt) => {
  // ["a", 1], RDB >= 6:
  //   zlbytes 16 = 10 header + 3 ("a") + 2 (1) + 1 end     -> 10 00 00 00
  //   zltail 13 = offset of the second entry                 -> 0d 00 00 00
  //   zllen 2                                                -> 02 00
  //   entry "a": prevlen 0, enc 00pppppp len 1, 'a'          -> 00 01 61
  //   entry 1:   prevlen 3, immediate 0xF1 + 1               -> 03 f2
  //   end                                                    -> ff
  const zl = ziplistEncode([s('a'), 1]);
  tt.equal(hex(zl), '10000000' + '0d000000' + '0200' + '000161' + '03f2' + 'ff');
  tt.same(ziplistValues(zl).map(show), ['a', '1']);
  // Same list for RDB 5 (Redis 2.4): no immediates, 1 becomes int16 0xC0 + 01 00.
  const zl5 = ziplistEncode([s('a'), 1], 5);
  tt.equal(hex(zl5), '12000000' + '0d000000' + '0200' + '000161' + '03c00100' + 'ff');
  // String "1" (canonical) is stored exactly like the integer 1.
  tt.equal(hex(ziplistEncode([s('a'), s('1')])), hex(zl));
  // Redis's own doc example: "2", "5" -> [0f 00 00 00] [0c 00 00 00] [02 00] [00 f3] [02 f6] [ff]
  tt.equal(hex(ziplistEncode([s('2'), s('5')])), '0f000000' + '0c000000' + '0200' + '00f3' + '02f6' + 'ff');
  // Empty ziplist: 11 bytes, tail 10.
  tt.equal(hex(ziplistEncode([])), '0b000000' + '0a000000' + '0000' + 'ff');
  tt.same(ziplistValues(ziplistEncode([])), []);
  // Integer widths: int8 fe, int16 c0, int24 f0, int32 d0, int64 e0 (all LE).
  const ints = ziplistEncode([-1, 300, -8388608, 2147483647, -9223372036854775808n]);
  tt.equal(hex(ints.subarray(10, ints.length - 1)),
    '00feff' + '03c02c01' + '04f0000080' + '05d0ffffff7f' + '06e00000000000000080');
  // String length forms: 14-bit BE (0x40 | hi, lo) and 32-bit BE (0x80 + u32 BE).
  const z14 = ziplistEncode([rep('q', 300)]);
  tt.equal(hex(z14.subarray(10, 13)), '00412c');
  const z32 = ziplistEncode([rep('q', 16384)]);
  tt.equal(hex(z32.subarray(10, 16)), '008000004000');
});

t.test('ziplist round trip over boundary lists', async (tt) => {
  for (const ver of [12, 6, 5]) {
    const zl = ziplistEncode(BOUNDARY, ver);
    checkDecoded(tt, ziplistValues(zl), BOUNDARY, `ziplist v${ver}`);
    tt.equal(ziplistCount(zl), BOUNDARY.length);
    if (ver < 6) {
      // No 0xF0 / 0xFE / 0xF1..0xFD encodings for Redis <= 2.4.
      const encs = ziplistEncodings(zl);
      tt.notOk(encs.some((e) => e === 0xf0 || e >= 0xf1), 'v5: only int16/32/64 integer encodings');
    }
  }
  for (const v of BOUNDARY) {
    checkDecoded(tt, ziplistValues(ziplistEncode([v])), [v], `ziplist [${show(v).slice(0, 12)}]`);
  }
});

/** The encoding byte of every entry (test helper walking a valid ziplist). */
function ziplistEncodings(zl: Uint8Array): number[] {
  const out: number[] = [];
  for (let p = 10; zl[p] !== 0xff; p = nextEntry(zl, p)) out.push(zl[p + (zl[p]! < 254 ? 1 : 5)]!);
  return out;
}

/** [offset, prevlen field size, prevlen value] of every entry. */
function ziplistPrevlens(zl: Uint8Array): [number, number, number][] {
  const out: [number, number, number][] = [];
  for (let p = 10; zl[p] !== 0xff; p = nextEntry(zl, p)) {
    const big = zl[p] === 0xfe;
    out.push([p, big ? 5 : 1, big ? Buffer.from(zl.subarray(p + 1, p + 5)).readUInt32LE(0) : zl[p]!]);
  }
  return out;
}

function nextEntry(zl: Uint8Array, p: number): number {
  const pl = zl[p]! < 254 ? 1 : 5;
  const e = p + pl;
  const enc = zl[e]!;
  if (enc < 0x40) return e + 1 + enc;
  if (enc < 0x80) return e + 2 + (((enc & 0x3f) << 8) | zl[e + 1]!);
  if (enc < 0xc0) return e + 5 + Buffer.from(zl.subarray(e + 1, e + 5)).readUInt32BE(0);
  if (enc >= 0xf1 && enc <= 0xfd) return e + 1;
  return e + 1 + ({ 0xc0: 2, 0xd0: 4, 0xe0: 8, 0xf0: 3, 0xfe: 1 } as Record<number, number>)[enc]!;
}

t.test('ziplist prevlen crosses 253/254', async (tt) => {
  // A string of L <= 63 bytes after a 1-byte prevlen: entry = 1 + 1 + L; 64..16383: 1 + 2 + L.
  // L = 250 -> entry 253 (next prevlen 1 byte, 0xFD); L = 251 -> entry 254 (next prevlen FE + u32).
  const a = ziplistEncode([rep('a', 250), s('x')]);
  tt.equal(a[10 + 253], 0xfd, 'prevlen 253 in one byte');
  tt.equal(a[10 + 253 + 1], 0x01, 'then the entry encoding');
  const b = ziplistEncode([rep('a', 251), s('x')]);
  tt.equal(hex(b.subarray(10 + 254, 10 + 254 + 6)), 'fefe00000001', 'prevlen 254 as FE + u32 LE');
  tt.equal(Buffer.from(b).readUInt32LE(4), 10 + 254, 'zltail at the second entry');
  // A run of sizes around the boundary, in every order: validation checks every prevlen.
  const elems: Elem[] = [];
  for (let L = 240; L <= 260; L++) elems.push(rep('b', L), L, rep('c', 260 - L + 240));
  for (const list of [elems, [...elems].reverse()]) {
    const zl = ziplistEncode(list);
    checkDecoded(tt, ziplistValues(zl), list, 'ziplist 240..260');
    for (const [, size, v] of ziplistPrevlens(zl)) {
      if ((v < 254) !== (size === 1)) tt.fail(`prevlen ${v} stored in ${size} bytes`);
    }
  }
});

t.test('ziplist big lists (> 65535 entries)', async (tt) => {
  for (const n of [65534, 65535, 70000]) {
    const list: Elem[] = [];
    for (let i = 0; i < n; i++) list.push(i % 3 === 0 ? s(`e${i}`) : i * 7919 - 100000);
    const zl = ziplistEncode(list);
    tt.equal(zl[8]! | (zl[9]! << 8), Math.min(n, 65535), `${n}: zllen header`);
    tt.equal(ziplistCount(zl), n, `${n}: ziplistCount`);
    const got = ziplistValues(zl);
    tt.equal(got.length, n);
    tt.ok(elemEquals(got[n - 1]!, list[n - 1]!));
  }
});

t.test('ziplist targeted corruption', async (tt) => {
  const base = 5000;
  const good = ziplistEncode([s('a'), 1, rep('z', 300), -70000]);
  tt.equal(ziplistValues(good, base).length, 4);
  const cases: [string, (b: Uint8Array) => Uint8Array, number][] = [
    ['zlbytes', (b) => { b[0]! += 1; return b; }, 0],
    ['zltail out of range', (b) => { b[6] = 1; return b; }, 4],
    ['zltail not the last entry', (b) => { b[4] = 13; return b; }, 4],
    ['zllen', (b) => { b[8] = 3; return b; }, 8],
    ['end marker', (b) => { b[b.length - 1] = 0; return b; }, good.length - 1],
    ['prevlen', (b) => { b[13] = 4; return b; }, 13],
    ['encoding', (b) => { b[14] = 0xc5; return b; }, 14],
    ['too short', (b) => b.subarray(0, 5), 0],
  ];
  for (const [name, mut, off] of cases) {
    const err = catchErr(() => ziplistValues(mut(good.slice()), base));
    tt.type(err, CorruptError, name);
    tt.equal((err as CorruptError).offset, base + off, `${name}: offset`);
  }
  // Entry running past the end (string length too big), fixed header otherwise.
  const b = good.slice();
  b[11] = 0x3f; // "a" claims 63 bytes
  tt.type(catchErr(() => ziplistValues(b)), CorruptError);
  // An early end marker where an entry should start.
  const c = ziplistEncode([s('a'), s('b')]);
  c[13] = 0xff;
  const errC = catchErr(() => ziplistValues(c, base)) as CorruptError;
  tt.type(errC, CorruptError);
  tt.equal(errC.offset, base + 13);
  tt.match(errC.message, /corrupt: offset 5013: ziplist: end marker only at the last byte/);
});

// ---- listpack ------------------------------------------------------------------------------

t.test('listpack exact bytes', async (tt) => {
  // ["a", 1]:
  //   total_bytes 12 = 6 header + 3 ("a") + 2 (1) + 1 end    -> 0c 00 00 00
  //   num_elements 2                                           -> 02 00
  //   "a": 10xxxxxx len 1 = 0x81, 'a', backlen 2               -> 81 61 02
  //   1:   7-bit uint 0x01, backlen 1                          -> 01 01
  //   end                                                      -> ff
  const lp = listpackEncode([s('a'), 1]);
  tt.equal(hex(lp), '0c000000' + '0200' + '816102' + '0101' + 'ff');
  tt.same(listpackValues(lp).map(show), ['a', '1']);
  tt.equal(hex(listpackEncode([s('a'), s('1')])), hex(lp), '"1" is stored as the integer 1');
  tt.equal(hex(listpackEncode([])), '070000000000ff', 'empty listpack');
  // int13 -1: 8192-1 = 0x1FFF -> C0|0x1F = DF, FF; backlen 2.   int16 -4097: F1 FF EF; backlen 3.
  // int24 8388607: F2 FF FF 7F, backlen 4. int32 -2147483648: F3 00 00 00 80, backlen 5.
  // int64 2^53: F4 00 00 00 00 00 00 20 00, backlen 9.
  const ints = listpackEncode([-1, -4097, 8388607, -2147483648, 2 ** 53]);
  tt.equal(hex(ints.subarray(6, ints.length - 1)),
    'dfff02' + 'f1ffef03' + 'f2ffff7f04' + 'f30000008005' + 'f4000000000000200009');
  // 12-bit string, 100 bytes: E0 64, backlen of l = 102 is 0x66.
  const l12 = listpackEncode([rep('m', 100)]);
  tt.equal(hex(l12.subarray(6, 8)), 'e064');
  tt.equal(l12[6 + 102], 102);
  // 32-bit string, 5000 bytes: F0 88 13 00 00 (LE); l = 5005 -> backlen 2 bytes: 5005>>7 = 39 (0x27),
  // then (5005 & 127) | 128 = 0x8D.
  const l32 = listpackEncode([rep('m', 5000)]);
  tt.equal(hex(l32.subarray(6, 11)), 'f088130000');
  tt.equal(hex(l32.subarray(6 + 5005, 6 + 5007)), '278d');
});

t.test('listpack round trip over boundary lists', async (tt) => {
  const lp = listpackEncode(BOUNDARY);
  checkDecoded(tt, listpackValues(lp), BOUNDARY, 'listpack');
  tt.equal(listpackCount(lp), BOUNDARY.length);
  const seen: Elem[] = [];
  const n = listpackForEach(lp, 0, (e, i) => {
    tt.equal(i, seen.length);
    seen.push(e);
  });
  tt.equal(n, BOUNDARY.length);
  checkDecoded(tt, seen, BOUNDARY, 'listpackForEach');
  for (const v of BOUNDARY) {
    checkDecoded(tt, listpackValues(listpackEncode([v])), [v], `listpack [${show(v).slice(0, 12)}]`);
  }
});

t.test('listpack backlen size boundaries', async (tt) => {
  // encoding+data size l of a string of L bytes: L < 64 -> 1 + L; L < 4096 -> 2 + L; else 5 + L.
  const cases: [number, number, number][] = [
    // [L, l, backlen bytes]
    [125, 127, 1], [126, 128, 2], [16377, 16382, 2], [16378, 16383, 3],
    [2097145, 2097150, 3], [2097146, 2097151, 4],
  ];
  for (const [L, l, bl] of cases) {
    const lp = listpackEncode([rep('k', L), 7]);
    tt.equal(lp.length, 6 + l + bl + 2 + 1, `l=${l}: ${bl}-byte backlen`);
    tt.equal(listpackBacklenSize(l), bl);
    const got = listpackValues(lp);
    tt.equal((got[0] as Uint8Array).length, L);
    tt.equal(got[1], 7);
    // The backlen bytes read right to left give l back.
    let v = 0;
    for (let k = 0; k < bl; k++) v = v * 128 + (lp[6 + l + k]! & 127);
    tt.equal(v, l, `l=${l}: backlen value`);
  }
  tt.equal(listpackBacklenSize(268435454), 4);
  tt.equal(listpackBacklenSize(268435455), 5);
  // 16383 takes 3 bytes: 00 FF FF.
  const lp = listpackEncode([rep('k', 16378)]);
  tt.equal(hex(lp.subarray(6 + 16383, 6 + 16386)), '00ffff');
});

t.test('listpack big lists (> 65535 entries)', async (tt) => {
  for (const n of [65534, 65535, 70000]) {
    const list: Elem[] = [];
    for (let i = 0; i < n; i++) list.push(i % 3 === 0 ? s(`e${i}`) : i * 7919 - 100000);
    const lp = listpackEncode(list);
    tt.equal(lp[4]! | (lp[5]! << 8), Math.min(n, 65535), `${n}: num_elements header`);
    tt.equal(listpackCount(lp), n, `${n}: listpackCount`);
    const got = listpackValues(lp);
    tt.equal(got.length, n);
    tt.ok(elemEquals(got[n - 1]!, list[n - 1]!));
  }
});

t.test('listpack targeted corruption', async (tt) => {
  const base = 100;
  const good = listpackEncode([s('a'), 1, rep('z', 200)]); // "a" at 6..8, 1 at 9..10, z at 11..
  tt.equal(listpackValues(good, base).length, 3);
  const cases: [string, (b: Uint8Array) => Uint8Array, number][] = [
    ['total_bytes', (b) => { b[1] = 9; return b; }, 0],
    ['num_elements', (b) => { b[4] = 2; return b; }, 4],
    ['end marker', (b) => { b[b.length - 1] = 0x7f; return b; }, good.length - 1],
    ['backlen value', (b) => { b[8] = 3; return b; }, 8],
    ['encoding F5', (b) => { b[9] = 0xf5; return b; }, 9],
    // "z"*200: E0 C8 ... l = 202, backlen 2 bytes: 202>>7 = 01, (202&127)|128 = CA at 11+202..
    ['backlen high byte', (b) => { b[11 + 202] = 0x02; return b; }, 11 + 202],
    ['backlen low byte', (b) => { b[11 + 203] = 0x4a; return b; }, 11 + 203],
    ['too short', (b) => b.subarray(0, 6), 0],
  ];
  for (const [name, mut, off] of cases) {
    const err = catchErr(() => listpackValues(mut(good.slice()), base));
    tt.type(err, CorruptError, name);
    tt.equal((err as CorruptError).offset, base + off, `${name}: offset`);
  }
  // Non-canonical backlen that Redis's decoder would still read as 16383: 80 FF FF with a zero
  // data byte before it is rejected (we require the exact bytes).
  const lp = listpackEncode([rep('k', 16378)]);
  lp[6 + 16383] = 0x80;
  tt.type(catchErr(() => listpackValues(lp)), CorruptError);
  // Count and forEach also validate.
  tt.type(catchErr(() => listpackCount(good.subarray(0, 10))), CorruptError);
  const unknown = good.slice();
  unknown[4] = 0xff;
  unknown[5] = 0xff;
  tt.equal(listpackCount(unknown), 3, 'count 65535 walks');
  unknown[9] = 0xf7;
  tt.type(catchErr(() => listpackCount(unknown)), CorruptError);
  tt.type(catchErr(() => listpackForEach(unknown, 0, () => {})), CorruptError);
});

// ---- intset --------------------------------------------------------------------------------

t.test('intset exact bytes and round trip', async (tt) => {
  // [3, 1, 2, 1] -> sorted, deduplicated, int16: enc 2, len 3, 01 00 02 00 03 00.
  tt.equal(hex(intsetEncode([3, 1, 2, 1])), '02000000' + '03000000' + '010002000300');
  tt.equal(hex(intsetEncode([-1, 40000])), '04000000' + '02000000' + 'ffffffff' + '409c0000');
  tt.equal(hex(intsetEncode([2147483648])), '08000000' + '01000000' + '0000008000000000');
  tt.equal(hex(intsetEncode([-32768, 32767])), '02000000' + '02000000' + '0080' + 'ff7f');
  tt.equal(intsetEncode([-32769])[0], 4);
  tt.equal(intsetEncode([-2147483649])[0], 8);
  tt.equal(intsetEncode([9223372036854775807n, 5n])[0], 8);
  const sorted = [...BOUNDARY_INTS].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  const blob = intsetEncode([...BOUNDARY_INTS].reverse());
  const got = intsetValues(blob);
  checkDecoded(tt, got, sorted, 'intset');
  tt.equal(intsetCount(blob), sorted.length);
  // Width groups decode to the same values.
  for (const group of [[0, 1, -32768, 32767], [-2147483648, 0, 2147483647], [-(2 ** 53), 2 ** 53 - 1]]) {
    const g = [...group].sort((a, b) => a - b);
    checkDecoded(tt, intsetValues(intsetEncode(g)), g, `intset ${group.join(',')}`);
  }
  tt.same(intsetValues(intsetEncode([2 ** 53])), [9007199254740992n], '2^53 decodes as bigint');
});

t.test('intset corruption', async (tt) => {
  const base = 7;
  const good = intsetEncode([1, 2, 3]);
  const cases: [string, Uint8Array, number][] = [
    ['encoding 3', patch(good, 0, 3), 0],
    ['length mismatch', patch(good, 4, 4), 4],
    ['length 0', fromHex('02000000 00000000'), 4],
    ['not increasing', patch(good, 10, 1), 10],
    ['duplicate', patch(good, 12, 2), 12],
    ['too short', good.subarray(0, 7), 0],
    ['truncated member', good.subarray(0, 13), 4],
  ];
  for (const [name, blob, off] of cases) {
    const err = catchErr(() => intsetValues(blob, base));
    tt.type(err, CorruptError, name);
    tt.equal((err as CorruptError).offset, base + off, `${name}: offset`);
  }
  const big = intsetEncode([-(2n ** 62n), 2n ** 62n]);
  big.set(big.subarray(8, 16), 16); // second member = first
  tt.type(catchErr(() => intsetValues(big)), CorruptError, 'int64 duplicate');
});

function patch(b: Uint8Array, at: number, v: number): Uint8Array {
  const c = b.slice();
  c[at] = v;
  return c;
}

// ---- zipmap --------------------------------------------------------------------------------

t.test('zipmap', async (tt) => {
  // Redis's own example: "\x02\x03foo\x03\x00bar\x05hello\x05\x00world\xff"
  const zm = fromHex('02 03 666f6f 03 00 626172 05 68656c6c6f 05 00 776f726c64 ff');
  tt.same(zipmapPairs(zm).map(show), ['foo', 'bar', 'hello', 'world']);
  tt.equal(zipmapCount(zm), 2);
  // A value with 2 free bytes of padding, and a 300-byte key with the FE + u32 LE length.
  const key = rep('K', 300);
  const zm2 = new Uint8Array([
    0x02, 0x01, 0x61, 0x02, 0x02, 0x68, 0x69, 0x00, 0x00, // "a" -> "hi" + 2 free bytes
    0xfe, 0x2c, 0x01, 0x00, 0x00, ...key, 0x00, 0x00, // 300-byte key -> ""
    0xff,
  ]);
  const pairs = zipmapPairs(zm2);
  tt.same(pairs.map((p) => p.length), [1, 2, 300, 0]);
  tt.equal(show(pairs[1]!), 'hi');
  // zmlen 254: unknown, count walks.
  const zm3 = patch(zm, 0, 254);
  tt.equal(zipmapCount(zm3), 2);
  tt.equal(zipmapPairs(zm3).length, 4);
  // Corruption with offsets.
  const base = 40;
  const cases: [string, Uint8Array, number][] = [
    ['count mismatch', patch(zm, 0, 3), 0],
    ['no terminator', patch(zm, zm.length - 1, 0), zm.length - 1],
    ['empty', fromHex('00ff'), 1],
    ['key past the end', patch(zm, 1, 0x30), 1],
    ['value past the end', patch(zm, 5, 0x30), 5],
    ['free past the end', patch(zm, 6, 0x30), 5],
    ['too short', fromHex('ff'), 0],
    ['trailing bytes after the end marker', fromHex('01 01 61 01 00 62 ff 00 ff'), 6],
  ];
  for (const [name, blob, off] of cases) {
    const err = catchErr(() => zipmapPairs(blob, base));
    tt.type(err, CorruptError, name);
    tt.equal((err as CorruptError).offset, base + off, `${name}: offset`);
  }
  tt.type(catchErr(() => zipmapCount(patch(zm3, 1, 0x30))), CorruptError, 'count walk validates');
});

// ---- random mutations ----------------------------------------------------------------------

function catchErr(fn: () => unknown): unknown {
  try {
    fn();
  } catch (e) {
    return e;
  }
  return undefined;
}


function mutate(src: Uint8Array, r: () => number): Uint8Array {
  let b = src.slice();
  const rounds = 1 + Math.floor(r() * 3);
  for (let k = 0; k < rounds && b.length > 0; k++) {
    const at = Math.floor(r() * b.length);
    const op = r();
    if (op < 0.5) {
      b[at] = Math.floor(r() * 256);
    } else if (op < 0.65) {
      b[at]! ^= 1 << Math.floor(r() * 8);
    } else if (op < 0.8) {
      b = b.slice(0, at); // truncate
    } else if (op < 0.9) {
      const c = new Uint8Array(b.length + 1); // insert a byte
      c.set(b.subarray(0, at));
      c[at] = Math.floor(r() * 256);
      c.set(b.subarray(at), at + 1);
      b = c;
    } else {
      const c = new Uint8Array(b.length - 1); // delete a byte
      c.set(b.subarray(0, at));
      c.set(b.subarray(at + 1), at);
      b = c;
    }
    // Sometimes keep the size fields consistent so mutations reach the entries.
    if (r() < 0.5 && b.length >= 4) Buffer.from(b.buffer, b.byteOffset, b.length).writeUInt32LE(b.length, 0);
  }
  return b;
}

t.test('random mutations raise only CorruptError', async (tt) => {
  const r = rng(12345);
  const mixed: Elem[] = [s(''), s('a'), 5, -1, 300, -70000, 2 ** 40, -(2n ** 62n), rep('x', 70), rep('y', 300), s('007')];
  const samples: [string, Uint8Array, (b: Uint8Array, base: number) => unknown][] = [
    ['ziplist', ziplistEncode(mixed), ziplistValues],
    ['ziplist v5', ziplistEncode(mixed, 5), ziplistValues],
    ['ziplist small', ziplistEncode([1, s('ab'), 2]), ziplistValues],
    ['ziplistCount', patchU16(ziplistEncode(mixed), 8, 0xffff), ziplistCount],
    ['listpack', listpackEncode(mixed), listpackValues],
    ['listpack small', listpackEncode([1, s('ab'), -2]), listpackValues],
    ['listpackCount', patchU16(listpackEncode(mixed), 4, 0xffff), listpackCount],
    ['intset16', intsetEncode([1, 2, 3, 400]), intsetValues],
    ['intset64', intsetEncode([1, 2n ** 40n, -(2n ** 60n)]), intsetValues],
    ['zipmap', fromHex('02 03 666f6f 03 00 626172 05 68656c6c6f 05 02 776f726c64 0000 ff'), zipmapPairs],
    ['zipmapCount', fromHex('fe 03 666f6f 03 00 626172 05 68656c6c6f 05 02 776f726c64 0000 ff'), zipmapCount],
  ];
  const base = 1_000_000;
  for (const [name, blob, fn] of samples) {
    fn(blob, base); // the sample itself is valid
    let corrupt = 0;
    let other = 0;
    let okCount = 0;
    for (let i = 0; i < 3000; i++) {
      const m = mutate(blob, r);
      const err = catchErr(() => fn(m, base));
      if (err === undefined) {
        okCount++;
      } else if (err instanceof CorruptError) {
        corrupt++;
        if (!Number.isInteger(err.offset) || err.offset < base || err.offset > base + m.length) {
          other++;
          if (other < 3) tt.fail(`${name}: offset ${err.offset} outside [${base}, ${base + m.length}]`);
        }
      } else {
        other++;
        if (other < 3) tt.fail(`${name}: ${String(err)} on ${hex(m)}`);
      }
    }
    tt.equal(other, 0, `${name}: ${corrupt} CorruptError, ${okCount} still valid, nothing else`);
    tt.ok(corrupt > 1000, `${name}: most mutations detected`);
  }
});

function patchU16(b: Uint8Array, at: number, v: number): Uint8Array {
  b[at] = v & 0xff;
  b[at + 1] = v >>> 8;
  return b;
}

// ---- real blobs from real RDB files --------------------------------------------------------

interface Found {
  /** The blobs of the value (one for types 9–13, 16, 17, 20; one per node for quicklists). */
  blobs: { bytes: Uint8Array; offset: number; container: number }[];
}

/** Reads an RDB length at `p`; `special` set for the 11xxxxxx string encodings. */
function readLen(b: Uint8Array, p: number): { len: number; p: number; special: number } {
  const c = b[p]!;
  const top = c >> 6;
  if (top === 0) return { len: c & 0x3f, p: p + 1, special: -1 };
  if (top === 1) return { len: ((c & 0x3f) << 8) | b[p + 1]!, p: p + 2, special: -1 };
  if (top === 3) return { len: 0, p: p + 1, special: c & 0x3f };
  if (c === 0x80) return { len: Buffer.from(b.subarray(p + 1, p + 5)).readUInt32BE(0), p: p + 5, special: -1 };
  throw new Error(`length byte 0x${c.toString(16)}`);
}

/** A raw (not integer-encoded, not LZF) RDB string at `p`, or null. */
function readRawStr(b: Uint8Array, p: number): { bytes: Uint8Array; offset: number; p: number } | null {
  const l = readLen(b, p);
  if (l.special !== -1) return null;
  return { bytes: b.subarray(l.p, l.p + l.len), offset: l.p, p: l.p + l.len };
}

/**
 * Finds the record `type key` by scanning the file for [type][len][key] and parses its blobs;
 * null when not found or when any blob is LZF-compressed.
 */
function findRecord(file: Uint8Array, type: number, key: Uint8Array): Found | null {
  const pat = Buffer.concat([Buffer.from([type]), key.length < 64 ? Buffer.from([key.length])
    : Buffer.from([0x40 | (key.length >> 8), key.length & 0xff]), Buffer.from(key)]);
  const buf = Buffer.from(file.buffer, file.byteOffset, file.length);
  let at = buf.indexOf(pat);
  while (at >= 0) {
    try {
      let p = at + pat.length;
      const blobs: Found['blobs'] = [];
      if (type === 14 || type === 18) {
        const n = readLen(file, p);
        p = n.p;
        for (let i = 0; i < n.len; i++) {
          let container = 2;
          if (type === 18) {
            const c = readLen(file, p);
            container = c.len;
            p = c.p;
          }
          const str = readRawStr(file, p);
          if (str === null) return null;
          blobs.push({ bytes: str.bytes, offset: str.offset, container });
          p = str.p;
        }
      } else {
        const str = readRawStr(file, p);
        if (str === null) return null;
        blobs.push({ bytes: str.bytes, offset: str.offset, container: 2 });
      }
      return { blobs };
    } catch {
      at = buf.indexOf(pat, at + 1);
    }
  }
  return null;
}

type Json = string | number | null | { b64: string } | Json[] | { [k: string]: Json };
const jbytes = (v: Json): Buffer => (typeof v === 'string' ? Buffer.from(v, 'utf8')
  : Buffer.from((v as { b64: string }).b64, 'base64'));
const b64 = (e: Elem): string => Buffer.from(elemToBytes(e)).toString('base64');

const TYPE_CODES: Record<string, number[]> = {
  hash: [9, 13, 16],
  list: [10, 14, 18],
  set: [11, 20],
  zset: [12, 17],
};

const DECODERS: Record<number, 'zipmap' | 'ziplist' | 'listpack' | 'intset'> = {
  9: 'zipmap', 10: 'ziplist', 11: 'intset', 12: 'ziplist', 13: 'ziplist', 14: 'ziplist',
  16: 'listpack', 17: 'listpack', 18: 'listpack', 20: 'listpack',
};

t.test('real blobs from the fixture files', async (tt) => {
  const index = JSON.parse(readFileSync(join(FIXTURES, 'index.json'), 'utf8')) as {
    fixtures: { rdb: string; manifest: string | null; rdbVersion: number }[];
  };
  const stats: Record<string, number> = {};
  let reencoded = 0;
  let notIdentical = 0;
  for (const fx of index.fixtures) {
    if (!fx.manifest) continue;
    const file = new Uint8Array(readFileSync(join(FIXTURES, fx.rdb)));
    const lines = readFileSync(join(FIXTURES, fx.manifest), 'utf8').split('\n').filter((l) => l !== '');
    for (const line of lines) {
      const rec = JSON.parse(line) as { key: Json; type: string; value: Json };
      const codes = TYPE_CODES[rec.type];
      if (!codes) continue;
      const key = jbytes(rec.key);
      for (const code of codes) {
        const found = findRecord(file, code, key);
        if (found === null) continue;
        const kind = DECODERS[code]!;
        const elems: Elem[] = [];
        for (const blob of found.blobs) {
          if (blob.container === 1) {
            elems.push(blob.bytes); // quicklist v2 PLAIN node: the element itself
            continue;
          }
          let dec: Elem[];
          switch (kind) {
            case 'zipmap': dec = zipmapPairs(blob.bytes, blob.offset); break;
            case 'ziplist': dec = ziplistValues(blob.bytes, blob.offset); break;
            case 'listpack': dec = listpackValues(blob.bytes, blob.offset); break;
            default: dec = intsetValues(blob.bytes, blob.offset);
          }
          for (const e of dec) elems.push(e);
          // Re-encode: byte-identical to what Redis wrote.
          if (kind !== 'zipmap') {
            const again = kind === 'ziplist' ? ziplistEncode(dec, fx.rdbVersion)
              : kind === 'listpack' ? listpackEncode(dec) : intsetEncode(dec as (number | bigint)[]);
            reencoded++;
            if (hex(again) !== hex(blob.bytes)) {
              notIdentical++;
              tt.fail(`${fx.rdb} ${key.toString()} (type ${code}): re-encoding differs\n` +
                `  redis: ${hex(blob.bytes).slice(0, 200)}\n  ours:  ${hex(again).slice(0, 200)}`);
            }
          }
          // Counts agree with the decoders.
          const cnt = kind === 'zipmap' ? zipmapCount(blob.bytes) * 2 : kind === 'ziplist'
            ? ziplistCount(blob.bytes) : kind === 'listpack' ? listpackCount(blob.bytes) : intsetCount(blob.bytes);
          tt.equal(cnt, dec.length, `${fx.rdb} ${key.toString()}: count`);
        }
        const where = `${fx.rdb} ${key.toString()} (type ${code})`;
        stats[`${kind}:${code}`] = (stats[`${kind}:${code}`] ?? 0) + 1;
        tt.same(normalise(rec.type, elems), manifestValue(rec.type, rec.value), where);
        break;
      }
    }
  }
  tt.comment(`blobs checked per kind:type ${JSON.stringify(stats)}; re-encoded ${reencoded}, differing ${notIdentical}`);
  for (const k of ['zipmap:9', 'ziplist:10', 'intset:11', 'ziplist:12', 'ziplist:13', 'ziplist:14',
    'listpack:16', 'listpack:17', 'listpack:18', 'listpack:20']) {
    tt.ok((stats[k] ?? 0) > 0, `at least one real ${k} blob checked`);
  }
});

/** Our decoded elements in the manifest's JSON shape (bytes as base64). */
function normalise(type: string, elems: Elem[]): unknown {
  switch (type) {
    case 'list':
      return elems.map(b64);
    case 'set':
      return elems.map((e) => Buffer.from(elemToBytes(e))).sort(Buffer.compare).map((b) => b.toString('base64'));
    case 'hash': {
      const pairs: [Buffer, Buffer][] = [];
      for (let i = 0; i < elems.length; i += 2) {
        pairs.push([Buffer.from(elemToBytes(elems[i]!)), Buffer.from(elemToBytes(elems[i + 1]!))]);
      }
      pairs.sort((a, b) => Buffer.compare(a[0], b[0]));
      return pairs.map(([f, v]) => [f.toString('base64'), v.toString('base64')]);
    }
    default: { // zset: member, score (an integer entry or the double's text), in ZRANGE order
      const out: [string, number][] = [];
      for (let i = 0; i < elems.length; i += 2) {
        const sc = elems[i + 1]!;
        out.push([b64(elems[i]!), typeof sc === 'object' ? parseScore(Buffer.from(sc).toString('latin1')) : Number(sc)]);
      }
      return out;
    }
  }
}

function parseScore(x: string): number {
  if (x === 'inf' || x === '+inf') return Infinity;
  if (x === '-inf') return -Infinity;
  return Number(x);
}

function manifestValue(type: string, value: Json): unknown {
  const arr = value as Json[];
  switch (type) {
    case 'list':
    case 'set':
      return arr.map((v) => jbytes(v).toString('base64'));
    case 'hash':
      return (arr as Json[][]).map(([f, v]) => [jbytes(f!).toString('base64'), jbytes(v!).toString('base64')]);
    default:
      return (arr as Json[][]).map(([m, sc]) => [jbytes(m!).toString('base64'),
        typeof sc === 'number' ? sc : parseScore(sc as string)]);
  }
}

t.test('the corrupt_ziplist asset', async (tt) => {
  // Redis's test asset, which Redis 7.4 refuses with "Hash ziplist integrity check failed": the
  // record of key:000000000091 has type 13 (hash ziplist) but its value is the 5-byte "xxxxx".
  const file = new Uint8Array(readFileSync(join(FIXTURES, 'redis-assets-corrupt_ziplist.rdb')));
  const bad = findRecord(file, 13, s('key:000000000091'));
  tt.ok(bad, 'found the type-13 record');
  const blob = bad!.blobs[0]!;
  tt.equal(Buffer.from(blob.bytes).toString('latin1'), 'xxxxx');
  const err = catchErr(() => ziplistValues(blob.bytes, blob.offset)) as CorruptError;
  tt.type(err, CorruptError);
  tt.equal(err.offset, blob.offset, 'offset of the blob start in the file');
  tt.type(catchErr(() => ziplistCount(blob.bytes, blob.offset)), CorruptError);
  // The quicklist in the same file is fine.
  const list = findRecord(file, 14, s('mylist'));
  tt.same(ziplistValues(list!.blobs[0]!.bytes).map(show), ['xxxxx', 'xxxxx', 'xxxxx', 'xxxxx', 'xxxxx']);
});
