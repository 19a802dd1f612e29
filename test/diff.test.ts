/**
 * `rdbmerge diff` end to end, on real fixtures and a real redis-server 7.0:
 *  - a fixture against itself: no difference, exit 0 (the CLI and the library function);
 *  - against a copy a real server wrote after changing, deleting and adding keys and changing an
 *    expiry: exactly those keys, with the part that differs, exit 10; `--ttl-tolerance` wide
 *    enough hides the expiry change; selection options apply to both sides;
 *  - the same data in two RDB versions (an RDB 9 fixture, and the RDB 10 file redis 7.0 saves
 *    after loading it: every encoding rewritten): no difference;
 *  - directories as sides, and a side that does not exist (exit 2).
 * A missing redis-server fails this test (never a skip).
 */
import t, { type Test as Tap } from 'tap';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { defaultSharedOptions } from '../src/cli-options.js';
import { diff, type DiffDifference } from '../src/pipelines/diff.js';
import { runCli } from './helpers/cli.js';
import { fixturePath } from './helpers/fixtures.js';
import { bootRdb, requireRedisServer, type RedisHandle } from './helpers/redis-server.js';

const redisBin = requireRedisServer(t);
const work = mkdtempSync(join(tmpdir(), 'rdbmerge-diff-'));
t.teardown(() => rmSync(work, { recursive: true, force: true }));

const F70 = fixturePath('redis-7.0.15-types.rdb');
const F50 = fixturePath('redis-5.0.14-types.rdb');

/** Boots `file`, lets `change` work on it, SAVEs, and copies the dump to `dest`. */
async function savedCopy(t: Tap, file: string, dest: string, change: (r: Redis) => Promise<void>): Promise<void> {
  const h: RedisHandle = await bootRdb(file, { ...(redisBin !== undefined ? { bin: redisBin } : {}) });
  const r = new Redis({ port: h.port, host: h.host, lazyConnect: true, maxRetriesPerRequest: 1 });
  try {
    await r.connect();
    await change(r);
    t.equal(await r.save(), 'OK', `SAVE of ${file}`);
    copyFileSync(join(h.dir, 'dump.rdb'), dest);
  } finally {
    r.disconnect();
    await h.stop();
  }
}

interface JsonEvent extends DiffDifference {
  event: string;
}

function parseOut(stdout: string): { events: JsonEvent[]; report: Record<string, unknown> } {
  const lines = stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
  const report = lines.pop()!;
  return { events: lines as unknown as JsonEvent[], report };
}

t.test('a fixture against itself: no difference, exit 0', async (t) => {
  const r = await runCli(['diff', F70, F70]);
  t.equal(r.code, 0, `exit 0: ${r.stderr}`);
  t.match(r.stdout, /^same: A 77 keys \(1 file\(s\)\), B 77 keys .*77 equal, 0 only in A, 0 only in B, 0 different/);
  const j = await runCli(['diff', F70, F70, '--json', '-q']);
  t.equal(j.code, 0);
  const { events, report } = parseOut(j.stdout);
  t.same(events, [], 'no difference events');
  t.match(report, { command: 'diff', same: true, keysA: 77, keysB: 77, inBoth: 77, equal: 77, onlyA: 0, onlyB: 0, different: 0, differenceCount: 0 });

  // The library function: a report, nothing printed.
  const rep = await diff(F70, F70, { select: defaultSharedOptions() });
  t.equal(rep.same, true);
  t.equal(rep.equal, 77);
  t.same(rep.differences, []);
  t.same(rep.functions, { onlyA: [], onlyB: [] });
});

