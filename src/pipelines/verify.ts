/**
 * `verify`: does a merged file hold exactly what merging the inputs should give? A library
 * function: it returns a report (with the differences) or throws typed errors; it never prints.
 *
 * Memory stays what merge's is (the collision index, under 48 bytes a key, plus a bit a slot):
 *  1. pass 1 of merge itself (indexInputs): the same selection, transforms and conflict policy,
 *     so the index ends up naming, for every expected (db, key), the winning record;
 *  2. the merged FILE is streamed once: each key is looked up exactly in the index (hash, then
 *     key bytes of the candidate's re-read record), its slot marked seen, and the winner record,
 *     re-read from its input, compared with it logically: both decoded and put in the canonical
 *     JSONL form (format/jsonl.ts keyJson), after shifting the winner's expiry (and hash field
 *     TTLs) by its input's shift, as merge does;
 *  3. one walk over the index: winners never seen are missing, except keys the target version
 *     cannot hold when `dropUnsupported` says they were left out on purpose.
 * A key in FILE that is not in the index is extra. Function libraries are compared by code.
 */
import { stat } from 'node:fs/promises';
import {
  convertForTarget, decodeValue, isDropped, targetLoadsType,
} from '../../native-free-parser/index.js';
import type { KeyRecord, Value } from '../../native-free-parser/index.js';
import type { SharedOptions } from '../cli-options.js';
import { InterruptedError, UsageError } from '../errors.js';
import { diffJson } from '../format/compare.js';
import { jsonBytes, keyJson, type JsonBytes } from '../format/jsonl.js';
import { parseFunctionLibrary } from '../functions.js';
import { readRdbFile } from '../io/rdb-file.js';
import { bytesEqual, keyHash, SlotSet } from '../merge/key-index.js';
import {
  conflictError, indexInputs, resolveInputs, settleFunctions, settleWinners, type ConflictPolicy, type IndexedInputs,
  type InputReport, type MergeProgress,
} from './merge.js';

/**
 * Pass 1 of a verification (of files, or of a live target): merge's index pass with the run's
 * selection, conflict policy and limits, its progress reported as the `index` pass.
 */
export function verifyIndexPass(
  paths: readonly string[],
  sel: SharedOptions,
  policy: ConflictPolicy,
  maxValueSize: number,
  opts: { onProgress?: (p: MergeProgress & { pass: 'index' }) => void; signal?: AbortSignal },
  t0: number,
): Promise<IndexedInputs> {
  const progress = opts.onProgress;
  return indexInputs(paths, {
    select: sel,
    onConflict: policy,
    maxValueSize,
    ...(progress !== undefined ? { onProgress: (p: MergeProgress) => progress({ ...p, pass: 'index' }) } : {}),
    ...(opts.signal !== undefined ? { signal: opts.signal } : {}),
    t0,
  });
}

/** The report's line per input, from the index pass's input reports. */
export function inputSummaries(inputs: IndexedInputs['inputs']): VerifyReport['inputs'] {
  return inputs.map(({ report: r }) => ({
    file: r.file, rdbVersion: r.rdbVersion, keysRead: r.keysRead, keysSelected: r.keysSelected,
    collisionsLost: r.collisionsLost, dropped: r.dropped, snapshotTime: r.snapshotTime, expiryShift: r.expiryShift,
  }));
}

/** The logical parts of a key that can differ. */
export type VerifyField = 'type' | 'value' | 'expireAt' | 'fieldExpireAt';

export interface VerifyDifference {
  kind: 'missing' | 'extra' | 'different' | 'duplicate';
  db: number;
  key: JsonBytes;
  /** The against file holding the key (extra, different, duplicate). */
  file?: string;
  /** The input whose record the merge takes for this key (missing, different). */
  from?: string;
  /** For 'different': every part that differs, in this order: type, value, expireAt, fieldExpireAt. */
  what?: VerifyField[];
  /** For 'different': the first differing path (e.g. `.value[2][1]`) and both sides there. */
  path?: string;
  expected?: unknown;
  actual?: unknown;
}

export interface VerifyProgress {
  pass: 'index' | 'verify';
  source: string;
  keys: number;
  bytes: number;
  /** ms since the verify started. */
  t: number;
}

