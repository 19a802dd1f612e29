/**
 * `migrate --stream --target URI`: each source's snapshot replayed as it arrives from the
 * replication socket, without touching disk. The socket's chunks go straight into the codec's
 * streaming reader (readRdb takes any async iterable of chunks), and every selected key into
 * replay's Replayer, which sends pipelined RESTOREs through the same window as `replay`.
 *
 * What differs from `replay` of fetched files: there is no index pass (that would need the whole
 * snapshot first), so keys present in several sources are settled by `--on-busykey` alone, in the
 * order the sources are given (they are streamed one after another, so the outcome does not
 * depend on timing): `skip` keeps the first source's key, `replace` the last's, `error` lists them
 * (exit 9; what was sent stays). The RDB's CRC-64 is checked at its end, after its keys were sent:
 * a snapshot damaged in transit is reported failed, but its keys before the damage are on the target.
 * A source that fails does not stop the others (exit 11 at the end).
 */
import { setTimeout as delay } from 'node:timers/promises';
import { readRdb, type KeyRecord } from '../../native-free-parser/index.js';
import type { SharedOptions } from '../cli-options.js';
import { exitCodeFor, InterruptedError, UsageError } from '../errors.js';
import { openClient, serverInfo, type RespConnection, type TlsMaterial } from '../redis/connection.js';
import { openSnapshot, SyncRefusedError, type SnapshotStream, type TlsSettings } from '../redis/replication.js';
import { RespError } from '../redis/resp.js';
import { redactUri, type RedisUri } from '../values.js';
import type { InputState } from './merge.js';
import {
  finish, newReplayReport, openPool, Replayer, restoreVersion, type BusyKeyPolicy, type ReplayReport,
} from './replay.js';
import { createSelector } from './select.js';

export interface StreamReplayOptions {
  sources: readonly RedisUri[];
  target: RedisUri;
  select: SharedOptions;
  /** Default 'error'. */
  onBusykey?: BusyKeyPolicy;
  targetVersion?: number;
  dropUnsupported?: boolean;
  connections?: number;
  pipeline?: number;
  protoMaxBulkLen?: number;
  maxValueSize?: number;
  protocol?: 'psync' | 'sync';
  idleTimeoutMs?: number;
  connectTimeoutMs?: number;
  tls?: TlsSettings;
  /** The target's TLS (rediss://), read by readTlsFiles. */
  targetTls?: TlsMaterial;
  /** Further handshake attempts for a source (not for a transfer that broke off). Default 2. */
  retries?: number;
  /** Backoff before the first retry, doubled each time (at most 30 s). Default 1,000 ms. */
  retryDelayMs?: number;
  onProgress?: (p: { pass: 'stream'; source: string; keys: number; bytes: number; t: number }) => void;
  signal?: AbortSignal;
}

export interface StreamSourceReport {
  source: string;
  result: 'ok' | 'failed';
  bytes: number;
  keys: number;
  rdbVersion: number | null;
  snapshotTime: number | null;
  seconds: number;
  error: string | null;
  errorCode: number | null;
}

export interface StreamReplayReport extends ReplayReport {
  streamed: StreamSourceReport[];
}

/**
 * Streams every source into the target, one after another.
 * @returns the report (with `streamed`: every source ok or failed); the caller decides the exit
 * @throws UsageError for bad options or a cluster target; NetworkError when the target cannot be
 *   reached, refuses AUTH, or answers an error that stops the run; InterruptedError
 */
