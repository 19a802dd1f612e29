/**
 * `plan`: everything a merge (`out`) or a replay (`target`) would do, without writing anything.
 * A library function: it returns the report, whose `exitCode` is the one the real run would end
 * with (0 when it would succeed), or throws what the real run would throw before doing anything
 * (a bad option, an unreadable or corrupt input, an unreachable target); it never prints.
 *
 * Merge mode runs merge itself with `dryRun`: the same index pass, collision settlement and
 * writer, into a sink that only counts bytes, so its collisions, winners, drops, conversions and
 * key counts are exactly those `merge --report` then records. It runs with `dropUnsupported`
 * always on, so that everything the target version cannot hold is listed; without the option
 * those are what the real run stops on (exit 6).
 *
 * Replay mode asks the target what replay asks (INFO, CONFIG GET proto-max-bulk-len) plus its
 * `databases`, `maxmemory`, `maxmemory-policy` and `used_memory`, runs merge's index pass
 * (collisions settle as in replay), checks busy keys with EXISTS as replay does under
 * `--on-busykey error` (read-only), and walks the winners deciding for each what replay would:
 * expired before sending, copied or converted payload, left out, rebuilt with plain commands
 * (payload over proto-max-bulk-len), or failed (an element no command can carry).
 *
 * Both modes estimate the memory the written keys take in the target (src/report/memory.ts) and
 * compare it with `maxmemory` (plus what a live target already uses), list values over
 * proto-max-bulk-len, and databases at or beyond the target's `databases`.
 */
import { isRdbError, UnsupportedError } from '../../native-free-parser/index.js';
import type { KeyRecord, RdbError, WriteOutcome } from '../../native-free-parser/index.js';
import { defaultSharedOptions, type SharedOptions } from '../cli-options.js';
import { EXIT, InterruptedError, UsageError } from '../errors.js';
import { jsonBytes, keyText, type JsonBytes } from '../format/jsonl.js';
import { openClient, serverInfo, type RespConnection } from '../redis/connection.js';
import { RespError, type Reply } from '../redis/resp.js';
import { keyMemory, memoryModel, type EncodingConfig } from '../report/memory.js';
import { redactUri, type RedisUri } from '../values.js';
import {
  conflictError, indexInputs, merge, MergeConflictError, resolveInputs, settleFunctions, settleWinners, type CollisionEntry,
  type ConflictPolicy, type FunctionConflict, type InputReport, type MergeProgress, type MergeReport,
} from './merge.js';
import {
  eachWinner, libraryExists, rebuildPlan, restoreVersion, shiftedRecord, targetPayload, unsupportedAt, type BusyKeyPolicy,
} from './replay.js';

export interface PlanProgress {
  pass: 'index' | 'write' | 'check' | 'send';
  source: string;
  keys: number;
  bytes: number;
  /** ms since the plan started. */
  t: number;
}

export interface PlanOptions {
  /** Selection and expiry options (CLI.md's shared options), as the real run gets them. Default: keep all, now = Date.now(). */
  select?: SharedOptions;
  /** `--on-conflict`. Default 'error'. */
  onConflict?: ConflictPolicy;
  /** `--target-version`. Default: merge's (highest input) or the live target's. */
  targetVersion?: number;
  /** `--drop-unsupported`. Default false: what the target cannot hold makes the real run exit 6. */
  dropUnsupported?: boolean;
  /** `--max-value-size` in bytes. Default 512 MiB. */
  maxValueSize?: number;
  /** Merge mode: the `-o` the merge would write (nothing is written). Exactly one of `out` and `target`. */
  out?: string;
  /** Merge mode: `--split-slots N`. */
  splitSlots?: number;
  /** Merge mode: `--cluster-nodes FILE`. */
  clusterNodes?: string;
  /** Replay mode: the server a replay would write to (only read: INFO, CONFIG GET, EXISTS). */
  target?: RedisUri;
  /** Replay mode: `--on-busykey`. Default 'error'. */
  onBusykey?: BusyKeyPolicy;
  /** `--proto-max-bulk-len`: overrides the live target's value. Default: the target's, else 512 MiB. */
  protoMaxBulkLen?: number;
  /** `--databases N`: overrides the live target's value. Default: the target's, else 16. */
  databases?: number;
  /** `--maxmemory SIZE`: overrides the live target's value (0: no limit). Default: the target's, else none. */
  maxmemory?: number;
  /** Keys listed per list in the report (all are counted). Default 100. */
  maxListed?: number;
  /** The target's jemalloc quantum for the memory estimate (report/memory.ts): 16 (default) or 8. */
  jemallocQuantum?: 8 | 16;
  /** Default 10,000 ms. */
  connectTimeoutMs?: number;
  onProgress?: (p: PlanProgress) => void;
  signal?: AbortSignal;
}

