/**
 * The entry transforms every reading command applies (inspect now; merge, replay, verify later),
 * in CLI.md's order: `--db` on the source database, `--type` on the logical type, `--match` on the
 * raw key bytes, then `--db-map` / `--into-db`, then expiry: `--expire-offset` and
 * `--rebase-expiry` shift every key expiry, and `--drop-expired` drops keys whose shifted expiry
 * is at or before `--now`. Hash-field TTLs are the caller's to shift, by `expiryShift()`.
 *
 * The snapshot time of an input, for `--rebase-expiry`: `--snapshot-time INPUT=TIME`, else the
 * file's `ctime` aux field (seconds), else `<name>.meta.json`'s `snapshotTime`, else the file's
 * mtime. The last two are found on disk by the caller (io/files.ts `snapshotTimeFromDisk`) and
 * passed in; the selector learns ctime from `aux()`, which the caller feeds every aux record
 * (they all precede the keys). The shift is fixed at the first key.
 */
import { resolve } from 'node:path';
import { TYPE_KIND } from '../../native-free-parser/constants.js';
import type { KeyRecord } from '../../native-free-parser/model.js';
import type { SharedOptions } from '../cli-options.js';
import { UsageError } from '../errors.js';
import { snapshotTimeFromDisk } from '../io/files.js';
import { compileGlob } from '../glob.js';

/** Where an input's snapshot time came from; reports print it. */
export type SnapshotTimeSource = 'option' | 'ctime' | 'meta.json' | 'mtime';

export interface SnapshotTime {
  /** Unix ms. */
  time: number;
  source: SnapshotTimeSource;
}

/** Why the selector dropped a key. */
export type DropReason = 'db' | 'type' | 'match' | 'expired';

/** The input a selector works for. */
export interface SelectInput {
  /** The input's name as given (a path, `-`). */
  name: string;
  /** Its position among the inputs (conflict order). */
  index: number;
  /**
   * A snapshot time known before reading: source 'option' wins over everything; 'meta.json' and
   * 'mtime' are fallbacks that a `ctime` aux field overrides.
   */
  snapshotTime?: number;
  snapshotTimeSource?: SnapshotTimeSource;
}

/**
 * A key filter and transform for one input. Call it with each KeyRecord in file order: it returns
 * null for a dropped key, the same record when nothing changes, or a copy with the target `db`
 * and the shifted `expireAt` (the caller still holds the original, with the source db).
 */
export interface Selector {
  (rec: KeyRecord): KeyRecord | null;
  /** Feeds an aux field (the selector reads `ctime`). */
  aux(key: Uint8Array, value: Uint8Array): void;
  /** Keys dropped so far, per reason. */
  readonly dropped: Readonly<Record<DropReason, number>>;
  /** Keys kept so far. */
  readonly kept: number;
  /** The snapshot time in use (or known so far), and its source. */
  snapshotTime(): SnapshotTime | undefined;
  /**
   * Milliseconds added to every expiry of this input: `--expire-offset`, plus `now - snapshot`
   * with `--rebase-expiry`. Fixed at the first key; apply it to hash-field TTLs too.
   * @throws UsageError with `--rebase-expiry` when no snapshot time is known.
   */
  expiryShift(): number;
}

/** The `--snapshot-time` value given for an input, matched by name or by resolved path. */
export function snapshotTimeOption(opts: SharedOptions, name: string): number | undefined {
  let found: number | undefined;
  for (const s of opts.snapshotTimes) {
    if (s.input === name || (name !== '-' && s.input !== '-' && resolve(s.input) === resolve(name))) found = s.time;
  }
  return found;
}

/** `--snapshot-time` entries that name none of the inputs (a usage error for the caller). */
export function unmatchedSnapshotTimes(opts: SharedOptions, names: readonly string[]): string[] {
  const out: string[] = [];
  for (const s of opts.snapshotTimes) {
    const hit = names.some((n) => n === s.input || (n !== '-' && s.input !== '-' && resolve(n) === resolve(s.input)));
    if (!hit) out.push(s.input);
  }
  return out;
}

const CTIME = new TextEncoder().encode('ctime');

function isCtime(key: Uint8Array): boolean {
  if (key.length !== CTIME.length) return false;
  for (let i = 0; i < key.length; i++) if (key[i] !== CTIME[i]) return false;
  return true;
}

