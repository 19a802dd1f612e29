/**
 * The RDB writer, down-conversion and DUMP payloads against the real fixtures: every fixture is
 * rewritten at every target version 6..12, copying values (raw mode) and re-encoding them (decode
 * + encodeValue), read back with the reader and compared with its manifest (minus exactly what the
 * writer reported as dropped where the target cannot hold it). Plus the writer's state machine,
 * the exact bytes of a small file (RDB-FORMAT.md §1), %.17g vectors and DUMP vectors (§8).
 */
import t from 'tap';
import {
  ChecksumError, CorruptError, RdbWriter, UnsupportedError, buildDumpPayload, convertForTarget,
  decodeValue, encodeValue, formatDoubleG17, formatDoubleShortest, isDropped, parseDumpPayload,
  payloadForTarget, readRdbAll, moduleId,
} from '../native-free-parser/index.js';
import type { KeyRecord, RdbRecord, Value } from '../native-free-parser/index.js';
import { Cursor } from '../native-free-parser/bytes/cursor.js';
import { listpackValues } from '../native-free-parser/encodings/listpack.js';
import { ziplistValues } from '../native-free-parser/encodings/ziplist.js';
import { compareJsonl } from '../src/format/compare.js';
import { keyJson } from '../src/format/jsonl.js';
import { Bytes, listpack } from './helpers/build.js';
import { fixtureIndex, fixtureManifest, fixtureMeta, fixturePath } from './helpers/fixtures.js';
import { readBytes } from './helpers/read.js';
import { expectedAfterDrops, expectedDropCounts, fixtureNeeds, writeRecords } from './helpers/write.js';

const fixtures = fixtureIndex().filter((f) => f.manifest !== null && f.loadError === null);
const VERSIONS = [6, 7, 8, 9, 10, 11, 12];

async function readBack(bytes: Uint8Array): Promise<{ lines: Array<Record<string, unknown>>; records: RdbRecord[] }> {
  const records = await readRdbAll(bytes);
  const lines: Array<Record<string, unknown>> = [];
  for (const r of records) {
    if (r.kind !== 'key') continue;
    lines.push(keyJson(r.db, r.key, decodeValue(r.type, r.payload, { offset: r.valueOffset }), r.expireAt));
  }
  return { lines, records };
}

function show(diffs: unknown[]): string {
  return diffs.length === 0 ? '' : `: ${JSON.stringify(diffs.slice(0, 3)).slice(0, 800)}`;
}

function hex(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');
}

const enc = (s: string): Uint8Array => new TextEncoder().encode(s);

t.test('every fixture rewritten at RDB 6..12, copied and re-encoded, reads back as its manifest', async (t) => {
  t.ok(fixtures.length >= 38, `${fixtures.length} fixtures with a manifest`);
  let pairs = 0;
  for (const f of fixtures) {
    const source = await readRdbAll(readBytes(fixturePath(f.rdb)));
    const manifest = fixtureManifest(f);
    const needs = fixtureNeeds(manifest, fixtureMeta(f));
    const keyCount = source.filter((r) => r.kind === 'key').length;
    for (const version of VERSIONS) {
      const holds = version >= needs.minVersion;
      if (!holds) {
        // Strict mode refuses what the target cannot hold, naming it.
        const err = (() => {
          try {
            writeRecords(source, { version, ctime: 1700000000 });
            return undefined;
          } catch (e) {
            return e;
          }
        })();
        t.ok(err instanceof UnsupportedError, `${f.rdb} @${version}: refused without dropUnsupported`);
      }
      for (const reencode of [false, true]) {
        const label = `${f.rdb} @${version} ${reencode ? 're-encoded' : 'copied'}${holds ? '' : ' (dropUnsupported)'}`;
        const { bytes, writer } = writeRecords(source, { version, ctime: 1700000000, reencode, dropUnsupported: !holds });
        const { lines, records } = await readBack(bytes);
        const header = records[0];
        t.equal(header?.kind === 'header' ? header.version : -1, version, `${label}: header version`);
        const eof = records[records.length - 1];
        t.equal(eof?.kind === 'eof' ? eof.checksum : 'none', 'ok', `${label}: CRC-64 verified`);
        const counts = { key: 0, fieldTtls: 0, function: 0 };
        for (const d of writer.drops) if (d.kind in counts) counts[d.kind as keyof typeof counts]++;
        t.same(counts, expectedDropCounts(needs, version), `${label}: drops`);
        const expected = expectedAfterDrops(manifest, writer.drops);
        const diffs = compareJsonl(expected, lines);
        t.equal(diffs.length, 0, `${label}: ${lines.length} keys equal to the manifest${show(diffs)}`);
        const s = writer.stats;
        t.equal(s.copied + s.converted + s.dropped, keyCount, `${label}: every key accounted for`);
        if (reencode) t.equal(s.copied, 0, `${label}: nothing copied when re-encoding`);
        // Functions survive where the target has them.
        const fns = records.filter((r) => r.kind === 'function').length;
        t.equal(fns, version >= 10 ? needs.functions : 0, `${label}: functions`);
        pairs++;
      }
    }
  }
  t.ok(pairs >= 38 * 7 * 2, `${pairs} fixture/version/mode combinations`);
});

