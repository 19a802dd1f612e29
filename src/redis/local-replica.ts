/**
 * `fetch --via replica`: the classic way, for sources where it is wanted. For each source a local
 * redis-server (on PATH or `--redis-server PATH`) on a free port of 127.0.0.1, in its own temp
 * directory inside the output directory (so its dump is renamed, not copied): REPLICAOF the
 * source, wait for `master_link_status:up` and `master_sync_in_progress:0`, REPLICAOF NO ONE,
 * SAVE, verify the dump with the reader, move it to DIR/<host>-<port>.rdb with its meta file.
 * The server is shut down (SHUTDOWN NOSAVE, then SIGKILL by pid) and its directory removed
 * whatever happens.
 *
 * The source's password never goes on the replica's command line (where `ps` would show it): it
 * is set with CONFIG SET masterauth / masteruser once the replica is up.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants as fsc } from 'node:fs';
import { mkdtemp, open, rename, rm, stat } from 'node:fs/promises';
import { createServer } from 'node:net';
import { delimiter, join } from 'node:path';
import { InterruptedError, NetworkError, UsageError } from '../errors.js';
import { sourceFileStem, verifyRdb, writeMeta } from '../io/snapshot-files.js';
import type { AttemptProgress, Fetched, FetchOptions } from '../pipelines/fetch.js';
import { redactUri, type RedisUri } from '../values.js';
import { openClient, type RespConnection } from './connection.js';
import { rawCommand, SyncRefusedError } from './replication.js';
import { RespError, type Reply } from './resp.js';

const POLL_MS = 100;

/** redis-server on PATH, or the given path; checked to be executable. */
export function findRedisServer(given?: string): string {
  if (given !== undefined) {
    try {
      accessSync(given, fsc.X_OK);
      return given;
    } catch {
      throw new UsageError(`--redis-server ${given}: not an executable file`);
    }
  }
  for (const dir of (process.env['PATH'] ?? '').split(delimiter)) {
    if (dir === '') continue;
    const p = join(dir, 'redis-server');
    try {
      accessSync(p, fsc.X_OK);
      return p;
    } catch {
      // not here
    }
  }
  throw new UsageError('--via replica needs redis-server: none on PATH', 'install it, or give --redis-server PATH');
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const a = srv.address();
      const p = typeof a === 'object' && a !== null ? a.port : 0;
      srv.close(() => resolve(p));
    });
  });
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted === true) {
      reject(new InterruptedError());
      return;
    }
    const t = setTimeout(resolve, ms);
    signal?.addEventListener('abort', () => {
      clearTimeout(t);
      reject(new InterruptedError());
    }, { once: true });
  });
}

function text(r: Reply): string {
  return Buffer.isBuffer(r) ? r.toString('utf8') : String(r);
}

function field(info: string, name: string): string | undefined {
  const m = new RegExp(`^${name}:(.*?)\\r?$`, 'm').exec(info);
  return m === null ? undefined : m[1];
}

async function ok(c: RespConnection, args: string[], what: string): Promise<Reply> {
  const r = await c.call(args);
  if (r instanceof RespError) throw new NetworkError(`local replica: ${what} failed: ${r.message.slice(0, 200)}`);
  return r;
}

async function readLogTail(path: string): Promise<string> {
  try {
    const fh = await open(path, 'r');
    try {
      const size = (await fh.stat()).size;
      const n = Math.min(size, 16 * 1024);
      const buf = Buffer.alloc(n);
      await fh.read(buf, 0, n, size - n);
      return buf.toString('utf8');
    } finally {
      await fh.close();
    }
  } catch {
    return '';
  }
}

/**
 * One attempt through a local replica.
 * @throws SyncRefusedError when the source refuses the replica's AUTH; NetworkError when the
 *   replica cannot start, the link does not come up, or the sync stalls past the idle timeout
 */
