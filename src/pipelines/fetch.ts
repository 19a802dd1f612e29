/**
 * `fetch`: RDB snapshots pulled off a fleet of live servers into one directory, as
 * `DIR/<host>-<port>.rdb` plus `DIR/<host>-<port>.meta.json` (which merge's `--rebase-expiry`
 * reads for the snapshot time). A library function: it returns the report (every source, ok or
 * failed) and never prints; events go to `onEvent`.
 *
 * Per source, one of:
 *  - native (default): the replication handshake over a raw socket (src/redis/replication.ts),
 *    the RDB streamed into a temp file beside its destination, verified by the reader (structure,
 *    CRC-64, key count), then renamed;
 *  - replica (`via: 'replica'`): a local redis-server started for the source (src/redis/local-replica.ts).
 *
 * The fleet: `parallel` sources at once; a failed attempt is retried `retries` times with
 * exponential backoff (not for a refused password); a source that fails for good does not stop
 * the others. Before anything is pulled, each source's INFO memory is checked against the memory
 * a BGSAVE fork may need and against the free disk of DIR: warnings, or a refusal with `strict`.
 */
import { mkdir, readFile, statfs } from 'node:fs/promises';
import { freemem } from 'node:os';
import { join } from 'node:path';
import { InterruptedError, NetworkError, ToolError, UsageError } from '../errors.js';
import { atomicWrite, type AtomicFile } from '../io/files.js';
import { sourceFileStem, verifyRdb, writeMeta, type FetchMeta } from '../io/snapshot-files.js';
import { parseClusterNodes } from '../merge/slots.js';
import { fetchViaReplica } from '../redis/local-replica.js';
import { openSnapshot, rawCommand, SyncRefusedError, type TlsSettings } from '../redis/replication.js';
import { parseUri, redactUri, type RedisUri } from '../values.js';
import { exitCodeFor } from '../errors.js';
import { isRdbError } from '../../native-free-parser/index.js';

export type FetchPhase = 'queued' | 'connecting' | 'waiting-bgsave' | 'transferring' | 'verifying' | 'saving' | 'done' | 'failed' | 'retrying';

/** What `fetch` tells as it goes (the CLI turns these into progress lines or CLI.md's JSON events). */
export type FetchEvent =
  | { event: 'progress'; source: string; phase: FetchPhase; bytes: number; total: number | null; keys: number; attempt: number; t: number }
  | { event: 'retry'; source: string; attempt: number; delayMs: number; error: string; t: number }
  | { event: 'source-done'; source: string; result: 'ok' | 'failed'; bytes: number; keys: number; seconds: number; error?: string; t: number }
  | { event: 'warning'; source: string | null; message: string; t: number };

export interface FetchOptions {
  /** The sources, in order (URIs already parsed; see `readSourcesFile` and `clusterMasters`). */
  sources: readonly RedisUri[];
  /** `--out-dir DIR`: created when missing. */
  outDir: string;
  /** `--via native|replica`. Default 'native'. */
  via?: 'native' | 'replica';
  /** `--protocol psync|sync` (native only). Default 'psync' (SYNC for servers without PSYNC). */
  protocol?: 'psync' | 'sync';
  /** `--parallel N`: sources at once. Default 8. */
  parallel?: number;
  /** `--retries N`: further attempts after a failed one. Default 2. */
  retries?: number;
  /** First backoff before a retry, doubled each time (at most 30 s). Default 1,000 ms. */
  retryDelayMs?: number;
  /** `--idle-timeout DURATION`: a silent connection fails after this long; a long transfer never does. Default 60,000 ms. */
  idleTimeoutMs?: number;
  /** Default 10,000 ms. */
  connectTimeoutMs?: number;
  /** `--strict`: refuse to start when a pre-check finds too little memory or disk. Default false (warn). */
  strict?: boolean;
  /** `--redis-server PATH` for `via: 'replica'`. Default: redis-server on PATH. */
  redisServer?: string;
  /** TLS settings for rediss:// sources. */
  tls?: TlsSettings & { caFile?: string; certFile?: string; keyFile?: string };
  /** `--max-value-size` for the verification read. Default 512 MiB. */
  maxValueSize?: number;
  onEvent?: (e: FetchEvent) => void;
  signal?: AbortSignal;
}

