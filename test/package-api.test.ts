/**
 * The library as a user's project sees it: the package is built into a temporary directory (its
 * package.json + dist, exactly what `files` publishes), linked as node_modules/rdbmerge of a
 * temporary ESM project, and
 *  - a plain .mjs script there imports `rdbmerge` and `rdbmerge/codec` BY NAME (through the
 *    `exports` map) and runs every pipeline function: inspect, merge, verify (against a file and
 *    against a live server), replay into a real redis-server, diff and plan, the codec's reader,
 *    writer and DUMP-payload helpers, and a typed error; the test checks the reports it prints
 *    (and that the pipelines printed nothing else: stdout is exactly one JSON line);
 *  - a small TypeScript file there is type-checked against the package's .d.ts with tsc
 *    (moduleResolution nodenext), including a misuse that must be a type error.
 * A missing redis-server fails this test (never a skip).
 */
import t from 'tap';
import { execFile } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { FIXTURES, ROOT, fixturePath } from './helpers/fixtures.js';
import { requireRedisServer, startRedis } from './helpers/redis-server.js';

const run = promisify(execFile);
const redisBin = requireRedisServer(t);
const work = mkdtempSync(join(tmpdir(), 'rdbmerge-pkg-'));
t.teardown(() => rmSync(work, { recursive: true, force: true }));

const PKG = join(work, 'pkg');
const APP = join(work, 'app');
const TSC = join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
const D = join(FIXTURES, 'merge', 'scenario-d-collisions');

t.before(async () => {
  // The package as published: package.json + a fresh dist built from these sources.
  mkdirSync(PKG);
  copyFileSync(join(ROOT, 'package.json'), join(PKG, 'package.json'));
  // The published sources only (bench/ is not part of the package), without source maps: half the
  // work of the full build on this loaded machine.
  writeFileSync(join(work, 'tsconfig.pkg.json'), JSON.stringify({
    extends: join(ROOT, 'tsconfig.json'),
    compilerOptions: { outDir: join(PKG, 'dist'), rootDir: ROOT, sourceMap: false, typeRoots: [join(ROOT, 'node_modules', '@types')] },
    include: [join(ROOT, 'src', '**', '*.ts'), join(ROOT, 'native-free-parser', '**', '*.ts')],
  }));
  await run(process.execPath, [TSC, '-p', join(work, 'tsconfig.pkg.json')], { cwd: ROOT });
  // Its dependencies (commander, ioredis, ...) as an install would provide them.
  symlinkSync(join(ROOT, 'node_modules'), join(PKG, 'node_modules'), 'dir');
  // The user's project.
  mkdirSync(join(APP, 'node_modules', '@types'), { recursive: true });
  writeFileSync(join(APP, 'package.json'), JSON.stringify({ name: 'user-app', type: 'module', private: true }));
  symlinkSync(PKG, join(APP, 'node_modules', 'rdbmerge'), 'dir');
  symlinkSync(join(ROOT, 'node_modules', '@types', 'node'), join(APP, 'node_modules', '@types', 'node'), 'dir');
});