/** The options with the selection settled. */
type Resolved = PlanOptions & { select: SharedOptions };

/** Where a limit of the target came from. */
export type LimitSource = 'target' | 'option' | 'default';

export interface PlanReport {
  command: 'plan';
  mode: 'merge' | 'replay';
  /** Merge mode: the output the merge would write. */
  out: string | null;
  /** Replay mode: the target, without its password. */
  target: string | null;
  /** `redis_version` / `valkey_version` of a live target. */
  serverVersion: string | null;
  /** The exit code the real run would end with (0: it would succeed). */
  exitCode: number;
  /** Why the real run would fail (null when it would succeed). */
  error: string | null;
  /** Things that would not stop the run but deserve a look (memory, databases, values). */
  warnings: string[];
  now: number;
  nowIso: string;
  policy: ConflictPolicy;
  onBusykey: BusyKeyPolicy | null;
  targetVersion: number;
  dropUnsupported: boolean;
  /** Keys per input: read, selected, kept per target db (`perDb.in`), written (`perDb.out`), lost to collisions. */
  inputs: InputReport[];
  /** Keys written per target database, and in all. */
  keyCountsPerDb: Record<string, number>;
  totalKeys: number;
  /** Merge mode: the files and their key counts (`bytes`: their size). */
  outputs: MergeReport['outputs'];
  collisionCount: number;
  /** Every collision (up to merge's list cap) with its inputs and winner: what `merge --report` records. */
  collisions: CollisionEntry[];
  functionConflicts: FunctionConflict[];
  functions: string[];
  /** What the target version cannot hold: left out with `dropUnsupported`, else the reason for exit 6. */
  droppedUnsupported: MergeReport['droppedUnsupported'];
  copied: number;
  converted: number;
  expiries: {
    /** ms added to each input's expiries (`--expire-offset`, `--rebase-expiry`). */
    shiftPerInput: Array<{ file: string; shift: number }>;
    /** Keys written with a shifted expiry (or shifted hash field TTLs). */
    keysShifted: number;
    /** Keys `--drop-expired` leaves out (expired at `now` after the shift). */
    droppedExpired: number;
    /** Replay mode: keys whose expiry has passed at `now`, which replay skips. */
    expiredBeforeSend: number;
  };
  protoMaxBulkLen: { limit: number; source: LimitSource; count: number; keys: Array<{ db: number; key: JsonBytes; bytes: number }> };
  /** Replay mode: keys replay would write with plain commands (payload over the limit) and keys it could not send at all. */
  rebuilt: number;
  failed: number;
  failures: Array<{ db: number; key: JsonBytes; error: string }>;
  databases: { limit: number; source: LimitSource; beyond: Array<{ db: number; keys: number }> };
  memory: {
    /**
     * Estimated bytes the written keys take in the target: each key as MEMORY USAGE counts it
     * (src/report/memory.ts), its expires-table entry, and the databases' hash tables.
     */
    estimatedBytes: number;
    /** Of which the databases' hash tables (bucket arrays of the keys and expires tables). */
    keyspaceBytes: number;
    perDb: Record<string, number>;
    /** The target's maxmemory (0: no limit). */
    maxmemory: number;
    source: LimitSource;
    /** Replay mode: `used_memory` of the target now. */
    usedMemory: number;
    policy: string | null;
    /** usedMemory + estimatedBytes > maxmemory (with a limit). */
    over: boolean;
    /** Replay mode: the target's encoding thresholds the estimate used (the rest: Redis defaults). */
    encodingConfig: Partial<EncodingConfig>;
  };
  /** Replay mode: function libraries of the inputs the target already holds (skipped, or exit 9 under `--on-busykey error`). */
  functionsOnTarget: string[];
  /** Replay mode, `--on-busykey error`: keys the target already holds. */
  busy: number;
  busyKeys: Array<{ db: number; key: JsonBytes }>;
  seconds: number;
}