export interface FetchSourceReport {
  /** The URI without its password. */
  source: string;
  host: string;
  port: number;
  result: 'ok' | 'failed';
  /** `DIR/<host>-<port>.rdb`, or null when it failed. */
  file: string | null;
  meta: string | null;
  bytes: number;
  keys: number;
  rdbVersion: number | null;
  serverVersion: string | null;
  snapshotTime: number | null;
  attempts: number;
  /** Seconds of the last attempt from connecting to the RDB's last byte on disk (BGSAVE wait included). */
  transferSeconds: number | null;
  /** Seconds the verification read of the file took. */
  verifySeconds: number | null;
  seconds: number;
  error: string | null;
  /** The exit code the last error stands for (CLI.md), null when ok. */
  errorCode: number | null;
}

export interface FetchReport {
  command: 'fetch';
  outDir: string;
  via: 'native' | 'replica';
  protocol: 'psync' | 'sync';
  parallel: number;
  sources: FetchSourceReport[];
  ok: number;
  failed: number;
  bytes: number;
  keys: number;
  warnings: string[];
  seconds: number;
}

export { sourceFileStem, verifyRdb, writeMeta, type FetchMeta };

const DEFAULT_PARALLEL = 8;
const PROGRESS_MS = 250;

/**
 * The sources of a `--sources FILE`: one URI per line; blank lines and lines starting with `#`
 * (after spaces) are skipped; a trailing `# comment` after a URI is allowed.
 * @throws UsageError naming the file and line for a bad URI, or when the file cannot be read
 */
export async function readSourcesFile(path: string, env: Readonly<Record<string, string | undefined>> = {}): Promise<RedisUri[]> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    throw new UsageError(`cannot read --sources ${path}: ${(e as Error).message}`);
  }
  const out: RedisUri[] = [];
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!.replace(/\s+#.*$/, '').trim();
    if (line === '' || line.startsWith('#')) continue;
    out.push(parseUri(line, `--sources ${path}: line ${i + 1}`, env));
  }
  return out;
}

/**
 * Every master `CLUSTER NODES` on `uri` lists (not failed, with an address), as URIs with the
 * scheme and credentials of `uri`.
 * @throws NetworkError when the node cannot be reached or is not a cluster node
 */
export async function clusterMasters(uri: RedisUri, tls?: TlsSettings): Promise<RedisUri[]> {
  const r = await rawCommand(uri, ['CLUSTER', 'NODES'], tls !== undefined ? { tls } : {});
  if (typeof r !== 'string') {
    throw new NetworkError(`${redactUri(uri)}: CLUSTER NODES refused: ${r.error.slice(0, 200)}`, 'is it a cluster node? use plain SOURCE URIs for standalone servers');
  }
  const out: RedisUri[] = [];
  for (const s of parseClusterNodes(r, `CLUSTER NODES of ${redactUri(uri)}`)) {
    const addr = s.address ?? '';
    const i = addr.lastIndexOf(':');
    const host = addr.slice(0, i) || uri.host;
    const port = Number(addr.slice(i + 1));
    if (!Number.isInteger(port) || port < 1 || port > 65535) continue;
    out.push({ ...uri, host: host.replace(/^\[|\]$/g, ''), port });
  }
  if (out.length === 0) throw new NetworkError(`${redactUri(uri)}: CLUSTER NODES lists no master with an address`);
  return out;
}

function infoNumber(text: string, field: string): number | undefined {
  const m = new RegExp(`^${field}:(\\d+)\\r?$`, 'm').exec(text);
  return m === null ? undefined : Number(m[1]);
}

/** MemAvailable from /proc/meminfo (Linux), else os.freemem(). */
async function availableMemory(): Promise<number> {
  try {
    const m = /^MemAvailable:\s+(\d+) kB/m.exec(await readFile('/proc/meminfo', 'utf8'));
    if (m !== null) return Number(m[1]) * 1024;
  } catch {
    // not Linux
  }
  return freemem();
}

interface Precheck {
  usedMemory: number;
  /** Expected dump size: used_memory_dataset (an RDB is usually smaller), else used_memory. */
  expected: number;
  problems: string[];
}

const MB = (n: number): string => `${(n / 1024 / 1024).toFixed(0)} MB`;