const SCRIPT = `
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  inspect, merge, verify, replay, diff, plan, defaultSharedOptions, parseUri, readRdbFile,
  MergeConflictError, ConflictError, exitCodeFor, EXIT, RdbWriter as RootWriter,
} from 'rdbmerge';
import { readRdb, RdbWriter, buildDumpPayload, parseDumpPayload, decodeValue, rdb, RdbError, TruncatedError } from 'rdbmerge/codec';

const [fixture, d1, d2, d3, port] = process.argv.slice(2);
const inputs = [d1, d2, d3];
const out = {};
const dir = mkdtempSync(join(tmpdir(), 'rdbmerge-app-'));
const select = defaultSharedOptions(Date.parse('2026-11-25T12:00:00Z'));

// inspect
const ins = await inspect([fixture]);
out.inspect = { keys: ins.total.totalKeys, files: ins.files.length };

// merge, and its typed error
const merged = join(dir, 'merged.rdb');
const m = await merge(inputs, { select, onConflict: 'last', out: merged });
out.merge = { totalKeys: m.totalKeys, collisionCount: m.collisionCount, outputs: m.outputs.length };
try {
  await merge(inputs, { select, onConflict: 'error', out: join(dir, 'never.rdb') });
  out.conflict = 'no error';
} catch (e) {
  out.conflict = {
    mergeConflict: e instanceof MergeConflictError, conflict: e instanceof ConflictError, exit: exitCodeFor(e) === EXIT.conflict,
    collisions: e.report.collisionCount,
  };
}

// verify against the file
const v = await verify(inputs, { select, onConflict: 'last', against: merged });
out.verify = { ok: v.ok, matched: v.matched };

// replay into the server, then verify the server
const target = parseUri('redis://127.0.0.1:' + port, '--target', {});
const r = await replay([merged], { select, target });
out.replay = { keys: r.keys, restored: r.restored, failed: r.failed };
const vt = await verify([merged], { select, target });
out.verifyTarget = { ok: vt.ok, matched: vt.matched };

// diff
const same = await diff(merged, merged, {});
const other = await diff(d1, merged, { limit: 3 });
out.diff = { same: same.same, equal: same.equal, otherSame: other.same, onlyB: other.onlyB, listed: other.differences.length };

// plan
const p = await plan(inputs, { select, out: join(dir, 'planned.rdb') });
const p2 = await plan(inputs, { select, onConflict: 'last', out: join(dir, 'planned.rdb'), maxmemory: 1024 });
out.plan = { exitCode: p.exitCode, collisions: p.collisions.length, lastExit: p2.exitCode, over: p2.memory.over, totalKeys: p2.totalKeys };

// the codec: reader (async batches), writer, DUMP payloads
let keys = 0;
let batches = 0;
for await (const batch of readRdb(readFileSync(merged))) {
  batches++;
  for (const rec of batch) if (rec.kind === 'key') keys++;
}
let fileKeys = 0;
for await (const batch of readRdbFile(merged)) for (const rec of batch) if (rec.kind === 'key') fileKeys++;
const w = new RdbWriter({ version: 10 });
w.begin();
w.selectDb(0, 1, 0);
const payload = new Uint8Array([5, 104, 101, 108, 108, 111]); // a plain string value: "hello"
w.key({ key: new TextEncoder().encode('k'), type: rdb.TYPE_STRING, payload, expireAt: -1, idle: -1, freq: -1 });
w.end();
const bytes = w.drain();
const back = [];
for await (const batch of readRdb(bytes)) for (const rec of batch) if (rec.kind === 'key') back.push(rec);
const value = decodeValue(back[0].type, back[0].payload);
const dump = buildDumpPayload(rdb.TYPE_STRING, payload, 10);
const parsed = parseDumpPayload(dump);
let corrupt = null;
try {
  for await (const _ of readRdb(new TextEncoder().encode('REDIS0010'))) { /* read */ }
} catch (e) {
  corrupt = { rdbError: e instanceof RdbError, truncated: e instanceof TruncatedError, kind: e.kind, offset: e.offset };
}
out.codec = {
  keys, fileKeys, batchesAtLeastOne: batches >= 1, sameWriter: RootWriter === RdbWriter,
  value: value.type + ':' + new TextDecoder().decode(value.value), dumpType: parsed.type, dumpVersion: parsed.version, corruptTyped: corrupt,
};
process.stdout.write(JSON.stringify(out) + '\\n');
`;

