/**
 * `replay` and `verify --target` over TLS (rediss://), against real redis-server processes started
 * with `--tls-port` and certificates made here by `openssl`: a CA, a server certificate it signed
 * for 127.0.0.1 and localhost (subjectAltName), a client certificate, and a second CA that signed
 * nothing of this server.
 *
 *  - `--tls-ca`: the fixture arrives (read back independently with ioredis over TLS) and
 *    `verify --exact` exits 0, by address and by host name; the servers listen on TLS only
 *    (`--port 0 --tls-port P`);
 *  - no CA and no `--tls-insecure`: exit 8 naming the certificate problem, nothing written; the
 *    wrong CA: the same; `--tls-insecure` without a CA works;
 *  - a CA file that holds no certificate: exit 8; a missing file, TLS options with a redis:// URI,
 *    a certificate without its key: exit 2;
 *  - a server with `--tls-auth-clients yes`: refused without a client certificate (exit 8, says
 *    so), works with `--tls-cert` / `--tls-key`;
 *  - a Redis Cluster over TLS (3 masters, `tls-cluster yes`, created through the TLS ports):
 *    `replay --cluster` and `verify --cluster --exact` over rediss://, every key on its owner.
 *
 * A missing redis-server or openssl fails these tests (never a skip).
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { Redis } from 'ioredis';
import { compareJsonl } from '../src/format/compare.js';
import { dumpOverResp } from '../src/redis/resp-dump.js';
import { replayCli, runCli, verifyCli } from './helpers/cli.js';
import { fixtureIndex, fixtureManifest, fixturePath } from './helpers/fixtures.js';
import { clusterKeyCount, startCluster } from './helpers/cluster.js';
import { bootRdb, findOnPath, requireRedisServer, startRedis, type RedisHandle } from './helpers/redis-server.js';

function openssl(dir: string, args: string[]): void {
  const r = spawnSync('openssl', args, { cwd: dir, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`openssl ${args.join(' ')}: exit ${r.status}\n${r.stderr}`);
}

/** A CA, a server certificate for 127.0.0.1 / localhost, a client certificate, and an unrelated CA. */
function makeCertificates(dir: string): void {
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  const caExt = ['-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign'];
  openssl(dir, ['req', '-x509', ...ec, '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '2', '-subj', '/CN=rdbmerge test CA', ...caExt]);
  openssl(dir, ['req', '-x509', ...ec, '-keyout', 'other-ca.key', '-out', 'other-ca.crt', '-days', '2', '-subj', '/CN=another CA', ...caExt]);
  // serverAuth and clientAuth: cluster nodes also present it to each other on the TLS bus.
  writeFileSync(join(dir, 'server.ext'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth,clientAuth\n');
  writeFileSync(join(dir, 'client.ext'), 'extendedKeyUsage=clientAuth\n');
  for (const who of ['server', 'client']) {
    openssl(dir, ['req', ...ec, '-keyout', `${who}.key`, '-out', `${who}.csr`, '-subj', `/CN=${who === 'server' ? 'localhost' : 'rdbmerge client'}`]);
    openssl(dir, ['x509', '-req', '-in', `${who}.csr`, '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-out', `${who}.crt`, '-days', '2', '-extfile', `${who}.ext`]);
  }
}

const bin = requireRedisServer(t);
if (findOnPath('openssl') === undefined) t.fail('openssl is not on PATH: the TLS tests make their certificates with it');
else if (bin !== undefined) {
  const dir = mkdtempSync(join(tmpdir(), 'rdbmerge-tls-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  makeCertificates(dir);
  const pem = (name: string): string => join(dir, name);
  writeFileSync(pem('garbage.pem'), 'not a certificate\n');

  const fx = fixtureIndex().find((f) => f.rdb === 'redis-7.0.15-types.rdb')!;
  const file = fixturePath(fx.rdb);
  const manifest = fixtureManifest(fx);

  /** A server listening on TLS only. */
  async function tlsServer(authClients: 'no' | 'yes'): Promise<{ h: RedisHandle; tlsPort: number }> {
    const h = await startRedis({
      tls: { cert: pem('server.crt'), key: pem('server.key'), ca: pem('ca.crt'), authClients, clientCert: pem('client.crt'), clientKey: pem('client.key') },
    });
    return { h, tlsPort: h.port };
  }

  /** node:tls options for the test's own reads (CA and client certificate). */
  const tlsOpts = { ca: readFileSync(pem('ca.crt')), cert: readFileSync(pem('client.crt')), key: readFileSync(pem('client.key')) };

  async function withClient<T>(h: RedisHandle, fn: (c: Redis) => Promise<T>): Promise<T> {
    const c = new Redis({ host: h.host, port: h.port, tls: tlsOpts, lazyConnect: true });
    await c.connect();
    try {
      return await fn(c);
    } finally {
      c.disconnect();
    }
  }

  async function flush(h: RedisHandle): Promise<void> {
    await withClient(h, async (c) => {
      await c.flushall();
      await c.call('FUNCTION', 'FLUSH');
    });
  }

  /** Keys over every database (INFO keyspace). */
  async function totalKeys(h: RedisHandle): Promise<number> {
    return withClient(h, async (c) => {
      let n = 0;
      for (const m of String(await c.info('keyspace')).matchAll(/^db\d+:keys=(\d+)/gm)) n += Number(m[1]);
      return n;
    });
  }

  t.test('a server with a TLS port, clients not authenticated', async (t) => {
    const { h, tlsPort } = await tlsServer('no');
    try {
      const target = `rediss://127.0.0.1:${tlsPort}`;

      const noCa = await replayCli([file, '--target', target]);
      t.equal(noCa.code, 8, 'no CA and no --tls-insecure: exit 8');
      t.match(noCa.stderr, /TLS: the server certificate does not verify: .*certificate/, `the message names the certificate problem: ${noCa.stderr.split('\n')[0]}`);
      t.match(noCa.stderr, /--tls-ca/, 'the hint names --tls-ca');
      const other = await replayCli([file, '--target', target, '--tls-ca', pem('other-ca.crt')]);
      t.equal(other.code, 8, 'a CA that did not sign the server certificate: exit 8');
      t.match(other.stderr, /does not verify/);
      const garbage = await replayCli([file, '--target', target, '--tls-ca', pem('garbage.pem')]);
      t.equal(garbage.code, 8, 'a CA file with no certificate: exit 8');
      t.match(garbage.stderr, /no PEM certificate/);
      t.equal(await totalKeys(h), 0, 'nothing written by the refused runs');

      const missing = await replayCli([file, '--target', target, '--tls-ca', pem('nope.pem')]);
      t.equal(missing.code, 2, 'a CA file that does not exist: exit 2');
      const plainUri = await replayCli([file, '--target', `redis://127.0.0.1:${tlsPort}`, '--tls-ca', pem('ca.crt')]);
      t.equal(plainUri.code, 2, 'TLS options with a redis:// URI: exit 2');
      const plainToTls = await replayCli([file, '--target', `redis://127.0.0.1:${tlsPort}`]);
      t.equal(plainToTls.code, 8, `redis:// (no TLS) to the TLS port: exit 8, no hang: ${plainToTls.stderr.split('\n')[0]}`);
      const half = await replayCli([file, '--target', target, '--tls-cert', pem('client.crt')]);
      t.equal(half.code, 2, '--tls-cert without --tls-key: exit 2');

      const r = await replayCli([file, '--target', target, '--tls-ca', pem('ca.crt'), '--json', '-q']);
      t.equal(r.code, 0, `--tls-ca: exit 0${r.code !== 0 ? `: ${r.stderr}` : ''}`);
      t.equal(r.report?.restored, manifest.length, `${manifest.length} keys restored`);
      t.equal(r.report?.target, target, 'the report names the rediss:// target');
      const back = await dumpOverResp({ host: h.host, port: h.port, tls: tlsOpts });
      const diffs = compareJsonl(manifest, back);
      t.equal(diffs.length, 0, `the server holds the manifest (${back.length} keys)${diffs.length > 0 ? `: ${JSON.stringify(diffs.slice(0, 3))}` : ''}`);
      const v = await verifyCli([file, '--target', target, '--tls-ca', pem('ca.crt'), '--exact']);
      t.equal(v.code, 0, `verify --target rediss:// --tls-ca --exact: exit 0${v.code !== 0 ? `: ${v.stderr}` : ''}`);
      t.equal(v.report?.matched, manifest.length, 'every key matched');
      const byName = await verifyCli([file, '--target', `rediss://localhost:${tlsPort}`, '--tls-ca', pem('ca.crt'), '--exact']);
      t.equal(byName.code, 0, 'the same by host name (DNS subjectAltName): exit 0');
      const vNoCa = await verifyCli([file, '--target', target]);
      t.equal(vNoCa.code, 8, 'verify without a CA: exit 8');

      await flush(h);
      const insecure = await replayCli([file, '--target', target, '--tls-insecure', '--json', '-q']);
      t.equal(insecure.code, 0, '--tls-insecure without a CA: exit 0');
      t.equal(insecure.report?.restored, manifest.length, 'every key restored');
      const vi = await verifyCli([file, '--target', target, '--tls-insecure', '--exact']);
      t.equal(vi.code, 0, 'verify --tls-insecure: exit 0');
    } finally {
      await h.stop();
    }
  });

  t.test('a server that requires a client certificate', async (t) => {
    const { h, tlsPort } = await tlsServer('yes');
    try {
      const target = `rediss://127.0.0.1:${tlsPort}`;
      const without = await replayCli([file, '--target', target, '--tls-ca', pem('ca.crt')]);
      t.equal(without.code, 8, 'no client certificate: exit 8');
      t.match(without.stderr, /client certificate/, `says a client certificate is needed: ${without.stderr.split('\n')[0]}`);
      t.equal(await totalKeys(h), 0, 'nothing written');
      const cert = ['--tls-ca', pem('ca.crt'), '--tls-cert', pem('client.crt'), '--tls-key', pem('client.key')];
      const r = await replayCli([file, '--target', target, ...cert, '--json', '-q']);
      t.equal(r.code, 0, `--tls-cert / --tls-key: exit 0${r.code !== 0 ? `: ${r.stderr}` : ''}`);
      t.equal(r.report?.restored, manifest.length, 'every key restored');
      const v = await verifyCli([file, '--target', target, ...cert, '--exact']);
      t.equal(v.code, 0, 'verify with the client certificate: exit 0');
    } finally {
      await h.stop();
    }
  });

  t.test('migrate into a TLS target (the same --tls-* options), from files and --stream', async (t) => {
    const { h, tlsPort } = await tlsServer('yes');
    const src = await bootRdb(file);
    try {
      const target = `rediss://127.0.0.1:${tlsPort}`;
      const source = `redis://127.0.0.1:${src.port}`;
      const cert = ['--tls-ca', pem('ca.crt'), '--tls-cert', pem('client.crt'), '--tls-key', pem('client.key')];
      const noCert = await runCli(['migrate', source, '--target', target, '--tls-ca', pem('ca.crt'), '-q']);
      t.equal(noCert.code, 8, `without the client certificate the target refuses: exit 8 (${noCert.stderr.split('\n')[0]})`);
      for (const mode of [[], ['--stream']]) {
        await flush(h);
        const r = await runCli(['migrate', source, '--target', target, ...cert, ...mode, '--json', '-q']);
        t.equal(r.code, 0, `migrate ${mode.join(' ')} to rediss://: exit 0${r.code !== 0 ? `: ${r.stderr}` : ''}`);
        const v = await verifyCli([file, '--target', target, ...cert, '--exact']);
        t.equal(v.code, 0, `verify --target --exact after migrate ${mode.join(' ')}: exit 0`);
        t.equal(v.report?.matched, manifest.length, 'every key matched');
      }
    } finally {
      await src.stop();
      await h.stop();
    }
  });

  t.test('a Redis Cluster over TLS', async (t) => {
    const c = await startCluster({ masters: 3, tls: { cert: pem('server.crt'), key: pem('server.key'), ca: pem('ca.crt') } });
    try {
      const target = `rediss://127.0.0.1:${c.tlsPorts[1]}`;
      const args = ['--cluster', '--into-db', '0', '--on-conflict', 'last', '--tls-ca', pem('ca.crt')];
      const r = await replayCli([file, '--target', target, ...args, '--json', '-q']);
      t.equal(r.code, 0, `replay --cluster over rediss://: exit 0${r.code !== 0 ? `: ${r.stderr}` : ''}`);
      const expected = new Set(manifest.map((l) => JSON.stringify(l['key']))).size;
      t.equal(r.report?.restored, expected, `${expected} keys restored`);
      t.same(r.report?.cluster?.masters.sort(), c.tlsPorts.map((p) => `127.0.0.1:${p}`).sort(), 'the masters found by their TLS ports');
      t.equal(await clusterKeyCount(c), expected, 'the keys are on the masters');
      for (let i = 0; i < 3; i++) t.ok(Number(await c.clients[i]!.dbsize()) > 0, `master ${i} holds keys`);
      const v = await verifyCli([file, '--target', `rediss://localhost:${c.tlsPorts[2]}`, ...args, '--exact', '--now', r.report!.nowIso]);
      t.equal(v.code, 0, `verify --cluster --exact over rediss://: exit 0${v.code !== 0 ? `: ${v.stdout.slice(0, 500)} ${v.stderr}` : ''}`);
      t.equal(v.report?.matched, expected, 'every key matched');
      const noCa = await replayCli([file, '--target', target, '--cluster', '--into-db', '0', '--on-conflict', 'last']);
      t.equal(noCa.code, 8, 'without the CA: exit 8');
    } finally {
      await c.stop();
    }
  });
}