t.test('raw mode copies values byte for byte where the target loads their type', async (t) => {
  for (const f of fixtures) {
    if (f.rdbVersion < 6) continue;
    const source = await readRdbAll(readBytes(fixturePath(f.rdb)));
    const { bytes, writer } = writeRecords(source, { version: f.rdbVersion, ctime: 1 });
    const back = (await readRdbAll(bytes)).filter((r): r is KeyRecord => r.kind === 'key');
    const orig = source.filter((r): r is KeyRecord => r.kind === 'key');
    t.equal(writer.stats.converted, 0, `${f.rdb}: nothing converted at its own version`);
    t.equal(back.length, orig.length, `${f.rdb}: same key count`);
    let same = 0;
    for (let i = 0; i < orig.length; i++) {
      const a = orig[i]!;
      const b = back[i]!;
      if (a.type === b.type && hex(a.payload) === hex(b.payload) && hex(a.key) === hex(b.key) && a.expireAt === b.expireAt) same++;
      // IDLE / FREQ go through from RDB 9 on (FREQ preferred; Redis writes one of them).
      if (f.rdbVersion >= 9) {
        t.equal(b.freq, a.freq, `${f.rdb} ${Buffer.from(a.key).toString()}: freq`);
        if (a.freq < 0) t.equal(b.idle, a.idle, `${f.rdb} ${Buffer.from(a.key).toString()}: idle`);
      }
    }
    t.equal(same, orig.length, `${f.rdb}: every value, key and expiry identical`);
  }
});

t.test('IDLE and FREQ are only written for RDB >= 9, and never both', async (t) => {
  const lfu = fixtures.find((f) => f.variant === 'lfu' && f.rdbVersion === 10)!;
  const lru = fixtures.find((f) => f.variant === 'lru' && f.rdbVersion === 10)!;
  for (const f of [lfu, lru]) {
    const source = await readRdbAll(readBytes(fixturePath(f.rdb)));
    const keys = source.filter((r): r is KeyRecord => r.kind === 'key');
    t.ok(keys.some((k) => k.freq >= 0 || k.idle >= 0), `${f.rdb} carries ${f.variant} data`);
    for (const version of [8, 9]) {
      const { bytes } = writeRecords(source, { version, dropUnsupported: true });
      const back = (await readRdbAll(bytes)).filter((r): r is KeyRecord => r.kind === 'key');
      const withLru = back.filter((k) => k.idle >= 0).length;
      const withLfu = back.filter((k) => k.freq >= 0).length;
      if (version < 9) t.equal(withLru + withLfu, 0, `${f.rdb} @${version}: none`);
      else t.equal(withLru + withLfu, keys.filter((k) => k.freq >= 0 || k.idle >= 0).length, `${f.rdb} @${version}: carried`);
    }
  }
  // A key with both: FREQ wins.
  const w = new RdbWriter({ version: 9 });
  w.begin();
  w.selectDb(0, 1, 0);
  w.key({ key: enc('k'), type: 0, payload: Uint8Array.of(1, 0x61), expireAt: -1, idle: 100, freq: 7 });
  w.end();
  const recs = (await readRdbAll(w.drain())).filter((r): r is KeyRecord => r.kind === 'key');
  t.same([recs[0]!.freq, recs[0]!.idle], [7, -1], 'freq preferred over idle');
});

