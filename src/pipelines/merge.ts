/**
 * `merge`: many RDB files into one dump.rdb (or one file per cluster shard) that a fresh server
 * boots from. A library function: it returns the report or throws typed errors; it never prints.
 *
 * Two streaming passes over the inputs, in the order given:
 *  1. index: every selected key goes into the collision index (src/merge/key-index.ts) under its
 *     target database; a key already there is a collision, settled by the policy (`first` keeps
 *     the earlier record, `last` moves the winner to the later one, `error` lists them all and
 *     stops before anything is written). Function libraries are settled the same way.
 *  2. write: each selected key whose record is its key's winner is written, its value bytes
 *     copied as they are whenever the target version loads that encoding. The first target
 *     database streams straight into the output; later databases go to spill files beside it and
 *     are appended in database order, so each database is one SELECTDB section with a true
 *     RESIZEDB.
 * Memory: the index (under 48 bytes a key) plus one record per input being read.
 */
import { open } from 'node:fs/promises';
import { basename, dirname, extname, join } from 'node:path';
import {
  convertForTarget, decodeValue, encodeValue, isDropped, rawKeyOf, RdbWriter, rdb as C, targetLoadsType, TYPE_KIND,
} from '../../native-free-parser/index.js';
import type { KeyRecord, RdbRecord, WriterDrop, WriteOutcome } from '../../native-free-parser/index.js';
import type { SharedOptions } from '../cli-options.js';
import { ConflictError, InterruptedError, UsageError } from '../errors.js';
import { jsonBytes, keyText, type JsonBytes } from '../format/jsonl.js';
import { parseFunctionLibrary } from '../functions.js';
import { atomicWrite, expandInputs, snapshotTimeFromDisk, type AtomicFile } from '../io/files.js';
import { readRdbFile } from '../io/rdb-file.js';
import { bytesEqual, keyHash, KeyIndex, MAX_INDEX_DB, type KeyFetcher } from '../merge/key-index.js';
import { RandomAccess } from '../merge/random-access.js';
import { keySlot, shardsFromClusterNodes, slotTable, splitSlots, SLOTS, type Shard } from '../merge/slots.js';
import { createSelector, snapshotTimeOption, unmatchedSnapshotTimes, type Selector } from './select.js';

export type ConflictPolicy = 'first' | 'last' | 'error';

export interface MergeProgress {
  pass: 'index' | 'write';
  source: string;
  keys: number;
  bytes: number;
  /** ms since the merge started. */
  t: number;
}

export interface MergeOptions {
  /** Selection and expiry options (CLI.md's shared options). */
  select: SharedOptions;
  /** `--on-conflict`: default 'error'. */
  onConflict?: ConflictPolicy;
  /** `--target-version`: default the highest input version, at least 6 (at most 12). */
  targetVersion?: number;
  /** `--drop-unsupported`: leave out what the target cannot hold, and report it. Default false. */
  dropUnsupported?: boolean;
  /** `--max-value-size` in bytes. Default 512 MiB. */
  maxValueSize?: number;
  /** `-o`: the output file (with a split: the pattern `DIR/NAME.rdb` → `DIR/NAME.<i>.rdb`). */
  out: string;
  /** `--split-slots N`: N files with contiguous equal slot ranges. */
  splitSlots?: number;
  /** `--cluster-nodes FILE`: one file per master of a CLUSTER NODES listing / nodes.conf. */
  clusterNodes?: string;
  /** `--report FILE`: the JSON report, written atomically too. */
  reportFile?: string;
  /** Collisions kept in the report's list (all are counted). Default 100,000. */
  maxCollisionsListed?: number;
  /**
   * Do everything but write: the records go through the same writer into a sink that only counts
   * bytes, no file or temp file is created and `reportFile` is not written (what `plan` runs).
   * Default false.
   */
  dryRun?: boolean;
  /**
   * Called with every key the writer wrote (or, with `dryRun`, would write): the record as given
   * to the writer (target db, shifted expiries), its input, and how it was written.
   */
  onKey?: (rec: KeyRecord, input: { index: number; path: string; magic: 'REDIS' | 'VALKEY' }, outcome: WriteOutcome) => void;
  /** Called once the target version is settled, before the first key is written. */
  onWriteStart?: (targetVersion: number) => void;
  onProgress?: (p: MergeProgress) => void;
  signal?: AbortSignal;
}

export interface CollisionEntry {
  db: number;
  key: JsonBytes;
  /** Inputs holding the key, in merge order (an input twice when two of its databases map here). */
  inputs: string[];
  /** The source database of each occurrence in `inputs`. */
  sourceDbs: number[];
  winner: string | null;
}

export interface FunctionConflict {
  library: string;
  kind: 'same library name, different code' | 'function name registered by another library';
  function?: string;
  inputs: string[];
  winner: string | null;
}

