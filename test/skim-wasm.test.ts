/**
 * The reader's skim in WebAssembly (native-free-parser/skim-wasm.ts) against the JavaScript skim:
 * over every fixture, in chunks, and over damaged copies, a parser skimming in WebAssembly sees the
 * same records (the ones the skim leaves to parseItem), skims the same number of keys, and stops
 * with the same error at the same offset.
 */
import t from 'tap';
import { readFileSync } from 'node:fs';
import { NEED_MORE } from '../native-free-parser/bytes/cursor.js';
import { encodeValue, isDropped, RdbParser, RdbWriter, isRdbError, type RdbRecord } from '../native-free-parser/index.js';
import { skimModuleBytes, skimWasm, skimWasmResult } from '../native-free-parser/skim-wasm.js';
import { fixtureIndex, fixturePath } from './helpers/fixtures.js';

declare const WebAssembly: { Module: new (bytes: Uint8Array) => object };

interface Run {
  records: string[];
  skimmed: number;
  error: string | null;
}

/** Skims `bytes` in chunks of `chunk` bytes (each a new array, as the parallel scan makes them). */
function skim(bytes: Uint8Array, chunk: number, wasm: boolean, verifyChecksum = true): Run {
  const p = new RdbParser({ source: 'f', maxValueSize: 1 << 20, verifyChecksum });
  p.skimKeys = true;
  p.skimInWasm = wasm;
  const out: RdbRecord[] = [];
  const records: string[] = [];
  let base = 0;
  let end = Math.min(bytes.length, chunk);
  p.switchTo(bytes.slice(0, end), 0, 0);
  try {
    for (;;) {
      out.length = 0;
      let more = false;
      try {
        p.parseSome(out, Number.MAX_SAFE_INTEGER);
      } catch (e) {
        if (e !== NEED_MORE) throw e;
        more = true;
      }
      for (const r of out) records.push(`${r.kind}@${r.offset}`);
      if (p.done) break;
      if (!more) continue;
      if (end >= bytes.length) throw new Error('test: ran out of bytes');
      // The next chunk: the partial record carried over, then new bytes.
      const from = base + p.cur.pos;
      end = Math.min(bytes.length, Math.max(end + chunk, NEED_MORE.needUpTo));
      base = from;
      p.switchTo(bytes.slice(from, end), from, 0);
    }
    return { records, skimmed: p.skimmed, error: null };
  } catch (e) {
    return { records, skimmed: p.skimmed, error: isRdbError(e) ? `${e.kind} at ${e.offset}: ${e.message}` : String(e) };
  }
}

t.test('the module compiles and skims', async (t) => {
  t.doesNotThrow(() => new WebAssembly.Module(skimModuleBytes()), 'the module is valid WebAssembly');
  const b = readFileSync(fixturePath('redis-7.0.15-types.rdb'));
  const q = skimWasm(b, 9 + 0, 1 << 20);
  t.ok(q >= 9, `it runs here (stopped at ${q})`);
});

t.test('every fixture: the same records, counts and errors as the JavaScript skim', async (t) => {
  let wasmKeys = 0;
  for (const f of fixtureIndex()) {
    const bytes = new Uint8Array(readFileSync(fixturePath(f.rdb)));
    for (const chunk of [300, 4096, 1 << 22]) {
      const js = skim(bytes, chunk, false);
      const wasm = skim(bytes, chunk, true);
      t.same(wasm, js, `${f.rdb} in chunks of ${chunk}: ${js.skimmed} keys skimmed, ${js.records.length} records, ${js.error ?? 'no error'}`);
    }
    wasmKeys += skim(bytes, 1 << 22, true).skimmed;
  }
  t.ok(wasmKeys > 1000, `${wasmKeys} keys skimmed`);
});

t.test('damaged files: the same records and errors', async (t) => {
  let seed = 99;
  const rnd = (n: number): number => {
    seed = (seed * 1103515245 + 12345) >>> 0;
    return (seed >>> 8) % n;
  };
  let compared = 0;
  let errors = 0;
  let byWasm = 0;
  const kinds = new Set<string>();
  for (const name of ['redis-7.0.15-types.rdb', 'redis-7.4.1-types.rdb', 'redis-2.8.24-types.rdb']) {
    const orig = new Uint8Array(readFileSync(fixturePath(name)));
    for (let i = 0; i < 150; i++) {
      const d = orig.slice(0, i % 10 === 0 ? 9 + rnd(orig.length - 9) : orig.length);
      for (let k = 0; k < 1 + rnd(3); k++) {
        const at = 9 + rnd(d.length - 9);
        d[at] = rnd(4) === 0 ? 0xff : rnd(256);
      }
      // Half without the checksum: the skim's own errors (corrupt, truncated, limits) show.
      const verify = i % 2 === 0;
      const js = skim(d, 2048, false, verify);
      skimWasmResult.records = 0;
      const wasm = skim(d, 2048, true, verify);
      if (js.error !== null) kinds.add(js.error.split(' ')[0]!);
      byWasm += skimWasmResult.records;
      t.same(wasm, js, `${name} damaged ${i}: ${js.error ?? 'no error'}`);
      compared++;
      if (js.error !== null) errors++;
    }
  }
  t.ok(errors > compared / 3, `${compared} damaged files compared, ${errors} with an error`);
  t.ok(kinds.size >= 3, `errors of kinds ${[...kinds].join(', ')}`);
  t.ok(byWasm > 0, 'the WebAssembly skim took records');
});

t.test('raw intsets: their header checks, as parseItem makes them', async (t) => {
  // Intsets written raw (no compression), then their headers damaged one field at a time.
  const w = new RdbWriter({ version: 11 });
  w.begin();
  w.selectDb(0, 3, 0);
  const enc = new TextEncoder();
  for (const [i, values] of [[0, [1, 2, 3]], [1, [70000, -5]], [2, [2 ** 40, 7]]] as const) {
    const key = enc.encode(`set:${i}`);
    const e = encodeValue({ type: 'set', value: values.map((v) => enc.encode(String(v))) }, 11, { key, compress: false });
    if (isDropped(e)) throw new Error('test: dropped');
    t.equal(e.type, 11, `set ${i} is an intset`);
    w.key({ key, type: e.type, payload: e.payload, expireAt: -1, idle: -1, freq: -1 });
  }
  w.end();
  const good = w.drain();
  const at = Buffer.from(good).indexOf('set:1') + 'set:1'.length + 1; // past the key and the blob's length byte
  t.same(skim(good, 1 << 20, true, false), skim(good, 1 << 20, false, false), 'the sound file');
  t.equal(skim(good, 1 << 20, true, false).error, null);
  const cases: Array<[string, (d: Uint8Array) => void]> = [
    ['a width of 3', (d) => { d[at] = 3; }],
    ['a count of 0', (d) => { d.fill(0, at + 4, at + 8); }],
    ['a count too big', (d) => { d[at + 4] = 9; }],
    ['a count too small', (d) => { d[at + 4] = 1; }],
    ['a width of 8 for 4-byte members', (d) => { d[at] = 8; }],
  ];
  for (const [name, damage] of cases) {
    const d = good.slice();
    damage(d);
    const js = skim(d, 1 << 20, false, false);
    const wasm = skim(d, 1 << 20, true, false);
    t.same(wasm, js, `${name}: ${js.error ?? 'no error'}`);
    t.match(js.error ?? '', /^corrupt/, `${name}: corrupt`);
  }
});
