/**
 * `inspect --format memory` and `inspect --format report`, through main(argv), on the bundled
 * fixtures:
 *  - the report's totals (per db, per type) equal each fixture's meta.json and manifest; per-db,
 *    per-type, encoding and TTL sums equal the total; the prefix tree sums to the totals at every
 *    node; the TTL histogram at a fixed --now equals the one computed from the manifest's expiries;
 *    the biggest keys are the CSV's largest rows;
 *  - the CSV parses back (RFC 4180) with redis-rdb-tools' columns, one row per manifest key, keys,
 *    types and expiries equal to the manifest's, sizes summing to the report's total; --json gives
 *    the same rows as JSON lines;
 *  - selection options, --target-version, the prefix cap (eviction keeps the sums), bad options.
 */
import t, { type Test } from 'tap';
import { mkdtempSync, rmSync, writeFileSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { keyText } from '../src/pipelines/inspect.js';
import { inspectMemory, inspectReport } from '../src/pipelines/inspect-memory.js';
import { ReportBuilder, TTL_BUCKETS, type MemoryReport, type PrefixNode, type TtlBucket } from '../src/report/report.js';
import { MEMORY_CSV_COLUMNS, memoryCsvHeader, memoryCsvLine } from '../src/format/memory.js';
import { fixtureIndex, fixtureManifest, fixtureMeta, fixturePath, type FixtureEntry } from './helpers/fixtures.js';
import { runCli } from './helpers/cli.js';

const NOW = Date.parse('2026-01-01T00:00:00Z');

/** RFC 4180 CSV: quoted fields with "" escapes, CRLF or LF line ends. */
function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let field = '';
  let i = 0;
  let quoted = false;
  while (i < text.length) {
    const c = text[i]!;
    if (quoted) {
      if (c === '"') {
        if (text[i + 1] === '"') {
          field += '"';
          i += 2;
          continue;
        }
        quoted = false;
        i++;
        continue;
      }
      field += c;
      i++;
      continue;
    }
    if (c === '"' && field === '') {
      quoted = true;
      i++;
    } else if (c === ',') {
      row.push(field);
      field = '';
      i++;
    } else if (c === '\n' || c === '\r') {
      row.push(field);
      rows.push(row);
      row = [];
      field = '';
      i += c === '\r' && text[i + 1] === '\n' ? 2 : 1;
    } else {
      field += c;
      i++;
    }
  }
  if (field !== '' || row.length > 0) {
    row.push(field);
    rows.push(row);
  }
  return rows;
}

function keyBytes(k: unknown): Uint8Array {
  return typeof k === 'string' ? new TextEncoder().encode(k) : Buffer.from((k as { b64: string }).b64, 'base64');
}

/** The fixtures the reader reads whole, with a manifest and keys. */
function readable(): FixtureEntry[] {
  return fixtureIndex().filter((f) => f.manifest !== null && f.totalKeys > 0);
}

function ttlBucket(expireAt: number | null): TtlBucket {
  if (expireAt === null) return 'none';
  const left = expireAt - NOW;
  if (left <= 0) return 'expired';
  if (left < 3_600_000) return 'lt1h';
  if (left < 86_400_000) return 'lt1d';
  if (left < 7 * 86_400_000) return 'lt7d';
  if (left < 30 * 86_400_000) return 'lt30d';
  return 'longer';
}

/** Every node's counts equal its children's plus its `other`; returns the number of nodes checked. */
function checkTree(t: Test, n: Omit<PrefixNode, 'prefix'>, where: string): number {
  let keys = n.other.keys;
  let bytes = n.other.bytes;
  let nodes = 1;
  for (const c of n.children) {
    keys += c.keys;
    bytes += c.bytes;
    nodes += checkTree(t, c, `${where} > ${JSON.stringify(c.prefix)}`);
  }
  if (keys !== n.keys || bytes !== n.bytes || n.other.keys < 0 || n.other.bytes < 0) {
    t.fail(`${where}: ${n.keys} keys / ${n.bytes} bytes, children + other give ${keys} / ${bytes}`);
  }
  return nodes;
}