t.test('re-encoding at a fixture\'s own version gives Redis\'s bytes (nocompress fixtures)', async (t) => {
  // Known and accepted differences: type-3 zsets are written by Redis in hash-table order; a
  // decoded stream has lost its deleted entries (so its nodes differ); a LISTPACK_EX hash with no
  // TTL left is re-encoded as a plain listpack hash (type 16).
  for (const f of fixtures) {
    if (f.variant !== 'nocompress') continue;
    const source = await readRdbAll(readBytes(fixturePath(f.rdb)));
    let same = 0;
    let compared = 0;
    for (const r of source) {
      if (r.kind !== 'key' || r.type === 3) continue;
      const v = decodeValue(r.type, r.payload);
      if (v.type === 'stream' && streamHasDeleted(r.payload)) continue;
      if (r.type === 25 && v.type === 'hash' && (v.fieldExpireAt ?? []).length === 0) continue;
      const res = encodeValue(v, f.rdbVersion, { compress: false });
      compared++;
      if (!isDropped(res) && res.type === r.type && hex(res.payload) === hex(r.payload)) same++;
      else t.fail(`${f.rdb} ${Buffer.from(r.key).toString()}: type ${r.type} re-encoded differently`);
    }
    t.equal(same, compared, `${f.rdb}: ${compared} values byte-identical`);
  }
});

/** Whether any node of a serialized stream has entries flagged deleted. */
function streamHasDeleted(payload: Uint8Array): boolean {
  const c = new Cursor(payload);
  const nodes = c.len();
  for (let i = 0; i < nodes; i++) {
    c.string();
    const lp = listpackValues(c.string());
    if (Number(lp[1]) > 0) return true;
  }
  return false;
}

t.test('exact bytes of a small file (RDB-FORMAT.md §1)', async (t) => {
  const w = new RdbWriter({ version: 10, ctime: 1700000000, usedMem: 1000000 });
  w.begin();
  w.selectDb(0, 2, 1);
  t.equal(w.key({ key: enc('foo'), type: 0, payload: Uint8Array.of(3, 0x62, 0x61, 0x72), expireAt: 1893456000000, idle: -1, freq: -1 }), 'copied');
  t.equal(w.key({ key: enc('n'), type: 0, payload: Uint8Array.of(0xc1, 0x2c, 0x01), expireAt: -1, idle: -1, freq: -1 }), 'copied');
  w.end();
  const got = w.drain();
  const body = new Bytes()
    .ascii('REDIS0010')
    .raw(0xfa).str('redis-ver').str('7.0.15')
    .raw(0xfa).str('redis-bits').raw(0xc0, 64)
    .raw(0xfa).str('ctime').raw(0xc2).i32le(1700000000)
    .raw(0xfa).str('used-mem').raw(0xc2).i32le(1000000)
    .raw(0xfa).str('aof-base').raw(0xc0, 0)
    .raw(0xfe, 0x00)
    .raw(0xfb, 0x02, 0x01)
    .raw(0xfc, 0x00, 0xb4, 0xc5, 0xda, 0xb8, 0x01, 0x00, 0x00)
    .raw(0x00).str('foo').str('bar')
    .raw(0x00).str('n').raw(0xc1, 0x2c, 0x01)
    .raw(0xff)
    .bytes();
  const expected = new Uint8Array(body.length + 8);
  expected.set(body);
  expected.set(bitwiseCrc64(body), body.length);
  t.equal(hex(got), hex(expected), 'byte for byte');
  t.equal(w.pendingBytes, 0, 'drained');
  const recs = await readRdbAll(got);
  t.equal(recs.filter((r) => r.kind === 'aux').length, 5, 'five aux fields, no repl-id / repl-offset');

  // RDB 6: header, SELECTDB, the key, EOF, CRC; no AUX, no RESIZEDB.
  const w6 = new RdbWriter({ version: 6 });
  w6.begin();
  w6.selectDb(3, 1, 0);
  w6.key({ key: enc('k'), type: 0, payload: Uint8Array.of(1, 0x76), expireAt: 5, idle: 9, freq: 9 });
  w6.end();
  const b6 = w6.drain();
  const body6 = new Bytes().ascii('REDIS0006').raw(0xfe, 3).raw(0xfc).i64le(5).raw(0).str('k').str('v').raw(0xff).bytes();
  t.equal(hex(b6), hex(body6) + hex(bitwiseCrc64(body6)), 'RDB 6 layout');

  // RDB 9 writes aof-preamble instead of aof-base.
  const w9 = new RdbWriter({ version: 9, ctime: 1 });
  w9.begin();
  w9.end();
  const aux9 = (await readRdbAll(w9.drain())).filter((r) => r.kind === 'aux').map((r) => (r.kind === 'aux' ? Buffer.from(r.key).toString() : ''));
  t.same(aux9, ['redis-ver', 'redis-bits', 'ctime', 'used-mem', 'aof-preamble'], 'RDB 9 aux fields');
});