export interface InputReport {
  file: string;
  rdbVersion: number;
  magic: 'REDIS' | 'VALKEY';
  keysRead: number;
  emptyKeysSkipped: number;
  dropped: { db: number; type: number; match: number; expired: number };
  keysSelected: number;
  /** Keys of this input written to the output (winners). */
  keysWritten: number;
  /** Keys of this input that lost a collision. */
  collisionsLost: number;
  /** Per target database: keys selected ("in") and written ("out"). */
  perDb: Record<string, { in: number; out: number }>;
  snapshotTime: { time: number; iso: string; source: string } | null;
  /** ms added to this input's expiries. */
  expiryShift: number;
  functions: number;
}

export interface OutputFile {
  file: string;
  keyCountsPerDb: Record<string, number>;
  totalKeys: number;
  bytes: number;
  slots?: Array<[number, number]>;
  nodeId?: string;
  address?: string;
}

export interface MergeReport {
  command: 'merge';
  now: number;
  nowIso: string;
  policy: ConflictPolicy;
  targetVersion: number;
  inputs: InputReport[];
  outputs: OutputFile[];
  keyCountsPerDb: Record<string, number>;
  totalKeys: number;
  /** Distinct keys (db, key) present more than once. */
  collisionCount: number;
  collisions: CollisionEntry[];
  collisionsListed: number;
  functionConflicts: FunctionConflict[];
  functions: Array<{ library: string; engine: string; functions: string[]; from: string }>;
  converted: number;
  copied: number;
  droppedUnsupported: Array<{ kind: string; db?: number; key?: JsonBytes; name?: string; reason: string }>;
  keysShifted: number;
  seconds: number;
}


/**
 * `--on-conflict error` met collisions (exit 9): nothing written; `report` holds what the index
 * pass found (every input's counts, the collisions, the function library conflicts).
 */
export class MergeConflictError extends ConflictError {
  constructor(message: string, readonly report: MergeReport, hint?: string) {
    super(message, hint);
  }
}

/** An output that only counts what it is given (`dryRun`). */
function countingFile(dest: string): AtomicFile & { bytes: number } {
  const f = {
    dest,
    tempPath: '',
    bytes: 0,
    write(chunk: Uint8Array): Promise<void> {
      f.bytes += chunk.length;
      return Promise.resolve();
    },
    flush: (): Promise<void> => Promise.resolve(),
    commit: (): Promise<void> => Promise.resolve(),
    abort: (): Promise<void> => Promise.resolve(),
  };
  return f;
}

/** One input as pass 1 saw it. */
export interface InputState {
  index: number;
  path: string;
  version: number;
  magic: 'REDIS' | 'VALKEY';
  report: InputReport;
  diskSnapshot: { time: number; source: 'meta.json' | 'mtime' } | undefined;
  selector: Selector | null;
  /** [offset of a SELECTDB, its db] in file order: the source db of any record offset. */
  dbStarts: Array<[number, number]>;
}

/** A function library of an input. */
export interface Library {
  input: number;
  code: Uint8Array;
  library: string;
  engine: string;
  functions: string[];
}

/** Throws InterruptedError once the signal fired (checked between batches). */
function checkAbort(signal: AbortSignal | undefined): void {
  if (signal?.aborted === true) throw new InterruptedError();
}

function dbKey(db: number, key: Uint8Array): string {
  return `${db}:${Buffer.from(key.buffer, key.byteOffset, key.byteLength).toString('base64')}`;
}

/** The output paths of a split: `dir/name.rdb` → `dir/name.<i>.rdb` and `dir/name.slots.json`. */
export function splitPaths(out: string, n: number): { files: string[]; map: string } {
  const ext = extname(out) || '.rdb';
  const stem = join(dirname(out), basename(out, extname(out)));
  return { files: Array.from({ length: n }, (_, i) => `${stem}.${i}${ext}`), map: `${stem}.slots.json` };
}

/** What pass 1 leaves behind: the collision index and what was learnt about each input. */
export interface IndexedInputs {
  paths: string[];
  inputs: InputState[];
  index: KeyIndex;
  /** Re-reads records by (input, offset); the caller closes it. */
  ra: RandomAccess;
  fetchKey: KeyFetcher;
  /** Listed collisions (up to `maxCollisionsListed`), by db and key. */
  collisions: Map<string, CollisionEntry>;
  /** Distinct (db, key) pairs present more than once. */
  collisionCount: number;
  libraries: Library[];
  /** Keys (and keys with an expiry) per cluster slot, with `slotCounts`. */
  slotKeys: Uint32Array | null;
  slotExpires: Uint32Array | null;
  /** A fresh selector for an input, as pass 1 built it (for a second pass over it). */
  newSelector(st: InputState): Selector;
}

