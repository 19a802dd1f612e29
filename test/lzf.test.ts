/**
 * LZF (native-free-parser/lzf.ts): round trips over many shapes and sizes, a hand-made stream,
 * every corrupt-stream error with its offset, and compatibility with a real redis-server in both
 * directions (its LZF from DUMP decodes here; our LZF inside a RESTORE payload loads there).
 */
import t from 'tap';
import { spawn } from 'node:child_process';
import { accessSync, constants as fsConstants, mkdtempSync, rmSync } from 'node:fs';
import { createServer, connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { lzfCompress, lzfDecompress, lzfDecompressScratch } from '../native-free-parser/lzf.js';
import { listpackWalk, listpackWalkPreloaded, lzfWalkListpack, lzfWasmAvailable, lzfWasmDecode, lzfWasmPreload } from '../native-free-parser/lzf-wasm.js';
import { listpackEncode } from '../native-free-parser/encodings/listpack.js';
import { listpackEntryStats } from '../src/report/memory.js';
import { CorruptError } from '../native-free-parser/errors.js';
import { crc64 } from '../native-free-parser/crc64.js';
import { ByteWriter } from '../native-free-parser/bytes/byte-writer.js';
import { writeRdbString } from '../native-free-parser/encodings/length.js';

const te = new TextEncoder();

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

/** A tiny array builder for hand-made streams. */
class StreamBuilder {
  private a: number[] = [];
  push(...b: number[]): void {
    for (const x of b) this.a.push(x);
  }
  bytes(): Uint8Array {
    return Uint8Array.from(this.a);
  }
}

/** Data shapes that stress different paths of the compressor. */
const SHAPES: Record<string, (n: number, seed: number) => Uint8Array> = {
  random: (n, seed) => randomBytes(n, seed),
  zeros: (n) => new Uint8Array(n),
  repetitive: (n, seed) => {
    const unit = randomBytes(1 + (seed % 13), seed);
    return Uint8Array.from({ length: n }, (_, i) => unit[i % unit.length]!);
  },
  text: (n, seed) => {
    const words = ['redis', 'key', 'value', 'the', 'quick', 'brown', 'fox', 'rdb', 'snapshot', 'merge', '\n'];
    const r = randomBytes(n, seed);
    let s = '';
    for (let i = 0; s.length < n; i++) s += words[r[i % r.length]! % words.length] + ' ';
    return te.encode(s.slice(0, n));
  },
  // Random data with repeats: 200-byte blocks copied from 5000 back (reachable) and 100-byte
  // blocks from 9000 back (beyond the 8192 window, so useless to LZF).
  blocks: (n, seed) => {
    const out = randomBytes(n, seed);
    for (let i = 9000; i + 700 < n; i += 1000) {
      out.copyWithin(i + 100, i - 5000, i - 4800);
      out.copyWithin(i + 500, i - 9000, i - 8900);
    }
    return out;
  },
};

/** Checks the stream is standard LZF: literal runs 1..32, distances 1..8192, matches 3..264. */
function checkStreamShape(c: Uint8Array): string | null {
  let ip = 0;
  while (ip < c.length) {
    const ctl = c[ip++]!;
    if (ctl < 32) {
      ip += ctl + 1;
      if (ip > c.length) return 'literal overruns';
    } else {
      let len = ctl >>> 5;
      if (len === 7) len += c[ip++]!;
      if (len + 2 > 264) return 'match too long';
      ip++;
      if (ip > c.length) return 'reference overruns';
    }
  }
  return null;
}

t.test('round trips at lengths 0..1000 for every shape', async (t) => {
  for (const [name, make] of Object.entries(SHAPES)) {
    let failures = 0;
    let compressed = 0;
    for (let n = 0; n <= 1000; n++) {
      const src = make(n, n + 1);
      const c = lzfCompress(src);
      if (n <= 4 && c !== null) failures++;
      if (c === null) continue;
      compressed++;
      if (c.length > n - 4) failures++;
      if (checkStreamShape(c) !== null) failures++;
      const back = lzfDecompress(c, n);
      if (back.length !== n || Buffer.compare(back, src) !== 0) failures++;
    }
    t.equal(failures, 0, `${name}: all round trips exact, all outputs at least 4 bytes smaller`);
    if (name === 'random' || name === 'blocks') t.equal(compressed, 0, `${name}: random below 9000 bytes, never compresses enough`);
    else t.ok(compressed > 900, `${name}: compresses (${compressed} of 1001 lengths)`);
  }
});

t.test('round trips of 1 MiB inputs', async (t) => {
  const n = 1 << 20;
  for (const [name, make] of Object.entries(SHAPES)) {
    const src = make(n, 42);
    const c = lzfCompress(src);
    if (name === 'random') {
      t.equal(c, null, 'random 1 MiB does not compress');
      continue;
    }
    if (c === null) {
      t.fail(`${name} should compress`);
      continue;
    }
    t.equal(checkStreamShape(c), null, `${name}: standard stream`);
    t.ok(Buffer.compare(lzfDecompress(c, n), src) === 0, `${name}: ${n} -> ${c.length} -> ${n}`);
    if (name === 'blocks') t.ok(c.length < n * 0.85, `blocks: the repeats within reach pack (${c.length} bytes)`);
  }
  // All zeros: every reference is the maximum 264 bytes, 3 bytes each.
  const z = lzfCompress(new Uint8Array(n))!;
  t.ok(z.length < n / 80, `1 MiB of zeros packs to ${z.length} bytes`);
});

t.test('compression is deterministic (no state leaks between calls)', async (t) => {
  const a = SHAPES.text!(5000, 3);
  const first = lzfCompress(a)!;
  lzfCompress(SHAPES.blocks!(100000, 9)); // fill the shared hash table with other positions
  lzfCompress(a.subarray(17));
  t.same(lzfCompress(a), first);
});

t.test('known vector: 41 times "a"', async (t) => {
  const src = te.encode('a'.repeat(41));
  const c = lzfCompress(src);
  // One literal "a", then a distance-1 reference copying the other 40 bytes (len 38 = 7 + 31).
  t.same(c, Uint8Array.from([0x00, 0x61, 0xe0, 31, 0x00]));
  t.same(lzfDecompress(c!, 41), src);
});

t.test('hand-made stream: literals, overlapping and long references', async (t) => {
  const stream = Uint8Array.from([
    0x02, 0x61, 0x62, 0x63, // literal "abc"
    0x20, 0x02, // len 1+2 = 3, distance 3: "abc"
    0x40, 0x00, // len 2+2 = 4, distance 1: "cccc" (overlapping)
    0xe0, 0x01, 0x09, // len 7+1+2 = 10, distance 10: the 10 bytes so far
    0x00, 0x7a, // literal "z"
  ]);
  const want = te.encode('abcabccccc' + 'abcabccccc' + 'z');
  t.same(lzfDecompress(stream, want.length), want);
});

t.test('maximum distance (8192) and maximum match (264)', async (t) => {
  const src = new Uint8Array(8192 + 264);
  src.set(randomBytes(8192, 77));
  src.copyWithin(8192, 0, 264);
  const c = lzfCompress(src)!;
  t.ok(c !== null);
  t.same(lzfDecompress(c, src.length), src);
  // Hand-made, to check the decoder's reading of the largest fields: 8192 literal bytes, then
  // `ff ff ff` = length 7 + 255 + 2 = 264, distance (0x1f << 8 | 0xff) + 1 = 8192.
  const lit = Uint8Array.from({ length: 8192 }, (_, i) => i & 0xff);
  const s = new StreamBuilder();
  for (let i = 0; i < 8192; i += 32) s.push(31, ...lit.subarray(i, i + 32));
  s.push(0xff, 0xff, 0xff);
  const out = lzfDecompress(s.bytes(), 8192 + 264);
  t.same(out.subarray(8192), lit.subarray(0, 264));
});

t.test('every copy strategy (byte loop, fill, one copyWithin, doubling) matches the definition', async (t) => {
  let bad = 0;
  for (let d = 1; d <= 64; d++) {
    for (const len of [3, 8, 31, 32, 33, 63, 64, 100, 200, 264]) {
      const prefix = randomBytes(d, d * 31 + len);
      const s = new StreamBuilder();
      for (let i = 0; i < d; i += 32) {
        const run = prefix.subarray(i, Math.min(d, i + 32));
        s.push(run.length - 1, ...run);
      }
      const code = len - 2;
      const dist = d - 1;
      if (code < 7) s.push((code << 5) | (dist >> 8), dist & 0xff);
      else s.push((7 << 5) | (dist >> 8), code - 7, dist & 0xff);
      // The definition: copy byte by byte from d back.
      const want = new Uint8Array(d + len);
      want.set(prefix);
      for (let i = d; i < d + len; i++) want[i] = want[i - d]!;
      if (Buffer.compare(lzfDecompress(s.bytes(), d + len), want) !== 0) bad++;
    }
  }
  t.equal(bad, 0);
});

t.test('corrupt streams raise CorruptError at the right offset', async (t) => {
  const base = 1000;
  const cases: Array<{ name: string; src: number[]; ulen: number; offset: number; expected: RegExp }> = [
    { name: 'reference before output start', src: [0x00, 0x61, 0x20, 0x01], ulen: 4, offset: 2, expected: /back-reference within output/ },
    { name: 'reference as first instruction', src: [0x20, 0x00], ulen: 3, offset: 0, expected: /back-reference within output/ },
    { name: 'literal overruns output', src: [0x03, 0x61, 0x62, 0x63, 0x64], ulen: 3, offset: 0, expected: /output of exactly 3 bytes/ },
    { name: 'reference overruns output', src: [0x00, 0x61, 0x40, 0x00], ulen: 4, offset: 2, expected: /output of exactly 4 bytes/ },
    { name: 'literal overruns input', src: [0x00, 0x61, 0x05, 0x62], ulen: 8, offset: 2, expected: /literal run of 6 bytes within input/ },
    { name: 'reference misses its offset byte', src: [0x00, 0x61, 0x20], ulen: 4, offset: 2, expected: /offset byte within input/ },
    { name: 'long reference misses its length byte', src: [0x00, 0x61, 0xe0], ulen: 20, offset: 2, expected: /length byte within input/ },
    { name: 'long reference misses its offset byte', src: [0x00, 0x61, 0xe0, 0x00], ulen: 20, offset: 2, expected: /offset byte within input/ },
    { name: 'output shorter than ulen', src: [0x01, 0x61, 0x62], ulen: 3, offset: 3, expected: /output of exactly 3 bytes/ },
    { name: 'empty stream, nonzero ulen', src: [], ulen: 1, offset: 0, expected: /output of exactly 1 bytes/ },
    { name: 'ulen beyond any possible expansion', src: [0x00, 0x61], ulen: 1 << 30, offset: 0, expected: /output of exactly 1073741824 bytes/ },
    { name: 'negative ulen', src: [0x00, 0x61], ulen: -1, offset: 0, expected: /output of exactly -1 bytes/ },
  ];
  for (const c of cases) {
    try {
      lzfDecompress(Uint8Array.from(c.src), c.ulen, base);
      t.fail(`${c.name}: no error`);
    } catch (e) {
      t.ok(e instanceof CorruptError, `${c.name}: CorruptError`);
      const err = e as CorruptError;
      t.equal(err.offset, base + c.offset, `${c.name}: offset`);
      t.match(err.expected, c.expected, `${c.name}: expected`);
    }
  }
  t.same(lzfDecompress(new Uint8Array(0), 0), new Uint8Array(0), 'empty stream, ulen 0');
});

t.test('truncating or damaging a valid stream never escapes as anything but CorruptError', async (t) => {
  const src = SHAPES.text!(3000, 11);
  const c = lzfCompress(src)!;
  let other = 0;
  for (let cut = 0; cut < c.length; cut++) {
    try {
      lzfDecompress(c.subarray(0, cut), src.length);
      other++; // a cut stream cannot produce all of src
    } catch (e) {
      if (!(e instanceof CorruptError)) other++;
    }
  }
  const r = randomBytes(c.length * 4, 5);
  for (let k = 0; k < 2000; k++) {
    const d = c.slice();
    d[r[k]! % d.length] ^= 1 << (r[k + 1]! & 7);
    try {
      lzfDecompress(d, src.length);
    } catch (e) {
      if (!(e instanceof CorruptError)) other++;
    }
  }
  t.equal(other, 0);
});

// ---- the WebAssembly decoder (lzf-wasm.ts) ---------------------------------------------------

/** The JavaScript decoder's answer: the bytes, or null when it throws (a CorruptError). */
function jsDecode(c: Uint8Array, ulen: number): Uint8Array | null {
  try {
    return lzfDecompress(c, ulen);
  } catch (e) {
    if (!(e instanceof CorruptError)) throw e;
    return null;
  }
}

t.test('the WebAssembly decoder gives the JavaScript decoder\'s bytes on every shape and length', async (t) => {
  t.ok(lzfWasmAvailable(), 'WebAssembly runs here');
  let compared = 0;
  let mismatched = 0;
  for (const [shape, gen] of Object.entries(SHAPES)) {
    for (const n of [1, 2, 7, 8, 9, 31, 32, 33, 63, 100, 264, 265, 1000, 4096, 8193, 20000, 70000]) {
      const src = gen(n, n + shape.length);
      const c = lzfCompress(src);
      if (c === null) continue;
      // Decode from the middle of a bigger buffer, as the reader does.
      const padded = new Uint8Array(c.length + 10);
      padded.set(c, 5);
      const out = lzfWasmDecode(padded, 5, 5 + c.length, n);
      compared++;
      if (out === null || Buffer.compare(Buffer.from(out), Buffer.from(src)) !== 0) mismatched++;
    }
  }
  t.ok(compared > 30, `${compared} streams decoded (random data does not compress)`);
  t.equal(mismatched, 0, 'every one equal to its input');
});

t.test('the WebAssembly decoder refuses exactly the streams the JavaScript decoder refuses', async (t) => {
  const src = SHAPES.text!(3000, 11);
  const c = lzfCompress(src)!;
  let disagree = 0;
  let refused = 0;
  const check = (d: Uint8Array, ulen: number): void => {
    const js = jsDecode(d, ulen);
    const wasm = lzfWasmDecode(d, 0, d.length, ulen);
    if (js === null) refused++;
    if ((js === null) !== (wasm === null) || (js !== null && Buffer.compare(Buffer.from(js), Buffer.from(wasm!)) !== 0)) disagree++;
  };
  for (let cut = 0; cut < c.length; cut++) check(c.subarray(0, cut), src.length);
  for (const ulen of [0, 1, src.length - 1, src.length + 1, src.length * 2]) check(c, ulen);
  const r = randomBytes(c.length * 4, 5);
  for (let k = 0; k < 3000; k++) {
    const d = c.slice();
    d[r[k]! % d.length] ^= 1 << (r[k + 1]! & 7);
    check(d, src.length);
  }
  // Hand-made: a reference before the output start, a literal past the input, a reference past ulen.
  check(Uint8Array.from([0x20, 0x00]), 3);
  check(Uint8Array.from([0x03, 0x61]), 4);
  check(Uint8Array.from([0x00, 0x61, 0xe0, 0x10, 0x00]), 20);
  t.ok(refused > 100, `${refused} damaged streams refused by both`);
  t.equal(disagree, 0, 'the two decoders never disagree');
  // After refusals, the decoder still decodes (no state left behind).
  t.same(lzfWasmDecode(c, 0, c.length, src.length), src);
});

t.test('a preloaded buffer: its streams decode in place, other arrays still decode, listpacks walk in place', async (t) => {
  // One buffer holding many compressed streams and raw listpacks, as a span of records does.
  const parts: Array<{ at: number; clen: number; src: Uint8Array }> = [];
  const lps: Array<{ at: number; lp: Uint8Array; count: number }> = [];
  const buf = new Uint8Array(400_000);
  let at = 3;
  for (let i = 0; at < 350_000; i++) {
    const src = SHAPES.text!(50 + ((i * 977) % 9000), i);
    const c = lzfCompress(src)!;
    buf.set(c, at);
    parts.push({ at, clen: c.length, src });
    at += c.length + (i % 5);
    const values = Array.from({ length: 1 + (i % 40) }, (_, j) => (j % 3 === 0 ? j * 1000 - 7 : te.encode(`v${j}`.repeat(1 + (j % 9)))));
    const lp = listpackEncode(values);
    buf.set(lp, at);
    lps.push({ at, lp, count: values.length });
    at += lp.length + 1;
  }
  lzfWasmPreload(buf);
  let bad = 0;
  const other = SHAPES.text!(3000, 1);
  const oc = lzfCompress(other)!;
  for (const [k, p] of parts.entries()) {
    const out = lzfWasmDecode(buf, p.at, p.at + p.clen, p.src.length);
    if (out === null || Buffer.compare(Buffer.from(out), Buffer.from(p.src)) !== 0) bad++;
    if (k % 7 === 0) {
      // Another array in between: decoded after the preloaded one, which stays in place.
      const o = lzfWasmDecode(oc, 0, oc.length, other.length);
      if (o === null || Buffer.compare(Buffer.from(o), Buffer.from(other)) !== 0) bad++;
    }
  }
  t.equal(bad, 0, `${parts.length} streams of the preloaded buffer and ${Math.ceil(parts.length / 7)} of another array decoded`);
  let walkedBad = 0;
  for (const l of lps) {
    const n = listpackWalkPreloaded(buf, l.at, l.at + l.lp.length);
    const js = listpackEntryStats(l.lp);
    if (n !== js.count || n !== l.count || listpackWalk.largest !== js.largest || listpackWalk.maxEven !== js.maxEven || listpackWalk.maxOdd !== js.maxOdd) walkedBad++;
  }
  t.equal(walkedBad, 0, `${lps.length} listpacks walked in place as the JavaScript walk does`);
  t.equal(listpackWalkPreloaded(other, 0, 10), -1, 'an array not preloaded is declined');
  lzfWasmPreload(null);
  t.equal(listpackWalkPreloaded(buf, lps[0]!.at, lps[0]!.at + lps[0]!.lp.length), -1, 'forgotten after null');
  const huge = new Uint8Array(9 * 1024 * 1024);
  huge.set(lps[0]!.lp, 0);
  lzfWasmPreload(huge);
  t.equal(listpackWalkPreloaded(huge, 0, lps[0]!.lp.length), -1, 'an array over 8 MiB is not preloaded');
  lzfWasmPreload(null);
});

t.test('the WebAssembly module takes values up to 1 MiB: bigger ones, or a hostile length, go to JavaScript', async (t) => {
  const big = SHAPES.text!(2 * 1024 * 1024, 9);
  const c = lzfCompress(big)!;
  t.equal(lzfWasmDecode(c, 0, c.length, big.length), null, 'a 2 MiB value is declined');
  t.same(lzfDecompress(c, big.length), big, 'and decoded by the JavaScript decoder');
  const small = lzfCompress(SHAPES.text!(1000, 2))!;
  t.equal(lzfWalkListpack(small, 0, small.length, 1 << 30), -1, 'a listpack claiming 1 GiB is declined without growing the module');
  t.equal(lzfWalkListpack(small, 0, small.length, 2 * 1024 * 1024), -1, 'and one claiming 2 MiB');
});

t.test('lzfDecompressScratch (WebAssembly first) reports the JavaScript decoder\'s errors', async (t) => {
  const src = SHAPES.text!(2000, 3);
  const c = lzfCompress(src)!;
  t.same(lzfDecompressScratch(c, 0, c.length, src.length).subarray(0, src.length), src, 'a sound stream decodes');
  const d = c.slice(0, c.length - 3);
  let jsMessage = '';
  try {
    lzfDecompress(d, src.length, 100);
  } catch (e) {
    jsMessage = (e as Error).message;
  }
  t.throws(() => lzfDecompressScratch(d, 0, d.length, src.length, 100), { name: 'CorruptError', message: jsMessage }, 'the same error, offset included');
});

// ---- real redis-server ---------------------------------------------------------------------

function onPath(name: string): boolean {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (dir === '') continue;
    try {
      accessSync(join(dir, name), fsConstants.X_OK);
      return true;
    } catch {
      // not in this directory
    }
  }
  return false;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr !== null ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

/** A minimal RESP2 client: one command at a time, replies parsed as bulk bytes or simple strings. */
class Resp {
  private buf = Buffer.alloc(0);
  private waiting: Array<{ resolve: (v: Buffer | string | null) => void; reject: (e: Error) => void }> = [];
  private constructor(private sock: Socket) {
    sock.on('data', (d: Buffer) => {
      this.buf = Buffer.concat([this.buf, d]);
      this.drain();
    });
    sock.on('error', (e) => {
      for (const w of this.waiting.splice(0)) w.reject(e);
    });
  }

  static open(port: number): Promise<Resp> {
    return new Promise((resolve, reject) => {
      const s = connect(port, '127.0.0.1', () => resolve(new Resp(s)));
      s.once('error', reject);
    });
  }

  command(...args: Array<string | Uint8Array>): Promise<Buffer | string | null> {
    const parts: Buffer[] = [Buffer.from(`*${args.length}\r\n`)];
    for (const a of args) {
      const b = typeof a === 'string' ? Buffer.from(a) : Buffer.from(a.buffer, a.byteOffset, a.length);
      parts.push(Buffer.from(`$${b.length}\r\n`), b, Buffer.from('\r\n'));
    }
    this.sock.write(Buffer.concat(parts));
    return new Promise((resolve, reject) => this.waiting.push({ resolve, reject }));
  }

  private drain(): void {
    while (this.waiting.length > 0) {
      const eol = this.buf.indexOf('\r\n');
      if (eol < 0) return;
      const kind = String.fromCharCode(this.buf[0]!);
      const line = this.buf.subarray(1, eol).toString();
      let value: Buffer | string | null;
      let used: number;
      if (kind === '$') {
        const n = Number(line);
        if (n < 0) {
          value = null;
          used = eol + 2;
        } else {
          if (this.buf.length < eol + 2 + n + 2) return;
          value = Buffer.from(this.buf.subarray(eol + 2, eol + 2 + n));
          used = eol + 2 + n + 2;
        }
      } else if (kind === '+' || kind === ':') {
        value = line;
        used = eol + 2;
      } else {
        this.buf = this.buf.subarray(eol + 2);
        this.waiting.shift()!.reject(new Error(`redis: ${line}`));
        continue;
      }
      this.buf = this.buf.subarray(used);
      this.waiting.shift()!.resolve(value);
    }
  }

  close(): void {
    this.sock.destroy();
  }
}

/** Reads one RDB length (6/14/32-bit forms) at `off`: [value, bytes used]. */
function readLen(b: Uint8Array, off: number): [number, number] {
  const x = b[off]!;
  if (x >> 6 === 0) return [x & 0x3f, 1];
  if (x >> 6 === 1) return [((x & 0x3f) << 8) | b[off + 1]!, 2];
  if (x === 0x80) return [new DataView(b.buffer, b.byteOffset).getUint32(off + 1), 5];
  throw new Error(`unexpected length byte ${x}`);
}

const haveRedis = onPath('redis-server');
// Under CI the server is part of the environment: a missing binary is a failure, not a skip.
const redisRequired = process.env.CI === 'true';

t.test('real redis-server: DUMP decodes here, our LZF restores there', {
  skip: haveRedis || redisRequired ? false : 'redis-server is not on PATH',
}, async (t) => {
  if (!haveRedis) {
    t.fail('redis-server is not on PATH; it is required when CI=true');
    return;
  }
  const dir = mkdtempSync(join(tmpdir(), 'rdbmerge-lzf-'));
  const port = await freePort();
  const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  t.teardown(() => {
    if (child.pid !== undefined && child.exitCode === null) process.kill(child.pid, 'SIGTERM');
    rmSync(dir, { recursive: true, force: true });
  });

  // Ready when the server says so (or fail if it exits or takes too long).
  await new Promise<void>((resolve, reject) => {
    let log = '';
    const timer = setTimeout(() => reject(new Error(`redis-server did not start:\n${log}`)), 10000);
    child.stdout!.on('data', (d: Buffer) => {
      log += d.toString();
      if (log.includes('Ready to accept connections')) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`redis-server exited with ${code}:\n${log}`));
    });
  });

  const r = await Resp.open(port);
  t.teardown(() => r.close());

  // 1. A compressible 1000-byte value: Redis stores it LZF-compressed in the DUMP payload.
  const value = te.encode('rdbmerge-'.repeat(112).slice(0, 1000));
  t.equal(value.length, 1000);
  t.equal(await r.command('SET', 'k', value), 'OK');
  const dump = (await r.command('DUMP', 'k')) as Buffer;
  t.equal(dump[0], 0x00, 'type string');
  t.equal(dump[1], 0xc3, 'LZF-encoded str');
  const [clen, s1] = readLen(dump, 2);
  const [ulen, s2] = readLen(dump, 2 + s1);
  t.equal(ulen, 1000);
  const data = dump.subarray(2 + s1 + s2, 2 + s1 + s2 + clen);
  t.equal(2 + s1 + s2 + clen + 10, dump.length, 'payload = type + str + version + crc');
  t.same(lzfDecompress(data, ulen), value, "Redis's LZF decodes to the value");
  t.ok(crc64(dump, 0, dump.length - 8).equalsBytes(dump, dump.length - 8), 'DUMP CRC matches');

  // 2. Our compressor inside a RESTORE payload, in the server's own RDB version.
  const rdbVersion = dump[dump.length - 10]! | (dump[dump.length - 9]! << 8);
  const shapes: Array<[string, Uint8Array]> = [
    ['text', SHAPES.text!(5000, 1)],
    ['zeros', new Uint8Array(70000)],
    ['blocks', SHAPES.blocks!(40000, 2)],
    ['repetitive', SHAPES.repetitive!(999, 3)],
  ];
  for (const [name, v] of shapes) {
    const w = new ByteWriter();
    w.u8(0); // RDB_TYPE_STRING
    writeRdbString(w, v, { compress: true, rdbVersion });
    t.equal(w.view()[1], 0xc3, `${name}: written LZF-compressed`);
    w.u16le(rdbVersion); // footer: RDB version, little-endian
    const c = crc64(w.view());
    w.u64le(c.lo, c.hi); // footer: CRC-64, little-endian
    t.equal(await r.command('RESTORE', `ours:${name}`, '0', w.toBytes(), 'REPLACE'), 'OK', `${name}: RESTORE accepted`);
    const got = (await r.command('GET', `ours:${name}`)) as Buffer;
    t.ok(got !== null && Buffer.compare(got, v) === 0, `${name}: GET returns the value`);
  }
});
