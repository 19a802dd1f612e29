/**
 * `replay`: the keys of RDB files sent to a live server as RESTORE commands (or written as RESP
 * for `redis-cli --pipe`). A library function: it returns the report or throws typed errors; it
 * never prints.
 *
 * The passes:
 *  1. merge's own index pass (indexInputs): the same selection, transforms and `--on-conflict`
 *     settlement as merge, before anything is sent; under `error` a collision stops the run here
 *     (exit 9, nothing written). Function libraries are settled as merge settles them.
 *  2. only with `--on-busykey error` and a target that already holds keys in the databases the
 *     replay writes: pipelined EXISTS for every winner; any hit stops the run (exit 9, nothing
 *     written). A fresh target skips this pass.
 *  3. send: each input streamed again; each winner becomes `RESTORE key ttl payload [ABSTTL]
 *     [IDLETIME n | FREQ n]`, the payload built for the target's RDB version (copied bytes +
 *     version + CRC-64, converted only where the target cannot load the encoding).
 *
 * The window (STYLE.md habit 16): `connections` connections, each with at most `pipeline`
 * commands and `maxInflightBytes / connections` bytes in flight; a key's commands all go to one
 * connection, and its reply is paired with it through that connection's FIFO. The producer waits
 * on a promise that replies resolve, never a sleep loop. `BUSYKEY` is matched on the error code:
 * under `replace` the key is sent again with REPLACE (DEL first on servers before 3.0), so
 * `replaced` counts exactly the keys that existed. Expiries go as ABSTTL on 5.0+ (no drift while
 * queued); older targets get a TTL computed when the command is queued, and keys already expired
 * then are skipped.
 *
 * A value whose payload is longer than the target's `proto-max-bulk-len` is rebuilt with plain
 * commands (src/redis/rebuild.ts) into a temporary key, checked, given its expiry, and renamed
 * over the real key (RENAMENX, or RENAME under `replace`): nobody sees half a value. A single
 * element over the limit cannot be sent at all: the key is reported failed.
 *
 * Cluster targets (`cluster`): src/redis/cluster.ts routes each key to the master owning its slot
 * and follows MOVED / ASK / TRYAGAIN; only database 0 exists there, so inputs whose keys land in
 * another database are refused before anything is sent. A rebuilt value's temporary key carries a
 * hash tag of the real key's slot, so that the final RENAME stays within one slot.
 *
 * One input without `--db-map`/`--into-db`, whose encodings the target loads as they are, skips
 * pass 1 (src/pipelines/replay-direct.ts): no two of its records can meet, so the send starts at
 * once and a damaged file is found while sending; `--check-first` keeps pass 1. `-` (stdin) is
 * kept in a temporary file (src/io/spool.ts).
 *
 * `--checkpoint FILE` (src/pipelines/checkpoint.ts): each sent entry is tracked until its reply,
 * the low-water marks are written atomically every second and on the way out (failure, SIGINT,
 * the end); a rerun skips what was answered and resends what was in flight.
 * `--checkpoint` goes with a standalone target (not `--cluster`).
 */
import { randomBytes } from 'node:crypto';
import { stat } from 'node:fs/promises';
import { setTimeout as delay } from 'node:timers/promises';
import {
  convertForTarget, Crc64, decodeValue, encodeValue, isDropped, isRdbError, payloadForTarget, rdb as C, rdbVersionForServer,
  targetLoadsType, TYPE_KIND, UnsupportedError,
} from '../../native-free-parser/index.js';
import type { KeyRecord, RdbError, Value } from '../../native-free-parser/index.js';
import type { SharedOptions } from '../cli-options.js';
import { ConflictError, InterruptedError, NetworkError, PartialFailureError, UsageError } from '../errors.js';
import { jsonBytes, keyText, type JsonBytes } from '../format/jsonl.js';
import { atomicWrite, STDIN, type AtomicFile } from '../io/files.js';
import { spoolStream } from '../io/spool.js';
import { readRdbFile } from '../io/rdb-file.js';
import { keyHash } from '../merge/key-index.js';
import { ClusterRouter, slotOf, slotTag, type ClusterStats } from '../redis/cluster.js';
import {
  openClient, readTlsFiles, serverInfo, type ConnectOptions, type RespConnection, type ServerInfo, type TlsFiles,
} from '../redis/connection.js';
import { Pool } from '../redis/pool.js';
import { rebuildCommands } from '../redis/rebuild.js';
import { CommandWriter, RespError, type Arg, type Reply } from '../redis/resp.js';
import { redactUri, type RedisUri } from '../values.js';
import { Checkpoint, DONE, FRESH, inputIdentity, UNCERTAIN, type InputTrack } from './checkpoint.js';
import { directInputs, finishDirectReport, isDirect, peekHeader } from './replay-direct.js';
import {
  conflictError, indexInputs, resolveInputs, settleFunctions, settleWinners, type ConflictPolicy, type IndexedInputs,
  type InputState, type Library, type MergeProgress,
} from './merge.js';

/** `--on-busykey`: what to do with a key the target already holds. */
export type BusyKeyPolicy = 'skip' | 'replace' | 'error';

export interface ReplayProgress {
  pass: 'index' | 'check' | 'send';
  source: string;
  keys: number;
  bytes: number;
  /** ms since the replay started. */
  t: number;
}

export interface ReplayOptions {
  /** Selection and expiry options (CLI.md's shared options). */
  select: SharedOptions;
  /** `--on-conflict`, settled across inputs exactly as merge does. Default 'error'. */
  onConflict?: ConflictPolicy;
  /** `--target URI`: the server. Exactly one of `target` and `respOut`. */
  target?: RedisUri;
  /** `--cluster`: `target` is a node of a Redis Cluster (any node: the slot map is read from it). Default false. */
  cluster?: boolean;
  /** `--tls-ca`, `--tls-cert`, `--tls-key`, `--tls-insecure` for a rediss:// target. */
  tls?: TlsFiles;
  /** `--resp-out FILE`: write the commands as RESP instead of sending them (needs `targetVersion`). */
  respOut?: string;
  /**
   * `--target-version`: the RDB version payloads are built for (6..12). Default: from the target's
   * INFO (`redis_version` / `valkey_version`). Required with `respOut`.
   */
  targetVersion?: number;
  /** `--drop-unsupported`: leave out (and count) what the target version cannot hold. Default false. */
  dropUnsupported?: boolean;
  /** `--on-busykey`: default 'error' (exit 9 listing the keys). */
  onBusykey?: BusyKeyPolicy;
  /** `--connections N`: default 4. */
  connections?: number;
  /** `--pipeline DEPTH`: commands in flight per connection, at most. Default 256. */
  pipeline?: number;
  /** Bytes in flight over all connections, at most (one bigger command still goes alone). Default 64 MiB. */
  maxInflightBytes?: number;
  /**
   * How `onBusykey: 'replace'` learns which keys it replaced: 'upfront' sends EXISTS before each
   * RESTORE ... REPLACE; 'retry' sends plain RESTOREs and resends with REPLACE after BUSYKEY (no
   * extra command, but a busy key's payload goes twice). Default 'auto': upfront when the target
   * holds keys in the databases written, else retry.
   */
  replaceStrategy?: 'auto' | 'upfront' | 'retry';
  /** `--max-rate KEYS_PER_S`: pace the keys sent. Default: no limit. */
  maxRate?: number;
  /** `--proto-max-bulk-len SIZE`: overrides the target's CONFIG GET value (default 512 MiB when unknown). */
  protoMaxBulkLen?: number;
  /** `--max-value-size` in bytes. Default 512 MiB. */
  maxValueSize?: number;
  /** Failed and busy keys listed in the report (all are counted). Default 100. */
  maxListed?: number;
  /** Default 10,000 ms. */
  connectTimeoutMs?: number;
  /** A connection with replies due and nothing received for this long fails. Default 120,000 ms. */
  replyTimeoutMs?: number;
  /**
   * `--checkpoint FILE`: record progress there and, when it exists, continue from it (it must
   * have been written for the same inputs and options). Not with `respOut`.
   */
  checkpoint?: string;
  /**
   * `--check-first`: read every input whole before sending anything, even where one pass would
   * do (a single input without database mapping: see src/pipelines/replay-direct.ts). Default false.
   */
  checkFirst?: boolean;
  /** What `-` reads (the CLI's standard input). */
  stdin?: AsyncIterable<Uint8Array | string>;
  /** `--now` was given explicitly; else a rerun with a checkpoint takes the recorded `--now`. */
  nowGiven?: boolean;
  onProgress?: (p: ReplayProgress) => void;
  signal?: AbortSignal;
}

