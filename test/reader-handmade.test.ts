/**
 * What no real file here covers, built byte by byte from the format's definition: module values
 * and MODULE_AUX, SLOT_INFO, hash field TTL types 22-25, RDB 1/2 second-precision expiries, the
 * Valkey 9 header and its own type 22, and the records around them.
 */
import t, { type Test } from 'tap';
import { Crc64, decodeValue, moduleId, moduleName, readRdbAll, RdbError } from '../native-free-parser/index.js';
import type { KeyRecord, RdbRecord } from '../native-free-parser/index.js';
import { Bytes, listpack } from './helpers/build.js';

const text = (b: Uint8Array): string => new TextDecoder().decode(b);

/** Awaits a read that must fail with an RdbError of `want.kind` (and a message matching). */
async function rejectsWith(t: Test, p: Promise<unknown>, want: { kind: string; message?: RegExp }): Promise<void> {
  const e = await p.then(() => null, (x: unknown) => x);
  t.ok(e instanceof RdbError, `an RdbError (${want.kind})`);
  if (e instanceof RdbError) {
    t.equal(e.kind, want.kind, `kind ${want.kind}: ${e.message}`);
    if (want.message !== undefined) t.match(e.message, want.message);
  }
}
const keys = (rs: RdbRecord[]): KeyRecord[] => rs.filter((r): r is KeyRecord => r.kind === 'key');

/** Appends EOF and a correct CRC-64 (RDB >= 5). */
function finish(b: Bytes): Uint8Array {
  b.raw(0xff);
  const body = b.bytes();
  const crc = new Crc64();
  crc.update(body);
  const out = new Uint8Array(body.length + 8);
  out.set(body);
  out.set(crc.digestBytes(), body.length);
  return out;
}

t.test('RDB 1: EXPIRETIME in seconds, no checksum (redis 2.2 rdb.c rdbLoad, REDIS_EXPIRETIME)', async (t) => {
  const b = new Bytes().ascii('REDIS0001');
  b.raw(0xfe).len(0);
  b.raw(0xfd).i32le(2000000000).raw(0).str('sec').str('v');
  b.raw(0).str('plain').str('p');
  b.raw(0xff);
  const rs = await readRdbAll(b.bytes());
  const ks = keys(rs);
  t.equal(ks.length, 2);
  t.equal(ks[0]!.expireAt, 2000000000 * 1000, 'seconds become ms');
  t.equal(ks[1]!.expireAt, -1, 'per-key expiry does not leak to the next key');
  const eof = rs[rs.length - 1];
  t.equal(eof?.kind === 'eof' ? eof.checksum : '', 'absent', 'RDB < 5 has no checksum');
});

t.test('RDB 2: encoded types 9-12 accepted with second expiries (redis 2.4 rdb.h)', async (t) => {
  const zl = new Bytes().u32le(11 + 3).u32le(10).u16le(1).raw(0, 0x01, 0x61).raw(0xff).bytes(); // ziplist ["a"]
  const b = new Bytes().ascii('REDIS0002');
  b.raw(0xfe).len(3);
  b.raw(0xfd).i32le(1500000000).raw(10).str('zl').str(zl);
  b.raw(0xff);
  const ks = keys(await readRdbAll(b.bytes()));
  t.equal(ks.length, 1);
  t.equal(ks[0]!.db, 3);
  t.equal(ks[0]!.expireAt, 1500000000000);
  const v = decodeValue(ks[0]!.type, ks[0]!.payload);
  t.same(v.type === 'list' ? v.value.map(text) : null, ['a']);
});

t.test('module value (type 7) and MODULE_AUX walked by their opcodes (redis rdb.c rdbLoadCheckModuleValue)', async (t) => {
  const id = moduleId('ReJSON-RL', 3);
  t.equal(id, 0x45e25238df912c03n, 'module id of ReJSON-RL encver 3 (RDB-FORMAT.md §7.1)');
  t.same(moduleName(id), { name: 'ReJSON-RL', encver: 3 });
  const b = new Bytes().ascii('REDIS0009');
  // MODULE_AUX before the keyspace: module id, opcode 2 (UINT) + when=1, then data, EOF (0).
  b.raw(0xf7).len(id).len(2).len(1).len(2).len(42).len(5).str('aux-data').len(0);
  b.raw(0xfe).len(0);
  // type 7: module id, then SINT, UINT (64-bit), FLOAT, DOUBLE, STRING items, then EOF.
  const value = new Bytes().len(id).len(1).len(7).len(2).len(0xffffffffffffffffn).len(3).raw(0, 0, 0x80, 0x3f)
    .len(4).f64le(2.5).len(5).str('{"a":1}').len(0);
  b.raw(7).str('json:1').raw(...value.bytes());
  b.raw(0).str('after').str('x');
  const rs = await readRdbAll(finish(b));
  const aux = rs.find((r) => r.kind === 'moduleAux');
  t.ok(aux, 'MODULE_AUX record');
  if (aux?.kind === 'moduleAux') {
    t.equal(aux.moduleId, id);
    t.equal(aux.when, 1);
  }
  const ks = keys(rs);
  t.equal(ks.length, 2, 'the key after the module value is found: the walk ended at EOF');
  t.same(ks[0]!.payload, value.bytes(), 'module value carried as its raw bytes');
  const v = decodeValue(7, ks[0]!.payload);
  t.equal(v.type, 'module');
  if (v.type === 'module') t.same([v.value.name, v.value.encver], ['ReJSON-RL', 3]);
  t.equal(text(ks[1]!.key), 'after');
});

