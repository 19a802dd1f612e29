/**
 * `rdbmerge migrate` against real redis-server 7.0 sources and targets, through main(argv):
 *
 *  - 4 sources booted from fixtures (one diskless, one with a password, one with an ACL user)
 *    whose keys overlap: `migrate --sources FILE -o OUT --on-conflict last` writes the same keys
 *    as `merge` of the fetched files in the sources' order, and its work directory is gone;
 *  - `migrate --target` (snapshots kept with --keep-dumps) passes `verify --target` against them;
 *  - `migrate --stream --target --on-busykey replace` (no file written) passes the same verify;
 *  - a source that cannot be fetched: exit 11, nothing at OUT, nothing replayed;
 *  - the meta file beside a fetched snapshot is what merge's --rebase-expiry reads.
 *
 * A missing redis-server fails these tests (never a skip).
 */
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { compareJsonl } from '../src/format/compare.js';
import { snapshotTimeFromDisk } from '../src/io/files.js';
import type { FetchMeta } from '../src/pipelines/fetch.js';
import type { MigrateReport } from '../src/pipelines/migrate.js';
import { runCli } from './helpers/cli.js';
import { fixturePath } from './helpers/fixtures.js';
import { readBytes, readToJsonl } from './helpers/read.js';
import { keyCount, probe, requireRedisServer, startRedis, type RedisHandle } from './helpers/redis-server.js';

const PASSWORD = 'migrate-Pw-1';
const ACL_PASSWORD = 'migrate-acl-2';

function show(diffs: ReturnType<typeof compareJsonl>): string {
  return diffs.length === 0 ? '' : `\n  ${diffs.slice(0, 5).map((d) => JSON.stringify(d).slice(0, 300)).join('\n  ')}`;
}

async function sameFile(t: Test, actual: string, expected: string, what: string): Promise<void> {
  const a = (await readToJsonl(readBytes(actual))).lines;
  const e = (await readToJsonl(readBytes(expected))).lines;
  const diffs = compareJsonl(e, a);
  t.equal(diffs.length, 0, `${what}: ${a.length} keys equal to the ${e.length} expected${show(diffs)}`);
}

