/**
 * CRC-64/Jones (native-free-parser/crc64.ts): published check values, real DUMP footers from
 * redis-server 7.0.15 (RDB-FORMAT.md §8), chunking invariance, and a bit-at-a-time BigInt
 * reference implementation of the definition (§10.1) over random buffers.
 */
import t from 'tap';
import { Crc64, crc64, crc64Hex, crc64WasmAvailable } from '../native-free-parser/crc64.js';

const te = new TextEncoder();
const hex = (s: string): Uint8Array => Uint8Array.from(s.split(' ').map((x) => parseInt(x, 16)));

/** The definition, one bit at a time: reflected polynomial, init 0, xorout 0. */
function referenceCrc(b: Uint8Array): bigint {
  const poly = 0x95ac9329ac4bc9b5n;
  let crc = 0n;
  for (const x of b) {
    crc ^= BigInt(x);
    for (let k = 0; k < 8; k++) crc = crc & 1n ? (crc >> 1n) ^ poly : crc >> 1n;
  }
  return crc;
}

/** Deterministic pseudo-random bytes (xorshift32). */
function randomBytes(n: number, seed: number): Uint8Array {
  const out = new Uint8Array(n);
  let x = seed | 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x;
  }
  return out;
}

const LOREM =
  'Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor incididunt ut ' +
  'labore et dolore magna aliqua. Ut enim ad minim veniam, quis nostrud exercitation ullamco laboris ' +
  'nisi ut aliquip ex ea commodo consequat. Duis aute irure dolor in reprehenderit in voluptate velit ' +
  'esse cillum dolore eu fugiat nulla pariatur. Excepteur sint occaecat cupidatat non proident, sunt ' +
  'in culpa qui officia deserunt mollit anim id est laborum.';

t.test('check value of the catalogue: "123456789"', async (t) => {
  const c = crc64(te.encode('123456789'));
  t.equal(c.toBigInt(), 0xe9c6d914c4b8d9can);
  t.equal(c.hi, 0xe9c6d914);
  t.equal(c.lo, 0xc4b8d9ca);
  t.equal(crc64Hex(te.encode('123456789')), 'e9c6d914c4b8d9ca');
});

t.test('empty input gives 0', async (t) => {
  t.equal(crc64(new Uint8Array(0)).toBigInt(), 0n);
  t.equal(crc64Hex(new Uint8Array(0)), '0000000000000000');
});

t.test('redis crc64Test Lorem ipsum vector (446 bytes with the trailing NUL)', async (t) => {
  const text = te.encode(LOREM + '\0');
  t.equal(text.length, 446);
  t.equal(crc64(text).toBigInt(), 0xc7794709e69683b3n);
});

t.test('DUMP payload footers from redis-server 7.0.15', async (t) => {
  const cases: Array<[string, string]> = [
    ['00 05 68 65 6c 6c 6f 0a 00', '63 72 df 76 65 34 20 0a'], // DUMP of "hello"
    ['00 c2 87 d6 12 00 0a 00', 'e9 3e 1e 36 2b 3b 7c 5e'], // DUMP of 1234567
    ['00 05 68 65 6c 6c 6f 0c 00', 'a8 04 eb b6 9f 1e be 43'], // "hello" with version 12
  ];
  for (const [body, footer] of cases) {
    const c = crc64(hex(body));
    t.same(c.digestBytes(), hex(footer), `digest of ${body}`);
    t.ok(c.equalsBytes(hex(footer)), 'equalsBytes at 0');
    // digestInto at an offset, as replay writes the footer after the 2-byte version.
    const into = new Uint8Array(11).fill(0xee);
    c.digestInto(into, 2);
    t.same(into, new Uint8Array([0xee, 0xee, ...hex(footer), 0xee]), 'digestInto at offset 2, nothing else touched');
    // equalsBytes at an offset, as when checking the last 8 bytes of a payload in place.
    const payload = new Uint8Array([...hex(body), ...hex(footer)]);
    t.ok(crc64(payload, 0, payload.length - 8).equalsBytes(payload, payload.length - 8));
    const bad = payload.slice();
    bad[bad.length - 1]! ^= 1;
    t.notOk(crc64(bad, 0, bad.length - 8).equalsBytes(bad, bad.length - 8), 'flipped bit detected');
  }
});

t.test('equalsBytes with fewer than 8 bytes is false', async (t) => {
  const c = crc64(te.encode('x'));
  t.notOk(c.equalsBytes(c.digestBytes().subarray(0, 7)));
  t.notOk(c.equalsBytes(c.digestBytes(), 1));
  t.notOk(c.equalsBytes(c.digestBytes(), -1));
});

t.test('matches the bitwise reference on random buffers of 0..300 bytes', async (t) => {
  let bad = 0;
  for (let n = 0; n <= 300; n++) {
    const b = randomBytes(n, 0x1234 + n);
    if (crc64(b).toBigInt() !== referenceCrc(b)) bad++;
  }
  t.equal(bad, 0, 'no length disagrees');
});