export async function replayStreams(opts: StreamReplayOptions): Promise<StreamReplayReport> {
  const t0 = Date.now();
  const sel = opts.select;
  const nConn = opts.connections ?? 4;
  const depth = opts.pipeline ?? 256;
  const report: StreamReplayReport = {
    ...newReplayReport({
      target: redactUri(opts.target), respOut: null, now: sel.now, policy: 'first', onBusykey: opts.onBusykey ?? 'error', connections: nConn, pipeline: depth,
    }),
    streamed: [],
  };
  const run = new Replayer({ select: sel, target: opts.target, onBusykey: opts.onBusykey ?? 'error', ...(opts.dropUnsupported === true ? { dropUnsupported: true } : {}) }, report);
  let first: RespConnection | null = null;
  try {
    const connOpts = {
      ...(opts.connectTimeoutMs !== undefined ? { connectTimeoutMs: opts.connectTimeoutMs } : {}),
      ...(opts.targetTls !== undefined ? { tls: opts.targetTls } : {}),
    };
    first = await openClient(opts.target, connOpts);
    const info = await serverInfo(first);
    report.serverVersion = info.version;
    if (info.mode === 'cluster') throw new UsageError(`${redactUri(opts.target)} is a cluster node: --stream into a cluster is not supported`);
    run.useTarget(restoreVersion(opts.target, info, opts.targetVersion), info, opts.protoMaxBulkLen);
    // Under replace on a target that may hold keys, REPLACE from the start (EXISTS counts them).
    run.replaceUpfront = (opts.onBusykey ?? 'error') === 'replace';
    const c0 = first;
    first = null;
    run.pool = await openPool(opts.target, connOpts, c0, nConn, depth, 64 * 1024 * 1024);
    const control = run.pool.conns[0]!;

    for (let i = 0; i < opts.sources.length; i++) {
      const uri = opts.sources[i]!;
      const name = redactUri(uri);
      const started = Date.now();
      const sr: StreamSourceReport = { source: name, result: 'failed', bytes: 0, keys: 0, rdbVersion: null, snapshotTime: null, seconds: 0, error: null, errorCode: null };
      report.streamed.push(sr);
      const inputReport = { file: name, rdbVersion: 0, keysRead: 0, keysSelected: 0, collisionsLost: 0, expiryShift: 0 };
      report.inputs.push(inputReport);
      let snap: SnapshotStream | undefined;
      try {
        // Until the snapshot starts nothing was sent for this source: a failed handshake (a
        // source still loading, a refused connection) is retried like a fetch; a transfer that
        // breaks off is not (its keys are already on the target).
        for (let attempt = 1; ; attempt++) {
          try {
            snap = await openSnapshot(uri, {
              protocol: opts.protocol ?? 'psync',
              idleTimeoutMs: opts.idleTimeoutMs ?? 60_000,
              connectTimeoutMs: opts.connectTimeoutMs ?? 10_000,
              ...(opts.tls !== undefined ? { tls: opts.tls } : {}),
              ...(opts.signal !== undefined ? { signal: opts.signal } : {}),
            });
            break;
          } catch (e) {
            if (attempt > (opts.retries ?? 2) || e instanceof SyncRefusedError || e instanceof InterruptedError) throw e;
            await delay(Math.min(30_000, (opts.retryDelayMs ?? 1000) * 2 ** (attempt - 1)), undefined, opts.signal !== undefined ? { signal: opts.signal } : {});
          }
        }
        sr.snapshotTime = snap.snapshotTime;
        // The fetch's own snapshot time stands where a fetched file's meta.json would: a `ctime`
        // aux field in the stream still overrides it.
        const selector = createSelector(sel, { name, index: i, snapshotTime: snap.snapshotTime, snapshotTimeSource: 'meta.json' });
        const st = { index: i, path: name, version: 0, magic: 'REDIS', report: inputReport } as unknown as InputState;
        let last = 0;
        for await (const batch of readRdb(snap.chunks, { source: name, maxValueSize: opts.maxValueSize ?? 512 * 1024 * 1024, verifyChecksum: true })) {
          if (opts.signal?.aborted === true) throw new InterruptedError();
          for (const r of batch) {
            if (r.kind === 'header') {
              st.version = r.version;
              st.magic = r.magic;
              inputReport.rdbVersion = r.version;
              sr.rdbVersion = r.version;
            } else if (r.kind === 'aux') {
              selector.aux(r.key, r.value);
            } else if (r.kind === 'key') {
              inputReport.keysRead++;
              sr.keys++;
              const k: KeyRecord | null = selector(r);
              if (k === null) continue;
              inputReport.keysSelected++;
              inputReport.expiryShift = selector.expiryShift();
              run.checkFatal();
              const p = run.key(st, k);
              if (p !== undefined) await p;
            } else if (r.kind === 'function') {
              await loadFunction(run, control, r.code, report);
            }
          }
          const now = Date.now();
          if (now - last >= 250) {
            last = now;
            opts.onProgress?.({ pass: 'stream', source: name, keys: sr.keys, bytes: snap.bytes, t: now - t0 });
          }
        }
        await run.pool.idle();
        run.checkFatal();
        sr.bytes = snap.bytes;
        sr.result = 'ok';
      } catch (e) {
        if (e instanceof InterruptedError || opts.signal?.aborted === true) throw new InterruptedError();
        // The target's own failure stops everything; a source's failure only that source.
        if (run.fatal !== null) throw run.fatal;
        sr.error = e instanceof Error ? e.message : String(e);
        sr.errorCode = exitCodeFor(e);
        sr.bytes = snap?.bytes ?? 0;
      } finally {
        snap?.close();
        sr.seconds = (Date.now() - started) / 1000;
      }
    }
    await run.pool.idle();
    run.checkFatal();
    report.busyKeys = run.busyList;
    finish(report, t0);
    return report;
  } finally {
    run.pool?.close();
    first?.close();
  }
}

async function loadFunction(run: Replayer, c: RespConnection, code: Uint8Array, report: ReplayReport): Promise<void> {
  const m = /^#!\S+\s+name=(\S+)/.exec(Buffer.from(code.subarray(0, 256)).toString('utf8'));
  const library = m?.[1] ?? '?';
  if (run.version < 10) {
    report.functions.dropped.push(library);
    return;
  }
  const policy = report.onBusykey;
  const r = await c.call(policy === 'replace' ? ['FUNCTION', 'LOAD', 'REPLACE', code] : ['FUNCTION', 'LOAD', code]);
  if (!(r instanceof RespError)) report.functions.loaded.push(library);
  else if (policy === 'skip' && /already exists/i.test(r.message)) report.functions.skipped.push(library);
  else report.functions.failed.push({ library, error: r.message });
}
