/**
 * `rdbmerge replay` against real redis-server 7.0 (Debian's, RDB 10), driven through main(argv):
 *
 *  - every fixture the server can hold (down-converted to RDB 10 where needed; hash field TTLs
 *    dropped with --drop-unsupported) replayed into a fresh server, read back over RESP, equals
 *    its manifest; the target version comes from INFO;
 *  - lfu / lru fixtures: OBJECT FREQ / OBJECT IDLETIME on the target carry the file's values;
 *  - keys already on the target under each --on-busykey policy (error: exit 9, nothing written);
 *  - --on-conflict across inputs (merge scenario d): error stops before sending, first / last
 *    (and --into-db 0) give the scenario's expected merge;
 *  - --resp-out piped through `redis-cli --pipe` gives the same server contents;
 *  - with proto-max-bulk-len 1mb: a list, hash, set, zset and stream larger than that are rebuilt
 *    whole; a 2 MB string is reported failed (exit 11); the same through --resp-out;
 *  - a password-protected server, with the password in the URI and in REDISCLI_AUTH; the password
 *    never appears in stdout or stderr; a wrong or missing one is exit 8;
 *  - --max-rate paces, --connections 1 --pipeline 1 still works, bad option combinations exit 2.
 *
 * A missing redis-server fails these tests (never a skip); servers run one at a time.
 */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { Redis } from 'ioredis';
import { readRdbAll } from '../native-free-parser/index.js';
import type { KeyRecord, StreamValue } from '../native-free-parser/index.js';
import { compareJsonl, parseJsonl, type JsonlDifference } from '../src/format/compare.js';
import { replay, type ReplayReport } from '../src/pipelines/replay.js';
import { defaultSharedOptions } from '../src/cli-options.js';
import { parseUri } from '../src/values.js';
import { dumpOverResp, type RespTarget } from '../src/redis/resp-dump.js';
import { FIXTURES, fixtureIndex, fixtureManifest, fixtureMeta, fixturePath, type FixtureEntry } from './helpers/fixtures.js';
import { readBytes, readToJsonl } from './helpers/read.js';
import { replayCli, verifyCli, type ReportRun } from './helpers/cli.js';
import { findOnPath, requireRedisServer, startRedis, type RedisHandle } from './helpers/redis-server.js';
import { fixtureNeeds, writeValues, type HandmadeKey } from './helpers/write.js';

type Line = Record<string, unknown>;

type Run = ReportRun<ReplayReport>;

function show(diffs: JsonlDifference[]): string {
  if (diffs.length === 0) return '';
  return `\n  ${diffs.length} difference(s):\n  ${diffs.slice(0, 6).map((d) => JSON.stringify(d).slice(0, 400)).join('\n  ')}`;
}

function same(t: Test, actual: Line[], expected: Line[], what: string): void {
  const diffs = compareJsonl(expected, actual);
  t.equal(diffs.length, 0, `${what}: ${actual.length} keys equal to the ${expected.length} expected${show(diffs)}`);
}

function uri(h: RedisHandle, auth = ''): string {
  return `redis://${auth}${h.host}:${h.port}`;
}

function target(h: RedisHandle, password?: string): RespTarget {
  return password === undefined ? { host: h.host, port: h.port } : { host: h.host, port: h.port, password };
}

/** Expected lines for a target below RDB 12: hash field TTLs dropped (--drop-unsupported). */
function withoutFieldTtls(lines: Line[]): Line[] {
  return lines.map((l) => {
    const c = structuredClone(l);
    delete c['fieldExpireAt'];
    return c;
  });
}

async function withServer<T>(args: string[], fn: (h: RedisHandle) => Promise<T>): Promise<T> {
  const h = await startRedis({ args });
  try {
    return await fn(h);
  } finally {
    await h.stop();
  }
}

async function flush(h: RedisHandle, password?: string): Promise<void> {
  const c = new Redis({ host: h.host, port: h.port, lazyConnect: true, ...(password !== undefined ? { password } : {}) });
  await c.connect();
  await c.flushall();
  await c.call('FUNCTION', 'FLUSH');
  c.disconnect();
}

const fixtures = fixtureIndex().filter((f) => f.manifest !== null && f.loadError === null);

function needsDrop(f: FixtureEntry): boolean {
  return fixtureNeeds(fixtureManifest(f), fixtureMeta(f)).minVersion > 10;
}

