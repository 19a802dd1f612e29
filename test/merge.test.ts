/**
 * `rdbmerge merge` and `rdbmerge verify` end to end, on the merge scenarios and a real
 * redis-server 7.0 (the issue's "How it is checked"):
 *
 *  - scenario a (RDB 6 inputs), c (37 inputs, given as a directory) and d (collisions) merged
 *    with the first and last policies (d also with --into-db 0, and written as RDB 6 with
 *    --drop-unsupported): the file is read back with the codec (CRC-64 ok, RESIZEDB true counts)
 *    and booted by redis-server, read back over RESP, and both equal the scenario's expected
 *    JSONL; the --report JSON holds per-input, per-db keys in/out, every collision with the
 *    scenario's winner, the function libraries kept, the snapshot times and `now`;
 *  - the error policy: exit 9, nothing written, the report lists the 7 collisions;
 *  - each option against a real server: --expire-offset, --rebase-expiry (an input with a ctime
 *    and one without, given --snapshot-time), --drop-expired with a fixed --now, --db-map making a
 *    collision, --db / --type / --match; expected results come from a reference merge of the
 *    inputs' own manifests (checked first to reproduce the scenario's expected files);
 *  - cluster output: --split-slots 3 (ranges of redis-cli --cluster create; each file only the
 *    keys of its slots, each boots a --cluster-enabled server, which claims exactly the slots of
 *    its keys, and the union is the expected JSONL), --cluster-nodes, and split without
 *    --into-db 0 over several databases (exit 2);
 *  - failures leave nothing at OUT (no temp files either): a corrupt, a truncated and a
 *    checksum-damaged input in the middle of 37 (exit 3, 4, 5, naming the file and an offset),
 *    SIGINT during either pass of a real process (exit 130);
 *  - verify: every merge output above verifies (exit 0); changed, missing and extra keys exit 10
 *    and are named.
 * A missing redis-server fails these tests (never a skip). Servers run one at a time.
 */
