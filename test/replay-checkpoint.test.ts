/**
 * `rdbmerge replay --checkpoint FILE` against real redis-server processes, the replay run as a
 * child process (`node dist/src/bin.js replay ...`) slowed by --max-rate so it can be stopped
 * mid-way:
 *
 *  - a target with `--appendonly yes --appendfsync always` killed with SIGKILL mid-replay and
 *    restarted from its AOF: the child exits 8, the checkpoint on disk decodes (CRC-32C framing)
 *    with marks inside the file; the rerun with it sends fewer keys than the file holds, completes,
 *    and `verify --target` exits 0; a third run finds the checkpoint complete and sends nothing;
 *  - SIGINT to the child: exit 130 with the checkpoint flushed (nothing in flight left unknown);
 *    the rerun completes;
 *  - the replay process itself killed (SIGKILL): the last periodic checkpoint holds a reservation
 *    of entries that may have been sent; under `--on-busykey error` the rerun resends them with
 *    REPLACE (no BUSYKEY for the first run's own keys) and completes;
 *  - keys the target held before the first run still follow the policy: `skip` keeps such a key's
 *    value even when it lies in the uncertain window; `error` reports a key that is on the target
 *    and was never sent by the first run;
 *  - `-` reads the input from stdin (with a checkpoint too: identified by content);
 *  - a rebuilt key (over proto-max-bulk-len) whose file has an LFU counter is counted in
 *    rebuiltLruLfuLost (no command can set it), a RESTOREd one carries it;
 *  - a damaged checkpoint (flipped payload byte, truncated, not a checkpoint): typed error naming
 *    the file, exit 5 / 3, nothing sent; a checkpoint from another input, another file content,
 *    other options or another target is refused (exit 2).
 *
 * A missing redis-server fails these tests (never a skip).
 */
import { execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { Redis } from 'ioredis';
import { encodeValue, isDropped, RdbWriter, readRdbAll } from '../native-free-parser/index.js';
import type { KeyRecord, Value } from '../native-free-parser/index.js';
import { CheckpointError, decodeCheckpoint, DONE, encodeCheckpoint, FRESH, InputTrack, UNCERTAIN, type CheckpointState } from '../src/pipelines/checkpoint.js';
import { replayCli, runCli } from './helpers/cli.js';
import { ROOT } from './helpers/fixtures.js';
import { readBytes } from './helpers/read.js';
import { keyCount, probe, requireRedisServer, startRedis, type RedisHandle } from './helpers/redis-server.js';

const BIN = join(ROOT, 'dist', 'src', 'bin.js');
const TOTAL = 12_000;
const AOF = ['--appendonly', 'yes', '--appendfsync', 'always'];
const te = new TextEncoder();

function keyName(i: number): string {
  return `ck:${String(i).padStart(6, '0')}`;
}

/** TOTAL keys in db 0: strings, hashes (every 5th), sets (every 11th), some with an expiry in 2100. */
function writeInput(path: string, salt = ''): void {
  const w = new RdbWriter({ version: 10 });
  const chunks: Uint8Array[] = [];
  w.begin();
  w.selectDb(0, TOTAL, 0);
  for (let i = 0; i < TOTAL; i++) {
    const key = te.encode(keyName(i));
    const v: Value = i % 5 === 0
      ? { type: 'hash', value: [[te.encode('f'), te.encode(`v${i}${salt}`)], [te.encode('g'), te.encode('x'.repeat(i % 50))]] }
      : i % 11 === 0
        ? { type: 'set', value: [te.encode(`a${i}`), te.encode(`b${i}`), te.encode(salt)] }
        : { type: 'string', value: te.encode(`value-${i}-${salt}${'y'.repeat(i % 40)}`) };
    const enc = encodeValue(v, 10, { key });
    if (isDropped(enc)) throw new Error('test: dropped');
    w.key({ key, type: enc.type, payload: enc.payload, expireAt: i % 7 === 0 ? 4102444800000 + i : -1, idle: -1, freq: -1 });
    if (w.pendingBytes > 1 << 20) chunks.push(w.drain());
  }
  w.end();
  chunks.push(w.drain());
  writeFileSync(path, Buffer.concat(chunks));
}

function uri(h: RedisHandle): string {
  return `redis://${h.host}:${h.port}`;
}

function readState(file: string): CheckpointState {
  return decodeCheckpoint(readFileSync(file), file);
}

async function dbsize(h: RedisHandle): Promise<number> {
  return Number(await probe(h.port, ['DBSIZE']));
}

/** Resolves once the target holds at least `n` keys (the replay child is under way). */
async function untilKeys(h: RedisHandle, n: number, timeoutMs = 30_000): Promise<number> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const k = await dbsize(h);
    if (k >= n) return k;
    if (Date.now() > end) throw new Error(`the target did not reach ${n} keys (has ${k})`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

interface Child {
  pid: number;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string; stdout: string }>;
  kill(sig: NodeJS.Signals): void;
}

/** `node dist/src/bin.js replay ARGS` as a child process. */
function replayChild(args: string[]): Child {
  const child = spawn(process.execPath, [BIN, 'replay', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  let stdout = '';
  child.stderr.setEncoding('utf8');
  child.stdout.setEncoding('utf8');
  child.stderr.on('data', (s: string) => (stderr += s));
  child.stdout.on('data', (s: string) => (stdout += s));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string; stdout: string }>((resolve) => {
    child.on('exit', (code, signal) => resolve({ code, signal, stderr, stdout }));
  });
  return { pid: child.pid!, exited, kill: (s) => child.kill(s) };
}

async function verifyTarget(t: Test, input: string, h: RedisHandle, what: string): Promise<void> {
  const v = await runCli(['verify', input, '--target', uri(h), '--exact', '--json', '-q']);
  t.equal(v.code, 0, `${what}: verify --target --exact exits 0${v.code !== 0 ? `: ${v.stdout.slice(0, 500)} ${v.stderr}` : ''}`);
}

/** The dist build the children run must be the current sources: rebuilt when older. */
function ensureBuilt(): void {
  const newest = Math.max(...['src/pipelines/replay.ts', 'src/pipelines/checkpoint.ts', 'src/commands/replay.ts', 'src/cli.ts'].map((f) => statSync(join(ROOT, f)).mtimeMs));
  if (!existsSync(BIN) || statSync(BIN).mtimeMs < newest || statSync(join(ROOT, 'dist/src/pipelines/checkpoint.js'), { throwIfNoEntry: false }) === undefined
    || statSync(join(ROOT, 'dist/src/pipelines/checkpoint.js')).mtimeMs < newest) {
    execFileSync('npx', ['tsc', '-p', 'tsconfig.json'], { cwd: ROOT, stdio: 'inherit' });
  }
}

t.test('the low-water mark moves only past contiguous answered entries', async (t) => {
  const tr = new InputTrack(10_000, null);
  const offs = [100, 200, 300, 400, 500];
  const seqs = offs.map((o) => {
    tr.scan = o;
    return tr.issue(o);
  });
  tr.scan = 501;
  t.same(tr.marks(600), { mark: 100, issued: 501, pending: [100, 200, 300, 400, 500], high: 600 }, 'nothing answered: the mark is the first entry');
  tr.ack(seqs[2]!);
  tr.ack(seqs[3]!);
  t.same(tr.marks(600).mark, 100, 'answers out of order do not move it');
  t.same(tr.marks(600).pending, [100, 200, 500], 'the unanswered ones are listed');
  tr.ack(seqs[0]!);
  t.equal(tr.marks(600).mark, 200, 'the first answered: up to the next unanswered');
  tr.ack(seqs[1]!);
  t.equal(tr.marks(600).mark, 500, 'two more: past the answered run');
  tr.ack(seqs[1]!);
  tr.ack(seqs[4]!);
  t.same(tr.marks(600), { mark: 501, issued: 501, pending: [], high: 600 }, 'all answered (a repeated answer is ignored): the scan position');
  // Many entries in flight: the ring grows and keeps its order.
  const big = new InputTrack(1e9, null);
  const s2 = Array.from({ length: 5000 }, (_, i) => big.issue(i * 10));
  for (let i = 4999; i >= 1; i--) big.ack(s2[i]!);
  big.scan = 50_000;
  t.same(big.marks(0).pending, [0], 'after growing: only the first is unanswered');
  big.ack(s2[0]!);
  t.equal(big.marks(0).mark, 50_000, 'then none');

  // A rerun: answered entries skipped, in-flight and reserved ones uncertain, the rest fresh.
  const re = new InputTrack(10_000, { mark: 200, issued: 501, pending: [200, 500], high: 800 });
  t.same([100, 200, 300, 500, 600, 799, 800, 9000].map((o) => re.fate(o)), [DONE, UNCERTAIN, DONE, UNCERTAIN, UNCERTAIN, UNCERTAIN, FRESH, FRESH], 'fates');
  re.scan = 300;
  t.same(re.marks(0), { mark: 300, issued: 501, pending: [500], high: 800 }, 'the earlier run\'s state ahead of the scan is kept');
});

t.test('--checkpoint with --cluster is a usage error before any connection', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'rdbmerge-ckpt-cluster-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const ckpt = join(dir, 'c.ckpt');
  // Port 1: nothing listens there; a usage error must come first (exit 2, not 8).
  const r = await runCli(['replay', join(ROOT, 'fixtures', 'rdb', 'redis-7.0.15-types.rdb'), '--target', 'redis://127.0.0.1:1', '--cluster', '--into-db', '0', '--checkpoint', ckpt]);
  t.equal(r.code, 2, `exit 2: ${r.stderr.split('\n')[0]}`);
  t.match(r.stderr, /--checkpoint goes with a standalone target/);
  t.notOk(existsSync(ckpt), 'no checkpoint written');
});

t.test('checkpoint framing: round trip, every damaged byte is caught', async (t) => {
  const state: CheckpointState = {
    tool: 'rdbmerge replay', created: 'x', updated: 'y', runs: 1, complete: false, now: 1, options: { a: 1 },
    inputs: [{ path: '/a.rdb', size: 1000, mtimeMs: 5, head: 7, tail: 9, mark: 10, issued: 20, pending: [15], high: 30 }],
    totals: { restored: 1, replaced: 0, rebuilt: 0, skippedBusy: 0, skippedExpired: 0, skippedUnsupported: 0, failed: 0, busy: 0, resent: 0 },
    failures: [], busyKeys: [],
  };
  const bytes = encodeCheckpoint(state);
  t.same(decodeCheckpoint(bytes, 'f'), state, 'round trip');
  let caught = 0;
  for (let i = 0; i < bytes.length; i++) {
    const b = Buffer.from(bytes);
    b[i] ^= 0x20;
    try {
      decodeCheckpoint(b, 'f');
    } catch (e) {
      if (e instanceof CheckpointError) caught++;
      else throw e;
    }
  }
  t.equal(caught, bytes.length, `each of the ${bytes.length} bytes flipped: a CheckpointError`);
  const badMark = { ...state, inputs: [{ ...state.inputs[0]!, mark: 2000 }] };
  t.throws(() => decodeCheckpoint(encodeCheckpoint(badMark), 'f'), /a mark past the end of the input/, 'a mark past the input is refused');
});

const bin = requireRedisServer(t);
if (bin !== undefined) {
  ensureBuilt();
  const work = mkdtempSync(join(tmpdir(), 'rdbmerge-ckpt-'));
  t.teardown(() => rmSync(work, { recursive: true, force: true }));
  const input = join(work, 'in.rdb');
  writeInput(input);
  const size = statSync(input).size;
  const records = (await readRdbAll(readBytes(input))).filter((r): r is KeyRecord => r.kind === 'key');
  const offsetOf = (name: string): number => records.find((r) => Buffer.from(r.key).toString('latin1') === name)!.offset;
  let dirs = 0;
  const fresh = (name: string): string => {
    const d = join(work, `${++dirs}-${name}`);
    mkdirSync(d);
    return d;
  };

  t.test('target killed mid-replay and restarted from its AOF: the rerun with the checkpoint completes', async (t) => {
    const ckpt = join(fresh('kill-target'), 'replay.ckpt');
    const h1 = await startRedis({ args: AOF });
    let h2: RedisHandle | undefined;
    try {
      const child = replayChild([input, '--target', uri(h1), '--max-rate', '2500', '--checkpoint', ckpt, '--json', '-q']);
      await untilKeys(h1, 3000);
      process.kill(h1.pid, 'SIGKILL');
      const end = await child.exited;
      t.equal(end.code, 8, `the child fails with the network exit code (${end.stderr.trim()})`);
      t.match(end.stderr, /rdbmerge: network: /, 'a network error is printed');

      const st = readState(ckpt);
      const m = st.inputs[0]!;
      t.equal(st.complete, false, 'the checkpoint is not complete');
      t.ok(m.mark > 0 && m.mark < size, `its mark ${m.mark} is inside the file (${size} bytes)`);
      t.ok(m.issued >= m.mark && m.issued < size, `issued ${m.issued} between the mark and the end`);
      t.equal(m.high, m.issued, 'written on the way out: nothing reserved beyond what was sent');
      t.ok(m.pending.every((o) => o >= m.mark && o < m.issued), `${m.pending.length} entries in flight, between mark and issued`);
      t.ok(st.totals.restored > 0, `${st.totals.restored} keys answered before the kill`);
      t.equal(st.options['onBusykey'], 'error', 'the policy is recorded');
      t.notMatch(JSON.stringify(st), /password/i, 'no password in the checkpoint');

      // Restarted where it was (same port, same directory: its AOF).
      h2 = await startRedis({ args: [...AOF, '--dir', h1.dir], port: h1.port });
      const before = (await keyCount(h2.port)).total;
      t.ok(before > 0 && before < TOTAL, `the restarted target holds ${before} keys from its AOF`);

      const rerun = await replayCli([input, '--target', uri(h2), '--checkpoint', ckpt, '--json', '-q']);
      t.equal(rerun.code, 0, `the rerun completes${rerun.code !== 0 ? `: ${rerun.stderr}` : ''}`);
      const rep = rerun.report!;
      t.equal(rep.checkpoint?.resumed, true, 'the rerun resumed');
      t.ok(rep.keys < TOTAL, `the rerun sent ${rep.keys} keys, fewer than the ${TOTAL} of the file`);
      t.equal(rep.checkpoint!.skippedDone + rep.keys, TOTAL, 'skipped (answered before) + sent = every key');
      t.equal(rep.checkpoint!.resent, m.pending.length, 'exactly the entries in flight were sent again');
      t.equal(rep.failed + rep.busy, 0, 'no failed or busy keys');
      t.equal((await keyCount(h2.port)).total, TOTAL, `the target holds all ${TOTAL} keys`);
      await verifyTarget(t, input, h2, 'after the rerun');

      const done = readState(ckpt);
      t.equal(done.complete, true, 'the checkpoint says complete');
      t.equal(done.inputs[0]!.mark, size, 'its mark is the end of the input');
      t.equal(done.runs, 2, 'two runs recorded');

      const again = await replayCli([input, '--target', uri(h2), '--checkpoint', ckpt]);
      t.equal(again.code, 0, 'a run with a complete checkpoint exits 0');
      t.match(again.stdout, /says this replay is complete: nothing sent/, 'and says nothing was sent');
      const j = await replayCli([input, '--target', uri(h2), '--checkpoint', ckpt, '--json', '-q']);
      t.equal(j.report?.checkpoint?.alreadyComplete, true, '--json: alreadyComplete');
      t.equal(j.report?.keys, 0, '--json: no key sent');
    } finally {
      await h2?.stop();
      await h1.stop();
    }
  });

  // A checkpoint from an interrupted run, kept for the damage and refusal tests below.
  const interrupted = join(work, 'interrupted.ckpt');
  let interruptedPort = 0;

  t.test('SIGINT flushes the checkpoint (exit 130); the rerun completes', async (t) => {
    const ckpt = join(fresh('sigint'), 'replay.ckpt');
    const h = await startRedis();
    try {
      const child = replayChild([input, '--target', uri(h), '--max-rate', '2500', '--checkpoint', ckpt]);
      await untilKeys(h, 2500);
      child.kill('SIGINT');
      const end = await child.exited;
      t.equal(end.code, 130, `exit 130 (${end.stderr.trim()})`);
      t.match(end.stderr, /rdbmerge: interrupted/);
      const st = readState(ckpt);
      const m = st.inputs[0]!;
      const onTarget = await dbsize(h);
      t.equal(st.complete, false, 'not complete');
      t.ok(m.mark > 0 && m.mark < size, `mark ${m.mark} inside the file`);
      t.same(m.pending, [], 'the replies in flight were awaited: nothing left unknown');
      t.equal(m.high, m.issued, 'nothing reserved beyond what was sent');
      t.equal(st.totals.restored, onTarget, `the checkpoint counts the ${onTarget} keys on the target`);
      copyFileSync(ckpt, interrupted);
      interruptedPort = h.port;

      const rerun = await replayCli([input, '--target', uri(h), '--checkpoint', ckpt, '--json', '-q']);
      t.equal(rerun.code, 0, `the rerun completes${rerun.code !== 0 ? `: ${rerun.stderr}` : ''}`);
      t.equal(rerun.report!.keys, TOTAL - onTarget, `it sent only the ${TOTAL - onTarget} keys not answered before`);
      t.equal(rerun.report!.restored, TOTAL - onTarget, 'all restored');
      t.equal(rerun.report!.checkpoint!.resent, 0, 'nothing resent');
      t.equal(await dbsize(h), TOTAL, 'every key on the target');
      await verifyTarget(t, input, h, 'after the SIGINT rerun');
    } finally {
      await h.stop();
    }
  });

  t.test('the replay process killed: its reservation is resent with REPLACE under --on-busykey error', async (t) => {
    const ckpt = join(fresh('kill-tool'), 'replay.ckpt');
    const h = await startRedis();
    try {
      const child = replayChild([input, '--target', uri(h), '--max-rate', '2500', '--checkpoint', ckpt]);
      await untilKeys(h, 2000);
      // After at least one periodic write with progress in it.
      await new Promise((r) => setTimeout(r, 1200));
      child.kill('SIGKILL');
      await child.exited;
      const st = readState(ckpt);
      const m = st.inputs[0]!;
      const onTarget = await dbsize(h);
      t.ok(m.high > m.issued, `the last periodic write reserved [${m.issued}, ${m.high}) ahead of the sender`);
      t.ok(onTarget > st.totals.restored, `keys sent after that write are on the target (${onTarget} > ${st.totals.restored} recorded)`);
      const rerun = await replayCli([input, '--target', uri(h), '--checkpoint', ckpt, '--json', '-q']);
      t.equal(rerun.code, 0, `the rerun completes without BUSYKEY for the first run's keys${rerun.code !== 0 ? `: ${rerun.stderr} ${rerun.stdout.slice(0, 300)}` : ''}`);
      t.ok(rerun.report!.checkpoint!.resent > 0, `${rerun.report!.checkpoint!.resent} uncertain keys resent`);
      t.equal(rerun.report!.busy, 0, 'no busy key');
      t.equal(await dbsize(h), TOTAL, 'every key on the target');
      await verifyTarget(t, input, h, 'after the rerun');
    } finally {
      await h.stop();
    }
  });

  t.test('keys the target held before the first run still follow the policy', async (t) => {
    const late = keyName(TOTAL - 100);
    const lateOffset = offsetOf(late);
    await t.test('skip: a key in the uncertain window keeps its own value', async (t) => {
      const ckpt = join(fresh('skip-window'), 'replay.ckpt');
      const h = await startRedis();
      const c = new Redis({ host: h.host, port: h.port });
      try {
        await c.set(late, 'theirs');
        const child = replayChild([input, '--target', uri(h), '--max-rate', '2500', '--checkpoint', ckpt, '--on-busykey', 'skip']);
        await untilKeys(h, 2000);
        await new Promise((r) => setTimeout(r, 1200));
        child.kill('SIGKILL');
        await child.exited;
        const m = readState(ckpt).inputs[0]!;
        t.ok(lateOffset >= m.issued && lateOffset < m.high, `${late} (offset ${lateOffset}) lies in the uncertain window [${m.issued}, ${m.high})`);
        const rerun = await replayCli([input, '--target', uri(h), '--checkpoint', ckpt, '--on-busykey', 'skip', '--json', '-q']);
        t.equal(rerun.code, 0, `the rerun completes${rerun.code !== 0 ? `: ${rerun.stderr}` : ''}`);
        t.ok(rerun.report!.skippedBusy >= 1, `${rerun.report!.skippedBusy} keys left alone`);
        t.equal(await c.get(late), 'theirs', `${late} keeps the value it had before the first run`);
        t.equal(await dbsize(h), TOTAL, 'every key on the target');
      } finally {
        c.disconnect();
        await h.stop();
      }
    });

    await t.test('error: a pre-existing key stops the first run; a key never sent stops the rerun', async (t) => {
      const ckpt = join(fresh('error-busy'), 'replay.ckpt');
      const h = await startRedis();
      const c = new Redis({ host: h.host, port: h.port });
      try {
        await c.set(late, 'theirs');
        const first = await replayCli([input, '--target', uri(h), '--checkpoint', ckpt]);
        t.equal(first.code, 9, 'exit 9 before anything is sent');
        t.match(first.stderr, new RegExp(`already on the target.*\\n.*${late}`), `${late} is named`);
        t.equal(await dbsize(h), 1, 'nothing written');
        t.equal(existsSync(ckpt), false, 'no checkpoint: nothing was sent');

        // Now a first run interrupted on an empty target, and the key set before the rerun.
        await c.del(late);
        const child = replayChild([input, '--target', uri(h), '--max-rate', '2500', '--checkpoint', ckpt]);
        await untilKeys(h, 2000);
        child.kill('SIGINT');
        t.equal((await child.exited).code, 130, 'interrupted');
        const m = readState(ckpt).inputs[0]!;
        t.ok(lateOffset >= m.high, `${late} was never sent (offset ${lateOffset} >= ${m.high})`);
        await c.set(late, 'theirs');
        const held = await dbsize(h);
        const rerun = await replayCli([input, '--target', uri(h), '--checkpoint', ckpt]);
        t.equal(rerun.code, 9, `the rerun exits 9 (${rerun.stderr.split('\n')[0]})`);
        t.match(rerun.stderr, /^rdbmerge: conflict: 1 key\(s\) already on the target/m, 'exactly one key: the first run\'s own keys do not count');
        t.match(rerun.stderr, new RegExp(late), `${late} is named`);
        t.equal(await c.get(late), 'theirs', 'it keeps its value');
        t.equal(await dbsize(h), held, 'nothing written by the rerun');
      } finally {
        c.disconnect();
        await h.stop();
      }
    });
  });

  t.test('a damaged checkpoint is a typed error naming the file; nothing is sent', async (t) => {
    t.ok(existsSync(interrupted), 'the interrupted checkpoint of the SIGINT test is there');
    const h = await startRedis();
    try {
      const dir = fresh('damaged');
      const good = readFileSync(interrupted);
      const cases: Array<{ name: string; bytes: Buffer; code: number; msg: RegExp }> = [
        { name: 'flipped.ckpt', bytes: Buffer.from(good), code: 5, msg: /checksum: .*flipped\.ckpt: offset 14: CRC-32C/ },
        { name: 'truncated.ckpt', bytes: good.subarray(0, 10), code: 3, msg: /corrupt: .*truncated\.ckpt: offset 10: a checkpoint header of 18 bytes/ },
        { name: 'short.ckpt', bytes: good.subarray(0, good.length - 5), code: 3, msg: /corrupt: .*short\.ckpt: offset 10: a payload of \d+ bytes/ },
        { name: 'other.ckpt', bytes: Buffer.from('REDIS0011 not a checkpoint at all'), code: 3, msg: /corrupt: .*other\.ckpt: offset 0: the magic RDBMCKPT/ },
      ];
      cases[0]!.bytes[40] ^= 0x01;
      for (const c of cases) {
        const f = join(dir, c.name);
        writeFileSync(f, c.bytes);
        const r = await replayCli([input, '--target', uri(h), '--checkpoint', f]);
        t.equal(r.code, c.code, `${c.name}: exit ${c.code}`);
        t.match(r.stderr, c.msg, `${c.name}: the error names the file, offset and what was expected`);
        t.match(r.stderr, /hint: the checkpoint is damaged/, `${c.name}: a hint`);
        t.same(readFileSync(f), c.bytes, `${c.name}: left as it was`);
      }
      const nowhere = await replayCli([input, '--target', uri(h), '--checkpoint', join(dir, 'no-such-dir', 'x.ckpt')]);
      t.equal(nowhere.code, 2, 'a checkpoint in a missing directory: exit 2');
      t.match(nowhere.stderr, /its directory cannot be written \(ENOENT\)/, 'before anything is sent');
      t.equal(await dbsize(h), 0, 'nothing sent');
    } finally {
      await h.stop();
    }
  });

  t.test('a checkpoint from another input, other contents, other options or another target is refused', async (t) => {
    const dir = fresh('refused');
    const ckpt = join(dir, 'replay.ckpt');
    const target = `redis://127.0.0.1:${interruptedPort}`;
    const h = await startRedis();
    try {
      const mine = `redis://127.0.0.1:${h.port}`;
      // Rewritten for this server: the same state, another target in its options would be refused.
      copyFileSync(interrupted, ckpt);
      const other = join(dir, 'other.rdb');
      writeInput(other, 'zz');
      const cases: Array<{ what: string; args: string[]; msg: RegExp }> = [
        { what: 'another input', args: [other, '--target', target], msg: /belongs to another input: input 1 was .*in\.rdb, now .*other\.rdb/ },
        { what: 'another target', args: [input, '--target', mine], msg: /other options: target was "redis:\/\/127\.0\.0\.1:\d+", now/ },
        { what: 'another policy', args: [input, '--target', target, '--on-busykey', 'skip'], msg: /other options: onBusykey was "error", now "skip"/ },
        { what: 'another selection', args: [input, '--target', target, '--match', 'ck:1*'], msg: /other options: match was null, now "ck:1\*"/ },
        { what: 'another --now', args: [input, '--target', target, '--now', '2030-01-01T00:00:00Z'], msg: /written with --now .*, this run has 2030-01-01/ },
      ];
      for (const c of cases) {
        const r = await replayCli([...c.args, '--checkpoint', ckpt]);
        t.equal(r.code, 2, `${c.what}: exit 2`);
        t.match(r.stderr, c.msg, `${c.what}: ${r.stderr.split('\n')[0]}`);
      }
      // The same path, size and mtime with other bytes: told apart by the CRC-32C of its ends.
      const copy = join(dir, 'in.rdb');
      copyFileSync(input, copy);
      utimesSync(copy, 1_700_000_000, 1_700_000_000);
      const ck2 = join(dir, 'copy.ckpt');
      const child = replayChild([copy, '--target', mine, '--max-rate', '2500', '--checkpoint', ck2]);
      await untilKeys(h, 1000);
      child.kill('SIGINT');
      t.equal((await child.exited).code, 130, 'a checkpoint for the copy');
      const bytes = readFileSync(copy);
      bytes[bytes.length - 3] ^= 0xff; // inside the RDB's CRC-64
      writeFileSync(copy, bytes);
      utimesSync(copy, 1_700_000_000, 1_700_000_000);
      t.equal(statSync(copy).size, size, 'same size');
      const r = await replayCli([copy, '--target', mine, '--checkpoint', ck2]);
      t.equal(r.code, 2, 'other contents: exit 2');
      t.match(r.stderr, /belongs to another input: .*in\.rdb has other contents/, r.stderr.split('\n')[0]!);
      t.equal(await dbsize(h) < TOTAL, true, 'nothing more sent');
    } finally {
      await h.stop();
    }
  });

  t.test('stdin (-) as the input, with a checkpoint', async (t) => {
    const ckpt = join(fresh('stdin'), 'stdin.ckpt');
    const h = await startRedis();
    try {
      const bytes = readFileSync(input);
      const r = await replayCli(['-', '--target', uri(h), '--checkpoint', ckpt, '--json', '-q'], { stdin: bytes });
      t.equal(r.code, 0, `exit 0${r.code !== 0 ? `: ${r.stderr}` : ''}`);
      t.equal(r.report?.restored, TOTAL, `${TOTAL} keys restored from stdin`);
      t.equal(r.report?.inputs[0]?.file, '-', 'the input is named -');
      t.equal(await dbsize(h), TOTAL, 'every key on the target');
      const st = readState(ckpt);
      t.equal(st.inputs[0]!.path, '-', 'the checkpoint names stdin');
      t.equal(st.complete, true, 'complete');
      const again = await replayCli(['-', '--target', uri(h), '--checkpoint', ckpt], { stdin: bytes });
      t.match(again.stdout, /complete: nothing sent/, 'the same bytes again: nothing sent');
      const other = Buffer.from(bytes);
      other[other.length - 2] ^= 0xff;
      const refused = await replayCli(['-', '--target', uri(h), '--checkpoint', ckpt], { stdin: other });
      t.equal(refused.code, 2, 'other bytes on stdin: refused');
      const trunc = await replayCli(['-', '--target', uri(h)], { stdin: bytes.subarray(0, 100) });
      t.equal(trunc.code, 4, 'a truncated stream: exit 4');
      t.match(trunc.stderr, /truncated: stdin: offset 100/, 'named stdin');
    } finally {
      await h.stop();
    }
  });

  t.test('a rebuilt key cannot carry its LFU counter: counted; a RESTOREd one carries it', async (t) => {
    const file = join(fresh('lfu-rebuild'), 'lfu.rdb');
    const w = new RdbWriter({ version: 10 });
    w.begin();
    w.selectDb(0, 2, 0);
    const big: Value = { type: 'list', value: Array.from({ length: 3000 }, (_, i) => te.encode(`element-${i}-${randomBytes(300).toString('hex')}`)) };
    const small: Value = { type: 'string', value: te.encode('small') };
    for (const [name, v] of [['big', big], ['small', small]] as const) {
      const enc = encodeValue(v, 10, { key: te.encode(name) });
      if (isDropped(enc)) throw new Error('test: dropped');
      w.key({ key: te.encode(name), type: enc.type, payload: enc.payload, expireAt: -1, idle: -1, freq: 42 });
    }
    w.end();
    writeFileSync(file, w.drain());
    const h = await startRedis({ args: ['--maxmemory-policy', 'allkeys-lfu', '--proto-max-bulk-len', '1mb'] });
    const c = new Redis({ host: h.host, port: h.port });
    try {
      const r = await replayCli([file, '--target', uri(h), '--json', '-q']);
      t.equal(r.code, 0, `exit 0${r.code !== 0 ? `: ${r.stderr}` : ''}`);
      t.equal(r.report?.rebuilt, 1, 'the big list is rebuilt');
      t.equal(r.report?.rebuiltLruLfuLost, 1, 'and counted as losing its LFU counter');
      t.equal(await c.llen('big'), 3000, 'whole');
      t.equal(Number(await c.call('OBJECT', 'FREQ', 'small')), 42, 'the RESTOREd key carries FREQ 42');
      const text = await replayCli([file, '--target', uri(h), '--on-busykey', 'replace']);
      t.match(text.stdout, /1 rebuilt key\(s\) start with a fresh LRU\/LFU/, 'the human report says so');
    } finally {
      c.disconnect();
      await h.stop();
    }
  });
}
