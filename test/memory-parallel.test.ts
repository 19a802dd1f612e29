/**
 * The parallel `inspect --format memory` (src/pipelines/memory-parallel.ts): worker threads parse
 * spans the main thread cuts at record boundaries. Whatever the span size and thread count, the
 * bytes must be exactly those of the one-thread path, and errors must be the same errors:
 *  - every bundled fixture, CSV and JSON, with spans from 1 KiB (records straddle spans, spans
 *    hold one record or less) to 64 KiB, with 2 and 3 threads, and with selection options;
 *  - several inputs (the file column), a big synthetic file written by the codec's writer;
 *  - damaged files: every cut of a fixture (truncated), flipped bytes at many offsets (corrupt,
 *    unsupported, checksum), a stored checksum changed: the same error message as one thread, and
 *    rows that are a prefix of the complete output;
 *  - the checksum is combined from the spans' CRCs: a changed value byte is caught (exit 5).
 */
import t from 'tap';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { defaultSharedOptions, type SharedOptions } from '../src/cli-options.js';
import { writeMemory, type WriteMemoryOptions } from '../src/pipelines/inspect-memory.js';
import { startMemoryThreads } from '../src/pipelines/memory-parallel.js';
import { fixtureIndex, fixturePath } from './helpers/fixtures.js';
import { runCli } from './helpers/cli.js';
import { encodeValue, isDropped, RdbWriter, type Value } from '../native-free-parser/index.js';

const NOW = Date.parse('2026-01-01T00:00:00Z');

interface Outcome {
  out: Buffer;
  error: string | null;
  keys: number;
  bytes: number;
  spans: number;
  onWorkers: number;
  walked: number;
  /** Of `walked`, keys the WebAssembly walk took. */
  wasm: number;
}

async function memory(inputs: string[], opts: WriteMemoryOptions): Promise<Outcome> {
  const parts: Buffer[] = [];
  try {
    const r = await writeMemory(inputs, { parallelMinBytes: 0, ...opts }, async (b) => {
      parts.push(Buffer.from(b));
    });
    return { out: Buffer.concat(parts), error: null, keys: r.keys, bytes: r.bytes, spans: r.spans, onWorkers: r.spansOnWorkers, walked: r.keysWalked, wasm: r.keysWalkedWasm };
  } catch (e) {
    return { out: Buffer.concat(parts), error: e instanceof Error ? `${e.name}: ${e.message}` : String(e), keys: -1, bytes: -1, spans: -1, onWorkers: -1, walked: -1, wasm: -1 };
  }
}

function select(over: Partial<SharedOptions> = {}): SharedOptions {
  return { ...defaultSharedOptions(NOW), ...over };
}

const work = mkdtempSync(join(tmpdir(), 'rdbmerge-mempar-'));
t.teardown(() => rmSync(work, { recursive: true, force: true }));

const fixtures = fixtureIndex().map((f) => f.rdb);

