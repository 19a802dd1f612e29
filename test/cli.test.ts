/**
 * The command line, driven through main(argv, io) with captured streams: `inspect` in its three
 * formats against the fixtures' meta and manifests, the selection options, inputs (directory,
 * stdin), and CLI.md's exit codes and error lines for bad input and bad usage.
 */
import t from 'tap';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable, Writable } from 'node:stream';
import { compareJsonl, parseJsonl } from '../src/format/compare.js';
import { compileGlob } from '../src/glob.js';
import { main } from '../src/cli.js';
import { runCli, sink } from './helpers/cli.js';
import { fixtureIndex, fixtureManifest, fixtureMeta, fixturePath, type FixtureEntry } from './helpers/fixtures.js';

const run = runCli;

const withManifest = fixtureIndex().filter((f) => f.manifest !== null);
const TYPES = 'redis-7.4.1-types.rdb';
const typesEntry = fixtureIndex().find((f) => f.rdb === TYPES)!;
const tmp = mkdtempSync(join(tmpdir(), 'rdbmerge-cli-'));
t.teardown(() => rmSync(tmp, { recursive: true, force: true }));

function keyBytes(k: unknown): Buffer {
  if (typeof k === 'string') return Buffer.from(k, 'utf8');
  return Buffer.from((k as { b64: string }).b64, 'base64');
}

/** The manifest lines of a fixture with a filter applied. */
function manifestWhere(f: FixtureEntry, keep: (o: Record<string, unknown>) => boolean): Array<Record<string, unknown>> {
  return fixtureManifest(f).filter(keep);
}

t.test('summary --json matches every fixture meta (rdbVersion, keyCountsPerDb, totalKeys, functions)', async (t) => {
  for (const f of withManifest) {
    const r = await run(['inspect', '--json', fixturePath(f.rdb)]);
    t.equal(r.code, 0, `${f.rdb}: exit 0`);
    const report = JSON.parse(r.stdout) as { files: Array<Record<string, unknown>>; total: Record<string, unknown> };
    const meta = fixtureMeta(f);
    const file = report.files[0]!;
    t.equal(file['rdbVersion'], meta.rdbVersion, `${f.rdb}: rdbVersion`);
    t.same(file['keyCountsPerDb'], meta.keyCountsPerDb, `${f.rdb}: keyCountsPerDb`);
    t.equal(file['totalKeys'], meta.totalKeys, `${f.rdb}: totalKeys`);
    t.same(file['functions'], meta.functions ?? [], `${f.rdb}: functions`);
    t.same(report.total['keyCountsPerDb'], meta.keyCountsPerDb, `${f.rdb}: total keyCountsPerDb`);
  }
});

t.test('summary --json fields', async (t) => {
  const r = await run(['inspect', '--json', '--now', '2026-11-25T12:00:00Z', fixturePath(TYPES)]);
  t.equal(r.code, 0);
  const rep = JSON.parse(r.stdout);
  t.equal(rep.now, Date.UTC(2026, 10, 25, 12));
  const f = rep.files[0];
  t.equal(f.magic, 'REDIS');
  t.equal(f.checksum, 'ok');
  t.equal(f.aux['redis-ver'], '7.4.1');
  t.same(f.snapshotTime, { time: Number(f.aux.ctime) * 1000, source: 'ctime' });
  const sumTypes = Object.values(f.keysPerType as Record<string, number>).reduce((a, b) => a + b, 0);
  const sumEnc = Object.values(f.keysPerEncoding as Record<string, number>).reduce((a, b) => a + b, 0);
  t.equal(sumTypes, f.totalKeys);
  t.equal(sumEnc, f.totalKeys);
  const manifest = fixtureManifest(typesEntry);
  const exp = manifest.map((o) => o['expireAt']).filter((x): x is number => typeof x === 'number');
  t.equal(f.keysWithExpiry, exp.length);
  t.same(f.expiryRange, { min: Math.min(...exp), max: Math.max(...exp) });
  t.equal(f.largestKeys.length, 10);
  t.equal(f.largestKeys[0].key, 'str:random-2MB');
  t.equal(f.largestKeys[0].bytes, f.serializedBytes.largest);
  for (let i = 1; i < 10; i++) t.ok(f.largestKeys[i - 1].bytes >= f.largestKeys[i].bytes, 'largest first');
  t.equal(f.sizeBytes, typesEntry.sizeBytes);
  t.same(rep.total.totalKeys, f.totalKeys);
  const lines = r.stderr.trim().split('\n').map((l) => JSON.parse(l));
  const done = lines[lines.length - 1];
  t.equal(done.event, 'done');
  t.equal(done.keys, f.totalKeys);
  t.equal(done.bytes, f.sizeBytes);
  t.equal(done.files, 1);
  for (const l of lines.slice(0, -1)) t.equal(l.event, 'progress');
});