const bin = requireRedisServer(t);
if (bin !== undefined) {
  const work = mkdtempSync(join(tmpdir(), 'rdbmerge-migrate-'));
  const servers: RedisHandle[] = [];
  const sourceServers: RedisHandle[] = [];
  t.teardown(async () => {
    await Promise.all(servers.map((s) => s.stop()));
    rmSync(work, { recursive: true, force: true });
  });
  const uris: string[] = [];
  const sourcesFile = join(work, 'fleet.txt');
  const plain = ['--repl-diskless-sync', 'no'];

  t.before(async () => {
    const defs: Array<{ fixture: string; args: string[]; auth?: 'password' | 'acl' }> = [
      { fixture: 'redis-2.8.24-types.rdb', args: plain },
      { fixture: 'redis-3.2.13-types.rdb', args: ['--repl-diskless-sync', 'yes', '--repl-diskless-sync-delay', '1'] },
      { fixture: 'redis-5.0.14-types.rdb', args: [...plain, '--user', 'mover', 'on', `>${ACL_PASSWORD}`, '~*', '&*', '+@all'], auth: 'acl' },
      { fixture: 'redis-7.0.15-nocompress.rdb', args: plain, auth: 'password' },
    ];
    for (const d of defs) {
      const h = await startRedis({ rdbFile: fixturePath(d.fixture), args: d.args });
      servers.push(h);
      sourceServers.push(h);
      if (d.auth === 'password') await probe(h.port, ['CONFIG', 'SET', 'requirepass', PASSWORD]);
      const cred = d.auth === 'password' ? `:${PASSWORD}@` : d.auth === 'acl' ? `mover:${ACL_PASSWORD}@` : '';
      uris.push(`redis://${cred}127.0.0.1:${h.port}`);
    }
    writeFileSync(sourcesFile, `# migrate test fleet\n${uris.join('\n\n')}\n`);
  });

  /** The kept snapshots, in the sources' order. */
  const keptFiles = (dir: string): string[] => sourceServers.map((h) => join(dir, `127.0.0.1-${h.port}.rdb`));

  t.test('migrate -o OUT equals merge of the fetched files, in the sources order', async (t) => {
    const workDir = join(work, 'wd');
    mkdirSync(workDir);
    const out = join(work, 'migrated.rdb');
    const now = String(Date.now());
    const r = await runCli(['migrate', '--sources', sourcesFile, '-o', out, '--on-conflict', 'last', '--work-dir', workDir, '--now', now, '--parallel', '2']);
    t.equal(r.code, 0, `exit 0${r.code !== 0 ? `: ${r.stderr}` : ''}`);
    t.match(r.stdout, /fetched 4 of 4 source\(s\)/, 'the fetch table');
    t.match(r.stdout, /merged 4 input\(s\)/, 'the merge summary');
    t.notOk((r.stdout + r.stderr).includes(PASSWORD) || (r.stdout + r.stderr).includes(ACL_PASSWORD), 'no password printed');
    t.same(readdirSync(workDir), [], 'the work directory is removed at the end');
    // The same sources fetched, then merged by hand.
    const kept = join(work, 'kept-merge');
    const f = await runCli(['fetch', '--sources', sourcesFile, '--out-dir', kept, '-q']);
    t.equal(f.code, 0, `fetch: exit 0${f.code !== 0 ? `: ${f.stderr}` : ''}`);
    const ref = join(work, 'merged-by-hand.rdb');
    const m = await runCli(['merge', ...keptFiles(kept), '-o', ref, '--on-conflict', 'last', '--now', now, '-q']);
    t.equal(m.code, 0, `merge: exit 0${m.code !== 0 ? `: ${m.stderr}` : ''}`);
    await sameFile(t, out, ref, 'migrate -o');
    // The conflict order is the sources' order: under `first` the result differs where keys overlap.
    const firstOut = join(work, 'first.rdb');
    const m2 = await runCli(['merge', ...keptFiles(kept), '-o', firstOut, '--on-conflict', 'first', '--now', now, '-q', '--json']);
    t.equal(m2.code, 0, 'merge --on-conflict first: exit 0');
    t.ok((JSON.parse(m2.stdout) as { collisionCount: number }).collisionCount > 0, 'the sources share keys (so the order matters)');
  });

  t.test('migrate --target (--keep-dumps) and --stream --target both pass verify --target', async (t) => {
    const kept = join(work, 'kept-replay');
    const target = await startRedis();
    const target2 = await startRedis();
    servers.push(target, target2);
    const r = await runCli(['migrate', '--sources', sourcesFile, '--target', `redis://127.0.0.1:${target.port}`, '--on-conflict', 'last', '--keep-dumps', kept, '--json', '-q']);
    t.equal(r.code, 0, `exit 0${r.code !== 0 ? `: ${r.stderr}` : ''}`);
    const rep = JSON.parse(r.stdout) as MigrateReport;
    t.equal(rep.fetch?.ok, 4, '4 sources fetched');
    t.ok((rep.replay?.restored ?? 0) > 0, `${rep.replay?.restored} keys restored`);
    t.equal(rep.dumps, kept, 'the dumps are kept');
    for (const f of keptFiles(kept)) t.ok(existsSync(f), `${f} kept`);
    const v = await runCli(['verify', ...keptFiles(kept), '--target', `redis://127.0.0.1:${target.port}`, '--on-conflict', 'last', '--exact']);
    t.equal(v.code, 0, `verify --target after migrate --target: exit 0${v.code !== 0 ? `: ${v.stdout}${v.stderr}` : ''}`);

    const s = await runCli(['migrate', '--sources', sourcesFile, '--target', `redis://127.0.0.1:${target2.port}`, '--stream', '--on-busykey', 'replace', '--json', '-q']);
    t.equal(s.code, 0, `--stream: exit 0${s.code !== 0 ? `: ${s.stderr}` : ''}`);
    const srep = JSON.parse(s.stdout) as MigrateReport;
    t.equal(srep.fetch, null, '--stream fetched no files');
    const streamed = (srep.replay as unknown as { streamed: Array<{ result: string }> }).streamed;
    t.same(streamed.map((x) => x.result), ['ok', 'ok', 'ok', 'ok'], 'every source streamed');
    t.ok((srep.replay?.replaced ?? 0) > 0, 'keys of later sources replaced earlier ones (last wins)');
    const v2 = await runCli(['verify', ...keptFiles(kept), '--target', `redis://127.0.0.1:${target2.port}`, '--on-conflict', 'last', '--exact']);
    t.equal(v2.code, 0, `verify --target after migrate --stream: exit 0${v2.code !== 0 ? `: ${v2.stdout}${v2.stderr}` : ''}`);
    t.equal((await keyCount(target2.port)).total, (await keyCount(target.port)).total, 'both targets hold the same number of keys');
  });

  t.test('a source that cannot be fetched: exit 11, nothing merged or replayed', async (t) => {
    const bad = join(work, 'bad-fleet.txt');
    // A port nobody listens on (a stopped server's).
    const gone = await startRedis();
    const port = gone.port;
    await gone.stop();
    writeFileSync(bad, `${uris[0]}\nredis://127.0.0.1:${port}\n`);
    const out = join(work, 'never.rdb');
    const r = await runCli(['migrate', '--sources', bad, '-o', out, '--retries', '1', '--retry-delay', '100ms', '--connect-timeout', '2s']);
    t.equal(r.code, 11, 'exit 11');
    t.notOk(existsSync(out), 'nothing at OUT');
    t.match(r.stdout, /FAILED/, 'the fetch table shows the failed source');
    const target = await startRedis();
    servers.push(target);
    const r2 = await runCli(['migrate', '--sources', bad, '--target', `redis://127.0.0.1:${target.port}`, '--stream', '--on-busykey', 'replace', '--connect-timeout', '2s', '--retry-delay', '100ms']);
    t.equal(r2.code, 11, '--stream: exit 11');
    t.ok((await keyCount(target.port)).total > 0, '--stream: the reachable source was still replayed');
    const u = await runCli(['migrate', '--sources', bad, '-o', out, '--stream']);
    t.equal(u.code, 2, '--stream without --target: exit 2');
  });

  t.test("the meta file beside a fetched snapshot is merge's snapshot time", async (t) => {
    const kept = join(work, 'kept-merge');
    const file = keptFiles(kept)[0]!;
    const meta = JSON.parse(readFileSync(file.replace(/\.rdb$/, '.meta.json'), 'utf8')) as FetchMeta;
    const found = await snapshotTimeFromDisk(file);
    t.same(found, { time: meta.snapshotTime, source: 'meta.json' }, 'snapshotTimeFromDisk reads the meta file fetch wrote');
    const out = join(work, 'rebased.rdb');
    const r = await runCli(['merge', file, '-o', out, '--rebase-expiry', '--json', '-q']);
    t.equal(r.code, 0, `merge --rebase-expiry of a fetched file: exit 0${r.code !== 0 ? `: ${r.stderr}` : ''}`);
  });
}
