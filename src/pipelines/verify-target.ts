/**
 * `verify --target URI`: does a live server hold what replaying the inputs should give? A library
 * function: it returns a report (with the differences) or throws typed errors; it never prints.
 *
 *  1. merge's index pass (indexInputs), as replay runs it: the same selection, transforms and
 *     `--on-conflict` settlement, so the index names every expected (db, key) and its winner;
 *  2. each input streamed again; for every winner, pipelined `DUMP key` + `PEXPIRETIME key`
 *     (`PTTL` before Redis 7.0, turned into an absolute time with the local clock) on the
 *     target; the DUMP payload is verified (version, CRC), decoded and compared logically with the
 *     winner, both in the canonical JSONL form: type, value, expiry within `ttlTolerance`, hash
 *     field TTLs. What the target version cannot hold is expected as replay sends it (left out, or
 *     without field TTLs, with `dropUnsupported`); keys whose expiry has passed are expected gone;
 *  3. with `exact`, every database of the target is SCANned and a key that is not a winner the
 *     target should hold is extra, and function libraries beyond the expected ones are extra.
 * A cluster target (`cluster`): each key is read from the master owning its slot (MOVED / ASK
 * followed, src/redis/cluster.ts); `exact` counts the keys of every master (DBSIZE) and SCANs each
 * master when there are more than the winners found; every master must hold the libraries.
 * LRU/LFU data is not compared (reading a key changes it).
 */
import {
  compareBytes, decodeValue, parseDumpPayload, rdb as C, rdbVersionForServer, targetLoadsType,
} from '../../native-free-parser/index.js';
import type { KeyRecord, Value } from '../../native-free-parser/index.js';
import type { SharedOptions } from '../cli-options.js';
import { InterruptedError, NetworkError, UsageError } from '../errors.js';
import { jsonBytes, keyJson } from '../format/jsonl.js';
import { parseFunctionLibrary } from '../functions.js';
import { bytesEqual, keyHash, SlotSet } from '../merge/key-index.js';
import { ClusterRouter, slotOf as keySlotOf } from '../redis/cluster.js';
import { openClient, readTlsFiles, serverInfo, type RespConnection, type TlsFiles } from '../redis/connection.js';
import { Pool } from '../redis/pool.js';
import { RespError, type Reply } from '../redis/resp.js';
import { redactUri, type RedisUri } from '../values.js';
import {
  conflictError, resolveInputs, settleFunctions, settleWinners, type ConflictPolicy, type IndexedInputs,
} from './merge.js';
import { checkClusterMode, eachWinner, onlyDbZero, versionNumber } from './replay.js';
import type { VerifyDifference, VerifyReport } from './verify.js';
import { compareKeyJson, expectedValue, inputSummaries, verifyIndexPass } from './verify.js';

export interface VerifyTargetProgress {
  pass: 'index' | 'verify' | 'scan';
  source: string;
  keys: number;
  bytes: number;
  t: number;
}

export interface VerifyTargetOptions {
  /** Selection and expiry options, as given to replay. */
  select: SharedOptions;
  /** `--on-conflict`, as given to replay. Default 'error' (collisions: ConflictError, exit 9). */
  onConflict?: ConflictPolicy;
  target: RedisUri;
  /** `--cluster`: the target is a node of a Redis Cluster. Default false. */
  cluster?: boolean;
  /** TLS options for a rediss:// target. */
  tls?: TlsFiles;
  /** `--target-version`, as given to replay. Default: from the target's INFO. */
  targetVersion?: number;
  /** `--drop-unsupported`, as given to replay. Default false. */
  dropUnsupported?: boolean;
  /** `--ttl-tolerance` in ms: expiries this far apart still match. Default 2,000. */
  ttlTolerance?: number;
  /** `--exact`: the target holds nothing else (no other key in any database, no other library). Default false. */
  exact?: boolean;
  /** `--max-value-size` in bytes. Default 512 MiB. */
  maxValueSize?: number;
  /** Differences listed (all are counted). Default 100. */
  limit?: number;
  /** Default 2. */
  connections?: number;
  /** Keys in flight per connection. Default 128. */
  pipeline?: number;
  connectTimeoutMs?: number;
  replyTimeoutMs?: number;
  onProgress?: (p: VerifyTargetProgress) => void;
  signal?: AbortSignal;
}