t.test('summary, human form', async (t) => {
  const r = await run(['inspect', fixturePath(TYPES)]);
  t.equal(r.code, 0);
  t.equal(r.stderr, '', 'no progress line when stderr is not a TTY');
  t.match(r.stdout, /RDB version 12/);
  t.match(r.stdout, /checksum ok/);
  t.match(r.stdout, /fixturelib \(LUA\): echo_first, ro_get/);
  t.match(r.stdout, /keys {10}82 in 4 databases/);
  t.match(r.stdout, /str:random-2MB/);
  const q = await run(['inspect', '-q', fixturePath(TYPES)]);
  t.equal(q.stdout, r.stdout);
});

t.test('--format jsonl equals the manifest for every fixture', async (t) => {
  for (const f of withManifest) {
    const r = await run(['inspect', '--format', 'jsonl', fixturePath(f.rdb)]);
    t.equal(r.code, 0, `${f.rdb}: exit 0`);
    const diffs = compareJsonl(fixtureManifest(f), parseJsonl(r.stdout));
    t.same(diffs, [], `${f.rdb}: no differences`);
    t.notMatch(r.stdout, /"file"/, 'no file field with one input');
  }
});

t.test('--format keys', async (t) => {
  const r = await run(['inspect', '--format', 'keys', fixturePath(TYPES)]);
  t.equal(r.code, 0);
  const lines = r.stdout.trimEnd().split('\n');
  t.equal(lines.length, typesEntry.totalKeys);
  for (const l of lines) t.equal(l.split('\t').length, 7, `7 columns: ${l.slice(0, 40)}`);
  const big = lines.find((l) => l.split('\t')[1] === 'str:random-2MB')!.split('\t');
  t.same([big[0], big[2], big[3], big[5], big[6]], ['0', 'string', 'string', '1', '-']);
  const j = await run(['inspect', '--format', 'keys', '--json', fixturePath(TYPES)]);
  t.equal(j.code, 0);
  const objs = parseJsonl(j.stdout);
  t.equal(objs.length, typesEntry.totalKeys);
  const manifest = new Map(fixtureManifest(typesEntry).map((o) => [`${o['db']}/${JSON.stringify(o['key'])}`, o]));
  for (const o of objs) {
    const m = manifest.get(`${o['db']}/${JSON.stringify(o['key'])}`);
    t.ok(m, `key ${JSON.stringify(o['key'])} is in the manifest`);
    t.equal(o['type'], m?.['type']);
    t.equal(o['expireAt'], m?.['expireAt']);
    t.type(o['size'], 'number');
    t.ok((o['elements'] as number) >= 0, 'elements counted');
  }
  const hash = objs.find((o) => o['key'] === 'hash:small2')!;
  t.equal(hash['elements'], 2);
  const bin = lines.find((l) => l.includes('\\x'));
  t.ok(bin, 'a non-UTF-8 key is escaped as \\xNN');
});

t.test('filters reduce the jsonl output to exactly the matching manifest lines', async (t) => {
  const cases: Array<[string[], (o: Record<string, unknown>) => boolean]> = [
    [['--db', '1'], (o) => o['db'] === 1],
    [['--db', '1', '--db', '7,15'], (o) => [1, 7, 15].includes(o['db'] as number)],
    [['--type', 'hash'], (o) => o['type'] === 'hash'],
    [['--type', 'set,zset'], (o) => o['type'] === 'set' || o['type'] === 'zset'],
    [['--match', 'str:int:*'], (o) => compileGlob('str:int:*')(keyBytes(o['key']))],
    [['--match', 'db?:*'], (o) => compileGlob('db?:*')(keyBytes(o['key']))],
    [['--db', '0', '--type', 'string', '--match', '*[0-9]'], (o) => o['db'] === 0 && o['type'] === 'string' && /[0-9]$/.test(String(o['key']))],
  ];
  for (const [args, keep] of cases) {
    const want = manifestWhere(typesEntry, keep);
    t.ok(want.length > 0, `${args.join(' ')}: the case selects something`);
    const r = await run(['inspect', '--format', 'jsonl', ...args, fixturePath(TYPES)]);
    t.equal(r.code, 0);
    const got = parseJsonl(r.stdout);
    t.equal(got.length, want.length, `${args.join(' ')}: ${want.length} keys`);
    t.same(compareJsonl(want, got), [], `${args.join(' ')}: same lines`);
  }
  const s = await run(['inspect', '--json', '--db', '1', fixturePath(TYPES)]);
  const f = JSON.parse(s.stdout).files[0];
  t.same(f.keyCountsPerDb, { 1: 4 });
  t.equal(f.dropped.db, typesEntry.totalKeys - 4);
  t.equal(f.keysRead, typesEntry.totalKeys);
});

