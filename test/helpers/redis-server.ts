/**
 * Real redis-server processes for integration tests: each on a free port of 127.0.0.1, in its own
 * temporary directory, with no persistence of its own, optionally loading a given RDB file as its
 * dump.rdb. Readiness is judged only by the protocol (PING answers and `loading:0`), never by the
 * exit code: some versions exit 0 after refusing a file.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants as fsc, copyFileSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, connect, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';

export interface RedisHandle {
  port: number;
  pid: number;
  /** The server's working directory (dump.rdb, redis.log); removed by `stop()`. */
  dir: string;
  host: '127.0.0.1';
  /** The server's log so far (its log file, then anything it printed on stdout/stderr). */
  log(): string;
  /** SIGTERM, SIGKILL after 5 s, wait for exit, remove `dir`. Safe to call twice. */
  stop(): Promise<void>;
}

export interface StartRedisOptions {
  /** Copied into the temporary directory as dump.rdb before the server starts. */
  rdbFile?: string;
  /** Extra arguments after the standard ones (later arguments win in redis-server). */
  args?: string[];
  /** The server binary; default: `redis-server` found on PATH. */
  bin?: string;
  /** How long to wait for PING and `loading:0`; default 20,000 ms. */
  timeoutMs?: number;
  /**
   * Picks the port of each attempt (default: one the OS hands out). A cluster node needs port +
   * 10000 free as well, for its cluster bus.
   */
  pickPort?: () => Promise<number>;
  /** This port instead of a free one (a server restarted where it was); no retry if it is taken. */
  port?: number;
  /**
   * TLS only: the server listens on its port with TLS (`--port 0 --tls-port PORT`), and the
   * readiness checks connect over TLS with these files (client certificate when the server asks).
   */
  tls?: TlsServerFiles;
}

/** Certificates for a TLS-only server and the helper's own TLS probes. */
export interface TlsServerFiles {
  cert: string;
  key: string;
  ca: string;
  /** `--tls-auth-clients`; default 'no'. */
  authClients?: 'no' | 'yes' | 'optional';
  /** The client certificate the probes present (needed with authClients 'yes'). */
  clientCert?: string;
  clientKey?: string;
}

/** The server did not come up: it exited, refused its file, or did not answer in time. */
export class RedisStartError extends Error {
  override readonly name = 'RedisStartError';
  constructor(
    message: string,
    /** The whole log the server wrote. */
    readonly log: string,
    /** Exit code or signal, when the server exited. */
    readonly exit: { code: number | null; signal: NodeJS.Signals | null } | undefined,
    /** True when the port was taken under us (the caller retries on another). */
    readonly addressInUse: boolean,
  ) {
    super(message);
  }
}

const HOST = '127.0.0.1';
const LOG_TAIL_LINES = 25;

/** Every server started here and not yet stopped, killed if the test process exits early. */
const live = new Set<ChildProcess>();
let exitHookInstalled = false;
function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const child of live) {
      try {
        child.kill('SIGKILL');
      } catch {
        // already gone
      }
    }
  });
}

/** Path of an executable `name` on PATH, or undefined. */
export function findOnPath(name: string): string | undefined {
  for (const dir of (process.env['PATH'] ?? '').split(delimiter)) {
    if (dir === '') continue;
    const p = join(dir, name);
    try {
      accessSync(p, fsc.X_OK);
      return p;
    } catch {
      // not here
    }
  }
  return undefined;
}

/** Anything with tap's `fail`; kept structural so helpers do not depend on tap's types. */
export interface FailingTest {
  fail(message: string): unknown;
}

/**
 * The path of redis-server (`$REDIS_SERVER` if set, else from PATH). When there is none the test
 * FAILS, in CI and locally alike: a skipped integration test must never count as a passing one.
 * Callers stop when this returns undefined.
 */
