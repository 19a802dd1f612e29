/**
 * `rdbmerge plan` against the real runs it predicts:
 *  - merge mode, on every scenario of fixtures/merge (a: RDB 6 parts, c: 37 inputs as a directory,
 *    d: collisions and function library conflicts) with the first and last policies, d also into
 *    db 0, written for RDB 6 with --drop-unsupported, and split by slots: the plan's collisions
 *    (with winners), drops, per-input and per-db counts and output sizes equal what `merge
 *    --report` then records, and plan writes nothing; --on-conflict error (exit 9) and RDB 6
 *    without --drop-unsupported (exit 6) predict the real run's exit code and collisions;
 *  - replay mode against live redis-server 7.0 targets: `databases 4` with keys in db 7 and 15
 *    (reported, exit 8 like the real replay), `maxmemory` below the estimate with noeviction
 *    (warns, exit 8 like the real replay's OOM), keys already on the target under --on-busykey
 *    error (listed, exit 9 like the real replay) and skip (exit 0), a function library already
 *    there (exit 9), `--proto-max-bulk-len 4kb` (the same keys rebuilt and failed as the real
 *    replay's, exit 11), and a clean target (exit 0, the keys replay then writes).
 * A missing redis-server fails this test (never a skip).
 */
import t, { type Test } from 'tap';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import type { PlanReport } from '../src/pipelines/plan.js';
import { runCli } from './helpers/cli.js';
import { FIXTURES, fixturePath } from './helpers/fixtures.js';
import { bootRdb, keyCount, probe, requireRedisServer, startRedis, type RedisHandle } from './helpers/redis-server.js';

const redisBin = requireRedisServer(t);
const work = mkdtempSync(join(tmpdir(), 'rdbmerge-plan-'));
t.teardown(() => rmSync(work, { recursive: true, force: true }));
const NOW = '2026-11-25T12:00:00Z';

const A = join(FIXTURES, 'merge', 'scenario-a-rdb6-disjoint');
const C = join(FIXTURES, 'merge', 'scenario-c-37-servers');
const D = join(FIXTURES, 'merge', 'scenario-d-collisions');
const A_IN = ['part1.rdb', 'part2.rdb', 'part3.rdb', 'part4.rdb'].map((f) => join(A, f));
const D_IN = ['in1.rdb', 'in2.rdb', 'in3.rdb'].map((f) => join(D, f));
const F70 = fixturePath('redis-7.0.15-types.rdb');

let dirs = 0;
function freshDir(name: string): string {
  const d = join(work, `${String(++dirs).padStart(2, '0')}-${name}`);
  mkdirSync(d, { recursive: true });
  return d;
}

function parsePlan(stdout: string): PlanReport {
  return JSON.parse(stdout) as PlanReport;
}

interface Case {
  name: string;
  inputs: string[];
  args: string[];
  exit: number;
}

const CASES: Case[] = [
  { name: 'a first', inputs: A_IN, args: ['--on-conflict', 'first'], exit: 0 },
  { name: 'a last', inputs: A_IN, args: ['--on-conflict', 'last'], exit: 0 },
  { name: 'a, expiries shifted', inputs: A_IN, args: ['--on-conflict', 'first', '--expire-offset', '-1h'], exit: 0 },
  { name: 'a, expiries shifted into the past and dropped', inputs: A_IN, args: ['--on-conflict', 'first', '--expire-offset', '-27000d', '--drop-expired'], exit: 0 },
  { name: 'a split 3', inputs: A_IN, args: ['--on-conflict', 'first', '--into-db', '0', '--split-slots', '3'], exit: 0 },
  { name: 'c first (a directory)', inputs: [C], args: ['--on-conflict', 'first'], exit: 0 },
  { name: 'c last', inputs: [C], args: ['--on-conflict', 'last', '--drop-expired'], exit: 0 },
  { name: 'd first', inputs: D_IN, args: ['--on-conflict', 'first'], exit: 0 },
  { name: 'd last', inputs: D_IN, args: ['--on-conflict', 'last'], exit: 0 },
  { name: 'd into db 0, last', inputs: D_IN, args: ['--on-conflict', 'last', '--into-db', '0'], exit: 0 },
  { name: 'd RDB 6, drop unsupported', inputs: D_IN, args: ['--on-conflict', 'first', '--target-version', '6', '--drop-unsupported'], exit: 0 },
  { name: 'd RDB 6 without --drop-unsupported', inputs: D_IN, args: ['--on-conflict', 'first', '--target-version', '6'], exit: 6 },
  { name: 'd error policy', inputs: D_IN, args: ['--on-conflict', 'error'], exit: 9 },
];