/** verify's report, for a live target: `against` holds the target URI (without its password). */
export interface VerifyTargetReport extends VerifyReport {
  target: string;
  serverVersion: string;
  exact: boolean;
  /** Winners whose expiry passed before they could be checked (expected gone). */
  expired: number;
}


const byBytes = (a: Uint8Array, b: Uint8Array): number => compareBytes(a, b);

/**
 * Are two values the same (hash field TTLs within `tol`)? Compared on the decoded bytes, without
 * building their JSONL form; undefined for streams and module values, which the caller compares
 * through JSONL.
 */
function sameValue(a: Value, b: Value, tol: number): boolean | undefined {
  switch (a.type) {
    case 'string':
      return b.type === 'string' && bytesEqual(a.value, b.value);
    case 'list':
      return b.type === 'list' && a.value.length === b.value.length && a.value.every((x, i) => bytesEqual(x, b.value[i]!));
    case 'set': {
      if (b.type !== 'set' || a.value.length !== b.value.length) return false;
      const x = [...a.value].sort(byBytes);
      const y = [...b.value].sort(byBytes);
      return x.every((e, i) => bytesEqual(e, y[i]!));
    }
    case 'zset': {
      if (b.type !== 'zset' || a.value.length !== b.value.length) return false;
      const order = (p: [Uint8Array, number], q: [Uint8Array, number]): number => (p[1] < q[1] ? -1 : p[1] > q[1] ? 1 : compareBytes(p[0], q[0]));
      const x = [...a.value].sort(order);
      const y = [...b.value].sort(order);
      return x.every((e, i) => e[1] === y[i]![1] && bytesEqual(e[0], y[i]![0]));
    }
    case 'hash': {
      if (b.type !== 'hash' || a.value.length !== b.value.length) return false;
      const order = (p: [Uint8Array, unknown], q: [Uint8Array, unknown]): number => compareBytes(p[0], q[0]);
      const x = [...a.value].sort(order);
      const y = [...b.value].sort(order);
      if (!x.every((e, i) => bytesEqual(e[0], y[i]![0]) && bytesEqual(e[1], y[i]![1]))) return false;
      const fa = [...(a.fieldExpireAt ?? [])].sort(order);
      const fb = [...(b.fieldExpireAt ?? [])].sort(order);
      return fa.length === fb.length && fa.every((e, i) => bytesEqual(e[0], fb[i]![0]) && Math.abs(e[1] - fb[i]![1]) <= tol);
    }
    default:
      return undefined;
  }
}

interface CheckCtx {
  run: Checker;
  k: KeyRecord;
  from: string;
  shift: number;
  valkey: boolean;
  dump: Reply;
  /** The winner's index slot (for --exact), or -1. */
  slot: number;
}

function onDump(r: Reply, ctx: CheckCtx): void {
  ctx.dump = r;
}

function onExpire(r: Reply, ctx: CheckCtx): void {
  ctx.run.compare(ctx, r);
}

function onSelect(r: Reply, run: Checker): void {
  if (r instanceof RespError) run.fatal ??= new NetworkError(`the target refused SELECT: ${r.message.slice(0, 200)}`);
}

class Checker {
  fatal: NetworkError | null = null;
  readonly differences: VerifyDifference[] = [];
  readonly counts = { missing: 0, extra: 0, different: 0, matched: 0, checked: 0, droppedUnsupported: 0, expired: 0 };
  /** Winners found on the target, per database (--exact scans only where the target holds more). */
  readonly presentPerDb = new Map<number, number>();
  /** A bit per index slot: this winner was found on the target. */
  found = new SlotSet(0);

