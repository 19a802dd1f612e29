/**
 * `migrate`: the whole move in one command. Every source is fetched (src/pipelines/fetch.ts) into
 * `--keep-dumps DIR`, or into a work directory removed at the end; then the snapshots are merged
 * into one file (merge's own library function) or replayed into a live target (replay's), in the
 * order the sources were given: that order is the conflict order. With `stream` (and a target)
 * nothing touches the disk: each snapshot is replayed from the replication socket as it arrives
 * (src/pipelines/stream-replay.ts).
 *
 * When a source cannot be fetched, nothing is merged or replayed: a move missing one server is
 * not the move that was asked for (PartialFailureError, exit 11, with the fetch report).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { SharedOptions } from '../cli-options.js';
import { PartialFailureError, UsageError } from '../errors.js';
import { readTlsFiles, type TlsFiles } from '../redis/connection.js';
import type { RedisUri } from '../values.js';
import { fetch, type FetchOptions, type FetchReport } from './fetch.js';
import { merge, type ConflictPolicy, type MergeProgress, type MergeReport } from './merge.js';
import {
  replay, ReplayBusyKeys, ReplayPartialFailure, type BusyKeyPolicy, type ReplayProgress, type ReplayReport,
} from './replay.js';
import { replayStreams, type StreamReplayReport } from './stream-replay.js';

export interface MigrateOptions {
  /** How to fetch (sources, via, protocol, parallel, retries, timeouts, TLS...); `outDir` is chosen here. */
  fetch: Omit<FetchOptions, 'outDir' | 'signal'>;
  /** `-o OUT`: merge into this file. Exactly one of `out` and `target`. */
  out?: string;
  /** `--target URI`: replay into this server. */
  target?: RedisUri;
  /** `--tls-ca`, `--tls-cert`, `--tls-key`, `--tls-insecure` for a rediss:// target. */
  targetTls?: TlsFiles;
  /** `--keep-dumps DIR`: fetch into DIR and keep the files there. */
  keepDumps?: string;
  /** `--work-dir DIR`: where the temporary fetch directory goes (default: the system's temp dir). */
  workDir?: string;
  /** `--stream` (with `target`): replay from the replication socket, no files. */
  stream?: boolean;
  select: SharedOptions;
  /** `--on-conflict` (merge, and replay of fetched files). Default 'error'. */
  onConflict?: ConflictPolicy;
  /** `--on-busykey` (replay). Default 'error'. */
  onBusykey?: BusyKeyPolicy;
  targetVersion?: number;
  dropUnsupported?: boolean;
  /** merge: `--split-slots N`, `--cluster-nodes FILE`, `--report FILE`. */
  splitSlots?: number;
  clusterNodes?: string;
  reportFile?: string;
  /** replay: `--connections`, `--pipeline`, `--max-rate`, `--proto-max-bulk-len`. */
  connections?: number;
  pipeline?: number;
  maxRate?: number;
  protoMaxBulkLen?: number;
  maxValueSize?: number;
  /** Called once every source was fetched (before the merge or replay starts). */
  onFetched?: (r: FetchReport) => void;
  onMergeProgress?: (p: MergeProgress) => void;
  onReplayProgress?: (p: ReplayProgress | { pass: 'stream'; source: string; keys: number; bytes: number; t: number }) => void;
  signal?: AbortSignal;
}

export interface MigrateReport {
  command: 'migrate';
  /** Null with `stream`. */
  fetch: FetchReport | null;
  merge: MergeReport | null;
  replay: ReplayReport | StreamReplayReport | null;
  /** Where the snapshots were kept (`keepDumps`), or null when they were removed. */
  dumps: string | null;
  seconds: number;
}

/** A migrate stopped because some sources failed: carries the report so far. */
export class MigratePartialFailure extends PartialFailureError {
  constructor(message: string, readonly report: MigrateReport, hint?: string) {
    super(message, hint);
  }
}