/** CRC-64/Jones by the bit-by-bit definition (RDB-FORMAT.md §10.1), independent of crc64.ts. */
function bitwiseCrc64(b: Uint8Array): Uint8Array {
  let crc = 0n;
  for (const byte of b) {
    crc ^= BigInt(byte);
    for (let i = 0; i < 8; i++) crc = (crc & 1n) !== 0n ? (crc >> 1n) ^ 0x95ac9329ac4bc9b5n : crc >> 1n;
  }
  const out = new Uint8Array(8);
  for (let i = 0; i < 8; i++) out[i] = Number((crc >> BigInt(8 * i)) & 0xffn);
  return out;
}

t.test('the state machine refuses calls out of order', async (t) => {
  const k = { key: enc('k'), type: 0, payload: Uint8Array.of(1, 0x76), expireAt: -1, idle: -1, freq: -1 };
  const w = new RdbWriter({ version: 12 });
  t.throws(() => w.selectDb(0, 1, 0), /before begin/, 'selectDb before begin');
  t.throws(() => w.key(k), /before begin/, 'key before begin');
  t.throws(() => w.end(), /before begin/, 'end before begin');
  w.begin();
  t.throws(() => w.begin(), Error, 'begin twice');
  t.throws(() => w.key(k), /before selectDb/, 'key before selectDb');
  t.equal(w.function(enc('#!lua name=lib\nredis.register_function("f", function() return 1 end)')), true, 'function before the first db');
  w.selectDb(2, 1, 0);
  t.throws(() => w.function(enc('#!lua name=x\n')), /after selectDb/, 'function after selectDb');
  t.throws(() => w.selectDb(2, 1, 0), /already written/, 'the same db twice');
  t.throws(() => w.selectDb(1, 1, 0), /increasing order/, 'a db going backwards');
  t.throws(() => w.selectDb(-1, 1, 0), /not a database number/, 'a negative db');
  t.equal(w.key(k), 'copied');
  w.selectDb(5, 1, 0);
  t.equal(w.key(k), 'copied', 'the same key name in another db');
  w.end();
  t.throws(() => w.key(k), /already ended/, 'key after end');
  t.throws(() => w.selectDb(9, 1, 0), /already ended/, 'selectDb after end');
  t.throws(() => w.end(), /already ended/, 'end twice');
  t.throws(() => w.aux('a', 'b'), /already ended/, 'aux after end');
  t.throws(() => w.moduleAux(Uint8Array.of(0)), /already ended/, 'moduleAux after end');
  const bytes = w.drain();
  t.ok(w.ended, 'ended');
  const recs = await readRdbAll(bytes);
  t.same(recs.filter((r) => r.kind === 'key').map((r) => (r.kind === 'key' ? r.db : -1)), [2, 5], 'both keys in their dbs');
  t.throws(() => new RdbWriter({ version: 5 }), RangeError, 'version 5 is not written');
  t.throws(() => new RdbWriter({ version: 13 }), RangeError, 'version 13 is not written');
});

t.test('a key that cannot be written leaves no trace in the output', async (t) => {
  const stream = (await readRdbAll(readBytes(fixturePath('redis-7.0.15-types.rdb'))))
    .find((r): r is KeyRecord => r.kind === 'key' && r.type === 19)!;
  const w = new RdbWriter({ version: 8 });
  w.begin();
  w.selectDb(0, 2, 1);
  const before = w.pendingBytes;
  const err = (() => {
    try {
      w.key({ ...stream, expireAt: 1893456000000 });
      return undefined;
    } catch (e) {
      return e;
    }
  })();
  t.ok(err instanceof UnsupportedError, 'UnsupportedError');
  if (err instanceof UnsupportedError) {
    t.equal(Buffer.from(err.key!).toString(), Buffer.from(stream.key).toString(), 'names the key');
    t.match(err.message, /stream needs RDB 9/, 'says why');
  }
  t.equal(w.pendingBytes, before, 'nothing written');
  w.key({ key: enc('after'), type: 0, payload: Uint8Array.of(1, 0x78), expireAt: -1, idle: -1, freq: -1 });
  w.end();
  const recs = await readRdbAll(w.drain());
  t.same(recs.filter((r) => r.kind === 'key').length, 1, 'the file is sound and holds the other key');
});

