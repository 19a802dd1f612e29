/**
 * `diff`: what differs between two sets of RDB files, A and B (each a file or a directory of
 * them), after the same selection and transforms on both sides. A library function: it returns
 * the report (and hands each difference to `onDifference`) or throws typed errors; it never prints.
 *
 * Memory stays that of merge's collision index (under 48 bytes a key of A), never a map of values:
 *  1. side A goes through merge's own index pass (indexInputs, policy `first`): every selected
 *     (target db, key) of A gets a slot naming the input and byte offset of its record;
 *  2. side B is streamed once: each selected key is looked up exactly in the index (32-bit hash,
 *     then the key bytes of the candidate re-read from A), its slot marked seen, and A's record,
 *     re-read by offset, compared logically with B's: both decoded into the canonical JSONL form
 *     (format/jsonl.ts keyJson) with their side's expiry shift applied, by verify's comparison
 *     (type, value, expiry and hash field TTLs; expiries within `ttlTolerance` match). Encodings
 *     never matter: a listpack in an RDB 11 file equals the same hash as a ziplist in RDB 9;
 *  3. one walk over the index: slots never seen are keys only in A.
 * A key in B that is not in the index is only in B. A key twice on one side (two files of a
 * directory, or two source databases mapped into one) is counted as a duplicate of its side, not
 * as a difference: A keeps its first record, as merge's `first` policy does, and so does B for
 * keys that are also in A (a key only in B and twice there is reported twice).
 * Function libraries are compared by their code.
 */
import { stat } from 'node:fs/promises';
import { decodeValue } from '../../native-free-parser/index.js';
import type { KeyRecord } from '../../native-free-parser/index.js';
import { defaultSharedOptions, type SharedOptions } from '../cli-options.js';
import { InterruptedError, UsageError } from '../errors.js';
import { jsonBytes, keyJson, type JsonBytes } from '../format/jsonl.js';
import { parseFunctionLibrary } from '../functions.js';
import { expandInputs, snapshotTimeFromDisk } from '../io/files.js';
import { readRdbFile } from '../io/rdb-file.js';
import { bytesEqual, keyHash, SlotSet } from '../merge/key-index.js';
import { indexInputs, type IndexedInputs, type InputReport, type MergeProgress } from './merge.js';
import { createSelector, snapshotTimeOption, unmatchedSnapshotTimes } from './select.js';
import { compareKeyJson, expectedValue, type VerifyField } from './verify.js';

/** One difference between A and B. */
export interface DiffDifference {
  /** `onlyA` / `onlyB`: the key is on one side only; `different`: on both, not equal. */
  kind: 'onlyA' | 'onlyB' | 'different';
  /** The target database (after `--db-map` / `--into-db`). */
  db: number;
  key: JsonBytes;
  /** The file of A holding the key (onlyA, different). */
  fileA?: string;
  /** The file of B holding the key (onlyB, different). */
  fileB?: string;
  /** For 'different': every part that differs, in this order: type, value, expireAt, fieldExpireAt. */
  what?: VerifyField[];
  /** For 'different': the first differing path (e.g. `.value[2][1]`) and both sides there. */
  path?: string;
  a?: unknown;
  b?: unknown;
}

export interface DiffProgress {
  pass: 'index' | 'compare';
  source: string;
  keys: number;
  bytes: number;
  /** ms since the diff started. */
  t: number;
}

export interface DiffOptions {
  /** Selection and expiry options (CLI.md's shared options), applied to both sides. Default: keep all, now = Date.now(). */
  select?: SharedOptions;
  /** `--ttl-tolerance`: expiries (key and field) this many ms apart still match. Default 0. */
  ttlTolerance?: number;
  /** `--max-value-size` in bytes. Default 512 MiB. */
  maxValueSize?: number;
  /** Differences kept in the report's list (all are counted and all go to `onDifference`). Default 20. */
  limit?: number;
  /** Called with every difference, in the order found; a returned promise is awaited (backpressure). */
  onDifference?: (d: DiffDifference) => void | Promise<void>;
  onProgress?: (p: DiffProgress) => void;
  signal?: AbortSignal;
}