const DEFAULT_BULK = 512 * 1024 * 1024;

/** The memory estimator's thresholds and the CONFIG parameters that set them (the ziplist names work on every version). */
const ENCODING_CONFIG_NAMES: ReadonlyArray<[keyof EncodingConfig, string]> = [
  ['hashMaxListpackEntries', 'hash-max-ziplist-entries'],
  ['hashMaxListpackValue', 'hash-max-ziplist-value'],
  ['setMaxIntsetEntries', 'set-max-intset-entries'],
  ['setMaxListpackEntries', 'set-max-listpack-entries'],
  ['setMaxListpackValue', 'set-max-listpack-value'],
  ['zsetMaxListpackEntries', 'zset-max-ziplist-entries'],
  ['zsetMaxListpackValue', 'zset-max-ziplist-value'],
  ['listMaxListpackSize', 'list-max-ziplist-size'],
];
const DEFAULT_DATABASES = 16;

function checkAbort(signal: AbortSignal | undefined): void {
  if (signal?.aborted === true) throw new InterruptedError();
}

/** What the target's configuration says (live) or the options (or defaults) stand in for. */
interface TargetLimits {
  bulk: number;
  bulkSource: LimitSource;
  databases: number;
  databasesSource: LimitSource;
  maxmemory: number;
  maxmemorySource: LimitSource;
  usedMemory: number;
  policy: string | null;
}

function limitsFromOptions(opts: PlanOptions): TargetLimits {
  return {
    bulk: opts.protoMaxBulkLen ?? DEFAULT_BULK,
    bulkSource: opts.protoMaxBulkLen !== undefined ? 'option' : 'default',
    databases: opts.databases ?? DEFAULT_DATABASES,
    databasesSource: opts.databases !== undefined ? 'option' : 'default',
    maxmemory: opts.maxmemory ?? 0,
    maxmemorySource: opts.maxmemory !== undefined ? 'option' : 'default',
    usedMemory: 0,
    policy: null,
  };
}

function replyText(r: Reply): string | undefined {
  return Buffer.isBuffer(r) ? r.toString('utf8') : typeof r === 'string' ? r : undefined;
}

/** CONFIG GET name → its value, or undefined when refused. */
async function configGet(c: RespConnection, name: string): Promise<string | undefined> {
  const r = await c.call(['CONFIG', 'GET', name]);
  if (!Array.isArray(r) || r.length < 2) return undefined;
  return replyText(r[1]!);
}

/** Accumulates what both modes report per written key. */
class KeyTally {
  readonly model;
  estimatedBytes = 0;
  readonly memPerDb: Record<string, number> = {};
  readonly bulkKeys: Array<{ db: number; key: JsonBytes; bytes: number }> = [];
  bulkCount = 0;
  readonly dbKeys = new Map<number, number>();

  constructor(version: number, readonly limits: TargetLimits, readonly maxListed: number, config: Partial<EncodingConfig> = {}, quantum: 8 | 16 = 16) {
    this.model = memoryModel(version, config, { jemallocQuantum: quantum });
  }

  readonly dbExpires = new Map<number, number>();

  /** A key written to `db`, its DUMP payload `dumpBytes` long. */
  key(rec: KeyRecord, dumpBytes: number): void {
    const m = keyMemory(rec, this.model);
    const bytes = m.bytes + m.expiryBytes;
    this.estimatedBytes += bytes;
    this.memPerDb[rec.db] = (this.memPerDb[rec.db] ?? 0) + bytes;
    this.dbKeys.set(rec.db, (this.dbKeys.get(rec.db) ?? 0) + 1);
    if (rec.expireAt >= 0) this.dbExpires.set(rec.db, (this.dbExpires.get(rec.db) ?? 0) + 1);
    if (dumpBytes > this.limits.bulk) {
      this.bulkCount++;
      if (this.bulkKeys.length < this.maxListed) this.bulkKeys.push({ db: rec.db, key: jsonBytes(rec.key), bytes: dumpBytes });
    }
  }