t.test('every fixture: the reader\'s bytes from spans of 1 KiB to 64 KiB on 3 threads, and on the calling thread alone', async (t) => {
  // The workers load first (under the TypeScript loader that takes seconds): until a worker is
  // ready the main thread runs every span itself, and the workers would go untested.
  await startMemoryThreads(3);
  let compared = 0;
  let spans = 0;
  let onWorkers = 0;
  let wasmKeys = 0;
  for (const f of fixtures) {
    const file = fixturePath(f);
    for (const json of [false, true]) {
      const one = await memory([file], { threads: 1, spans: false, json, select: select() });
      // The last: the JavaScript span walk alone (the others walk in WebAssembly where they can).
      for (const [threads, chunkBytes, walkWasm] of [[3, 1024, true], [3, 7919, true], [3, 65536, true], [1, 4096, true], [1, 5000, false]] as const) {
        const par = await memory([file], { threads, chunkBytes, json, select: select(), walkWasm });
        if (!walkWasm && par.error === null) t.equal(par.wasm, 0, `${f}: the JavaScript walk alone`);
        else if (!json && par.error === null) wasmKeys += par.wasm;
        if (one.error === null) {
          t.equal(par.error, null, `${f} ${json ? 'json' : 'csv'} ${chunkBytes}: no error`);
          t.ok(par.out.equals(one.out), `${f} ${json ? 'json' : 'csv'} spans of ${chunkBytes}: same bytes (${one.out.length})`);
          t.equal(par.keys, one.keys, `${f}: same key count`);
          t.equal(par.bytes, one.bytes, `${f}: same estimated total`);
          spans += par.spans;
          onWorkers += par.onWorkers;
        } else {
          t.equal(par.error, one.error, `${f} spans of ${chunkBytes}: the same error`);
          t.ok(one.out.subarray(0, par.out.length).equals(par.out) || par.out.subarray(0, one.out.length).equals(one.out), `${f}: rows before the error agree`);
        }
        compared++;
      }
    }
  }
  t.ok(compared >= fixtures.length * 10, `${compared} runs compared`);
  t.ok(wasmKeys > 1000, `${wasmKeys} keys walked in WebAssembly`);
  t.comment(`${spans} spans, ${onWorkers} of them on the 2 worker threads, the rest on the main thread`);
  t.ok(onWorkers > spans / 4, 'the worker threads ran a good share of the spans');
  t.ok(onWorkers < spans, 'and the main thread ran some itself');
});

t.test('selection options and --no-largest-element give the same bytes', async (t) => {
  const file = fixturePath('redis-7.2.6-types.rdb');
  const cases: Array<[string, Partial<WriteMemoryOptions>]> = [
    ['--db 0', { select: select({ db: [0] }) }],
    ['--type hash,zset', { select: select({ type: ['hash', 'zset'] }) }],
    ['--match *a*', { select: select({ match: '*a*' }) }],
    ['--into-db 5', { select: select({ intoDb: 5 }) }],
    ['--expire-offset 1h --drop-expired', { select: select({ expireOffset: 3_600_000, dropExpired: true }) }],
    ['--rebase-expiry (ctime)', { select: select({ rebaseExpiry: true }) }],
    ['--no-largest-element', { select: select(), largestElement: false }],
    ['--target-version 9', { select: select(), targetVersion: 9 }],
    ['--jemalloc-quantum 8', { select: select(), jemallocQuantum: 8 }],
  ];
  for (const [name, o] of cases) {
    const one = await memory([file], { threads: 1, spans: false, ...o });
    const par = await memory([file], { threads: 3, chunkBytes: 2048, ...o });
    t.equal(one.error, null, `${name}: no error`);
    t.ok(par.out.equals(one.out), `${name}: same bytes (${one.out.length})`);
    // The span walk takes a selection that keeps keys as they are (but for --drop-expired) only.
    const walks = name.startsWith('--no-largest') || name.startsWith('--target') || name.startsWith('--jemalloc');
    if (walks) t.ok(par.walked > 0, `${name}: ${par.walked} keys walked`);
    else if (!name.includes('drop-expired')) t.equal(par.walked, 0, `${name}: every key through the reader`);
  }
});