/** What `--checkpoint` did in this run. */
export interface ReplayCheckpointReport {
  file: string;
  /** An earlier run's checkpoint was found and continued. */
  resumed: boolean;
  /** The checkpoint already said complete: nothing was sent. */
  alreadyComplete: boolean;
  /** Entries skipped because an earlier run had them answered. */
  skippedDone: number;
  /** Entries sent again because their fate was unknown (in flight when the earlier run stopped). */
  resent: number;
  /** Outcome counts of the earlier runs. */
  previous: { restored: number; replaced: number; rebuilt: number; skipped: number; failed: number; busy: number };
}

export interface KeyFailure {
  db: number;
  key: JsonBytes;
  error: string;
}

export interface ReplayReport {
  command: 'replay';
  /** The target URI without its password, or null with `respOut`. */
  target: string | null;
  respOut: string | null;
  /** `redis_version` / `valkey_version` of the target (null with `respOut`). */
  serverVersion: string | null;
  targetVersion: number;
  protoMaxBulkLen: number;
  now: number;
  nowIso: string;
  policy: ConflictPolicy;
  onBusykey: BusyKeyPolicy;
  connections: number;
  pipeline: number;
  inputs: Array<{ file: string; rdbVersion: number; keysRead: number; keysSelected: number; collisionsLost: number; expiryShift: number }>;
  collisionCount: number;
  /** Winners: the keys the replay tried to write. */
  keys: number;
  /** Created by RESTORE. */
  restored: number;
  /** Existed on the target and were overwritten by RESTORE (`--on-busykey replace`). */
  replaced: number;
  /** Written with plain commands because their payload exceeds proto-max-bulk-len. */
  rebuilt: number;
  /**
   * Rebuilt keys whose file had an LRU idle time or LFU counter: no command sets those (only
   * RESTORE's IDLETIME/FREQ and modules can), so these keys start as new ones.
   */
  rebuiltLruLfuLost: number;
  /** skippedBusy + skippedExpired + skippedUnsupported. */
  skipped: number;
  /** Existed on the target and were left alone (`--on-busykey skip`). */
  skippedBusy: number;
  /** Expired before they could be sent. */
  skippedExpired: number;
  /** The target version cannot hold them (`--drop-unsupported`). */
  skippedUnsupported: number;
  failed: number;
  /** The first failures (up to maxListed). */
  failures: KeyFailure[];
  /** Keys found on the target under `--on-busykey error`. */
  busy: number;
  busyKeys: Array<{ db: number; key: JsonBytes }>;
  /** Payloads sent with the source bytes as they were / converted for the target version. */
  copied: number;
  converted: number;
  /** Hash keys whose field TTLs the target version cannot hold (dropped, fields kept). */
  fieldTtlsDropped: number;
  functions: { loaded: string[]; skipped: string[]; dropped: string[]; failed: Array<{ library: string; error: string }> };
  /** Bytes of commands sent (or written). */
  bytesSent: number;
  /** `--cluster`: the masters and the redirections followed; null for a standalone target. */
  cluster: ClusterStats | null;
  seconds: number;
  keysPerSecond: number;
  /** `--checkpoint`, or null. */
  checkpoint: ReplayCheckpointReport | null;
}

/** A replay stopped by failures or busy keys: carries the report of what was done. */
export interface ReportCarrier {
  report: ReplayReport;
}

/** Some keys failed, the others were written (exit 11); `report` says which. */
export class ReplayPartialFailure extends PartialFailureError implements ReportCarrier {
  constructor(message: string, readonly report: ReplayReport, hint?: string) {
    super(message, hint);
  }
}

/** `--on-busykey error` found keys on the target (exit 9); `report` lists them. */
export class ReplayBusyKeys extends ConflictError implements ReportCarrier {
  constructor(message: string, readonly report: ReplayReport, hint?: string) {
    super(message, hint);
  }
}


/** Error codes after which nothing more can succeed: the run stops (exit 8). */
const FATAL_CODES = new Set([
  'NOAUTH', 'WRONGPASS', 'NOPERM', 'OOM', 'READONLY', 'MOVED', 'ASK', 'CLUSTERDOWN', 'TRYAGAIN', 'LOADING',
  'MISCONF', 'MASTERDOWN', 'NOREPLICAS', 'CROSSSLOT', 'BUSY', 'EXECABORT',
]);

const DEFAULT_CONNECTIONS = 4;
const DEFAULT_PIPELINE = 256;
const DEFAULT_INFLIGHT_BYTES = 64 * 1024 * 1024;
const DEFAULT_BULK = 512 * 1024 * 1024;
const PROGRESS_EVERY = 65536;

function checkAbort(signal: AbortSignal | undefined): void {
  if (signal?.aborted === true) throw new InterruptedError();
}

/** major * 100 + minor of a version string ("7.0.15" → 700); 0 when unparseable. */
export function versionNumber(v: string): number {
  const m = /^(\d+)\.(\d+)/.exec(v);
  return m === null ? 0 : Number(m[1]) * 100 + Number(m[2]);
}

/**
 * The RDB version RESTORE payloads are built for on the server `info` describes: `--target-version`
 * when given, else the newest the server restores.
 * @throws NetworkError when INFO names no version known; UsageError when `targetVersion` is newer
 *   than the server restores, or the server predates RESTORE (Redis 2.6)
 */
export function restoreVersion(target: RedisUri, info: ServerInfo, targetVersion: number | undefined): number {
  const name = redactUri(target);
  const serverRdb = rdbVersionForServer(info.version, info.valkey);
  if (serverRdb === undefined) {
    throw new NetworkError(`${name}: cannot tell the server version from INFO (${JSON.stringify(info.version)})`, 'give --target-version');
  }
  // Valkey 9 (RDB 80) restores Redis payloads up to the 7.2 layout.
  const loads = serverRdb >= 80 ? 11 : Math.min(serverRdb, 12);
  if (targetVersion !== undefined && targetVersion > loads) {
    throw new UsageError(`--target-version ${targetVersion}: ${name} runs ${info.valkey ? 'valkey' : 'redis'} ${info.version}, which restores payloads up to RDB ${loads}`);
  }
  if (loads < 6) throw new UsageError(`${name} runs redis ${info.version}: RESTORE needs Redis 2.6 or later`);
  return targetVersion ?? loads;
}

/** A replay report before anything was done: every count at zero. */
export function newReplayReport(
  init: Pick<ReplayReport, 'target' | 'respOut' | 'now' | 'policy' | 'onBusykey' | 'connections' | 'pipeline'>,
): ReplayReport {
  return {
    command: 'replay',
    target: init.target,
    respOut: init.respOut,
    serverVersion: null,
    targetVersion: 0,
    protoMaxBulkLen: 0,
    now: init.now,
    nowIso: new Date(init.now).toISOString(),
    policy: init.policy,
    onBusykey: init.onBusykey,
    connections: init.connections,
    pipeline: init.pipeline,
    inputs: [],
    collisionCount: 0,
    keys: 0,
    restored: 0,
    replaced: 0,
    rebuilt: 0,
    rebuiltLruLfuLost: 0,
    skipped: 0,
    skippedBusy: 0,
    skippedExpired: 0,
    skippedUnsupported: 0,
    failed: 0,
    failures: [],
    busy: 0,
    busyKeys: [],
    copied: 0,
    converted: 0,
    fieldTtlsDropped: 0,
    functions: { loaded: [], skipped: [], dropped: [], failed: [] },
    bytesSent: 0,
    cluster: null,
    seconds: 0,
    keysPerSecond: 0,
    checkpoint: null,
  };
}

/**
 * A pool of `n` connections to `target`: `first` (already open) and `n - 1` new ones,
 * each with `pipeline` commands and `budget / n` bytes in flight at most.
 * @throws NetworkError when a connection cannot be opened (those opened, `first` too, are closed)
 */
export async function openPool(
  target: RedisUri, connOpts: ConnectOptions, first: RespConnection, n: number, pipeline: number, budget: number,
): Promise<Pool> {
  const conns: RespConnection[] = [first];
  try {
    for (let i = 1; i < n; i++) conns.push(await openClient(target, connOpts));
  } catch (e) {
    for (const c of conns) c.close();
    throw e;
  }
  return new Pool(conns, pipeline, Math.max(1, Math.floor(budget / n)));
}