t.test('functions, module values and module aux below the versions that have them', async (t) => {
  const code = enc("#!lua name=mylib\nredis.register_function('f', function() return 1 end)\n");
  const w9 = new RdbWriter({ version: 9 });
  w9.begin();
  t.throws(() => w9.function(code), { name: 'UnsupportedError', message: /"mylib" needs RDB 10/ }, 'names the library');
  const d9 = new RdbWriter({ version: 9, dropUnsupported: true });
  d9.begin();
  t.equal(d9.function(code), false, 'dropped');
  t.same(d9.drops.map((d) => [d.kind, d.name]), [['function', 'mylib']], 'recorded');
  t.equal(d9.stats.functionsDropped, 1);

  // A module value (type 7): module id, one STRING item, EOF.
  const id = moduleId('ReJSON-RL', 3);
  const modPayload = new Bytes().len(id).len(5).str('{"a":1}').len(0).bytes();
  const modKey = { key: enc('json'), type: 7, payload: modPayload, expireAt: -1, idle: -1, freq: -1 };
  for (const version of [8, 9, 12]) {
    const w = new RdbWriter({ version });
    w.begin();
    w.selectDb(0, 1, 0);
    t.equal(w.key(modKey), 'copied', `module value copied at ${version}`);
    w.end();
    const k = (await readRdbAll(w.drain())).find((r): r is KeyRecord => r.kind === 'key')!;
    t.equal(hex(k.payload), hex(modPayload), `module value intact at ${version}`);
  }
  const w7 = new RdbWriter({ version: 7 });
  w7.begin();
  w7.selectDb(0, 1, 0);
  t.throws(() => w7.key(modKey), { name: 'UnsupportedError', message: /module value needs RDB 8/ }, 'module value below 8');
  const d7 = new RdbWriter({ version: 7, dropUnsupported: true });
  d7.begin();
  d7.selectDb(0, 1, 0);
  t.match(d7.key(modKey), { dropped: /module/ }, 'dropped below 8');

  // MODULE_AUX: module id, opcode 2, when 2 (after), one UINT item, EOF.
  const auxRaw = new Bytes().len(id).len(2).len(2).len(2).len(42).len(0).bytes();
  const w12 = new RdbWriter({ version: 12 });
  w12.begin();
  t.equal(w12.moduleAux(auxRaw), true);
  w12.selectDb(0, 1, 0);
  w12.key({ key: enc('k'), type: 0, payload: Uint8Array.of(1, 0x76), expireAt: -1, idle: -1, freq: -1 });
  t.equal(w12.moduleAux(auxRaw), true, 'also after the keys');
  w12.end();
  const recs = await readRdbAll(w12.drain());
  const mods = recs.filter((r) => r.kind === 'moduleAux');
  t.equal(mods.length, 2, 'both read back');
  t.equal(mods[0]?.kind === 'moduleAux' ? hex(mods[0].raw) : '', hex(auxRaw), 'raw bytes intact');
  const w8 = new RdbWriter({ version: 8 });
  w8.begin();
  t.throws(() => w8.moduleAux(auxRaw), { name: 'UnsupportedError', message: /ReJSON-RL needs RDB 9/ }, 'module aux below 9');
});

