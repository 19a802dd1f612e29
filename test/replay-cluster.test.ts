/**
 * `rdbmerge replay --cluster` and `verify --target --cluster` against a real local Redis Cluster:
 * three masters started here (`--cluster-enabled yes`), joined with `redis-cli --cluster create`.
 *
 *  - a fixture with keys in several databases, replayed with `--into-db 0 --on-conflict last`:
 *    every key lands on the master owning its slot, and each master's keys, read back over RESP
 *    (resp-dump, independent of verify), equal the manifest after the same transforms; function
 *    libraries are on every master; `verify --cluster --exact` exits 0, and 10 after a key is
 *    changed, deleted, or added; the busy-key policies work per node;
 *  - the same inputs without `--into-db 0`: exit 2 before anything is written; a cluster node
 *    without `--cluster`, and `--cluster` against a standalone server: exit 2;
 *  - a value over `--proto-max-bulk-len` is rebuilt through a temporary key of the same slot;
 *  - the lfu / lru fixtures: OBJECT FREQ / OBJECT IDLETIME on each key's owner carry the file's values;
 *  - a slot migrated (SETSLOT IMPORTING / MIGRATING, MIGRATE ... KEYS, SETSLOT NODE) while a replay
 *    slowed by `--max-rate` writes to it: ASK and MOVED are followed (the report counts them), no
 *    key is lost or duplicated, `verify --cluster --exact` exits 0;
 *  - a master's connections killed while it holds RESTOREs unanswered (CLIENT PAUSE WRITE, then
 *    CLIENT KILL): the replay reconnects, sends them again with REPLACE, loses nothing;
 *  - a manual failover (CLUSTER FAILOVER on a replica) during the replay: the demoted master's
 *    MOVED is followed to the promoted replica, nothing lost.
 * The cluster has a replica per master (for the failover), started once for the whole file.
 *
 * A missing redis-server or redis-cli fails these tests (never a skip).
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { readRdbAll } from '../native-free-parser/index.js';
import type { KeyRecord } from '../native-free-parser/index.js';
import { compareJsonl } from '../src/format/compare.js';
import { keySlot } from '../src/merge/slots.js';
import { dumpOverResp } from '../src/redis/resp-dump.js';
import { replayCli, verifyCli } from './helpers/cli.js';
import { clusterKeyCount, flushCluster, migrateSlot, ownerIndex, startCluster, type ClusterHandle } from './helpers/cluster.js';
import { fixtureIndex, fixtureManifest, fixturePath } from './helpers/fixtures.js';
import { readBytes, readToJsonl } from './helpers/read.js';
import { requireRedisServer, startRedis } from './helpers/redis-server.js';
import { writeValues, type HandmadeKey } from './helpers/write.js';

type Line = Record<string, unknown>;

/** The manifest as `--into-db 0 --on-conflict last` leaves it: one line per key, the highest source db wins. */
function intoDbZeroLast(manifest: Line[]): Line[] {
  const byKey = new Map<string, Line>();
  const sorted = [...manifest].sort((a, b) => (a['db'] as number) - (b['db'] as number));
  for (const l of sorted) byKey.set(JSON.stringify(l['key']), { ...l, db: 0 });
  return [...byKey.values()];
}

function keyBytes(k: unknown): Buffer {
  return typeof k === 'string' ? Buffer.from(k, 'utf8') : Buffer.from((k as { b64: string }).b64, 'base64');
}

/** Each master's keys read over RESP, tagged with the master's index. */
async function readMasters(c: ClusterHandle): Promise<Array<{ node: number; lines: Line[] }>> {
  const out: Array<{ node: number; lines: Line[] }> = [];
  for (let i = 0; i < c.nodes.length; i++) {
    out.push({ node: i, lines: await dumpOverResp({ host: c.nodes[i]!.host, port: c.nodes[i]!.port }) });
  }
  return out;
}

function sameLines(t: Test, actual: Line[], expected: Line[], what: string): void {
  const diffs = compareJsonl(expected, actual);
  t.equal(diffs.length, 0, `${what}: ${actual.length} keys equal to the ${expected.length} expected${diffs.length > 0 ? `\n  ${diffs.slice(0, 5).map((d) => JSON.stringify(d).slice(0, 300)).join('\n  ')}` : ''}`);
}