/**
 * Winner `k` of input `st` as it is sent: `k` itself, or a copy whose hash-field TTLs were shifted
 * by the input's expiry shift (re-encoded: then no longer in Valkey's encodings).
 */
export function shiftedRecord(st: InputState, k: KeyRecord): KeyRecord {
  const shift = st.report.expiryShift;
  if (shift === 0 || !C.FIELD_TTL_TYPES.has(k.type)) return k;
  return shiftFieldTtls(k, shift, st.magic === 'VALKEY') ?? k;
}

/** A record's DUMP payload for the target (targetPayload). */
export interface TargetPayload {
  /** The converted payload, or null: the value's own bytes go as they are (framed by copiedPayload). */
  converted: Uint8Array | null;
  /** Length of the payload: over proto-max-bulk-len, the value is rebuilt with plain commands. */
  dumpLen: number;
  /** Hash field TTLs the target version cannot hold, dropped (on a converted payload). */
  fieldTtlsDropped?: number;
}

/**
 * What replay sends for `rec` (shiftedRecord) to a target of RDB `version`: the value's bytes as
 * they are when the target loads its encoding, else converted; `{ dropped }` when the target
 * cannot hold it and `dropUnsupported`. `plan` makes the same decision without sending.
 * @throws the codec's RdbError (UnsupportedError when the target cannot hold the value and
 *   `dropUnsupported` is off), without the input's name: the caller adds it
 */
export function targetPayload(rec: KeyRecord, valkey: boolean, version: number, dropUnsupported: boolean): TargetPayload | { dropped: string } {
  if (targetLoadsType(rec.type, version, valkey)) {
    // type byte + value + 2-byte version + 8-byte CRC-64
    return { converted: null, dumpLen: rec.payload.length + 11 };
  }
  const res = payloadForTarget(rec, version, { dropUnsupported, valkey });
  if ('dropped' in res) return res;
  const out: TargetPayload = { converted: res.dump, dumpLen: res.dump.length };
  if (res.fieldTtlsDropped !== undefined) out.fieldTtlsDropped = res.fieldTtlsDropped;
  return out;
}

/**
 * The plain commands that build `rec`'s value into key `tmp` when its payload is too long for one
 * RESTORE (src/redis/rebuild.ts), or the reason it cannot be sent at all.
 */
export function rebuildPlan(rec: KeyRecord, valkey: boolean, tmp: string, maxBulk: number, version: number): ReturnType<typeof rebuildCommands> {
  let v: Value = decodeValue(rec.type, rec.payload, { offset: rec.valueOffset, valkey });
  if (v.type === 'hash' && v.fieldExpireAt !== undefined && version < 12) {
    // payloadForTarget already dropped them (--drop-unsupported) or threw.
    v = { type: 'hash', value: v.value };
  }
  return rebuildCommands(v, Buffer.from(tmp), { maxBulk, targetVersion: version });
}

/** Shifts the field TTLs of a hash-with-field-expiry value, as merge does; null when it has none. */
function shiftFieldTtls(rec: KeyRecord, shift: number, valkey: boolean): KeyRecord | null {
  const v = decodeValue(rec.type, rec.payload, { offset: rec.valueOffset, valkey });
  if (v.type !== 'hash' || v.fieldExpireAt === undefined || v.fieldExpireAt.length === 0) return null;
  v.fieldExpireAt = v.fieldExpireAt.map(([f, t]) => [f, Math.max(1, t + shift)]);
  const enc = encodeValue(v, 12, { dropUnsupported: false, key: rec.key });
  if (isDropped(enc)) return null;
  return { ...rec, type: enc.type, payload: enc.payload };
}

/** Per-key state carried through a connection's FIFO with its RESTORE. */
interface RestoreCtx {
  run: Replayer;
  conn: RespConnection;
  db: number;
  key: Uint8Array;
  args: Arg[];
  /** Sent again after BUSYKEY (under replace). */
  again: boolean;
  /** `--checkpoint`: the entry's input track and sequence number (-1 without a checkpoint). */
  trk: InputTrack | null;
  seq: number;
  /** A second RESTORE is on its way (BUSYKEY under replace): the first reply does not settle the key. */
  resend: boolean;
}

/** Per-rebuild state: the first error of its commands. */
interface RebuildCtx {
  error: string | null;
}

function onSelect(r: Reply, run: Replayer): void {
  if (r instanceof RespError) run.fatalReply('SELECT', r);
}

function onRestore(r: Reply, ctx: RestoreCtx): void {
  const run = ctx.run;
  ctx.resend = false;
  if (!(r instanceof RespError)) {
    if (ctx.again) run.report.replaced++;
    else run.report.restored++;
  } else if (r.code === 'BUSYKEY' && !ctx.again) {
    run.busyKey(ctx);
  } else if (FATAL_CODES.has(r.code)) {
    // Not written: a checkpoint must not count it as answered.
    run.fatalReply('RESTORE', r);
    return;
  } else {
    run.keyFailed(ctx.db, ctx.key, r.message);
  }
  if (ctx.trk !== null && !ctx.resend) ctx.trk.ack(ctx.seq);
}

function onExists(r: Reply, ctx: { run: Replayer; db: number; key: Uint8Array }): void {
  if (r instanceof RespError) ctx.run.fatalReply('EXISTS', r);
  else if (r === 1) ctx.run.busyFound(ctx.db, ctx.key);
}

function onThere(r: Reply, ctx: RestoreCtx): void {
  if (r instanceof RespError) ctx.run.fatalReply('EXISTS', r);
  else ctx.again = r === 1;
}

function onIgnore(): void {
  // DEL before a RESTORE without REPLACE (servers before 3.0): whatever it says, RESTORE decides
}

function onRebuildStep(r: Reply, ctx: RebuildCtx): void {
  if (r instanceof RespError && ctx.error === null) ctx.error = r.message;
}

/**
 * One replay run: the state shared by the passes and the reply handlers. Exported for
 * src/pipelines/stream-replay.ts (`migrate --stream`), which feeds it keys straight from a socket.
 */
export class Replayer {
  fatal: NetworkError | null = null;
  readonly busyList: Array<{ db: number; key: JsonBytes }> = [];
  private readonly maxListed: number;
  private readonly runId = randomBytes(6).toString('hex');
  private tmpSeq = 0;

  // Target features.
  version = 12;
  absTtl = true;
  lruFreq = true;
  replaceFlag = true;
  /**
   * `--on-busykey replace` on a target that holds keys in the databases written: REPLACE from the
   * start (with EXISTS before it, to count what it replaced) instead of a second RESTORE after
   * each BUSYKEY, which would send every payload twice.
   */
  replaceUpfront = false;
  maxBulk = DEFAULT_BULK;

  // --checkpoint: the input being sent, and whether the current entry is one whose fate an
  // earlier run left unknown under --on-busykey error (then it goes with REPLACE: it is ours).
  trk: InputTrack | null = null;
  windowReplace = false;

  // Live mode.
  pool: Pool | null = null;
  /** Live mode into a cluster (then `pool` is null). */
  cluster: ClusterRouter | null = null;
  // File mode.
  file: AtomicFile | null = null;
  writer: CommandWriter | null = null;
  fileDb = -1;

  constructor(readonly opts: ReplayOptions, readonly report: ReplayReport) {
    this.maxListed = opts.maxListed ?? 100;
  }

  /**
   * The target's features: RESTORE's ABSTTL, IDLETIME/FREQ (5.0) and REPLACE (3.0), from the
   * server's version in `info` (live), or from the RDB `version` alone (`--resp-out`, info null);
   * `protoMaxBulkLen` (the option) before the server's own value.
   */
  useTarget(version: number, info: ServerInfo | null, protoMaxBulkLen: number | undefined): void {
    this.version = version;
    if (info !== null) {
      const vn = info.valkey ? 9999 : versionNumber(info.version);
      this.absTtl = vn >= 500;
      this.lruFreq = vn >= 500;
      this.replaceFlag = vn >= 300;
      this.maxBulk = protoMaxBulkLen ?? info.protoMaxBulkLen ?? DEFAULT_BULK;
    } else {
      this.absTtl = version >= 9;
      this.lruFreq = version >= 9;
      this.replaceFlag = version >= 7;
      this.maxBulk = protoMaxBulkLen ?? DEFAULT_BULK;
    }
    this.report.targetVersion = version;
    this.report.protoMaxBulkLen = this.maxBulk;
  }

