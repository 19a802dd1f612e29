/**
 * `npm run bench`: speed and memory of rdbmerge against a reference measured in the same run.
 *
 * Data: ../shared/bench/gen_dataset.py (1,000,000 keys, a game-server mix) loaded into a real
 * redis-server with `redis-cli --pipe` and saved; built once and cached in .bench-cache/.
 * Each case runs in its own process under /usr/bin/time, which reports its peak RSS.
 * Prints a table and writes bench-results.json beside BENCHMARKS.md's command.
 *
 * Usage: npm run bench [-- --keys N] [-- --only parse,decode,...]
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, statSync, writeFileSync, createReadStream } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = dirname(fileURLToPath(import.meta.url));
const ROOT = resolve(HERE, '..', '..');
const CACHE = join(ROOT, '.bench-cache');
const GEN = resolve(ROOT, '..', 'shared', 'bench', 'gen_dataset.py');
const NODE = process.execPath;
const BIN = join(ROOT, 'dist', 'src', 'bin.js');
const WORKER = join(HERE, 'worker.js');

interface Measured {
  seconds: number;
  maxRssMb: number;
  stdout: string;
}

export interface Row {
  case: string;
  tool: string;
  keys: number;
  bytes: number;
  seconds: number;
  keysPerSec: number;
  mbPerSec: number;
  peakRssMb: number;
  note?: string;
}

function log(msg: string): void {
  process.stderr.write(`bench: ${msg}\n`);
}

/** Runs a command under /usr/bin/time -f %M to get its peak RSS; wall time measured here. */
function measure(cmd: string, args: string[], opts: { input?: string } = {}): Promise<Measured> {
  return new Promise((resolvePromise, reject) => {
    const t0 = performance.now();
    const child = spawn('/usr/bin/time', ['-f', '__MAXRSS__%M', cmd, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => { out += d.toString(); });
    child.stderr.on('data', (d: Buffer) => { err += d.toString(); });
    if (opts.input !== undefined) createReadStream(opts.input).pipe(child.stdin);
    else child.stdin.end();
    child.on('close', (code) => {
      const seconds = (performance.now() - t0) / 1000;
      const m = /__MAXRSS__(\d+)/.exec(err);
      if (code !== 0) {
        reject(new Error(`${cmd} ${args.join(' ')} exited ${code}: ${err.slice(-2000)}`));
        return;
      }
      resolvePromise({ seconds, maxRssMb: m ? Number(m[1]) / 1024 : NaN, stdout: out });
    });
  });
}

function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const s = createServer();
    s.once('error', rej);
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      const port = typeof a === 'object' && a !== null ? a.port : 0;
      s.close(() => res(port));
    });
  });
}