t.test('the span walk: integer and compressed keys, LRU/LFU opcodes, --drop-expired', async (t) => {
  const file = join(work, 'walk.rdb');
  const enc = new TextEncoder();
  const keys: string[] = [];
  for (let i = 0; i < 400; i++) {
    // Integer keys (stored integer-encoded), long repetitive keys (LZF-compressed), plain keys.
    const k = i % 4 === 0 ? String(i * 7919 - 1_000_000) : i % 4 === 1 ? `${'key:'.repeat(12)}${i % 10}` + `${i}` : i % 4 === 2 ? String(2 ** 31 - 1 - i) : `k${i}`;
    keys.push(k);
  }
  const w = new RdbWriter({ version: 11 });
  w.begin();
  w.selectDb(0, keys.length, 100);
  for (let i = 0; i < keys.length; i++) {
    const key = enc.encode(keys[i]!);
    const v: Value = i % 3 === 0
      ? { type: 'set', value: Array.from({ length: 1 + (i % 5) }, (_, j) => enc.encode(`m${j}`)) }
      : { type: 'string', value: enc.encode(`v${i}`.repeat(1 + (i % 30))) };
    const e = encodeValue(v, 11, { key });
    if (isDropped(e)) throw new Error('test: dropped');
    w.key({ key, type: e.type, payload: e.payload, expireAt: i % 7 === 0 ? NOW - 1000 + i : -1, idle: i % 5 === 0 ? i : -1, freq: i % 6 === 0 ? i % 256 : -1 });
  }
  w.end();
  writeFileSync(file, w.drain());
  const bytes = readFileSync(file);
  t.ok(bytes.includes(Buffer.from([0xc3])), 'some strings are LZF-compressed');
  for (const dropExpired of [false, true]) {
    const o = { select: select({ dropExpired }) };
    const one = await memory([file], { threads: 1, spans: false, ...o });
    t.equal(one.error, null);
    for (const chunkBytes of [512, 4096]) {
      const par = await memory([file], { threads: 3, chunkBytes, ...o });
      t.ok(par.out.equals(one.out), `drop-expired ${dropExpired}, spans of ${chunkBytes}: same bytes (${one.out.length})`);
      t.ok(par.walked > 0 && par.walked < keys.length, `${par.walked} of ${keys.length} keys walked (compressed keys and idle opcodes go through the reader)`);
    }
    const csv = one.out.toString('utf8');
    t.match(csv, /\n0,string,-968324,72,embstr,10,10,\n/, 'an integer key as its text');
    t.equal(csv.split('\n').length - 2, dropExpired ? keys.length - Math.ceil(keys.length / 7) : keys.length, 'rows');
  }
});

t.test('several inputs: the file column, files in order', async (t) => {
  const files = ['redis-2.8.24-types.rdb', 'redis-7.0.15-types.rdb', 'redis-7.4.1-types.rdb'].map(fixturePath);
  for (const json of [false, true]) {
    const one = await memory(files, { threads: 1, spans: false, json, select: select() });
    const par = await memory(files, { threads: 3, chunkBytes: 4096, json, select: select() });
    t.ok(par.out.length > 0 && par.out.equals(one.out), `${json ? 'json' : 'csv'}: same bytes`);
    t.match(par.out.toString('utf8'), json ? /"file":/ : /,file\n/, 'the file column is there');
  }
});