t.test('conversions follow RDB-FORMAT.md §9.3', async (t) => {
  const source = await readRdbAll(readBytes(fixturePath('redis-7.2.6-types.rdb')));
  const byName = new Map<string, KeyRecord>();
  for (const r of source) if (r.kind === 'key' && r.db === 0) byName.set(Buffer.from(r.key).toString(), r);
  const conv = (name: string, target: number) => {
    const r = byName.get(name)!;
    const res = convertForTarget(r.type, r.payload, target, { dropUnsupported: false, key: r.key });
    if (isDropped(res)) throw new Error('dropped');
    return { from: r, res, before: decodeValue(r.type, r.payload), after: decodeValue(res.type, res.payload) };
  };
  const same = (a: Value, b: Value) => JSON.stringify(keyJson(0, enc('x'), a, -1)) === JSON.stringify(keyJson(0, enc('x'), b, -1));

  const table: Array<[string, number, number]> = [
    ['list:small', 9, 14], ['list:small', 7, 14], ['list:small', 6, 10], ['list:large', 6, 1], ['list:large', 8, 14],
    ['hash:small', 9, 13], ['zset:small', 9, 12], ['zset:small', 7, 12], ['set:strings-small', 10, 2],
    ['set:intset-small', 10, 11], ['zset:large', 7, 3], ['stream:basic', 10, 19], ['stream:basic', 9, 15],
  ];
  for (const [name, target, type] of table) {
    const { from, res, before, after } = conv(name, target);
    t.equal(res.type, type, `${name} (type ${from.type}) → ${type} for RDB ${target}`);
    t.ok(same(before, after) || before.type === 'stream', `${name}: same value`);
  }

  // listpack → ziplist zset keeps every score entry as it is (int stays int, text stays text).
  {
    const r = byName.get('zset:small')!;
    const lp = listpackValues(new Cursor(r.payload).string());
    const { res } = conv('zset:small', 9);
    const zl = ziplistValues(new Cursor(res.payload).string());
    t.same(zl.map((e) => typeof e === 'object' ? `s:${Buffer.from(e).toString()}` : `i:${e}`),
      lp.map((e) => typeof e === 'object' ? `s:${Buffer.from(e).toString()}` : `i:${e}`), 'score entries unchanged');
  }

  // 5 → 3: scores as the text Redis <= 7.0 writes, infinities as the 254/255 codes.
  {
    const pairs: Array<[Uint8Array, number]> = [[enc('a'), 0.1], [enc('b'), -Infinity], [enc('c'), 42], [enc('d'), 1e300], [enc('e'), Infinity]];
    const z2 = encodeValue({ type: 'zset', value: pairs.map(([m, s]) => [m, s] as [Uint8Array, number]).concat(Array.from({ length: 200 }, (_, i) => [enc(`m${i}`), i / 3] as [Uint8Array, number])) }, 12);
    if (isDropped(z2)) throw new Error('dropped');
    t.equal(z2.type, 5, 'a big zset is type 5 at RDB 12');
    const z3 = convertForTarget(z2.type, z2.payload, 7, { dropUnsupported: false });
    if (isDropped(z3)) throw new Error('dropped');
    t.equal(z3.type, 3, 'type 3 at RDB 7');
    const text = Buffer.from(z3.payload).toString('latin1');
    for (const s of ['0.10000000000000001', '1.0000000000000001e+300', '\u000242']) t.ok(text.includes(s), `score text ${JSON.stringify(s)}`);
    t.ok(z3.payload.includes(254) && z3.payload.includes(255), 'infinities as 254/255');
    const back = decodeValue(3, z3.payload);
    const orig = decodeValue(5, z2.payload);
    t.ok(same(back, orig), 'same zset after 5 → 3');
  }

  // Hash field TTLs: pre-GA 22/23 → 24/25 for RDB 12; below 12 refused, or plain without TTLs.
  {
    const lp23 = listpack(['f1', 'v1', 0, 'f2', 'v2', 1900000000000, 'f3', 'v3', 1800000000000]);
    const p23 = new Bytes().str(lp23).bytes();
    const r25 = convertForTarget(23, p23, 12, { dropUnsupported: false });
    if (isDropped(r25)) throw new Error('dropped');
    t.equal(r25.type, 25, '23 → 25');
    const c = new Cursor(r25.payload);
    t.equal(c.i64le(), 1800000000000, 'minExpire = the real minimum');
    t.same(listpackValues(c.string()).map((e) => (typeof e === 'object' ? Buffer.from(e).toString() : Number(e))),
      ['f3', 'v3', 1800000000000, 'f2', 'v2', 1900000000000, 'f1', 'v1', 0], 'TTL fields first, by expiry, then the rest');

    const p22 = new Bytes().len(3).len(0).str('a').str('1').len(1900000000000).str('b').str('2').len(1700000000000).str('c').str('3').bytes();
    const r24 = convertForTarget(22, p22, 12, { dropUnsupported: false });
    if (isDropped(r24)) throw new Error('dropped');
    t.equal(r24.type, 25, '22 (small) → 25');
    const big: Array<[Uint8Array, Uint8Array]> = Array.from({ length: 600 }, (_, i) => [enc(`f${i}`), enc(`v${i}`)]);
    const hv: Value = { type: 'hash', value: big, fieldExpireAt: [[enc('f7'), 1700000000000], [enc('f9'), 1700000000500]] };
    const e24 = encodeValue(hv, 12);
    if (isDropped(e24)) throw new Error('dropped');
    t.equal(e24.type, 24, 'a large hash with TTLs is type 24');
    const c24 = new Cursor(e24.payload);
    t.equal(c24.i64le(), 1700000000000, 'type 24 minExpire');
    t.same(decodeValue(24, e24.payload), hv, 'type 24 round trip');
    t.throws(() => encodeValue(hv, 11, { key: enc('h') }), { name: 'UnsupportedError', message: /field TTLs/ }, 'TTLs below 12 refused');
    const plain = encodeValue(hv, 11, { dropUnsupported: true });
    t.match(plain, { type: 4, fieldTtlsDropped: 2 }, 'TTLs dropped below 12');
    const small = convertForTarget(25, r25.payload, 9, { dropUnsupported: true });
    t.match(small, { type: 13, fieldTtlsDropped: 2 }, '25 → 13 for RDB 9');
    t.throws(() => convertForTarget(25, r25.payload, 11, { dropUnsupported: false, key: enc('hk'), offset: 1234 }),
      { name: 'UnsupportedError', offset: 1234 }, 'offset given');
  }

  // Valkey 9 HASH_2 (type 22 in a VALKEY file) → Redis 7.4 layouts.
  {
    const p = new Bytes().len(2).str('a').str('1').i64le(1900000000000).str('b').str('2').i64le(-1).bytes();
    const r = convertForTarget(22, p, 12, { dropUnsupported: false, valkey: true });
    if (isDropped(r)) throw new Error('dropped');
    t.equal(r.type, 25, 'Valkey HASH_2 → 25');
    t.same(decodeValue(25, r.payload), { type: 'hash', value: [[enc('a'), enc('1')], [enc('b'), enc('2')]], fieldExpireAt: [[enc('a'), 1900000000000]] });
  }

  // Type 6 is never written; an unknown type is refused.
  t.throws(() => convertForTarget(6, Uint8Array.of(0), 12, { dropUnsupported: false }), UnsupportedError, 'type 6');
  t.throws(() => convertForTarget(99, Uint8Array.of(0), 12, { dropUnsupported: false }), UnsupportedError, 'type 99');
  t.throws(() => convertForTarget(16, Uint8Array.of(0x40), 9, { dropUnsupported: false }), CorruptError, 'a truncated payload is corrupt');
});