function redisCli(port: number, ...args: string[]): string {
  const r = spawnSync('redis-cli', ['-p', String(port), ...args], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`redis-cli ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

export interface Server {
  port: number;
  dir: string;
  pid: number;
  stop(): void;
}

/** Starts a throwaway redis-server on a free port in a temp dir (never 6379). */
export async function startServer(extra: string[] = [], dbfile?: string): Promise<Server> {
  const dir = mkdtempSync(join(tmpdir(), 'rdbmerge-bench-'));
  if (dbfile !== undefined) spawnSync('cp', [dbfile, join(dir, 'dump.rdb')]);
  const port = await freePort();
  const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--dbfilename', 'dump.rdb',
    '--save', '', '--appendonly', 'no', '--logfile', join(dir, 'redis.log'), ...extra], { stdio: 'ignore', detached: false });
  const pid = child.pid ?? -1;
  const deadline = Date.now() + 600_000;
  for (;;) {
    // PING answers LOADING while a dump loads, and INFO can show loading:0 before loading starts.
    const ping = spawnSync('redis-cli', ['-p', String(port), 'PING'], { encoding: 'utf8' });
    const r = spawnSync('redis-cli', ['-p', String(port), 'INFO', 'persistence'], { encoding: 'utf8' });
    if (ping.stdout.trim() === 'PONG' && r.status === 0 && /loading:0/.test(r.stdout)) break;
    if (Date.now() > deadline) throw new Error(`redis-server on ${port} did not come up`);
    await new Promise((s) => setTimeout(s, 100));
  }
  return {
    port,
    dir,
    pid,
    stop() {
      try { process.kill(pid, 'SIGKILL'); } catch { /* already gone */ }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Builds (once) an RDB of `keys` keys from gen_dataset.py; returns its path. */
export async function dataset(keys: number, shards = 0): Promise<{ file: string; shardFiles: string[] }> {
  mkdirSync(CACHE, { recursive: true });
  const base = join(CACHE, `game-${keys}`);
  const file = `${base}.rdb`;
  const shardFiles = Array.from({ length: shards }, (_, i) => `${base}.shard${shards}-${String(i).padStart(2, '0')}.rdb`);
  if (existsSync(file) && shardFiles.every((f) => existsSync(f))) return { file, shardFiles };
  const resp = `${base}.resp`;
  log(`generating ${keys} keys with gen_dataset.py${shards ? ` (${shards} shards)` : ''}...`);
  const g = spawnSync('python3', [GEN, String(keys), resp, ...(shards ? ['--shards', String(shards)] : [])], { stdio: ['ignore', 'ignore', 'inherit'] });
  if (g.status !== 0) throw new Error('gen_dataset.py failed');
  const load = async (respFile: string, out: string): Promise<void> => {
    const srv = await startServer();
    try {
      const r = spawnSync('sh', ['-c', `redis-cli -p ${srv.port} --pipe < '${respFile}'`], { encoding: 'utf8', maxBuffer: 1 << 26 });
      if (r.status !== 0) throw new Error(`redis-cli --pipe: ${r.stderr}`);
      redisCli(srv.port, 'SAVE');
      renameSync(join(srv.dir, 'dump.rdb'), out);
    } finally {
      srv.stop();
    }
  };
  if (!existsSync(file)) await load(resp, file);
  for (let i = 0; i < shards; i++) {
    if (!existsSync(shardFiles[i]!)) await load(`${resp}.${i}`, shardFiles[i]!);
    rmSync(`${resp}.${i}`, { force: true });
  }
  rmSync(resp, { force: true });
  return { file, shardFiles };
}

function row(c: string, tool: string, keys: number, bytes: number, m: Measured, note?: string): Row {
  return {
    case: c,
    tool,
    keys,
    bytes,
    seconds: m.seconds,
    keysPerSec: keys / m.seconds,
    mbPerSec: bytes / 1e6 / m.seconds,
    peakRssMb: m.maxRssMb,
    ...(note !== undefined ? { note } : {}),
  };
}

function fmt(rows: Row[]): string {
  const head = ['case', 'tool', 'keys', 'seconds', 'keys/s', 'MB/s', 'peak RSS MB'];
  const lines = rows.map((r) => [r.case, r.tool, String(r.keys), r.seconds.toFixed(2), Math.round(r.keysPerSec).toLocaleString('en-US'),
    r.mbPerSec.toFixed(1), r.peakRssMb.toFixed(0)]);
  const w = head.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i]!.length)));
  const out = [head.map((h, i) => h.padEnd(w[i]!)).join('  '), w.map((x) => '-'.repeat(x)).join('  ')];
  for (const l of lines) out.push(l.map((c, i) => (i < 2 ? c.padEnd(w[i]!) : c.padStart(w[i]!))).join('  '));
  return out.join('\n');
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  const keysArg = argv.indexOf('--keys');
  const keys = keysArg >= 0 ? Number(argv[keysArg + 1]) : 1_000_000;
  const onlyArg = argv.indexOf('--only');
  const only = onlyArg >= 0 ? new Set(argv[onlyArg + 1]!.split(',')) : null;
  const want = (c: string): boolean => only === null || only.has(c);
  if (!existsSync(BIN)) throw new Error('run `npm run build` first');
  const { file } = await dataset(keys);
  const size = statSync(file).size;
  log(`dataset ${file}: ${(size / 1e6).toFixed(1)} MB, ${keys} keys`);
  const rows: Row[] = [];
  const cases = (await import('./cases.js')).cases;
  // Reference first, so the OS page cache is equally warm for everyone.
  spawnSync('cat', [file], { stdio: 'ignore' });
  const ref = await measure('redis-check-rdb', [file]);
  const refRow = row('check', 'redis-check-rdb', keys, size, ref);
  rows.push(refRow);
  for (const c of cases) {
    if (!want(c.name)) continue;
    log(`case ${c.name}...`);
    const r = await c.run({ file, size, keys, measure, node: NODE, bin: BIN, worker: WORKER, startServer, dataset });
    rows.push(...r);
  }
  const table = fmt(rows);
  process.stdout.write(`${table}\n\n`);
  for (const r of rows) {
    if (r.tool === 'redis-check-rdb') continue;
    process.stdout.write(`${r.case}: ${(r.keysPerSec / refRow.keysPerSec).toFixed(2)}x redis-check-rdb keys/s${r.note ? ` (${r.note})` : ''}\n`);
  }
  writeFileSync(join(CACHE, 'last-results.json'), JSON.stringify({ date: new Date().toISOString(), keys, size, rows }, null, 1));
  void readFileSync;
}

main().catch((e: unknown) => {
  process.stderr.write(`bench: ${String((e as Error).stack ?? e)}\n`);
  process.exit(1);
});