  fatalReply(command: string, r: RespError): void {
    this.fatal ??= new NetworkError(
      `the target refused ${command}: ${r.code}${r.code === 'ERR' ? ` ${r.message.slice(4, 200)}` : ''}`,
      r.code === 'OOM' ? 'the target is out of memory (maxmemory)' : r.code === 'MOVED' || r.code === 'ASK' ? 'the target is a cluster node: add --cluster' : undefined,
    );
  }

  keyFailed(db: number, key: Uint8Array, error: string): void {
    this.report.failed++;
    if (this.report.failures.length < this.maxListed) this.report.failures.push({ db, key: jsonBytes(key), error });
  }

  busyFound(db: number, key: Uint8Array): void {
    this.report.busy++;
    if (this.busyList.length < this.maxListed) this.busyList.push({ db, key: jsonBytes(key) });
  }

  /** A key rebuilt with plain commands (its IDLETIME/FREQ cannot follow: see the report field). */
  rebuiltOne(k: KeyRecord): void {
    this.report.rebuilt++;
    if (this.lruFreq && (k.idle >= 0 || k.freq >= 0)) this.report.rebuiltLruLfuLost++;
  }

  /** BUSYKEY for a RESTORE sent without REPLACE. */
  busyKey(ctx: RestoreCtx): void {
    const policy = this.opts.onBusykey ?? 'error';
    if (policy === 'skip') {
      this.report.skippedBusy++;
      return;
    }
    if (policy === 'error') {
      this.busyFound(ctx.db, ctx.key);
      return;
    }
    // replace: again on the same connection (the key's commands stay in order there).
    ctx.again = true;
    const c = ctx.conn;
    ctx.resend = true;
    if (this.cluster !== null) {
      // The reply may have come from another node (a redirection): route it again.
      ctx.args.push('REPLACE');
      this.cluster.sendToOwner(slotOf(ctx.key), ctx.args, onRestore, ctx);
      return;
    }
    if (c.failure !== null) return;
    // Other keys' SELECTs may have followed on this connection since.
    this.selected(c, ctx.db);
    if (this.replaceFlag) {
      ctx.args.push('REPLACE');
    } else {
      c.send(['DEL', ctx.key], onIgnore, null);
    }
    this.report.bytesSent += c.send(ctx.args, onRestore, ctx);
  }

  /** A temporary key; in a cluster, on the slot of `key` (a hash tag of that slot). */
  tmpKey(key: Uint8Array): string {
    if (this.cluster !== null) return `rdbmerge:rebuild:{${slotTag(slotOf(key))}}:${this.runId}:${this.tmpSeq++}`;
    return `rdbmerge:rebuild:${this.runId}:${this.tmpSeq++}`;
  }

  checkFatal(): void {
    if (this.fatal !== null) throw this.fatal;
    if (this.cluster?.failure != null) throw this.cluster.failure;
  }

  /** Sends a command about `key` on `c` (through the cluster router when there is one). */
  send<C>(c: RespConnection, key: Uint8Array, args: readonly Arg[], handler: (r: Reply, ctx: C) => void, ctx: C): number {
    return this.cluster !== null ? this.cluster.send(c, slotOf(key), args, handler, ctx) : c.send(args, handler, ctx);
  }

  /** Every command answered (live mode). */
  async idle(): Promise<void> {
    if (this.cluster !== null) await this.cluster.idle();
    else await this.pool!.idle();
  }

  // ---- sending ------------------------------------------------------------------------------

  /** A connection with room for `bytes`, its database selected (in a cluster: of the master owning `key`). */
  connFor(db: number, bytes: number, key: Uint8Array): RespConnection | Promise<RespConnection> {
    if (this.cluster !== null) return this.cluster.connFor(slotOf(key), bytes);
    const pool = this.pool!;
    const c = pool.pick(bytes);
    if (c !== null) return this.selected(c, db);
    return pool.room(bytes).then((x) => this.selected(x, db));
  }

  selected(c: RespConnection, db: number): RespConnection {
    if (c.db !== db) {
      this.report.bytesSent += c.send(['SELECT', db], onSelect, this);
      c.db = db;
    }
    return c;
  }

  /** File mode: appends a command (SELECT first when the database changes). */
  writeCmd(db: number, args: readonly Arg[]): void {
    const w = this.writer!;
    if (db !== this.fileDb) {
      this.report.bytesSent += w.command(['SELECT', db]);
      this.fileDb = db;
    }
    this.report.bytesSent += w.command(args);
  }

  /** File mode: hands the buffered commands to the file once there is a MiB of them. */
  flushFile(): void | Promise<void> {
    if (this.writer!.pendingBytes >= 1 << 20) return this.drainFile();
    return undefined;
  }

  async drainFile(): Promise<void> {
    for (const p of this.writer!.take()) await this.file!.write(p);
  }

  /** Sends (or writes) one winner. Returns a promise only when it has to wait. */
  key(st: InputState, k: KeyRecord): void | Promise<void> {
    const rep = this.report;
    rep.keys++;
    let ttl = 0;
    if (k.expireAt >= 0) {
      const now = Date.now();
      if (k.expireAt <= now) {
        rep.skippedExpired++;
        return;
      }
      ttl = this.absTtl ? k.expireAt : k.expireAt - now;
    }
    const rec = shiftedRecord(st, k);
    const recValkey = st.magic === 'VALKEY' && rec === k;
    let t;
    try {
      t = targetPayload(rec, recValkey, this.version, this.opts.dropUnsupported === true);
    } catch (e) {
      if (isRdbError(e) && e.source === '') e.setSource(st.path);
      throw e;
    }
    if ('dropped' in t) {
      rep.skippedUnsupported++;
      return;
    }
    const dumpLen = t.dumpLen;
    let dump: Uint8Array | Uint8Array[];
    if (t.converted === null) {
      // The fast path: the value's bytes as they are, framed in place (no copy of the value).
      dump = copiedPayload(rec.type, rec.payload, this.version);
      rep.copied++;
    } else {
      dump = t.converted;
      rep.converted++;
      if (t.fieldTtlsDropped !== undefined) rep.fieldTtlsDropped++;
    }
    if (dumpLen > this.maxBulk) return this.rebuild(k, rec, recValkey);

    const args: Arg[] = ['RESTORE', k.key, ttl, dump];
    if (this.absTtl && k.expireAt >= 0) args.push('ABSTTL');
    if (this.lruFreq) {
      if (k.freq >= 0) args.push('FREQ', k.freq);
      else if (k.idle >= 0) args.push('IDLETIME', k.idle);
    }
    if (this.writer !== null) {
      if ((this.opts.onBusykey ?? 'error') === 'replace') {
        if (this.replaceFlag) args.push('REPLACE');
        else this.writeCmd(k.db, ['DEL', k.key]);
      }
      rep.restored++;
      this.writeCmd(k.db, args);
      return this.flushFile();
    }
    // Size of the command, roughly: the payload dominates.
    const size = dumpLen + k.key.length + 64;
    const c = this.connFor(k.db, size, k.key);
    if (c instanceof Promise) return c.then((conn) => this.restore(conn, k, args));
    this.restore(c, k, args);
    return undefined;
  }

  private restore(c: RespConnection, k: KeyRecord, args: Arg[]): void {
    const trk = this.trk;
    const ctx: RestoreCtx = { run: this, conn: c, db: k.db, key: k.key, args, again: false, trk, seq: trk !== null ? trk.issue(k.offset) : -1, resend: false };
    if (this.windowReplace && !this.replaceUpfront) {
      if (this.replaceFlag) args.push('REPLACE');
      else this.report.bytesSent += c.send(['DEL', k.key], onIgnore, null);
    } else if (this.replaceUpfront) {
      // EXISTS (or the DEL that stands for REPLACE before 3.0) answers first: replaced or new.
      if (this.replaceFlag) {
        this.report.bytesSent += this.send(c, k.key, ['EXISTS', k.key], onThere, ctx);
        args.push('REPLACE');
      } else {
        this.report.bytesSent += c.send(['DEL', k.key], onThere, ctx);
      }
    }
    this.report.bytesSent += this.send(c, k.key, args, onRestore, ctx);
  }