t.test('report totals equal the fixtures, sums hold, TTL histogram matches the manifest', async (t) => {
  const fixtures = readable();
  t.ok(fixtures.length >= 30, `${fixtures.length} fixtures`);
  for (const f of fixtures) {
    const r = await runCli(['inspect', '--format', 'report', '--json', '-q', '--now', String(NOW), fixturePath(f.rdb)]);
    t.equal(r.code, 0, `${f.rdb}: exit 0 ${r.stderr}`);
    const rep = JSON.parse(r.stdout) as MemoryReport;
    const meta = fixtureMeta(f);
    const manifest = fixtureManifest(f);
    t.equal(rep.total.keys, meta.totalKeys, `${f.rdb}: total keys = meta.json`);
    t.equal(rep.total.keys, manifest.length, `${f.rdb}: total keys = manifest lines`);
    const perDb = Object.fromEntries(Object.entries(rep.perDb).map(([db, c]) => [db, c.keys]));
    t.same(perDb, meta.keyCountsPerDb, `${f.rdb}: keys per db = meta.json`);
    const types: Record<string, number> = {};
    for (const l of manifest) types[l['type'] as string] = (types[l['type'] as string] ?? 0) + 1;
    t.same(Object.fromEntries(Object.entries(rep.perType).map(([k, c]) => [k, c.keys]).sort()), Object.fromEntries(Object.entries(types).sort()), `${f.rdb}: keys per type = manifest`);
    const sum = (cs: Array<{ keys: number; bytes: number }>) => cs.reduce((a, c) => ({ keys: a.keys + c.keys, bytes: a.bytes + c.bytes }), { keys: 0, bytes: 0 });
    const total = { keys: rep.total.keys, bytes: rep.total.bytes };
    t.same(sum(Object.values(rep.perDb)), total, `${f.rdb}: per-db sums = total`);
    t.same(sum(Object.values(rep.perType)), total, `${f.rdb}: per-type sums = total`);
    t.same(sum(Object.values(rep.perDb).flatMap((d) => Object.values(d.types))), total, `${f.rdb}: per db+type sums = total`);
    t.same(sum(Object.values(rep.encodings).flatMap((e) => Object.values(e))), total, `${f.rdb}: encoding sums = total`);
    t.same(sum(Object.values(rep.ttl)), total, `${f.rdb}: TTL histogram sums = total`);
    t.same({ keys: rep.prefixes.root.keys, bytes: rep.prefixes.root.bytes }, total, `${f.rdb}: prefix root = total`);
    const nodes = checkTree(t, rep.prefixes.root, f.rdb);
    const prefixed = manifest.some((l) => /:./.test(keyText(keyBytes(l['key']))));
    t.equal(nodes > 1, prefixed, `${f.rdb}: prefix tree of ${nodes} nodes (keys with a prefix: ${prefixed}), sums at every node`);
    const hist = Object.fromEntries(TTL_BUCKETS.map((b) => [b, 0])) as Record<TtlBucket, number>;
    for (const l of manifest) hist[ttlBucket(l['expireAt'] as number | null)]++;
    t.same(Object.fromEntries(TTL_BUCKETS.map((b) => [b, rep.ttl[b].keys])), hist, `${f.rdb}: TTL histogram at --now = manifest's`);
    t.equal(rep.now, NOW, `${f.rdb}: --now used`);
    const mem = rep.biggestByMemory.map((k) => k.bytes);
    t.same(mem, [...mem].sort((a, b) => b - a), `${f.rdb}: biggest by memory in order`);
    t.ok(rep.biggestByMemory.length === Math.min(20, rep.total.keys), `${f.rdb}: top 20`);
    const els = rep.biggestByElements.map((k) => k.elements);
    t.same(els, [...els].sort((a, b) => b - a), `${f.rdb}: biggest by elements in order`);
    t.ok(rep.biggestByElements.every((k) => k.type !== 'string'), `${f.rdb}: elements ranking lists collections`);
  }
});