import t, { type Test } from 'tap';
import { execFileSync, spawn } from 'node:child_process';
import {
  copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, truncateSync, utimesSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { Redis } from 'ioredis';
import { RdbWriter, readRdbAll } from '../native-free-parser/index.js';
import type { KeyRecord, RdbRecord } from '../native-free-parser/index.js';
import { compareJsonl, parseJsonl, type JsonlDifference } from '../src/format/compare.js';
import { keySlot } from '../src/merge/slots.js';
import { dumpOverResp } from '../src/redis/resp-dump.js';
import { runCli, type Run } from './helpers/cli.js';
import { FIXTURES, ROOT } from './helpers/fixtures.js';
import { readBytes, readToJsonl } from './helpers/read.js';
import { bootRdb, probe, requireRedisServer } from './helpers/redis-server.js';
import { writeRecords } from './helpers/write.js';

type Line = Record<string, unknown>;

const A = join(FIXTURES, 'merge', 'scenario-a-rdb6-disjoint');
const C = join(FIXTURES, 'merge', 'scenario-c-37-servers');
const D = join(FIXTURES, 'merge', 'scenario-d-collisions');
const D_IN = ['in1.rdb', 'in2.rdb', 'in3.rdb'].map((f) => join(D, f));
const A_IN = ['part1.rdb', 'part2.rdb', 'part3.rdb', 'part4.rdb'].map((f) => join(A, f));
const NOW = '2026-11-25T12:00:00Z';
const NOW_MS = Date.parse(NOW);

const redisBin = requireRedisServer(t);
const work = mkdtempSync(join(tmpdir(), 'rdbmerge-merge-'));
t.teardown(() => rmSync(work, { recursive: true, force: true }));
let dirs = 0;
/** A fresh directory under the test's temp dir. */
function freshDir(name: string): string {
  const d = join(work, `${String(++dirs).padStart(2, '0')}-${name}`);
  mkdirSync(d, { recursive: true });
  return d;
}

// ---- the command line, in process ----------------------------------------------------------

const run = (args: string[]): Promise<Run> => runCli(args);

/** Runs a merge that must succeed; returns its report (from --report). */
async function mergeOk(t: Test, inputs: string[], out: string, args: string[]): Promise<MergeReportJson> {
  const report = join(dirname(out), `${basename(out)}.report.json`);
  const r = await run(['merge', ...inputs, '-o', out, '--report', report, '-q', '--now', NOW, ...args]);
  t.equal(r.code, 0, `merge ${args.join(' ')}: exit 0${r.code !== 0 ? `: ${r.stderr}` : ''}`);
  return JSON.parse(readFileSync(report, 'utf8')) as MergeReportJson;
}

/** `verify` with the same options; returns the exit code and the JSON report. */
async function verify(inputs: string[], against: string | string[], args: string[]): Promise<{ code: number; report: VerifyJson | null; stderr: string; stdout: string }> {
  const ag = (Array.isArray(against) ? against : [against]).flatMap((a) => ['--against', a]);
  const r = await run(['verify', ...inputs, ...ag, '--json', '-q', '--now', NOW, ...args]);
  let report: VerifyJson | null = null;
  try {
    report = JSON.parse(r.stdout) as VerifyJson;
  } catch {
    // no report (a usage or conflict error)
  }
  return { code: r.code, report, stderr: r.stderr, stdout: r.stdout };
}

interface MergeReportJson {
  now: number;
  policy: string;
  targetVersion: number;
  inputs: Array<{
    file: string;
    perDb: Record<string, { in: number; out: number }>;
    dropped: { db: number; type: number; match: number; expired: number };
    snapshotTime: { time: number; source: string } | null;
    expiryShift: number;
    keysWritten: number;
    collisionsLost: number;
  }>;
  outputs: Array<{ file: string; keyCountsPerDb: Record<string, number>; totalKeys: number; slots?: Array<[number, number]>; nodeId?: string; address?: string }>;
  keyCountsPerDb: Record<string, number>;
  totalKeys: number;
  collisionCount: number;
  collisions: Array<{ db: number; key: unknown; inputs: string[]; sourceDbs: number[]; winner: string | null }>;
  functionConflicts: Array<{ library: string; winner: string | null }>;
  functions: Array<{ library: string; functions: string[]; from: string }>;
  droppedUnsupported: Array<{ kind: string; db?: number; key?: unknown; name?: string }>;
  keysShifted: number;
}

interface VerifyJson {
  ok: boolean;
  checkedKeys: number;
  matched: number;
  missing: number;
  extra: number;
  different: number;
  differenceCount: number;
  droppedUnsupported: number;
  differences: Array<{ kind: string; db: number; key: unknown; what?: string[] }>;
  functions: { missing: string[]; extra: string[] };
}

// ---- reading results back ------------------------------------------------------------------

function jsonl(dir: string, name: string): Line[] {
  return parseJsonl(readFileSync(join(dir, name), 'utf8'));
}

function show(diffs: JsonlDifference[]): string {
  if (diffs.length === 0) return '';
  return `: ${diffs.length} difference(s): ${diffs.slice(0, 5).map((d) => JSON.stringify(d).slice(0, 300)).join(' | ')}`;
}

function sameKeys(t: Test, actual: Line[], expected: Line[], what: string): void {
  const diffs = compareJsonl(expected, actual);
  t.equal(diffs.length, 0, `${what}: equals the expected JSONL (${expected.length} keys)${show(diffs)}`);
}

/**
 * The codec's view of an output file: CRC-64 verified, RESIZEDB equal to the keys (and keys with
 * an expiry) each database really holds, and the keys as JSONL.
 */
async function codecLines(t: Test, file: string): Promise<{ lines: Line[]; version: number; records: RdbRecord[] }> {
  const r = await readToJsonl(readBytes(file));
  const header = r.records.find((x) => x.kind === 'header');
  const version = header?.kind === 'header' ? header.version : 0;
  const eof = r.records.find((x) => x.kind === 'eof');
  t.equal(eof?.kind === 'eof' ? eof.checksum : 'none', 'ok', `${basename(file)}: CRC-64 verified`);
  if (version >= 7) {
    const hinted: Record<number, [number, number]> = {};
    const counted: Record<number, [number, number]> = {};
    let db = -1;
    for (const rec of r.records) {
      if (rec.kind === 'selectDb') db = rec.db;
      if (rec.kind === 'resizeDb') hinted[db] = [rec.dbSize, rec.expiresSize];
      if (rec.kind === 'key') {
        const c = (counted[db] ??= [0, 0]);
        c[0]++;
        if (rec.expireAt >= 0) c[1]++;
      }
    }
    t.same(hinted, counted, `${basename(file)}: RESIZEDB holds the true key and expiry counts of each db`);
  }
  return { lines: r.lines, version, records: r.records };
}

interface ServerView {
  lines: Line[];
  functions: Array<{ library: string; functions: string[] }>;
}

/** Boots redis-server on `file`, reads every key back over RESP (and FUNCTION LIST), stops it. */
async function serverView(file: string, expectKeys: number, args: string[] = []): Promise<ServerView> {
  const h = await bootRdb(file, { expectKeys, args, ...(redisBin !== undefined ? { bin: redisBin } : {}) });
  try {
    const lines = await dumpOverResp({ host: h.host, port: h.port });
    const r = new Redis({ host: h.host, port: h.port, lazyConnect: true, maxRetriesPerRequest: 1 });
    try {
      await r.connect();
      const list = (await r.call('FUNCTION', 'LIST')) as unknown[][];
      const functions = list.map((lib) => {
        const o = pairs(lib);
        const fns = (o['functions'] as unknown[][]).map((f) => String(pairs(f)['name']));
        return { library: String(o['library_name']), functions: fns.sort() };
      });
      functions.sort((a, b) => (a.library < b.library ? -1 : 1));
      return { lines, functions };
    } finally {
      r.disconnect();
    }
  } finally {
    await h.stop();
  }
}

function pairs(flat: unknown[]): Record<string, unknown> {
  const o: Record<string, unknown> = {};
  for (let i = 0; i + 1 < flat.length; i += 2) o[String(flat[i])] = flat[i + 1];
  return o;
}

/** Checks a merge output with the codec and with a real server against `expected`. */
async function checkOutput(t: Test, file: string, expected: Line[], what: string): Promise<ServerView> {
  const c = await codecLines(t, file);
  sameKeys(t, c.lines, expected, `${what}, read back with the codec`);
  const s = await serverView(file, expected.length);
  sameKeys(t, s.lines, expected, `${what}, booted by redis-server and read back over RESP`);
  return s;
}

/** Nothing at `out` and no temp or spill file left beside it. */
function nothingWritten(t: Test, out: string, what: string): void {
  t.notOk(existsSync(out), `${what}: nothing at ${basename(out)}`);
  const left = existsSync(dirname(out)) ? readdirSync(dirname(out)).filter((n) => n.includes('.tmp-') || n.includes('.spill-')) : [];
  t.same(left, [], `${what}: no temp files left beside it`);
}

function ctimeOf(records: RdbRecord[]): number | undefined {
  for (const r of records) {
    if (r.kind === 'aux' && Buffer.from(r.key).toString() === 'ctime') return Number(Buffer.from(r.value).toString()) * 1000;
  }
  return undefined;
}

// ---- the reference merge: what the result must be, from the inputs' own manifests --------

interface RefOptions {
  policy: 'first' | 'last';
  intoDb?: number;
  dbMap?: Map<number, number>;
  dbs?: number[];
  types?: string[];
  prefix?: string;
  /** ms added to each input's expiries. */
  shift?: number[];
  now?: number;
  dropExpired?: boolean;
}

interface RefResult {
  lines: Line[];
  /** Per input: per target db, keys selected (in) and won (out). */
  perDb: Array<Record<string, { in: number; out: number }>>;
  /** Per input: keys dropped by --drop-expired. */
  expired: number[];
  /** Per input: keys dropped by the filters, by reason. */
  dropped: Array<{ db: number; type: number; match: number }>;
}

/** A manifest key (UTF-8 text or {b64}) as bytes. */
function keyBytes(k: unknown): Buffer {
  return typeof k === 'string' ? Buffer.from(k, 'utf8') : Buffer.from((k as { b64: string }).b64, 'base64');
}

function referenceMerge(manifests: Line[][], o: RefOptions): RefResult {
  const won = new Map<string, { line: Line; input: number }>();
  const perDb = manifests.map(() => ({}) as Record<string, { in: number; out: number }>);
  const expired = manifests.map(() => 0);
  const dropped = manifests.map(() => ({ db: 0, type: 0, match: 0 }));
  manifests.forEach((lines, i) => {
    for (const l of lines) {
      const src = l['db'] as number;
      if (o.dbs !== undefined && !o.dbs.includes(src)) {
        dropped[i]!.db++;
        continue;
      }
      if (o.types !== undefined && !o.types.includes(l['type'] as string)) {
        dropped[i]!.type++;
        continue;
      }
      if (o.prefix !== undefined && !keyBytes(l['key']).subarray(0, o.prefix.length).equals(Buffer.from(o.prefix))) {
        dropped[i]!.match++;
        continue;
      }
      const db = o.intoDb ?? o.dbMap?.get(src) ?? src;
      let e = l['expireAt'] as number | null;
      const s = o.shift?.[i] ?? 0;
      if (e !== null && s !== 0) e = Math.max(0, e + s);
      if (o.dropExpired === true && e !== null && e <= o.now!) {
        expired[i]!++;
        continue;
      }
      const line: Line = { ...structuredClone(l), db, expireAt: e };
      const id = `${db}\u0000${JSON.stringify(l['key'])}`;
      (perDb[i]![String(db)] ??= { in: 0, out: 0 }).in++;
      if (o.policy === 'first' && won.has(id)) continue;
      won.set(id, { line, input: i });
    }
  });
  for (const { line, input } of won.values()) perDb[input]![String(line['db'])]!.out++;
  return { lines: [...won.values()].map((w) => w.line), perDb, expired, dropped };
}

const dManifests = ['in1', 'in2', 'in3'].map((n) => jsonl(D, `${n}.expected.jsonl`));
const aManifests = ['part1', 'part2', 'part3', 'part4'].map((n) => jsonl(A, `${n}.expected.jsonl`));
const cFiles = readdirSync(C).filter((n) => n.endsWith('.rdb')).sort();
const cManifests = cFiles.map((n) => jsonl(C, n.replace(/\.rdb$/, '.expected.jsonl')));

interface Collision {
  db: number;
  key: string;
  occurrences: Array<{ file: string; sourceDb: number }>;
  firstWinsFrom: string;
  lastWinsFrom: string;
}
interface ScenarioD {
  collisions: Collision[];
  collisionsIntoDb0: Collision[];
  results: Record<string, { file: string; keyCountsPerDb: Record<string, number>; totalKeys: number; functionList: Array<{ library: string; functions: string[] }> }>;
}
const scenarioD = JSON.parse(readFileSync(join(D, 'scenario.json'), 'utf8')) as ScenarioD;

t.test('the reference merge of the inputs\' manifests reproduces every expected file of the scenarios', async (t) => {
  for (const policy of ['first', 'last'] as const) {
    const name = policy === 'first' ? 'expected-merged-first-wins.jsonl' : 'expected-merged-last-wins.jsonl';
    sameKeys(t, referenceMerge(aManifests, { policy }).lines, jsonl(A, name), `a ${policy}`);
    sameKeys(t, referenceMerge(cManifests, { policy }).lines, jsonl(C, name), `c ${policy}`);
    sameKeys(t, referenceMerge(dManifests, { policy }).lines, jsonl(D, name), `d ${policy}`);
    sameKeys(t, referenceMerge(dManifests, { policy, intoDb: 0 }).lines, jsonl(D, `expected-merged-into-db0-${policy}-wins.jsonl`), `d into-db0 ${policy}`);
  }
});

// ---- the scenarios ---------------------------------------------------------------------------

/** The report's per-input numbers against the reference merge. */
function checkPerDb(t: Test, rep: MergeReportJson, ref: RefResult, what: string): void {
  t.same(rep.inputs.map((i) => i.perDb), ref.perDb, `${what}: report per input and db, keys in and out`);
  const out = ref.perDb.map((p) => Object.values(p).reduce((a, x) => a + x.out, 0));
  t.same(rep.inputs.map((i) => i.keysWritten), out, `${what}: keys written per input`);
}

for (const policy of ['first', 'last'] as const) {
  const expectedName = policy === 'first' ? 'expected-merged-first-wins.jsonl' : 'expected-merged-last-wins.jsonl';

  t.test(`scenario a (4 RDB 6 inputs), ${policy} wins`, async (t) => {
    const out = join(freshDir(`a-${policy}`), 'dump.rdb');
    const rep = await mergeOk(t, A_IN, out, ['--on-conflict', policy]);
    const expected = jsonl(A, expectedName);
    await checkOutput(t, out, expected, `a ${policy}`);
    checkPerDb(t, rep, referenceMerge(aManifests, { policy }), `a ${policy}`);
    t.equal(rep.collisionCount, 0, 'no collisions');
    t.same(rep.keyCountsPerDb, { 0: 104, 1: 104 });
    t.equal(rep.now, NOW_MS, 'the report prints --now');
    for (const i of rep.inputs) {
      // RDB 6 has no aux fields (no ctime) and these .meta.json files carry no snapshotTime.
      t.same(i.snapshotTime, { time: Math.floor(statSync(i.file).mtimeMs), iso: new Date(Math.floor(statSync(i.file).mtimeMs)).toISOString(), source: 'mtime' }, `${basename(i.file)}: snapshot time from its mtime`);
    }
    const v = await verify(A_IN, out, ['--on-conflict', policy]);
    t.equal(v.code, 0, `verify passes${v.code !== 0 ? `: ${v.stdout} ${v.stderr}` : ''}`);
    t.equal(v.report?.matched, 208);
  });

  t.test(`scenario c (37 inputs as a directory), ${policy} wins`, async (t) => {
    const out = join(freshDir(`c-${policy}`), 'dump.rdb');
    const rep = await mergeOk(t, [C], out, ['--on-conflict', policy]);
    await checkOutput(t, out, jsonl(C, expectedName), `c ${policy}`);
    t.equal(rep.inputs.length, 37, '37 inputs from the directory');
    t.same(rep.inputs.map((i) => basename(i.file)), cFiles, 'in byte-wise name order');
    checkPerDb(t, rep, referenceMerge(cManifests, { policy }), `c ${policy}`);
    t.equal(rep.totalKeys, 3700);
    const v = await verify([C], out, ['--on-conflict', policy]);
    t.equal(v.code, 0, 'verify passes');
    t.equal(v.report?.checkedKeys, 3700);
  });

  for (const intoDb0 of [false, true]) {
    const mode = intoDb0 ? 'into-db0' : 'plain';
    t.test(`scenario d (collisions, functions), ${policy} wins${intoDb0 ? ', --into-db 0' : ''}`, async (t) => {
      const out = join(freshDir(`d-${policy}-${mode}`), 'dump.rdb');
      const extra = intoDb0 ? ['--into-db', '0'] : [];
      const rep = await mergeOk(t, D_IN, out, ['--on-conflict', policy, ...extra]);
      const result = scenarioD.results[`${mode}/${policy}`]!;
      const expected = jsonl(D, result.file);
      const server = await checkOutput(t, out, expected, `d ${mode} ${policy}`);
      t.same(rep.keyCountsPerDb, result.keyCountsPerDb, 'keys per db as the scenario says');
      t.equal(rep.totalKeys, result.totalKeys);

      // Collisions: exactly the scenario's, each with its winner.
      const collisions = intoDb0 ? scenarioD.collisionsIntoDb0 : scenarioD.collisions;
      t.equal(rep.collisionCount, collisions.length, `${collisions.length} collisions`);
      t.equal(rep.collisions.length, collisions.length, 'all listed');
      for (const c of collisions) {
        const got = rep.collisions.find((x) => x.db === c.db && x.key === c.key);
        t.ok(got, `collision ${c.key} reported`);
        if (got === undefined) continue;
        t.same(got.inputs.map((p) => basename(p)), c.occurrences.map((o) => o.file), `${c.key}: the inputs holding it`);
        t.same(got.sourceDbs, c.occurrences.map((o) => o.sourceDb), `${c.key}: their source databases`);
        t.equal(basename(got.winner ?? ''), policy === 'first' ? c.firstWinsFrom : c.lastWinsFrom, `${c.key}: the winner`);
      }
      checkPerDb(t, rep, referenceMerge(dManifests, { policy, ...(intoDb0 ? { intoDb: 0 } : {}) }), `d ${mode} ${policy}`);

      // Function libraries: identical code once, conflicts settled at library level.
      const want = result.functionList.map((f) => ({ library: f.library, functions: [...f.functions].sort() }));
      t.same(rep.functions.map((f) => ({ library: f.library, functions: [...f.functions].sort() })), want, 'functions kept = the scenario\'s FUNCTION LIST');
      t.same(server.functions, want, 'and the server loaded exactly those');
      t.equal(rep.functionConflicts.length, 2, 'two library conflicts (same name; same function name); sharedlib is none');

      // Snapshot times: each input's ctime aux field.
      for (const i of rep.inputs) {
        const ctime = ctimeOf((await readToJsonl(readBytes(i.file))).records);
        t.same(i.snapshotTime, { time: ctime, iso: new Date(ctime!).toISOString(), source: 'ctime' }, `${basename(i.file)}: snapshot time from ctime`);
      }
      t.equal(rep.now, NOW_MS);

      const v = await verify(D_IN, out, ['--on-conflict', policy, ...extra]);
      t.equal(v.code, 0, `verify passes${v.code !== 0 ? `: ${v.stdout.slice(0, 2000)}` : ''}`);
      t.equal(v.report?.matched, result.totalKeys);
    });
  }

  t.test(`scenario d as RDB 6 (--target-version 6 --drop-unsupported), ${policy} wins`, async (t) => {
    const dir = freshDir(`d-v6-${policy}`);
    const out = join(dir, 'dump.rdb');
    const refused = await run(['merge', ...D_IN, '-o', out, '--on-conflict', policy, '--target-version', '6', '-q']);
    t.equal(refused.code, 6, 'without --drop-unsupported: exit 6 (streams and functions do not fit RDB 6)');
    nothingWritten(t, out, 'refused');

    const rep = await mergeOk(t, D_IN, out, ['--on-conflict', policy, '--target-version', '6', '--drop-unsupported']);
    const full = jsonl(D, expectedName);
    const streams = full.filter((l) => l['type'] === 'stream');
    t.ok(streams.length > 0, 'the scenario has stream keys');
    const expected = full.filter((l) => l['type'] !== 'stream');
    const c = await codecLines(t, out);
    t.equal(c.version, 6, 'an RDB 6 file');
    sameKeys(t, c.lines, expected, 'RDB 6, read back with the codec: all but the streams');
    const s = await serverView(out, expected.length);
    sameKeys(t, s.lines, expected, 'RDB 6, booted by redis-server 7.0');
    t.same(s.functions, [], 'no functions in RDB 6');
    t.equal(rep.targetVersion, 6);
    const droppedKeys = rep.droppedUnsupported.filter((d) => d.kind === 'key').map((d) => `${d.db}:${String(d.key)}`).sort();
    t.same(droppedKeys, streams.map((l) => `${String(l['db'])}:${String(l['key'])}`).sort(), 'the report lists the dropped streams');
    const droppedFns = rep.droppedUnsupported.filter((d) => d.kind === 'function').map((d) => d.name).sort();
    t.same(droppedFns, scenarioD.results[`plain/${policy}`]!.functionList.map((f) => f.library).sort(), 'and the dropped function libraries');
    t.same(rep.keyCountsPerDb, countPerDb(expected), 'counts per db without the dropped keys');

    const v = await verify(D_IN, out, ['--on-conflict', policy, '--target-version', '6', '--drop-unsupported']);
    t.equal(v.code, 0, `verify --target-version 6 --drop-unsupported passes${v.code !== 0 ? `: ${v.stdout.slice(0, 1500)}` : ''}`);
    t.equal(v.report?.droppedUnsupported, streams.length, 'the streams are expected absent');
    const strict = await verify(D_IN, out, ['--on-conflict', policy]);
    t.equal(strict.code, 10, 'without --drop-unsupported verify wants the streams and functions');
    t.equal(strict.report?.missing, streams.length);
  });
}

t.test('RESIZEDB counts only the keys written when --drop-unsupported leaves streams out (RDB 8; standalone and split)', async (t) => {
  const dir = freshDir('d-v8');
  for (const policy of ['first', 'last'] as const) {
    const expected = jsonl(D, policy === 'first' ? 'expected-merged-first-wins.jsonl' : 'expected-merged-last-wins.jsonl').filter((l) => l['type'] !== 'stream');
    const out = join(dir, `${policy}.rdb`);
    const rep = await mergeOk(t, D_IN, out, ['--on-conflict', policy, '--target-version', '8', '--drop-unsupported']);
    const c = await codecLines(t, out); // RESIZEDB = the keys really there
    t.equal(c.version, 8);
    sameKeys(t, c.lines, expected, `RDB 8, ${policy}`);
    t.same(rep.keyCountsPerDb, countPerDb(expected), `${policy}: the report counts the keys written`);

    const split = join(dir, `${policy}-split`, 'dump.rdb');
    mkdirSync(dirname(split));
    const srep = await mergeOk(t, D_IN, split, ['--on-conflict', policy, '--target-version', '8', '--drop-unsupported', '--into-db', '0', '--split-slots', '2']);
    const into = jsonl(D, `expected-merged-into-db0-${policy}-wins.jsonl`).filter((l) => l['type'] !== 'stream');
    const union: Line[] = [];
    for (const o of srep.outputs) {
      const s = await codecLines(t, o.file);
      t.equal(o.totalKeys, s.lines.length, `${basename(o.file)}: the report counts its keys`);
      union.push(...s.lines);
    }
    sameKeys(t, union, into, `RDB 8 split, ${policy}`);
  }
});

function countPerDb(lines: Line[]): Record<string, number> {
  const o: Record<string, number> = {};
  for (const l of lines) o[String(l['db'])] = (o[String(l['db'])] ?? 0) + 1;
  return o;
}

t.test('scenario d under the error policy (the default): exit 9, nothing written, the report lists the 7 collisions', async (t) => {
  const dir = freshDir('d-error');
  const out = join(dir, 'dump.rdb');
  const report = join(dir, 'report.json');
  const r = await run(['merge', ...D_IN, '-o', out, '--report', report, '--now', NOW]);
  t.equal(r.code, 9, 'exit 9');
  t.match(r.stderr, /^rdbmerge: conflict: 7 key collision\(s\)/, 'says so');
  t.match(r.stderr, /collide:str/);
  nothingWritten(t, out, 'error policy');
  const rep = JSON.parse(readFileSync(report, 'utf8')) as MergeReportJson;
  t.equal(rep.collisionCount, 7);
  t.same(rep.collisions.map((c) => c.key).sort(), scenarioD.collisions.map((c) => c.key).sort(), 'the 7 colliding keys');
  t.ok(rep.collisions.every((c) => c.winner === null), 'no winners');
  t.equal(rep.functionConflicts.length, 2, 'and the 2 library conflicts');
  t.equal(rep.outputs.length, 0, 'no outputs');

  const into = await run(['merge', ...D_IN, '-o', out, '--into-db', '0', '--on-conflict', 'error', '-q']);
  t.equal(into.code, 9, 'with --into-db 0 too');
  nothingWritten(t, out, 'error policy, --into-db 0');

  const v = await verify(D_IN, D_IN[0]!, []);
  t.equal(v.code, 9, 'verify under the error policy exits 9 like merge');
  t.match(v.stderr, /conflict: 7 key collision\(s\)/);
});

// ---- options against a real server --------------------------------------------------------

t.test('--expire-offset 3h moves every expiry by 10,800,000 ms', async (t) => {
  const out = join(freshDir('offset'), 'dump.rdb');
  const rep = await mergeOk(t, D_IN, out, ['--on-conflict', 'first', '--expire-offset', '3h']);
  const base = jsonl(D, 'expected-merged-first-wins.jsonl');
  const expected = base.map((l) => ({ ...l, expireAt: l['expireAt'] === null ? null : (l['expireAt'] as number) + 10_800_000 }));
  t.ok(expected.filter((l) => l['expireAt'] !== null).length >= 10, 'keys with expiries to shift');
  sameKeys(t, referenceMerge(dManifests, { policy: 'first', shift: [10_800_000, 10_800_000, 10_800_000] }).lines, expected, 'reference');
  await checkOutput(t, out, expected, '--expire-offset 3h');
  t.same(rep.inputs.map((i) => i.expiryShift), [10_800_000, 10_800_000, 10_800_000]);
  t.equal(rep.keysShifted, expected.filter((l) => l['expireAt'] !== null).length, 'the report counts the shifted keys');
  t.equal((await verify(D_IN, out, ['--on-conflict', 'first', '--expire-offset', '3h'])).code, 0, 'verify with the same offset passes');
  const v = await verify(D_IN, out, ['--on-conflict', 'first']);
  t.equal(v.code, 10, 'verify without it finds the expiries different');
  t.ok(v.report!.differences.every((d) => d.kind === 'different' && d.what?.join() === 'expireAt'), 'expireAt only');
});

t.test('--rebase-expiry: an input with a ctime aux field', async (t) => {
  const input = D_IN[0]!;
  const { records } = await readToJsonl(readBytes(input));
  const ctime = ctimeOf(records);
  t.ok(ctime !== undefined && ctime > 0, `${basename(input)} has a ctime aux field`);
  const now = ctime! + 3_600_000 + 1234;
  const shift = now - ctime!;
  const out = join(freshDir('rebase-ctime'), 'dump.rdb');
  const rep = await mergeOk(t, [input], out, ['--rebase-expiry', '--now', String(now)]);
  const expected = referenceMerge([dManifests[0]!], { policy: 'first', shift: [shift] }).lines;
  t.ok(expected.some((l) => l['expireAt'] !== null), 'keys with expiries');
  await checkOutput(t, out, expected, `rebased by now - ctime = ${shift} ms`);
  t.equal(rep.now, now);
  t.same(rep.inputs[0]!.snapshotTime, { time: ctime, iso: new Date(ctime!).toISOString(), source: 'ctime' }, 'snapshot time from ctime');
  t.equal(rep.inputs[0]!.expiryShift, shift);
  t.equal((await verify([input], out, ['--rebase-expiry', '--now', String(now)])).code, 0, 'verify with the same --now passes');
});

t.test('--rebase-expiry: an input without ctime, given --snapshot-time (and one falling back to its mtime)', async (t) => {
  const input = A_IN[0]!;
  const { records } = await readToJsonl(readBytes(input));
  t.equal(ctimeOf(records), undefined, `${basename(input)} (RDB 6) has no ctime`);
  t.notOk(records.some((r) => r.kind === 'aux'), 'nor any aux field');
  const snap = '2026-01-01T00:00:00Z';
  const now = '2026-01-01T02:00:00Z';
  const shift = 7_200_000;
  const out = join(freshDir('rebase-option'), 'dump.rdb');
  const noTime = await run(['merge', input, '-o', out, '--rebase-expiry', '--snapshot-time', `${join(A, 'nope.rdb')}=${snap}`, '-q']);
  t.equal(noTime.code, 2, '--snapshot-time naming no input: usage error');
  const rep = await mergeOk(t, [input], out, ['--rebase-expiry', '--snapshot-time', `${input}=${snap}`, '--now', now]);
  const expected = referenceMerge([aManifests[0]!], { policy: 'first', shift: [shift] }).lines;
  t.ok(expected.some((l) => l['expireAt'] !== null), 'keys with expiries');
  await checkOutput(t, out, expected, 'rebased from --snapshot-time');
  t.same(rep.inputs[0]!.snapshotTime, { time: Date.parse(snap), iso: new Date(snap).toISOString(), source: 'option' }, 'snapshot time source: option');
  t.equal(rep.inputs[0]!.expiryShift, shift);

  // No option: the file's mtime.
  const dir = freshDir('rebase-mtime');
  const copy = join(dir, 'part1.rdb');
  copyFileSync(input, copy);
  utimesSync(copy, new Date(snap), new Date(snap));
  const out2 = join(dir, 'out.rdb');
  const rep2 = await mergeOk(t, [copy], out2, ['--rebase-expiry', '--now', now]);
  t.same(rep2.inputs[0]!.snapshotTime, { time: Date.parse(snap), iso: new Date(snap).toISOString(), source: 'mtime' }, 'snapshot time source: mtime');
  sameKeys(t, (await codecLines(t, out2)).lines, expected, 'rebased from the mtime');
});

t.test('--drop-expired with a fixed --now between two expiries', async (t) => {
  const expiries = [...new Set(dManifests.flat().map((l) => l['expireAt']).filter((e): e is number => typeof e === 'number'))].sort((a, b) => a - b);
  // A --now equal to one expiry (dropped: "at or before") with a later one right after it (kept).
  const now = expiries.find((e, i) => i > 2 && expiries.includes(e + 1))!;
  t.ok(now !== undefined, `--now ${now}: an expiry at it and one 1 ms later`);
  const out = join(freshDir('drop-expired'), 'dump.rdb');
  const rep = await mergeOk(t, D_IN, out, ['--on-conflict', 'first', '--drop-expired', '--now', String(now)]);
  const ref = referenceMerge(dManifests, { policy: 'first', dropExpired: true, now });
  const expected = ref.lines;
  t.ok(expected.some((l) => l['expireAt'] === now + 1), 'a key expiring 1 ms after --now is kept');
  t.notOk(expected.some((l) => typeof l['expireAt'] === 'number' && (l['expireAt'] as number) <= now), 'none at or before --now');
  t.ok(ref.expired.reduce((a, b) => a + b, 0) > 0, 'some keys are dropped');
  await checkOutput(t, out, expected, '--drop-expired');
  t.same(rep.inputs.map((i) => i.dropped.expired), ref.expired, 'the report counts the dropped keys per input');
  t.equal((await verify(D_IN, out, ['--on-conflict', 'first', '--drop-expired', '--now', String(now)])).code, 0, 'verify passes');
});

t.test('--db-map 1:0 makes dbmap:x collide', async (t) => {
  const out = join(freshDir('db-map'), 'dump.rdb');
  const rep = await mergeOk(t, D_IN, out, ['--on-conflict', 'first', '--db-map', '1:0']);
  const ref = referenceMerge(dManifests, { policy: 'first', dbMap: new Map([[1, 0]]) });
  await checkOutput(t, out, ref.lines, '--db-map 1:0');
  t.equal(rep.collisionCount, scenarioD.collisions.length + 1, 'one collision more than without the map');
  const x = rep.collisions.find((c) => c.key === 'dbmap:x');
  t.ok(x, 'dbmap:x collides');
  t.same(x?.inputs.map((p) => basename(p)), ['in1.rdb', 'in2.rdb']);
  t.same(x?.sourceDbs, [0, 1], 'from db 0 of in1 and db 1 of in2');
  t.equal(basename(x?.winner ?? ''), 'in1.rdb');
  t.notOk(rep.collisions.some((c) => c.key === 'dbmap:y'), 'dbmap:y (db 2) does not');
  checkPerDb(t, rep, ref, '--db-map 1:0');
  t.notOk('1' in rep.keyCountsPerDb, 'db 1 is empty now');
  t.equal((await verify(D_IN, out, ['--on-conflict', 'first', '--db-map', '1:0'])).code, 0, 'verify passes');
});

t.test('--db, --type and --match reduce the output to exactly the expected subset', async (t) => {
  const cases: Array<{ args: string[]; ref: Partial<RefOptions>; reason: 'db' | 'type' | 'match' }> = [
    { args: ['--db', '1'], ref: { dbs: [1] }, reason: 'db' },
    { args: ['--type', 'hash,zset'], ref: { types: ['hash', 'zset'] }, reason: 'type' },
    { args: ['--match', 'u1:*'], ref: { prefix: 'u1:' }, reason: 'match' },
  ];
  for (const c of cases) {
    const out = join(freshDir(`filter-${c.reason}`), 'dump.rdb');
    const rep = await mergeOk(t, D_IN, out, ['--on-conflict', 'first', ...c.args]);
    const ref = referenceMerge(dManifests, { policy: 'first', ...c.ref });
    t.ok(ref.lines.length > 0 && ref.lines.length < 101, `${c.args.join(' ')}: a proper subset (${ref.lines.length} keys)`);
    await checkOutput(t, out, ref.lines, c.args.join(' '));
    t.same(rep.inputs.map((i) => i.dropped[c.reason]), ref.dropped.map((d) => d[c.reason]), `${c.args.join(' ')}: dropped per input`);
    t.equal((await verify(D_IN, out, ['--on-conflict', 'first', ...c.args])).code, 0, `${c.args.join(' ')}: verify passes`);
  }
});

t.test('hash field TTLs (an RDB 12 input) move with --expire-offset, and go with --target-version 10 --drop-unsupported', async (t) => {
  // redis-server 7.0 cannot load RDB 12: this one is checked with the codec only.
  const input = join(FIXTURES, 'rdb', 'redis-7.4.1-types.rdb');
  const source = (await readToJsonl(readBytes(input))).lines;
  const withFieldTtls = source.filter((l) => Array.isArray(l['fieldExpireAt']));
  t.ok(withFieldTtls.length > 0, `${withFieldTtls.length} hashes with field TTLs`);
  const dir = freshDir('field-ttls');
  const out = join(dir, 'dump.rdb');
  await mergeOk(t, [input], out, ['--expire-offset', '1h']);
  const shifted = source.map((l) => {
    const o = structuredClone(l);
    if (o['expireAt'] !== null) o['expireAt'] = (o['expireAt'] as number) + 3_600_000;
    if (Array.isArray(o['fieldExpireAt'])) o['fieldExpireAt'] = (o['fieldExpireAt'] as Array<[unknown, number]>).map(([f, e]) => [f, e + 3_600_000]);
    return o;
  });
  sameKeys(t, (await codecLines(t, out)).lines, shifted, 'key and field expiries one hour later');
  t.equal((await verify([input], out, ['--expire-offset', '1h'])).code, 0, 'verify with the offset passes');
  const v = await verify([input], out, ['--limit', '1000']);
  t.equal(v.code, 10, 'verify without it does not');
  t.ok(withFieldTtls.every((l) => v.report!.differences.some((d) => d.key === l['key'] && d.what?.includes('fieldExpireAt'))), 'naming the field TTLs of each hash');

  const out10 = join(dir, 'v10.rdb');
  const rep = await mergeOk(t, [input], out10, ['--target-version', '10', '--drop-unsupported']);
  const noFieldTtls = source.map((l) => {
    const o = structuredClone(l);
    delete o['fieldExpireAt'];
    return o;
  });
  sameKeys(t, (await codecLines(t, out10)).lines, noFieldTtls, 'RDB 10: the hashes without their field TTLs');
  t.equal(rep.droppedUnsupported.filter((d) => d.kind === 'fieldTtls').length, withFieldTtls.length, 'reported');
  t.equal((await verify([input], out10, ['--target-version', '10', '--drop-unsupported'])).code, 0, 'verify --drop-unsupported passes');
  t.equal((await verify([input], out10, [])).code, 10, 'verify without it wants the field TTLs');
});

// ---- cluster output --------------------------------------------------------------------------

/** Boots a shard file as a cluster node; returns the slots the node claimed for its keys and the keys. */
async function bootShard(file: string, keys: number): Promise<{ claimed: number[]; lines: Line[]; slotOf: (k: string) => Promise<number> }> {
  const h = await bootRdb(file, {
    expectKeys: keys,
    args: ['--cluster-enabled', 'yes', '--cluster-config-file', 'nodes.conf', '--cluster-require-full-coverage', 'no', '--cluster-node-timeout', '500'],
    ...(redisBin !== undefined ? { bin: redisBin } : {}),
  });
  try {
    // A node without slots still loads every key (it takes the slots of the keys it holds).
    const dbsize = Number(await probe(h.port, ['DBSIZE']));
    if (dbsize !== keys) throw new Error(`DBSIZE ${dbsize}, expected ${keys}`);
    const deadline = Date.now() + 15_000;
    while (!/cluster_state:ok/.test(await probe(h.port, ['CLUSTER', 'INFO']))) {
      if (Date.now() > deadline) throw new Error(`cluster state not ok: ${await probe(h.port, ['CLUSTER', 'INFO'])}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    const nodes = await probe(h.port, ['CLUSTER', 'NODES']);
    const me = nodes.split('\n').find((l) => l.includes('myself'))!;
    const claimed: number[] = [];
    for (const s of me.trim().split(/\s+/).slice(8)) {
      const [a, b] = s.split('-').map(Number);
      for (let x = a!; x <= (b ?? a!); x++) claimed.push(x);
    }
    const lines = await dumpOverResp({ host: h.host, port: h.port });
    const r = new Redis({ host: h.host, port: h.port, lazyConnect: true, maxRetriesPerRequest: 1 });
    await r.connect();
    const answers: number[] = [];
    try {
      for (const k of ['{user1000}.following', 'foo{}{bar}', 'foo{{bar}}zap', 'foo{bar}{zap}', '{}', 'a', 'node6400:key:000', '\u00e9t\u00e9']) {
        answers.push(Number(await r.call('CLUSTER', 'KEYSLOT', k)));
      }
    } finally {
      r.disconnect();
    }
    const slotOf = async (k: string): Promise<number> => {
      const i = ['{user1000}.following', 'foo{}{bar}', 'foo{{bar}}zap', 'foo{bar}{zap}', '{}', 'a', 'node6400:key:000', '\u00e9t\u00e9'].indexOf(k);
      return answers[i]!;
    };
    return { claimed, lines, slotOf };
  } finally {
    await h.stop();
  }
}

t.test('--split-slots 3 --into-db 0: three files of contiguous equal slot ranges, each a bootable cluster node', async (t) => {
  const dir = freshDir('split');
  const out = join(dir, 'dump.rdb');
  const rep = await mergeOk(t, [C], out, ['--on-conflict', 'first', '--into-db', '0', '--split-slots', '3']);
  const names = readdirSync(dir).filter((n) => n.startsWith('dump.')).sort();
  t.same(names, ['dump.0.rdb', 'dump.1.rdb', 'dump.2.rdb', 'dump.rdb.report.json', 'dump.slots.json'], 'dump.0/1/2.rdb and dump.slots.json');
  const map = JSON.parse(readFileSync(join(dir, 'dump.slots.json'), 'utf8')) as { files: Array<{ file: string; slots: Array<[number, number]>; keys: number }> };
  const ranges: Array<[number, number]> = [[0, 5460], [5461, 10922], [10923, 16383]];
  t.same(map.files.map((f) => f.file), ['dump.0.rdb', 'dump.1.rdb', 'dump.2.rdb']);
  t.same(map.files.map((f) => f.slots), ranges.map((r) => [r]), 'ranges as redis-cli --cluster create assigns them');
  t.same(rep.outputs.map((o) => o.slots), ranges.map((r) => [r]));
  const expected = jsonl(C, 'expected-merged-first-wins.jsonl');
  const union: Line[] = [];
  let checkedSlots = false;
  for (let i = 0; i < 3; i++) {
    const file = join(dir, `dump.${i}.rdb`);
    const [lo, hi] = ranges[i]!;
    const { lines } = await codecLines(t, file);
    const outside = lines.filter((l) => {
      const s = keySlot(keyBytes(l['key']));
      return s < lo || s > hi;
    });
    t.same(outside.map((l) => l['key']), [], `dump.${i}.rdb holds only keys of slots ${lo}-${hi}`);
    t.equal(map.files[i]!.keys, lines.length, `dump.slots.json counts its ${lines.length} keys`);
    const node = await bootShard(file, lines.length);
    const keySlots = [...new Set(lines.map((l) => keySlot(keyBytes(l['key']))))].sort((a, b) => a - b);
    t.same(node.claimed, keySlots, `dump.${i}.rdb: the cluster node took exactly the slots our keySlot computes for its keys`);
    sameKeys(t, node.lines, lines, `dump.${i}.rdb booted as a cluster node`);
    union.push(...node.lines);
    if (!checkedSlots) {
      checkedSlots = true;
      for (const k of ['{user1000}.following', 'foo{}{bar}', 'foo{{bar}}zap', 'foo{bar}{zap}', '{}', 'a', 'node6400:key:000', '\u00e9t\u00e9']) {
        t.equal(keySlot(Buffer.from(k)), await node.slotOf(k), `keySlot(${JSON.stringify(k)}) = CLUSTER KEYSLOT`);
      }
    }
  }
  sameKeys(t, union, expected, 'the union of the three nodes');
  const v = await verify([C], [0, 1, 2].map((i) => join(dir, `dump.${i}.rdb`)), ['--on-conflict', 'first', '--into-db', '0']);
  t.equal(v.code, 0, 'verify against the three files passes');
  const one = await verify([C], join(dir, 'dump.0.rdb'), ['--on-conflict', 'first', '--into-db', '0']);
  t.equal(one.code, 10, 'against one shard alone the others\' keys are missing');
  t.equal(one.report?.missing, 3700 - map.files[0]!.keys);
});

t.test('split over several databases without --into-db 0 is a usage error', async (t) => {
  const dir = freshDir('split-dbs');
  const out = join(dir, 'dump.rdb');
  const r = await run(['merge', ...D_IN, '-o', out, '--on-conflict', 'first', '--split-slots', '3', '-q']);
  t.equal(r.code, 2, 'exit 2');
  t.match(r.stderr, /usage: .*databases 0, 1, 2/);
  t.match(r.stderr, /--into-db 0/, 'the hint names --into-db 0');
  t.same(readdirSync(dir), [], 'nothing written (no shard, no slots.json, no temp file)');
  const r2 = await run(['merge', ...D_IN, '-o', out, '--on-conflict', 'first', '--split-slots', '3', '--into-db', '0', '-q']);
  t.equal(r2.code, 0, 'with --into-db 0 it is fine');
});

t.test('--cluster-nodes: one file per master (replicas ignored), with node id and address in slots.json', async (t) => {
  const dir = freshDir('cluster-nodes');
  const nodesFile = join(dir, 'nodes.txt');
  const ids = ['e7d1eecce10fd6bb5eb35b9f99a514335d9ba9ca', '67ed2db8d677e59ec4a4cefb06858cf2a1a89fa1', '292f8b365bb7edb5e285caf0b7e6ddc7265d2f4f'];
  writeFileSync(nodesFile, [
    `07c37dfeb235213a872192d90877d0cd55635b91 127.0.0.1:30004@31004 slave ${ids[0]} 0 1426238317239 4 connected`,
    `${ids[1]} 127.0.0.1:30002@31002 master - 0 1426238316232 2 connected 1001-8000`,
    `${ids[2]} 127.0.0.1:30003@31003,node-3.example master - 0 1426238318243 3 connected 8001-12000 [9000->-${ids[1]}]`,
    `${ids[0]} 127.0.0.1:30001@31001 myself,master - 0 0 1 connected 0-1000 12001-16383`,
    '',
  ].join('\n'));
  const out = join(dir, 'dump.rdb');
  const rep = await mergeOk(t, [C], out, ['--on-conflict', 'first', '--into-db', '0', '--cluster-nodes', nodesFile]);
  const map = JSON.parse(readFileSync(join(dir, 'dump.slots.json'), 'utf8')) as { files: Array<{ file: string; slots: Array<[number, number]>; nodeId: string; address: string; keys: number }> };
  t.equal(map.files.length, 3, 'three masters, three files (the replica has none)');
  t.same(map.files.map((f) => [f.file, f.nodeId, f.address, f.slots]), [
    ['dump.0.rdb', ids[0], '127.0.0.1:30001', [[0, 1000], [12001, 16383]]],
    ['dump.1.rdb', ids[1], '127.0.0.1:30002', [[1001, 8000]]],
    ['dump.2.rdb', ids[2], '127.0.0.1:30003', [[8001, 12000]]],
  ], 'node ids, addresses and slot ranges (in slot order)');
  t.same(rep.outputs.map((o) => o.nodeId), ids);
  const union: Line[] = [];
  for (const f of map.files) {
    const { lines } = await codecLines(t, join(dir, f.file));
    const outside = lines.filter((l) => {
      const s = keySlot(keyBytes(l['key']));
      return !f.slots.some(([a, b]) => s >= a && s <= b);
    });
    t.same(outside, [], `${f.file} holds only keys of its master's slots`);
    t.equal(lines.length, f.keys);
    union.push(...lines);
  }
  sameKeys(t, union, jsonl(C, 'expected-merged-first-wins.jsonl'), 'the union of the files');
});

// ---- failures leave nothing at OUT -----------------------------------------------------------

/** A copy of scenario c's inputs in a fresh directory, and the path of its 20th file. */
function copyOfC(name: string): { dir: string; twentieth: string } {
  const dir = freshDir(name);
  const inputs = join(dir, 'in');
  mkdirSync(inputs);
  for (const f of cFiles) copyFileSync(join(C, f), join(inputs, f));
  return { dir, twentieth: join(inputs, cFiles[19]!) };
}

async function keyRecords(file: string): Promise<KeyRecord[]> {
  return (await readRdbAll(readBytes(file))).filter((r): r is KeyRecord => r.kind === 'key');
}

t.test('a corrupt input in the middle: exit 3, the error names the file and an offset, nothing written', async (t) => {
  const { dir, twentieth } = copyOfC('corrupt');
  const rec = (await keyRecords(twentieth))[40]!;
  // The byte after the type is the key's length: 0xC5 is no RDB string encoding at all.
  const at = rec.offset + (rec.expireAt >= 0 ? 9 : 0) + 1;
  const bytes = readFileSync(twentieth);
  bytes[at] = 0xc5;
  writeFileSync(twentieth, bytes);
  const out = join(dir, 'out', 'dump.rdb');
  mkdirSync(dirname(out));
  const r = await run(['merge', join(dir, 'in'), '-o', out, '--on-conflict', 'first']);
  t.equal(r.code, 3, `exit 3: ${r.stderr.trim()}`);
  t.match(r.stderr, new RegExp(`rdbmerge: corrupt: .*${basename(twentieth).replace('.', '\\.')}.*offset \\d+`), 'names the file and an offset');
  const offset = Number(/offset (\d+)/.exec(r.stderr)?.[1]);
  t.ok(offset >= rec.offset && offset <= rec.offset + 64, `the offset (${offset}) is at the damaged record (${rec.offset})`);
  nothingWritten(t, out, 'corrupt input');
});

t.test('a truncated input in the middle: exit 4, nothing written', async (t) => {
  const { dir, twentieth } = copyOfC('truncated');
  const rec = (await keyRecords(twentieth))[60]!;
  truncateSync(twentieth, rec.valueOffset + 1);
  const out = join(dir, 'dump.rdb');
  const r = await run(['merge', join(dir, 'in'), '-o', out, '--on-conflict', 'first']);
  t.equal(r.code, 4, `exit 4: ${r.stderr.trim()}`);
  t.match(r.stderr, new RegExp(`${basename(twentieth).replace('.', '\\.')}.*offset \\d+`), 'names the file and an offset');
  nothingWritten(t, out, 'truncated input');
});

t.test('a damaged value (checksum mismatch) in the middle: exit 5, nothing written', async (t) => {
  const { dir, twentieth } = copyOfC('checksum');
  const rec = (await keyRecords(twentieth)).find((r) => r.type === 0 && r.payload.length > 4)!;
  const bytes = readFileSync(twentieth);
  bytes[rec.valueOffset + 2] = bytes[rec.valueOffset + 2]! ^ 0x01; // a character of a string value
  writeFileSync(twentieth, bytes);
  const out = join(dir, 'dump.rdb');
  const r = await run(['merge', join(dir, 'in'), '-o', out, '--on-conflict', 'first']);
  t.equal(r.code, 5, `exit 5: ${r.stderr.trim()}`);
  t.match(r.stderr, new RegExp(basename(twentieth).replace('.', '\\.')), 'names the file');
  nothingWritten(t, out, 'checksum mismatch');
});

// ---- SIGINT ------------------------------------------------------------------------------------

const BIN = join(ROOT, 'dist', 'src', 'bin.js');

/** An RDB 10 input of `n` string keys (`<prefix>:<i>`), half in db 0 and half in db 1. */
function writeBigInput(path: string, prefix: string, n: number): void {
  const w = new RdbWriter({ version: 10, compress: false });
  const chunks: Uint8Array[] = [];
  w.begin();
  const enc = new TextEncoder();
  for (const db of [0, 1]) {
    const count = db === 0 ? Math.ceil(n / 2) : Math.floor(n / 2);
    w.selectDb(db, count, 0);
    for (let i = 0; i < count; i++) {
      const value = enc.encode(`value-${db}-${i}-${prefix}`.padEnd(40, '.'));
      const payload = new Uint8Array(value.length + 1);
      payload[0] = value.length; // RDB string, 6-bit length
      payload.set(value, 1);
      w.key({ key: enc.encode(`${prefix}:${db}:${i}`), type: 0, payload, expireAt: -1, idle: -1, freq: -1 });
      if (w.pendingBytes > 1 << 20) chunks.push(w.drain());
    }
  }
  w.end();
  chunks.push(w.drain());
  writeFileSync(path, Buffer.concat(chunks));
}

t.test('SIGINT mid-merge: exit 130, nothing written, no temp files', async (t) => {
  if (!existsSync(BIN)) execFileSync('npx', ['tsc', '-p', '.'], { cwd: ROOT, stdio: 'inherit' });
  const inputs = freshDir('sigint-inputs');
  for (let i = 0; i < 4; i++) writeBigInput(join(inputs, `big${i}.rdb`), `n${i}`, 150_000);
  for (const pass of ['index', 'write'] as const) {
    await t.test(`during the ${pass} pass`, async (t) => {
      const dir = freshDir(`sigint-${pass}`);
      const out = join(dir, 'dump.rdb');
      const child = spawn(process.execPath, [BIN, 'merge', inputs, '-o', out, '--json', '--on-conflict', 'first'], { stdio: ['ignore', 'pipe', 'pipe'] });
      let stderr = '';
      let sent = false;
      let buffered = '';
      child.stderr.setEncoding('utf8');
      child.stderr.on('data', (s: string) => {
        stderr += s;
        buffered += s;
        let nl: number;
        while ((nl = buffered.indexOf('\n')) >= 0) {
          const line = buffered.slice(0, nl);
          buffered = buffered.slice(nl + 1);
          if (sent || !line.startsWith('{')) continue;
          const ev = JSON.parse(line) as { event: string; pass?: string };
          if (ev.event === 'progress' && ev.pass === pass) {
            sent = true;
            child.kill('SIGINT');
          }
        }
      });
      child.stdout.resume();
      const code = await new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
      t.ok(sent, `SIGINT sent once the ${pass} pass reported progress`);
      t.equal(code, 130, `exit 130 (${stderr.split('\n').filter((l) => !l.startsWith('{')).join(' ').trim()})`);
      t.match(stderr, /rdbmerge: interrupted/);
      nothingWritten(t, out, `SIGINT in the ${pass} pass`);
      t.same(readdirSync(dir), [], 'the output directory is empty');
    });
  }
});

// ---- verify finds differences ------------------------------------------------------------

t.test('verify: a changed value, a changed expiry, a missing and an extra key exit 10 and are named', async (t) => {
  const dir = freshDir('verify-diff');
  const out = join(dir, 'dump.rdb');
  await mergeOk(t, D_IN, out, ['--on-conflict', 'first']);
  const records = await readRdbAll(readBytes(out));
  const keyName = (r: RdbRecord): string => (r.kind === 'key' ? Buffer.from(r.key).toString('latin1') : '');
  const find = (name: string): KeyRecord => records.find((r) => keyName(r) === name) as KeyRecord;
  const text = find('u1:str:text');
  const long = find('u1:str:long');
  t.ok(text.type === 0 && long.type === 0, 'two string keys');
  text.payload = long.payload; // value changed
  text.valueOffset = long.valueOffset;
  const ttl = find('collide:ttl');
  ttl.expireAt += 5000; // expiry changed
  const gone = records.findIndex((r) => keyName(r) === 'u1:list:small');
  records.splice(gone, 1); // missing
  const extra: KeyRecord = { ...find('u1:str:int'), key: new TextEncoder().encode('extra:key') };
  records.splice(records.indexOf(find('u1:str:int')) + 1, 0, extra); // extra, in db 0
  const changed = join(dir, 'changed.rdb');
  writeFileSync(changed, writeRecords(records, { version: 10 }).bytes);

  const v = await verify(D_IN, changed, ['--on-conflict', 'first']);
  t.equal(v.code, 10, 'exit 10');
  const rep = v.report!;
  t.equal(rep.ok, false);
  t.equal(rep.different, 2, 'two keys differ');
  t.equal(rep.missing, 1, 'one missing');
  t.equal(rep.extra, 1, 'one extra');
  t.equal(rep.differenceCount, 4);
  const by = (k: string) => rep.differences.find((d) => d.key === k);
  t.same(by('u1:str:text')?.what, ['value'], 'u1:str:text: value');
  t.same(by('collide:ttl')?.what, ['expireAt'], 'collide:ttl: expireAt');
  t.equal(by('u1:list:small')?.kind, 'missing');
  t.equal(by('extra:key')?.kind, 'extra');

  const human = await run(['verify', ...D_IN, '--against', changed, '--on-conflict', 'first', '--now', NOW]);
  t.equal(human.code, 10);
  t.match(human.stdout, /different +db 0 "u1:str:text": value/, 'human lines name the keys');
  t.match(human.stdout, /different +db 0 "collide:ttl": expireAt/);
  t.match(human.stdout, /missing +db 0 "u1:list:small"/);
  t.match(human.stdout, /extra +db 0 "extra:key"/);
  t.match(human.stderr, /^rdbmerge: verify: 4 difference\(s\)/);

  const tolerant = await verify(D_IN, changed, ['--on-conflict', 'first', '--ttl-tolerance', '5s']);
  t.equal(tolerant.report?.different, 1, '--ttl-tolerance 5s accepts the moved expiry');

  const noFile = await verify(D_IN, join(dir, 'nope.rdb'), ['--on-conflict', 'first']);
  t.equal(noFile.code, 2, 'an --against file that does not exist: usage error');
  t.match(noFile.stderr, /--against: file not found/);

  const other = await verify(D_IN, out, ['--on-conflict', 'last']);
  t.equal(other.code, 10, 'the first-wins output verified as last-wins differs');
  t.equal(other.report?.different, scenarioD.collisions.length, 'in exactly the colliding keys');
  t.same(other.report?.functions.missing.sort(), ['clash_b', 'samename'], 'and in the function libraries');
});