t.test('matches the reference on long inputs, at every alignment of the start', async (t) => {
  // Long enough for the word path (and from 2048 bytes on, the WebAssembly step); the offsets
  // exercise the alignment prologue.
  const big = randomBytes(5000, 99);
  for (let off = 0; off < 8; off++) {
    const view = big.subarray(off, off + 2000 + off * 300);
    t.equal(crc64(view).toBigInt(), referenceCrc(view), `byteOffset ${off}`);
    t.equal(crc64(big, off, off + 2000 + off * 300).toBigInt(), referenceCrc(view), `start ${off}`);
  }
});

t.test('incremental updates split at every position equal a one-shot', async (t) => {
  for (const n of [0, 1, 7, 8, 9, 63, 64, 65, 200, 700]) {
    const b = randomBytes(n, 7 * n + 3);
    const whole = crc64(b).toBigInt();
    let bad = 0;
    for (let cut = 0; cut <= n; cut++) {
      const c = new Crc64();
      c.update(b, 0, cut);
      c.update(b, cut);
      if (c.toBigInt() !== whole) bad++;
    }
    t.equal(bad, 0, `length ${n}: every split agrees`);
  }
  // Many small chunks of uneven sizes.
  const b = randomBytes(4096, 5);
  const c = new Crc64();
  for (let i = 0, step = 1; i < b.length; i += step, step = (step * 7 + 3) % 97) c.update(b, i, Math.min(b.length, i + step));
  t.equal(c.toBigInt(), referenceCrc(b));
});

t.test('reset starts over; digest is little-endian of toBigInt', async (t) => {
  const c = new Crc64();
  c.update(te.encode('something else'));
  c.reset();
  c.update(te.encode('123456789'));
  t.equal(c.toBigInt(), 0xe9c6d914c4b8d9can);
  t.same(c.digestBytes(), hex('ca d9 b8 c4 14 d9 c6 e9'));
});

t.test('a range outside the buffer is refused', async (t) => {
  const c = new Crc64();
  t.throws(() => c.update(new Uint8Array(4), 0, 5), RangeError);
  t.throws(() => c.update(new Uint8Array(4), 3, 2), RangeError);
  t.throws(() => c.update(new Uint8Array(4), -1), RangeError);
});

t.test('append: the CRC of two parts combined equals the CRC of the whole', async (t) => {
  let seed = 99;
  const bytes = (n: number): Uint8Array => randomBytes(n, seed++);
  let r = 7;
  const rnd = (): number => (r = (r * 1103515245 + 12345) >>> 0) >>> 8;
  const lengths = [0, 1, 7, 8, 9, 255, 4096, 65537, 1 << 20];
  for (const a of lengths) {
    for (const b of lengths) {
      const x = bytes(a);
      const y = bytes(b);
      const whole = new Uint8Array(a + b);
      whole.set(x, 0);
      whole.set(y, a);
      const c = crc64(x);
      const cy = crc64(y);
      c.append(cy.lo, cy.hi, b);
      t.equal(c.toBigInt(), crc64(whole).toBigInt(), `${a} + ${b} bytes`);
    }
  }
  // Many parts, as the parallel memory scan combines its spans.
  const all = bytes(200_003);
  const total = crc64(all.subarray(0, 9));
  for (let at = 9; at < all.length; ) {
    const end = Math.min(all.length, at + 1 + (rnd() % 9000));
    const part = crc64(all, at, end);
    total.append(part.lo, part.hi, end - at);
    at = end;
  }
  t.equal(total.toBigInt(), crc64(all).toBigInt(), '200,003 bytes in random parts');
  t.throws(() => new Crc64().append(0, 0, -1), RangeError, 'a negative length is refused');
});

t.test('long updates run in WebAssembly and give what the JavaScript step gives', (t) => {
  t.equal(crc64WasmAvailable(), true, 'the WebAssembly module loads');
  // xorshift bytes, cut into parts shorter than the WebAssembly threshold (the JavaScript step)
  // and fed whole (WebAssembly), at every alignment, across its 1 MiB copy chunks.
  const buf = randomBytes(3 * 1024 * 1024 + 21, 0x2545f491);
  for (const len of [2048, 2049, 4095, 65543, 1024 * 1024, 1024 * 1024 + 1, buf.length - 8]) {
    for (const off of [0, 1, 3, 7]) {
      const whole = new Crc64();
      whole.update(buf, off, off + len);
      const parts = new Crc64();
      for (let at = off; at < off + len; at += 1000) parts.update(buf, at, Math.min(off + len, at + 1000));
      t.equal(whole.toBigInt(), parts.toBigInt(), `${len} bytes at +${off}`);
    }
  }
  // A register carried in: a short update, then a long one.
  const a = new Crc64();
  a.update(buf, 0, 100);
  a.update(buf, 100, 500_000);
  t.equal(a.toBigInt(), crc64(buf, 0, 500_000).toBigInt(), 'a register carried into the module');
  t.end();
});