export function requireRedisServer(t: FailingTest): string | undefined {
  const fromEnv = process.env['REDIS_SERVER'];
  if (fromEnv !== undefined && fromEnv !== '') {
    try {
      accessSync(fromEnv, fsc.X_OK);
      return fromEnv;
    } catch {
      t.fail(`REDIS_SERVER=${fromEnv} is not an executable file`);
      return undefined;
    }
  }
  const found = findOnPath('redis-server');
  if (found !== undefined) return found;
  if (process.env['CI'] === 'true') {
    t.fail('redis-server is not on PATH in CI: the CI image must install it (apt-get install -y redis-server); integration tests are never skipped');
  } else {
    t.fail('redis-server is not on PATH: install it (apt-get install -y redis-server) or set REDIS_SERVER=/path/to/redis-server; this test does not skip');
  }
  return undefined;
}

/** Can a server listen on this port of 127.0.0.1 right now? */
export function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.unref();
    srv.once('error', () => resolve(false));
    srv.listen(port, HOST, () => srv.close(() => resolve(true)));
  });
}

/**
 * A port for a Redis Cluster node: it and its cluster bus port (port + 10000) both free, below the
 * kernel's ephemeral range so that outgoing connections do not take them.
 */
export async function freeClusterPort(): Promise<number> {
  for (;;) {
    const port = 10000 + Math.floor(Math.random() * 12000);
    if ((await portFree(port)) && (await portFree(port + 10000))) return port;
  }
}

