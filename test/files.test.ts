/** Inputs and atomic outputs (src/io/files.ts), and the function-library reader (src/functions.ts). */
import t from 'tap';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { UsageError } from '../src/errors.js';
import { parseFunctionLibrary } from '../src/functions.js';
import {
  abortAllAtomicWrites, atomicWrite, expandInputs, openAtomicWrites, readChunks, snapshotTimeFromDisk,
} from '../src/io/files.js';

const tmp = mkdtempSync(join(tmpdir(), 'rdbmerge-files-'));
t.teardown(() => rmSync(tmp, { recursive: true, force: true }));

t.test('expandInputs', async (t) => {
  const dir = join(tmp, 'in');
  mkdirSync(dir);
  for (const n of ['b.rdb', 'a.rdb', 'Z.rdb', '\u00e9.rdb', 'x.txt']) writeFileSync(join(dir, n), 'x');
  mkdirSync(join(dir, 'sub.rdb'));
  const f = join(tmp, 'single.rdb');
  writeFileSync(f, 'x');
  t.same(await expandInputs([f, dir, '-']), [
    f, join(dir, 'Z.rdb'), join(dir, 'a.rdb'), join(dir, 'b.rdb'), join(dir, '\u00e9.rdb'), '-',
  ], 'files in order, a directory as its *.rdb files in byte order, - kept');
  await t.rejects(expandInputs([join(tmp, 'missing.rdb')]), { constructor: UsageError, message: /missing\.rdb/ });
  await t.rejects(expandInputs(['-', '-']), UsageError);
  const empty = join(tmp, 'empty');
  mkdirSync(empty);
  await t.rejects(expandInputs([empty]), { message: /no \*\.rdb/ });
});

t.test('readChunks gives fresh buffers covering the file', async (t) => {
  const f = join(tmp, 'chunks.bin');
  const data = new Uint8Array(10_000).map((_, i) => i * 7);
  writeFileSync(f, data);
  const chunks: Uint8Array[] = [];
  for await (const c of readChunks(f, 4096)) chunks.push(c);
  t.same(chunks.map((c) => c.length), [4096, 4096, 1808]);
  t.not(chunks[0]!.buffer, chunks[1]!.buffer, 'no buffer reuse');
  t.same(Buffer.concat(chunks), Buffer.from(data));
  const empty = join(tmp, 'empty.bin');
  writeFileSync(empty, '');
  let n = 0;
  for await (const _ of readChunks(empty)) n++;
  t.equal(n, 0);
  const early = readChunks(f, 1000);
  for await (const _ of early) break; // closes the file with a read in flight
  await t.rejects(async () => {
    for await (const _ of readChunks(join(tmp, 'nope'))) n++;
  }, UsageError);
});

t.test('snapshotTimeFromDisk', async (t) => {
  const f = join(tmp, 'snap.rdb');
  writeFileSync(f, 'x');
  utimesSync(f, 1_700_000_000, 1_700_000_000);
  t.same(await snapshotTimeFromDisk(f), { time: 1_700_000_000_000, source: 'mtime' });
  writeFileSync(join(tmp, 'snap.meta.json'), JSON.stringify({ snapshotTime: '2026-01-01T00:00:00Z' }));
  t.same(await snapshotTimeFromDisk(f), { time: Date.UTC(2026, 0, 1), source: 'meta.json' });
  writeFileSync(join(tmp, 'snap.meta.json'), JSON.stringify({ snapshotTime: 123 }));
  t.same(await snapshotTimeFromDisk(f), { time: 123, source: 'meta.json' });
  t.equal(await snapshotTimeFromDisk('-'), undefined);
});

t.test('atomicWrite: commit, abort, registry', async (t) => {
  const dest = join(tmp, 'out', 'merged.rdb');
  mkdirSync(join(tmp, 'out'));
  const w = await atomicWrite(dest);
  t.match(w.tempPath, /\.merged\.rdb\.tmp-\d+-[0-9a-f]+$/);
  t.equal(openAtomicWrites(), 1);
  await w.write(new Uint8Array([1, 2, 3]));
  await w.write(new Uint8Array(200_000).fill(9));
  await w.write(new Uint8Array([4]));
  t.notOk(existsSync(dest), 'nothing at dest before commit');
  await w.commit();
  t.equal(openAtomicWrites(), 0);
  const got = readFileSync(dest);
  t.equal(got.length, 3 + 200_000 + 1);
  t.same([...got.subarray(0, 4)], [1, 2, 3, 9]);
  t.equal(got[got.length - 1], 4);
  t.same(readdirSync(join(tmp, 'out')), ['merged.rdb'], 'no temp file left');

  const a = await atomicWrite(join(tmp, 'out', 'aborted.rdb'));
  await a.write(new Uint8Array(10));
  await a.abort();
  await a.abort();
  t.same(readdirSync(join(tmp, 'out')), ['merged.rdb']);

  const b1 = await atomicWrite(join(tmp, 'out', 'x.rdb'));
  const b2 = await atomicWrite(join(tmp, 'out', 'y.rdb'));
  await b1.write(new Uint8Array(5));
  t.equal(openAtomicWrites(), 2);
  await abortAllAtomicWrites();
  t.equal(openAtomicWrites(), 0);
  t.same(readdirSync(join(tmp, 'out')), ['merged.rdb'], 'an interrupt leaves nothing behind');
  await t.rejects(b2.write(new Uint8Array(1)));
});

t.test('function libraries', async (t) => {
  const fixture =
    "#!lua name=fixturelib\nredis.register_function('echo_first', function(keys, args) return args[1] end)\n" +
    "redis.register_function{function_name='ro_get', callback=function(keys, args) return redis.call('GET', keys[1]) end, flags={'no-writes'}}\n";
  t.same(parseFunctionLibrary(fixture), { library: 'fixturelib', engine: 'LUA', functions: ['echo_first', 'ro_get'], code: fixture });
  const other = '#!lua name=mylib\r\nlocal function f() return 1 end\nredis.register_function("zeta", f)\n' +
    'redis.register_function({callback = function() return {1} end, function_name = "alpha"})\nredis.register_function("zeta", f)\n';
  const p = parseFunctionLibrary(other);
  t.equal(p.library, 'mylib');
  t.same(p.functions, ['alpha', 'zeta'], 'both call forms, sorted, deduplicated');
  t.same(parseFunctionLibrary('return 1'), { library: '', engine: '', functions: [], code: 'return 1' });
});