t.test('a user project imports rdbmerge and rdbmerge/codec by name and runs every pipeline', async (t) => {
  const h = await startRedis({ ...(redisBin !== undefined ? { bin: redisBin } : {}) });
  try {
    writeFileSync(join(APP, 'main.mjs'), SCRIPT);
    const { stdout } = await run(
      process.execPath,
      [join(APP, 'main.mjs'), fixturePath('redis-7.0.15-types.rdb'), join(D, 'in1.rdb'), join(D, 'in2.rdb'), join(D, 'in3.rdb'), String(h.port)],
      { cwd: APP, env: { ...process.env, NODE_OPTIONS: '' }, timeout: 60_000 },
    );
    const lines = stdout.trim().split('\n');
    t.equal(lines.length, 1, 'the library printed nothing: one line, the script\'s own');
    const out = JSON.parse(lines[0]!) as Record<string, Record<string, unknown>>;
    t.same(out['inspect'], { keys: 77, files: 1 });
    t.same(out['merge'], { totalKeys: 101, collisionCount: 7, outputs: 1 });
    t.same(out['conflict'], { mergeConflict: true, conflict: true, exit: true, collisions: 7 });
    t.same(out['verify'], { ok: true, matched: 101 });
    t.same(out['replay'], { keys: 101, restored: 101, failed: 0 });
    t.same(out['verifyTarget'], { ok: true, matched: 101 });
    t.match(out['diff'], { same: true, equal: 101, otherSame: false, listed: 3 });
    t.ok((out['diff']!['onlyB'] as number) > 0, 'keys of the other inputs are only in B');
    t.same(out['plan'], { exitCode: 9, collisions: 7, lastExit: 0, over: true, totalKeys: 101 });
    t.same(out['codec'], {
      keys: 101, fileKeys: 101, batchesAtLeastOne: true, sameWriter: true,
      value: 'string:hello', dumpType: 0, dumpVersion: 10, corruptTyped: { rdbError: true, truncated: true, kind: 'truncated', offset: 9 },
    });
  } finally {
    await h.stop();
  }
});

const TYPED = `
import { diff, plan, merge, type DiffReport, type PlanReport, type MergeOptions, type DiffDifference } from 'rdbmerge';
import { readRdb, RdbWriter, type KeyRecord, type RdbRecord } from 'rdbmerge/codec';

export async function check(): Promise<number> {
  const d: DiffReport = await diff('a.rdb', 'b.rdb', { ttlTolerance: 1000, onDifference: (x: DiffDifference) => { void x.kind; } });
  const p: PlanReport = await plan(['a.rdb'], { out: 'o.rdb', onConflict: 'last' });
  const opts: MergeOptions = { select: { ...({} as MergeOptions['select']) }, out: 'x.rdb' };
  void merge;
  void opts;
  let n = 0;
  for await (const batch of readRdb(new Uint8Array(0))) {
    for (const r of batch as RdbRecord[]) if (r.kind === 'key') n += (r as KeyRecord).key.length;
  }
  const w = new RdbWriter({ version: 11 });
  w.begin();
  // @ts-expect-error the report has no such field: the types are real, not any
  void d.noSuchField;
  // @ts-expect-error exitCode is a number
  const s: string = p.exitCode;
  void s;
  return n + d.onlyA + p.exitCode;
}
`;

t.test('a TypeScript project type-checks against the package\'s .d.ts', async (t) => {
  writeFileSync(join(APP, 'check.ts'), TYPED);
  writeFileSync(join(APP, 'tsconfig.json'), JSON.stringify({
    compilerOptions: {
      target: 'ES2022', module: 'nodenext', moduleResolution: 'nodenext', strict: true, noEmit: true,
      types: ['node'], skipLibCheck: true,
    },
    files: ['check.ts'],
  }));
  let out = '';
  let code = 0;
  try {
    await run(process.execPath, [TSC, '-p', join(APP, 'tsconfig.json')], { cwd: APP });
  } catch (e) {
    const err = e as { stdout?: string; code?: number };
    out = err.stdout ?? String(e);
    code = err.code ?? 1;
  }
  t.equal(code, 0, `tsc accepts the program (and each @ts-expect-error meets an error)${out !== '' ? `:\n${out}` : ''}`);

  // And a real misuse is refused.
  writeFileSync(join(APP, 'check.ts'), `import { diff } from 'rdbmerge';\nawait diff(42, 'b.rdb', {});\nexport {};\n`);
  let refused = '';
  try {
    await run(process.execPath, [TSC, '-p', join(APP, 'tsconfig.json')], { cwd: APP });
  } catch (e) {
    refused = (e as { stdout?: string }).stdout ?? '';
  }
  t.match(refused, /check\.ts\(2,\d+\): error TS2345/, 'diff(42, ...) is a type error');
});