for (const c of CASES) {
  t.test(`merge plan = merge --report: ${c.name}`, async (t) => {
    const dir = freshDir(c.name.replace(/\W+/g, '-'));
    const out = join(dir, 'dump.rdb');
    const p = await runCli(['plan', ...c.inputs, '-o', out, '--json', '-q', '--now', NOW, ...c.args]);
    t.equal(p.code, c.exit, `plan exits ${c.exit}${p.code !== c.exit ? `: ${p.stderr}` : ''}`);
    t.same(readdirSync(dir), [], 'plan wrote nothing');
    const plan = parsePlan(p.stdout);
    t.equal(plan.exitCode, c.exit);

    const reportFile = join(dir, 'report.json');
    const m = await runCli(['merge', ...c.inputs, '-o', out, '--report', reportFile, '-q', '--now', NOW, ...c.args]);
    t.equal(m.code, plan.exitCode, `the real merge exits as planned (${plan.exitCode})`);
    if (m.code === 6) {
      t.match(m.stderr, /unsupported/);
      t.ok(plan.droppedUnsupported.length > 0, 'the plan lists what RDB 6 cannot hold');
      t.ok(plan.droppedUnsupported.every((d) => d.kind === 'key' || d.kind === 'function' || d.kind === 'fieldTtls'));
      return;
    }
    const rep = JSON.parse(readFileSync(reportFile, 'utf8')) as Record<string, unknown> & {
      collisions: unknown[]; droppedUnsupported: unknown[]; inputs: Array<Record<string, unknown>>;
      outputs: Array<{ file: string; bytes: number }>; keyCountsPerDb: unknown; totalKeys: number; collisionCount: number;
      functionConflicts: unknown[]; functions: Array<{ library: string }>; copied: number; converted: number; keysShifted: number;
    };
    t.same(plan.collisions, rep.collisions, 'the same collisions, inputs and winners');
    t.equal(plan.collisionCount, rep.collisionCount);
    t.same(plan.functionConflicts, rep.functionConflicts, 'the same function library conflicts');
    const strip = (i: Record<string, unknown>): Record<string, unknown> => {
      const { snapshotTime: _s, ...rest } = i;
      return rest;
    };
    t.same(plan.inputs.map((i) => strip(i as unknown as Record<string, unknown>)), rep.inputs.map(strip), 'per input: read, selected, per db in/out, collisions lost');
    if (m.code !== 0) {
      t.equal(m.code, 9);
      t.same(readdirSync(dir).filter((f) => f !== 'report.json'), [], 'nothing written by the real run either');
      t.match(plan.error, /7 key collision/);
      return;
    }
    t.same(plan.droppedUnsupported, rep.droppedUnsupported, 'the same drops');
    t.same(plan.keyCountsPerDb, rep.keyCountsPerDb);
    t.equal(plan.totalKeys, rep.totalKeys);
    t.equal(plan.copied, rep.copied);
    t.equal(plan.converted, rep.converted);
    t.equal(plan.expiries.keysShifted, rep.keysShifted);
    t.same(plan.functions, rep.functions.map((f) => f.library));
    t.same(plan.outputs.map((o) => o.file), rep.outputs.map((o) => o.file));
    for (const o of rep.outputs) {
      t.equal(plan.outputs.find((x) => x.file === o.file)!.bytes, statSync(o.file).size, `planned size of ${o.file} = the file's`);
    }
    t.ok(plan.memory.estimatedBytes > 0, 'a memory estimate');
    // The cases are not vacuous: what each one is about shows in the plan.
    if (c.args.includes('--drop-unsupported')) t.equal(plan.droppedUnsupported.length, 7, 'RDB 6: 3 function libraries and 4 streams left out');
    if (c.args.includes('-1h')) t.equal(plan.expiries.keysShifted, 56, '56 expiries shifted');
    if (c.args.includes('--drop-expired') && c.inputs === A_IN) t.equal(plan.expiries.droppedExpired, 56, '56 keys dropped as expired');
    if (c.inputs === D_IN) t.equal(plan.collisionCount, c.args.includes('--into-db') ? rep.collisionCount : 7);
    if (c.inputs === D_IN && c.args.includes('--into-db')) t.ok(plan.collisionCount > 7, 'databases mapped together collide more');
    if (c.args.includes('--split-slots')) t.equal(plan.outputs.length, 3);
  });
}