t.test('against a copy a real server changed, deleted and added keys in, then saved', async (t) => {
  const changed = join(work, 'changed.rdb');
  const newExpiry = 4102444899000;
  await savedCopy(t, F70, changed, async (r) => {
    await r.set('str:text', 'a different value'); // value
    await r.hset('hash:small', 'added-field', 'x'); // value of a hash
    await r.del('list:small'); // deleted
    await r.select(7);
    await r.del('db7:set'); // deleted in another db
    await r.select(0);
    await r.set('diff:added', 'new'); // added
    await r.rpush('diff:added-list', 'a', 'b'); // added
    await r.pexpireat('ttl:far:str', newExpiry); // expiry changed
    await r.persist('ttl:far:list'); // expiry removed
    await r.del('zset:small');
    await r.sadd('zset:small', 'now-a-set'); // type changed
  });

  const r = await runCli(['diff', F70, changed, '--json', '-q']);
  t.equal(r.code, 10, `exit 10: ${r.stderr}`);
  const { events, report } = parseOut(r.stdout);
  const got = events.map((e) => `${e.kind} ${e.db} ${String(e.key)}${e.what ? ` ${e.what.join('+')}` : ''}`).sort();
  t.same(got, [
    'different 0 hash:small value',
    'different 0 str:text value',
    'different 0 ttl:far:list expireAt',
    'different 0 ttl:far:str expireAt',
    'different 0 zset:small type+value',
    'onlyA 0 list:small',
    'onlyA 7 db7:set',
    'onlyB 0 diff:added',
    'onlyB 0 diff:added-list',
  ], 'exactly the keys changed, deleted and added');
  t.ok(events.every((e) => e.event === 'difference'), 'one difference event a line');
  const ttl = events.find((e) => e.key === 'ttl:far:str')!;
  t.equal(ttl.a, 4102444800000);
  t.equal(ttl.b, newExpiry);
  t.equal(events.find((e) => e.key === 'ttl:far:list')!.b, null, 'a removed expiry is null on B');
  t.match(report, {
    same: false, keysA: 77, keysB: 77, onlyA: 2, onlyB: 2, different: 5, equal: 70, differenceCount: 9,
    differentBy: { type: 1, value: 3, expireAt: 2, fieldExpireAt: 0 },
  });

  // Human output: the counts, then the first --limit differences.
  const h = await runCli(['diff', F70, changed, '--limit', '3']);
  t.equal(h.code, 10);
  const lines = h.stdout.trim().split('\n');
  t.match(lines[0], /^DIFFERENT: .*70 equal, 2 only in A, 2 only in B, 5 different \(type 1, value 3, expireAt 2\)/);
  t.equal(lines.length, 1 + 3 + 1, 'counts, 3 differences, "more" line');
  t.match(lines[4], /^\.\.\. \(6 more;/);

  // A tolerance wider than the change hides it (a removed expiry stays a difference).
  const tol = await runCli(['diff', F70, changed, '--json', '-q', '--ttl-tolerance', '2d']);
  const te = parseOut(tol.stdout).events.map((e) => String(e.key));
  t.notOk(te.includes('ttl:far:str'), '--ttl-tolerance 2d: the shifted expiry matches');
  t.ok(te.includes('ttl:far:list'));

  // Selection applies to both sides.
  const db7 = await runCli(['diff', F70, changed, '--db', '7', '--json', '-q']);
  t.equal(db7.code, 10);
  t.same(parseOut(db7.stdout).events.map((e) => `${e.kind} ${String(e.key)}`), ['onlyA db7:set']);
  const m = await runCli(['diff', F70, changed, '--match', 'str:int:*']);
  t.equal(m.code, 0, '--match str:int:*: those keys are equal');
  t.match(m.stdout, /^same: A 17 keys/);

  // Directories as sides.
  const dirA = join(work, 'sideA');
  const dirB = join(work, 'sideB');
  mkdirSync(dirA);
  mkdirSync(dirB);
  copyFileSync(F70, join(dirA, 'one.rdb'));
  copyFileSync(changed, join(dirB, 'one.rdb'));
  const d = await runCli(['diff', dirA, dirB, '--json', '-q']);
  t.equal(d.code, 10);
  t.equal(parseOut(d.stdout).events.length, 9);
});

t.test('the same data in two RDB versions: no difference', async (t) => {
  const saved = join(work, 'from-rdb9.rdb');
  await savedCopy(t, F50, saved, async () => undefined);
  const r = await runCli(['diff', F50, saved, '--json', '-q']);
  const { events, report } = parseOut(r.stdout);
  t.same(events, [], 'RDB 9 (redis 5.0) and RDB 10 (redis 7.0 after loading it): equal');
  t.equal(r.code, 0, `exit 0: ${r.stderr}`);
  t.match(report, { same: true, keysA: 78, equal: 78 });
  t.match(report, { inputsA: [{ rdbVersion: 9 }], inputsB: [{ rdbVersion: 10 }] });
});

t.test('bad sides', async (t) => {
  const r = await runCli(['diff', F70, join(work, 'nope.rdb')]);
  t.equal(r.code, 2);
  t.match(r.stderr, /side B: no such file or directory/);
  const s = await runCli(['diff', '-', F70]);
  t.equal(s.code, 2);
});