/** A port the OS just handed out on 127.0.0.1 (never 6379). */
async function freePort(): Promise<number> {
  for (;;) {
    const port = await new Promise<number>((resolve, reject) => {
      const srv = createServer();
      srv.unref();
      srv.once('error', reject);
      srv.listen(0, HOST, () => {
        const addr = srv.address();
        const p = typeof addr === 'object' && addr !== null ? addr.port : 0;
        srv.close(() => resolve(p));
      });
    });
    if (port !== 0 && port !== 6379) return port;
  }
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function encodeCommand(args: string[]): Buffer {
  const parts: Buffer[] = [Buffer.from(`*${args.length}\r\n`)];
  for (const a of args) {
    const b = Buffer.from(a);
    parts.push(Buffer.from(`$${b.length}\r\n`), b, Buffer.from('\r\n'));
  }
  return Buffer.concat(parts);
}

/**
 * Sends one command on a fresh connection and returns its first reply line or bulk body: enough
 * for PING and INFO while the server may not be up yet (no client library, no reconnect logic).
 * Error replies resolve as their text starting with '-'.
 */
export function probe(port: number, args: string[], timeoutMs = 2000, tls?: TlsServerFiles): Promise<string> {
  return new Promise((resolve, reject) => {
    let sock: Socket | undefined;
    let buf: Buffer = Buffer.alloc(0);
    let done = false;
    const timer = setTimeout(() => finish(new Error(`no reply to ${args[0]} within ${timeoutMs} ms`)), timeoutMs);
    function finish(err: Error | undefined, value?: string): void {
      if (done) return;
      done = true;
      clearTimeout(timer);
      sock?.destroy();
      if (err !== undefined) reject(err);
      else resolve(value!);
    }
    if (tls === undefined) {
      sock = connect({ host: HOST, port }, () => sock!.write(encodeCommand(args)));
    } else {
      sock = tlsConnect({
        host: HOST,
        port,
        ca: readFileSync(tls.ca),
        ...(tls.clientCert !== undefined && tls.clientKey !== undefined ? { cert: readFileSync(tls.clientCert), key: readFileSync(tls.clientKey) } : {}),
      }, () => sock!.write(encodeCommand(args)));
    }
    sock.on('error', (e) => finish(e));
    sock.on('close', () => finish(new Error('connection closed before a reply')));
    sock.on('data', (chunk: Buffer) => {
      buf = buf.length === 0 ? chunk : Buffer.concat([buf, chunk]);
      const eol = buf.indexOf('\r\n');
      if (eol < 0) return;
      const head = buf.subarray(0, eol).toString('latin1');
      if (head[0] === '$') {
        const n = Number(head.slice(1));
        if (n < 0) return finish(undefined, '');
        if (buf.length < eol + 2 + n + 2) return;
        return finish(undefined, buf.subarray(eol + 2, eol + 2 + n).toString('utf8'));
      }
      // '+PONG' -> 'PONG'; ':12' -> '12'; an error keeps its '-'.
      finish(undefined, head[0] === '-' ? head : head.slice(1));
    });
  });
}

function readLogFile(dir: string): string {
  try {
    return readFileSync(join(dir, 'redis.log'), 'utf8');
  } catch {
    return '';
  }
}

function tail(text: string, lines = LOG_TAIL_LINES): string {
  const all = text.trimEnd().split('\n');
  return all.slice(-lines).join('\n');
}

/**
 * Starts redis-server and resolves once it answers PING and reports `loading:0`.
 * @throws RedisStartError with the log when the server exits, refuses its file or times out.
 */
export async function startRedis(opts: StartRedisOptions = {}): Promise<RedisHandle> {
  const bin = opts.bin ?? findOnPath('redis-server') ?? '/usr/bin/redis-server';
  if (opts.port !== undefined) return startOnce(bin, opts.port, opts);
  let last: RedisStartError | undefined;
  // A port found free can be taken before redis binds it; then try another.
  for (let attempt = 0; attempt < 5; attempt++) {
    try {
      return await startOnce(bin, await (opts.pickPort ?? freePort)(), opts);
    } catch (e) {
      if (e instanceof RedisStartError && e.addressInUse) {
        last = e;
        continue;
      }
      throw e;
    }
  }
  throw last!;
}

async function startOnce(bin: string, port: number, opts: StartRedisOptions): Promise<RedisHandle> {
  installExitHook();
  const dir = mkdtempSync(join(tmpdir(), 'rdbmerge-redis-'));
  if (opts.rdbFile !== undefined) copyFileSync(opts.rdbFile, join(dir, 'dump.rdb'));
  const args = [
    '--port', String(port), '--bind', HOST, '--dir', dir, '--dbfilename', 'dump.rdb',
    '--save', '', '--appendonly', 'no', '--logfile', join(dir, 'redis.log'), '--daemonize', 'no',
    ...(opts.tls !== undefined ? [
      '--port', '0', '--tls-port', String(port), '--tls-cert-file', opts.tls.cert, '--tls-key-file', opts.tls.key,
      '--tls-ca-cert-file', opts.tls.ca, '--tls-auth-clients', opts.tls.authClients ?? 'no',
    ] : []),
    ...(opts.args ?? []),
  ];
  let output = '';
  const child = spawn(bin, args, { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
  live.add(child);
  const keep = (chunk: Buffer): void => {
    output += chunk.toString('utf8');
    if (output.length > 64 * 1024) output = output.slice(-32 * 1024);
  };
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);

  let exit: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  let spawnError: Error | undefined;
  const exited = new Promise<void>((resolve) => {
    child.once('exit', (code, signal) => {
      exit = { code, signal };
      live.delete(child);
      resolve();
    });
    child.once('error', (e) => {
      spawnError = e;
      live.delete(child);
      resolve();
    });
  });

  const log = (): string => {
    const file = readLogFile(dir);
    return output === '' ? file : `${file}${file.endsWith('\n') || file === '' ? '' : '\n'}${output}`;
  };

  let stopped: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopped ??= (async () => {
      if (exit === undefined && spawnError === undefined) {
        child.kill('SIGTERM');
        const killTimer = setTimeout(() => child.kill('SIGKILL'), 5000);
        await exited;
        clearTimeout(killTimer);
      }
      rmSync(dir, { recursive: true, force: true });
    })();
    return stopped;
  };

  const fail = async (why: string): Promise<never> => {
    const text = log();
    await stop();
    const inUse = /address already in use/i.test(text);
    const how = exit !== undefined ? ` (exit code ${exit.code}, signal ${exit.signal})` : '';
    throw new RedisStartError(
      `redis-server on port ${port} ${why}${how}${opts.rdbFile !== undefined ? ` loading ${opts.rdbFile}` : ''}; log tail:\n${tail(text)}`,
      text,
      exit,
      inUse,
    );
  };

  const deadline = Date.now() + (opts.timeoutMs ?? 20_000);
  for (;;) {
    if (spawnError !== undefined) return fail(`could not be started: ${spawnError.message}`);
    if (exit !== undefined) return fail('exited before it was ready');
    if (Date.now() > deadline) return fail(`was not ready within ${opts.timeoutMs ?? 20_000} ms`);
    try {
      const pong = await probe(port, ['PING'], 2000, opts.tls);
      if (pong === 'PONG') {
        const info = await probe(port, ['INFO', 'persistence'], 2000, opts.tls);
        // Whoever answers must be our child: if another test's server took the port first, ours
        // fails to bind and exits, and the loop above retries on a new port.
        const server = /^loading:0\r?$/m.test(info) ? await probe(port, ['INFO', 'server'], 2000, opts.tls) : '';
        if (new RegExp(`^process_id:${child.pid}\\r?$`, 'm').test(server)) break;
      }
    } catch {
      // not listening yet, or closed on us: look again shortly
    }
    // The child's exit ends the wait early; otherwise look again in 50 ms.
    await Promise.race([delay(50), exited]);
  }

  return { port, pid: child.pid!, dir, host: HOST, log, stop };
}

/** Total keys over all databases, from INFO keyspace. */
export async function keyCount(port: number): Promise<{ total: number; perDb: Record<number, number> }> {
  const info = await probe(port, ['INFO', 'keyspace']);
  const perDb: Record<number, number> = {};
  let total = 0;
  for (const m of info.matchAll(/^db(\d+):keys=(\d+)/gm)) {
    perDb[Number(m[1])] = Number(m[2]);
    total += Number(m[2]);
  }
  return { total, perDb };
}

export interface BootRdbOptions {
  /** Extra server arguments (e.g. a fixture's loadConfig). */
  args?: string[];
  bin?: string;
  /** Keys the server must report after loading; default: at least one. */
  expectKeys?: number;
}

/**
 * Starts a server on `file` and checks that it really loaded it: the log says "DB loaded from
 * disk" and INFO keyspace shows keys (or exactly `expectKeys`).
 * @throws RedisStartError when the server does not come up; Error when it came up without the data.
 */
export async function bootRdb(file: string, opts: BootRdbOptions = {}): Promise<RedisHandle> {
  const h = await startRedis({ rdbFile: file, ...(opts.args ? { args: opts.args } : {}), ...(opts.bin ? { bin: opts.bin } : {}) });
  try {
    const text = h.log();
    if (!/DB loaded from disk/.test(text)) {
      throw new Error(`redis-server came up but did not report loading ${file}; log tail:\n${tail(text)}`);
    }
    const { total, perDb } = await keyCount(h.port);
    const ok = opts.expectKeys === undefined ? total > 0 : total === opts.expectKeys;
    if (!ok) {
      throw new Error(
        `redis-server loaded ${file} with ${total} keys (${JSON.stringify(perDb)}), expected ${opts.expectKeys ?? 'at least 1'}; log tail:\n${tail(text)}`,
      );
    }
    return h;
  } catch (e) {
    await h.stop();
    throw e;
  }
}

/**
 * Starts a server on `file` expecting it to refuse the file; returns the server's log.
 * @throws Error when the server comes up (it is stopped first).
 */
export async function expectBootFails(file: string, opts: { args?: string[]; bin?: string; timeoutMs?: number } = {}): Promise<string> {
  let h: RedisHandle;
  try {
    h = await startRedis({ rdbFile: file, ...opts });
  } catch (e) {
    if (e instanceof RedisStartError) return e.log;
    throw e;
  }
  const text = h.log();
  await h.stop();
  throw new Error(`redis-server accepted ${file}, expected it to refuse the file; log tail:\n${tail(text)}`);
}