t.test('merge plan: databases beyond --databases are reported (merge itself succeeds)', async (t) => {
  const dir = freshDir('databases');
  const p = await runCli(['plan', F70, '-o', join(dir, 'x.rdb'), '--databases', '8', '--maxmemory', '1kb', '--now', NOW]);
  t.equal(p.code, 0, p.stderr);
  t.match(p.stdout, /databases 8 \(option\): beyond: db15 \(2 keys\)/);
  t.match(p.stderr, /warning: .*maxmemory/);
  t.match(p.stderr, /warning: database\(s\) 15 at or beyond/);
});

t.test('merge plan: --jemalloc-quantum 8 (a bundled-jemalloc target) estimates less', async (t) => {
  const dir = freshDir('quantum');
  const q16 = parsePlan((await runCli(['plan', F70, '-o', join(dir, 'x.rdb'), '--json', '-q', '--now', NOW])).stdout);
  const r8 = await runCli(['plan', F70, '-o', join(dir, 'x.rdb'), '--json', '-q', '--now', NOW, '--jemalloc-quantum', '8']);
  t.equal(r8.code, 0, r8.stderr);
  const q8 = parsePlan(r8.stdout);
  t.ok(q8.memory.estimatedBytes < q16.memory.estimatedBytes, `${q8.memory.estimatedBytes} < ${q16.memory.estimatedBytes} bytes`);
  t.ok(q8.memory.estimatedBytes > q16.memory.estimatedBytes * 0.9, 'by a few percent, not more');
  t.equal((await runCli(['plan', F70, '-o', join(dir, 'x.rdb'), '--jemalloc-quantum', '12'])).code, 2, '--jemalloc-quantum 12: usage error');
});

/** A server for replay plans, with extra config; stopped by the caller. */
async function server(args: string[]): Promise<RedisHandle> {
  return startRedis({ args, ...(redisBin !== undefined ? { bin: redisBin } : {}) });
}

async function planAndReplay(t: Test, h: RedisHandle, inputs: string[], args: string[]): Promise<{ plan: PlanReport; replay: number; replayErr: string }> {
  const uri = `redis://127.0.0.1:${h.port}`;
  const p = await runCli(['plan', ...inputs, '--target', uri, '--json', '-q', '--now', NOW, ...args]);
  const plan = parsePlan(p.stdout);
  t.equal(p.code, plan.exitCode, 'plan exits with its predicted code');
  const r = await runCli(['replay', ...inputs, '--target', uri, '-q', '--now', NOW, ...args]);
  t.equal(r.code, plan.exitCode, `the real replay exits as planned (${plan.exitCode})${r.code !== plan.exitCode ? `: ${r.stderr}` : ''}`);
  return { plan, replay: r.code, replayErr: r.stderr };
}

t.test('replay plan: a clean target', async (t) => {
  const h = await server([]);
  try {
    const { plan } = await planAndReplay(t, h, [C], ['--on-conflict', 'last']);
    t.equal(plan.exitCode, 0);
    t.equal(plan.mode, 'replay');
    t.equal(plan.serverVersion?.startsWith('7.'), true);
    t.equal(plan.targetVersion, 10);
    t.equal(plan.protoMaxBulkLen.source, 'target');
    t.equal(plan.databases.source, 'target');
    t.equal(plan.databases.limit, 16);
    t.same(plan.warnings, []);
    t.equal((await keyCount(h.port)).total, plan.totalKeys, 'replay wrote exactly the keys the plan counted');
  } finally {
    await h.stop();
  }
});