  /**
   * The databases' own hash tables, which no key's MEMORY USAGE counts: a bucket array (8 bytes a
   * bucket, the next power of two at or above the keys) for the keys and one for the expiries.
   */
  keyspaceBytes(): number {
    const table = (n: number): number => (n === 0 ? 0 : 8 * 2 ** Math.ceil(Math.log2(Math.max(4, n))));
    let total = 0;
    for (const [db, n] of this.dbKeys) total += table(n) + table(this.dbExpires.get(db) ?? 0);
    return total;
  }

  beyond(): Array<{ db: number; keys: number }> {
    return [...this.dbKeys].filter(([db]) => db >= this.limits.databases).sort((a, b) => a[0] - b[0]).map(([db, keys]) => ({ db, keys }));
  }
}

/** The report's parts both modes fill the same way. */
function finishReport(r: PlanReport, tally: KeyTally | null, limits: TargetLimits, t0: number): PlanReport {
  r.protoMaxBulkLen = { limit: limits.bulk, source: limits.bulkSource, count: tally?.bulkCount ?? 0, keys: tally?.bulkKeys ?? [] };
  r.databases = { limit: limits.databases, source: limits.databasesSource, beyond: tally?.beyond() ?? [] };
  const est = (tally?.estimatedBytes ?? 0) + (tally?.keyspaceBytes() ?? 0);
  r.memory = {
    estimatedBytes: est,
    keyspaceBytes: tally?.keyspaceBytes() ?? 0,
    perDb: tally?.memPerDb ?? {},
    maxmemory: limits.maxmemory,
    source: limits.maxmemorySource,
    usedMemory: limits.usedMemory,
    policy: limits.policy,
    over: limits.maxmemory > 0 && limits.usedMemory + est > limits.maxmemory,
    encodingConfig: r.memory.encodingConfig,
  };
  const mb = (n: number): string => `${(n / 1048576).toFixed(1)} MiB`;
  if (r.memory.over) {
    r.warnings.push(
      `estimated memory ${mb(est)}${limits.usedMemory > 0 ? ` + ${mb(limits.usedMemory)} in use` : ''} is over the target's maxmemory ${mb(limits.maxmemory)}` +
        `${limits.policy !== null ? ` (maxmemory-policy ${limits.policy}${limits.policy === 'noeviction' ? ': writes will fail with OOM' : ': keys will be evicted'})` : ''}`,
    );
  }
  if (r.databases.beyond.length > 0) {
    r.warnings.push(
      `database(s) ${r.databases.beyond.map((d) => d.db).join(', ')} at or beyond the target's databases (${limits.databases})` +
        (r.mode === 'merge' ? ': a server with that setting refuses to load the file' : ': SELECT fails there'),
    );
  }
  if (r.protoMaxBulkLen.count > 0) {
    r.warnings.push(
      `${r.protoMaxBulkLen.count} value(s) over proto-max-bulk-len (${limits.bulk} bytes)` +
        (r.mode === 'merge' ? ': fine in an RDB file, but no single RESTORE can carry them' : ': replay rebuilds them with plain commands'),
    );
  }
  r.seconds = (Date.now() - t0) / 1000;
  return r;
}

function emptyReport(opts: Resolved, mode: 'merge' | 'replay', limits: TargetLimits): PlanReport {
  const sel = opts.select;
  return {
    command: 'plan',
    mode,
    out: opts.out ?? null,
    target: opts.target !== undefined ? redactUri(opts.target) : null,
    serverVersion: null,
    exitCode: 0,
    error: null,
    warnings: [],
    now: sel.now,
    nowIso: new Date(sel.now).toISOString(),
    policy: opts.onConflict ?? 'error',
    onBusykey: mode === 'replay' ? opts.onBusykey ?? 'error' : null,
    targetVersion: opts.targetVersion ?? 0,
    dropUnsupported: opts.dropUnsupported === true,
    inputs: [],
    keyCountsPerDb: {},
    totalKeys: 0,
    outputs: [],
    collisionCount: 0,
    collisions: [],
    functionConflicts: [],
    functions: [],
    droppedUnsupported: [],
    copied: 0,
    converted: 0,
    expiries: { shiftPerInput: [], keysShifted: 0, droppedExpired: 0, expiredBeforeSend: 0 },
    protoMaxBulkLen: { limit: limits.bulk, source: limits.bulkSource, count: 0, keys: [] },
    rebuilt: 0,
    failed: 0,
    failures: [],
    databases: { limit: limits.databases, source: limits.databasesSource, beyond: [] },
    memory: {
      estimatedBytes: 0, keyspaceBytes: 0, perDb: {}, maxmemory: limits.maxmemory, source: limits.maxmemorySource, usedMemory: 0, policy: null, over: false,
      encodingConfig: {},
    },
    functionsOnTarget: [],
    busy: 0,
    busyKeys: [],
    seconds: 0,
  };
}