/**
 * Fetches every source, then merges into `out` or replays into `target`.
 * @returns the report
 * @throws UsageError for bad option combinations; MigratePartialFailure (exit 11) when sources
 *   failed (nothing merged or replayed; with `stream`, after the others were sent); and whatever
 *   merge or replay throw (conflicts exit 9, network exit 8, ...)
 */
export async function migrate(opts: MigrateOptions): Promise<MigrateReport> {
  const t0 = Date.now();
  if ((opts.out === undefined) === (opts.target === undefined)) throw new UsageError('migrate: give -o OUT or --target URI (one of them)');
  if (opts.stream === true && opts.target === undefined) throw new UsageError('--stream needs --target: a merge needs every snapshot first');
  if (opts.stream === true && (opts.keepDumps !== undefined || opts.workDir !== undefined)) throw new UsageError('--stream writes no files: --keep-dumps and --work-dir do not apply');
  if (opts.stream === true && opts.fetch.via === 'replica') throw new UsageError('--stream reads the replication stream itself: it cannot go --via replica');
  if (opts.keepDumps !== undefined && opts.workDir !== undefined) throw new UsageError('--keep-dumps and --work-dir: give one (--keep-dumps is kept, --work-dir is removed)');
  const report: MigrateReport = { command: 'migrate', fetch: null, merge: null, replay: null, dumps: null, seconds: 0 };
  const signal = opts.signal;

  if (opts.stream === true) {
    const targetTls = opts.target?.tls === true ? await readTlsFiles(opts.targetTls) : undefined;
    const r = await replayStreams({
      sources: opts.fetch.sources,
      target: opts.target!,
      select: opts.select,
      ...(opts.onBusykey !== undefined ? { onBusykey: opts.onBusykey } : {}),
      ...(opts.targetVersion !== undefined ? { targetVersion: opts.targetVersion } : {}),
      ...(opts.dropUnsupported === true ? { dropUnsupported: true } : {}),
      ...(opts.connections !== undefined ? { connections: opts.connections } : {}),
      ...(opts.pipeline !== undefined ? { pipeline: opts.pipeline } : {}),
      ...(opts.protoMaxBulkLen !== undefined ? { protoMaxBulkLen: opts.protoMaxBulkLen } : {}),
      ...(opts.maxValueSize !== undefined ? { maxValueSize: opts.maxValueSize } : {}),
      ...(opts.fetch.protocol !== undefined ? { protocol: opts.fetch.protocol } : {}),
      ...(opts.fetch.idleTimeoutMs !== undefined ? { idleTimeoutMs: opts.fetch.idleTimeoutMs } : {}),
      ...(opts.fetch.connectTimeoutMs !== undefined ? { connectTimeoutMs: opts.fetch.connectTimeoutMs } : {}),
      ...(opts.fetch.tls !== undefined ? { tls: opts.fetch.tls } : {}),
      ...(targetTls !== undefined ? { targetTls } : {}),
      ...(opts.fetch.retries !== undefined ? { retries: opts.fetch.retries } : {}),
      ...(opts.fetch.retryDelayMs !== undefined ? { retryDelayMs: opts.fetch.retryDelayMs } : {}),
      ...(opts.onReplayProgress !== undefined ? { onProgress: opts.onReplayProgress } : {}),
      ...(signal !== undefined ? { signal } : {}),
    });
    report.replay = r;
    report.seconds = (Date.now() - t0) / 1000;
    const failed = r.streamed.filter((s) => s.result === 'failed');
    if (failed.length > 0) {
      throw new MigratePartialFailure(`${failed.length} of ${r.streamed.length} source(s) could not be streamed; the others were replayed. First: ${failed[0]!.error ?? failed[0]!.source}`, report);
    }
    if (r.busy > 0) {
      throw new ReplayBusyKeys(`${r.busy} key(s) were already on the target or in an earlier source (--on-busykey error); they were left as they were`, r, 'choose --on-busykey skip (first source wins) or replace (last wins)');
    }
    if (r.failed > 0) {
      throw new ReplayPartialFailure(`${r.failed} key(s) failed; first: ${JSON.stringify(r.failures[0]?.key)}: ${r.failures[0]?.error ?? '?'}`, r);
    }
    return report;
  }

  // ---- fetch into kept dumps or a work directory ----------------------------------------------
  let dir: string;
  let temp: string | null = null;
  if (opts.keepDumps !== undefined) {
    dir = opts.keepDumps;
    report.dumps = dir;
  } else {
    temp = await mkdtemp(join(opts.workDir ?? tmpdir(), 'rdbmerge-migrate-'));
    dir = temp;
  }
  try {
    const fr = await fetch({ ...opts.fetch, outDir: dir, ...(signal !== undefined ? { signal } : {}) });
    report.fetch = fr;
    opts.onFetched?.(fr);
    if (fr.failed > 0) {
      report.seconds = (Date.now() - t0) / 1000;
      const first = fr.sources.find((s) => s.result === 'failed')!;
      throw new MigratePartialFailure(
        `${fr.failed} of ${fr.sources.length} source(s) could not be fetched; nothing ${opts.out !== undefined ? 'merged' : 'replayed'}. First: ${first.error ?? first.source}`,
        report,
        opts.keepDumps !== undefined ? `the fetched snapshots are in ${opts.keepDumps}` : 'add --keep-dumps DIR to keep what was fetched',
      );
    }
    // The sources' order is the conflict order.
    const files = fr.sources.map((s) => s.file!);
    if (opts.out !== undefined) {
      report.merge = await merge(files, {
        select: opts.select,
        onConflict: opts.onConflict ?? 'error',
        ...(opts.targetVersion !== undefined ? { targetVersion: opts.targetVersion } : {}),
        dropUnsupported: opts.dropUnsupported === true,
        ...(opts.maxValueSize !== undefined ? { maxValueSize: opts.maxValueSize } : {}),
        out: opts.out,
        ...(opts.splitSlots !== undefined ? { splitSlots: opts.splitSlots } : {}),
        ...(opts.clusterNodes !== undefined ? { clusterNodes: opts.clusterNodes } : {}),
        ...(opts.reportFile !== undefined ? { reportFile: opts.reportFile } : {}),
        ...(opts.onMergeProgress !== undefined ? { onProgress: opts.onMergeProgress } : {}),
        ...(signal !== undefined ? { signal } : {}),
      });
    } else {
      report.replay = await replay(files, {
        select: opts.select,
        onConflict: opts.onConflict ?? 'error',
        onBusykey: opts.onBusykey ?? 'error',
        target: opts.target!,
        ...(opts.targetTls !== undefined ? { tls: opts.targetTls } : {}),
        ...(opts.targetVersion !== undefined ? { targetVersion: opts.targetVersion } : {}),
        dropUnsupported: opts.dropUnsupported === true,
        ...(opts.connections !== undefined ? { connections: opts.connections } : {}),
        ...(opts.pipeline !== undefined ? { pipeline: opts.pipeline } : {}),
        ...(opts.maxRate !== undefined ? { maxRate: opts.maxRate } : {}),
        ...(opts.protoMaxBulkLen !== undefined ? { protoMaxBulkLen: opts.protoMaxBulkLen } : {}),
        ...(opts.maxValueSize !== undefined ? { maxValueSize: opts.maxValueSize } : {}),
        ...(opts.onReplayProgress !== undefined ? { onProgress: opts.onReplayProgress } : {}),
        ...(signal !== undefined ? { signal } : {}),
      });
    }
    report.seconds = (Date.now() - t0) / 1000;
    return report;
  } finally {
    if (temp !== null) await rm(temp, { recursive: true, force: true });
  }
}