t.test('replay plan: databases beyond the target\'s', async (t) => {
  const h = await server(['--databases', '4']);
  try {
    const { plan, replayErr } = await planAndReplay(t, h, [F70], []);
    t.equal(plan.exitCode, 8);
    t.same(plan.databases, { limit: 4, source: 'target', beyond: [{ db: 7, keys: 3 }, { db: 15, keys: 2 }] });
    t.match(plan.warnings.join('\n'), /database\(s\) 7, 15 at or beyond the target's databases \(4\)/);
    t.match(replayErr, /SELECT/);
  } finally {
    await h.stop();
  }
});

t.test('replay plan: maxmemory below the estimate', async (t) => {
  // First learn the estimate and the server's baseline, then restart with maxmemory below it.
  const probeServer = await server([]);
  let est: number;
  let used: number;
  try {
    const p = await runCli(['plan', C, '--target', `redis://127.0.0.1:${probeServer.port}`, '--json', '-q', '--on-conflict', 'last', '--now', NOW]);
    const r = parsePlan(p.stdout);
    est = r.memory.estimatedBytes;
    used = r.memory.usedMemory;
    t.ok(est > 100_000, `an estimate (${est} bytes)`);
    t.equal(r.memory.maxmemory, 0, 'no limit on a default server');
  } finally {
    await probeServer.stop();
  }
  const limit = used + Math.floor(est / 2);
  const h = await server(['--maxmemory', String(limit), '--maxmemory-policy', 'noeviction']);
  try {
    const { plan, replayErr } = await planAndReplay(t, h, [C], ['--on-conflict', 'last']);
    t.equal(plan.memory.over, true, 'over maxmemory');
    t.equal(plan.memory.maxmemory, limit);
    t.equal(plan.memory.source, 'target');
    t.equal(plan.memory.policy, 'noeviction');
    t.match(plan.warnings.join('\n'), /estimated memory .* is over the target's maxmemory .*noeviction/);
    t.equal(plan.exitCode, 8);
    t.match(replayErr, /OOM/);
  } finally {
    await h.stop();
  }
  // The human output warns on stderr too.
  const h2 = await server(['--maxmemory', String(limit), '--maxmemory-policy', 'allkeys-lru']);
  try {
    const p = await runCli(['plan', C, '--target', `redis://127.0.0.1:${h2.port}`, '--on-conflict', 'last', '--now', NOW]);
    t.equal(p.code, 0, 'with eviction the replay succeeds: a warning only');
    t.match(p.stderr, /warning: estimated memory .* over the target's maxmemory .*allkeys-lru: keys will be evicted/);
    t.match(p.stdout, /memory: estimated .*: OVER/);
  } finally {
    await h2.stop();
  }
});

t.test('replay plan: keys already on the target', async (t) => {
  const h = await server([]);
  const r = new Redis({ port: h.port, host: h.host, lazyConnect: true, maxRetriesPerRequest: 1 });
  try {
    await r.connect();
    await r.set('str:text', 'already here');
    await r.select(7);
    await r.set('db7:hash', 'already here too');
    await r.set('not-in-the-input', 'x');
    const { plan } = await planAndReplay(t, h, [F70], ['--on-busykey', 'error']);
    t.equal(plan.exitCode, 9);
    t.equal(plan.busy, 2);
    t.same(plan.busyKeys.map((b) => `${b.db} ${String(b.key)}`).sort(), ['0 str:text', '7 db7:hash']);
    const skip = await planAndReplay(t, h, [F70], ['--on-busykey', 'skip']);
    t.equal(skip.plan.exitCode, 0);
    t.equal(skip.plan.busy, 0, 'skip: no busy check, as replay does');
  } finally {
    r.disconnect();
    await h.stop();
  }
});

t.test('replay plan: a function library already on the target', async (t) => {
  const h = await server([]);
  const r = new Redis({ port: h.port, host: h.host, lazyConnect: true, maxRetriesPerRequest: 1 });
  try {
    await r.connect();
    const meta = JSON.parse(readFileSync(join(D, 'in1.meta.json'), 'utf8')) as { functions: Array<{ library: string; code: string }> };
    const shared = meta.functions.find((f) => f.library === 'sharedlib')!;
    await r.call('FUNCTION', 'LOAD', shared.code);
    const { plan } = await planAndReplay(t, h, D_IN, ['--on-conflict', 'first', '--on-busykey', 'error']);
    t.equal(plan.exitCode, 9);
    t.same(plan.functionsOnTarget, ['sharedlib']);
    t.equal(plan.busy, 0, 'no key is there: the library alone stops the run');
    t.match(plan.error, /function library sharedlib already on the target/);
  } finally {
    r.disconnect();
    await h.stop();
  }
});

t.test('values over proto-max-bulk-len: rebuilt and failed keys as replay finds them', async (t) => {
  const h = await server([]);
  try {
    const uri = `redis://127.0.0.1:${h.port}`;
    const p = await runCli(['plan', F70, '--target', uri, '--proto-max-bulk-len', '4kb', '--json', '-q', '--now', NOW]);
    const plan = parsePlan(p.stdout);
    const r = await runCli(['replay', F70, '--target', uri, '--proto-max-bulk-len', '4kb', '--json', '-q', '--now', NOW]);
    const rep = JSON.parse(r.stdout) as { rebuilt: number; failed: number; failures: Array<{ db: number; key: unknown; error: string }> };
    t.equal(r.code, 11, 'the replay: some keys cannot be sent (exit 11)');
    t.equal(p.code, 11, 'the plan predicted exit 11');
    t.equal(plan.protoMaxBulkLen.source, 'option');
    t.equal(plan.protoMaxBulkLen.limit, 4096);
    t.ok(plan.rebuilt > 0, `some values rebuilt (${plan.rebuilt})`);
    t.equal(plan.rebuilt, rep.rebuilt, 'as many rebuilt as the replay');
    t.equal(plan.failed, rep.failed, 'as many failed as the replay');
    t.same(plan.failures, rep.failures, 'the same failed keys and reasons');
    t.equal(plan.protoMaxBulkLen.count, plan.rebuilt + plan.failed);
  } finally {
    await h.stop();
  }
  // Merge mode: listed and warned about, and the merge itself succeeds.
  const dir = freshDir('bulk');
  const m = await runCli(['plan', F70, '-o', join(dir, 'x.rdb'), '--proto-max-bulk-len', '4kb', '--json', '-q', '--now', NOW]);
  const mp = parsePlan(m.stdout);
  t.equal(m.code, 0);
  t.equal(mp.protoMaxBulkLen.count, 6);
  t.ok(mp.protoMaxBulkLen.keys.every((k) => k.bytes > 4096));
  t.match(mp.warnings.join('\n'), /6 value\(s\) over proto-max-bulk-len \(4096 bytes\): fine in an RDB file/);
});

t.test('merge plan: the memory estimate against the server that boots the merged file', async (t) => {
  const dir = freshDir('memory-boot');
  const out = join(dir, 'dump.rdb');
  const p = parsePlan((await runCli(['plan', C, '-o', out, '--on-conflict', 'last', '--json', '-q', '--now', NOW])).stdout);
  t.equal((await runCli(['merge', C, '-o', out, '--on-conflict', 'last', '-q', '--now', NOW])).code, 0);
  const usedMemory = async (h: RedisHandle): Promise<number> => Number(/^used_memory:(\d+)/m.exec(await probe(h.port, ['INFO', 'memory']))![1]);
  const empty = await server([]);
  let base: number;
  try {
    base = await usedMemory(empty);
  } finally {
    await empty.stop();
  }
  const h = await bootRdb(out, { expectKeys: p.totalKeys, ...(redisBin !== undefined ? { bin: redisBin } : {}) });
  try {
    const growth = (await usedMemory(h)) - base;
    const err = (p.memory.estimatedBytes - growth) / growth;
    t.comment(`estimate ${p.memory.estimatedBytes} bytes (keyspace tables ${p.memory.keyspaceBytes}), redis-server 7.0 used_memory grew by ${growth}: ${(err * 100).toFixed(1)}%`);
    t.ok(Math.abs(err) < 0.2, 'the estimate is within 20% of what the server uses for the keys');
  } finally {
    await h.stop();
  }
});