export async function fetchViaReplica(uri: RedisUri, opts: FetchOptions, progress: AttemptProgress): Promise<Fetched> {
  const bin = findRedisServer(opts.redisServer);
  const name = redactUri(uri);
  const idleMs = opts.idleTimeoutMs ?? 60_000;
  const stem = sourceFileStem(uri);
  const dest = join(opts.outDir, `${stem}.rdb`);
  const metaPath = join(opts.outDir, `${stem}.meta.json`);
  progress('connecting', 0, null, 0);
  const started = performance.now();

  // The source first: a wrong password fails here, fast, and INFO gives the version.
  const info = await rawCommand(uri, ['INFO', 'server'], {
    connectTimeoutMs: opts.connectTimeoutMs ?? 10_000,
    idleTimeoutMs: idleMs,
    ...(opts.tls !== undefined ? { tls: opts.tls } : {}),
  });
  if (typeof info !== 'string' && info.error.startsWith('NOAUTH')) {
    throw new SyncRefusedError(`${name}: the server wants a password (NOAUTH)`, 'give it in the URI (redis://:PASSWORD@host) or REDISCLI_AUTH');
  }
  const serverVersion = typeof info === 'string' ? (/^(?:valkey_version|redis_version):(\S+)/m.exec(info)?.[1] ?? null) : null;

  const dir = await mkdtemp(join(opts.outDir, `.replica-${stem}-`));
  let child: ChildProcess | null = null;
  let exited: Promise<void> = Promise.resolve();
  let c: RespConnection | null = null;
  try {
    const port = await freePort();
    const args = [
      '--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--dbfilename', 'dump.rdb', '--save', '',
      '--appendonly', 'no', '--daemonize', 'no', '--logfile', join(dir, 'redis.log'), '--protected-mode', 'yes',
      '--repl-diskless-load', 'disabled',
    ];
    if (uri.tls) {
      args.push('--tls-replication', 'yes');
      if (opts.tls?.caFile !== undefined) args.push('--tls-ca-cert-file', opts.tls.caFile);
      if (opts.tls?.certFile !== undefined) args.push('--tls-cert-file', opts.tls.certFile);
      if (opts.tls?.keyFile !== undefined) args.push('--tls-key-file', opts.tls.keyFile);
    }
    const proc = spawn(bin, args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
    child = proc;
    let spawnError: Error | null = null;
    let exitInfo: string | null = null;
    let stderr = '';
    proc.stderr!.on('data', (b: Buffer) => {
      stderr = (stderr + b.toString('utf8')).slice(-4096);
    });
    exited = new Promise<void>((resolve) => {
      proc.once('exit', (code, signal) => {
        exitInfo = `exit code ${code}, signal ${signal}`;
        resolve();
      });
      proc.once('error', (e) => {
        spawnError = e;
        exitInfo = e.message;
        resolve();
      });
    });
    const local: RedisUri = { tls: false, host: '127.0.0.1', port, username: undefined, password: undefined, passwordFrom: undefined };
    const logPath = join(dir, 'redis.log');
    const why = async (what: string): Promise<NetworkError> => {
      const tail = (await readLogTail(logPath)).trim().split('\n').slice(-5).join(' | ');
      return new NetworkError(`local replica for ${name}: ${what}${exitInfo !== null ? ` (${exitInfo})` : ''}${tail !== '' ? `; log: ${tail}` : stderr !== '' ? `; ${stderr.trim()}` : ''}`);
    };

    // ---- up: PING answered and not loading ------------------------------------------------------
    const deadline = Date.now() + 20_000;
    for (;;) {
      if (spawnError !== null || exitInfo !== null) throw await why('redis-server did not start');
      try {
        c = await openClient(local, { connectTimeoutMs: 1000 });
        const p = await c.call(['PING']);
        if (p === 'PONG') break;
        c.close();
        c = null;
      } catch {
        c?.close();
        c = null;
      }
      if (Date.now() > deadline) throw await why('redis-server was not ready within 20 s');
      await sleep(50, opts.signal);
    }

    // ---- REPLICAOF the source ------------------------------------------------------------------
    if (uri.password !== undefined) await ok(c, ['CONFIG', 'SET', 'masterauth', uri.password], 'CONFIG SET masterauth');
    if (uri.username !== undefined) await ok(c, ['CONFIG', 'SET', 'masteruser', uri.username], 'CONFIG SET masteruser');
    await ok(c, ['REPLICAOF', uri.host, String(uri.port)], 'REPLICAOF');
    progress('waiting-bgsave', 0, null, 0);
    let lastBytes = -1;
    let lastChange = Date.now();
    for (;;) {
      await sleep(POLL_MS, opts.signal);
      if (exitInfo !== null) throw await why('redis-server stopped');
      const info = text(await ok(c, ['INFO', 'replication'], 'INFO replication'));
      const up = field(info, 'master_link_status') === 'up';
      const syncing = field(info, 'master_sync_in_progress') === '1';
      if (up && !syncing) break;
      const read = Number(field(info, 'master_sync_read_bytes') ?? '0');
      const total = Number(field(info, 'master_sync_total_bytes') ?? '-1');
      if (syncing && read > 0) progress('transferring', read, total > 0 ? total : null, 0);
      if (read !== lastBytes) {
        lastBytes = read;
        lastChange = Date.now();
      }
      // Refusals show only in the replica's log.
      const log = await readLogTail(logPath);
      const refused = /(NOAUTH|WRONGPASS|NOPERM)[^\n]*/.exec(log);
      if (refused !== null) throw new SyncRefusedError(`${name}: the source refused the local replica: ${refused[0].slice(0, 200)}`, 'check the user and password');
      // Silence: no sync byte for the idle timeout (keepalives while the source saves do not show
      // here, so the wait for its BGSAVE gets the same allowance, counted from the last byte).
      if (Date.now() - lastChange > idleMs) {
        throw await why(`no progress of the sync for ${Math.round(idleMs / 1000)} s (link ${up ? 'up' : 'down'}, ${read} bytes read)`);
      }
    }

    // ---- promote, save, verify, move -----------------------------------------------------------
    await ok(c, ['REPLICAOF', 'NO', 'ONE'], 'REPLICAOF NO ONE');
    // From now on the data no longer follows the source: this is the snapshot's time.
    const snapshotTime = Date.now();
    progress('saving', 0, null, 0);
    await ok(c, ['SAVE'], 'SAVE');
    const dump = join(dir, 'dump.rdb');
    const bytes = (await stat(dump)).size;
    progress('verifying', bytes, bytes, 0);
    const transferred = performance.now();
    const v = await verifyRdb(dump, opts.maxValueSize ?? 512 * 1024 * 1024, (keys) => progress('verifying', bytes, bytes, keys));
    const verified = performance.now();
    await rename(dump, dest);
    await writeMeta(metaPath, {
      source: name,
      host: uri.host,
      port: uri.port,
      via: 'replica',
      protocol: 'replicaof',
      serverVersion,
      rdbVersion: v.version,
      bytes,
      keys: v.keys,
      snapshotTime,
      snapshotTimeIso: new Date(snapshotTime).toISOString(),
      snapshotTimeFrom: 'replicaof-no-one',
      replid: null,
      offset: null,
      fetchedAt: new Date().toISOString(),
    });
    return {
      file: dest, meta: metaPath, bytes, keys: v.keys, rdbVersion: v.version, serverVersion, snapshotTime,
      transferSeconds: (transferred - started) / 1000, verifySeconds: (verified - transferred) / 1000,
    };
  } finally {
    if (c !== null && child !== null && child.exitCode === null) {
      try {
        // SHUTDOWN answers nothing when it works (the connection just closes).
        await Promise.race([c.call(['SHUTDOWN', 'NOSAVE']).catch(() => undefined), exited, sleep(2000)]);
      } catch {
        // fall through to the kill
      }
    }
    c?.close();
    if (child !== null && child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      const t = setTimeout(() => child!.kill('SIGKILL'), 3000);
      await exited;
      clearTimeout(t);
    }
    await rm(dir, { recursive: true, force: true });
  }
}