async function precheckSource(uri: RedisUri, via: 'native' | 'replica', opts: FetchOptions): Promise<Precheck | string> {
  try {
    const r = await rawCommand(uri, ['INFO', 'memory'], {
      connectTimeoutMs: opts.connectTimeoutMs ?? 10_000,
      idleTimeoutMs: opts.idleTimeoutMs ?? 60_000,
      ...(opts.tls !== undefined ? { tls: opts.tls } : {}),
    });
    if (typeof r !== 'string') return `INFO memory refused (${r.error.split(' ', 1)[0]}): not checked`;
    const used = infoNumber(r, 'used_memory') ?? 0;
    const dataset = infoNumber(r, 'used_memory_dataset');
    const rss = infoNumber(r, 'used_memory_rss') ?? used;
    const total = infoNumber(r, 'total_system_memory') ?? 0;
    const problems: string[] = [];
    if (via === 'native' && total > 0 && total - rss < used) {
      problems.push(`the source uses ${MB(used)} on a machine of ${MB(total)}: the fork of its BGSAVE may need up to ${MB(used)} more (copy-on-write) than the ${MB(total - rss)} left`);
    }
    return { usedMemory: used, expected: dataset ?? used, problems };
  } catch (e) {
    return `pre-check failed: ${(e as Error).message}`;
  }
}

/** Runs `fn` over `items` with at most `n` at once, in order of start. */
async function pool<T>(items: readonly T[], n: number, fn: (item: T, i: number) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++;
      await fn(items[i]!, i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(n, items.length) }, worker));
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted === true) {
      reject(new InterruptedError());
      return;
    }
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(new InterruptedError());
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** A failed attempt that another attempt cannot fix. */
function permanent(e: unknown): boolean {
  return e instanceof SyncRefusedError || e instanceof UsageError || e instanceof InterruptedError;
}

/** The outcome of one successful attempt. */
export interface Fetched {
  file: string;
  meta: string;
  bytes: number;
  keys: number;
  rdbVersion: number;
  serverVersion: string | null;
  snapshotTime: number;
  transferSeconds: number;
  verifySeconds: number;
}

/** Progress of one attempt. */
export type AttemptProgress = (phase: FetchPhase, bytes: number, total: number | null, keys: number) => void;

/** One native attempt: handshake, stream to a temp file, verify, rename, meta. */
async function fetchNative(uri: RedisUri, opts: FetchOptions, progress: AttemptProgress): Promise<Fetched> {
  const stem = sourceFileStem(uri);
  const dest = join(opts.outDir, `${stem}.rdb`);
  const metaPath = join(opts.outDir, `${stem}.meta.json`);
  progress('connecting', 0, null, 0);
  const started = performance.now();
  const snap = await openSnapshot(uri, {
    protocol: opts.protocol ?? 'psync',
    idleTimeoutMs: opts.idleTimeoutMs ?? 60_000,
    connectTimeoutMs: opts.connectTimeoutMs ?? 10_000,
    ...(opts.tls !== undefined ? { tls: opts.tls } : {}),
    ...(opts.signal !== undefined ? { signal: opts.signal } : {}),
    onPhase: (p) => progress(p, 0, null, 0),
  });
  let file: AtomicFile;
  try {
    file = await atomicWrite(dest);
  } catch (e) {
    snap.close();
    throw e;
  }
  try {
    let last = 0;
    for await (const c of snap.chunks) {
      await file.write(c);
      const now = Date.now();
      if (now - last >= PROGRESS_MS) {
        last = now;
        progress('transferring', snap.bytes, snap.length, 0);
      }
    }
    // The RDB is complete: let the source go before the verification read.
    snap.close();
    progress('verifying', snap.bytes, snap.length, 0);
    await file.flush();
    const transferred = performance.now();
    let lastV = 0;
    const v = await verifyRdb(file.tempPath, opts.maxValueSize ?? 512 * 1024 * 1024, (keys) => {
      const now = Date.now();
      if (now - lastV >= PROGRESS_MS) {
        lastV = now;
        progress('verifying', snap.bytes, snap.length, keys);
      }
    });
    if (v.size !== snap.bytes) {
      throw new NetworkError(`${redactUri(uri)}: the RDB ends at byte ${v.size} of the ${snap.bytes} received`, 'the transfer carried bytes after the RDB: retry, or use --protocol sync');
    }
    const verified = performance.now();
    await file.commit();
    const meta: FetchMeta = {
      source: redactUri(uri),
      host: uri.host,
      port: uri.port,
      via: 'native',
      protocol: snap.protocol,
      serverVersion: snap.serverVersion,
      rdbVersion: v.version,
      bytes: snap.bytes,
      keys: v.keys,
      snapshotTime: snap.snapshotTime,
      snapshotTimeIso: new Date(snap.snapshotTime).toISOString(),
      snapshotTimeFrom: snap.snapshotTimeFrom,
      replid: snap.replid,
      offset: snap.offset,
      fetchedAt: new Date().toISOString(),
    };
    await writeMeta(metaPath, meta);
    return { file: dest, meta: metaPath, bytes: snap.bytes, keys: v.keys, rdbVersion: v.version, serverVersion: snap.serverVersion, snapshotTime: snap.snapshotTime,
      transferSeconds: (transferred - started) / 1000, verifySeconds: (verified - transferred) / 1000,
    };
  } finally {
    snap.close();
    await file.abort();
  }
}

