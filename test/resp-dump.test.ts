/**
 * The RESP dumper against the manifests: every fixture the local redis-server can load (RDB
 * version up to what it writes, 10 for Debian's 7.0.15) is booted straight from the fixture file,
 * read back with dumpOverResp, and must equal its manifest under JSONL.md's comparison rule. The
 * manifests were themselves read over RESP from a server that loaded the same file, so this checks
 * the dumper (and bootRdb), not the codec. Servers run one at a time.
 */
import { execFileSync } from 'node:child_process';
import t from 'tap';
import { rdbVersionForServer } from '../native-free-parser/index.js';
import { compareJsonl, type JsonlDifference } from '../src/format/compare.js';
import { dumpOverResp, iterateKeysOverResp, RespDumpError } from '../src/redis/resp-dump.js';
import { fixtureIndex, fixtureManifest, fixtureMeta, fixturePath, type FixtureEntry } from './helpers/fixtures.js';
import { bootRdb, expectBootFails, requireRedisServer, startRedis } from './helpers/redis-server.js';

const fixtures = fixtureIndex();

function serverVersion(bin: string): string {
  const out = execFileSync(bin, ['--version'], { encoding: 'utf8' });
  const m = /\bv=(\d+\.\d+\.\d+)/.exec(out);
  if (m === null) throw new Error(`cannot tell the version of ${bin} from: ${out}`);
  return m[1]!;
}

function showDiffs(diffs: JsonlDifference[]): string {
  if (diffs.length === 0) return '';
  const shown = diffs.slice(0, 8).map((d) => {
    const text = JSON.stringify(d);
    return text.length > 600 ? `${text.slice(0, 600)}...` : text;
  });
  return `\n  ${diffs.length} difference(s):\n  ${shown.join('\n  ')}`;
}

function loadArgs(f: FixtureEntry): string[] {
  const cfg = (fixtureMeta(f)['manifestReadWith'] as { loadConfig?: string[] } | undefined)?.loadConfig;
  return Array.isArray(cfg) ? cfg : [];
}

