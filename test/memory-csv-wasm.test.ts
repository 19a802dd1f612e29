/**
 * The memory CSV rows written in WebAssembly (src/format/memory-csv-wasm.ts) against the
 * JavaScript writer they stand in for (MemoryCsvWriter.fieldsAt): the same bytes for keys of every
 * byte, numbers around every power of ten and the 2^32 and 2^53 edges, and expiry times across
 * the calendar (leap days, century years, the first and last instants of 1970..9999), or a refusal
 * (-1: the JavaScript writer takes the row) exactly for the keys that need quoting or escapes.
 */
import t from 'tap';
import { lzfWasmPreload, lzfWasmPreloadedAt } from '../native-free-parser/index.js';
import { CsvRowsWasm } from '../src/format/memory-csv-wasm.js';
import { MemoryCsvWriter } from '../src/format/memory.js';
import { rng } from './helpers/rng.js';

/** A uint32 from the helpers' PRNG. */
function u32s(seed: number): () => number {
  const r = rng(seed);
  return () => Math.floor(r() * 4294967296);
}

t.test('rows in WebAssembly are the JavaScript writer\'s bytes', async (t) => {
  const wasm = CsvRowsWasm.create();
  t.ok(wasm !== null, 'the module loads and shares the codec\'s memory');
  const r = u32s(7);
  // Keys: plain ones, and ones with every kind of byte that needs the slow path.
  const te = new TextEncoder();
  const keys: Uint8Array[] = [
    te.encode('user:1000:profile'), te.encode('a'), te.encode('~!#$%&\'()*+-./:;<=>?@[]^_`{|}'),
    te.encode(' leading'), te.encode('trailing '), te.encode('in side'), new Uint8Array(0), te.encode('comma,key'),
    te.encode('quote"key'), te.encode('back\\slash'), te.encode('tab\tkey'), te.encode('caf\u00e9'), Uint8Array.of(0x7f), Uint8Array.of(0xff, 0x00),
  ];
  const plainBytes = te.encode('abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789:._-{}|~ ');
  for (let i = 0; i < 300; i++) {
    // A third of any bytes, a third of printable ASCII (some need escapes), a third of key-like ones.
    const k = new Uint8Array(1 + (r() % 60));
    for (let j = 0; j < k.length; j++) k[j] = i % 3 === 0 ? r() & 0xff : i % 3 === 1 ? 0x20 + (r() % 95) : plainBytes[r() % (plainBytes.length - 1)]!;
    keys.push(k);
  }
  const numbers = [0, 1, 9, 10, 99, 100, 12345, 2 ** 31 - 1, 2 ** 31, 2 ** 32 - 1, 2 ** 32, 2 ** 32 + 1, 999_999_999_999, 1e12, 2 ** 53 - 1, -1, -9, -10, -(2 ** 32), -(2 ** 53 - 1)];
  for (let p = 1; p < 1e16; p *= 10) numbers.push(p - 1, p, p + 1);
  const times = [
    -1, 0, 1, 999, 1000, 59_999, 86_399_999, 86_400_000, Date.UTC(2000, 1, 29, 12, 34, 56, 789), Date.UTC(2000, 2, 1),
    Date.UTC(1972, 1, 29), Date.UTC(2100, 1, 28, 23, 59, 59, 999), Date.UTC(2100, 2, 1), Date.UTC(2400, 1, 29), Date.UTC(1999, 11, 31, 23, 59, 59, 999),
    Date.UTC(9999, 11, 31, 23, 59, 59, 999), Date.UTC(2026, 10, 26, 1, 2, 3, 4),
  ];
  for (let i = 0; i < 2000; i++) times.push(r() * 58_892 + (r() % 1000)); // 1970..~7500
  for (let i = 0; i < 500; i++) times.push(Math.floor((r() / 2 ** 32) * 253402300799999));
  // The keys live in a buffer preloaded into the codec's module, as a span's do.
  const span = new Uint8Array(keys.reduce((a, k) => a + k.length, 0) + 16);
  const at: number[] = [];
  let o = 3;
  for (const k of keys) {
    span.set(k, o);
    at.push(o);
    o += k.length;
  }
  lzfWasmPreload(span);
  const base = lzfWasmPreloadedAt(span);
  t.ok(base > 0, 'the span is preloaded');
  const js = new MemoryCsvWriter();
  const fromWasm = new MemoryCsvWriter();
  const expected = new MemoryCsvWriter();
  const out = (b: Uint8Array): void => fromWasm.append(b);
  let rows = 0;
  let refused = 0;
  let mismatched = 0;
  let wrongRefusals = 0;
  const files = [undefined, 'dumps/dump-01.rdb', undefined, 'with space.rdb', 'comma,and "quote".rdb', '', 'x'.repeat(5000), 'caf\u00e9.rdb'];
  const words = [['string', 'embstr'], ['hash', 'listpack'], ['zset', 'skiplist'], ['list', 'quicklist'], ['set', 'intset'], ['stream', 'stream']] as const;
  for (let i = 0; i < 6000; i++) {
    const ki = i % keys.length;
    const k = keys[ki]!;
    const [type, enc] = words[i % words.length]!;
    const db = i % 17 === 0 ? 15 : i % 3;
    const size = numbers[i % numbers.length]!;
    const el = numbers[(i * 7) % numbers.length]!;
    const lg = i % 11 === 0 ? -1 : numbers[(i * 13) % numbers.length]!;
    const exp = times[i % times.length]!;
    // The file column of several inputs: none mostly, a few names (some CSV quotes), runs of each.
    const file = files[Math.floor(i / 500) % files.length];
    js.fieldsAt(db, type, span, at[ki]!, at[ki]! + k.length, size, enc, el, lg, exp, file);
    const line = js.take();
    if (wasm!.row(db, type, base + at[ki]!, base + at[ki]! + k.length, size, enc, el, lg, exp, file, out)) {
      expected.append(line);
      rows++;
    } else {
      refused++;
      // Refused only for keys the JavaScript writer may have to quote or escape (the others: printable ASCII but `\`, `,`, `"`, no space at either end).
      // (and rows whose file column is empty or longer than the module's 4 KiB for it).
      const plain = k.length > 0 && k[0] !== 0x20 && k[k.length - 1] !== 0x20 && k.every((b) => b >= 0x20 && b <= 0x7e && b !== 0x5c && b !== 0x2c && b !== 0x22);
      if (plain && file !== '' && (file === undefined || file.length < 4000)) wrongRefusals++;
    }
    if (i % 997 === 0) {
      wasm!.flush(out);
      if (Buffer.compare(Buffer.from(fromWasm.take()), Buffer.from(expected.take())) !== 0) mismatched++;
    }
  }
  wasm!.flush(out);
  if (Buffer.compare(Buffer.from(fromWasm.take()), Buffer.from(expected.take())) !== 0) mismatched++;
  lzfWasmPreload(null);
  t.ok(rows > 1500 && refused > 1000, `${rows} rows written in WebAssembly, ${refused} left to JavaScript`);
  t.equal(mismatched, 0, 'the same bytes in every block');
  t.equal(wrongRefusals, 0, 'refused only keys that may need quoting or escapes');
});

t.test('an expiry of a fractional millisecond is written as Date writes it', async (t) => {
  const w = new MemoryCsvWriter();
  const k = new TextEncoder().encode('k');
  for (const ms of [1.5, 1796700000000.25]) {
    w.fieldsAt(0, 'string', k, 0, 1, 64, 'embstr', 1, 1, ms);
    t.equal(Buffer.from(w.take()).toString('latin1'), `0,string,k,64,embstr,1,1,${new Date(ms).toISOString()}\n`, `${ms}`);
  }
});