  /** Pass 2: EXISTS for a winner (one that will be sent: not already expired). */
  exists(k: KeyRecord): void | Promise<void> {
    if (k.expireAt >= 0 && k.expireAt <= Date.now()) return;
    const c = this.connFor(k.db, k.key.length + 32, k.key);
    const ctx = { run: this, db: k.db, key: k.key };
    if (c instanceof Promise) {
      return c.then((conn) => {
        this.report.bytesSent += this.send(conn, k.key, ['EXISTS', k.key], onExists, ctx);
      });
    }
    this.report.bytesSent += this.send(c, k.key, ['EXISTS', k.key], onExists, ctx);
    return undefined;
  }

  /**
   * A value too long for one RESTORE: built with plain commands into a temporary key, which is
   * renamed over the key once every command succeeded.
   */
  private async rebuild(k: KeyRecord, rec: KeyRecord, valkey: boolean): Promise<void> {
    const tmp = this.tmpKey(k.key);
    const plan = rebuildPlan(rec, valkey, tmp, this.maxBulk, this.version);
    if ('error' in plan) {
      this.keyFailed(k.db, k.key, plan.error);
      return;
    }
    const policy = this.windowReplace ? 'replace' : this.opts.onBusykey ?? 'error';
    if (this.writer !== null) {
      this.writeCmd(k.db, ['DEL', tmp]);
      for (const cmd of plan.commands) {
        this.writeCmd(k.db, cmd);
        const p = this.flushFile();
        if (p !== undefined) await p;
      }
      if (k.expireAt >= 0) this.writeCmd(k.db, ['PEXPIREAT', tmp, k.expireAt]);
      this.writeCmd(k.db, [policy === 'replace' ? 'RENAME' : 'RENAMENX', tmp, k.key]);
      this.writeCmd(k.db, ['DEL', tmp]);
      this.rebuiltOne(k);
      return this.flushFile();
    }
    const trk = this.trk;
    const seq = trk !== null ? trk.issue(k.offset) : -1;
    await this.rebuildLive(k, tmp, plan.commands, policy);
    // Reached only when the key was settled (written, skipped or failed): errors that stop the
    // run leave it unanswered for the checkpoint.
    if (trk !== null && this.fatal === null) trk.ack(seq);
  }

  private async rebuildLive(k: KeyRecord, tmp: string, commands: Arg[][], policy: BusyKeyPolicy): Promise<void> {
    const rep = this.report;
    const cluster = this.cluster;
    const ctx: RebuildCtx = { error: null };
    let send: (args: readonly Arg[]) => void;
    let call: (args: readonly Arg[]) => Promise<Reply>;
    let room: () => void | Promise<void>;
    if (cluster !== null) {
      // In a cluster: every command to the connection the temporary key's slot picks on its
      // owner now, so that a lost connection or a redirection keeps them in order (see cluster.ts).
      const tmpSlot = slotOf(tmp);
      send = (args) => cluster.sendToOwner(tmpSlot, args, onRebuildStep, ctx);
      call = (args) => cluster.callOwner(tmpSlot, args);
      room = () => cluster.roomAt(tmpSlot);
    } else {
      const pool = this.pool!;
      // Every command of this key on one connection, in order, through the same window. Replies to
      // other keys may SELECT another database on it between our awaits (a BUSYKEY retry), so each
      // command re-selects the key's database first when needed.
      const c = await this.connFor(k.db, 1024, k.key);
      send = (args) => {
        this.selected(c, k.db);
        rep.bytesSent += c.send(args, onRebuildStep, ctx);
      };
      call = (args) => {
        this.selected(c, k.db);
        return c.call(args);
      };
      room = () => (c.roomFor(pool.depth, pool.budget) ? undefined : c.whenBelow(pool.depth, pool.budget));
    }
    send(['DEL', tmp]);
    for (const cmd of commands) {
      const w = room();
      if (w !== undefined) await w;
      this.checkFatal();
      send(cmd);
    }
    if (k.expireAt >= 0) send(['PEXPIREAT', tmp, k.expireAt]);
    // The reply to EXISTS comes after every reply before it: the value is complete (or failed).
    const there = await call(['EXISTS', tmp]);
    if (ctx.error !== null || there !== 1) {
      await call(['DEL', tmp]);
      if (k.expireAt >= 0 && k.expireAt <= Date.now()) rep.skippedExpired++;
      else this.keyFailed(k.db, k.key, ctx.error ?? 'the rebuilt value is not there');
      return;
    }
    const renamed = await call(['RENAMENX', tmp, k.key]);
    if (renamed instanceof RespError) {
      await call(['DEL', tmp]);
      if (FATAL_CODES.has(renamed.code)) this.fatalReply('RENAMENX', renamed);
      else this.keyFailed(k.db, k.key, renamed.message);
      return;
    }
    if (renamed === 1) {
      this.rebuiltOne(k);
      return;
    }
    // The key exists.
    if (policy === 'replace') {
      const r = await call(['RENAME', tmp, k.key]);
      if (r instanceof RespError) {
        await call(['DEL', tmp]);
        this.keyFailed(k.db, k.key, r.message);
      } else {
        this.rebuiltOne(k);
      }
      return;
    }
    await call(['DEL', tmp]);
    if (policy === 'skip') rep.skippedBusy++;
    else this.busyFound(k.db, k.key);
  }
}

/**
 * Every winner of the index, input by input in file order: `fn` gets the input and the selected
 * record (target db, shifted expiry); a returned promise is awaited before the next record.
 */
export async function eachWinner<P extends string>(
  ix: IndexedInputs,
  maxValueSize: number,
  pass: P,
  t0: number,
  opts: { signal?: AbortSignal; onProgress?: (p: { pass: P; source: string; keys: number; bytes: number; t: number }) => void },
  fn: (st: InputState, k: KeyRecord) => void | Promise<void>,
): Promise<void> {
  const { index, inputs, fetchKey, newSelector } = ix;
  // One pass (replay-direct.ts): every selected key wins, the input's counts are made here, and
  // the file's checksum is checked as it is read.
  const direct = isDirect(ix);
  for (const st of inputs) {
    const selector = newSelector(st);
    const rep = st.report;
    if (direct) {
      rep.keysRead = 0;
      rep.keysSelected = 0;
      rep.emptyKeysSkipped = 0;
    }
    let keys = 0;
    let lastProgress = 0;
    for await (const batch of readRdbFile(st.path, { maxValueSize, verifyChecksum: direct })) {
      checkAbort(opts.signal);
      for (const r of batch) {
        if (r.kind === 'aux') {
          selector.aux(r.key, r.value);
          continue;
        }
        if (r.kind === 'eof') {
          opts.onProgress?.({ pass, source: st.path, keys, bytes: r.size, t: Date.now() - t0 });
          continue;
        }
        if (r.kind !== 'key') {
          if (direct && r.kind === 'skipped') {
            rep.keysRead++;
            rep.emptyKeysSkipped++;
          }
          continue;
        }
        keys++;
        const k = selector(r);
        if (direct) {
          // The aux fields (ctime) come before the first key: the shift is known from here on,
          // and send() shifts hash-field TTLs by it.
          if (rep.keysRead++ === 0) finishDirectReport(st, selector);
          if (k === null) continue;
          rep.keysSelected++;
        } else {
          if (k === null) continue;
          let win = index.isWinnerSync(k.db, keyHash(k.db, k.key), st.index, r.offset);
          if (typeof win === 'number') win = await index.isWinner(k.db, k.key, st.index, r.offset, fetchKey);
          if (!win) continue;
        }
        const p = fn(st, k);
        if (p !== undefined) await p;
        if (keys - lastProgress >= PROGRESS_EVERY && opts.onProgress) {
          lastProgress = keys;
          opts.onProgress({ pass, source: st.path, keys, bytes: r.offset, t: Date.now() - t0 });
        }
      }
    }
    if (direct) finishDirectReport(st, selector);
  }
}

/**
 * Replays `inputArgs` (files or directories) into `opts.target`, or as RESP into `opts.respOut`.
 * @returns the report when every key was written or skipped by policy
 * @throws UsageError for bad options; NetworkError (exit 8) for an unreachable target, a refused
 *   AUTH, or a server error that stops the run; ConflictError (exit 9) for collisions across
 *   inputs under `--on-conflict error` or keys on the target under `--on-busykey error`
 *   (ReplayBusyKeys, with the report); ReplayPartialFailure (exit 11) when some keys failed and
 *   others were written; the codec's RdbError for a bad input (UnsupportedError when the target
 *   version cannot hold a value and `dropUnsupported` is off); InterruptedError
 */