export interface VerifyOptions {
  /** Selection and expiry options, as given to merge. */
  select: SharedOptions;
  /** `--on-conflict`, as given to merge. Default 'error' (collisions: ConflictError, exit 9). */
  onConflict?: ConflictPolicy;
  /** The merged file (or the files of a split, whose union is compared). */
  against: string | readonly string[];
  /**
   * `--target-version`, as given to merge: decides what `dropUnsupported` expects absent.
   * Default: the RDB version of the (first) against file.
   */
  targetVersion?: number;
  /** `--drop-unsupported`, as given to merge: keys the target cannot hold are expected absent, hash field TTLs dropped. Default false. */
  dropUnsupported?: boolean;
  /** `--ttl-tolerance`: expiries (key and field) this many ms apart still match. Default 0. */
  ttlTolerance?: number;
  /** `--max-value-size` in bytes. Default 512 MiB. */
  maxValueSize?: number;
  /** Differences listed in the report (all are counted). Default 100. */
  limit?: number;
  onProgress?: (p: VerifyProgress) => void;
  signal?: AbortSignal;
}

export interface VerifyReport {
  command: 'verify';
  /** No difference of any kind. */
  ok: boolean;
  against: string[];
  now: number;
  nowIso: string;
  policy: ConflictPolicy;
  targetVersion: number;
  dropUnsupported: boolean;
  ttlTolerance: number;
  inputs: Array<Pick<InputReport, 'file' | 'rdbVersion' | 'keysRead' | 'keysSelected' | 'collisionsLost' | 'dropped' | 'snapshotTime' | 'expiryShift'>>;
  /** Distinct (db, key) pairs the merge yields (before leaving out what the target cannot hold). */
  indexedKeys: number;
  /** Keys the merged file should hold. */
  expectedKeys: number;
  /** Keys expected absent: the target cannot hold them and `dropUnsupported` was given. */
  droppedUnsupported: number;
  /** Keys read from the against file(s). */
  checkedKeys: number;
  matched: number;
  missing: number;
  extra: number;
  different: number;
  duplicates: number;
  /** missing + extra + different + duplicates + function differences. */
  differenceCount: number;
  differences: VerifyDifference[];
  collisionCount: number;
  functions: {
    expected: string[];
    found: string[];
    /** Libraries expected whose code is not in the file. */
    missing: string[];
    /** Libraries in the file that the merge would not write. */
    extra: string[];
  };
  seconds: number;
}

const FIELDS: readonly VerifyField[] = ['type', 'value', 'expireAt', 'fieldExpireAt'];

function checkAbort(signal: AbortSignal | undefined): void {
  if (signal?.aborted === true) throw new InterruptedError();
}

/** An expiry shifted as the selector shifts it: never to "no expiry", clamped at the epoch. */
function shiftExpiry(expireAt: number, shift: number): number {
  return expireAt >= 0 && shift !== 0 ? Math.max(0, expireAt + shift) : expireAt;
}

/**
 * Compares a key's expected and actual JSONL forms field by field (expiries within `tol` ms count
 * as equal): undefined when equal, else the fields that differ and the first difference.
 */
export function compareKeyJson(
  want: Record<string, unknown>,
  got: Record<string, unknown>,
  tol: number,
): { what: VerifyField[]; path: string; expected: unknown; actual: unknown } | undefined {
  if (tol > 0) {
    got['expireAt'] = tolerate(want['expireAt'], got['expireAt'], tol);
    if (got['fieldExpireAt'] !== undefined) got['fieldExpireAt'] = tolerateFieldTtls(want['fieldExpireAt'], got['fieldExpireAt'], tol);
  }
  const what: VerifyField[] = [];
  let first: { path: string; expected: unknown; actual: unknown } | undefined;
  for (const f of FIELDS) {
    const d = diffJson(want[f], got[f], `.${f}`);
    if (d === undefined) continue;
    what.push(f);
    first ??= d;
  }
  return first === undefined ? undefined : { what, ...first };
}

/** Within the tolerance, the actual expiry counts as the expected one. */
export function tolerate(expected: unknown, actual: unknown, tol: number): unknown {
  return typeof expected === 'number' && typeof actual === 'number' && Math.abs(expected - actual) <= tol ? expected : actual;
}

/** The same for each field TTL of a hash, paired by field. */
export function tolerateFieldTtls(expected: unknown, actual: unknown, tol: number): unknown {
  if (!Array.isArray(expected) || !Array.isArray(actual) || expected.length !== actual.length) return actual;
  return actual.map((a: unknown, i) => {
    const e = expected[i] as unknown;
    if (!Array.isArray(a) || !Array.isArray(e) || diffJson(e[0], a[0]) !== undefined) return a;
    return [a[0], tolerate(e[1], a[1], tol)];
  });
}

/**
 * What the merge writes for a winner record: the value as decoded, its expiry and hash field
 * TTLs shifted; `null` when the target cannot hold it and `dropUnsupported` leaves it out.
 */