/** Bytes of a manifest value part: text as UTF-8, {b64} decoded. */
function partLength(v: unknown): number {
  if (typeof v === 'string') return Buffer.byteLength(v, 'utf8');
  if (typeof v === 'object' && v !== null && typeof (v as { b64?: unknown }).b64 === 'string') return Buffer.from((v as { b64: string }).b64, 'base64').length;
  throw new Error(`test: a value part ${JSON.stringify(v)}`);
}

/** [num_elements, len_largest_element] a manifest line implies, or null for streams and modules. */
function elementTruth(l: Record<string, unknown>): [number, number] | null {
  const v = l['value'];
  switch (l['type']) {
    case 'string': {
      const n = partLength(v);
      return [n, n];
    }
    case 'list':
    case 'set': {
      const items = v as unknown[];
      return [items.length, Math.max(...items.map(partLength))];
    }
    case 'zset': {
      const items = v as Array<[unknown, unknown]>;
      return [items.length, Math.max(...items.map((x) => partLength(x[0])))];
    }
    case 'hash': {
      const items = v as Array<[unknown, unknown]>;
      return [items.length, Math.max(...items.map((x) => Math.max(partLength(x[0]), partLength(x[1]))))];
    }
    default:
      return null;
  }
}

t.test('CSV parses back with the rdb-tools columns and the manifest keys', async (t) => {
  const fixtures = readable();
  let elementsChecked = 0;
  for (const f of fixtures) {
    const r = await runCli(['inspect', '--format', 'memory', fixturePath(f.rdb)]);
    t.equal(r.code, 0, `${f.rdb}: exit 0`);
    const rows = parseCsv(r.stdout);
    t.same(rows[0], [...MEMORY_CSV_COLUMNS], `${f.rdb}: header`);
    const body = rows.slice(1);
    const manifest = fixtureManifest(f);
    t.equal(body.length, manifest.length, `${f.rdb}: one row per key`);
    const bad = body.filter((row) => row.length !== 8);
    t.equal(bad.length, 0, `${f.rdb}: 8 fields in every row ${JSON.stringify(bad[0])}`);
    const want = new Map(manifest.map((l) => [`${l['db'] as number}\u0000${keyText(keyBytes(l['key']))}`, l]));
    let matched = 0;
    for (const row of body) {
      const [db, type, key, size, encoding, n, largest, expiry] = row as [string, string, string, string, string, string, string, string];
      const l = want.get(`${db}\u0000${key}`);
      if (l === undefined) {
        t.fail(`${f.rdb}: row for unknown key ${JSON.stringify(key)} in db ${db}`);
        continue;
      }
      const exp = l['expireAt'] as number | null;
      if (type !== l['type'] || (exp === null ? expiry !== '' : Date.parse(expiry) !== exp) ||
        !/^\d+$/.test(size) || Number(size) < 16 || encoding === '' || !/^\d+$/.test(n) || !/^-?\d+$/.test(largest)) {
        t.fail(`${f.rdb}: row ${JSON.stringify(row)} vs manifest type ${String(l['type'])} expireAt ${String(exp)}`);
        continue;
      }
      matched++;
      // num_elements and len_largest_element against the manifest's value (redis-rdb-tools'
      // meaning: a string's length; list items, set members, zset members, hash fields and values).
      const truth = elementTruth(l);
      if (truth !== null) {
        const [count, longest] = truth;
        if (Number(n) !== count || Number(largest) !== longest) {
          t.fail(`${f.rdb}: ${key}: num_elements ${n}, len_largest_element ${largest}; the manifest says ${count}, ${longest}`);
        } else {
          elementsChecked++;
        }
      }
    }
    t.equal(matched, manifest.length, `${f.rdb}: every row matches its manifest key (type, expiry)`);
    const rep = await inspectReport([fixturePath(f.rdb)], {});
    t.equal(body.reduce((a, row) => a + Number(row[3]), 0), rep.total.bytes, `${f.rdb}: CSV sizes sum to the report's total`);
    const top = body.map((row) => Number(row[3])).sort((a, b) => b - a).slice(0, 20);
    t.same(rep.biggestByMemory.map((k) => k.bytes), top, `${f.rdb}: the report's biggest keys are the CSV's largest rows`);
  }
  t.ok(elementsChecked > 1000, `${elementsChecked} rows' num_elements and len_largest_element equal the manifests'`);
});