export async function replay(inputArgs: readonly string[], opts: ReplayOptions): Promise<ReplayReport> {
  if (!inputArgs.includes(STDIN)) return replayFiles(inputArgs, opts);
  // `-`: standard input, kept in a temporary file for the passes (CLI.md: replay reads stdin).
  if (opts.stdin === undefined) throw new UsageError('input - (stdin) is not available here');
  if (inputArgs.filter((a) => a === STDIN).length > 1) throw new UsageError('stdin (-) can be read only once');
  const sp = await spoolStream(opts.stdin, opts.signal);
  const named = (e: unknown): unknown => {
    if (isRdbError(e) && e.source === sp.path) e.setSource('stdin');
    return e;
  };
  try {
    const sel = opts.select;
    const report = await replayFiles(inputArgs.map((a) => (a === STDIN ? sp.path : a)), {
      ...opts,
      select: { ...sel, snapshotTimes: sel.snapshotTimes.map((x) => (x.input === STDIN ? { ...x, input: sp.path } : x)) },
      stdinPath: sp.path,
    });
    for (const i of report.inputs) if (i.file === sp.path) i.file = STDIN;
    return report;
  } catch (e) {
    const carried = (e as Partial<ReportCarrier>).report;
    if (carried !== undefined) for (const i of carried.inputs) if (i.file === sp.path) i.file = STDIN;
    throw named(e);
  } finally {
    await sp.remove();
  }
}