t.test('a big file written by the codec: many spans, databases switching inside spans', async (t) => {
  const file = join(work, 'big.rdb');
  const w = new RdbWriter({ version: 11 });
  const chunks: Uint8Array[] = [];
  const enc = new TextEncoder();
  let n = 0;
  w.begin();
  for (let db = 0; db < 3; db++) {
    w.selectDb(db * 2, 6000, 2000);
    for (let i = 0; i < 6000; i++, n++) {
      const key = enc.encode(`k:${db}:${i}`);
      const v: Value = i % 4 === 0
        ? { type: 'hash', value: Array.from({ length: 1 + (i % 9) }, (_, j) => [enc.encode(`f${j}`), enc.encode(`v${i}-${'z'.repeat(j * 7)}`)] as [Uint8Array, Uint8Array]) }
        : i % 4 === 1
          ? { type: 'zset', value: Array.from({ length: 1 + (i % 13) }, (_, j) => [enc.encode(`m${j}:${i}`), j * 1.5] as [Uint8Array, number]) }
          : { type: 'string', value: enc.encode(`value ${i} `.repeat(1 + (i % 40))) };
      const e = encodeValue(v, 11, { key });
      if (isDropped(e)) throw new Error('test: dropped');
      w.key({ key, type: e.type, payload: e.payload, expireAt: i % 3 === 0 ? NOW + i * 1000 : -1, idle: -1, freq: -1 });
      if (w.pendingBytes > 1 << 20) chunks.push(w.drain());
    }
  }
  w.end();
  chunks.push(w.drain());
  writeFileSync(file, Buffer.concat(chunks));
  const one = await memory([file], { threads: 1, spans: false, select: select() });
  t.equal(one.keys, n, `${n} keys`);
  for (const threads of [3, 2]) {
    const events: Array<{ keys: number; bytes: number }> = [];
    const par = await memory([file], {
      threads, chunkBytes: 16384, select: select(), progressIntervalMs: 0, onProgress: (p) => events.push({ keys: p.keys, bytes: p.bytes }),
    });
    t.ok(par.out.equals(one.out), `${threads} threads: same bytes`);
    // The span walk (estimates straight from the record bytes) took the keys, not the reader.
    t.ok(par.walked > n * 0.95, `${par.walked} of ${n} keys walked`);
    // Progress follows the rows written: keys and bytes only grow, and stay within the file.
    const size = readFileSync(file).length;
    t.ok(events.length > 10, `${events.length} progress events`);
    t.ok(events.every((e, i) => i === 0 || (e.keys >= events[i - 1]!.keys && e.bytes > events[i - 1]!.bytes)), 'keys and bytes grow');
    t.ok(events.every((e) => e.bytes < size && e.keys <= n), 'within the file');
  }
});

t.test('damaged files: the same error as the reader, rows a prefix of the whole', async (t) => {
  // RDB 10 (listpacks, quicklist 2), RDB 6 (ziplists, intsets, linked lists) and RDB 12 (hash
  // field TTLs, listpackEx): cuts and flipped bytes, each read by the reader, by spans on 3
  // threads and by spans on the calling thread alone.
  const kinds = new Map<string, number>();
  const file = join(work, 'damaged.rdb');
  for (const [name, cuts, flips] of [['redis-7.0.15-types.rdb', 97, 151], ['redis-2.6.17-types.rdb', 40, 60], ['redis-7.4.1-types.rdb', 40, 60]] as const) {
    const src = readFileSync(fixturePath(name));
    const whole = (await memory([fixturePath(name)], { threads: 1, spans: false, select: select() })).out;
    const check = async (label: string, bytes: Buffer, cut: boolean): Promise<void> => {
      writeFileSync(file, bytes);
      const one = await memory([file], { threads: 1, spans: false, select: select() });
      const par = await memory([file], { threads: 3, chunkBytes: 1500, select: select() });
      if (one.error?.startsWith('ChecksumError') === true && par.error?.startsWith('CorruptError') === true) {
        // The reader parses a whole batch, up to the checksum, before estimating its keys; the
        // spans estimate theirs first and find the damaged value (the checksum comes last).
        t.match(par.error, /offset \d+: LZF|offset \d+: a well-formed/, `${name} ${label}: a damaged value found before the checksum: ${par.error}`);
      } else {
        t.equal(par.error, one.error, `${name} ${label}: ${one.error ?? 'no error'}`);
      }
      // The same spans on the calling thread alone: the same rows and error.
      const solo = await memory([file], { threads: 1, chunkBytes: 1500, select: select() });
      t.ok(solo.error === par.error && solo.out.equals(par.out), `${name} ${label}: the same on one thread`);
      if (one.error === null) t.ok(par.out.equals(one.out), `${name} ${label}: same bytes`);
      else if (cut) t.ok(whole.subarray(0, par.out.length).equals(par.out), `${name} ${label}: the rows written are a prefix of the whole`);
      else t.ok(par.out.subarray(0, one.out.length).equals(one.out), `${name} ${label}: the reader's rows are a prefix of these`);
      const kind = (one.error ?? 'none').split(':')[0]!;
      kinds.set(kind, (kinds.get(kind) ?? 0) + 1);
    };
    for (let cut = 0; cut < src.length; cut += Math.max(1, Math.floor(src.length / cuts))) await check(`cut at ${cut}`, src.subarray(0, cut), true);
    for (let at = 9; at < src.length; at += Math.floor(src.length / flips)) {
      const b = Buffer.from(src);
      b[at] = b[at]! ^ 0x5a;
      await check(`byte ${at} flipped`, b, false);
    }
    const b = Buffer.from(src);
    b[b.length - 1] = b[b.length - 1]! ^ 1;
    await check('stored checksum changed', b, false);
  }
  t.comment(`outcomes: ${[...kinds].map(([k, v]) => `${k} ${v}`).join(', ')}`);
  t.ok((kinds.get('TruncatedError') ?? 0) > 0, 'some truncated');
  t.ok((kinds.get('ChecksumError') ?? 0) > 0, 'some checksum mismatches');
  t.ok((kinds.get('CorruptError') ?? 0) + (kinds.get('UnsupportedError') ?? 0) > 0, 'some corrupt or unsupported');
});