t.test('--json rows: the same fields as JSON lines, keys as JSONL bytes', async (t) => {
  const f = readable().find((x) => x.rdb === 'redis-7.0.15-types.rdb')!;
  const csv = parseCsv((await runCli(['inspect', '--format', 'memory', fixturePath(f.rdb)])).stdout).slice(1);
  const r = await runCli(['inspect', '--format', 'memory', '--json', '-q', fixturePath(f.rdb)]);
  t.equal(r.code, 0);
  const lines = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
  t.equal(lines.length, csv.length, 'one line per key');
  t.same(Object.keys(lines[0]!), [...MEMORY_CSV_COLUMNS], 'the CSV columns as fields');
  const manifestKeys = new Set(fixtureManifest(f).map((l) => JSON.stringify([l['db'], l['key']])));
  t.ok(lines.every((l) => manifestKeys.has(JSON.stringify([l['database'], l['key']]))), 'keys as the manifest writes them (text or {b64})');
  t.ok(lines.some((l) => typeof l['key'] === 'object'), 'a binary key comes as {b64}');
  lines.forEach((l, i) => {
    const row = csv[i]!;
    if (l['size_in_bytes'] !== Number(row[3]) || l['encoding'] !== row[4] || l['num_elements'] !== Number(row[5])) {
      t.fail(`line ${i} differs from the CSV row: ${JSON.stringify(l)} vs ${JSON.stringify(row)}`);
    }
  });
  const ev = r.stderr.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>).at(-1);
  t.equal(ev?.['event'], 'done', 'a done event on stderr');
  t.equal(ev?.['keys'], lines.length, 'done event counts the keys');
});

t.test('selection options, --target-version, several inputs', async (t) => {
  const f = fixturePath('redis-7.0.15-types.rdb');
  const r = await runCli(['inspect', '--format', 'memory', '--db', '0', '--type', 'hash,set', '--match', '*:*', f]);
  const rows = parseCsv(r.stdout).slice(1);
  t.ok(rows.length > 0 && rows.every((row) => row[0] === '0' && (row[1] === 'hash' || row[1] === 'set') && row[2]!.includes(':')), `${rows.length} rows, filtered`);
  const moved = parseCsv((await runCli(['inspect', '--format', 'memory', '--db', '7', '--into-db', '3', f])).stdout).slice(1);
  t.ok(moved.length > 0 && moved.every((row) => row[0] === '3'), 'database column after --into-db');

  // A 7.2 target keeps small sets of strings as listpacks; 7.0 had hashtables.
  const v10 = await inspectReport([f], {});
  const v11 = await inspectReport([f], { targetVersion: 11 });
  t.notOk(v10.encodings['set']?.['listpack'], '7.0: no listpack sets');
  t.ok((v11.encodings['set']?.['listpack']?.keys ?? 0) > 0, '7.2: listpack sets');
  t.equal(v11.files[0]!.targetVersion, 11, 'target version reported');
  t.equal(v10.files[0]!.targetVersion, 10, 'default: the file\'s own version');

  const both = await runCli(['inspect', '--format', 'memory', f, fixturePath('redis-5.0.14-types.rdb')]);
  const all = parseCsv(both.stdout);
  t.same(all[0], [...MEMORY_CSV_COLUMNS, 'file'], 'a file column with several inputs');
  t.ok(all.slice(1).every((row) => row.length === 9), 'every row names its file');

  const full = parseCsv((await runCli(['inspect', '--format', 'memory', f])).stdout).slice(1);
  const fast = parseCsv((await runCli(['inspect', '--format', 'memory', '--no-largest-element', f])).stdout).slice(1);
  t.equal(fast.length, full.length, '--no-largest-element: the same rows');
  const diff = fast.filter((row, i) => {
    const o = full[i]!;
    return row.some((c, j) => j !== 6 && c !== o[j]) || (row[6] !== o[6] && row[6] !== '-1');
  });
  t.equal(diff.length, 0, '--no-largest-element: only len_largest_element may become -1');
  t.ok(fast.some((row) => row[6] === '-1'), '--no-largest-element: listpacks kept as they are left unwalked');

  // The CLI writes CSV bytes directly; they equal the library rows through memoryCsvLine.
  for (const file of [f, fixturePath('redis-5.0.14-types.rdb')]) {
    const viaRows = await inspectMemory([file]);
    const text = memoryCsvHeader(false) + viaRows.rows.map(memoryCsvLine).join('');
    t.equal((await runCli(['inspect', '--format', 'memory', file])).stdout, text, `${file}: CSV bytes = library rows`);
  }

  const lib = await inspectMemory([f], { select: undefined });
  t.equal(lib.rows.length, fixtureMeta(readable().find((x) => x.rdb === 'redis-7.0.15-types.rdb')!).totalKeys, 'library: rows returned');
  t.equal(lib.bytes, lib.rows.reduce((a, row) => a + row.sizeInBytes, 0), 'library: bytes = sum of rows');
});

