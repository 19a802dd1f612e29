/**
 * ByteWriter (native-free-parser/bytes/byte-writer.ts): exact bytes and byte order of every
 * method, growth across the initial capacity, patching, views and copies.
 */
import t from 'tap';
import { ByteWriter } from '../native-free-parser/bytes/byte-writer.js';

const hex = (b: Uint8Array): string => Array.from(b, (x) => x.toString(16).padStart(2, '0')).join(' ');

t.test('fixed-width integers and their byte order', async (t) => {
  const w = new ByteWriter(16);
  w.u8(0xab);
  w.u8(0x1ff); // low 8 bits
  t.equal(hex(w.view()), 'ab ff');
  w.reset();
  w.u16le(0x1234);
  w.u32le(0x89abcdef);
  w.u32be(0x89abcdef);
  t.equal(hex(w.view()), '34 12 ef cd ab 89 89 ab cd ef');
  w.reset();
  w.u64le(0x44332211, 0x88776655);
  t.equal(hex(w.view()), '11 22 33 44 55 66 77 88');
  w.reset();
  w.u64beBig(0x0102030405060708n);
  w.u64beBig(2n ** 64n - 1n);
  t.equal(hex(w.view()), '01 02 03 04 05 06 07 08 ff ff ff ff ff ff ff ff');
  t.throws(() => w.u64beBig(-1n), RangeError);
  t.throws(() => w.u64beBig(2n ** 64n), RangeError);
});

t.test('i64le from numbers and bigints', async (t) => {
  const cases: Array<[number | bigint, string]> = [
    [0, '00 00 00 00 00 00 00 00'],
    [1, '01 00 00 00 00 00 00 00'],
    [-1, 'ff ff ff ff ff ff ff ff'],
    [0x1_0000_0000, '00 00 00 00 01 00 00 00'],
    [-0x1_0000_0000, '00 00 00 00 ff ff ff ff'],
    [Number.MAX_SAFE_INTEGER, 'ff ff ff ff ff ff 1f 00'],
    [Number.MIN_SAFE_INTEGER, '01 00 00 00 00 00 e0 ff'],
    [1700000000123, '7b 68 e5 cf 8b 01 00 00'], // a millisecond expiry time
    [2 ** 60, '00 00 00 00 00 00 00 10'], // exact double past 2^53
    [2n ** 63n - 1n, 'ff ff ff ff ff ff ff 7f'],
    [-(2n ** 63n), '00 00 00 00 00 00 00 80'],
    [-2n, 'fe ff ff ff ff ff ff ff'],
  ];
  for (const [v, want] of cases) {
    const w = new ByteWriter(8);
    w.i64le(v);
    t.equal(hex(w.view()), want, `i64le(${v})`);
  }
  const w = new ByteWriter();
  t.throws(() => w.i64le(1.5), RangeError);
  t.throws(() => w.i64le(NaN), RangeError);
  t.throws(() => w.i64le(2 ** 63), RangeError);
  t.throws(() => w.i64le(2n ** 63n), RangeError);
  t.equal(w.length, 0, 'nothing written by failed calls');
});

t.test('floats, little-endian', async (t) => {
  const w = new ByteWriter();
  w.f64le(1.5);
  w.f32le(-2);
  t.equal(hex(w.view()), '00 00 00 00 00 00 f8 3f 00 00 00 c0');
});

t.test('bytes and ascii', async (t) => {
  const w = new ByteWriter(4);
  const src = Uint8Array.from({ length: 100 }, (_, i) => i);
  w.bytes(src, 2, 5); // short copy
  w.bytes(src, 10, 40); // long copy through a subarray
  w.bytes(src); // whole array
  w.bytes(src, 7, 7); // nothing
  w.ascii('REDIS0011');
  const v = w.view();
  t.equal(v.length, 3 + 30 + 100 + 9);
  t.same(v.subarray(0, 3), src.subarray(2, 5));
  t.same(v.subarray(3, 33), src.subarray(10, 40));
  t.same(v.subarray(33, 133), src);
  t.equal(new TextDecoder().decode(v.subarray(133)), 'REDIS0011');
  t.throws(() => w.ascii('é'), RangeError);
});

t.test('grows by doubling and keeps earlier bytes; view vs copy; reset keeps the memory', async (t) => {
  const w = new ByteWriter(16);
  for (let i = 0; i < 100000; i++) w.u8(i & 0xff);
  w.u32le(0xdeadbeef);
  t.equal(w.length, 100004);
  let ok = true;
  const v = w.view();
  for (let i = 0; i < 100000; i++) if (v[i] !== (i & 0xff)) ok = false;
  t.ok(ok, 'all bytes survived the growth');
  const copy = w.toBytes();
  w.reset();
  t.equal(w.length, 0);
  w.u8(0x77);
  t.equal(copy[0], 0, 'toBytes is independent of later writes');
  t.equal(v[0], 0x77, 'view shares the buffer (valid only until the next write)');
  const big = new Uint8Array(1 << 20).fill(9);
  w.bytes(big); // one write far past the capacity
  t.equal(w.length, 1 + (1 << 20));
  t.equal(w.view()[w.length - 1], 9);
  w.ensure(10);
  t.equal(w.length, 1 + (1 << 20), 'ensure does not write');
});

t.test('setU32le / setU16le patch earlier positions', async (t) => {
  const w = new ByteWriter();
  w.u32le(0);
  w.u16le(0);
  w.u8(0xaa);
  w.setU32le(0, 0x01020304);
  w.setU16le(4, 0xbeef);
  t.equal(hex(w.view()), '04 03 02 01 ef be aa');
  t.throws(() => w.setU32le(4, 1), RangeError, 'past the written bytes');
  t.throws(() => w.setU16le(-1, 1), RangeError);
});

t.test('length can be set back to drop a partial record', async (t) => {
  const w = new ByteWriter();
  w.ascii('keep');
  const mark = w.length;
  w.ascii('drop');
  w.length = mark;
  w.ascii('!');
  t.equal(new TextDecoder().decode(w.view()), 'keep!');
});