t.test('the CLI: --threads, a value byte changed gives exit 5 after every row', async (t) => {
  const f = fixturePath('redis-7.4.1-types.rdb'); // 2 MiB: below the default threshold, so both read it on the calling thread
  const one = await runCli(['inspect', '--format', 'memory', '--threads', '1', f]);
  const two = await runCli(['inspect', '--format', 'memory', '--threads', '2', f]);
  t.equal(two.code, 0);
  t.equal(two.stdout, one.stdout, 'same CSV');
  t.equal((await runCli(['inspect', '--format', 'memory', '--threads', '0', f])).code, 2, '--threads 0: usage error');
  // A letter inside a raw (uncompressed) string changed to another letter: the structure
  // holds, only the checksum can tell.
  const src = readFileSync(fixturePath('redis-7.4.1-nocompress.rdb'));
  const letters = /[a-z]{12}/g;
  letters.lastIndex = Math.floor(src.length / 2);
  const hit = letters.exec(src.toString('latin1'));
  t.ok(hit !== null, 'a run of letters found');
  const at = hit!.index + 6;
  const b = Buffer.from(src);
  b[at] = b[at] === 0x71 ? 0x72 : 0x71;
  const damaged = join(work, 'value-changed.rdb');
  writeFileSync(damaged, b);
  const par = await memory([damaged], { threads: 3, chunkBytes: 65536, select: select() });
  t.match(par.error, /^ChecksumError: checksum: .*CRC-64 [0-9a-f]{16} over bytes 0\.\.\d+, found [0-9a-f]{16}$/, 'checksum error');
  const whole = await memory([fixturePath('redis-7.4.1-nocompress.rdb')], { threads: 1, spans: false, select: select() });
  t.equal(par.out.toString().split('\n').length, whole.out.toString().split('\n').length, 'every row was written before the error');
});