const te = new TextEncoder();

/** `n` small keys (strings, some with expiries, some lists) named by `name`. */
function manyKeys(n: number, name: (i: number) => string): HandmadeKey[] {
  const values: HandmadeKey[] = [];
  for (let i = 0; i < n; i++) {
    const key = name(i);
    if (i % 10 === 3) values.push({ key, v: { type: 'list', value: [te.encode(`a${i}`), te.encode(`b${i}`)] } });
    else values.push({ key, v: { type: 'string', value: te.encode(`value-${i}-${'x'.repeat(i % 50)}`) }, ...(i % 7 === 0 ? { expireAt: 4102444800000 + i } : {}) });
  }
  return values;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

const bin = requireRedisServer(t);
if (bin !== undefined) {
  const work = mkdtempSync(join(tmpdir(), 'rdbmerge-cluster-'));
  t.teardown(() => rmSync(work, { recursive: true, force: true }));
  let cluster: ClusterHandle | undefined;
  t.before(async () => {
    cluster = await startCluster({ masters: 3, replicas: 1 });
  });
  t.teardown(async () => {
    await cluster?.stop();
  });
  const seed = (i = 0): string => `redis://${cluster!.nodes[i]!.host}:${cluster!.nodes[i]!.port}`;

  const fx = fixtureIndex().find((f) => f.rdb === 'redis-7.0.15-types.rdb')!;
  const file = fixturePath(fx.rdb);
  const manifest = fixtureManifest(fx);
  const expected = intoDbZeroLast(manifest);

  t.test('inputs with keys outside db 0, or a cluster seed without --cluster: exit 2, nothing written', async (t) => {
    const c = cluster!;
    await flushCluster(c);
    t.ok(manifest.some((l) => l['db'] !== 0), 'the fixture has keys outside db 0');
    const r = await replayCli([file, '--target', seed(), '--cluster']);
    t.equal(r.code, 2, 'keys in db 1, 7, 15 without --into-db 0: exit 2');
    t.match(r.stderr, /only database 0.*db 1 \(\d+ keys?\)/, 'the message names the databases');
    t.match(r.stderr, /--into-db 0/, 'the hint says --into-db 0');
    t.equal(await clusterKeyCount(c), 0, 'nothing was written');
    const fl = await c.clients[0]!.call('FUNCTION', 'LIST');
    t.same(fl, [], 'no function library loaded either');

    const into7 = await replayCli([file, '--target', seed(), '--cluster', '--into-db', '7']);
    t.equal(into7.code, 2, '--into-db 7 with --cluster: exit 2');

    const noFlag = await replayCli([file, '--target', seed(1), '--into-db', '0', '--on-conflict', 'last']);
    t.equal(noFlag.code, 2, 'a cluster node without --cluster: exit 2');
    t.match(noFlag.stderr, /Cluster node: add --cluster/, 'the message says to add --cluster');
    t.equal(await clusterKeyCount(c), 0, 'still nothing written');

    const v = await verifyCli([file, '--target', seed(), '--into-db', '0', '--on-conflict', 'last']);
    t.equal(v.code, 2, 'verify against a cluster node without --cluster: exit 2');

    const h = await startRedis();
    try {
      const standalone = await replayCli([file, '--target', `redis://${h.host}:${h.port}`, '--cluster', '--into-db', '0', '--on-conflict', 'last']);
      t.equal(standalone.code, 2, '--cluster against a standalone server: exit 2');
      t.match(standalone.stderr, /not a cluster node/);
    } finally {
      await h.stop();
    }
  });

  t.test('a fixture replayed into the cluster: each key on its owner, equal to the manifest; verify 0, then 10', async (t) => {
    const c = cluster!;
    await flushCluster(c);
    const r = await replayCli([file, '--target', seed(), '--cluster', '--into-db', '0', '--on-conflict', 'last', '--json', '-q']);
    t.equal(r.code, 0, `exit 0${r.code !== 0 ? `: ${r.stderr}` : ''}`);
    const rep = r.report!;
    t.equal(rep.restored, expected.length, `${expected.length} keys restored`);
    t.equal(rep.failed + rep.skipped, 0, 'none failed or skipped');
    t.equal(rep.cluster?.masters.length, 3, 'three masters found');
    t.equal(rep.connections, 12, '4 connections per master');
    t.equal(rep.functions.loaded.length, 2, 'the two function libraries loaded');

    // Independently of verify: each master's own keys over RESP.
    const per = await readMasters(c);
    const all = per.flatMap((p) => p.lines);
    sameLines(t, all, expected, 'all masters together');
    const misplaced: string[] = [];
    for (const p of per) {
      t.ok(p.lines.length > 0, `master ${p.node} holds keys (${p.lines.length})`);
      for (const l of p.lines) {
        const owner = await ownerIndex(c, keySlot(keyBytes(l['key'])));
        if (owner !== p.node) misplaced.push(`${JSON.stringify(l['key'])} on ${p.node}, owner ${owner}`);
      }
    }
    t.same(misplaced, [], 'every key is on the master owning its slot');
    for (let i = 0; i < 3; i++) {
      const libs = (await c.clients[i]!.call('FUNCTION', 'LIST')) as unknown[];
      t.equal(libs.length, 2, `master ${i} holds both function libraries`);
    }

    const args = [file, '--target', seed(2), '--cluster', '--into-db', '0', '--on-conflict', 'last', '--now', rep.nowIso];
    const v = await verifyCli([...args, '--exact']);
    t.equal(v.code, 0, `verify --cluster --exact: exit 0${v.code !== 0 ? `: ${v.stdout.slice(0, 800)} ${v.stderr}` : ''}`);
    t.equal(v.report?.matched, expected.length, 'verify matched every key');

    // Change a key on its owner; delete another; add an extra one.
    const str = expected.find((l) => l['type'] === 'string' && typeof l['key'] === 'string')!;
    const strKey = str['key'] as string;
    const owner = c.clients[await ownerIndex(c, keySlot(Buffer.from(strKey)))]!;
    const before = await owner.getBuffer(strKey);
    await owner.set(strKey, 'changed by the test', 'KEEPTTL');
    const changed = await verifyCli(args);
    t.equal(changed.code, 10, 'a changed key: exit 10');
    t.equal(changed.report?.different, 1, 'one different key');
    t.same(changed.report?.differences[0]?.key, strKey, 'named');
    await owner.set(strKey, before!, 'KEEPTTL');

    const gone = expected.find((l) => l['type'] === 'list' && typeof l['key'] === 'string')!;
    const goneKey = gone['key'] as string;
    const goneOwner = c.clients[await ownerIndex(c, keySlot(Buffer.from(goneKey)))]!;
    const dumped = await goneOwner.dumpBuffer(goneKey);
    const ttl = await goneOwner.pttl(goneKey);
    await goneOwner.del(goneKey);
    const missing = await verifyCli(args);
    t.equal(missing.code, 10, 'a deleted key: exit 10');
    t.equal(missing.report?.missing, 1, 'one missing key');
    await goneOwner.restore(goneKey, ttl > 0 ? ttl : 0, dumped);

    const extraKey = 'extra:{test}';
    await c.clients[await ownerIndex(c, keySlot(Buffer.from(extraKey)))]!.set(extraKey, 'x');
    const extra = await verifyCli([...args, '--exact']);
    t.equal(extra.code, 10, 'an extra key with --exact: exit 10');
    t.equal(extra.report?.extra, 1, 'one extra key');
    t.same(extra.report?.differences[0]?.key, extraKey, 'the extra key is named');
    const noExact = await verifyCli(args);
    t.equal(noExact.code, 0, 'the same without --exact: exit 0');
    await c.clients[await ownerIndex(c, keySlot(Buffer.from(extraKey)))]!.del(extraKey);

    // Busy keys, per node.
    const busy = await replayCli([file, '--target', seed(1), '--cluster', '--into-db', '0', '--on-conflict', 'last', '--json', '-q']);
    t.equal(busy.code, 9, 'again with --on-busykey error: exit 9');
    t.equal(busy.report?.busy, expected.length, 'every key found busy, over all masters');
    const skip = await replayCli([file, '--target', seed(1), '--cluster', '--into-db', '0', '--on-conflict', 'last', '--on-busykey', 'skip', '--json', '-q']);
    t.equal(skip.code, 0, '--on-busykey skip: exit 0');
    t.equal(skip.report?.skippedBusy, expected.length, 'every key skipped');
    await owner.set(strKey, 'changed again');
    const replace = await replayCli([file, '--target', seed(1), '--cluster', '--into-db', '0', '--on-conflict', 'last', '--on-busykey', 'replace', '--json', '-q']);
    t.equal(replace.code, 0, '--on-busykey replace: exit 0');
    t.equal(replace.report?.replaced, expected.length, 'every key replaced');
    const after = await verifyCli([...args, '--exact']);
    t.equal(after.code, 0, 'verify after replace: exit 0');
  });

  t.test('a value over --proto-max-bulk-len is rebuilt through a temporary key of its slot', async (t) => {
    const c = cluster!;
    await flushCluster(c);
    const el = (i: number): Uint8Array => {
      const b = new Uint8Array(randomBytes(1000));
      b.set(te.encode(String(i).padStart(6, '0')), 0);
      return b;
    };
    const path = join(work, 'big.rdb');
    writeValues(path, [
      { key: 'big:list', v: { type: 'list', value: Array.from({ length: 1200 }, (_, i) => el(i)) }, expireAt: 4102444800000 },
      { key: 'big:{tagged}:hash', v: { type: 'hash', value: Array.from({ length: 1200 }, (_, i) => [te.encode(`f${i}`), el(i)] as [Uint8Array, Uint8Array]) } },
      { key: 'small', v: { type: 'string', value: te.encode('hello') } },
    ]);
    const want = (await readToJsonl(readBytes(path))).lines;
    const r = await replayCli([path, '--target', seed(), '--cluster', '--proto-max-bulk-len', '1mb', '--json', '-q']);
    t.equal(r.code, 0, `exit 0${r.code !== 0 ? `: ${r.stderr}` : ''}`);
    t.equal(r.report?.rebuilt, 2, 'the list and the hash rebuilt with plain commands');
    t.equal(r.report?.restored, 1, 'the small key restored');
    const per = await readMasters(c);
    sameLines(t, per.flatMap((p) => p.lines), want, 'read back from the masters');
    t.notOk(per.some((p) => p.lines.some((l) => String(l['key']).startsWith('rdbmerge:rebuild:'))), 'no temporary key left');
    const v = await verifyCli([path, '--target', seed(), '--cluster', '--exact']);
    t.equal(v.code, 0, 'verify --cluster --exact: exit 0');
  });

  t.test('lfu and lru fixtures: OBJECT FREQ and OBJECT IDLETIME on each key\'s owner carry the file values', async (t) => {
    const c = cluster!;
    for (const variant of ['lfu', 'lru'] as const) {
      const f = fixtureIndex().find((x) => x.rdb === `redis-7.0.15-${variant}.rdb`)!;
      const records = (await readRdbAll(readBytes(fixturePath(f.rdb)))).filter((r): r is KeyRecord => r.kind === 'key');
      // --into-db 0 --on-conflict last: the record of the highest source db wins.
      const winners = new Map<string, KeyRecord>();
      for (const r of [...records].sort((a, b) => a.db - b.db)) winners.set(Buffer.from(r.key).toString('base64'), r);
      await flushCluster(c);
      for (const x of c.clients) await x.config('SET', 'maxmemory-policy', variant === 'lfu' ? 'allkeys-lfu' : 'allkeys-lru');
      const started = Date.now();
      const r = await replayCli([fixturePath(f.rdb), '--target', seed(), '--cluster', '--into-db', '0', '--on-conflict', 'last', '--json', '-q']);
      t.equal(r.code, 0, `${f.rdb}: exit 0${r.code !== 0 ? `: ${r.stderr}` : ''}`);
      t.equal(r.report?.restored, winners.size, `${f.rdb}: ${winners.size} keys restored`);
      const slack = Math.ceil((Date.now() - started) / 1000) + 2;
      const bad: string[] = [];
      for (const rec of winners.values()) {
        const key = Buffer.from(rec.key);
        const owner = c.clients[await ownerIndex(c, keySlot(key))]!;
        if (variant === 'lfu') {
          const got = Number(await owner.call('OBJECT', 'FREQ', key));
          if (got !== rec.freq) bad.push(`${key.toString()}: FREQ ${got}, file ${rec.freq}`);
        } else {
          const got = Number(await owner.call('OBJECT', 'IDLETIME', key));
          if (!(got >= rec.idle && got <= rec.idle + slack)) bad.push(`${key.toString()}: IDLETIME ${got}, file ${rec.idle}`);
        }
      }
      t.same(bad, [], `${f.rdb}: ${winners.size} keys carry their ${variant === 'lfu' ? 'LFU counter' : 'idle time'} on their owner`);
      if (variant === 'lfu') t.ok([...winners.values()].some((x) => x.freq > 0), 'some counters are not 0');
      else t.ok([...winners.values()].some((x) => x.idle > 0), 'some idle times are not 0');
    }
    for (const x of c.clients) await x.config('SET', 'maxmemory-policy', 'noeviction');
  });

  t.test('a slot migrated while the replay writes to it: ASK and MOVED followed, no key lost', async (t) => {
    const c = cluster!;
    await flushCluster(c);
    // 3000 keys: every other one in the slot of the hash tag {hot}, the rest spread.
    const n = 3000;
    const path = join(work, 'hot.rdb');
    writeValues(path, manyKeys(n, (i) => (i % 2 === 0 ? `{hot}:${i}` : `cold:${i}`)));
    const hotSlot = keySlot(te.encode('hot'));
    const from = await ownerIndex(c, hotSlot);
    const to = (from + 1) % 3;

    const started = Date.now();
    const replaying = replayCli([path, '--target', seed(), '--cluster', '--max-rate', '600', '--connections', '2', '--json']);
    // Once the replay has written some of the slot's keys, move the slot.
    let migration: Awaited<ReturnType<typeof migrateSlot>> | undefined;
    let migrationDone = 0;
    const migrating = (async () => {
      const deadline = Date.now() + 20_000;
      while (Number(await c.clients[from]!.call('CLUSTER', 'COUNTKEYSINSLOT', hotSlot)) < 150) {
        if (Date.now() > deadline) throw new Error('the replay wrote nothing to the slot in 20 s');
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      migration = await migrateSlot(c, hotSlot, from, to, 1200);
      migrationDone = Date.now();
    })();
    const [r] = await Promise.all([replaying, migrating]);
    const replayDone = Date.now();
    t.equal(r.code, 0, `the replay went on through the migration: exit 0${r.code !== 0 ? `: ${r.stderr.slice(0, 800)}` : ''}`);
    t.ok(migrationDone > 0 && migrationDone < replayDone, `the migration (${migration?.migrated} keys moved in ${migration?.batches} MIGRATE batches, slot migrating for ${migration?.migratingMs} ms) ended before the replay (${replayDone - started} ms)`);
    t.ok((migration?.migrated ?? 0) >= 150, 'keys the replay had written were moved by MIGRATE');
    const rep = r.report!;
    t.equal(rep.restored, n, `all ${n} keys restored`);
    t.equal(rep.failed + rep.skipped + rep.busy, 0, 'none failed, skipped or busy');
    t.ok(rep.cluster!.ask > 0, `ASK redirections followed: ${rep.cluster!.ask}`);
    t.ok(rep.cluster!.moved > 0, `MOVED redirections followed: ${rep.cluster!.moved}`);
    const done = r.stderr.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, unknown>).find((e) => e['event'] === 'done');
    t.ok(done !== undefined, 'a done event on stderr');
    t.same((done?.['cluster'] as Record<string, unknown> | undefined)?.['ask'], rep.cluster!.ask, 'the done event carries the redirections');

    t.equal(await clusterKeyCount(c), n, `${n} keys over the masters: none lost, none twice`);
    t.equal(Number(await c.clients[to]!.call('CLUSTER', 'COUNTKEYSINSLOT', hotSlot)), n / 2, 'the slot\'s keys all on the new owner');
    t.equal(Number(await c.clients[from]!.call('CLUSTER', 'COUNTKEYSINSLOT', hotSlot)), 0, 'none left on the old one');
    const v = await verifyCli([path, '--target', seed(), '--cluster', '--exact', '--now', rep.nowIso]);
    t.equal(v.code, 0, `verify --cluster --exact: exit 0${v.code !== 0 ? `: ${v.stdout.slice(0, 600)}` : ''}`);
    t.equal(v.report?.matched, n, 'every key matched');
  });

  t.test('a master\'s connections killed with RESTOREs unanswered: reconnected, sent again, nothing lost', async (t) => {
    const c = cluster!;
    await flushCluster(c);
    const n = 3000;
    const path = join(work, 'spread.rdb');
    writeValues(path, manyKeys(n, (i) => `spread:${i}`));
    const victim = 1;
    const replaying = replayCli([path, '--target', seed(0), '--cluster', '--max-rate', '700', '--json', '-q']);
    let killed = 0;
    const killing = (async () => {
      const deadline = Date.now() + 20_000;
      while (Number(await c.clients[victim]!.dbsize()) < 300) {
        if (Date.now() > deadline) throw new Error('the replay wrote nothing to the master in 20 s');
        await sleep(20);
      }
      // Writes wait on the server: RESTOREs pile up unanswered, then their connections die.
      await c.clients[victim]!.call('CLIENT', 'PAUSE', 1500, 'WRITE');
      await sleep(500);
      killed = Number(await c.clients[victim]!.call('CLIENT', 'KILL', 'TYPE', 'normal', 'SKIPME', 'yes'));
    })();
    const [r] = await Promise.all([replaying, killing]);
    t.ok(killed >= 4, `CLIENT KILL closed the replay's connections to the master (${killed})`);
    t.equal(r.code, 0, `the replay went on: exit 0${r.code !== 0 ? `: ${r.stderr.slice(0, 800)}` : ''}`);
    const rep = r.report!;
    t.equal(rep.restored, n, `all ${n} keys restored`);
    t.equal(rep.failed + rep.busy + rep.skipped, 0, 'none failed, busy or skipped');
    t.ok(rep.cluster!.connectionsLost >= 1, `connections lost and reopened: ${rep.cluster!.connectionsLost}`);
    t.ok(rep.cluster!.resent > 0, `unanswered RESTOREs sent again: ${rep.cluster!.resent}`);
    t.equal(await clusterKeyCount(c), n, `${n} keys over the masters`);
    const v = await verifyCli([path, '--target', seed(2), '--cluster', '--exact', '--now', rep.nowIso]);
    t.equal(v.code, 0, `verify --cluster --exact: exit 0${v.code !== 0 ? `: ${v.stdout.slice(0, 600)}` : ''}`);
  });

  t.test('a manual failover during the replay: MOVED to the promoted replica, nothing lost', async (t) => {
    const c = cluster!;
    await flushCluster(c);
    const n = 3000;
    const path = join(work, 'failover.rdb');
    writeValues(path, manyKeys(n, (i) => `fo:${i}`));
    const replica = c.replicas.find((x) => x.of === 0)!;
    t.ok(replica !== undefined, 'master 0 has a replica');
    const replaying = replayCli([path, '--target', seed(1), '--cluster', '--max-rate', '700', '--json', '-q']);
    let promoted = 0;
    const failingOver = (async () => {
      const deadline = Date.now() + 30_000;
      while (Number(await c.clients[0]!.dbsize()) < 300) {
        if (Date.now() > deadline) throw new Error('the replay wrote nothing to master 0 in 30 s');
        await sleep(20);
      }
      t.equal(await replica.client.call('CLUSTER', 'FAILOVER'), 'OK', 'CLUSTER FAILOVER accepted by the replica');
      while (!/^role:master\r?$/m.test(String(await replica.client.call('INFO', 'replication')))) {
        if (Date.now() > deadline) throw new Error('the replica was not promoted in 30 s');
        await sleep(20);
      }
      promoted = Date.now();
    })();
    const [r] = await Promise.all([replaying, failingOver]);
    const done = Date.now();
    t.ok(promoted > 0 && promoted < done, 'the replica was promoted while the replay ran');
    t.equal(r.code, 0, `the replay went on: exit 0${r.code !== 0 ? `: ${r.stderr.slice(0, 800)}` : ''}`);
    const rep = r.report!;
    t.equal(rep.restored, n, `all ${n} keys restored`);
    t.equal(rep.failed + rep.busy + rep.skipped, 0, 'none failed, busy or skipped');
    t.ok(rep.cluster!.moved > 0, `MOVED followed to the new master: ${rep.cluster!.moved}`);
    t.ok(rep.cluster!.nodesAdded >= 1, 'the promoted replica was connected to');
    // The masters now: the promoted replica and masters 1 and 2.
    const masters = [replica.client, c.clients[1]!, c.clients[2]!];
    let total = 0;
    for (const m of masters) total += Number(await m.dbsize());
    t.equal(total, n, `${n} keys over the masters after the failover`);
    const v = await verifyCli([path, '--target', seed(2), '--cluster', '--exact', '--now', rep.nowIso]);
    t.equal(v.code, 0, `verify --cluster --exact: exit 0${v.code !== 0 ? `: ${v.stdout.slice(0, 600)}` : ''}`);
  });

  t.test('a master killed (SIGKILL) during the replay: its replica takes over, the replay goes on', async (t) => {
    const c = cluster!;
    // Master 0 changed in the previous test: count and flush through each node's own role now.
    const all = [...c.clients, ...c.replicas.map((r) => r.client)];
    const masters = async (): Promise<typeof all> => {
      const out: typeof all = [];
      for (const x of all) {
        if (x.status !== 'ready') continue;
        if (/^role:master\r?$/m.test(String(await x.call('INFO', 'replication')))) out.push(x);
      }
      return out;
    };
    for (const m of await masters()) await m.flushall();
    const victim = 1;
    const replica = c.replicas.find((x) => x.of === victim)!;
    const n = 3000;
    const path = join(work, 'kill.rdb');
    writeValues(path, manyKeys(n, (i) => `kill:${i}`));
    const replaying = replayCli([path, '--target', seed(2), '--cluster', '--max-rate', '700', '--json', '-q']);
    const killing = (async () => {
      const deadline = Date.now() + 20_000;
      while (Number(await c.clients[victim]!.dbsize()) < 300) {
        if (Date.now() > deadline) throw new Error('the replay wrote nothing to the master in 20 s');
        await sleep(20);
      }
      // Hold the master's writes so that what it acknowledged has reached its replica, then kill it.
      await c.clients[victim]!.call('CLIENT', 'PAUSE', 5000, 'WRITE');
      await sleep(300);
      const offsets = async (x: typeof all[number]): Promise<number> => Number(/^(?:master_repl_offset|slave_repl_offset):(\d+)/m.exec(String(await x.call('INFO', 'replication')))?.[1]);
      const mo = await offsets(c.clients[victim]!);
      for (let i = 0; i < 100 && (await offsets(replica.client)) < mo; i++) await sleep(20);
      // At least the master's offset (it may have sent a PING since it was read).
      const ro = await offsets(replica.client);
      t.ok(ro >= mo, `the replica has every write the master acknowledged (offset ${ro}, master ${mo})`);
      c.clients[victim]!.disconnect();
      process.kill(c.nodes[victim]!.pid, 'SIGKILL');
    })();
    const [r] = await Promise.all([replaying, killing]);
    t.equal(r.code, 0, `the replay went on: exit 0${r.code !== 0 ? `: ${r.stderr.slice(0, 800)}` : ''}`);
    const rep = r.report!;
    t.equal(rep.restored, n, `all ${n} keys restored`);
    t.equal(rep.failed + rep.busy + rep.skipped, 0, 'none failed, busy or skipped');
    t.ok(rep.cluster!.connectionsLost >= 1, `connections lost: ${rep.cluster!.connectionsLost}`);
    t.ok(rep.cluster!.retried > 0 || rep.cluster!.moved > 0 || rep.cluster!.refreshes > 0, `the cluster's answers while failing over were followed (${rep.cluster!.retried} retried, ${rep.cluster!.moved} MOVED, ${rep.cluster!.refreshes} map reads)`);
    t.match(String(await replica.client.call('INFO', 'replication')), /^role:master\r?$/m, 'the replica was promoted');
    let total = 0;
    for (const m of await masters()) total += Number(await m.dbsize());
    t.equal(total, n, `${n} keys over the masters after the failover`);
    const v = await verifyCli([path, '--target', seed(2), '--cluster', '--exact', '--now', rep.nowIso]);
    t.equal(v.code, 0, `verify --cluster --exact: exit 0${v.code !== 0 ? `: ${v.stdout.slice(0, 600)}` : ''}`);
  });
}