t.test('--db-map and --into-db move keys', async (t) => {
  const r = await run(['inspect', '--format', 'jsonl', '--db-map', '1:3,7:0', fixturePath(TYPES)]);
  t.equal(r.code, 0);
  const got = parseJsonl(r.stdout);
  const want = fixtureManifest(typesEntry).map((o) => ({ ...o, db: o['db'] === 1 ? 3 : o['db'] === 7 ? 0 : o['db'] }));
  t.same(compareJsonl(want, got), []);
  const into = await run(['inspect', '--json', '--into-db', '5', fixturePath(TYPES)]);
  t.same(JSON.parse(into.stdout).files[0].keyCountsPerDb, { 5: typesEntry.totalKeys });
  const both = await run(['inspect', '--db-map', '1:2', '--into-db', '5', fixturePath(TYPES)]);
  t.equal(both.code, 2);
});

t.test('expiry options', async (t) => {
  const manifest = fixtureManifest(typesEntry);
  const expiring = manifest.filter((o) => typeof o['expireAt'] === 'number');
  const off = await run(['inspect', '--format', 'jsonl', '--expire-offset', '3h', fixturePath(TYPES)]);
  t.equal(off.code, 0);
  const shifted = new Map(parseJsonl(off.stdout).map((o) => [`${o['db']}/${JSON.stringify(o['key'])}`, o]));
  for (const o of manifest) {
    const s = shifted.get(`${o['db']}/${JSON.stringify(o['key'])}`)!;
    t.equal(s['expireAt'], o['expireAt'] === null ? null : (o['expireAt'] as number) + 10_800_000);
    if (Array.isArray(o['fieldExpireAt'])) {
      t.same(s['fieldExpireAt'], (o['fieldExpireAt'] as Array<[unknown, number]>).map(([f, ms]) => [f, ms + 10_800_000]), 'field TTLs shift too');
    }
  }
  // --drop-expired with a --now after every expiry keeps only the keys without one.
  const drop = await run(['inspect', '--json', '--drop-expired', '--now', '2200-01-01T00:00:00Z', fixturePath(TYPES)]);
  const f = JSON.parse(drop.stdout).files[0];
  t.equal(f.totalKeys, manifest.length - expiring.length);
  t.equal(f.dropped.expired, expiring.length);
  t.equal(f.keysWithExpiry, 0);
  // --rebase-expiry with a given snapshot time shifts by now - snapshot.
  const snap = Date.UTC(2026, 0, 1);
  const now = Date.UTC(2026, 0, 2);
  const re = await run([
    'inspect', '--json', '--rebase-expiry', '--now', String(now), '--snapshot-time', `${fixturePath(TYPES)}=2026-01-01T00:00:00Z`, fixturePath(TYPES),
  ]);
  t.equal(re.code, 0);
  const rf = JSON.parse(re.stdout).files[0];
  t.same(rf.snapshotTime, { time: snap, source: 'option' });
  const exps = expiring.map((o) => o['expireAt'] as number);
  t.same(rf.expiryRange, { min: Math.min(...exps) + (now - snap), max: Math.max(...exps) + (now - snap) });
  const unknown = await run(['inspect', '--snapshot-time', 'other.rdb=now', fixturePath(TYPES)]);
  t.equal(unknown.code, 2);
  t.match(unknown.stderr, /other\.rdb/);
});