const bin = requireRedisServer(t);
if (bin !== undefined) {
  const work = mkdtempSync(join(tmpdir(), 'rdbmerge-replay-'));
  t.teardown(() => rmSync(work, { recursive: true, force: true }));

  t.test('every fixture replayed into a fresh redis 7.0 reads back as its manifest', async (t) => {
    t.ok(fixtures.length >= 30, `${fixtures.length} fixtures`);
    for (const f of fixtures) {
      const manifest = fixtureManifest(f);
      const drop = needsDrop(f);
      await withServer([], async (h) => {
        const r = await replayCli([fixturePath(f.rdb), '--target', uri(h), '--json', '-q', ...(drop ? ['--drop-unsupported'] : [])]);
        t.equal(r.code, 0, `${f.rdb}: exit 0${r.code !== 0 ? `: ${r.stderr}` : ''}`);
        const rep = r.report!;
        t.equal(rep.targetVersion, 10, `${f.rdb}: RDB 10 from INFO`);
        t.equal(rep.serverVersion?.startsWith('7.0.'), true, `${f.rdb}: server version reported`);
        t.equal(rep.restored, manifest.length, `${f.rdb}: ${manifest.length} restored`);
        t.equal(rep.failed + rep.skipped + rep.rebuilt + rep.replaced, 0, `${f.rdb}: nothing else`);
        if (f.rdbVersion > 10) t.ok(rep.converted > 0, `${f.rdb}: some payloads converted (RDB ${f.rdbVersion} -> 10)`);
        else t.equal(rep.converted, 0, `${f.rdb}: payloads copied as they are`);
        const lines = await dumpOverResp(target(h));
        same(t, lines, drop ? withoutFieldTtls(manifest) : manifest, f.rdb);
        const v = await verifyCli([fixturePath(f.rdb), '--target', uri(h), '--exact', ...(drop ? ['--drop-unsupported'] : [])]);
        t.equal(v.code, 0, `${f.rdb}: verify --target --exact passes${v.code !== 0 ? `: ${v.stdout.slice(0, 600)} ${v.stderr}` : ''}`);
        t.equal(v.report?.matched, manifest.length, `${f.rdb}: verify matched every key`);
      });
    }
  });

  t.test('lfu and lru fixtures: OBJECT FREQ and OBJECT IDLETIME carry the file values', async (t) => {
    const picked = fixtures.filter((f) => f.variant === 'lfu' || f.variant === 'lru');
    t.ok(picked.length >= 6, `${picked.length} lfu/lru fixtures`);
    for (const f of picked) {
      const lfu = f.variant === 'lfu';
      const records = (await readRdbAll(readBytes(fixturePath(f.rdb)))).filter((r): r is KeyRecord => r.kind === 'key');
      await withServer(['--maxmemory-policy', lfu ? 'allkeys-lfu' : 'allkeys-lru'], async (h) => {
        const started = Date.now();
        const r = await replayCli([fixturePath(f.rdb), '--target', uri(h), '--json', '-q', ...(needsDrop(f) ? ['--drop-unsupported'] : [])]);
        t.equal(r.code, 0, `${f.rdb}: exit 0${r.code !== 0 ? `: ${r.stderr}` : ''}`);
        const c = new Redis({ host: h.host, port: h.port });
        try {
          let checked = 0;
          const bad: string[] = [];
          const slack = Math.ceil((Date.now() - started) / 1000) + 2;
          for (const rec of records) {
            await c.select(rec.db);
            if (lfu) {
              t.ok(rec.freq >= 0, 'the file has FREQ');
              const got = Number(await c.call('OBJECT', 'FREQ', Buffer.from(rec.key)));
              if (got !== rec.freq) bad.push(`${Buffer.from(rec.key).toString()}: FREQ ${got}, file ${rec.freq}`);
            } else {
              const got = Number(await c.call('OBJECT', 'IDLETIME', Buffer.from(rec.key)));
              if (!(got >= rec.idle && got <= rec.idle + slack)) bad.push(`${Buffer.from(rec.key).toString()}: IDLETIME ${got}, file ${rec.idle}`);
            }
            checked++;
          }
          t.same(bad, [], `${f.rdb}: ${checked} keys carry their ${lfu ? 'LFU counter' : 'idle time'}`);
          if (!lfu) t.ok(records.some((x) => x.idle > 0), `${f.rdb}: some idle times are not 0`);
        } finally {
          c.disconnect();
        }
      });
    }
  });

  t.test('keys already on the target, under each --on-busykey policy', async (t) => {
    const f = fixtures.find((x) => x.rdb === 'redis-7.0.15-types.rdb')!;
    const manifest = fixtureManifest(f);
    const file = fixturePath(f.rdb);
    await withServer([], async (h) => {
      const first = await replayCli([file, '--target', uri(h), '--json', '-q']);
      t.equal(first.code, 0, 'first replay into an empty server');
      const c = new Redis({ host: h.host, port: h.port });
      try {
        await c.del('str:text');
        await c.set('str:counter', 'changed');

        const err = await replayCli([file, '--target', uri(h)]);
        t.equal(err.code, 9, 'default --on-busykey error: exit 9');
        t.match(err.stderr, /already on the target \(--on-busykey error\); nothing written/);
        t.match(err.stderr, /"str:counter"|function library/, 'the keys are listed');
        t.equal(await c.exists('str:text'), 0, 'nothing written: the deleted key is still absent');
        t.equal(await c.get('str:counter'), 'changed', 'nothing written: the changed key is unchanged');
        const errJson = await replayCli([file, '--target', uri(h), '--json', '-q', '--on-busykey', 'error']);
        t.equal(errJson.code, 9);
        t.equal(errJson.report?.busy, manifest.length - 1, 'the report counts every busy key');
        t.same(errJson.report?.functions.loaded, [], 'no library loaded');

        const skip = await replayCli([file, '--target', uri(h), '--json', '-q', '--on-busykey', 'skip']);
        t.equal(skip.code, 0, 'skip: exit 0');
        t.equal(skip.report?.skippedBusy, manifest.length - 1, 'skip: the others skipped');
        t.equal(skip.report?.restored, 1, 'skip: the missing key restored');
        t.same(skip.report?.functions.skipped, ['fixturelib', 'otherlib'], 'skip: the libraries already there');
        t.equal(await c.get('str:counter'), 'changed', 'skip: the changed key left alone');

        const rep = await replayCli([file, '--target', uri(h), '--json', '-q', '--on-busykey', 'replace']);
        t.equal(rep.code, 0, 'replace: exit 0');
        t.equal(rep.report?.replaced, manifest.length, 'replace: every key replaced');
        t.equal(rep.report?.restored, 0);
        same(t, await dumpOverResp(target(h)), manifest, 'after replace');

        // The other way to count replacements: plain RESTORE, then REPLACE after BUSYKEY.
        await c.del('str:text');
        await c.set('str:counter', 'changed');
        await c.select(7);
        await c.set('db7:hash', 'not a hash');
        await c.select(0);
        const retry = await replay([file], {
          select: defaultSharedOptions(),
          target: parseUri(uri(h), '--target'),
          onBusykey: 'replace',
          replaceStrategy: 'retry',
          connections: 2,
          pipeline: 8,
        });
        t.equal(retry.replaced, manifest.length - 1, 'retry: the keys there replaced');
        t.equal(retry.restored, 1, 'retry: the missing key restored');
        same(t, await dumpOverResp(target(h)), manifest, 'after replace by retry');
      } finally {
        c.disconnect();
      }
    });
  });

  t.test('--on-conflict across inputs is settled as merge settles it (scenario d)', async (t) => {
    const D = join(FIXTURES, 'merge', 'scenario-d-collisions');
    const inputs = ['in1.rdb', 'in2.rdb', 'in3.rdb'].map((n) => join(D, n));
    const scenario = JSON.parse(readFileSync(join(D, 'scenario.json'), 'utf8')) as { results: Record<string, { file: string }> };
    await withServer([], async (h) => {
      const e = await replayCli([...inputs, '--target', uri(h)]);
      t.equal(e.code, 9, '--on-conflict error (default): exit 9');
      t.match(e.stderr, /collision\(s\).*nothing sent/);
      t.equal((await dumpOverResp(target(h))).length, 0, 'nothing sent');
      for (const policy of ['first', 'last'] as const) {
        for (const intoDb0 of [false, true]) {
          await flush(h);
          const r = await replayCli([...inputs, '--target', uri(h), '--json', '-q', '--on-conflict', policy, ...(intoDb0 ? ['--into-db', '0'] : [])]);
          t.equal(r.code, 0, `${policy}${intoDb0 ? ' into db 0' : ''}: exit 0${r.code !== 0 ? `: ${r.stderr}` : ''}`);
          t.ok((r.report?.collisionCount ?? 0) > 0, 'collisions counted');
          const expected = parseJsonl(readFileSync(join(D, scenario.results[`${intoDb0 ? 'into-db0' : 'plain'}/${policy}`]!.file), 'utf8'));
          same(t, await dumpOverResp(target(h)), expected, `${policy}${intoDb0 ? ' into db 0' : ''}`);
          t.equal(r.report?.restored, expected.length, 'only winners sent');
          const v = await verifyCli([...inputs, '--target', uri(h), '--exact', '--on-conflict', policy, ...(intoDb0 ? ['--into-db', '0'] : [])]);
          t.equal(v.code, 0, `verify --target with the same policy passes${v.code !== 0 ? `: ${v.stdout.slice(0, 600)}` : ''}`);
          t.equal(v.report?.functions.missing.length, 0, 'the function libraries are there');
        }
      }
    });
  });

  t.test('--resp-out through redis-cli --pipe gives the same contents', async (t) => {
    const cli = findOnPath('redis-cli');
    if (cli === undefined) {
      t.fail('redis-cli is not on PATH (it comes with redis-server: apt-get install -y redis-tools)');
      return;
    }
    const r0 = await replayCli([fixturePath('redis-7.0.15-types.rdb'), '--resp-out', join(work, 'x.resp')]);
    t.equal(r0.code, 2, '--resp-out without --target-version: exit 2');
    const both = await replayCli([fixturePath('redis-7.0.15-types.rdb'), '--resp-out', join(work, 'x.resp'), '--target', 'redis://127.0.0.1:1', '--target-version', '10']);
    t.equal(both.code, 2, '--resp-out and --target together: exit 2');

    const cases: Array<{ rdb: string; version: number }> = [
      { rdb: 'redis-7.0.15-types.rdb', version: 10 },
      { rdb: 'redis-7.2.6-types.rdb', version: 10 },
      { rdb: 'redis-2.8.24-types.rdb', version: 10 },
      { rdb: 'redis-4.0.14-types.rdb', version: 8 },
    ];
    for (const c of cases) {
      const f = fixtures.find((x) => x.rdb === c.rdb)!;
      const manifest = fixtureManifest(f);
      const out = join(work, `${c.rdb}.${c.version}.resp`);
      const r = await replayCli([fixturePath(c.rdb), '--resp-out', out, '--target-version', String(c.version), '--json', '-q']);
      t.equal(r.code, 0, `${c.rdb}: written`);
      t.equal(r.report?.restored, manifest.length, `${c.rdb}: every key written`);
      await withServer([], async (h) => {
        const p = spawnSync(cli, ['-h', h.host, '-p', String(h.port), '--pipe'], { input: readFileSync(out), encoding: 'utf8' });
        t.match(p.stdout, /errors: 0, replies: \d+/, `${c.rdb}: redis-cli --pipe without errors${p.status !== 0 ? `: ${p.stdout} ${p.stderr}` : ''}`);
        let lines = await dumpOverResp(target(h));
        if (c.version < 9) {
          // No ABSTTL below RDB 9: the TTL was computed when the file was written; allow the drift.
          const want = new Map(manifest.map((l) => [`${String(l['db'])}:${JSON.stringify(l['key'])}`, l['expireAt']]));
          lines = lines.map((l) => {
            const e = want.get(`${String(l['db'])}:${JSON.stringify(l['key'])}`);
            if (typeof e === 'number' && typeof l['expireAt'] === 'number' && Math.abs(e - l['expireAt']) < 10_000) return { ...l, expireAt: e };
            return l;
          });
        }
        same(t, lines, manifest, `${c.rdb} via RESP at RDB ${c.version}`);
      });
    }
  });

  t.test('values over proto-max-bulk-len are rebuilt; a 2 MB string fails (exit 11)', async (t) => {
    const file = join(work, 'big.rdb');
    const expectedAll = await writeBigRdb(file);
    const expected = expectedAll.filter((l) => l['key'] !== 'big:str');
    await withServer([], async (h) => {
      const c = new Redis({ host: h.host, port: h.port });
      try {
        await c.config('SET', 'proto-max-bulk-len', '1mb');
        const r = await replayCli([file, '--target', uri(h), '--json', '-q']);
        t.equal(r.code, 11, `exit 11 (partial failure)${r.code !== 11 ? `: ${r.stderr}` : ''}`);
        const rep = r.report!;
        t.equal(rep.protoMaxBulkLen, 1024 * 1024, 'proto-max-bulk-len from CONFIG GET');
        t.equal(rep.failed, 1, 'one key failed');
        t.equal(rep.failures[0]?.key, 'big:str', 'the 2 MB string');
        t.match(rep.failures[0]?.error ?? '', /proto-max-bulk-len/);
        t.equal(rep.rebuilt, 6, 'list, hash, set, zset, stream and the list with a TTL rebuilt');
        t.equal(rep.restored, 2, 'the small keys restored');
        t.match(r.stderr, /1 key\(s\) failed, 8 written/);
        same(t, await dumpOverResp(target(h)), expected, 'rebuilt values whole');
        t.same(await c.keys('rdbmerge:rebuild:*'), [], 'no temporary key left');
        const v = await verifyCli([file, '--target', uri(h), '--exact']);
        t.equal(v.code, 10, 'verify --target: the failed key is missing');
        t.equal(v.report?.matched, 8, 'the rebuilt values match');
        t.same(v.report?.differences.map((d) => [d.kind, d.key]), [['missing', 'big:str']]);

        const again = await replayCli([file, '--target', uri(h), '--json', '-q', '--on-busykey', 'replace']);
        t.equal(again.code, 11);
        t.equal(again.report?.rebuilt, 6, 'replace: rebuilt over the existing keys');
        t.equal(again.report?.replaced, 2);
        same(t, await dumpOverResp(target(h)), expected, 'after replace');
        const skip = await replayCli([file, '--target', uri(h), '--json', '-q', '--on-busykey', 'skip']);
        t.equal(skip.report?.skippedBusy, 8, 'skip: every key already there');
        t.same(await c.keys('rdbmerge:rebuild:*'), [], 'no temporary key left');
      } finally {
        c.disconnect();
      }
    });
    const cli = findOnPath('redis-cli');
    if (cli === undefined) return;
    const out = join(work, 'big.resp');
    const r = await replayCli([file, '--resp-out', out, '--target-version', '10', '--proto-max-bulk-len', '1mb', '--json', '-q']);
    t.equal(r.code, 11, '--resp-out: the 2 MB string fails there too');
    t.equal(r.report?.rebuilt, 6);
    await withServer(['--proto-max-bulk-len', '1mb'], async (h) => {
      const p = spawnSync(cli, ['-h', h.host, '-p', String(h.port), '--pipe'], { input: readFileSync(out), encoding: 'utf8' });
      t.match(p.stdout, /errors: 0,/, 'redis-cli --pipe without errors');
      same(t, await dumpOverResp(target(h)), expected, 'rebuilt values through --resp-out');
    });
  });

  t.test('a password-protected target: URI and REDISCLI_AUTH; the password is never printed', async (t) => {
    const pw = 'S3cret-Pw_9x';
    const f = fixtures.find((x) => x.rdb === 'redis-7.0.15-types.rdb')!;
    const manifest = fixtureManifest(f);
    // startRedis waits for PING, which a requirepass server refuses: set the password after.
    await withServer([], async (h) => {
      const admin = new Redis({ host: h.host, port: h.port });
      await admin.config('SET', 'requirepass', pw);
      admin.disconnect();
      const checkQuiet = (r: Run, what: string): void => {
        t.notMatch(r.stdout, pw, `${what}: not in stdout`);
        t.notMatch(r.stderr, pw, `${what}: not in stderr`);
      };
      const a = await replayCli([fixturePath(f.rdb), '--target', uri(h, `:${pw}@`), '--json']);
      t.equal(a.code, 0, `password in the URI${a.code !== 0 ? `: ${a.stderr}` : ''}`);
      t.equal(a.report?.target, `redis://:***@${h.host}:${h.port}`, 'the report shows the URI redacted');
      t.match(a.stderr, /"event":"progress"/, 'progress events');
      t.match(a.stderr, /"event":"done"/, 'a done event');
      checkQuiet(a, 'URI');
      same(t, await dumpOverResp(target(h, pw)), manifest, 'password in the URI');

      await flush(h, pw);
      const b = await replayCli([fixturePath(f.rdb), '--target', uri(h)], { env: { REDISCLI_AUTH: pw } });
      t.equal(b.code, 0, `password from REDISCLI_AUTH${b.code !== 0 ? `: ${b.stderr}` : ''}`);
      checkQuiet(b, 'REDISCLI_AUTH');
      same(t, await dumpOverResp(target(h, pw)), manifest, 'password from REDISCLI_AUTH');
      const v = await verifyCli([fixturePath(f.rdb), '--target', uri(h)], { env: { REDISCLI_AUTH: pw } });
      t.equal(v.code, 0, 'verify --target with REDISCLI_AUTH');
      t.notMatch(v.stdout + v.stderr, pw, 'verify does not print the password');

      const wrong = 'Wrong-Pw_1x';
      const w = await replayCli([fixturePath(f.rdb), '--target', uri(h, `:${wrong}@`)]);
      t.equal(w.code, 8, 'a wrong password: exit 8');
      t.match(w.stderr, /authentication failed/);
      t.notMatch(w.stderr + w.stdout, wrong, 'the wrong password is not printed either');
      const we = await replayCli([fixturePath(f.rdb), '--target', uri(h)], { env: { REDISCLI_AUTH: wrong } });
      t.equal(we.code, 8, 'a wrong REDISCLI_AUTH: exit 8');
      t.notMatch(we.stderr + we.stdout, wrong);
      const none = await replayCli([fixturePath(f.rdb), '--target', uri(h)]);
      t.equal(none.code, 8, 'no password: exit 8');
      t.match(none.stderr, /NOAUTH/);
    });
  });

  t.test('verify --target finds what differs: missing, different values and expiries, extra keys with --exact', async (t) => {
    const f = fixtures.find((x) => x.rdb === 'redis-7.0.15-types.rdb')!;
    const file = fixturePath(f.rdb);
    const manifest = fixtureManifest(f);
    await withServer([], async (h) => {
      t.equal((await replayCli([file, '--target', uri(h), '-q'])).code, 0);
      const ok = await verifyCli([file, '--target', uri(h), '--exact']);
      t.equal(ok.code, 0, 'right after the replay: no difference');
      t.equal(ok.report?.ttlTolerance, 2000, 'default --ttl-tolerance 2s with --target');
      const c = new Redis({ host: h.host, port: h.port });
      try {
        const ttlKey = manifest.find((l) => l['key'] === 'ttl:2038')!;
        await c.pexpireat('ttl:2038', (ttlKey['expireAt'] as number) + 1500);
        const near = await verifyCli([file, '--target', uri(h)]);
        t.equal(near.code, 0, 'an expiry 1.5 s off is within the default tolerance');
        const strict = await verifyCli([file, '--target', uri(h), '--ttl-tolerance', '1s']);
        t.equal(strict.code, 10, 'but not within 1s');
        t.same(strict.report?.differences.map((d) => [d.kind, d.key, d.what]), [['different', 'ttl:2038', ['expireAt']]]);

        await c.del('list:small');
        await c.set('str:text', 'other');
        await c.rpush('list:large', 'one more');
        await c.set('not:from:the:inputs', 'x');
        await c.select(3);
        await c.set('db3:extra', 'x');
        await c.select(0);
        const bad = await verifyCli([file, '--target', uri(h), '--exact']);
        t.equal(bad.code, 10, 'exit 10');
        const kinds = (bad.report?.differences ?? []).map((d) => `${d.kind} ${d.db} ${String(d.key)}${d.what ? ` ${d.what.join(',')}` : ''}`).sort();
        // ttl:2038 is still 1.5 s off: within the default tolerance.
        t.same(kinds, [
          'different 0 list:large value',
          'different 0 str:text value',
          'extra 0 not:from:the:inputs',
          'extra 3 db3:extra',
          'missing 0 list:small',
        ], 'each difference, named');
        const loose = await verifyCli([file, '--target', uri(h)]);
        t.equal(loose.report?.extra, 0, 'without --exact other keys are allowed');
        t.equal(loose.report?.differenceCount, 3);
      } finally {
        c.disconnect();
      }
    });
    const usage = await verifyCli([file, '--target', 'redis://127.0.0.1:1', '--against', file]);
    t.equal(usage.code, 2, '--target and --against together: exit 2');
    const exactAlone = await verifyCli([file, '--against', file, '--exact']);
    t.equal(exactAlone.code, 2, '--exact without --target: exit 2');
  });

  t.test('pacing, a window of one, usage errors', async (t) => {
    const f = fixtures.find((x) => x.rdb === 'redis-7.0.15-types.rdb')!;
    const manifest = fixtureManifest(f);
    await withServer([], async (h) => {
      const r = await replayCli([fixturePath(f.rdb), '--target', uri(h), '--json', '-q', '--max-rate', '200']);
      t.equal(r.code, 0);
      // 77 keys at 200 a second: at least ~0.38 s of sending.
      t.ok((r.report?.seconds ?? 0) >= 0.35, `--max-rate 200 took ${r.report?.seconds} s for ${manifest.length} keys`);
      await flush(h);
      const one = await replayCli([fixturePath(f.rdb), '--target', uri(h), '--json', '-q', '--connections', '1', '--pipeline', '1']);
      t.equal(one.code, 0, '--connections 1 --pipeline 1');
      same(t, await dumpOverResp(target(h)), manifest, 'a window of one');
    });
    const bad = await replayCli([fixturePath(f.rdb), '--target', 'redis://127.0.0.1:6379/3']);
    t.equal(bad.code, 2, 'a /db path in the URI: exit 2');
    const none = await replayCli([fixturePath(f.rdb)]);
    t.equal(none.code, 2, 'neither --target nor --resp-out: exit 2');
    const refused = await replayCli([fixturePath(f.rdb), '--target', 'redis://127.0.0.1:1']);
    t.equal(refused.code, 8, 'nobody listening: exit 8');
  });
}