/** Options of {@link indexInputs}. */
export interface IndexOptions {
  select: SharedOptions;
  /** Default 'error'. */
  onConflict?: ConflictPolicy;
  /** Default 512 MiB. */
  maxValueSize?: number;
  /** Default 100,000. */
  maxCollisionsListed?: number;
  /** Count keys per cluster slot (for a split). Default false. */
  slotCounts?: boolean;
  onProgress?: (p: MergeProgress) => void;
  signal?: AbortSignal;
  /** Date.now() when the command started, for progress times. Default: now. */
  t0?: number;
  /**
   * Keys the writer will leave out (`--drop-unsupported` with a target below their type): they
   * are indexed like any other (a winner stays a winner) but flagged, so that RESIZEDB and the
   * slot counts are the keys really written. Default: none.
   */
  leftOut?: (rec: KeyRecord, valkey: boolean) => boolean;
}

/**
 * INPUT arguments of a two-pass command (merge, verify) → input paths.
 * @throws UsageError for no input, stdin, too many inputs, a `--snapshot-time` naming no input
 */
export async function resolveInputs(command: string, inputArgs: readonly string[], sel: SharedOptions): Promise<string[]> {
  const paths = await expandInputs(inputArgs);
  if (paths.length === 0) throw new UsageError(`${command}: no input files`);
  if (paths.includes('-')) throw new UsageError(`${command} reads its inputs twice: stdin (-) cannot be an input`, 'save the stream to a file first');
  if (paths.length > 0xffff) throw new UsageError(`${command}: at most 65,535 inputs`);
  const unmatched = unmatchedSnapshotTimes(sel, paths);
  if (unmatched.length > 0) throw new UsageError(`--snapshot-time names no input: ${unmatched.join(', ')}`);
  return paths;
}

/** Input `index` (file `path`) before its first read: its snapshot time from the disk, an empty report. */
export async function newInputState(index: number, path: string): Promise<InputState> {
  return {
    index,
    path,
    version: 0,
    magic: 'REDIS',
    diskSnapshot: await snapshotTimeFromDisk(path),
    dbStarts: [],
    selector: null,
    report: {
      file: path, rdbVersion: 0, magic: 'REDIS', keysRead: 0, emptyKeysSkipped: 0,
      dropped: { db: 0, type: 0, match: 0, expired: 0 }, keysSelected: 0, keysWritten: 0, collisionsLost: 0,
      perDb: {}, snapshotTime: null, expiryShift: 0, functions: 0,
    },
  };
}

/** A selector for one read of `st`: its snapshot time from `--snapshot-time`, else from the disk. */
export function inputSelector(sel: SharedOptions, st: InputState): Selector {
  const opt = snapshotTimeOption(sel, st.path);
  return createSelector(sel, {
    name: st.path,
    index: st.index,
    ...(opt !== undefined
      ? { snapshotTime: opt, snapshotTimeSource: 'option' as const }
      : st.diskSnapshot !== undefined ? { snapshotTime: st.diskSnapshot.time, snapshotTimeSource: st.diskSnapshot.source } : {}),
  });
}

/**
 * Pass 1 of merge (and verify): streams every input in order, puts each selected key into the
 * collision index under its target database, and settles collisions as they come (`last` moves
 * the winner). Function libraries are collected, not yet settled (settleFunctions).
 * @throws the codec's RdbError for a bad input (naming file and offset), UsageError,
 *   InterruptedError; the RandomAccess is closed then
 */