t.test('several inputs: directory input, file field, byte-wise order', async (t) => {
  const dir = join(tmp, 'dir');
  mkdirp(dir);
  copyFileSync(fixturePath('redis-assets-hash-zipmap.rdb'), join(dir, 'b.rdb'));
  copyFileSync(fixturePath('redis-assets-zset-ziplist.rdb'), join(dir, 'B.rdb'));
  copyFileSync(fixturePath('redis-assets-list-quicklist.rdb'), join(dir, 'a.rdb'));
  writeFileSync(join(dir, 'notes.txt'), 'not an rdb');
  const r = await run(['inspect', '--format', 'jsonl', dir]);
  t.equal(r.code, 0, r.stderr);
  const lines = parseJsonl(r.stdout);
  const files = [...new Set(lines.map((o) => o['file']))];
  t.same(files, [join(dir, 'B.rdb'), join(dir, 'a.rdb'), join(dir, 'b.rdb')], 'byte-wise name order, *.rdb only');
  t.equal(lines.length, 1 + 2 + 1);
  const s = await run(['inspect', '--json', dir]);
  const rep = JSON.parse(s.stdout);
  t.equal(rep.files.length, 3);
  t.equal(rep.total.files, 3);
  t.equal(rep.total.totalKeys, 4);
  t.equal(rep.total.largestKeys[0].file !== undefined, true);
  const keys = await run(['inspect', '--format', 'keys', dir]);
  t.ok(keys.stdout.trimEnd().split('\n').every((l) => l.split('\t').length === 8), 'keys lines carry the file as an 8th column');
  const empty = join(tmp, 'empty');
  mkdirp(empty);
  const e = await run(['inspect', empty]);
  t.equal(e.code, 2);
  t.match(e.stderr, /no \*\.rdb files/);
});

t.test('stdin input', async (t) => {
  const bytes = readFileSync(fixturePath(TYPES));
  const r = await run(['inspect', '--format', 'jsonl', '-'], { stdin: bytes });
  t.equal(r.code, 0, r.stderr);
  t.same(compareJsonl(fixtureManifest(typesEntry), parseJsonl(r.stdout)), []);
  const twice = await run(['inspect', '-', '-'], { stdin: bytes });
  t.equal(twice.code, 2);
  // --rebase-expiry from stdin: ctime is the snapshot time; without one, only expiring keys need it.
  const ctime = await run(['inspect', '--json', '--rebase-expiry', '-'], { stdin: bytes });
  t.equal(ctime.code, 0);
  t.equal(JSON.parse(ctime.stdout).files[0].snapshotTime.source, 'ctime');
  const noExpiry = await run(['inspect', '--format', 'jsonl', '--rebase-expiry', '-'], {
    stdin: readFileSync(fixturePath('redis-assets-hash-zipmap.rdb')),
  });
  t.equal(noExpiry.code, 0, 'no key expires: no snapshot time needed');
  const old = await run(['inspect', '--format', 'jsonl', '--rebase-expiry', '-'], { stdin: readFileSync(fixturePath('redis-2.6.17-types.rdb')) });
  t.equal(old.code, 2, 'RDB 6 has no ctime, stdin no mtime');
  t.match(old.stderr, /^rdbmerge: usage: --rebase-expiry: no snapshot time for stdin.*\nhint: .*--snapshot-time -=TIME/);
  const given = await run(['inspect', '--format', 'jsonl', '--rebase-expiry', '--snapshot-time', '-=now', '-'], {
    stdin: readFileSync(fixturePath('redis-2.6.17-types.rdb')),
  });
  t.equal(given.code, 0, '--snapshot-time -=TIME names stdin');
  const bad = await run(['inspect', '-'], { stdin: bytes.subarray(0, 1000) });
  t.equal(bad.code, 4);
  t.match(bad.stderr, /^rdbmerge: truncated: stdin: offset \d+: /);
});