t.test('formatDoubleG17 prints as C\'s %.17g', async (t) => {
  const vectors: Array<[number, string]> = [
    [0.1, '0.10000000000000001'],
    [3.141592653589793, '3.1415926535897931'],
    [1e300, '1.0000000000000001e+300'],
    [1e-5, '1.0000000000000001e-05'],
    [0.5, '0.5'],
    [100, '100'],
    [1e17, '1e+17'],
    [123456789012345680000, '1.2345678901234568e+20'],
    [-0.5, '-0.5'],
    [0, '0'],
    [-0, '-0'],
    [1e16, '10000000000000000'],
    [0.0001, '0.0001'],
    [0.00001234, '1.234e-05'],
    [5e-324, '4.9406564584124654e-324'],
    [1.7976931348623157e308, '1.7976931348623157e+308'],
    // Exact ties at the 17th digit go to the even digit (glibc), not up.
    [1234567890123456.25, '1234567890123456.2'],
    [1234567890123456.75, '1234567890123456.8'],
  ];
  for (const [v, s] of vectors) t.equal(formatDoubleG17(v), s, `${v}`);
  for (const [v, s] of [[0.1, '0.1'], [1e300, '1e+300'], [1.5e-7, '1.5e-7'], [123456789, '123456789'], [1e21, '1e+21'], [-2.5, '-2.5'], [0.000001, '0.000001']] as Array<[number, string]>) {
    t.equal(formatDoubleShortest(v), s, `shortest ${v}`);
  }
});

