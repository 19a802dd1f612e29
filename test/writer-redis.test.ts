/**
 * The writer and DUMP payloads against a real redis-server (Debian's 7.0, RDB 10):
 *
 *  - every fixture rewritten at each target version the server loads (6..10), copied and
 *    re-encoded, boots the server, and what the server holds (read over RESP) equals the
 *    manifest, minus exactly what the writer reported dropping where the target cannot hold it;
 *  - payloads from buildDumpPayload (payloadForTarget, footer versions 6..10) for every key of
 *    every fixture are accepted by RESTORE and read back equal to the manifest;
 *  - the server's own DUMP of those keys parses (parseDumpPayload) and decodes to the same values.
 *
 * A missing redis-server fails these tests (never a skip); servers run one at a time, each in
 * its own directory on a free port, stopped in teardown.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Buffer } from 'node:buffer';
import t from 'tap';
import { Redis } from 'ioredis';
import {
  decodeValue, parseDumpPayload, payloadForTarget, rdbVersionForServer, readRdbAll,
} from '../native-free-parser/index.js';
import type { KeyRecord, WriterDrop } from '../native-free-parser/index.js';
import { compareJsonl, type JsonlDifference } from '../src/format/compare.js';
import { keyJson } from '../src/format/jsonl.js';
import { dumpOverResp } from '../src/redis/resp-dump.js';
import { fixtureIndex, fixtureManifest, fixtureMeta, fixturePath, type FixtureEntry } from './helpers/fixtures.js';
import { readBytes } from './helpers/read.js';
import { requireRedisServer, startRedis } from './helpers/redis-server.js';
import {
  expectedAfterDrops, expectedDropCounts, fixtureNeeds, withoutStreamV2Metadata, writeRecords,
} from './helpers/write.js';

const fixtures = fixtureIndex().filter((f) => f.manifest !== null && f.loadError === null);

function serverVersion(bin: string): string {
  const out = execFileSync(bin, ['--version'], { encoding: 'utf8' });
  const m = /\bv=(\d+\.\d+\.\d+)/.exec(out);
  if (m === null) throw new Error(`cannot tell the version of ${bin} from: ${out}`);
  return m[1]!;
}

function show(diffs: JsonlDifference[]): string {
  if (diffs.length === 0) return '';
  return `\n  ${diffs.length} difference(s): ${diffs.slice(0, 4).map((d) => JSON.stringify(d).slice(0, 500)).join('\n  ')}`;
}

function loadArgs(f: FixtureEntry): string[] {
  const cfg = (fixtureMeta(f)['manifestReadWith'] as { loadConfig?: string[] } | undefined)?.loadConfig;
  return Array.isArray(cfg) ? cfg : [];
}

/** A manifest key (UTF-8 text or {b64}) as bytes. */
function keyBytes(k: unknown): Buffer {
  if (typeof k === 'string') return Buffer.from(k, 'utf8');
  return Buffer.from((k as { b64: string }).b64, 'base64');
}