export async function indexInputs(paths: readonly string[], opts: IndexOptions): Promise<IndexedInputs> {
  const t0 = opts.t0 ?? Date.now();
  const policy = opts.onConflict ?? 'error';
  const sel = opts.select;
  const maxValueSize = opts.maxValueSize ?? 512 * 1024 * 1024;
  const listCap = opts.maxCollisionsListed ?? 100_000;
  const leftOut = opts.leftOut;

  const inputs: InputState[] = [];
  for (let i = 0; i < paths.length; i++) {
    const p = paths[i]!;
    inputs.push(await newInputState(i, p));
  }

  const newSelector = (st: InputState): Selector => inputSelector(sel, st);

  const ra = new RandomAccess([...paths], { maxValueSize });
  const fetchKey = (input: number, offset: number): Promise<Uint8Array> => ra.keyAt(input, offset);
  const index = new KeyIndex(1 << 16);
  const slotKeys = opts.slotCounts === true ? new Uint32Array(SLOTS) : null;
  const slotExpires = opts.slotCounts === true ? new Uint32Array(SLOTS) : null;
  const collisions = new Map<string, CollisionEntry>();
  let collisionCount = 0;
  const libraries: Library[] = [];

  try {
    // ---- pass 1: index ------------------------------------------------------------------
    for (const st of inputs) {
      const selector = newSelector(st);
      st.selector = selector;
      const rep = st.report;
      let keys = 0;
      let lastProgress = 0;
      await eachRecord(st.path, maxValueSize, (r): void | Promise<void> => {
        switch (r.kind) {
          case 'header':
            st.version = r.version;
            st.magic = r.magic;
            rep.rdbVersion = r.version;
            rep.magic = r.magic;
            ra.setHeader(st.index, r.version, r.magic);
            return;
          case 'aux':
            selector.aux(r.key, r.value);
            return;
          case 'selectDb':
            st.dbStarts.push([r.offset, r.db]);
            return;
          case 'function': {
            const lib = parseFunctionLibrary(Buffer.from(r.code).toString('utf8'));
            libraries.push({ input: st.index, code: r.code.slice(), library: lib.library, engine: lib.engine, functions: lib.functions });
            rep.functions++;
            return;
          }
          case 'skipped':
            rep.keysRead++;
            rep.emptyKeysSkipped++;
            return;
          case 'eof':
            if (opts.onProgress) opts.onProgress({ pass: 'index', source: st.path, keys, bytes: r.size, t: Date.now() - t0 });
            return;
          case 'key':
            break;
          default:
            return;
        }
        rep.keysRead++;
        keys++;
        const k = selector(r);
        if (k === null) return;
        if (k.db > MAX_INDEX_DB) {
          throw new UsageError(`${st.path}: database ${k.db} is beyond the ${MAX_INDEX_DB} databases merge supports`, 'map it lower with --db-map');
        }
        rep.keysSelected++;
        const pd = (rep.perDb[k.db] ??= { in: 0, out: 0 });
        pd.in++;
        const h = keyHash(k.db, k.key);
        const first = index.candidate(k.db, h);
        // The usual case, a key not seen before, stays synchronous: no promise per key.
        if (first < 0) {
          settle(k, r, h, -1);
          return;
        }
        return (async () => {
          let slot = first;
          while (slot >= 0) {
            index.keyCompares++;
            const other = await fetchKey(index.inputOf(slot), index.offset(slot));
            if (bytesEqual(other, k.key)) break;
            slot = index.candidate(k.db, h, slot);
          }
          settle(k, r, h, slot);
        })();
      }, opts.signal);

      /** Records a selected key: a new index entry, or a collision settled by the policy. */
      function settle(k: KeyRecord, r: KeyRecord, h: number, slot: number): void {
        const hasExpire = k.expireAt >= 0;
        const out = leftOut !== undefined && leftOut(k, st.magic === 'VALKEY');
        if (slot < 0) {
          index.insert(k.db, h, st.index, r.offset, hasExpire, out);
          if (slotKeys !== null && !out) {
            const s = keySlot(k.key);
            slotKeys[s]!++;
            if (hasExpire) slotExpires![s]!++;
          }
        } else {
          if (!index.markCollided(slot)) collisionCount++;
          const prevInput = index.inputOf(slot);
          const id = dbKey(k.db, k.key);
          let c = collisions.get(id);
          if (c === undefined && collisions.size < listCap) {
            c = { db: k.db, key: jsonBytes(k.key), inputs: [inputs[prevInput]!.path], sourceDbs: [sourceDbAt(inputs[prevInput]!, index.offset(slot))], winner: null };
            collisions.set(id, c);
          }
          if (c !== undefined) {
            c.inputs.push(st.path);
            c.sourceDbs.push(r.db);
          }
          if (policy === 'last') {
            if (slotKeys !== null) {
              // The slot counts follow the winner: the old one's out, the new one's in.
              const s = keySlot(k.key);
              if (!index.leftOut(slot)) {
                slotKeys[s]!--;
                if (index.hasExpire(slot)) slotExpires![s]!--;
              }
              if (!out) {
                slotKeys[s]!++;
                if (hasExpire) slotExpires![s]!++;
              }
            }
            index.setWinner(slot, st.index, r.offset, hasExpire, out);
          }
        }
        if (keys - lastProgress >= 65536 && opts.onProgress) {
          lastProgress = keys;
          opts.onProgress({ pass: 'index', source: st.path, keys, bytes: r.offset, t: Date.now() - t0 });
        }
      }
      const snap = selector.snapshotTime();
      rep.snapshotTime = snap === undefined ? null : { time: snap.time, iso: new Date(snap.time).toISOString(), source: snap.source };
      try {
        rep.expiryShift = selector.expiryShift();
      } catch {
        rep.expiryShift = sel.expireOffset;
      }
      const d = selector.dropped;
      rep.dropped = { db: d.db, type: d.type, match: d.match, expired: d.expired };
    }

  } catch (e) {
    await ra.close();
    throw e;
  }
  return { paths: [...paths], inputs, index, ra, fetchKey, collisions, collisionCount, libraries, slotKeys, slotExpires, newSelector };
}

/**
 * The error `--on-conflict error` stops with (exit 9): the first collisions and library conflicts.
 */
export function conflictError(ix: IndexedInputs, conflicts: readonly FunctionConflict[], outcome = 'nothing written'): ConflictError {
  const { collisions, collisionCount } = ix;
  const list = [...collisions.values()].slice(0, 20).map((c) => `db ${c.db} ${keyText(c.key)} in ${c.inputs.join(', ')}`);
  const fl = conflicts.slice(0, 10).map((c) => `library ${c.library}${c.function ? ` (function ${c.function})` : ''} in ${c.inputs.join(', ')}`);
  return new ConflictError(
    `${collisionCount} key collision(s)${conflicts.length ? ` and ${conflicts.length} function library conflict(s)` : ''}; ${outcome}:\n  ${[...list, ...fl].join('\n  ')}${collisions.size > 20 ? `\n  ... (${collisions.size - 20} more)` : ''}`,
    'choose a policy with --on-conflict first|last, or write the full list with --report FILE',
  );
}