const bin = requireRedisServer(t);
if (bin !== undefined) {
  const version = serverVersion(bin);
  const maxRdb = rdbVersionForServer(version) ?? 10;
  const loadable = fixtures.filter((f) => f.manifest !== null && f.loadError === null && fixtureMeta(f).rdbVersion <= maxRdb);

  t.test(`every fixture of RDB <= ${maxRdb} booted on redis ${version} dumps equal to its manifest`, async (t) => {
    t.ok(loadable.length >= 20, `${loadable.length} fixtures to boot`);
    for (const f of loadable) {
      const manifest = fixtureManifest(f);
      const h = await bootRdb(fixturePath(f.rdb), { bin, args: loadArgs(f), expectKeys: manifest.length });
      try {
        const lines = await dumpOverResp({ host: h.host, port: h.port });
        const diffs = compareJsonl(manifest, lines);
        t.equal(diffs.length, 0, `${f.rdb}: ${lines.length} keys equal to the manifest${showDiffs(diffs)}`);
        // The same order as the manifests: db, then raw key bytes.
        t.same(
          lines.map((l) => [l['db'], l['key']]),
          manifest.map((l) => [l['db'], l['key']]),
          `${f.rdb}: sorted like the manifest`,
        );
      } finally {
        await h.stop();
      }
    }
  });

  t.test('paging: tiny pages and SCAN counts read the same values', async (t) => {
    const f = loadable.find((x) => x.rdb === 'redis-7.0.15-types.rdb') ?? loadable[loadable.length - 1]!;
    const manifest = fixtureManifest(f);
    const h = await bootRdb(fixturePath(f.rdb), { bin, expectKeys: manifest.length });
    try {
      // Page 3: lists, zsets, sets, hashes, stream entries and PELs all take several rounds.
      const lines = await dumpOverResp({ host: h.host, port: h.port }, { pageSize: 3, scanCount: 7 });
      const diffs = compareJsonl(manifest, lines);
      t.equal(diffs.length, 0, `${f.rdb} with pageSize 3${showDiffs(diffs)}`);

      const only = await dumpOverResp({ host: h.host, port: h.port }, { dbs: [1, 15] });
      t.same(
        only.map((l) => l['db']),
        manifest.filter((l) => l['db'] === 1 || l['db'] === 15).map((l) => l['db']),
        'opts.dbs reads only those databases',
      );

      let batches = 0;
      let keys = 0;
      for await (const b of iterateKeysOverResp({ host: h.host, port: h.port }, { scanCount: 10 })) {
        batches++;
        keys += b.length;
      }
      t.equal(keys, manifest.length, 'the iterator yields every key once');
      t.ok(batches > 1, `in several batches (${batches})`);

      // A user that may not EVAL or MGET: the per-key pipeline and GET paths read the same.
      const { Redis } = await import('ioredis');
      const admin = new Redis({ host: h.host, port: h.port, lazyConnect: true });
      await admin.connect();
      try {
        await admin.call('ACL', 'SETUSER', 'dumper', 'on', '>s3cret', '~*', '+@all', '-eval', '-evalsha', '-mget');
        await admin.call('CONFIG', 'RESETSTAT');
        const restricted = await dumpOverResp({ host: h.host, port: h.port, username: 'dumper', password: 's3cret' }, { pageSize: 5 });
        const rdiffs = compareJsonl(manifest, restricted);
        t.equal(rdiffs.length, 0, `without EVAL and MGET (ACL user)${showDiffs(rdiffs)}`);
        const stats = await admin.info('commandstats');
        t.match(stats, /^cmdstat_type:calls=[1-9]/m, 'TYPE was sent per key');
        t.match(stats, /^cmdstat_get:calls=[1-9]/m, 'GET was sent per string');
      } finally {
        admin.disconnect();
      }
    } finally {
      await h.stop();
    }
  });

  t.test('a live server: empty, then written over RESP', async (t) => {
    const h = await startRedis({ bin });
    try {
      t.same(await dumpOverResp({ host: h.host, port: h.port }), [], 'an empty server dumps nothing');
      const { Redis } = await import('ioredis');
      const c = new Redis({ host: h.host, port: h.port, lazyConnect: true });
      await c.connect();
      try {
        const bin8 = Buffer.from([0xff, 0x00, 0xfe, 0x41]);
        await c.set(bin8, Buffer.from([0x80, 0x81]));
        await c.pexpireat(bin8, 4102444800123);
        await c.zadd('z', '-inf', 'a', '2.5', 'b', '+inf', 'c');
        await c.hset('h', 'b', '2', 'a', '1');
        await c.sadd('s', 'y', 'x', '10');
        await c.rpush('l', 'one', '', 'three');
        await c.xadd('st', '1-1', 'f', 'v');
        await c.xadd('st', '1-2', 'g', 'w', 'f', 'x');
        await c.xgroup('CREATE', 'st', 'grp', '0');
        await c.xreadgroup('GROUP', 'grp', 'alice', 'COUNT', 1, 'STREAMS', 'st', '>');
        await c.select(3);
        await c.set('in3', '3');
      } finally {
        c.disconnect();
      }
      const lines = await dumpOverResp({ host: h.host, port: h.port });
      const byKey = new Map(lines.map((l) => [JSON.stringify([l['db'], l['key']]), l]));
      t.same(byKey.get(JSON.stringify([0, { b64: '/wD+QQ==' }])), {
        db: 0, key: { b64: '/wD+QQ==' }, type: 'string', value: { b64: 'gIE=' }, expireAt: 4102444800123,
      }, 'binary key and value, exact absolute expiry');
      t.same(byKey.get('[0,"z"]')?.['value'], [['a', '-inf'], ['b', 2.5], ['c', 'inf']], 'zset scores');
      t.same(byKey.get('[0,"h"]')?.['value'], [['a', '1'], ['b', '2']], 'hash sorted by field');
      t.same(byKey.get('[0,"s"]')?.['value'], ['10', 'x', 'y'], 'set sorted by bytes');
      t.same(byKey.get('[0,"l"]')?.['value'], ['one', '', 'three'], 'list in order');
      const st = byKey.get('[0,"st"]')?.['value'] as Record<string, unknown> | undefined;
      t.same(st?.['entries'], [['1-1', [['f', 'v']]], ['1-2', [['g', 'w'], ['f', 'x']]]], 'stream entries, fields in stored order');
      t.equal(st?.['length'], 2);
      t.equal(st?.['lastId'], '1-2');
      const groups = st?.['groups'] as Array<Record<string, unknown>> | undefined;
      t.same(groups?.map((g) => [g['name'], g['lastDeliveredId'], g['pending'], g['consumers']]), [
        ['grp', '1-1', [['1-1', 'alice', 1]], [{ name: 'alice', pending: 1 }]],
      ], 'group, PEL and consumer');
      t.same(byKey.get('[3,"in3"]'), { db: 3, key: 'in3', type: 'string', value: '3', expireAt: null }, 'other databases');
      t.equal(lines.length, 7, 'seven keys');
    } finally {
      await h.stop();
    }
  });

  t.test('a server that is not there is a RespDumpError of code connect', async (t) => {
    const h = await startRedis({ bin });
    const port = h.port;
    await h.stop();
    let caught: unknown;
    try {
      await dumpOverResp({ host: '127.0.0.1', port }, { connectTimeoutMs: 2000 });
    } catch (e) {
      caught = e;
    }
    t.ok(caught instanceof RespDumpError, `a RespDumpError (${String(caught)})`);
    t.equal((caught as RespDumpError | undefined)?.code, 'connect');
  });

  t.test('redis-assets-corrupt_ziplist.rdb is refused at boot', async (t) => {
    const log = await expectBootFails(fixturePath('redis-assets-corrupt_ziplist.rdb'), { bin });
    t.match(log, /ziplist integrity check failed/i, 'the server names the bad ziplist');
  });

  if (maxRdb < 11) {
    t.test(`an RDB ${maxRdb + 1} file is refused by a server that writes ${maxRdb}`, async (t) => {
      const newer = fixtures.find((f) => f.loadError === null && f.rdbVersion === maxRdb + 1);
      if (newer === undefined) {
        t.fail(`no fixture of RDB ${maxRdb + 1}`);
        return;
      }
      const log = await expectBootFails(fixturePath(newer.rdb), { bin });
      t.match(log, new RegExp(`Can't handle RDB format version ${maxRdb + 1}`), `${newer.rdb} refused with the version message`);
    });
  }
}