function expectedOf(
  rec: KeyRecord,
  db: number,
  shift: number,
  valkey: boolean,
  version: number,
  dropUnsupported: boolean,
): Record<string, unknown> | null {
  const v = expectedValue(rec, shift, valkey, version, dropUnsupported);
  return v === null ? null : keyJson(db, rec.key, v, shiftExpiry(rec.expireAt, shift));
}

/**
 * The value a winner has after a merge or replay for a target of `version`: hash field TTLs
 * shifted like the key's expiry, or dropped with --drop-unsupported where the target has none;
 * null when the key itself is left out.
 */
export function expectedValue(k: KeyRecord, shift: number, valkey: boolean, version: number, dropUnsupported: boolean): Value | null {
  let dropFieldTtls = false;
  if (dropUnsupported && !targetLoadsType(k.type, version, valkey)) {
    try {
      const res = convertForTarget(k.type, k.payload, version, { dropUnsupported: true, valkey, key: k.key, offset: k.valueOffset });
      if (isDropped(res)) return null;
      dropFieldTtls = res.fieldTtlsDropped !== undefined && res.fieldTtlsDropped > 0;
    } catch {
      // the writer fails on it too (exit 6): expect it as it is
    }
  }
  const v: Value = decodeValue(k.type, k.payload, { offset: k.valueOffset, valkey });
  if (v.type === 'hash' && v.fieldExpireAt !== undefined) {
    if (dropFieldTtls) return { type: 'hash', value: v.value };
    if (shift !== 0) v.fieldExpireAt = v.fieldExpireAt.map(([f, t]) => [f, Math.max(1, t + shift)]);
  }
  return v;
}

/**
 * Verifies that `against` holds exactly what merging `inputArgs` with these options gives.
 * @returns the report; `ok` is false when anything differs (the CLI exits 10 then)
 * @throws ConflictError (exit 9) under policy `error` when the inputs collide; UsageError for bad
 *   options; the codec's RdbError for a bad input or against file; InterruptedError
 */