/** Names each listed collision's winner and counts every input's losses (policy first or last). */
export function settleWinners(ix: IndexedInputs, policy: 'first' | 'last'): void {
  for (const c of ix.collisions.values()) {
    const winIdx = policy === 'first' ? 0 : c.inputs.length - 1;
    c.winner = c.inputs[winIdx]!;
    c.inputs.forEach((name, i) => {
      if (i !== winIdx) {
        const st = ix.inputs.find((s) => s.path === name);
        if (st) st.report.collisionsLost++;
      }
    });
  }
}

/** The default target version: the highest input version (Valkey 9 counts as 12), at least 6. */
export function defaultTargetVersion(ix: IndexedInputs): number {
  const maxIn = Math.max(...ix.inputs.map((s) => (s.magic === 'VALKEY' ? 12 : s.version)));
  return Math.min(12, Math.max(6, maxIn));
}

/** Merges `inputArgs` (files or directories) into `opts.out`. */
export async function merge(inputArgs: readonly string[], opts: MergeOptions): Promise<MergeReport> {
  const t0 = Date.now();
  const policy = opts.onConflict ?? 'error';
  const sel = opts.select;
  const maxValueSize = opts.maxValueSize ?? 512 * 1024 * 1024;
  const paths = await resolveInputs('merge', inputArgs, sel);
  if (opts.splitSlots !== undefined && opts.clusterNodes !== undefined) {
    throw new UsageError('--split-slots and --cluster-nodes: choose one');
  }
  const shards: Shard[] | null = opts.clusterNodes !== undefined
    ? await shardsFromClusterNodes(opts.clusterNodes)
    : opts.splitSlots !== undefined ? splitSlots(opts.splitSlots) : null;
  if (opts.targetVersion !== undefined && (opts.targetVersion < 6 || opts.targetVersion > 12)) {
    throw new UsageError(`--target-version: rdbmerge writes RDB versions 6 to 12, not ${opts.targetVersion}`);
  }

  // With an explicit target below some inputs, what the writer will drop is known in pass 1.
  const leftOut = opts.dropUnsupported === true && opts.targetVersion !== undefined ? leftOutAt(opts.targetVersion) : undefined;
  const ix = await indexInputs(paths, {
    select: sel,
    onConflict: policy,
    maxValueSize,
    ...(opts.maxCollisionsListed !== undefined ? { maxCollisionsListed: opts.maxCollisionsListed } : {}),
    slotCounts: shards !== null,
    ...(leftOut !== undefined ? { leftOut } : {}),
    ...(opts.onProgress !== undefined ? { onProgress: opts.onProgress } : {}),
    ...(opts.signal !== undefined ? { signal: opts.signal } : {}),
    t0,
  });
  const { inputs, index, ra, fetchKey, collisions, collisionCount, slotKeys, slotExpires, newSelector } = ix;
  const writers: AtomicFile[] = [];
  const dryRun = opts.dryRun === true;
  const open_ = (dest: string): Promise<AtomicFile> => (dryRun ? Promise.resolve(countingFile(dest)) : atomicWrite(dest));
  /** Bytes of the spilled databases (with `dryRun` they are counted, not appended). */
  let spilledBytes = 0;

  try {
    // ---- settle collisions and functions ---------------------------------------------------
    const fn = settleFunctions(ix.libraries, policy, inputs.map((s) => s.path));
    if (policy === 'error' && (collisionCount > 0 || fn.conflicts.length > 0)) {
      const e = conflictError(ix, fn.conflicts);
      const rep = buildReport();
      if (opts.reportFile !== undefined && !dryRun) await writeJsonAtomic(opts.reportFile, rep);
      throw new MergeConflictError(e.message, rep, e.hint);
    }
    // Winners, and per-input collision losses: every occurrence but the winner's.
    settleWinners(ix, policy === 'last' ? 'last' : 'first');

    // ---- counts per target database (RESIZEDB) ---------------------------------------------
    const dbCounts = new Map<number, { keys: number; expires: number }>();
    index.forEach((s) => {
      const db = index.dbOf(s);
      let c = dbCounts.get(db);
      if (c === undefined) dbCounts.set(db, (c = { keys: 0, expires: 0 }));
      if (index.leftOut(s)) return; // its database still gets a section; RESIZEDB counts written keys
      c.keys++;
      if (index.hasExpire(s)) c.expires++;
    });
    const dbs = [...dbCounts.keys()].sort((a, b) => a - b);
    if (shards !== null && dbs.some((d) => d !== 0)) {
      throw new UsageError(
        `cluster output: the merged keys are in databases ${dbs.join(', ')}, and a cluster node has only database 0`,
        'add --into-db 0 (or --db-map) to move every key into database 0',
      );
    }

    // ---- target version ---------------------------------------------------------------
    const version = opts.targetVersion ?? defaultTargetVersion(ix);
    opts.onWriteStart?.(version);

    // ---- pass 2: write ------------------------------------------------------------------
    const writerOpts = { version, dropUnsupported: opts.dropUnsupported === true };
    const keptLibs = fn.kept;
    const outputs: Array<{ file: AtomicFile; writer: RdbWriter; shard?: Shard }> = [];
    const shardPaths = shards !== null ? splitPaths(opts.out, shards.length) : null;
    const mkOut = async (dest: string, shard?: Shard): Promise<{ file: AtomicFile; writer: RdbWriter; shard?: Shard }> => {
      const file = await open_(dest);
      writers.push(file);
      const writer = new RdbWriter(writerOpts);
      writer.begin();
      for (const l of keptLibs) writer.function(l.code);
      return shard !== undefined ? { file, writer, shard } : { file, writer };
    };
    if (shards !== null) {
      for (const sh of shards) outputs.push(await mkOut(shardPaths!.files[sh.index]!, sh));
    } else {
      outputs.push(await mkOut(opts.out));
    }
    const table = shards !== null ? slotTable(shards) : null;
    // Shard outputs: db 0 only; RESIZEDB from the per-slot counts of pass 1.
    if (shards !== null) {
      for (const o of outputs) {
        let keys = 0;
        let expires = 0;
        for (const [a, b] of o.shard!.ranges) for (let s = a; s <= b; s++) { keys += slotKeys![s]!; expires += slotExpires![s]!; }
        if (keys > 0) o.writer.selectDb(0, keys, expires);
      }
    }
    // Standalone: the first database streams into the output, the others spill beside it.
    const spills = new Map<number, { file: AtomicFile; writer: RdbWriter }>();
    if (shards === null && dbs.length > 0) {
      const c = dbCounts.get(dbs[0]!)!;
      outputs[0]!.writer.selectDb(dbs[0]!, c.keys, c.expires);
      for (const db of dbs.slice(1)) {
        const file = await open_(`${opts.out}.spill-db${db}`);
        writers.push(file);
        spills.set(db, { file, writer: RdbWriter.fragment(writerOpts, db) });
      }
    }
    const drops: WriterDrop[] = [];
    /** Keys the writer dropped although pass 1 did not flag them (not in RESIZEDB's counts either). */
    const unforeseen: Array<{ db: number; key: Uint8Array }> = [];
    let keysShifted = 0;
    const flush = async (w: RdbWriter, f: AtomicFile, force = false): Promise<void> => {
      if (force || w.pendingBytes >= 1 << 20) {
        const b = w.drain();
        if (b.length > 0) await f.write(b);
      }
    };

    for (const st of inputs) {
      const selector = newSelector(st);
      const rep = st.report;
      let keys = 0;
      let lastProgress = 0;
      const shift = rep.expiryShift;
      await eachRecord(st.path, maxValueSize, (r): void | Promise<void> => {
        if (r.kind === 'aux') {
          selector.aux(r.key, r.value);
          return;
        }
        if (r.kind !== 'key') return;
        keys++;
        const k = selector(r);
        if (k === null) return;
        const win = index.isWinnerSync(k.db, keyHash(k.db, k.key), st.index, r.offset);
        if (win === false) return;
        if (win === true) return write(k, r);
        return index.isWinner(k.db, k.key, st.index, r.offset, fetchKey).then((w) => (w ? write(k, r) : undefined));
      }, opts.signal, false); // the index pass verified every input's checksum

      /** Writes a winning key to its output; returns a promise only when a flush is due. */
      function write(k: KeyRecord, r: KeyRecord): void | Promise<void> {
        let target: { file: AtomicFile; writer: RdbWriter };
        if (table !== null) target = outputs[table[keySlot(k.key)]!]!;
        else if (k.db === dbs[0]) target = outputs[0]!;
        else target = spills.get(k.db)!;
        let rec: KeyRecord = k;
        if (shift !== 0 && C.FIELD_TTL_TYPES.has(k.type)) {
          const shifted = shiftFieldTtls(k, shift, version, st.magic === 'VALKEY');
          if (shifted !== null) {
            rec = shifted;
            keysShifted++;
          }
        }
        if (k.expireAt !== r.expireAt) keysShifted++;
        const outcome: WriteOutcome = target.writer.key({
          key: rec.key, type: rec.type, payload: rec.payload, expireAt: rec.expireAt, idle: rec.idle, freq: rec.freq,
          valkey: st.magic === 'VALKEY' && rec === k, valueOffset: rec.valueOffset, rawKey: rawKeyOf(r),
        });
        if (typeof outcome === 'object' && 'dropped' in outcome) {
          if (leftOut === undefined || !leftOut(k, st.magic === 'VALKEY')) unforeseen.push({ db: k.db, key: k.key.slice() });
          return;
        }
        opts.onKey?.(rec, st, outcome);
        rep.keysWritten++;
        rep.perDb[k.db]!.out++;
        if (keys - lastProgress >= 65536 && opts.onProgress) {
          lastProgress = keys;
          opts.onProgress({ pass: 'write', source: st.path, keys, bytes: r.offset, t: Date.now() - t0 });
        }
        if (target.writer.pendingBytes >= 1 << 20) return flush(target.writer, target.file);
        return undefined;
      }
    }

    // Append the spilled databases in order.
    for (const db of dbs.slice(1)) {
      const sp = spills.get(db)!;
      await flush(sp.writer, sp.file, true);
      const c = dbCounts.get(db)!;
      const main = outputs[0]!;
      main.writer.selectDb(db, c.keys, c.expires);
      await flush(main.writer, main.file, true);
      if (dryRun) {
        spilledBytes += sp.writer.stats.bytesOut;
        drops.push(...sp.writer.drops);
        continue;
      }
      const fh = await open(sp.file.tempPath, 'r');
      try {
        await sp.file.flush();
        for (;;) {
          const buf = Buffer.allocUnsafe(1 << 20);
          const { bytesRead } = await fh.read(buf, 0, buf.length, null);
          if (bytesRead === 0) break;
          main.writer.appendRecords(buf.subarray(0, bytesRead));
          await flush(main.writer, main.file, true);
        }
      } finally {
        await fh.close();
      }
      drops.push(...sp.writer.drops);
      await sp.file.abort();
    }
    const outFiles: OutputFile[] = [];
    let copied = 0;
    let converted = 0;
    for (const o of outputs) {
      o.writer.end();
      await flush(o.writer, o.file, true);
      drops.push(...o.writer.drops);
      copied += o.writer.stats.copied;
      converted += o.writer.stats.converted;
    }
    for (const sp of spills.values()) {
      copied += sp.writer.stats.copied;
      converted += sp.writer.stats.converted;
    }
    checkAbort(opts.signal);
    for (const o of outputs) await o.file.commit();
    for (const o of outputs) {
      const counts: Record<string, number> = {};
      let total = 0;
      if (o.shard !== undefined) {
        let keys = 0;
        for (const [a, b] of o.shard.ranges) for (let s = a; s <= b; s++) keys += slotKeys![s]!;
        if (keys > 0) counts['0'] = keys;
        total = keys;
      } else {
        for (const db of dbs) {
          counts[String(db)] = dbCounts.get(db)!.keys;
          total += dbCounts.get(db)!.keys;
        }
      }
      const of: OutputFile = {
        file: o.file.dest, keyCountsPerDb: counts, totalKeys: total,
        bytes: o.writer.stats.bytesOut + (o === outputs[0] ? spilledBytes : 0),
      };
      if (o.shard !== undefined) {
        of.slots = o.shard.ranges;
        if (o.shard.nodeId !== undefined) of.nodeId = o.shard.nodeId;
        if (o.shard.address !== undefined) of.address = o.shard.address;
      }
      outFiles.push(of);
    }
    // Keys the writer dropped that pass 1 did not foresee are not in the file: correct the counts.
    for (const d of unforeseen) {
      const db = String(d.db);
      for (const of of outFiles) {
        if (of.keyCountsPerDb[db] !== undefined && (of.slots === undefined || inRanges(keySlot(d.key), of.slots))) {
          of.keyCountsPerDb[db]!--;
          of.totalKeys--;
          break;
        }
      }
    }
    if (shardPaths !== null && !dryRun) {
      await writeJsonAtomic(shardPaths.map, {
        files: outFiles.map((f) => ({ file: basename(f.file), slots: f.slots, nodeId: f.nodeId, address: f.address, keys: f.totalKeys })),
      });
    }

    const report = buildReport();
    report.targetVersion = version;
    report.outputs = outFiles;
    report.copied = copied;
    report.converted = converted;
    report.keysShifted = keysShifted;
    report.functions = keptLibs.map((l) => ({ library: l.library, engine: l.engine, functions: l.functions, from: inputs[l.input]!.path }));
    report.droppedUnsupported = drops.map((d) => ({
      kind: d.kind, reason: d.reason,
      ...(d.db !== undefined ? { db: d.db } : {}),
      ...(d.key !== undefined ? { key: jsonBytes(d.key) } : {}),
      ...(d.name !== undefined ? { name: d.name } : {}),
    }));
    const totals: Record<string, number> = {};
    let total = 0;
    for (const of of outFiles) {
      for (const [db, n] of Object.entries(of.keyCountsPerDb)) totals[db] = (totals[db] ?? 0) + n;
      total += of.totalKeys;
    }
    report.keyCountsPerDb = totals;
    report.totalKeys = total;
    report.seconds = (Date.now() - t0) / 1000;
    if (opts.reportFile !== undefined && !dryRun) await writeJsonAtomic(opts.reportFile, report);
    return report;

    function buildReport(): MergeReport {
      return {
        command: 'merge',
        now: sel.now,
        nowIso: new Date(sel.now).toISOString(),
        policy,
        targetVersion: 0,
        inputs: inputs.map((s) => s.report),
        outputs: [],
        keyCountsPerDb: {},
        totalKeys: 0,
        collisionCount,
        collisions: [...collisions.values()],
        collisionsListed: collisions.size,
        functionConflicts: fn.conflicts,
        functions: [],
        converted: 0,
        copied: 0,
        droppedUnsupported: [],
        keysShifted: 0,
        seconds: (Date.now() - t0) / 1000,
      };
    }
  } finally {
    await ra.close();
    for (const w of writers) await w.abort();
  }
}