t.test('module value of type 6 is unsupported, a bad module opcode is corrupt', async (t) => {
  const b6 = new Bytes().ascii('REDIS0008').raw(0xfe).len(0).raw(6).str('m').len(12345).raw(0xff);
  await rejectsWith(t, readRdbAll(b6.bytes()), { kind: 'unsupported' });
  const b7 = new Bytes().ascii('REDIS0009').raw(0xfe).len(0).raw(7).str('m').len(12345).len(9).raw(0xff);
  await rejectsWith(t, readRdbAll(b7.bytes()), { kind: 'corrupt' });
});

t.test('SLOT_INFO (0xF4) in RDB 12 cluster files (redis 7.4 rdb.c rdbSaveDb)', async (t) => {
  const b = new Bytes().ascii('REDIS0012');
  b.raw(0xfe).len(0).raw(0xfb).len(1).len(0);
  b.raw(0xf4).len(12182).len(1).len(0);
  b.raw(0).str('foo').str('bar');
  const rs = await readRdbAll(finish(b));
  const si = rs.find((r) => r.kind === 'slotInfo');
  t.same(si?.kind === 'slotInfo' ? [si.slot, si.slotSize, si.expiresSlotSize] : null, [12182, 1, 0]);
  t.equal(keys(rs).length, 1);
});

t.test('hash field TTL types 22-25 (redis 7.4 rdb.c rdbSaveObject/rdbLoadObject OBJ_HASH)', async (t) => {
  const b = new Bytes().ascii('REDIS0012');
  b.raw(0xfe).len(0);
  // 22 (7.4 RC): count, then (len absolute expiry or 0, field, value).
  b.raw(22).str('h22').len(2).len(4102444800000).str('f1').str('v1').len(0).str('f2').str('v2');
  // 23 (7.4 RC): listpack of (field, value, expiry) triples.
  b.raw(23).str('h23').str(listpack(['a', '1', 4102444800001, 'b', '2', 0]));
  // 24: 8-byte LE minExpire, count, then (len ttl (0 none, else expireAt - min + 1), field, value).
  b.raw(24).str('h24').i64le(4102444800000).len(2).len(1).str('x').str('1').len(0).str('y').str('2');
  // 25: 8-byte LE minExpire (ignored), listpack triples.
  b.raw(25).str('h25').i64le(4102444800000).str(listpack(['p', 'q', 4102444800005]));
  const ks = keys(await readRdbAll(finish(b)));
  const got = ks.map((k) => {
    const v = decodeValue(k.type, k.payload);
    if (v.type !== 'hash') return null;
    return {
      key: text(k.key),
      fields: v.value.map(([f, x]) => [text(f), text(x)]),
      ttl: (v.fieldExpireAt ?? []).map(([f, e]) => [text(f), e]),
    };
  });
  t.same(got, [
    { key: 'h22', fields: [['f1', 'v1'], ['f2', 'v2']], ttl: [['f1', 4102444800000]] },
    { key: 'h23', fields: [['a', '1'], ['b', '2']], ttl: [['a', 4102444800001]] },
    { key: 'h24', fields: [['x', '1'], ['y', '2']], ttl: [['x', 4102444800000]] },
    { key: 'h25', fields: [['p', 'q']], ttl: [['p', 4102444800005]] },
  ]);
});