t.test('the WebAssembly span walk writes the bytes of the JavaScript walk and of the reader', async (t) => {
  const enc = new TextEncoder();
  const big = (n: number, seed: number): Uint8Array => {
    // Incompressible bytes (a linear congruential sequence), as text.
    let x = seed;
    return enc.encode(Array.from({ length: n }, () => ((x = (Math.imul(x, 1103515245) + 12345) >>> 0) >>> 24).toString(36)).join('').slice(0, n));
  };
  const strings: Uint8Array[] = [
    '0', '-0', '007', '12', '-12', '127', '-4096', '32767', '2147483647', '-2147483648', '4294967296', '123456789012345678',
    '1234567890123456789', '-1234567890123456789', '9223372036854775807', '9223372036854775808', '-9223372036854775808',
    '12345678901234567890', '8b80680c23043d0d0e86', ' 12', '12 ', '+5', '1e5', 'x'.repeat(44), 'x'.repeat(45), 'y'.repeat(31), 'y'.repeat(32),
  ].map((s) => enc.encode(s));
  const values: Value[] = [];
  for (const s of strings) values.push({ type: 'string', value: s });
  for (const n of [20, 21, 250, 253, 300, 65530, 65531, 70000]) values.push({ type: 'string', value: enc.encode('ab'.repeat(n).slice(0, n)) }, { type: 'string', value: big(n, n) });
  const pairs = (n: number, long: number, int64 = false): Array<[Uint8Array, Uint8Array]> =>
    Array.from({ length: n }, (_, j) => [enc.encode(`f${j}`), j === long ? big(80 + j, j) : enc.encode(int64 && j % 2 === 0 ? String(1764100000000 + j) : `v${j}`)]);
  for (const [n, long] of [[1, -1], [10, -1], [10, 0], [10, 4], [10, 9], [100, 50], [128, 3], [129, -1], [300, -1], [600, -1], [600, 10]] as const) {
    values.push({ type: 'hash', value: pairs(n, long) }, { type: 'hash', value: pairs(n, long, true) });
  }
  for (const ints of [[1, 2, 3], [-40000, 5], [1, 2 ** 40], Array.from({ length: 600 }, (_, j) => j * 3), Array.from({ length: 100 }, (_, j) => j - 50000)]) {
    values.push({ type: 'set', value: ints.map((v) => enc.encode(String(v))) });
  }
  for (const n of [1, 5, 128, 129, 700]) {
    values.push({ type: 'set', value: Array.from({ length: n }, (_, j) => enc.encode(j % 3 === 0 ? String(j) : `member:${j}`)) });
    values.push({ type: 'set', value: Array.from({ length: n }, (_, j) => (j === 0 ? big(70, n) : enc.encode(`m${j}`))) });
  }
  for (const n of [1, 7, 128, 129, 300]) {
    values.push({ type: 'zset', value: Array.from({ length: n }, (_, j) => [enc.encode(`m${j}`), j % 2 === 0 ? j : j + 0.25] as [Uint8Array, number]) });
  }
  for (const n of [1, 3, 200, 5000]) {
    values.push({ type: 'list', value: Array.from({ length: n }, (_, j) => (j % 17 === 0 ? enc.encode(String(j * 1000003)) : j % 5 === 0 ? big(90, j) : enc.encode(`item ${j}`))) });
  }
  const keys: Uint8Array[] = [
    enc.encode('plain'), enc.encode('k'.repeat(64)), enc.encode('q,uote'), enc.encode('"dq"'), enc.encode(' lead'), enc.encode('é'),
    enc.encode('12345'), enc.encode('-7'), enc.encode('z'.repeat(300)), new Uint8Array([0x61, 0x0a, 0x62]),
  ];
  for (const version of [10, 11, 12]) {
    const file = join(work, `wasm-walk-${version}.rdb`);
    const w = new RdbWriter({ version });
    w.begin();
    let n = 0;
    for (const db of [0, 3, 200]) {
      w.selectDb(db, values.length, 0);
      values.forEach((v, i) => {
        // Mostly plain keys; every fifth a key that needs quoting, is compressed, or is long.
        const key = i % 5 === 4 ? new Uint8Array([...keys[(i + db) % keys.length]!, ...enc.encode(`:${i}`)]) : enc.encode(`key:${db}:${i}`);
        const e = encodeValue(v, version, { key });
        if (isDropped(e)) throw new Error('test: dropped');
        const expireAt = i % 5 === 0 ? NOW - 1000 * i : i % 5 === 1 ? NOW + 1000 * i : i % 5 === 2 ? 253402300800000 + i : -1;
        w.key({ key, type: e.type, payload: e.payload, expireAt, idle: i % 7 === 3 ? i : -1, freq: i % 7 === 4 ? i % 256 : -1 });
        n++;
      });
    }
    w.end();
    writeFileSync(file, w.drain());
    const cases: Array<[string, Partial<WriteMemoryOptions>]> = [
      ['defaults', {}],
      ['--drop-expired', { select: select({ dropExpired: true }) }],
      ['--no-largest-element', { largestElement: false }],
      ['--target-version 10', { targetVersion: 10 }],
      ['--target-version 12, quantum 8', { targetVersion: 12, jemallocQuantum: 8 }],
      ['small thresholds', {
        encodingConfig: {
          hashMaxListpackEntries: 8, hashMaxListpackValue: 16, setMaxIntsetEntries: 4, setMaxListpackEntries: 3, setMaxListpackValue: 8,
          zsetMaxListpackEntries: 4, listMaxListpackSize: 5,
        },
      }],
      ['big thresholds', { encodingConfig: { hashMaxListpackEntries: 1000, hashMaxListpackValue: 1000, setMaxIntsetEntries: 1000, listMaxListpackSize: -5 } }],
    ];
    for (const [name, o] of cases) {
      const opts = { select: select(), ...o };
      const one = await memory([file], { threads: 1, spans: false, ...opts });
      t.equal(one.error, null, `RDB ${version} ${name}: the reader reads it`);
      const js = await memory([file], { threads: 1, chunkBytes: 1 << 20, walkWasm: false, ...opts });
      const wasm = await memory([file], { threads: 1, chunkBytes: 1 << 20, ...opts });
      const small = await memory([file], { threads: 3, chunkBytes: 3000, ...opts });
      t.ok(js.out.equals(one.out), `RDB ${version} ${name}: the JavaScript walk's bytes are the reader's (${one.out.length})`);
      t.ok(wasm.out.equals(one.out), `RDB ${version} ${name}: the WebAssembly walk's bytes are the reader's`);
      t.ok(small.out.equals(one.out), `RDB ${version} ${name}: in spans of 3000 bytes on 3 threads too`);
      t.equal(wasm.bytes, one.bytes, `RDB ${version} ${name}: the same estimated total`);
      t.equal(js.wasm, 0, 'no key walked in WebAssembly when it is off');
      t.ok(wasm.wasm > n / 3 && wasm.wasm < n, `RDB ${version} ${name}: ${wasm.wasm} of ${n} keys walked in WebAssembly, the rest left to the JavaScript walk`);
    }
    const csv = (await memory([file], { threads: 1, select: select() })).out.toString('utf8');
    t.match(csv, /\n\d+,\w+,"q,uote:/, 'a key that needs quoting has its row');
  }
});

t.test('a span over the preload limit (a record of 10 MiB) is walked in JavaScript, with the same bytes', async (t) => {
  const file = join(work, 'big-record.rdb');
  const enc = new TextEncoder();
  const w = new RdbWriter({ version: 11 });
  w.begin();
  w.selectDb(0, 300, 0);
  let x = 7;
  const huge = new Uint8Array(10 * 1024 * 1024);
  for (let i = 0; i < huge.length; i++) huge[i] = (x = (Math.imul(x, 1103515245) + 12345) >>> 0) >>> 24;
  for (let i = 0; i < 300; i++) {
    const key = enc.encode(`k:${i}`);
    const v: Value = i === 150 ? { type: 'string', value: huge } : { type: 'hash', value: [[enc.encode('f'), enc.encode(`v${i}`)]] };
    const e = encodeValue(v, 11, { key });
    if (isDropped(e)) throw new Error('test: dropped');
    w.key({ key, type: e.type, payload: e.payload, expireAt: -1, idle: -1, freq: -1 });
  }
  w.end();
  writeFileSync(file, w.drain());
  const one = await memory([file], { threads: 1, spans: false, select: select() });
  const par = await memory([file], { threads: 1, chunkBytes: 4096, select: select() });
  t.equal(one.error, null);
  t.ok(par.out.equals(one.out), `same bytes (${one.out.length})`);
  t.equal(par.walked, 300, 'every key walked');
  t.ok(par.wasm >= 200 && par.wasm < 300, `${par.wasm} in WebAssembly: not the spans around the big record`);
});