/** What was read of one input file. */
export type DiffInput = Pick<InputReport, 'file' | 'rdbVersion' | 'magic' | 'keysRead' | 'keysSelected' | 'dropped' | 'snapshotTime' | 'expiryShift'>;

export interface DiffReport {
  command: 'diff';
  /** No difference of any kind. */
  same: boolean;
  a: string[];
  b: string[];
  now: number;
  nowIso: string;
  ttlTolerance: number;
  inputsA: DiffInput[];
  inputsB: DiffInput[];
  /** Distinct (db, key) pairs selected in A / keys selected in B. */
  keysA: number;
  keysB: number;
  /** Keys on both sides, equal or not. */
  inBoth: number;
  equal: number;
  onlyA: number;
  onlyB: number;
  different: number;
  /** Keys that differ in each part (a key can differ in several). */
  differentBy: Record<VerifyField, number>;
  /**
   * Keys present more than once on a side (two files of a directory, or source databases mapped
   * into one): counted, not differences; each side's first record of the key is compared.
   */
  duplicatesA: number;
  duplicatesB: number;
  /** onlyA + onlyB + different + function libraries on one side only. */
  differenceCount: number;
  /** The first `limit` differences. */
  differences: DiffDifference[];
  functions: { onlyA: string[]; onlyB: string[] };
  seconds: number;
}

function checkAbort(signal: AbortSignal | undefined): void {
  if (signal?.aborted === true) throw new InterruptedError();
}

/** An expiry shifted as the selector shifts it: never to "no expiry", clamped at the epoch. */
function shiftExpiry(expireAt: number, shift: number): number {
  return expireAt >= 0 && shift !== 0 ? Math.max(0, expireAt + shift) : expireAt;
}

/** A side's arguments → its files (a directory stands for its *.rdb files). */
async function sideFiles(label: 'A' | 'B', args: readonly string[]): Promise<string[]> {
  if (args.length === 0) throw new UsageError(`diff: side ${label} names no file`);
  for (const a of args) {
    if (a === '-') throw new UsageError(`diff reads side ${label} by offset: stdin (-) cannot be a side`, 'save the stream to a file first');
    try {
      await stat(a);
    } catch {
      throw new UsageError(`diff: side ${label}: no such file or directory: ${a}`);
    }
  }
  const paths = await expandInputs(args);
  if (paths.length === 0) throw new UsageError(`diff: side ${label} (${args.join(', ')}) holds no .rdb file`);
  if (paths.length > 0xffff) throw new UsageError(`diff: at most 65,535 files a side`);
  return paths;
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && Buffer.from(a.buffer, a.byteOffset, a.length).equals(Buffer.from(b.buffer, b.byteOffset, b.length));
}

function libraryName(code: Uint8Array): string {
  return parseFunctionLibrary(Buffer.from(code).toString('utf8')).library || '(unnamed)';
}

/**
 * Compares the keys of `a` and `b` (each a file, a directory, or a list of them).
 * @returns the report; `same` is false when anything differs (the CLI exits 10 then)
 * @throws UsageError for bad options or a missing side; the codec's RdbError (naming file and
 *   offset) for a bad input; InterruptedError
 */