const bin = requireRedisServer(t);
if (bin !== undefined) {
  const version = serverVersion(bin);
  const maxRdb = rdbVersionForServer(version) ?? 10;
  const targets: number[] = [];
  for (let v = 6; v <= Math.min(maxRdb, 12); v++) targets.push(v);
  const work = mkdtempSync(join(tmpdir(), 'rdbmerge-writer-'));
  t.teardown(() => rmSync(work, { recursive: true, force: true }));

  t.test(`every fixture written at RDB ${targets[0]}..${targets[targets.length - 1]} boots redis ${version} and holds its manifest`, async (t) => {
    let boots = 0;
    for (const f of fixtures) {
      const source = await readRdbAll(readBytes(fixturePath(f.rdb)));
      const manifest = fixtureManifest(f);
      const needs = fixtureNeeds(manifest, fixtureMeta(f));
      for (const target of targets) {
        for (const reencode of [false, true]) {
          const holds = target >= needs.minVersion;
          const label = `${f.rdb} @${target} ${reencode ? 're-encoded' : 'copied'}${holds ? '' : ' (dropUnsupported)'}`;
          await t.test(label, async (t) => {
            const { bytes, writer } = writeRecords(source, { version: target, reencode, dropUnsupported: !holds });
            const counts = { key: 0, fieldTtls: 0, function: 0 };
            for (const d of writer.drops) if (d.kind in counts) counts[d.kind as keyof typeof counts]++;
            t.same(counts, expectedDropCounts(needs, target), 'drops');
            const file = join(work, `${f.rdb}.${target}.${reencode ? 'r' : 'c'}.rdb`);
            writeFileSync(file, bytes);
            const h = await startRedis({ rdbFile: file, bin, args: loadArgs(f) });
            t.teardown(() => h.stop());
            const expected = expectedAfterDrops(manifest, writer.drops);
            if (target < 10) withoutStreamV2Metadata(expected);
            if (expected.length > 0) t.match(h.log(), /DB loaded from disk/, 'the server loaded the file');
            const lines = await dumpOverResp({ host: h.host, port: h.port });
            const diffs = compareJsonl(expected, lines);
            t.equal(diffs.length, 0, `${lines.length} keys equal to the manifest${show(diffs)}`);
            if (needs.functions > 0) {
              const client = new Redis({ host: h.host, port: h.port, lazyConnect: true });
              await client.connect();
              try {
                const libs = (await client.call('FUNCTION', 'LIST')) as unknown[];
                t.equal(libs.length, target >= 10 ? needs.functions : 0, 'function libraries loaded');
              } finally {
                client.disconnect();
              }
            }
            await h.stop();
            rmSync(file, { force: true });
          });
          boots++;
        }
      }
    }
    t.ok(boots >= fixtures.length * targets.length * 2, `${boots} files booted`);
  });

  t.test(`DUMP payloads for redis ${version}: RESTORE accepts ours, ours and its own decode alike`, async (t) => {
    for (const f of fixtures) {
      await t.test(f.rdb, async (t) => {
        const keys = (await readRdbAll(readBytes(fixturePath(f.rdb)))).filter((r): r is KeyRecord => r.kind === 'key');
        const manifest = fixtureManifest(f);
        const h = await startRedis({ bin });
        t.teardown(() => h.stop());
        const client = new Redis({ host: h.host, port: h.port, lazyConnect: true });
        await client.connect();
        t.teardown(() => client.disconnect());
        for (const target of targets) {
          for (const reencode of [false, true]) {
            await client.call('FLUSHALL');
            const drops: WriterDrop[] = [];
            const p = client.pipeline();
            let db = -1;
            for (const r of keys) {
              const res = payloadForTarget(r, target, { dropUnsupported: true, reencode });
              if ('dropped' in res) {
                drops.push({ kind: 'key', db: r.db, key: r.key, reason: res.dropped });
                continue;
              }
              if (res.fieldTtlsDropped !== undefined) drops.push({ kind: 'fieldTtls', db: r.db, key: r.key, reason: 'ttl' });
              if (r.db !== db) {
                p.call('SELECT', String(r.db));
                db = r.db;
              }
              const ttl = r.expireAt >= 0 ? String(r.expireAt) : '0';
              p.call('RESTORE', Buffer.from(r.key), ttl, Buffer.from(res.dump), 'ABSTTL');
            }
            p.call('SELECT', '0');
            const replies = (await p.exec()) ?? [];
            const errors = replies.filter(([e]) => e !== null).map(([e]) => String(e));
            t.same(errors.slice(0, 3), [], `@${target} ${reencode ? 're-encoded' : 'copied'}: every RESTORE accepted (${replies.length} commands)`);
            const expected = expectedAfterDrops(manifest, drops);
            if (target < 10) withoutStreamV2Metadata(expected);
            const lines = await dumpOverResp({ host: h.host, port: h.port });
            const diffs = compareJsonl(expected, lines);
            t.equal(diffs.length, 0, `@${target} ${reencode ? 're-encoded' : 'copied'}: ${lines.length} keys equal to the manifest${show(diffs)}`);

            if (target !== maxRdb || reencode) continue;
            // The server's own DUMP of each key: verified and decoded by the codec.
            const own: Array<Record<string, unknown>> = [];
            for (const line of expected) {
              await client.call('SELECT', String(line['db']));
              const dump = (await client.callBuffer('DUMP', keyBytes(line['key']))) as Buffer | null;
              if (dump === null) {
                t.fail(`DUMP of ${JSON.stringify(line['key'])} returned nil`);
                continue;
              }
              const parsed = parseDumpPayload(new Uint8Array(dump.buffer, dump.byteOffset, dump.byteLength), { maxVersion: maxRdb });
              t.equal(parsed.version, maxRdb, 'the server writes its own version');
              own.push(keyJson(line['db'] as number, keyBytes(line['key']), decodeValue(parsed.type, parsed.payload), (line['expireAt'] as number | null) ?? -1));
            }
            await client.call('SELECT', '0');
            const ownDiffs = compareJsonl(expected, own);
            t.equal(ownDiffs.length, 0, `the server's DUMP of ${own.length} keys decodes to the manifest${show(ownDiffs)}`);
          }
        }
      });
    }
  });
}