t.test('prefix tree: cap and eviction keep the sums; id segments collapse', async (t) => {
  const b = new ReportBuilder({ now: NOW, prefixCap: 4, depth: 3, maxChildren: 3 });
  const enc = new TextEncoder();
  let bytes = 0;
  for (let i = 0; i < 500; i++) {
    const key = enc.encode(`${['a', 'b', 'c', 'd', 'e', 'f'][i % 6]}${i % 7}:x${i % 11}:y${i % 13}:name`);
    b.add({ db: 0, key, type: 'string', encoding: 'embstr', bytes: 50 + (i % 17), expiryBytes: 0, elements: 1, expireAt: -1 });
    bytes += 50 + (i % 17);
  }
  b.add({ db: 0, key: enc.encode('plain'), type: 'string', encoding: 'embstr', bytes: 7, expiryBytes: 0, elements: 1, expireAt: -1 });
  const rep = b.finish();
  t.ok(rep.prefixes.evictedPrefixes > 0, `${rep.prefixes.evictedPrefixes} prefixes evicted`);
  t.same({ keys: rep.prefixes.root.keys, bytes: rep.prefixes.root.bytes }, { keys: 501, bytes: bytes + 7 }, 'root = totals');
  checkTree(t, rep.prefixes.root, 'capped tree');
  t.ok(rep.prefixes.root.children.length <= 3, 'children capped per node');

  const ids = new ReportBuilder({ now: NOW });
  for (let i = 0; i < 100; i++) ids.add({ db: 0, key: enc.encode(`user:${i}:name`), type: 'string', encoding: 'embstr', bytes: 10, expiryBytes: 0, elements: 1, expireAt: -1 });
  const idr = ids.finish();
  t.same(idr.prefixes.root.children.map((c) => c.prefix), ['user:'], 'one top prefix');
  t.same(idr.prefixes.root.children[0]!.children.map((c) => [c.prefix, c.keys]), [['user:*:', 100]], 'digit-only segments as *');
  const keep = new ReportBuilder({ now: NOW, collapseIds: false });
  for (let i = 0; i < 100; i++) keep.add({ db: 0, key: enc.encode(`user:${i}:name`), type: 'string', encoding: 'embstr', bytes: 10, expiryBytes: 0, elements: 1, expireAt: -1 });
  t.equal(keep.finish().prefixes.root.children[0]!.children.length, 50, 'without collapsing: ids listed (50 per node), the rest folded');
});