t.test('Valkey 9 header and its own type 22 HASH_2 (valkey src/rdb.h, rdb.c RDB_TYPE_HASH_2)', async (t) => {
  const b = new Bytes().ascii('VALKEY080');
  b.raw(0xfa).str('valkey-ver').str('9.0.0');
  b.raw(0xfe).len(0);
  b.raw(22).str('vh').len(2).str('f').str('v').i64le(4102444800000).str('g').str('w').i64le(-1);
  const rs = await readRdbAll(finish(b));
  const h = rs[0];
  t.same(h?.kind === 'header' ? [h.magic, h.version] : null, ['VALKEY', 80]);
  const k = keys(rs)[0]!;
  const v = decodeValue(k.type, k.payload, { valkey: true });
  t.same(v.type === 'hash' ? v.fieldExpireAt?.map(([f, e]) => [text(f), e]) : null, [['f', 4102444800000]]);
  // Valkey's 23 (PATH_HASH) has no published layout: a clean "unsupported".
  const b23 = new Bytes().ascii('VALKEY080').raw(0xfe).len(0).raw(23).str('p').str('x');
  await rejectsWith(t, readRdbAll(finish(b23)), { kind: 'unsupported' });
  // A later Valkey version is refused cleanly, as is a Redis 8.6 (RDB 13) file.
  await rejectsWith(t, readRdbAll(finish(new Bytes().ascii('VALKEY081'))), { kind: 'unsupported' });
  await rejectsWith(t, readRdbAll(finish(new Bytes().ascii('REDIS0013'))), { kind: 'unsupported' });
});

t.test('AUX anywhere, FUNCTION2, RESIZEDB, IDLE and FREQ, empty keys counted', async (t) => {
  const b = new Bytes().ascii('REDIS0011');
  b.raw(0xfa).str('redis-ver').str('7.2.6');
  b.raw(0xf5).str("#!lua name=lib\nredis.register_function('f', function() return 1 end)");
  b.raw(0xfe).len(2).raw(0xfb).len(3).len(1);
  b.raw(0xf8).len(120).raw(0).str('idle').str('1');
  b.raw(0xfa).str('slot-info').str('1,2,3'); // Valkey 8 writes AUX between keys
  b.raw(0xf9).raw(7).raw(0xfc).i64le(4102444800000).raw(0).str('freq').str('2');
  b.raw(2).str('emptyset').len(0);
  b.raw(20).str('emptylp').str(listpack([]));
  b.raw(0xfa).str('lua').str('return 1'); // after the last db, as 4.0.4-6.2 write it
  const rs = await readRdbAll(finish(b));
  const kinds = rs.map((r) => r.kind);
  t.same(kinds, ['header', 'aux', 'function', 'selectDb', 'resizeDb', 'key', 'aux', 'key', 'skipped', 'skipped', 'aux', 'eof']);
  const ks = keys(rs);
  t.same(ks.map((k) => [k.db, k.idle, k.freq, k.expireAt]), [[2, 120, -1, -1], [2, -1, 7, 4102444800000]]);
});

t.test('an empty stream is a key, not skipped', async (t) => {
  const b = new Bytes().ascii('REDIS0010').raw(0xfe).len(0);
  // 19: 0 nodes, length 0, last id 1-3, first id 0-0, max deleted 1-3, entries added 3, 0 groups.
  b.raw(19).str('s').len(0).len(0).len(1).len(3).len(0).len(0).len(1).len(3).len(3).len(0);
  const ks = keys(await readRdbAll(finish(b)));
  t.equal(ks.length, 1);
  const v = decodeValue(ks[0]!.type, ks[0]!.payload);
  t.same(v.type === 'stream' ? [v.value.length, v.value.entries.length, v.value.entriesAdded] : null, [0, 0, 3n]);
});

t.test('bad magic, bad version, hostile lengths', async (t) => {
  const zeros = new Uint8Array(20);
  await rejectsWith(t, readRdbAll(zeros, { source: 'z.rdb' }), { kind: 'corrupt', message: /^corrupt: z\.rdb: offset 0: / });
  const gz = Uint8Array.from([0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3, 0, 0]);
  const e = await readRdbAll(gz).catch((x: unknown) => x);
  t.ok(e instanceof RdbError && /gzip/.test(e.hint ?? ''), 'a gzip file gets a hint');
  // A string claiming 2^40 bytes: refused before allocation (limit), not an attempt to buffer it.
  const huge = new Bytes().ascii('REDIS0009').raw(0xfe).len(0).raw(0).str('k').raw(0x81, 0, 0, 1, 0, 0, 0, 0, 0);
  await rejectsWith(t, readRdbAll(huge.bytes()), { kind: 'limit' });
  const many = new Bytes().ascii('REDIS0009').raw(0xfe).len(0).raw(1).str('k').len(1_000_000).str('a');
  await rejectsWith(t, readRdbAll(many.bytes(), { maxValueSize: 1000 }), { kind: 'limit' });
  await rejectsWith(t, readRdbAll(many.bytes()), { kind: 'truncated' });
});