async function replayFiles(inputArgs: readonly string[], opts: ReplayOptions & { stdinPath?: string }): Promise<ReplayReport> {
  const t0 = Date.now();
  let sel = opts.select;
  const policy = opts.onConflict ?? 'error';
  const busyPolicy = opts.onBusykey ?? 'error';
  const maxValueSize = opts.maxValueSize ?? 512 * 1024 * 1024;
  const nConn = opts.connections ?? DEFAULT_CONNECTIONS;
  const depth = opts.pipeline ?? DEFAULT_PIPELINE;
  const budget = opts.maxInflightBytes ?? DEFAULT_INFLIGHT_BYTES;

  if ((opts.target === undefined) === (opts.respOut === undefined)) {
    throw new UsageError('replay: give --target URI or --resp-out FILE (one of them)');
  }
  if (opts.respOut !== undefined && opts.targetVersion === undefined) {
    throw new UsageError('--resp-out needs --target-version: there is no server to ask', 'e.g. --target-version 10 for Redis 7.0');
  }
  if (opts.targetVersion !== undefined && (!Number.isInteger(opts.targetVersion) || opts.targetVersion < 6 || opts.targetVersion > 12)) {
    throw new UsageError(`--target-version: a version from 6 to 12, not ${opts.targetVersion}`);
  }
  if (!Number.isInteger(nConn) || nConn < 1 || nConn > 256) throw new UsageError('--connections: 1 to 256');
  if (!Number.isInteger(depth) || depth < 1) throw new UsageError('--pipeline: at least 1');
  if (opts.maxRate !== undefined && !(opts.maxRate > 0)) throw new UsageError('--max-rate: a positive number of keys per second');
  if (opts.protoMaxBulkLen !== undefined && !(opts.protoMaxBulkLen >= 1024)) throw new UsageError('--proto-max-bulk-len: at least 1kb');
  if (opts.cluster === true) {
    if (opts.target === undefined) throw new UsageError('--cluster goes with --target (a node of the cluster)');
    if (sel.intoDb !== undefined && sel.intoDb !== 0) throw new UsageError(`--into-db ${sel.intoDb}: a cluster has only database 0`, 'use --into-db 0');
    if (opts.checkpoint !== undefined) throw new UsageError('--checkpoint goes with a standalone target, not --cluster', 'replay into the cluster without --checkpoint (a rerun with --on-busykey replace is idempotent)');
  }
  const paths = await resolveInputs('replay', inputArgs, sel);
  let cp: Checkpoint | null = null;
  if (opts.checkpoint !== undefined) {
    if (opts.respOut !== undefined) throw new UsageError('--checkpoint goes with --target: a --resp-out file is written whole or not at all');
    cp = await Checkpoint.open({
      file: opts.checkpoint,
      inputs: await Promise.all(paths.map((p) => inputIdentity(p, p === opts.stdinPath ? STDIN : p))),
      options: checkpointOptions(opts, sel, policy, busyPolicy),
      now: sel.now,
      nowGiven: opts.nowGiven === true,
    }, opts.maxListed ?? 100);
    sel = { ...sel, now: cp.now };
  }

  const report = newReplayReport({
    target: opts.target !== undefined ? redactUri(opts.target) : null,
    respOut: opts.respOut ?? null,
    now: sel.now,
    policy,
    onBusykey: busyPolicy,
    connections: opts.respOut !== undefined ? 0 : nConn,
    pipeline: depth,
  });
  const run = new Replayer(opts, report);
  if (cp !== null) {
    const p = cp.previous;
    report.checkpoint = {
      file: opts.checkpoint!, resumed: cp.prev !== null, alreadyComplete: cp.alreadyComplete, skippedDone: 0, resent: 0,
      previous: {
        restored: p.restored, replaced: p.replaced, rebuilt: p.rebuilt, skipped: p.skippedBusy + p.skippedExpired + p.skippedUnsupported, failed: p.failed, busy: p.busy,
      },
    };
    if (cp.alreadyComplete) {
      // An earlier run finished: nothing to send (the target is not even contacted).
      finish(report, t0);
      return report;
    }
    const c = cp;
    c.countsFrom(() => ({
      restored: report.restored, replaced: report.replaced, rebuilt: report.rebuilt, skippedBusy: report.skippedBusy,
      skippedExpired: report.skippedExpired, skippedUnsupported: report.skippedUnsupported, failed: report.failed,
      busy: report.busy, resent: c.resent, failures: report.failures, busyKeys: run.busyList,
    }));
  }

  // ---- the target first: a wrong password should not wait for the index pass --------------
  let control: RespConnection | null = null;
  let info: ServerInfo | null = null;
  let ix: IndexedInputs | null = null;
  let sending = false;
  try {
    const tls = opts.target?.tls === true ? await readTlsFiles(opts.tls) : undefined;
    const connOpts = {
      ...(opts.connectTimeoutMs !== undefined ? { connectTimeoutMs: opts.connectTimeoutMs } : {}),
      ...(opts.replyTimeoutMs !== undefined ? { replyTimeoutMs: opts.replyTimeoutMs } : {}),
      ...(tls !== undefined ? { tls } : {}),
    };
    if (opts.target !== undefined) {
      control = await openClient(opts.target, connOpts);
      info = await serverInfo(control);
      report.serverVersion = info.version;
      checkClusterMode(opts.target, info.mode, opts.cluster === true);
      run.useTarget(restoreVersion(opts.target, info, opts.targetVersion), info, opts.protoMaxBulkLen);
    } else {
      run.useTarget(opts.targetVersion!, null, opts.protoMaxBulkLen);
    }

    // ---- pass 1: merge's index pass ---------------------------------------------------------
    const progress = opts.onProgress;
    // A value the target cannot hold stops the run (exit 6) before anything is sent: found in
    // pass 1 by converting, for the types where conversion can fail, what the target cannot load.
    let unsupported: RdbError | null = null;
    // The input being indexed, for the error's file name: progress events name it, and the one
    // at its end (bytes = its size) means the next input comes.
    const sizes = await Promise.all(paths.map(async (p) => (await stat(p)).size));
    let indexing = 0;
    const observe = (rec: KeyRecord, valkey: boolean): boolean => {
      if (unsupported === null && opts.dropUnsupported !== true) {
        const e = unsupportedAt(rec, run.version, valkey);
        if (e !== null) unsupported = e.setSource(paths[indexing] ?? '');
      }
      return false; // an observer only: every winner stays in the index
    };
    // One input without database mapping, loadable as it is: one pass (src/pipelines/replay-direct.ts).
    // (Not into a cluster: its database check needs the whole input read before anything is sent.)
    const head = paths.length === 1 && opts.checkFirst !== true && opts.cluster !== true && sel.dbMap === undefined && sel.intoDb === undefined
      ? await peekHeader(paths[0]!) : null;
    if (head !== null && head.magic === 'REDIS' && head.version <= run.version) {
      ix = await directInputs(paths[0]!, sel, maxValueSize);
    } else ix = await indexInputs(paths, {
      select: sel,
      onConflict: policy,
      maxValueSize,
      leftOut: observe,
      onProgress: (p: MergeProgress) => {
        const i = paths.indexOf(p.source);
        if (i >= 0) indexing = p.bytes >= sizes[i]! ? i + 1 : i;
        progress?.({ ...p, pass: 'index' });
      },
      ...(opts.signal !== undefined ? { signal: opts.signal } : {}),
      t0,
    });
    report.collisionCount = ix.collisionCount;
    if (opts.cluster === true) onlyDbZero(ix);
    if (unsupported !== null) throw unsupported;
    const fn = settleFunctions(ix.libraries, policy, paths);
    if (policy === 'error' && (ix.collisionCount > 0 || fn.conflicts.length > 0)) {
      throw conflictError(ix, fn.conflicts, 'nothing sent');
    }
    settleWinners(ix, policy === 'last' ? 'last' : 'first');
    const fillInputs = (): void => {
      report.inputs = ix!.inputs.map(({ report: r }) => ({
        file: r.file, rdbVersion: r.rdbVersion, keysRead: r.keysRead, keysSelected: r.keysSelected,
        collisionsLost: r.collisionsLost, expiryShift: r.expiryShift,
      }));
    };
    fillInputs();

    // ---- functions: what the target can take ------------------------------------------------
    let libs: Library[] = fn.kept;
    if (libs.length > 0 && run.version < 10) {
      if (opts.dropUnsupported !== true) {
        throw new UnsupportedError({
          offset: 0,
          expected: `a target of RDB 10 (Redis 7.0) or later for function libraries (${libs.map((l) => l.library).join(', ')}); the target is RDB ${run.version}`,
          hint: 'add --drop-unsupported to leave them out',
        });
      }
      report.functions.dropped = libs.map((l) => l.library);
      libs = [];
    }

    // ---- live: open the other connections ----------------------------------------------------
    if (opts.target !== undefined && opts.cluster === true) {
      if (control!.failure !== null) {
        control!.close();
        control = await openClient(opts.target, connOpts);
      }
      run.cluster = await ClusterRouter.discover(opts.target, control!, {
        perNode: nConn, depth, budget: Math.max(1, Math.floor(budget / nConn)), totalBudget: budget, connect: connOpts,
      });
      report.cluster = run.cluster.stats;
      report.connections = nConn * run.cluster.stats.masters.length;
    } else if (opts.target !== undefined) {
      // The first connection sat idle through the index pass: a server `timeout` may have closed it.
      if (control!.failure !== null) {
        control!.close();
        control = await openClient(opts.target, connOpts);
      }
      const first = control!;
      control = null;
      run.pool = await openPool(opts.target, connOpts, first, nConn, depth, budget);
    } else {
      run.file = await atomicWrite(opts.respOut!);
      run.writer = new CommandWriter();
    }

    // ---- pass 2 (--on-busykey error, target not empty): nothing is written if a key exists ---
    const existing: Library[] = [];
    // The first connection of every master (one for a standalone target).
    const heads: RespConnection[] = run.cluster !== null
      ? run.cluster.masters().map((n) => n.pool!.conns[0]!)
      : run.pool !== null ? [run.pool.conns[0]!] : [];
    const live = heads.length > 0;
    // A rerun under `error`: libraries on the target are the first run's own (its check ran
    // before anything was written); they are loaded again with REPLACE.
    const libsAgain = cp?.prev != null && busyPolicy === 'error';
    if (live && busyPolicy !== 'replace' && !libsAgain) {
      for (const l of libs) {
        let there = false;
        for (const c of heads) there ||= await libraryExists(c, l.library);
        if (there) existing.push(l);
      }
      if (busyPolicy === 'skip') {
        report.functions.skipped = existing.map((l) => l.library);
        libs = libs.filter((l) => !existing.includes(l));
      }
    }
    let occupied = false;
    if (live) {
      const dbs = new Set<number>();
      ix.index.forEach((s) => dbs.add(ix!.index.dbOf(s)));
      if (run.cluster !== null) {
        // Every master's own keyspace (INFO is per node).
        for (const c of heads) {
          const ks = (await serverInfo(c)).keyspace;
          occupied ||= (ks.get(0) ?? 0) > 0;
        }
      } else {
        // One pass: the databases written are not known yet; any key on the target counts.
        occupied = isDirect(ix) ? [...info!.keyspace.values()].some((n) => n > 0) : [...dbs].some((d) => (info!.keyspace.get(d) ?? 0) > 0);
      }
      const strategy = opts.replaceStrategy ?? 'auto';
      run.replaceUpfront = busyPolicy === 'replace' && (strategy === 'upfront' || (strategy === 'auto' && occupied));
    }
    if (live && busyPolicy === 'error') {
      if (occupied) {
        await eachWinner(ix, maxValueSize, 'check', t0, opts, (st, k) => {
          run.checkFatal();
          // On a rerun only the entries no earlier run sent can find a key that is not ours.
          if (cp !== null && cp.tracks[st.index]!.fate(k.offset) !== FRESH) return undefined;
          return run.exists(k);
        });
        await run.idle();
        run.checkFatal();
      }
      if (report.busy > 0 || existing.length > 0) {
        report.busyKeys = run.busyList;
        finish(report, t0);
        const list = run.busyList.slice(0, 20).map((b) => `db ${b.db} ${keyText(b.key)}`);
        const fl = existing.map((l) => `function library ${l.library}`);
        throw new ReplayBusyKeys(
          `${report.busy} key(s)${existing.length > 0 ? ` and ${existing.length} function librar${existing.length === 1 ? 'y' : 'ies'}` : ''} already on the target (--on-busykey error); nothing written:\n  ${[...list, ...fl].join('\n  ')}${report.busy > 20 ? `\n  ... (${report.busy - 20} more)` : ''}`,
          report,
          'choose --on-busykey skip or replace, or replay into an empty server',
        );
      }
    }

    // ---- functions ---------------------------------------------------------------------------
    for (const l of libs) {
      const args: Arg[] = busyPolicy === 'replace' || libsAgain ? ['FUNCTION', 'LOAD', 'REPLACE', l.code] : ['FUNCTION', 'LOAD', l.code];
      if (run.writer !== null) {
        run.writeCmd(0, args);
        report.functions.loaded.push(l.library);
        continue;
      }
      // A cluster: every master gets the library (functions are per node).
      let failed: RespError | null = null;
      for (const c of heads) {
        const r = await c.call(args);
        if (r instanceof RespError) failed ??= r;
      }
      if (failed !== null) {
        if (FATAL_CODES.has(failed.code)) run.fatalReply('FUNCTION LOAD', failed);
        run.checkFatal();
        report.functions.failed.push({ library: l.library, error: failed.message });
      } else {
        report.functions.loaded.push(l.library);
      }
    }

    // ---- pass 3: send -----------------------------------------------------------------------
    const rate = opts.maxRate;
    const paceStart = performance.now();
    let paced = 0;
    const pace = async (): Promise<void> => {
      // Keys are let through at `rate` a second; a timer resolves the wait, no polling.
      const due = paceStart + (paced * 1000) / rate!;
      paced++;
      const wait = due - performance.now();
      if (wait > 1) {
        run.pool?.conns.forEach((c) => c.flush());
        run.cluster?.flush();
        await delay(wait);
      }
    };
    const send = (st: InputState, k: KeyRecord): void | Promise<void> => {
      run.checkFatal();
      if (rate !== undefined) return pace().then(() => run.key(st, k));
      return run.key(st, k);
    };
    if (cp !== null) {
      // The first write checks the file can be written and reserves the first stretch. Before
      // it, nothing was sent: a run stopped earlier (busy keys, a bad input) leaves the
      // checkpoint as it was.
      sending = true;
      await cp.save();
      cp.start();
    }
    await eachWinner(ix, maxValueSize, 'send', t0, opts, cp === null ? send : (st, k) => {
      const c = cp!;
      const fate = c.at(st.index, k.offset);
      if (fate === DONE) return undefined;
      run.trk = c.tracks[st.index]!;
      run.windowReplace = fate === UNCERTAIN && busyPolicy === 'error';
      const wait = c.room(st.index, k.offset);
      if (wait !== undefined) return wait.then(() => send(st, k));
      return send(st, k);
    });
    if (live) {
      await run.idle();
      run.checkFatal();
      if (cp !== null) {
        cp.stop();
        cp.markComplete();
        await cp.save();
      }
    } else {
      await run.drainFile();
      checkAbort(opts.signal);
      await run.file!.commit();
    }
    fillInputs();
    report.busyKeys = run.busyList;
    finish(report, t0);
    let prevBad = 0;
    if (cp !== null) {
      report.checkpoint!.skippedDone = cp.skippedDone;
      report.checkpoint!.resent = cp.resent;
      prevBad = cp.previous.failed;
    }

    if (report.busy > 0) {
      const list = run.busyList.slice(0, 20).map((b) => `db ${b.db} ${keyText(b.key)}`);
      throw new ReplayBusyKeys(
        `${report.busy} key(s) appeared on the target while replaying (--on-busykey error); they were left as they were:\n  ${list.join('\n  ')}`,
        report,
        'something else writes to the target: stop it, or choose --on-busykey skip or replace',
      );
    }
    const bad = report.failed + report.functions.failed.length + prevBad;
    if (bad > 0) {
      const written = report.restored + report.replaced + report.rebuilt + report.functions.loaded.length;
      const first: KeyFailure | { library: string; error: string } | undefined = report.failures.length > 0 ? report.failures[0] : report.functions.failed[0];
      const msg = `${report.failed} key(s)${report.functions.failed.length > 0 ? ` and ${report.functions.failed.length} function librar${report.functions.failed.length === 1 ? 'y' : 'ies'}` : ''} failed, ${written} written; first: ${first === undefined ? '?' : 'key' in first ? `db ${first.db} ${keyText(first.key)}: ${first.error}` : `library ${first.library}: ${first.error}`}`;
      if (written === 0 && report.skipped === 0) throw new NetworkError(`nothing could be written: ${msg}`);
      throw new ReplayPartialFailure(msg, report, '--json prints every failure (up to the first 100)');
    }
    return report;
  } catch (e) {
    if (cp !== null && report.checkpoint !== null) {
      report.checkpoint.skippedDone = cp.skippedDone;
      report.checkpoint.resent = cp.resent;
    }
    if (cp !== null && sending && run.pool !== null) await flushCheckpoint(cp, run.pool);
    throw e;
  } finally {
    cp?.stop();
    control?.close();
    run.pool?.close();
    run.cluster?.close();
    if (run.file !== null) await run.file.abort();
    if (ix !== null) await ix.ra.close();
  }
}