t.test('damaged inputs: exit codes and error lines', async (t) => {
  const corrupt = await run(['inspect', '--format', 'jsonl', fixturePath('redis-assets-corrupt_ziplist.rdb')]);
  t.equal(corrupt.code, 3);
  t.match(corrupt.stderr, /^rdbmerge: corrupt: \S*redis-assets-corrupt_ziplist\.rdb: offset \d+: .+\n/);
  t.notMatch(corrupt.stderr, /\n\s+at /, 'no stack trace');

  const bytes = readFileSync(fixturePath(TYPES));
  const truncated = join(tmp, 'truncated.rdb');
  writeFileSync(truncated, bytes.subarray(0, Math.floor(bytes.length / 2)));
  const tr = await run(['inspect', truncated]);
  t.equal(tr.code, 4);
  t.match(tr.stderr, new RegExp(`^rdbmerge: truncated: ${escapeRe(truncated)}: offset \\d+: .+\\nhint: .+\\n$`));

  const flipped = join(tmp, 'flipped-crc.rdb');
  const copy = Buffer.from(bytes);
  copy[copy.length - 3]! ^= 0x40;
  writeFileSync(flipped, copy);
  const ck = await run(['inspect', flipped]);
  t.equal(ck.code, 5);
  t.match(ck.stderr, new RegExp(`^rdbmerge: checksum: ${escapeRe(flipped)}: offset \\d+: `));

  const zeros = join(tmp, 'zeros.rdb');
  writeFileSync(zeros, new Uint8Array(20));
  const z = await run(['inspect', zeros]);
  t.equal(z.code, 3);
  t.match(z.stderr, new RegExp(`^rdbmerge: corrupt: ${escapeRe(zeros)}: offset 0: .+\\nhint: .+\\n$`));

  const limit = await run(['inspect', '--max-value-size', '1mb', fixturePath(TYPES)]);
  t.equal(limit.code, 7);
  t.match(limit.stderr, /^rdbmerge: limit: \S+: offset \d+: .*--max-value-size/);
  const fits = await run(['inspect', '--json', '--max-value-size', '3mb', fixturePath(TYPES)]);
  t.equal(fits.code, 0, 'the same file passes with room for its biggest value');
});

t.test('usage errors exit 2 with one line', async (t) => {
  const cases: string[][] = [
    ['inspect', '--no-such-option', fixturePath(TYPES)],
    ['inspect', '--max-value-size', '12qb', fixturePath(TYPES)],
    ['inspect', '--max-value-size', '0', fixturePath(TYPES)],
    ['inspect', '--format', 'xml', fixturePath(TYPES)],
    ['inspect', '--db', 'x', fixturePath(TYPES)],
    ['inspect', '--type', 'hyperloglog', fixturePath(TYPES)],
    ['inspect', '--expire-offset', '10', fixturePath(TYPES)],
    ['inspect', '--now', 'yesterday', fixturePath(TYPES)],
    ['inspect'],
    ['frobnicate'],
    [],
    ['inspect', join(tmp, 'does-not-exist.rdb')],
  ];
  for (const args of cases) {
    const r = await run(args);
    t.equal(r.code, 2, `${args.join(' ')}: exit 2`);
    t.match(r.stderr, /^rdbmerge: usage: [^\n]+\n(hint: [^\n]+\n)?$/, `${args.join(' ')}: ${r.stderr.trim()}`);
    t.equal(r.stdout, '');
  }
  const missing = await run(['inspect', join(tmp, 'does-not-exist.rdb')]);
  t.match(missing.stderr, /does-not-exist\.rdb/);
  const unknown = await run(['inspect', '--jsn', fixturePath(TYPES)]);
  t.match(unknown.stderr, /unknown option '--jsn'/);
});

t.test('help and version', async (t) => {
  const h = await run(['--help']);
  t.equal(h.code, 0);
  t.match(h.stdout, /Usage: rdbmerge/);
  t.match(h.stdout, /inspect/);
  const ih = await run(['inspect', '--help']);
  t.equal(ih.code, 0);
  t.match(ih.stdout, /--format <FORMAT>/);
  t.match(ih.stdout, /--max-value-size/);
  const hc = await run(['help', 'inspect']);
  t.equal(hc.code, 0, 'rdbmerge help inspect');
  t.match(hc.stdout, /Usage: rdbmerge inspect/);
  t.equal(hc.stderr, '');
  const v = await run(['--version']);
  t.equal(v.code, 0);
  t.match(v.stdout, /^\d+\.\d+\.\d+\n$/);
});

t.test('a reader that goes away ends the run quietly', async (t) => {
  const err = sink();
  let writes = 0;
  const stdout = new Writable({
    write(_chunk, _enc, cb) {
      writes++;
      const e = Object.assign(new Error('write EPIPE'), { code: 'EPIPE' });
      cb(e);
    },
  });
  const code = await main(['node', 'rdbmerge', 'inspect', '--format', 'jsonl', fixturePath(TYPES)], {
    stdout,
    stderr: err.stream,
    env: {},
  });
  t.equal(code, 0);
  t.equal(err.text(), '');
  t.ok(writes >= 1);
});

function mkdirp(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
}

function escapeRe(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