export async function diff(a: string | readonly string[], b: string | readonly string[], opts: DiffOptions): Promise<DiffReport> {
  const t0 = Date.now();
  const sel = opts.select ?? defaultSharedOptions();
  const maxValueSize = opts.maxValueSize ?? 512 * 1024 * 1024;
  const limit = opts.limit ?? 20;
  const tol = opts.ttlTolerance ?? 0;
  if (!(tol >= 0)) throw new UsageError('--ttl-tolerance: must not be negative');
  const pathsA = await sideFiles('A', typeof a === 'string' ? [a] : a);
  const pathsB = await sideFiles('B', typeof b === 'string' ? [b] : b);
  const unmatched = unmatchedSnapshotTimes(sel, [...pathsA, ...pathsB]);
  if (unmatched.length > 0) throw new UsageError(`--snapshot-time names no input: ${unmatched.join(', ')}`);

  const progress = opts.onProgress;
  const ix: IndexedInputs = await indexInputs(pathsA, {
    select: sel,
    onConflict: 'first',
    maxValueSize,
    maxCollisionsListed: 0,
    ...(progress !== undefined ? { onProgress: (p: MergeProgress) => progress({ ...p, pass: 'index' }) } : {}),
    ...(opts.signal !== undefined ? { signal: opts.signal } : {}),
    t0,
  });
  const { index, ra, inputs } = ix;
  try {
    const differences: DiffDifference[] = [];
    const differentBy: Record<VerifyField, number> = { type: 0, value: 0, expireAt: 0, fieldExpireAt: 0 };
    const c = { onlyA: 0, onlyB: 0, different: 0, equal: 0, inBoth: 0, duplicatesB: 0, keysB: 0 };
    const note = (d: DiffDifference): void | Promise<void> => {
      if (differences.length < limit) differences.push(d);
      return opts.onDifference?.(d);
    };
    // The index no longer grows: slots are stable, so a bit per slot records "seen in B".
    const seen = new SlotSet(index.capacity);
    const codeB: Uint8Array[] = [];
    const inputsB: DiffInput[] = [];

    // ---- side B, streamed once ----------------------------------------------------------
    for (let bi = 0; bi < pathsB.length; bi++) {
      const file = pathsB[bi]!;
      const opt = snapshotTimeOption(sel, file);
      const disk = opt === undefined ? await snapshotTimeFromDisk(file) : undefined;
      const selector = createSelector(sel, {
        name: file,
        index: bi,
        ...(opt !== undefined
          ? { snapshotTime: opt, snapshotTimeSource: 'option' as const }
          : disk !== undefined ? { snapshotTime: disk.time, snapshotTimeSource: disk.source } : {}),
      });
      const rep: DiffInput = {
        file, rdbVersion: 0, magic: 'REDIS', keysRead: 0, keysSelected: 0,
        dropped: { db: 0, type: 0, match: 0, expired: 0 }, snapshotTime: null, expiryShift: 0,
      };
      inputsB.push(rep);
      let valkey = false;
      let shift: number | undefined;
      let lastProgress = 0;
      for await (const batch of readRdbFile(file, { maxValueSize })) {
        checkAbort(opts.signal);
        for (const r of batch) {
          switch (r.kind) {
            case 'header':
              valkey = r.magic === 'VALKEY';
              rep.rdbVersion = r.version;
              rep.magic = r.magic;
              continue;
            case 'aux':
              selector.aux(r.key, r.value);
              continue;
            case 'function':
              codeB.push(r.code.slice());
              continue;
            case 'skipped':
              rep.keysRead++;
              continue;
            case 'eof':
              if (progress) progress({ pass: 'compare', source: file, keys: rep.keysRead, bytes: r.size, t: Date.now() - t0 });
              continue;
            case 'key':
              break;
            default:
              continue;
          }
          rep.keysRead++;
          const k = selector(r);
          if (k === null) continue;
          rep.keysSelected++;
          c.keysB++;
          shift ??= selector.expiryShift();
          const h = keyHash(k.db, k.key);
          let slot = index.candidate(k.db, h);
          let recA: KeyRecord | undefined;
          while (slot >= 0) {
            index.keyCompares++;
            const w = ra.recordAtSync(index.inputOf(slot), index.offset(slot));
            if (bytesEqual(w.key, k.key)) {
              recA = w;
              break;
            }
            slot = index.candidate(k.db, h, slot);
          }
          let p: void | Promise<void> = undefined;
          if (recA === undefined) {
            c.onlyB++;
            p = note({ kind: 'onlyB', db: k.db, key: jsonBytes(k.key), fileB: file });
          } else {
            if (seen.has(slot)) {
              c.duplicatesB++; // compared once, at its first record
            } else {
              seen.add(slot);
              c.inBoth++;
              const st = inputs[index.inputOf(slot)]!;
              const sa = st.report.expiryShift;
              // The same bytes, type, expiry and shift: equal without decoding (the usual case
              // for unchanged keys of files written by the same server version).
              if (recA.type === k.type && sa === shift && (st.magic === 'VALKEY') === valkey && sameBytes(recA.payload, k.payload)) {
                const ea = shiftExpiry(recA.expireAt, sa);
                const eb = k.expireAt;
                if (ea === eb || (ea >= 0 && eb >= 0 && Math.abs(ea - eb) <= tol)) {
                  c.equal++;
                } else {
                  c.different++;
                  differentBy.expireAt++;
                  const p = note({
                    kind: 'different', db: k.db, key: jsonBytes(k.key), fileA: st.path, fileB: file,
                    what: ['expireAt'], path: '.expireAt', a: ea < 0 ? null : ea, b: eb < 0 ? null : eb,
                  });
                  if (p !== undefined) await p;
                }
                continue;
              }
              const va = expectedValue(recA, sa, st.magic === 'VALKEY', 12, false)!;
              const vb = shift !== 0 ? expectedValue(k, shift, valkey, 12, false)! : decodeValue(k.type, k.payload, { offset: k.valueOffset, valkey });
              const d = compareKeyJson(
                keyJson(k.db, k.key, va, shiftExpiry(recA.expireAt, sa)),
                keyJson(k.db, k.key, vb, k.expireAt),
                tol,
              );
              if (d === undefined) {
                c.equal++;
              } else {
                c.different++;
                for (const f of d.what) differentBy[f]++;
                p = note({
                  kind: 'different', db: k.db, key: jsonBytes(k.key), fileA: st.path, fileB: file,
                  what: d.what, path: d.path, a: d.expected, b: d.actual,
                });
              }
            }
          }
          if (p !== undefined) await p;
          if (rep.keysRead - lastProgress >= 65536 && progress) {
            lastProgress = rep.keysRead;
            progress({ pass: 'compare', source: file, keys: rep.keysRead, bytes: r.offset, t: Date.now() - t0 });
          }
        }
      }
      const snap = selector.snapshotTime();
      rep.snapshotTime = snap === undefined ? null : { time: snap.time, iso: new Date(snap.time).toISOString(), source: snap.source };
      try {
        rep.expiryShift = shift ?? selector.expiryShift();
      } catch {
        rep.expiryShift = sel.expireOffset;
      }
      const dr = selector.dropped;
      rep.dropped = { db: dr.db, type: dr.type, match: dr.match, expired: dr.expired };
    }

    // ---- keys of A never seen in B ----------------------------------------------------------
    const unseen = seen.missing(index);
    // In file order, so the list reads like the inputs.
    unseen.sort((x, y) => index.inputOf(x) - index.inputOf(y) || index.offset(x) - index.offset(y));
    for (const s of unseen) {
      checkAbort(opts.signal);
      c.onlyA++;
      const key = ra.keyAtSync(index.inputOf(s), index.offset(s));
      const p = note({ kind: 'onlyA', db: index.dbOf(s), key: jsonBytes(key), fileA: inputs[index.inputOf(s)]!.path });
      if (p !== undefined) await p;
    }

    // ---- function libraries, by code -------------------------------------------------------
    const codeA = ix.libraries.map((l) => l.code);
    const fOnlyA = codeA.filter((x) => !codeB.some((y) => bytesEqual(x, y))).map(libraryName);
    const fOnlyB = codeB.filter((y) => !codeA.some((x) => bytesEqual(x, y))).map(libraryName);

    const differenceCount = c.onlyA + c.onlyB + c.different + fOnlyA.length + fOnlyB.length;
    return {
      command: 'diff',
      same: differenceCount === 0,
      a: pathsA,
      b: pathsB,
      now: sel.now,
      nowIso: new Date(sel.now).toISOString(),
      ttlTolerance: tol,
      inputsA: inputs.map(({ report: r }) => ({
        file: r.file, rdbVersion: r.rdbVersion, magic: r.magic, keysRead: r.keysRead, keysSelected: r.keysSelected,
        dropped: r.dropped, snapshotTime: r.snapshotTime, expiryShift: r.expiryShift,
      })),
      inputsB,
      keysA: index.size,
      keysB: c.keysB,
      inBoth: c.inBoth,
      equal: c.equal,
      onlyA: c.onlyA,
      onlyB: c.onlyB,
      different: c.different,
      differentBy,
      duplicatesA: ix.collisionCount,
      duplicatesB: c.duplicatesB,
      differenceCount,
      differences,
      functions: { onlyA: fOnlyA, onlyB: fOnlyB },
      seconds: (Date.now() - t0) / 1000,
    };
  } finally {
    await ra.close();
  }
}