function errorText(e: unknown): string {
  if (isRdbError(e) || e instanceof ToolError) return e.message;
  return e instanceof Error ? e.message : String(e);
}

/**
 * Resolves the sources and checks them before pulling: duplicates, memory and disk.
 * @returns warnings (problems found when not strict)
 * @throws UsageError for duplicate sources, or (strict) any problem found
 */
async function precheck(opts: FetchOptions, via: 'native' | 'replica', parallel: number, warn: (source: string | null, m: string) => void): Promise<void> {
  const seen = new Map<string, string>();
  for (const u of opts.sources) {
    const stem = sourceFileStem(u);
    const prev = seen.get(stem);
    if (prev !== undefined) throw new UsageError(`two sources would both be saved as ${stem}.rdb: ${prev} and ${redactUri(u)}`);
    seen.set(stem, redactUri(u));
  }
  const checks: Array<Precheck | string> = new Array(opts.sources.length);
  await pool(opts.sources, Math.max(parallel, 8), async (u, i) => {
    checks[i] = await precheckSource(u, via, opts);
  });
  const problems: Array<{ source: string | null; message: string }> = [];
  let expected = 0;
  const used: number[] = [];
  checks.forEach((c, i) => {
    const name = redactUri(opts.sources[i]!);
    if (typeof c === 'string') {
      // Not a refusal: the fetch itself reports (and retries) an unreachable source.
      warn(name, c);
      return;
    }
    for (const p of c.problems) problems.push({ source: name, message: p });
    // A replica holds a sync temp file and then its dump.rdb: twice the size at worst.
    expected += via === 'replica' ? 2 * c.expected : c.expected;
    used.push(c.usedMemory);
  });
  try {
    const fs = await statfs(opts.outDir);
    const free = fs.bavail * fs.bsize;
    if (expected > free) {
      problems.push({ source: null, message: `${opts.outDir} has ${MB(free)} free; the sources hold up to ${MB(expected)} of data (estimated from used_memory_dataset)` });
    }
  } catch {
    // statfs not available: nothing to compare
  }
  if (via === 'replica' && used.length > 0) {
    // `parallel` local replicas at once, each holding its source's dataset in memory.
    const need = [...used].sort((a, b) => b - a).slice(0, parallel).reduce((a, b) => a + b, 0);
    const avail = await availableMemory();
    if (need > avail) problems.push({ source: null, message: `${parallel} local replicas at once may need ${MB(need)} of memory; ${MB(avail)} is available (lower --parallel)` });
  }
  if (problems.length === 0) return;
  if (opts.strict === true) {
    throw new UsageError(`pre-check (--strict): ${problems.map((p) => (p.source !== null ? `${p.source}: ${p.message}` : p.message)).join('; ')}`, 'free memory or disk, lower --parallel, or run without --strict to go ahead anyway');
  }
  for (const p of problems) warn(p.source, p.message);
}

/**
 * Fetches every source into `opts.outDir`.
 * @returns the report: every source ok or failed (a failed source never stops the others)
 * @throws UsageError for bad options, duplicate sources, or a failed pre-check with `strict`;
 *   InterruptedError when `signal` aborts (files of sources in flight are not left behind)
 */