/** Decimal ASCII seconds (how Redis writes `ctime`) to ms, or undefined. */
function ctimeMs(value: Uint8Array): number | undefined {
  let s = '';
  for (let i = 0; i < value.length && i < 24; i++) s += String.fromCharCode(value[i]!);
  if (!/^-?\d{1,15}$/.test(s)) return undefined;
  return Number(s) * 1000;
}

/**
 * The selector of input `index` (`name`, a path or STDIN) for a pass that reads it once: its
 * snapshot time from `--snapshot-time`, else from the disk (the .meta.json beside it, its mtime);
 * the file's own ctime aux field, when it has one, is taken while reading.
 */
export async function selectorForInput(opts: SharedOptions, name: string, index: number): Promise<Selector> {
  const optTime = snapshotTimeOption(opts, name);
  const disk = optTime === undefined ? await snapshotTimeFromDisk(name) : undefined;
  return createSelector(opts, {
    name,
    index,
    snapshotTime: optTime ?? disk?.time,
    snapshotTimeSource: optTime !== undefined ? 'option' : disk?.source,
  });
}

/** Builds the selector for one input. */
export function createSelector(opts: SharedOptions, input: SelectInput): Selector {
  const dbSet = opts.db === undefined ? undefined : new Set(opts.db);
  let typeOk: Uint8Array | undefined;
  if (opts.type !== undefined) {
    typeOk = new Uint8Array(256);
    const want = new Set(opts.type);
    for (let t = 0; t < 256; t++) {
      const kind = TYPE_KIND[t];
      if (kind !== undefined && want.has(kind)) typeOk[t] = 1;
    }
  }
  const match = opts.match === undefined || opts.match === '*' ? undefined : compileGlob(opts.match);
  const dbMap = opts.dbMap !== undefined && opts.dbMap.size > 0 ? opts.dbMap : undefined;
  const intoDb = opts.intoDb;
  const now = opts.now;
  const dropExpired = opts.dropExpired;

  const dropped: Record<DropReason, number> = { db: 0, type: 0, match: 0, expired: 0 };
  let kept = 0;
  let snapshot: SnapshotTime | undefined =
    input.snapshotTime !== undefined ? { time: input.snapshotTime, source: input.snapshotTimeSource ?? 'option' } : undefined;
  const fromOption = snapshot?.source === 'option';
  let shift: number | undefined;

  const expiryShift = (): number => {
    if (shift !== undefined) return shift;
    let s = opts.expireOffset;
    if (opts.rebaseExpiry) {
      if (snapshot === undefined) {
        throw new UsageError(
          `--rebase-expiry: no snapshot time for ${input.name === '-' ? 'stdin' : input.name} (no ctime aux field, no .meta.json, no mtime)`,
          `give it with --snapshot-time ${input.name}=TIME`,
        );
      }
      s += now - snapshot.time;
    }
    shift = s;
    return s;
  };

  const select = (rec: KeyRecord): KeyRecord | null => {
    if (dbSet !== undefined && !dbSet.has(rec.db)) {
      dropped.db++;
      return null;
    }
    if (typeOk !== undefined && typeOk[rec.type] !== 1) {
      dropped.type++;
      return null;
    }
    if (match !== undefined && !match(rec.key)) {
      dropped.match++;
      return null;
    }
    let db = rec.db;
    if (intoDb !== undefined) db = intoDb;
    else if (dbMap !== undefined) db = dbMap.get(db) ?? db;
    let expireAt = rec.expireAt;
    if (expireAt >= 0) {
      const s = shift ?? expiryShift();
      // A shift never turns an expiry into "no expiry": clamp at the epoch (long expired).
      if (s !== 0) expireAt = Math.max(0, expireAt + s);
      if (dropExpired && expireAt <= now) {
        dropped.expired++;
        return null;
      }
    }
    kept++;
    if (db === rec.db && expireAt === rec.expireAt) return rec;
    return { ...rec, db, expireAt };
  };

  return Object.defineProperties(select, {
    aux: {
      value: (key: Uint8Array, value: Uint8Array): void => {
        if (fromOption || shift !== undefined || !isCtime(key)) return;
        const ms = ctimeMs(value);
        if (ms !== undefined) snapshot = { time: ms, source: 'ctime' };
      },
    },
    dropped: { get: () => dropped },
    kept: { get: () => kept },
    snapshotTime: { value: (): SnapshotTime | undefined => snapshot },
    expiryShift: { value: expiryShift },
  }) as Selector;
}