/**
 * The keys the writer leaves out at `version` under --drop-unsupported, by the codec's own rule:
 * a stream below RDB 9, a module value below 8 (other types convert, field TTLs only lose TTLs).
 */
function leftOutAt(version: number): (rec: KeyRecord, valkey: boolean) => boolean {
  return (rec, valkey) => {
    const kind = TYPE_KIND[rec.type];
    if (kind !== 'stream' && kind !== 'module') return false;
    if (targetLoadsType(rec.type, version, valkey)) return false;
    try {
      return isDropped(convertForTarget(rec.type, rec.payload, version, { dropUnsupported: true, valkey, key: rec.key }));
    } catch {
      return false; // the writer will fail on it as well
    }
  };
}

/** The source database of the record at `offset` of an input: the last SELECTDB before it. */
function sourceDbAt(st: InputState, offset: number): number {
  let db = 0;
  for (const [at, d] of st.dbStarts) {
    if (at > offset) break;
    db = d;
  }
  return db;
}

function inRanges(slot: number, ranges: ReadonlyArray<[number, number]>): boolean {
  return ranges.some(([a, b]) => slot >= a && slot <= b);
}

/** Streams one input's records to `fn`, awaiting it only when it returns a promise. */
async function eachRecord(
  path: string,
  maxValueSize: number,
  fn: (r: RdbRecord) => void | Promise<void>,
  signal: AbortSignal | undefined,
  verifyChecksum = true,
): Promise<void> {
  for await (const batch of readRdbFile(path, { maxValueSize, verifyChecksum })) {
    checkAbort(signal);
    for (const r of batch) {
      const p = fn(r);
      if (p !== undefined) await p;
    }
  }
}

