/**
 * `rdbmerge fetch` against real redis-server 7.0 sources, driven through main(argv):
 *
 *  - 8 sources, each booted from a different fixture: one diskless (`repl-diskless-sync yes`,
 *    delay 1: a `$EOF:<mark>` transfer), the others disk-based (`$<length>`); one with
 *    `requirepass`, one with an ACL user, one over TLS (certificates made by openssl here).
 *    `fetch --parallel 3` writes 8 files whose JSONL equals what each server holds (read over
 *    RESP), each with a meta file (source without password, versions, bytes, keys, snapshotTime
 *    between the start and the end of the run), and the password is printed nowhere;
 *  - the same for a subset (diskless, password from REDISCLI_AUTH, ACL user, plain) with
 *    `--protocol sync` and with `--via replica` (local replicas gone afterwards);
 *  - a source slowed with `rdb-key-save-delay` and SIGKILLed (by pid) during its transfer: retried,
 *    then reported failed, exit 11, no partial file in DIR, the other source complete;
 *  - --sources FILE with comments and blank lines; a wrong password is exit 8 without retries;
 *    duplicate sources and no source are usage errors.
 *
 * A missing redis-server fails these tests (never a skip).
 */
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import t, { type Test } from 'tap';
import { main } from '../src/cli.js';
import { compareJsonl } from '../src/format/compare.js';
import type { FetchMeta, FetchReport } from '../src/pipelines/fetch.js';
import { dumpOverResp, type RespTarget } from '../src/redis/resp-dump.js';
import { runCli } from './helpers/cli.js';
import { fixturePath, ROOT } from './helpers/fixtures.js';
import { readBytes, readToJsonl } from './helpers/read.js';
import { probe, requireRedisServer, startRedis, type RedisHandle } from './helpers/redis-server.js';

type Line = Record<string, unknown>;

const PASSWORD = 'fetch-S3cret-pw';
const ACL_PASSWORD = 'acl-Pw-9z';

interface Source {
  name: string;
  fixture: string;
  handle: RedisHandle;
  /** The URI fetch is given (with credentials). */
  uri: string;
  /** Host and port as fetch names the file. */
  host: string;
  port: number;
  target: RespTarget;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      const p = typeof a === 'object' && a !== null ? a.port : 0;
      s.close(() => resolve(p));
    });
  });
}

function show(diffs: ReturnType<typeof compareJsonl>): string {
  return diffs.length === 0 ? '' : `\n  ${diffs.slice(0, 5).map((d) => JSON.stringify(d).slice(0, 300)).join('\n  ')}`;
}

/** Every fetched file equals what its server holds; its meta file says what it should. */
async function checkFetched(t: Test, dir: string, sources: readonly Source[], t0: number, t1: number, via: string): Promise<void> {
  for (const s of sources) {
    const stem = `${s.host}-${s.port}`;
    const file = join(dir, `${stem}.rdb`);
    const { lines, records } = await readToJsonl(readBytes(file));
    const eof = records[records.length - 1];
    t.equal(eof?.kind === 'eof' ? eof.checksum : 'none', 'ok', `${via} ${s.name}: CRC-64 verified on reading`);
    const held = await dumpOverResp(s.target);
    t.ok(held.length > 0, `${via} ${s.name}: the server holds ${held.length} keys`);
    const diffs = compareJsonl(held, lines);
    t.equal(diffs.length, 0, `${via} ${s.name}: the fetched file's ${lines.length} keys equal the server's ${held.length}${show(diffs)}`);
    const meta = JSON.parse(readFileSync(join(dir, `${stem}.meta.json`), 'utf8')) as FetchMeta;
    t.equal(meta.keys, held.length, `${via} ${s.name}: meta keys`);
    t.equal(meta.bytes, statSync(file).size, `${via} ${s.name}: meta bytes = file size`);
    t.equal(meta.rdbVersion, 10, `${via} ${s.name}: meta RDB version`);
    t.match(meta.serverVersion ?? '', /^7\.0\./, `${via} ${s.name}: meta server version`);
    t.ok(meta.snapshotTime >= t0 && meta.snapshotTime <= t1, `${via} ${s.name}: snapshotTime within the run`);
    t.notOk(meta.source.includes(PASSWORD) || meta.source.includes(ACL_PASSWORD), `${via} ${s.name}: no password in the meta file`);
    t.equal(meta.port, s.port, `${via} ${s.name}: meta port`);
  }
  const left = readdirSync(dir).filter((n) => !n.endsWith('.rdb') && !n.endsWith('.meta.json'));
  t.same(left, [], `${via}: nothing but .rdb and .meta.json files in DIR`);
}