  constructor(
    readonly version: number,
    readonly dumpVersionValkey: boolean,
    readonly pexpiretime: boolean,
    readonly tol: number,
    readonly limit: number,
    readonly dropUnsupported: boolean,
  ) {}

  note(d: VerifyDifference): void {
    if (this.differences.length < this.limit) this.differences.push(d);
  }

  selected(c: RespConnection, db: number): void {
    if (c.db !== db) {
      c.send(['SELECT', db], onSelect, this);
      c.db = db;
    }
  }

  compare(ctx: CheckCtx, ttlReply: Reply): void {
    const { k } = ctx;
    const d = ctx.dump;
    ctx.dump = null;
    if (d instanceof RespError || ttlReply instanceof RespError) {
      const e = (d instanceof RespError ? d : ttlReply) as RespError;
      this.fatal ??= new NetworkError(`the target refused ${d instanceof RespError ? 'DUMP' : 'PEXPIRETIME'}: ${e.code}`);
      return;
    }
    const now = Date.now();
    const gone = d === null || ttlReply === -2;
    // The usual case: the target DUMPs the very bytes replay sent (same encoding, no transform).
    const plain = targetLoadsType(k.type, this.version, ctx.valkey) && !(ctx.shift !== 0 && C.FIELD_TTL_TYPES.has(k.type));
    const want = gone || !plain ? expectedValue(k, ctx.shift, ctx.valkey, this.version, this.dropUnsupported) : undefined;
    if (gone) {
      if (want === null) {
        this.counts.droppedUnsupported++;
      } else if (k.expireAt >= 0 && k.expireAt <= now + this.tol) {
        this.counts.expired++;
      } else {
        this.counts.missing++;
        this.note({ kind: 'missing', db: k.db, key: jsonBytes(k.key), from: ctx.from });
      }
      return;
    }
    this.counts.checked++;
    this.presentPerDb.set(k.db, (this.presentPerDb.get(k.db) ?? 0) + 1);
    if (ctx.slot >= 0) this.found.add(ctx.slot);
    if (want === null) {
      this.counts.extra++;
      this.note({ kind: 'extra', db: k.db, key: jsonBytes(k.key), from: ctx.from });
      return;
    }
    const t = typeof ttlReply === 'number' ? ttlReply : -1;
    const expireAt = t < 0 ? -1 : this.pexpiretime ? t : now + t;
    const expiryOk = expireAt === k.expireAt || (expireAt >= 0 && k.expireAt >= 0 && Math.abs(expireAt - k.expireAt) <= this.tol);
    let got: Value;
    let p;
    try {
      p = parseDumpPayload(d as Buffer, { maxVersion: 0xffff });
      if (expiryOk && plain && p.type === k.type && bytesEqual(p.payload, k.payload)) {
        this.counts.matched++;
        return;
      }
      got = decodeValue(p.type, p.payload, { valkey: p.version >= 80 || this.dumpVersionValkey });
    } catch (e) {
      this.counts.different++;
      this.note({ kind: 'different', db: k.db, key: jsonBytes(k.key), from: ctx.from, what: ['value'], path: '', expected: 'a DUMP payload this codec reads', actual: (e as Error).message });
      return;
    }
    const wantV = want ?? expectedValue(k, ctx.shift, ctx.valkey, this.version, this.dropUnsupported)!;
    if (expiryOk && sameValue(wantV, got, this.tol) === true) {
      this.counts.matched++;
      return;
    }
    // Different (or a stream / module value): compare the JSONL forms, which also says where.
    const wantJ = keyJson(k.db, k.key, wantV, k.expireAt);
    const gotJ = keyJson(k.db, k.key, got, expireAt);
    const diff = compareKeyJson(wantJ, gotJ, this.tol);
    if (diff === undefined) this.counts.matched++;
    else {
      this.counts.different++;
      this.note({ kind: 'different', db: k.db, key: jsonBytes(k.key), from: ctx.from, ...diff });
    }
  }
}