t.test('human report, stdin, --depth 0, --top 0', async (t) => {
  const f = fixturePath('redis-7.0.15-types.rdb');
  const r = await runCli(['inspect', '--format', 'report', '--now', String(NOW), '--top', '5', f]);
  t.equal(r.code, 0);
  for (const section of ['memory estimate', 'per database and type', 'encodings per type', 'biggest keys by memory (top 5)',
    'biggest keys by elements (top 5, collections)', 'key prefixes (separator ":", depth 3', 'expiry (at --now 2026-01-01T00:00:00.000Z)']) {
    t.ok(r.stdout.includes(section), `human report has "${section}"`);
  }
  t.match(r.stdout, /hash:large/, 'the biggest key is listed');
  const viaStdin = await runCli(['inspect', '--format', 'memory', '-'], { stdin: readFileSync(f) });
  t.equal(viaStdin.stdout, (await runCli(['inspect', '--format', 'memory', f])).stdout, 'stdin gives the same CSV');
  const flat = await inspectReport([f], { depth: 0, top: 0 });
  t.same([flat.prefixes.root.children.length, flat.prefixes.root.other.keys], [0, flat.total.keys], '--depth 0: every key in the root');
  t.same([flat.biggestByMemory.length, flat.biggestByElements.length], [0, 0], '--top 0: no lists');
});

t.test('bad options and bad input', async (t) => {
  const f = fixturePath('redis-7.0.15-types.rdb');
  t.equal((await runCli(['inspect', '--format', 'report', '--top', 'x', f])).code, 2, '--top x: usage error');
  t.equal((await runCli(['inspect', '--format', 'report', '--separator', '', f])).code, 2, 'empty separator: usage error');
  t.equal((await runCli(['inspect', '--format', 'memory', '--target-version', '13', f])).code, 2, '--target-version 13: usage error');
  // --jemalloc-quantum 8 (Redis's bundled jemalloc): the same rows, never bigger, small ones smaller.
  const q16 = parseCsv((await runCli(['inspect', '--format', 'memory', f])).stdout).slice(1);
  const q8run = await runCli(['inspect', '--format', 'memory', '--jemalloc-quantum', '8', f]);
  t.equal(q8run.code, 0);
  const q8 = parseCsv(q8run.stdout).slice(1);
  t.equal(q8.length, q16.length, '--jemalloc-quantum 8: the same rows');
  t.ok(q8.every((row, i) => Number(row[3]) <= Number(q16[i]![3]) && row[2] === q16[i]![2]), 'no estimate grows');
  t.ok(q8.some((row, i) => Number(row[3]) < Number(q16[i]![3])), 'small allocations shrink');
  t.equal((await runCli(['inspect', '--format', 'memory', '--jemalloc-quantum', '4', f])).code, 2, '--jemalloc-quantum 4: usage error');
  // An option another format reads is refused, not ignored.
  for (const args of [['--top', '5'], ['--format', 'memory', '--depth', '2'], ['--format', 'jsonl', '--target-version', '10'], ['--format', 'report', '--no-largest-element'], ['--format', 'report', '--threads', '2']]) {
    const r = await runCli(['inspect', ...args, f]);
    t.equal(r.code, 2, `inspect ${args.join(' ')}: usage error`);
    t.match(r.stderr, /applies to --format/, 'the message names the format it applies to');
  }
  const dir = mkdtempSync(join(tmpdir(), 'rdbmerge-memory-'));
  try {
    const cut = join(dir, 'cut.rdb');
    const whole = readFileSync(f);
    writeFileSync(cut, whole.subarray(0, Math.floor(whole.length / 2)));
    const r = await runCli(['inspect', '--format', 'memory', cut]);
    t.equal(r.code, 4, 'truncated file: exit 4');
    t.match(r.stderr, /cut\.rdb.*offset \d+/, 'error names the file and offset');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