export async function fetch(opts: FetchOptions): Promise<FetchReport> {
  const t0 = Date.now();
  const via = opts.via ?? 'native';
  const protocol = opts.protocol ?? 'psync';
  const parallel = opts.parallel ?? DEFAULT_PARALLEL;
  const retries = opts.retries ?? 2;
  const baseDelay = opts.retryDelayMs ?? 1000;
  if (!Number.isInteger(parallel) || parallel < 1 || parallel > 1024) throw new UsageError('--parallel: 1 to 1024');
  if (!Number.isInteger(retries) || retries < 0) throw new UsageError('--retries: 0 or more');
  if (opts.sources.length === 0) throw new UsageError('fetch: no source given', 'give SOURCE URIs, --sources FILE or --cluster-source URI');
  if (via === 'replica' && opts.protocol === 'sync') throw new UsageError('--protocol applies to the native fetch only (a local replica chooses its own)');
  try {
    await mkdir(opts.outDir, { recursive: true });
  } catch (e) {
    throw new UsageError(`--out-dir ${opts.outDir}: cannot create it: ${(e as Error).message}`);
  }
  const emit = opts.onEvent ?? ((): void => undefined);
  const warnings: string[] = [];
  const warn = (source: string | null, message: string): void => {
    warnings.push(source !== null ? `${source}: ${message}` : message);
    emit({ event: 'warning', source, message, t: Date.now() - t0 });
  };
  await precheck(opts, via, parallel, warn);

  const reports: FetchSourceReport[] = opts.sources.map((u) => ({
    source: redactUri(u), host: u.host, port: u.port, result: 'failed', file: null, meta: null, bytes: 0, keys: 0,
    rdbVersion: null, serverVersion: null, snapshotTime: null, attempts: 0, transferSeconds: null, verifySeconds: null, seconds: 0,
    error: null, errorCode: null,
  }));
  for (const r of reports) emit({ event: 'progress', source: r.source, phase: 'queued', bytes: 0, total: null, keys: 0, attempt: 0, t: Date.now() - t0 });

  await pool(opts.sources, parallel, async (uri, i) => {
    const rep = reports[i]!;
    const started = Date.now();
    for (let attempt = 1; ; attempt++) {
      if (opts.signal?.aborted === true) throw new InterruptedError();
      rep.attempts = attempt;
      const progress: AttemptProgress = (phase, bytes, total, keys) => {
        emit({ event: 'progress', source: rep.source, phase, bytes, total, keys, attempt, t: Date.now() - t0 });
      };
      try {
        const got = via === 'replica' ? await fetchViaReplica(uri, opts, progress) : await fetchNative(uri, opts, progress);
        Object.assign(rep, {
          result: 'ok', file: got.file, meta: got.meta, bytes: got.bytes, keys: got.keys, rdbVersion: got.rdbVersion,
          serverVersion: got.serverVersion, snapshotTime: got.snapshotTime, transferSeconds: got.transferSeconds,
          verifySeconds: got.verifySeconds, error: null, errorCode: null,
        });
        break;
      } catch (e) {
        if (e instanceof InterruptedError || (opts.signal as AbortSignal | undefined)?.aborted === true) throw new InterruptedError();
        rep.error = errorText(e);
        rep.errorCode = exitCodeFor(e);
        if (attempt > retries || permanent(e)) break;
        const delayMs = Math.min(30_000, baseDelay * 2 ** (attempt - 1));
        emit({ event: 'retry', source: rep.source, attempt, delayMs, error: rep.error, t: Date.now() - t0 });
        await sleep(delayMs, opts.signal);
      }
    }
    rep.seconds = (Date.now() - started) / 1000;
    emit({
      event: 'source-done', source: rep.source, result: rep.result, bytes: rep.bytes, keys: rep.keys, seconds: rep.seconds,
      ...(rep.error !== null ? { error: rep.error } : {}), t: Date.now() - t0,
    });
  });

  const ok = reports.filter((r) => r.result === 'ok');
  return {
    command: 'fetch',
    outDir: opts.outDir,
    via,
    protocol,
    parallel,
    sources: reports,
    ok: ok.length,
    failed: reports.length - ok.length,
    bytes: ok.reduce((a, r) => a + r.bytes, 0),
    keys: ok.reduce((a, r) => a + r.keys, 0),
    warnings,
    seconds: (Date.now() - t0) / 1000,
  };
}