function expiriesOf(inputs: readonly InputReport[], keysShifted: number): PlanReport['expiries'] {
  return {
    shiftPerInput: inputs.map((i) => ({ file: i.file, shift: i.expiryShift })),
    keysShifted,
    droppedExpired: inputs.reduce((a, i) => a + i.dropped.expired, 0),
    expiredBeforeSend: 0,
  };
}

/**
 * Plans a merge (`opts.out`) or a replay (`opts.target`) of `inputArgs` without writing anything.
 * @returns the report; `exitCode` is what the real run would exit with
 * @throws UsageError for bad options; the codec's RdbError for a bad input (the real run fails
 *   the same way); NetworkError for an unreachable or refusing target; InterruptedError
 */
export async function plan(inputArgs: readonly string[], opts: PlanOptions): Promise<PlanReport> {
  if ((opts.out === undefined) === (opts.target === undefined)) throw new UsageError('plan: give -o OUT (a merge) or --target URI (a replay), one of them');
  if (opts.protoMaxBulkLen !== undefined && !(opts.protoMaxBulkLen >= 1)) throw new UsageError('--proto-max-bulk-len: a positive size');
  if (opts.databases !== undefined && !(Number.isInteger(opts.databases) && opts.databases >= 1)) throw new UsageError('--databases: a positive integer');
  if (opts.maxmemory !== undefined && !(opts.maxmemory >= 0)) throw new UsageError('--maxmemory: a size');
  const o: Resolved = { ...opts, select: opts.select ?? defaultSharedOptions() };
  return o.out !== undefined ? planMerge(inputArgs, o, o.out) : planReplay(inputArgs, o, o.target!);
}

async function planMerge(inputArgs: readonly string[], opts: Resolved, out: string): Promise<PlanReport> {
  const t0 = Date.now();
  const limits = limitsFromOptions(opts);
  const report = emptyReport(opts, 'merge', limits);
  const maxListed = opts.maxListed ?? 100;
  let tally: KeyTally | null = null;
  const progress = opts.onProgress;
  let mr: MergeReport;
  try {
    mr = await merge(inputArgs, {
      select: opts.select,
      ...(opts.onConflict !== undefined ? { onConflict: opts.onConflict } : {}),
      ...(opts.targetVersion !== undefined ? { targetVersion: opts.targetVersion } : {}),
      // Always: everything the target cannot hold gets listed (without the option, the real run stops on the first).
      dropUnsupported: true,
      ...(opts.maxValueSize !== undefined ? { maxValueSize: opts.maxValueSize } : {}),
      out,
      ...(opts.splitSlots !== undefined ? { splitSlots: opts.splitSlots } : {}),
      ...(opts.clusterNodes !== undefined ? { clusterNodes: opts.clusterNodes } : {}),
      dryRun: true,
      onKey: (rec: KeyRecord, _input, outcome: WriteOutcome) => {
        if (tally === null) throw new Error('rdbmerge internal: a key before the target version is known');
        tally.key(rec, dumpLength(rec, outcome));
      },
      ...(progress !== undefined ? { onProgress: (p: MergeProgress) => progress(p) } : {}),
      ...(opts.signal !== undefined ? { signal: opts.signal } : {}),
      // The target version is only known once the index pass has seen every input.
      onWriteStart: (version: number) => {
        tally = new KeyTally(version, limits, maxListed, {}, opts.jemallocQuantum);
      },
    });
  } catch (e) {
    if (e instanceof MergeConflictError) {
      fromMerge(report, e.report);
      if (opts.targetVersion === undefined) {
        const maxIn = Math.max(...e.report.inputs.map((i) => (i.magic === 'VALKEY' ? 12 : i.rdbVersion)));
        report.targetVersion = Math.min(12, Math.max(6, maxIn));
      }
      report.exitCode = EXIT.conflict;
      report.error = e.message;
      return finishReport(report, null, limits, t0);
    }
    throw e;
  }
  fromMerge(report, mr);
  if (opts.dropUnsupported !== true && mr.droppedUnsupported.length > 0) {
    const d = mr.droppedUnsupported[0]!;
    report.exitCode = EXIT.unsupported;
    report.error = `RDB ${mr.targetVersion} cannot hold ${mr.droppedUnsupported.length} thing(s) the inputs have, e.g. ${d.kind} ${d.key !== undefined ? keyText(d.key) : d.name ?? ''} (${d.reason})`;
  }
  return finishReport(report, tally, limits, t0);
}