function noSecrets(t: Test, text: string, what: string): void {
  t.notOk(text.includes(PASSWORD) || text.includes(ACL_PASSWORD), `${what}: no password printed`);
}

const bin = requireRedisServer(t);
if (bin !== undefined) {
  const work = mkdtempSync(join(tmpdir(), 'rdbmerge-fetch-'));
  const sources: Source[] = [];
  t.teardown(async () => {
    await Promise.all(sources.map((s) => s.handle.stop()));
    rmSync(work, { recursive: true, force: true });
  });

  // ---- TLS material, made here ------------------------------------------------------------------
  const certs = join(work, 'certs');
  const openssl = (args: string[]): void => {
    const r = spawnSync('openssl', args, { cwd: work, encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`openssl ${args.join(' ')}: ${r.stderr}`);
  };
  spawnSync('mkdir', ['-p', certs]);
  writeFileSync(join(certs, 'san.ext'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\n');
  openssl(['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', join(certs, 'ca.key'), '-out', join(certs, 'ca.crt'), '-days', '2', '-subj', '/CN=rdbmerge-test-ca']);
  openssl(['req', '-newkey', 'rsa:2048', '-nodes', '-keyout', join(certs, 'server.key'), '-out', join(certs, 'server.csr'), '-subj', '/CN=127.0.0.1']);
  openssl(['x509', '-req', '-in', join(certs, 'server.csr'), '-CA', join(certs, 'ca.crt'), '-CAkey', join(certs, 'ca.key'), '-CAcreateserial', '-out', join(certs, 'server.crt'), '-days', '2', '-extfile', join(certs, 'san.ext')]);

  const plain = ['--repl-diskless-sync', 'no'];
  const defs: Array<{ name: string; fixture: string; args: () => Promise<string[]>; auth?: 'password' | 'acl'; tls?: boolean }> = [
    { name: 'plain 2.8', fixture: 'redis-2.8.24-types.rdb', args: async () => plain },
    { name: 'diskless', fixture: 'redis-3.2.13-types.rdb', args: async () => ['--repl-diskless-sync', 'yes', '--repl-diskless-sync-delay', '1'] },
    { name: 'requirepass', fixture: 'redis-4.0.14-types.rdb', args: async () => plain, auth: 'password' },
    { name: 'acl user', fixture: 'redis-5.0.14-types.rdb', args: async () => [...plain, '--user', 'fetcher', 'on', `>${ACL_PASSWORD}`, '~*', '&*', '+@all'], auth: 'acl' },
    {
      name: 'tls', fixture: 'redis-7.0.15-types.rdb', tls: true,
      args: async () => [...plain, '--tls-port', String(await freePort()), '--tls-cert-file', join(certs, 'server.crt'), '--tls-key-file', join(certs, 'server.key'), '--tls-ca-cert-file', join(certs, 'ca.crt'), '--tls-auth-clients', 'no'],
    },
    { name: 'lfu', fixture: 'redis-5.0.14-lfu.rdb', args: async () => [...plain, '--maxmemory-policy', 'allkeys-lfu'] },
    { name: 'nocompress', fixture: 'redis-7.0.15-nocompress.rdb', args: async () => plain },
    { name: '2.6', fixture: 'redis-2.6.17-types.rdb', args: async () => plain },
  ];

  t.before(async () => {
    for (const d of defs) {
      const args = await d.args();
      const handle = await startRedis({ rdbFile: fixturePath(d.fixture), args });
      // Set after the boot: the helper judges readiness by a PING without a password.
      if (d.auth === 'password') t.equal(await probe(handle.port, ['CONFIG', 'SET', 'requirepass', PASSWORD]), 'OK', 'requirepass set');
      const tlsPort = d.tls === true ? Number(args[args.indexOf('--tls-port') + 1]) : undefined;
      const port = tlsPort ?? handle.port;
      const cred = d.auth === 'password' ? `:${PASSWORD}@` : d.auth === 'acl' ? `fetcher:${ACL_PASSWORD}@` : '';
      const target: RespTarget = { host: handle.host, port: handle.port };
      if (d.auth === 'password') target.password = PASSWORD;
      if (d.auth === 'acl') {
        target.username = 'fetcher';
        target.password = ACL_PASSWORD;
      }
      sources.push({
        name: d.name, fixture: d.fixture, handle, uri: `${d.tls === true ? 'rediss' : 'redis'}://${cred}127.0.0.1:${port}`,
        host: '127.0.0.1', port, target,
      });
    }
  });

  t.test('fetch --parallel 3: 8 sources (diskless, password, ACL user, TLS) equal what the servers hold', async (t) => {
    const dir = join(work, 'native');
    const listFile = join(work, 'sources.txt');
    // Half the sources through --sources FILE, with comments and blank lines.
    writeFileSync(listFile, `# the fleet\n\n${sources.slice(4).map((s) => `${s.uri}   # ${s.name}`).join('\n')}\n\n`);
    const t0 = Date.now();
    const r = await runCli(['fetch', ...sources.slice(0, 4).map((s) => s.uri), '--sources', listFile, '--out-dir', dir, '--parallel', '3', '--tls-ca', join(certs, 'ca.crt'), '--json']);
    const t1 = Date.now();
    t.equal(r.code, 0, `exit 0${r.code !== 0 ? `: ${r.stderr}` : ''}`);
    noSecrets(t, r.stdout + r.stderr, 'native fetch');
    const rep = JSON.parse(r.stdout) as FetchReport;
    t.equal(rep.ok, 8, '8 ok');
    t.equal(rep.failed, 0, 'none failed');
    t.same(rep.warnings, [], 'no pre-check warnings (INFO memory read over TLS and with both kinds of credentials)');
    t.same(rep.sources.map((s) => s.port), sources.map((s) => s.port), 'report in source order (arguments, then --sources FILE)');
    const events = r.stderr.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as { event: string; phase?: string; source: string });
    t.ok(events.some((e) => e.event === 'progress' && e.phase === 'transferring'), 'progress events with phases');
    t.equal(events.filter((e) => e.event === 'source-done').length, 8, 'one source-done event per source');
    t.equal(events[events.length - 1]?.event, 'done', 'a last done event');
    await checkFetched(t, dir, sources, t0, t1, 'native');
    const diskless = JSON.parse(readFileSync(join(dir, `127.0.0.1-${sources[1]!.port}.meta.json`), 'utf8')) as FetchMeta;
    t.equal(diskless.snapshotTimeFrom, 'fullresync', 'PSYNC: snapshot time from +FULLRESYNC');
    t.match(sources[1]!.handle.log(), /Starting BGSAVE for SYNC with target: replicas sockets/, 'the diskless source sent over the socket (an $EOF: transfer)');
    t.match(sources[0]!.handle.log(), /Starting BGSAVE for SYNC with target: disk/, 'a disk-based source sent a $<length> transfer');
  });

  const subset = (): Source[] => [sources[1]!, sources[2]!, sources[3]!, sources[0]!];

  t.test('--protocol sync: diskless, password from REDISCLI_AUTH, ACL user, plain', async (t) => {
    const dir = join(work, 'sync');
    const [diskless, pw, acl, plainSrc] = subset();
    const pwUri = pw!.uri.replace(`:${PASSWORD}@`, '');
    const t0 = Date.now();
    // REDISCLI_AUTH reaches only the URIs without a password: run the password source alone.
    const a = await runCli(['fetch', pwUri, '--out-dir', dir, '--protocol', 'sync', '-q'], { env: { REDISCLI_AUTH: PASSWORD } });
    t.equal(a.code, 0, `REDISCLI_AUTH source: exit 0${a.code !== 0 ? `: ${a.stderr}` : ''}`);
    const b = await runCli(['fetch', diskless!.uri, acl!.uri, plainSrc!.uri, '--out-dir', dir, '--protocol', 'sync', '--parallel', '3']);
    const t1 = Date.now();
    t.equal(b.code, 0, `exit 0${b.code !== 0 ? `: ${b.stderr}` : ''}`);
    t.match(b.stdout, /fetched 3 of 3 source\(s\)/, 'the final table');
    noSecrets(t, a.stdout + a.stderr + b.stdout + b.stderr, 'sync fetch');
    await checkFetched(t, dir, subset(), t0, t1, 'sync');
    const meta = JSON.parse(readFileSync(join(dir, `127.0.0.1-${diskless!.port}.meta.json`), 'utf8')) as FetchMeta;
    t.equal(meta.protocol, 'sync', 'meta says SYNC');
    t.equal(meta.snapshotTimeFrom, 'sync-sent', 'SYNC: snapshot time from when SYNC was sent');
  });

  t.test('--via replica: diskless, password, ACL user, plain; the local replicas are gone afterwards', async (t) => {
    const dir = join(work, 'replica');
    const t0 = Date.now();
    const r = await runCli(['fetch', ...subset().map((s) => s.uri), '--out-dir', dir, '--via', 'replica', '--parallel', '2', '--json', '-q']);
    const t1 = Date.now();
    t.equal(r.code, 0, `exit 0${r.code !== 0 ? `: ${r.stderr}` : ''}`);
    noSecrets(t, r.stdout + r.stderr, 'replica fetch');
    const rep = JSON.parse(r.stdout) as FetchReport;
    t.equal(rep.via, 'replica', 'via replica');
    t.equal(rep.ok, 4, '4 ok');
    await checkFetched(t, dir, subset(), t0, t1, 'replica');
    for (const s of subset()) {
      const info = await probe(s.handle.port, ['INFO', 'replication']).catch((e: Error) => e.message);
      // The password sources answer NOAUTH to probe; the others must list no replica left behind.
      if (!info.startsWith('-')) t.match(info, /connected_slaves:0/, `${s.name}: no replica still attached`);
    }
    const ps = spawnSync('ps', ['-eo', 'args'], { encoding: 'utf8' }).stdout;
    t.notOk(ps.includes(dir), 'no local replica process left running');
    t.notOk(ps.includes(PASSWORD), 'no password on any command line');
  });

  t.test('a source killed during its transfer: retried, reported failed (exit 11), no partial file; the other completes', async (t) => {
    const dir = join(work, 'killed');
    const victim = await startRedis({ rdbFile: fixturePath('redis-7.0.15-types.rdb'), args: ['--repl-diskless-sync', 'yes', '--repl-diskless-sync-delay', '0', '--rdb-key-save-delay', '200000'] });
    const victimUri = `redis://127.0.0.1:${victim.port}`;
    try {
      let killed = false;
      let lines = '';
      const stderr = new Writable({
        write(chunk: Buffer, _enc, cb) {
          lines += chunk.toString('utf8');
          let nl: number;
          while ((nl = lines.indexOf('\n')) >= 0) {
            const line = lines.slice(0, nl);
            lines = lines.slice(nl + 1);
            if (!line.startsWith('{')) continue;
            const e = JSON.parse(line) as { event: string; source: string; phase?: string; bytes?: number };
            if (!killed && e.event === 'progress' && e.source === victimUri && e.phase === 'transferring' && (e.bytes ?? 0) > 0) {
              killed = true;
              process.kill(victim.pid, 'SIGKILL');
            }
          }
          cb();
        },
      });
      const out: Buffer[] = [];
      const stdout = new Writable({
        write(chunk: Buffer, _enc, cb) {
          out.push(chunk);
          cb();
        },
      });
      const code = await main(['node', 'rdbmerge', 'fetch', victimUri, sources[0]!.uri, '--out-dir', dir, '--retries', '2', '--retry-delay', '100ms', '--connect-timeout', '2s', '--json'], { stdout, stderr, env: {} });
      t.ok(killed, 'the source was killed while bytes were arriving');
      t.equal(code, 11, 'exit 11: some sources failed');
      const rep = JSON.parse(Buffer.concat(out).toString('utf8')) as FetchReport;
      const v = rep.sources[0]!;
      t.equal(v.result, 'failed', 'the killed source is reported failed');
      t.equal(v.attempts, 3, 'after 1 + 2 retries');
      t.equal(v.file, null, 'no file for it');
      t.equal(rep.sources[1]!.result, 'ok', 'the other source completed');
      const names = readdirSync(dir).sort();
      t.same(names, [`127.0.0.1-${sources[0]!.port}.meta.json`, `127.0.0.1-${sources[0]!.port}.rdb`], 'only the other source\'s files in DIR: no partial or temp file');
    } finally {
      await victim.stop();
    }
  });

  t.test('--cluster-source: every master CLUSTER NODES lists', async (t) => {
    const node = await startRedis({ args: [...plain, '--cluster-enabled', 'yes', '--cluster-config-file', 'nodes.conf'] });
    try {
      t.equal(await probe(node.port, ['CLUSTER', 'ADDSLOTSRANGE', '0', '16383']), 'OK', 'one master owns every slot');
      // The node serves keys once it sees its cluster state as ok (a cron tick after ADDSLOTS).
      const until = Date.now() + 10_000;
      while (!/cluster_state:ok/.test(await probe(node.port, ['CLUSTER', 'INFO'])) && Date.now() < until) await new Promise((r) => setTimeout(r, 50));
      const sets: string[] = [];
      for (let i = 0; i < 50; i++) sets.push(await probe(node.port, ['SET', `{tag}k${i}`, `v${i}`]));
      t.same(sets, new Array<string>(50).fill('OK'), '50 keys set');
      const dir = join(work, 'cluster');
      const r = await runCli(['fetch', '--cluster-source', `redis://127.0.0.1:${node.port}`, '--out-dir', dir, '--json', '-q']);
      t.equal(r.code, 0, `exit 0${r.code !== 0 ? `: ${r.stderr}` : ''}`);
      const rep = JSON.parse(r.stdout) as FetchReport;
      t.same(rep.sources.map((s) => s.port), [node.port], 'the master found through CLUSTER NODES');
      t.equal(rep.keys, 50, 'its 50 keys');
      const { lines } = await readToJsonl(readBytes(join(dir, `127.0.0.1-${node.port}.rdb`)));
      t.equal(lines.length, 50, 'the file holds them');
      const bad = await runCli(['fetch', '--cluster-source', sources[0]!.uri, '--out-dir', join(work, 'nocluster'), '-q']);
      t.equal(bad.code, 8, 'a standalone server as --cluster-source: exit 8');
    } finally {
      await node.stop();
    }
  });

  t.test('progress on a TTY: a line per source in flight and a total', async (t) => {
    let text = '';
    const stderr = Object.assign(new Writable({
      write(chunk: Buffer, _enc, cb) {
        text += chunk.toString('utf8');
        cb();
      },
    }), { isTTY: true });
    const out = new Writable({ write: (_c, _e, cb) => cb() });
    const code = await main(['node', 'rdbmerge', 'fetch', sources[1]!.uri, sources[0]!.uri, '--out-dir', join(work, 'tty'), '--parallel', '2'], { stdout: out, stderr, env: {} });
    t.equal(code, 0, 'exit 0');
    t.match(text, /waiting for BGSAVE/, 'the phase while the source saves');
    t.match(text, new RegExp(`redis://127\\.0\\.0\\.1:${sources[1]!.port}  `), 'a line naming the source');
    t.match(text, /fetch: 2 done, 0 failed, 0 running, 0 queued/, 'the total line');
    t.match(text, /\x1b\[\d+A/, 'lines redrawn in place');
  });

  t.test('SIGINT during a transfer (native) and during a replica sync: exit 130, nothing left behind', async (t) => {
    const BIN = join(ROOT, 'dist', 'src', 'bin.js');
    if (!existsSync(BIN)) execFileSync('npx', ['tsc', '-p', '.'], { cwd: ROOT, stdio: 'inherit' });
    const slow = await startRedis({ rdbFile: fixturePath('redis-7.0.15-types.rdb'), args: ['--repl-diskless-sync', 'yes', '--repl-diskless-sync-delay', '0', '--rdb-key-save-delay', '100000'] });
    try {
      for (const [via, phase] of [['native', 'transferring'], ['replica', 'waiting-bgsave']] as const) {
        const dir = join(work, `sigint-${via}`);
        const child = spawn(process.execPath, [BIN, 'fetch', `redis://127.0.0.1:${slow.port}`, '--out-dir', dir, '--via', via, '--json'], { stdio: ['ignore', 'pipe', 'pipe'] });
        let stderr = '';
        let buffered = '';
        let sent = false;
        child.stderr.setEncoding('utf8');
        child.stderr.on('data', (text: string) => {
          stderr += text;
          buffered += text;
          let nl: number;
          while ((nl = buffered.indexOf('\n')) >= 0) {
            const line = buffered.slice(0, nl);
            buffered = buffered.slice(nl + 1);
            if (sent || !line.startsWith('{')) continue;
            const e = JSON.parse(line) as { event: string; phase?: string; bytes?: number };
            if (e.event === 'progress' && e.phase === phase && (via === 'replica' || (e.bytes ?? 0) > 0)) {
              sent = true;
              child.kill('SIGINT');
            }
          }
        });
        child.stdout.resume();
        const code = await new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
        t.ok(sent, `${via}: SIGINT sent while ${phase}`);
        t.equal(code, 130, `${via}: exit 130 (${stderr.split('\n').filter((l) => !l.startsWith('{')).join(' ').trim()})`);
        t.same(readdirSync(dir), [], `${via}: DIR is empty: no partial file, no temp file, no replica directory`);
        const ps = spawnSync('ps', ['-eo', 'args'], { encoding: 'utf8' }).stdout;
        t.notOk(ps.includes(dir), `${via}: no local replica left running`);
      }
    } finally {
      await slow.stop();
    }
  });

  t.test('failures that are not retried, and usage errors', async (t) => {
    const pw = sources[2]!;
    const wrong = pw.uri.replace(PASSWORD, 'not-the-password');
    const r = await runCli(['fetch', wrong, '--out-dir', join(work, 'wrong'), '--retry-delay', '2s', '--json', '-q']);
    t.equal(r.code, 8, 'a wrong password alone: exit 8');
    const rep = JSON.parse(r.stdout) as FetchReport;
    t.equal(rep.sources[0]!.attempts, 1, 'a refused password is not retried');
    t.match(rep.sources[0]!.error ?? '', /authentication failed/, 'the error says why');
    t.match(rep.warnings, [/pre-check failed: .*authentication failed/], 'the pre-check could not run: a warning, not a refusal');
    noSecrets(t, r.stdout + r.stderr, 'wrong password');
    const d = await runCli(['fetch', sources[0]!.uri, sources[0]!.uri, '--out-dir', join(work, 'dup')]);
    t.equal(d.code, 2, 'the same source twice: exit 2');
    const n = await runCli(['fetch', '--out-dir', join(work, 'none')]);
    t.equal(n.code, 2, 'no source: exit 2');
    const b = await runCli(['fetch', sources[0]!.uri, '--out-dir', join(work, 'bad'), '--parallel', '0']);
    t.equal(b.code, 2, '--parallel 0: exit 2');
  });
}