/** Shifts the field TTLs of a hash-with-field-expiry value; null when it has none. */
function shiftFieldTtls(rec: KeyRecord, shift: number, version: number, valkey: boolean): KeyRecord | null {
  const v = decodeValue(rec.type, rec.payload, { offset: rec.valueOffset, valkey });
  if (v.type !== 'hash' || v.fieldExpireAt === undefined || v.fieldExpireAt.length === 0) return null;
  v.fieldExpireAt = v.fieldExpireAt.map(([f, t]) => [f, Math.max(1, t + shift)]);
  const enc = encodeValue(v, Math.max(version, 12), { dropUnsupported: false, key: rec.key });
  if (isDropped(enc)) return null;
  return { ...rec, type: enc.type, payload: enc.payload };
}

/** Settles function libraries across inputs by the policy (scenario-d's rules). */
export function settleFunctions(
  libs: readonly Library[],
  policy: ConflictPolicy,
  names: readonly string[],
): { kept: Library[]; conflicts: FunctionConflict[] } {
  let kept: Library[] = [];
  const conflicts: FunctionConflict[] = [];
  for (const l of libs) {
    if (kept.some((k) => bytesEqual(k.code, l.code))) continue; // identical code: one library
    const clashing = kept.filter((k) => k.library === l.library || k.functions.some((f) => l.functions.includes(f)));
    if (clashing.length === 0) {
      kept.push(l);
      continue;
    }
    for (const k of clashing) {
      const sameName = k.library === l.library;
      const fnName = sameName ? undefined : k.functions.find((f) => l.functions.includes(f));
      conflicts.push({
        library: sameName ? l.library : `${k.library} / ${l.library}`,
        kind: sameName ? 'same library name, different code' : 'function name registered by another library',
        ...(fnName !== undefined ? { function: fnName } : {}),
        inputs: [names[k.input]!, names[l.input]!],
        winner: policy === 'error' ? null : policy === 'first' ? names[k.input]! : names[l.input]!,
      });
    }
    if (policy === 'last') {
      kept = kept.filter((k) => !clashing.includes(k));
      kept.push(l);
    }
  }
  kept.sort((a, b) => (a.library < b.library ? -1 : a.library > b.library ? 1 : 0));
  return { kept, conflicts };
}

async function writeJsonAtomic(path: string, value: unknown): Promise<void> {
  const f = await atomicWrite(path);
  try {
    await f.write(Buffer.from(`${JSON.stringify(value, null, 1)}\n`));
    await f.commit();
  } catch (e) {
    await f.abort();
    throw e;
  }
}

