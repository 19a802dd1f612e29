/**
 * RDB length and str writers (native-free-parser/encodings/length.ts) and canonical integers
 * (native-free-parser/encodings/int.ts), over the boundary lists of RDB-FORMAT.md §3.1-§3.2.
 */
import t from 'tap';
import { ByteWriter } from '../native-free-parser/bytes/byte-writer.js';
import { lenSize, writeLen, writeRdbString, writeRdbStringAscii } from '../native-free-parser/encodings/length.js';
import { int64ToAscii, parseCanonicalInt64 } from '../native-free-parser/encodings/int.js';
import { UnsupportedError } from '../native-free-parser/errors.js';
import { lzfDecompress } from '../native-free-parser/lzf.js';

const te = new TextEncoder();
const hex = (b: Uint8Array): string => Array.from(b, (x) => x.toString(16).padStart(2, '0')).join(' ');

function encLen(n: number | bigint, v?: number): string {
  const w = new ByteWriter(16);
  writeLen(w, n, v);
  return hex(w.view());
}

function encStr(s: string | Uint8Array, opts?: { compress?: boolean; intEncode?: boolean }): Uint8Array {
  const w = new ByteWriter(16);
  writeRdbString(w, typeof s === 'string' ? te.encode(s) : s, opts);
  return w.toBytes();
}

t.test('length boundaries: exact bytes and sizes', async (t) => {
  const cases: Array<[number | bigint, string]> = [
    [0, '00'],
    [1, '01'],
    [63, '3f'],
    [64, '40 40'],
    [300, '41 2c'],
    [16383, '7f ff'],
    [16384, '80 00 00 40 00'],
    [2 ** 32 - 1, '80 ff ff ff ff'],
    [2 ** 32, '81 00 00 00 01 00 00 00 00'],
    [Number.MAX_SAFE_INTEGER, '81 00 1f ff ff ff ff ff ff'],
    [2 ** 60, '81 10 00 00 00 00 00 00 00'],
    [63n, '3f'],
    [16384n, '80 00 00 40 00'],
    [2n ** 32n, '81 00 00 00 01 00 00 00 00'],
    [2n ** 64n - 1n, '81 ff ff ff ff ff ff ff ff'], // e.g. a stream group's entries_read = -1
  ];
  for (const [n, want] of cases) {
    t.equal(encLen(n), want, `writeLen(${n})`);
    t.equal(lenSize(n), want.split(' ').length, `lenSize(${n})`);
  }
});

t.test('64-bit lengths need RDB >= 8', async (t) => {
  t.equal(encLen(2 ** 32 - 1, 7), '80 ff ff ff ff', 'u32 max is fine for RDB 7');
  t.equal(encLen(2 ** 32, 8), '81 00 00 00 01 00 00 00 00');
  for (const n of [2 ** 32, 2n ** 40n]) {
    const w = new ByteWriter();
    w.u8(0xfe);
    t.throws(() => writeLen(w, n, 7), UnsupportedError, `writeLen(${n}, 7)`);
    try {
      writeLen(w, n, 6);
    } catch (e) {
      t.equal((e as UnsupportedError).offset, 1, 'offset is the writer position');
    }
    t.equal(w.length, 1, 'nothing written');
  }
});

t.test('invalid lengths are programming errors', async (t) => {
  const w = new ByteWriter();
  for (const n of [-1, 1.5, NaN, Infinity, -1n, 2n ** 64n]) t.throws(() => writeLen(w, n), RangeError, `writeLen(${n})`);
});

t.test('parseCanonicalInt64 boundary list', async (t) => {
  const cases: Array<[string, number | bigint | null]> = [
    ['', null],
    ['-', null],
    ['0', 0],
    ['-0', null],
    ['+1', null],
    ['007', null],
    ['00', null],
    [' 1', null],
    ['1 ', null],
    ['1.0', null],
    ['1e3', null],
    ['127', 127],
    ['128', 128],
    ['-128', -128],
    ['-129', -129],
    ['32767', 32767],
    ['32768', 32768],
    ['-32768', -32768],
    ['2147483647', 2147483647],
    ['2147483648', 2147483648],
    ['-2147483648', -2147483648],
    ['12345678901', 12345678901],
    ['999999999999999', 999999999999999], // 15 digits
    ['1000000000000000', 1000000000000000], // 16 digits
    ['9007199254740991', Number.MAX_SAFE_INTEGER],
    ['-9007199254740991', -Number.MAX_SAFE_INTEGER],
    ['9007199254740992', 9007199254740992n],
    ['-9007199254740992', -9007199254740992n],
    ['9223372036854775807', 9223372036854775807n],
    ['-9223372036854775808', -9223372036854775808n],
    ['9223372036854775808', null],
    ['-9223372036854775809', null],
    ['10000000000000000000', null],
    ['123456789012345678901', null],
  ];
  for (const [s, want] of cases) t.equal(parseCanonicalInt64(te.encode(s)), want, JSON.stringify(s));
  // A sub-range of a larger buffer.
  const b = te.encode('xx-42yy');
  t.equal(parseCanonicalInt64(b, 2, 5), -42);
  t.equal(parseCanonicalInt64(b, 2, 2), null);
});