/**
 * The target's `redis_mode` against `--cluster`: a cluster node needs it (its other masters hold
 * most slots), a standalone server refuses it.
 * @throws UsageError
 */
export function checkClusterMode(target: RedisUri, mode: string, cluster: boolean): void {
  if (mode === 'cluster' && !cluster) {
    throw new UsageError(
      `${redactUri(target)} is a Redis Cluster node: add --cluster to route each key to the master owning its slot`,
      'a cluster has only database 0: inputs with keys in other databases also need --into-db 0',
    );
  }
  if (mode !== 'cluster' && cluster) {
    throw new UsageError(`--cluster: ${redactUri(target)} is not a cluster node (redis_mode:${mode})`, 'leave out --cluster for a standalone server');
  }
}

/**
 * A cluster has only database 0: every winner must land there.
 * @throws UsageError naming the other databases
 */
export function onlyDbZero(ix: IndexedInputs): void {
  const other = new Map<number, number>();
  ix.index.forEach((s) => {
    const d = ix.index.dbOf(s);
    if (d !== 0) other.set(d, (other.get(d) ?? 0) + 1);
  });
  if (other.size === 0) return;
  const list = [...other].sort((a, b) => a[0] - b[0]).map(([d, n]) => `db ${d} (${n} key${n === 1 ? '' : 's'})`);
  throw new UsageError(
    `a Redis Cluster has only database 0, and the inputs hold keys in ${list.join(', ')}; nothing sent`,
    'add --into-db 0 (with --on-conflict first or last if keys of different databases collide), or --db 0 to keep only database 0',
  );
}

const TYPE_BYTES: Uint8Array[] = Array.from({ length: 256 }, (_, i) => Uint8Array.of(i));

/**
 * A DUMP payload as parts (type byte, the value's own bytes, version + CRC-64): what
 * buildDumpPayload returns, without copying the value.
 */
function copiedPayload(type: number, payload: Uint8Array, version: number): Uint8Array[] {
  const t = TYPE_BYTES[type]!;
  const footer = new Uint8Array(10);
  footer[0] = version & 0xff; // u16 LE
  footer[1] = version >>> 8;
  const crc = new Crc64();
  crc.update(t);
  crc.update(payload);
  crc.update(footer, 0, 2);
  // The CRC little-endian into the footer, without digestBytes()'s array per key.
  crc.digestInto(footer, 2);
  return [t, payload, footer];
}

/**
 * The UnsupportedError converting `rec` for `version` raises, or null. Only types whose
 * conversion can fail are tried (streams, module values, hashes with field TTLs): the others
 * always convert.
 */
export function unsupportedAt(rec: KeyRecord, version: number, valkey: boolean): RdbError | null {
  if (targetLoadsType(rec.type, version, valkey)) return null;
  const kind = TYPE_KIND[rec.type];
  const fieldTtls = C.FIELD_TTL_TYPES.has(rec.type) || (valkey && rec.type === C.VALKEY_TYPE_HASH_2);
  if (kind !== 'stream' && kind !== 'module' && !fieldTtls) return null;
  try {
    convertForTarget(rec.type, rec.payload, version, { dropUnsupported: false, valkey, key: rec.key, offset: rec.valueOffset });
    return null;
  } catch (e) {
    if (e instanceof UnsupportedError) return e;
    throw e;
  }
}

/**
 * The run stops (failure, SIGINT): replies still on their way get a moment to arrive, so fewer
 * entries are left uncertain, then the checkpoint is written. A checkpoint that cannot be written
 * then does not hide the error that stopped the run.
 */
async function flushCheckpoint(cp: Checkpoint, pool: Pool): Promise<void> {
  cp.sendingStopped();
  const live = pool.conns.filter((c) => c.failure === null && c.inflight > 0);
  if (live.length > 0) {
    for (const c of live) c.flush();
    const grace = delay(1000, undefined, { ref: false });
    await Promise.race([Promise.allSettled(live.map((c) => c.idle())), grace]);
  }
  await cp.save().catch(() => undefined);
}

/** The options a checkpoint must be continued with (no password: the URI is redacted). */
function checkpointOptions(opts: ReplayOptions, sel: SharedOptions, policy: ConflictPolicy, busy: BusyKeyPolicy): Record<string, unknown> {
  const t = opts.target;
  return {
    target: t === undefined ? null : `${t.tls ? 'rediss' : 'redis'}://${t.username !== undefined ? `${t.username}@` : ''}${t.host}:${t.port}`,
    db: sel.db ?? null,
    type: sel.type ?? null,
    match: sel.match ?? null,
    dbMap: sel.dbMap === undefined ? null : [...sel.dbMap.entries()].sort((a, b) => a[0] - b[0]),
    intoDb: sel.intoDb ?? null,
    expireOffset: sel.expireOffset,
    rebaseExpiry: sel.rebaseExpiry,
    snapshotTimes: sel.snapshotTimes,
    dropExpired: sel.dropExpired,
    onConflict: policy,
    onBusykey: busy,
    targetVersion: opts.targetVersion ?? null,
    dropUnsupported: opts.dropUnsupported === true,
  };
}

/** The report's totals at the end of a run: skipped, seconds, keys per second. */
export function finish(report: ReplayReport, t0: number): void {
  report.skipped = report.skippedBusy + report.skippedExpired + report.skippedUnsupported;
  report.seconds = (Date.now() - t0) / 1000;
  const written = report.restored + report.replaced + report.rebuilt;
  report.keysPerSecond = report.seconds > 0 ? Math.round(written / report.seconds) : written;
}

/** Does the target hold a function library of exactly this name? (FUNCTION LIST takes a pattern.) */
export async function libraryExists(c: RespConnection, name: string): Promise<boolean> {
  const r = await c.call(['FUNCTION', 'LIST', 'LIBRARYNAME', name]);
  if (!Array.isArray(r)) return false;
  for (const lib of r) {
    if (!Array.isArray(lib)) continue;
    for (let i = 0; i + 1 < lib.length; i += 2) {
      const f = lib[i];
      const v = lib[i + 1];
      if (Buffer.isBuffer(f) && f.toString('latin1') === 'library_name' && Buffer.isBuffer(v) && v.toString('utf8') === name) return true;
    }
  }
  return false;
}