t.test('DUMP payloads (RDB-FORMAT.md §8)', async (t) => {
  const hello = buildDumpPayload(0, Uint8Array.of(5, 0x68, 0x65, 0x6c, 0x6c, 0x6f), 10);
  t.equal(hex(hello), '000568656c6c6f0a00' + '6372df766534200a', 'DUMP of "hello" by 7.0.15');
  const int = buildDumpPayload(0, Uint8Array.of(0xc2, 0x87, 0xd6, 0x12, 0x00), 10);
  t.equal(hex(int), '00c287d612000a00' + 'e93e1e362b3b7c5e', 'DUMP of 1234567 by 7.0.15');
  const v12 = buildDumpPayload(0, Uint8Array.of(5, 0x68, 0x65, 0x6c, 0x6c, 0x6f), 12);
  t.equal(hex(v12), '000568656c6c6f0c00' + 'a804ebb69f1ebe43', 'version 12');

  const p = parseDumpPayload(hello, { maxVersion: 10 });
  t.same([p.type, hex(p.payload), p.version], [0, '0568656c6c6f', 10], 'parsed');
  t.same(decodeValue(p.type, p.payload), { type: 'string', value: enc('hello') }, 'decodes');
  for (let i = 0; i < hello.length; i++) {
    if (i === hello.length - 10 || i === hello.length - 9) continue; // the version bytes: see below
    const bad = hello.slice();
    bad[i] ^= 0x01;
    t.throws(() => parseDumpPayload(bad), ChecksumError, `flipped byte ${i}`);
  }
  const zero = hello.slice();
  zero.fill(0, zero.length - 8);
  t.throws(() => parseDumpPayload(zero), ChecksumError, 'a zero CRC is checked, not a wildcard');
  t.throws(() => parseDumpPayload(v12, { maxVersion: 10 }), { name: 'UnsupportedError', message: /at most 10, found 12/ }, 'too new for 7.0');
  t.throws(() => parseDumpPayload(buildDumpPayload(0, Uint8Array.of(0), 13)), UnsupportedError, 'too new by default');
  t.throws(() => parseDumpPayload(hello.subarray(0, 10)), CorruptError, 'too short');
  t.throws(() => parseDumpPayload(buildDumpPayload(0xfe, Uint8Array.of(0), 10)), CorruptError, 'an opcode as type');

  // payloadForTarget converts what the target cannot load, and copies the rest.
  const src = (await readRdbAll(readBytes(fixturePath('redis-7.4.1-types.rdb')))).filter((r): r is KeyRecord => r.kind === 'key');
  let converted = 0;
  let copied = 0;
  for (const r of src) {
    const res = payloadForTarget(r, 10, { dropUnsupported: true });
    if ('dropped' in res) continue;
    const parsed = parseDumpPayload(res.dump, { maxVersion: 10 });
    t.equal(parsed.type, res.type);
    if (res.outcome === 'copied') {
      copied++;
      t.equal(hex(parsed.payload), hex(r.payload), 'copied payload intact');
    } else {
      converted++;
    }
    const a = keyJson(0, r.key, decodeValue(parsed.type, parsed.payload), -1);
    const b = keyJson(0, r.key, decodeValue(r.type, r.payload), -1);
    delete b['fieldExpireAt'];
    t.same(compareJsonl([b], [a]), [], `${Buffer.from(r.key).toString()}: same value`);
  }
  t.ok(copied > 0 && converted > 0, `${copied} copied, ${converted} converted`);
});

t.test('drain() hands out chunks whose concatenation is the file, CRC spanning them', async (t) => {
  const source = await readRdbAll(readBytes(fixturePath('redis-7.0.15-types.rdb')));
  const whole = writeRecords(source, { version: 10, ctime: 5 }).bytes;
  const w = new RdbWriter({ version: 10, ctime: 5 });
  w.begin();
  const parts: Uint8Array[] = [w.drain()];
  let db = -1;
  for (const r of source) {
    if (r.kind === 'function') w.function(r.code);
    if (r.kind !== 'key') continue;
    if (r.db !== db) {
      const keys = source.filter((x) => x.kind === 'key' && x.db === r.db);
      w.selectDb(r.db, keys.length, keys.filter((x) => x.kind === 'key' && x.expireAt >= 0).length);
      db = r.db;
    }
    w.key(r);
    parts.push(w.drain());
  }
  w.end();
  parts.push(w.drain());
  t.ok(parts.length > 70, `${parts.length} chunks`);
  t.equal(hex(Buffer.concat(parts)), hex(whole), 'same bytes as one drain');
  t.equal(w.stats.bytesOut, whole.length, 'bytesOut');
  const recs = await readRdbAll(Buffer.concat(parts));
  t.equal(recs[recs.length - 1]?.kind === 'eof' ? (recs[recs.length - 1] as { checksum: string }).checksum : '', 'ok', 'CRC ok');
});