/**
 * The DUMP payload length of a written record: type byte + value + version and CRC-64. For a
 * value the writer converted (an older target) this is the source encoding's length, an
 * approximation: the re-encoded value can be somewhat longer or shorter (a listpack rewritten as
 * a ziplist, compression decided again).
 */
function dumpLength(rec: KeyRecord, _outcome: WriteOutcome): number {
  return rec.payload.length + 11;
}

function fromMerge(r: PlanReport, m: MergeReport): void {
  r.targetVersion = m.targetVersion;
  r.policy = m.policy;
  r.inputs = m.inputs;
  r.keyCountsPerDb = m.keyCountsPerDb;
  r.totalKeys = m.totalKeys;
  r.outputs = m.outputs;
  r.collisionCount = m.collisionCount;
  r.collisions = m.collisions;
  r.functionConflicts = m.functionConflicts;
  r.functions = m.functions.map((f) => f.library);
  r.droppedUnsupported = m.droppedUnsupported;
  r.copied = m.copied;
  r.converted = m.converted;
  r.expiries = expiriesOf(m.inputs, m.keysShifted);
}

async function planReplay(inputArgs: readonly string[], opts: Resolved, target: RedisUri): Promise<PlanReport> {
  const t0 = Date.now();
  const sel = opts.select;
  const policy = opts.onConflict ?? 'error';
  const busyPolicy = opts.onBusykey ?? 'error';
  const maxValueSize = opts.maxValueSize ?? 512 * 1024 * 1024;
  const maxListed = opts.maxListed ?? 100;
  if (opts.targetVersion !== undefined && (!Number.isInteger(opts.targetVersion) || opts.targetVersion < 6 || opts.targetVersion > 12)) {
    throw new UsageError(`--target-version: a version from 6 to 12, not ${opts.targetVersion}`);
  }
  const paths = await resolveInputs('plan', inputArgs, sel);
  const limits = limitsFromOptions(opts);
  const report = emptyReport(opts, 'replay', limits);
  const name = redactUri(target);
  const c = await openClient(target, opts.connectTimeoutMs !== undefined ? { connectTimeoutMs: opts.connectTimeoutMs } : {});
  let ra: { close(): Promise<void> } | null = null;
  try {
    // ---- the target, as replay sees it, and its limits --------------------------------------
    const info = await serverInfo(c);
    report.serverVersion = info.version;
    if (info.mode === 'cluster') throw new UsageError(`${name} is a cluster node: replay into a cluster is not supported yet`);
    const version = restoreVersion(target, info, opts.targetVersion);
    report.targetVersion = version;
    if (opts.protoMaxBulkLen === undefined && info.protoMaxBulkLen !== undefined) {
      limits.bulk = info.protoMaxBulkLen;
      limits.bulkSource = 'target';
    }
    if (opts.databases === undefined) {
      const n = Number(await configGet(c, 'databases'));
      if (Number.isInteger(n) && n > 0) {
        limits.databases = n;
        limits.databasesSource = 'target';
      }
    }
    if (opts.maxmemory === undefined) {
      const n = Number(await configGet(c, 'maxmemory'));
      if (Number.isSafeInteger(n) && n >= 0) {
        limits.maxmemory = n;
        limits.maxmemorySource = 'target';
      }
    }
    limits.policy = (await configGet(c, 'maxmemory-policy')) ?? null;
    // The target's encoding thresholds decide the encodings, and so the memory, of what it loads.
    const encoding: Partial<EncodingConfig> = {};
    for (const [field, name] of ENCODING_CONFIG_NAMES) {
      const n = Number(await configGet(c, name));
      if (Number.isInteger(n)) encoding[field] = n;
    }
    report.memory.encodingConfig = encoding;
    const mem = replyText(await c.call(['INFO', 'memory']));
    const used = mem !== undefined ? /^used_memory:(\d+)/m.exec(mem) : null;
    if (used !== null) limits.usedMemory = Number(used[1]);

    // ---- merge's index pass, settled as replay settles it -----------------------------------
    const progress = opts.onProgress;
    // Replay stops (exit 6) on the first selected value the target cannot hold, before settling
    // collisions; the walk over the winners below lists them all.
    let unsupported: RdbError | null = null;
    const observe = (rec: KeyRecord, valkey: boolean): boolean => {
      if (unsupported === null && opts.dropUnsupported !== true) unsupported = unsupportedAt(rec, version, valkey);
      return false;
    };
    const ix = await indexInputs(paths, {
      select: sel,
      onConflict: policy,
      maxValueSize,
      leftOut: observe,
      ...(progress !== undefined ? { onProgress: (p: MergeProgress) => progress(p) } : {}),
      ...(opts.signal !== undefined ? { signal: opts.signal } : {}),
      t0,
    });
    ra = ix.ra;
    const fn = settleFunctions(ix.libraries, policy, paths);
    report.collisionCount = ix.collisionCount;
    report.collisions = [...ix.collisions.values()];
    report.functionConflicts = fn.conflicts;
    const stop = (code: number, message: string): void => {
      if (report.exitCode === 0) {
        report.exitCode = code;
        report.error = message;
      }
    };
    if (unsupported !== null) stop(EXIT.unsupported, (unsupported as RdbError).message);
    const fillInputs = (): void => {
      report.inputs = ix.inputs.map((s) => s.report);
      report.expiries = { ...expiriesOf(report.inputs, report.expiries.keysShifted), expiredBeforeSend: report.expiries.expiredBeforeSend };
    };
    if (policy === 'error' && (ix.collisionCount > 0 || fn.conflicts.length > 0)) {
      fillInputs();
      stop(EXIT.conflict, conflictError(ix, fn.conflicts, 'nothing sent').message);
      return finishReport(report, null, limits, t0);
    }
    settleWinners(ix, policy === 'last' ? 'last' : 'first');
    report.functions = fn.kept.map((l) => l.library);
    if (fn.kept.length > 0 && version < 10) {
      if (opts.dropUnsupported !== true) stop(EXIT.unsupported, `function libraries (${report.functions.join(', ')}) need a target of RDB 10 or later; the target is RDB ${version}`);
      for (const l of fn.kept) report.droppedUnsupported.push({ kind: 'function', name: l.library, reason: `RDB ${version} has no functions` });
      report.functions = [];
    }

    // ---- function libraries the target already holds (replay: busy under error, kept under skip)
    if (busyPolicy !== 'replace') {
      const there: string[] = [];
      for (const name of report.functions) if (await libraryExists(c, name)) there.push(name);
      if (there.length > 0) {
        report.functionsOnTarget = there;
        if (busyPolicy === 'error') stop(EXIT.conflict, `function librar${there.length === 1 ? 'y' : 'ies'} ${there.join(', ')} already on the target (--on-busykey error); nothing would be written`);
      }
    }

    // ---- busy keys (--on-busykey error): what replay's check pass would find -----------------
    const dbs = new Set<number>();
    ix.index.forEach((s) => dbs.add(ix.index.dbOf(s)));
    const occupied = [...dbs].some((d) => (info.keyspace.get(d) ?? 0) > 0);
    if (busyPolicy === 'error' && occupied) {
      let selected = -1;
      let pending = 0;
      const onExists = (r: Reply, k: { db: number; key: Uint8Array }): void => {
        if (r === 1) {
          report.busy++;
          if (report.busyKeys.length < maxListed) report.busyKeys.push({ db: k.db, key: jsonBytes(k.key) });
        }
      };
      const onSelect = (r: Reply): void => {
        if (r instanceof RespError) stop(EXIT.network, `the target refused SELECT: ${r.message}`);
      };
      await eachWinner(ix, maxValueSize, 'check', t0, opts, (_st, k) => {
        if (k.expireAt >= 0 && k.expireAt <= sel.now) return undefined;
        if (k.db >= limits.databases) return undefined; // SELECT would fail: reported below
        if (k.db !== selected) {
          c.send(['SELECT', k.db], onSelect, null);
          selected = k.db;
        }
        c.send(['EXISTS', k.key], onExists, { db: k.db, key: k.key.slice() });
        if (++pending >= 1024) {
          pending = 0;
          return c.whenBelow(256, 1 << 20);
        }
        return undefined;
      });
      await c.idle();
      if (report.busy > 0) stop(EXIT.conflict, `${report.busy} key(s) already on the target (--on-busykey error); nothing would be written`);
    }

    // ---- the winners, as replay would send them ----------------------------------------------
    const tally = new KeyTally(version, limits, maxListed, encoding, opts.jemallocQuantum);
    let firstUnsupported: RdbError | null = null;
    await eachWinner(ix, maxValueSize, 'send', t0, opts, (st, k) => {
      checkAbort(opts.signal);
      if (k.expireAt >= 0 && k.expireAt <= sel.now) {
        report.expiries.expiredBeforeSend++;
        return;
      }
      const rec = shiftedRecord(st, k);
      if (st.report.expiryShift !== 0 && k.expireAt >= 0) report.expiries.keysShifted++;
      else if (rec !== k) report.expiries.keysShifted++;
      const recValkey = st.magic === 'VALKEY' && rec === k;
      let t;
      try {
        t = targetPayload(rec, recValkey, version, true);
      } catch (e) {
        if (e instanceof UnsupportedError) {
          firstUnsupported ??= e;
          return;
        }
        if (isRdbError(e) && e.source === '') e.setSource(st.path);
        throw e;
      }
      if ('dropped' in t) {
        report.droppedUnsupported.push({ kind: 'key', db: k.db, key: jsonBytes(k.key), reason: t.dropped });
        return;
      }
      const dumpLen = t.dumpLen;
      if (t.converted === null) {
        report.copied++;
      } else {
        if (t.fieldTtlsDropped !== undefined) {
          report.droppedUnsupported.push({ kind: 'fieldTtls', db: k.db, key: jsonBytes(k.key), reason: `${t.fieldTtlsDropped} hash field TTLs: RDB ${version} has no hash field expiry` });
        }
        report.converted++;
      }
      tally.key(rec, dumpLen);
      if (dumpLen > limits.bulk) {
        const p = rebuildPlan(rec, recValkey, 'rdbmerge:rebuild:plan', limits.bulk, version);
        if ('error' in p) {
          report.failed++;
          if (report.failures.length < maxListed) report.failures.push({ db: k.db, key: jsonBytes(k.key), error: p.error });
        } else {
          report.rebuilt++;
        }
      }
    });
    fillInputs();
    for (const [db, n] of [...tally.dbKeys].sort((a, b) => a[0] - b[0])) report.keyCountsPerDb[String(db)] = n;
    report.totalKeys = [...tally.dbKeys.values()].reduce((a, b) => a + b, 0);
    if (firstUnsupported !== null) {
      stop(EXIT.unsupported, (firstUnsupported as RdbError).message);
    } else if (opts.dropUnsupported !== true && report.droppedUnsupported.length > 0) {
      const d = report.droppedUnsupported[0]!;
      stop(EXIT.unsupported, `RDB ${version} cannot hold ${d.kind} ${d.key !== undefined ? keyText(d.key) : d.name ?? ''} (${d.reason}); add --drop-unsupported to leave such things out`);
    }
    const beyond = tally.beyond();
    if (beyond.length > 0) stop(EXIT.network, `the target has ${limits.databases} databases: SELECT ${beyond[0]!.db} fails`);
    if (limits.maxmemory > 0 && limits.policy === 'noeviction' && limits.usedMemory + tally.estimatedBytes > limits.maxmemory) {
      stop(EXIT.network, 'the target would run out of memory (maxmemory, maxmemory-policy noeviction): writes fail with OOM');
    }
    if (report.failed > 0) stop(EXIT.partial, `${report.failed} key(s) cannot be sent: ${report.failures[0]?.error ?? ''}`);
    return finishReport(report, tally, limits, t0);
  } finally {
    c.close();
    if (ra !== null) await ra.close();
  }
}