export async function verifyAgainst(inputArgs: readonly string[], opts: VerifyOptions): Promise<VerifyReport> {
  const t0 = Date.now();
  const policy = opts.onConflict ?? 'error';
  const sel = opts.select;
  const maxValueSize = opts.maxValueSize ?? 512 * 1024 * 1024;
  const limit = opts.limit ?? 100;
  const tol = opts.ttlTolerance ?? 0;
  const dropUnsupported = opts.dropUnsupported === true;
  const against = typeof opts.against === 'string' ? [opts.against] : [...opts.against];
  if (against.length === 0) throw new UsageError('verify: --against FILE is required');
  if (against.includes('-')) throw new UsageError('verify: --against must be a file, not stdin');
  if (opts.targetVersion !== undefined && (opts.targetVersion < 6 || opts.targetVersion > 12)) {
    throw new UsageError(`--target-version: a version from 6 to 12, not ${opts.targetVersion}`);
  }
  if (!(tol >= 0)) throw new UsageError('--ttl-tolerance: must not be negative');
  for (const f of against) {
    let isFile = false;
    try {
      isFile = (await stat(f)).isFile();
    } catch {
      throw new UsageError(`--against: file not found: ${f}`);
    }
    if (!isFile) throw new UsageError(`--against: not a file: ${f}`, 'give the merged RDB file (repeat --against for the files of a split)');
  }
  const paths = await resolveInputs('verify', inputArgs, sel);

  const progress = opts.onProgress;
  const ix: IndexedInputs = await verifyIndexPass(paths, sel, policy, maxValueSize, opts, t0);
  const { index, ra, inputs } = ix;
  try {
    const fn = settleFunctions(ix.libraries, policy, paths);
    if (policy === 'error' && (ix.collisionCount > 0 || fn.conflicts.length > 0)) throw conflictError(ix, fn.conflicts, 'merge refuses these inputs under --on-conflict error');
    settleWinners(ix, policy === 'last' ? 'last' : 'first');

    const differences: VerifyDifference[] = [];
    const counts = { missing: 0, extra: 0, different: 0, duplicates: 0, matched: 0, checked: 0, droppedUnsupported: 0 };
    const note = (d: VerifyDifference): void => {
      if (differences.length < limit) differences.push(d);
    };
    // The index no longer grows: slots are stable, so a bit per slot records "seen in FILE".
    const seen = new SlotSet(index.capacity);
    const foundCode: Uint8Array[] = [];
    let version = opts.targetVersion ?? -1;

    // ---- pass 2: the against file(s) ----------------------------------------------------
    for (const file of against) {
      let fileValkey = false;
      let keys = 0;
      let lastProgress = 0;
      for await (const batch of readRdbFile(file, { maxValueSize })) {
        checkAbort(opts.signal);
        for (const r of batch) {
          if (r.kind === 'header') {
            fileValkey = r.magic === 'VALKEY';
            if (version < 0) version = fileValkey ? 12 : Math.min(12, Math.max(6, r.version));
            continue;
          }
          if (r.kind === 'function') {
            foundCode.push(r.code.slice());
            continue;
          }
          if (r.kind === 'eof') {
            if (progress) progress({ pass: 'verify', source: file, keys, bytes: r.size, t: Date.now() - t0 });
            continue;
          }
          if (r.kind !== 'key') continue;
          keys++;
          counts.checked++;
          const h = keyHash(r.db, r.key);
          let slot = index.candidate(r.db, h);
          let winner: KeyRecord | undefined;
          while (slot >= 0) {
            index.keyCompares++;
            const w = await ra.recordAt(index.inputOf(slot), index.offset(slot));
            if (bytesEqual(w.key, r.key)) {
              winner = w;
              break;
            }
            slot = index.candidate(r.db, h, slot);
          }
          if (winner === undefined) {
            counts.extra++;
            note({ kind: 'extra', db: r.db, key: jsonBytes(r.key), file });
            continue;
          }
          if (seen.has(slot)) {
            counts.duplicates++;
            note({ kind: 'duplicate', db: r.db, key: jsonBytes(r.key), file });
            continue;
          }
          seen.add(slot);
          const st = inputs[index.inputOf(slot)]!;
          const want = expectedOf(winner, r.db, st.report.expiryShift, st.magic === 'VALKEY', version, dropUnsupported);
          const v = decodeValue(r.type, r.payload, { offset: r.valueOffset, valkey: fileValkey });
          const got = keyJson(r.db, r.key, v, r.expireAt);
          if (want === null) {
            // The target cannot hold it, yet it is here: the merge would have left it out.
            counts.extra++;
            note({ kind: 'extra', db: r.db, key: jsonBytes(r.key), file, from: st.path });
            continue;
          }
          const d = compareKeyJson(want, got, tol);
          if (d === undefined) {
            counts.matched++;
          } else {
            counts.different++;
            note({ kind: 'different', db: r.db, key: jsonBytes(r.key), file, from: st.path, ...d });
          }
          if (keys - lastProgress >= 65536 && progress) {
            lastProgress = keys;
            progress({ pass: 'verify', source: file, keys, bytes: r.offset, t: Date.now() - t0 });
          }
        }
      }
    }
    if (version < 0) version = 12;

    // ---- winners never seen ---------------------------------------------------------------
    const unseen = seen.missing(index);
    for (const s of unseen) {
      checkAbort(opts.signal);
      const st = inputs[index.inputOf(s)]!;
      const rec = await ra.recordAt(st.index, index.offset(s));
      const db = index.dbOf(s);
      if (dropUnsupported && expectedOf(rec, db, 0, st.magic === 'VALKEY', version, true) === null) {
        counts.droppedUnsupported++;
        continue;
      }
      counts.missing++;
      note({ kind: 'missing', db, key: jsonBytes(rec.key), from: st.path });
    }

    // ---- functions -------------------------------------------------------------------------
    const expectLibs = version < 10 && dropUnsupported ? [] : fn.kept;
    const libName = (code: Uint8Array): string => parseFunctionLibrary(Buffer.from(code).toString('utf8')).library || '(unnamed)';
    const fMissing = expectLibs.filter((l) => !foundCode.some((c) => bytesEqual(c, l.code))).map((l) => l.library);
    const fExtra = foundCode.filter((c) => !expectLibs.some((l) => bytesEqual(c, l.code))).map(libName);

    const differenceCount = counts.missing + counts.extra + counts.different + counts.duplicates + fMissing.length + fExtra.length;
    return {
      command: 'verify',
      ok: differenceCount === 0,
      against,
      now: sel.now,
      nowIso: new Date(sel.now).toISOString(),
      policy,
      targetVersion: version,
      dropUnsupported,
      ttlTolerance: tol,
      inputs: inputSummaries(inputs),
      indexedKeys: index.size,
      expectedKeys: index.size - counts.droppedUnsupported,
      droppedUnsupported: counts.droppedUnsupported,
      checkedKeys: counts.checked,
      matched: counts.matched,
      missing: counts.missing,
      extra: counts.extra,
      different: counts.different,
      duplicates: counts.duplicates,
      differenceCount,
      differences,
      collisionCount: ix.collisionCount,
      functions: {
        expected: expectLibs.map((l) => l.library),
        found: foundCode.map(libName),
        missing: fMissing,
        extra: fExtra,
      },
      seconds: (Date.now() - t0) / 1000,
    };
  } finally {
    await ra.close();
  }
}