t.test('int64ToAscii', async (t) => {
  const dec = (b: Uint8Array): string => new TextDecoder().decode(b);
  t.equal(dec(int64ToAscii(0)), '0');
  t.equal(dec(int64ToAscii(-0)), '0');
  t.equal(dec(int64ToAscii(-128)), '-128');
  t.equal(dec(int64ToAscii(Number.MAX_SAFE_INTEGER)), '9007199254740991');
  t.equal(dec(int64ToAscii(2 ** 62)), '4611686018427387904');
  t.equal(dec(int64ToAscii(9223372036854775807n)), '9223372036854775807');
  t.equal(dec(int64ToAscii(-9223372036854775808n)), '-9223372036854775808');
  t.throws(() => int64ToAscii(1.5), RangeError);
  t.throws(() => int64ToAscii(2 ** 63), RangeError);
  t.throws(() => int64ToAscii(2n ** 63n), RangeError);
  // Round trip through the parser.
  for (const v of [0, 1, -1, 127, -129, 2 ** 31, -(2 ** 53) + 1, 2n ** 60n, -(2n ** 63n)]) {
    t.equal(parseCanonicalInt64(int64ToAscii(v)), v, `round trip ${v}`);
  }
});

t.test('writeRdbString: integer encoding follows rdbSaveRawString', async (t) => {
  const cases: Array<[string, string]> = [
    ['', '00'],
    ['0', 'c0 00'],
    ['-0', '02 2d 30'],
    ['+1', '02 2b 31'],
    ['007', '03 30 30 37'],
    ['127', 'c0 7f'],
    ['128', 'c1 80 00'],
    ['-128', 'c0 80'],
    ['-129', 'c1 7f ff'],
    ['32767', 'c1 ff 7f'],
    ['32768', 'c2 00 80 00 00'],
    ['-32768', 'c1 00 80'],
    ['1234567', 'c2 87 d6 12 00'], // as in the DUMP of 1234567 (RDB-FORMAT.md §8)
    ['2147483647', 'c2 ff ff ff 7f'],
    ['2147483648', '0a 32 31 34 37 34 38 33 36 34 38'],
    ['-2147483648', 'c2 00 00 00 80'],
    ['12345678901', '0b 31 32 33 34 35 36 37 38 39 30 31'],
    ['9223372036854775807', '13 39 32 32 33 33 37 32 30 33 36 38 35 34 37 37 35 38 30 37'],
    ['9223372036854775808', '13 39 32 32 33 33 37 32 30 33 36 38 35 34 37 37 35 38 30 38'],
    ['hello', '05 68 65 6c 6c 6f'],
  ];
  for (const [s, want] of cases) t.equal(hex(encStr(s)), want, JSON.stringify(s));
  t.equal(hex(encStr('127', { intEncode: false })), '03 31 32 37', 'intEncode: false keeps text');
});

t.test('writeRdbString: LZF only when asked, > 20 bytes and worth it', async (t) => {
  const long = te.encode('ab'.repeat(25));
  t.equal(encStr(long)[0], 50, 'compress defaults to off');
  const packed = encStr(long, { compress: true });
  t.equal(packed[0], 0xc3);
  const clen = packed[1]!;
  t.equal(packed[2], 50, 'ulen');
  t.equal(packed.length, 3 + clen);
  t.same(lzfDecompress(packed.subarray(3), 50), long);

  const twenty = te.encode('a'.repeat(20));
  t.equal(hex(encStr(twenty, { compress: true }).subarray(0, 1)), '14', '20 bytes: never compressed');
  const twentyOne = te.encode('a'.repeat(21));
  t.equal(encStr(twentyOne, { compress: true })[0], 0xc3, '21 bytes: compressed');
  const noisy = Uint8Array.from({ length: 64 }, (_, i) => (i * 167 + 13) & 0xff);
  t.equal(encStr(noisy, { compress: true })[0], 64, 'incompressible: raw');
  // 2-byte length forms inside an LZF str.
  const big = new Uint8Array(20000);
  const z = encStr(big, { compress: true });
  t.equal(hex(z.subarray(0, 1)), 'c3');
  t.equal(z[1]! >> 6, 1, 'clen in the 14-bit form');
  t.equal(hex(z.subarray(3, 8)), '80 00 00 4e 20', 'ulen 20000 in the 32-bit form');
  t.same(lzfDecompress(z.subarray(8), 20000), big);
  // Integer encoding wins over compression, as in Redis.
  t.equal(hex(encStr('-1', { compress: true })), 'c0 ff');
});

t.test('writeRdbStringAscii', async (t) => {
  const enc = (s: string, opts?: { compress?: boolean; intEncode?: boolean }): string => {
    const w = new ByteWriter();
    writeRdbStringAscii(w, s, opts);
    return hex(w.view());
  };
  t.equal(enc('redis-bits'), '0a 72 65 64 69 73 2d 62 69 74 73');
  t.equal(enc('64'), 'c0 40', 'aux value "64" is integer-encoded, as Redis writes it');
  t.equal(enc('64', { intEncode: false }), '02 36 34');
  t.equal(enc('7.0.15'), '06 37 2e 30 2e 31 35');
  t.equal(enc('a'.repeat(30)).slice(0, 2), '1e', 'long text, no compression by default');
  t.equal(enc('a'.repeat(30), { compress: true }).slice(0, 2), 'c3');
  t.throws(() => enc('ü'), RangeError);
  t.throws(() => enc('ü'.repeat(20)), RangeError);
});