/** The slot of the index entry whose winner is the record at (input, offset), or -1. */
function slotOf(ix: IndexedInputs, k: KeyRecord, input: number): number {
  const index = ix.index;
  const h = keyHash(k.db, k.key);
  for (let s = index.candidate(k.db, h); s >= 0; s = index.candidate(k.db, h, s)) {
    if (index.inputOf(s) === input && index.offset(s) === k.offset) return s;
  }
  return -1;
}

/**
 * Verifies that the live target holds what replaying `inputArgs` with these options gives.
 * @returns the report; `ok` is false when anything differs (the CLI exits 10 then)
 * @throws ConflictError (exit 9) under `--on-conflict error` when the inputs collide; UsageError;
 *   NetworkError (exit 8); the codec's RdbError for a bad input; InterruptedError
 */
export async function verifyTarget(inputArgs: readonly string[], opts: VerifyTargetOptions): Promise<VerifyTargetReport> {
  const t0 = Date.now();
  const sel = opts.select;
  const policy = opts.onConflict ?? 'error';
  const maxValueSize = opts.maxValueSize ?? 512 * 1024 * 1024;
  const tol = opts.ttlTolerance ?? 2000;
  const exact = opts.exact === true;
  const dropUnsupported = opts.dropUnsupported === true;
  const nConn = opts.connections ?? 2;
  const depth = opts.pipeline ?? 128;
  if (!(tol >= 0)) throw new UsageError('--ttl-tolerance: must not be negative');
  if (opts.targetVersion !== undefined && (opts.targetVersion < 6 || opts.targetVersion > 12)) {
    throw new UsageError(`--target-version: a version from 6 to 12, not ${opts.targetVersion}`);
  }
  const paths = await resolveInputs('verify', inputArgs, sel);
  const shown = redactUri(opts.target);
  const conns: RespConnection[] = [];
  let router: ClusterRouter | null = null;
  let ix: IndexedInputs | null = null;
  try {
    const tls = opts.target.tls ? await readTlsFiles(opts.tls) : undefined;
    const connOpts = {
      ...(opts.connectTimeoutMs !== undefined ? { connectTimeoutMs: opts.connectTimeoutMs } : {}),
      ...(opts.replyTimeoutMs !== undefined ? { replyTimeoutMs: opts.replyTimeoutMs } : {}),
      ...(tls !== undefined ? { tls } : {}),
    };
    conns.push(await openClient(opts.target, connOpts));
    const info = await serverInfo(conns[0]!);
    checkClusterMode(opts.target, info.mode, opts.cluster === true);
    const serverRdb = rdbVersionForServer(info.version, info.valkey);
    if (serverRdb === undefined) throw new NetworkError(`${shown}: cannot tell the server version from INFO`, 'give --target-version');
    const version = opts.targetVersion ?? (serverRdb >= 80 ? 11 : Math.min(serverRdb, 12));
    const vn = info.valkey ? 9999 : versionNumber(info.version);
    const run = new Checker(version, serverRdb >= 80, vn >= 700, tol, opts.limit ?? 100, dropUnsupported);

    const progress = opts.onProgress;
    ix = await verifyIndexPass(paths, sel, policy, maxValueSize, opts, t0);
    const fn = settleFunctions(ix.libraries, policy, paths);
    if (policy === 'error' && (ix.collisionCount > 0 || fn.conflicts.length > 0)) throw conflictError(ix, fn.conflicts, 'replay refuses these inputs under --on-conflict error');
    settleWinners(ix, policy === 'last' ? 'last' : 'first');
    if (opts.cluster === true) onlyDbZero(ix);
    run.found = new SlotSet(ix.index.capacity);

    // The first connection sat idle through the index pass: a server `timeout` may have closed it.
    if (conns[0]!.failure !== null) {
      conns[0]!.close();
      conns[0] = await openClient(opts.target, connOpts);
    }
    let pool: Pool | null = null;
    if (opts.cluster === true) {
      router = await ClusterRouter.discover(opts.target, conns[0]!, { perNode: nConn, depth: depth * 2, budget: 64 * 1024 * 1024 / nConn, totalBudget: 64 * 1024 * 1024, connect: connOpts });
    } else {
      for (let i = 1; i < nConn; i++) conns.push(await openClient(opts.target, connOpts));
      pool = new Pool(conns, depth * 2, 64 * 1024 * 1024 / nConn);
    }
    // The first connection of every master (the server itself when standalone).
    const heads = router !== null ? router.masters().map((n) => n.pool!.conns[0]!) : [conns[0]!];
    const ttlCmd = run.pexpiretime ? 'PEXPIRETIME' : 'PTTL';
    const ixr = ix;

    // ---- every winner, read back ------------------------------------------------------------
    await eachWinner(ix, maxValueSize, 'verify', t0, opts, (st, k) => {
      if (run.fatal !== null) throw run.fatal;
      if (k.expireAt >= 0 && k.expireAt <= Date.now()) {
        run.counts.expired++;
        return undefined;
      }
      const ctx: CheckCtx = { run, k, from: st.path, shift: st.report.expiryShift, valkey: st.magic === 'VALKEY', dump: null, slot: exact ? slotOf(ixr, k, st.index) : -1 };
      const size = k.payload.length + k.key.length + 64;
      if (router !== null) {
        if (router.failure !== null) throw router.failure;
        const slot = keySlotOf(k.key);
        const goRouted = (c: RespConnection): void => {
          router!.send(c, slot, ['DUMP', k.key], onDump, ctx);
          router!.send(c, slot, [ttlCmd, k.key], onExpire, ctx);
        };
        const c = router.connFor(slot, size);
        if (c instanceof Promise) return c.then(goRouted);
        goRouted(c);
        return undefined;
      }
      const go = (c: RespConnection): void => {
        run.selected(c, k.db);
        c.send(['DUMP', k.key], onDump, ctx);
        c.send([ttlCmd, k.key], onExpire, ctx);
      };
      const c = pool!.pick(size);
      if (c !== null) {
        go(c);
        return undefined;
      }
      return pool!.room(size).then(go);
    });
    if (router !== null) await router.idle();
    else await pool!.idle();
    if (run.fatal !== null) throw run.fatal;

    // ---- --exact: nothing else on the target -------------------------------------------------
    if (exact) {
      // Keys per database: the server's INFO keyspace, or the sum of DBSIZE over the masters.
      const keyspace = new Map<number, number>();
      if (router !== null) {
        let total = 0;
        for (const h of heads) {
          const r = await h.call(['DBSIZE']);
          if (typeof r !== 'number') throw new NetworkError(`${h.name}: DBSIZE failed${r instanceof RespError ? `: ${r.code}` : ''}`);
          total += r;
        }
        if (total > 0) keyspace.set(0, total);
      } else {
        for (const [db, n] of (await serverInfo(conns[0]!)).keyspace) keyspace.set(db, n);
      }
      const scan = async (db: number, exactKeys: boolean): Promise<Buffer[]> => {
        const extras = new Map<string, Buffer>();
        for (const c of heads) await scanNode(c, db, exactKeys, extras);
        return [...extras.values()];
      };
      const scanNode = async (c: RespConnection, db: number, exactKeys: boolean, extras: Map<string, Buffer>): Promise<void> => {
        let cursor = '0';
        let scanned = 0;
        do {
          if (opts.signal?.aborted === true) throw new InterruptedError();
          run.selected(c, db);
          const r = await c.call(['SCAN', cursor, 'COUNT', 1000]);
          if (r instanceof RespError || !Array.isArray(r) || r.length !== 2 || !Buffer.isBuffer(r[0]) || !Array.isArray(r[1])) {
            throw new NetworkError(`${shown}: SCAN failed${r instanceof RespError ? `: ${r.code}` : ''}`);
          }
          cursor = r[0].toString('latin1');
          for (const key of r[1]) {
            if (!Buffer.isBuffer(key)) continue;
            scanned++;
            const h = keyHash(db, key);
            if (!exactKeys) {
              // A winner found on the target with this hash: taken as this key (checked below).
              let found = false;
              for (let sl = ixr.index.candidate(db, h); sl >= 0 && !found; sl = ixr.index.candidate(db, h, sl)) {
                found = run.found.has(sl);
              }
              if (found) continue;
            }
            const sl = await ixr.index.find(db, key, h, ixr.fetchKey);
            if (sl >= 0) continue; // a winner (found above, or expected gone and counted there)
            extras.set(key.toString('base64'), key);
          }
        } while (cursor !== '0');
        progress?.({ pass: 'scan', source: `${router !== null ? c.name : shown} db ${db}`, keys: scanned, bytes: 0, t: Date.now() - t0 });
      };
      for (const db of [...keyspace.keys()].sort((a, b) => a - b)) {
        // As many keys as winners found there: nothing else (each winner is one distinct key).
        const more = keyspace.get(db)! - (run.presentPerDb.get(db) ?? 0);
        if (more <= 0) continue;
        let extras = await scan(db, false);
        // Fewer than the count says: an extra key shares a hash with a winner; compare bytes.
        if (extras.length < more) extras = await scan(db, true);
        for (const key of extras) {
          run.counts.extra++;
          run.note({ kind: 'extra', db, key: jsonBytes(key), file: shown });
        }
      }
    }

    // ---- functions ---------------------------------------------------------------------------
    const expectLibs = version < 10 ? (dropUnsupported ? [] : fn.kept) : fn.kept;
    // Per node (every master of a cluster must hold each library).
    const perHead: Uint8Array[][] = [];
    if (vn >= 700) {
      for (const h of heads) {
        const codes: Uint8Array[] = [];
        const r = await h.call(['FUNCTION', 'LIST', 'WITHCODE']);
        if (Array.isArray(r)) {
          for (const lib of r) {
            if (!Array.isArray(lib)) continue;
            for (let i = 0; i + 1 < lib.length; i += 2) {
              const f = lib[i];
              const v = lib[i + 1];
              if (Buffer.isBuffer(f) && f.toString('latin1') === 'library_code' && Buffer.isBuffer(v)) codes.push(v);
            }
          }
        }
        perHead.push(codes);
      }
    }
    const found: Uint8Array[] = [];
    for (const codes of perHead) for (const c of codes) if (!found.some((x) => bytesEqual(x, c))) found.push(c);
    const libName = (code: Uint8Array): string => parseFunctionLibrary(Buffer.from(code).toString('utf8')).library || '(unnamed)';
    const fMissing = expectLibs.filter((l) => perHead.length === 0 || perHead.some((codes) => !codes.some((c) => bytesEqual(c, l.code)))).map((l) => l.library);
    const fExtra = exact ? found.filter((c) => !expectLibs.some((l) => bytesEqual(c, l.code))).map(libName) : [];

    const k = run.counts;
    const differenceCount = k.missing + k.extra + k.different + fMissing.length + fExtra.length;
    return {
      command: 'verify',
      ok: differenceCount === 0,
      against: [shown],
      target: shown,
      serverVersion: info.version,
      exact,
      now: sel.now,
      nowIso: new Date(sel.now).toISOString(),
      policy,
      targetVersion: version,
      dropUnsupported,
      ttlTolerance: tol,
      inputs: inputSummaries(ix.inputs),
      indexedKeys: ix.index.size,
      expectedKeys: ix.index.size - k.droppedUnsupported - k.expired,
      droppedUnsupported: k.droppedUnsupported,
      expired: k.expired,
      checkedKeys: k.checked,
      matched: k.matched,
      missing: k.missing,
      extra: k.extra,
      different: k.different,
      duplicates: 0,
      differenceCount,
      differences: run.differences,
      collisionCount: ix.collisionCount,
      functions: { expected: expectLibs.map((l) => l.library), found: found.map(libName), missing: fMissing, extra: fExtra },
      seconds: (Date.now() - t0) / 1000,
    };
  } finally {
    for (const c of conns) c.close();
    router?.close();
    if (ix !== null) await ix.ra.close();
  }
}