/** Random bytes that LZF cannot shrink. */
function rnd(n: number): Uint8Array {
  return new Uint8Array(randomBytes(n));
}

/**
 * An RDB 10 file with values over 1 MB (random bytes, so compression cannot bring the payloads
 * under the limit) and a few small keys; returns its keys as JSONL lines, decoded by the codec.
 */
async function writeBigRdb(path: string): Promise<Line[]> {
  const te = new TextEncoder();
  const n = 1200;
  const el = (i: number): Uint8Array => {
    const b = rnd(1000);
    b.set(te.encode(String(i).padStart(6, '0')), 0);
    return b;
  };
  const entries: StreamValue['entries'] = [];
  for (let i = 0; i < 1100; i++) entries.push({ id: { ms: 1700000000000n + BigInt(i), seq: 0n }, fields: [te.encode('f'), rnd(1000)] });
  const stream: StreamValue = {
    entries,
    length: entries.length,
    lastId: { ms: 1700000000000n + 2000n, seq: 0n },
    firstId: entries[0]!.id,
    maxDeletedEntryId: { ms: 1700000000000n + 1500n, seq: 0n },
    entriesAdded: BigInt(entries.length + 5),
    groups: [{
      name: te.encode('g1'),
      lastDeliveredId: entries[10]!.id,
      entriesRead: 11n,
      pending: [
        { id: entries[3]!.id, deliveryTime: 1700000001000, deliveryCount: 2 },
        { id: entries[7]!.id, deliveryTime: 1700000002000, deliveryCount: 1 },
      ],
      consumers: [
        { name: te.encode('alice'), seenTime: 1700000002000, pending: [entries[3]!.id, entries[7]!.id] },
        { name: te.encode('bob'), seenTime: 1700000003000, pending: [] },
      ],
    }],
  };
  const values: HandmadeKey[] = [
    { key: 'big:list', v: { type: 'list', value: Array.from({ length: n }, (_, i) => el(i)) } },
    { key: 'big:list:ttl', v: { type: 'list', value: Array.from({ length: n }, (_, i) => el(i)) }, expireAt: 4102444800000 },
    { key: 'big:hash', v: { type: 'hash', value: Array.from({ length: n }, (_, i) => [te.encode(`field:${i}`), el(i)] as [Uint8Array, Uint8Array]) } },
    { key: 'big:set', v: { type: 'set', value: Array.from({ length: n }, (_, i) => el(i)) } },
    { key: 'big:zset', v: { type: 'zset', value: Array.from({ length: n }, (_, i) => [el(i), i * 1.5 - 300.25] as [Uint8Array, number]) } },
    { key: 'big:stream', v: { type: 'stream', value: stream } },
    { key: 'big:str', v: { type: 'string', value: rnd(2 * 1024 * 1024) } },
    { key: 'small:str', v: { type: 'string', value: te.encode('hello') }, expireAt: 4102444800000 },
    { key: 'small:list', v: { type: 'list', value: [te.encode('a'), te.encode('b')] } },
  ];
  writeValues(path, values);
  const read = await readToJsonl(readBytes(path));
  if (read.lines.length !== values.length) throw new Error('test: the big file does not read back');
  return read.lines;
}
