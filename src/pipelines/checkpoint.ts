/**
 * `replay --checkpoint FILE`: where an interrupted replay stands, so a rerun continues instead of
 * starting over.
 *
 * What is recorded, per input (identified by path, size, mtime and the CRC-32C of its first and
 * last 64 KiB: the tail holds the RDB's own CRC-64, so a different file with the same name and
 * size is still told apart):
 *
 *  - `mark`, the low-water mark: every entry whose record starts below it has been answered by the
 *    target (restored, replaced, rebuilt, skipped, or failed for good). Replies come back out of
 *    order across connections, so each sent entry gets a sequence number in a ring of in-flight
 *    offsets; the mark only moves past a contiguous run of answered ones.
 *  - `issued`: one past the start of the last entry sent. Between `mark` and `issued` every entry
 *    is answered except those listed in `pending` (sent, no reply yet: their fate is unknown).
 *  - `high`: a reservation written ahead of the sender. No entry at or above it has been sent, so
 *    even if the tool itself is killed after this write, entries at or above `high` are known to
 *    be new to the target. Entries in [issued, high) are uncertain (they may have gone out after
 *    the last write). The sender waits for a new write before it crosses `high`.
 *
 * A rerun skips answered entries, sends the uncertain ones (`pending`, [issued, high)) with
 * replace semantics where the policy would otherwise stop on them, and sends the rest (at or
 * above `high`) under the policy as given. Under `--on-busykey error` the uncertain keys go with
 * REPLACE: they were on nobody's target before the first run (its busy-key check ran before
 * anything was sent), so a key there is the first run's own. Under `skip` they go as plain
 * RESTOREs (a key already there, ours or not, is left alone: the same result either way), under
 * `replace` as usual. Keys never sent are checked and sent under the policy, so a key the target
 * held before is still reported, skipped or replaced as asked.
 *
 * The options that decide what is sent (target, inputs, selection and expiry options, policies,
 * target version, `--now`) are recorded too; a rerun with different ones is refused (exit 2).
 * Counts and the first failures of earlier runs are carried, so the last run's report covers the
 * whole replay.
 *
 * The file: `RDBMCKPT`, u16le format version, u32le payload length, u32le CRC-32C (fast-crc32c)
 * of the payload, then the payload (JSON, UTF-8). It is written atomically (temp file, fsync,
 * rename) every second, before the sender crosses a reservation, on failure, on SIGINT, and at the
 * end. It is small: one line per input plus at most the in-flight window's offsets, so it is not
 * compressed. A damaged file is a typed error naming it (exit 3, or 5 for a checksum mismatch).
 */
import { Buffer } from 'node:buffer';
import { constants as fsConstants } from 'node:fs';
import { access, open, readFile, stat } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, resolve } from 'node:path';
import { EXIT, ToolError, UsageError } from '../errors.js';
import { atomicWrite } from '../io/files.js';

const require = createRequire(import.meta.url);
const crc32c = require('fast-crc32c') as { calculate(data: Buffer | string, initial?: number): number };

const MAGIC = Buffer.from('RDBMCKPT', 'latin1');
const FORMAT = 1;
const HEADER = 18;
/** A checkpoint is small; anything larger is not one of ours (and is not read whole). */
const MAX_FILE = 64 * 1024 * 1024;
/** Bytes hashed at each end of an input for its identity. */
const ID_SPAN = 64 * 1024;
/** How far ahead of the sender a write reserves, at least (bytes of input). */
const MIN_RESERVE = 32 * 1024 * 1024;

/** A checkpoint file that cannot be read: exit 3 (damaged) or 5 (checksum mismatch). */
export class CheckpointError extends ToolError {
  readonly kind: string;
  readonly exitCode: number;
  override name = 'CheckpointError';

  constructor(readonly file: string, readonly offset: number, expected: string, checksum = false) {
    super(`${file}: offset ${offset}: ${expected}`, 'the checkpoint is damaged: delete it to start the replay over (keys already sent are then sent again under --on-busykey)');
    this.kind = checksum ? 'checksum' : 'corrupt';
    this.exitCode = checksum ? EXIT.checksum : EXIT.corrupt;
  }
}

/** How an input is told apart from another file. */
export interface InputIdentity {
  /** Absolute path ('-' for stdin). */
  path: string;
  size: number;
  /** Modification time, ms (0 for stdin). */
  mtimeMs: number;
  /** CRC-32C of the first and of the last 64 KiB (the whole file when smaller). */
  head: number;
  tail: number;
}

/** Where an input stands (see the module comment). */
export interface InputMarks {
  mark: number;
  issued: number;
  pending: number[];
  high: number;
}

/** Outcome counts carried across runs. */
export interface CheckpointTotals {
  restored: number;
  replaced: number;
  rebuilt: number;
  skippedBusy: number;
  skippedExpired: number;
  skippedUnsupported: number;
  failed: number;
  busy: number;
  /** Entries sent again because their fate was unknown. */
  resent: number;
}

export interface CheckpointFailure {
  db: number;
  key: string | { b64: string };
  error: string;
}

/** The recorded state (the JSON payload of the file). */
export interface CheckpointState {
  tool: 'rdbmerge replay';
  /** When the first run started (ISO) and when this state was written. */
  created: string;
  updated: string;
  runs: number;
  complete: boolean;
  /** The `--now` of the first run (reruns reuse it unless given). */
  now: number;
  options: Record<string, unknown>;
  inputs: Array<InputIdentity & InputMarks>;
  totals: CheckpointTotals;
  failures: CheckpointFailure[];
  busyKeys: Array<{ db: number; key: string | { b64: string } }>;
}

export const DONE = 0;
export const UNCERTAIN = 1;
export const FRESH = 2;
/** What a rerun does with an entry: skip it (answered), resend it (fate unknown), or send it. */
export type EntryFate = typeof DONE | typeof UNCERTAIN | typeof FRESH;

/** Identity of one input file: stat + CRC-32C of its two ends. */
export async function inputIdentity(path: string, shownAs = path): Promise<InputIdentity> {
  const st = await stat(path);
  const fh = await open(path, 'r');
  try {
    const n = Math.min(ID_SPAN, st.size);
    const a = Buffer.alloc(n);
    const b = Buffer.alloc(n);
    if (n > 0) {
      await fh.read(a, 0, n, 0);
      await fh.read(b, 0, n, st.size - n);
    }
    return { path: shownAs === '-' ? '-' : resolve(shownAs), size: st.size, mtimeMs: shownAs === '-' ? 0 : Math.floor(st.mtimeMs), head: crc32c.calculate(a), tail: crc32c.calculate(b) };
  } finally {
    await fh.close();
  }
}

/** The framed bytes of a state. */
export function encodeCheckpoint(state: CheckpointState): Buffer {
  const payload = Buffer.from(JSON.stringify(state), 'utf8');
  const out = Buffer.alloc(HEADER + payload.length);
  MAGIC.copy(out, 0);
  out.writeUInt16LE(FORMAT, 8);
  out.writeUInt32LE(payload.length, 10);
  out.writeUInt32LE(crc32c.calculate(payload) >>> 0, 14);
  payload.copy(out, HEADER);
  return out;
}

function isCount(x: unknown): x is number {
  return typeof x === 'number' && Number.isSafeInteger(x) && x >= 0;
}

/**
 * Reads and checks a checkpoint's bytes.
 * @throws CheckpointError naming `file`, the offset and what was expected
 */
export function decodeCheckpoint(bytes: Buffer, file: string): CheckpointState {
  if (bytes.length < HEADER) throw new CheckpointError(file, bytes.length, `a checkpoint header of ${HEADER} bytes; the file has ${bytes.length}`);
  if (!bytes.subarray(0, 8).equals(MAGIC)) throw new CheckpointError(file, 0, 'the magic RDBMCKPT (is this an rdbmerge replay checkpoint?)');
  const format = bytes.readUInt16LE(8);
  if (format !== FORMAT) throw new CheckpointError(file, 8, `checkpoint format ${FORMAT}, found ${format}`);
  const len = bytes.readUInt32LE(10);
  if (len !== bytes.length - HEADER) throw new CheckpointError(file, 10, `a payload of ${len} bytes as the header says; the file holds ${bytes.length - HEADER}`);
  const payload = bytes.subarray(HEADER);
  const stored = bytes.readUInt32LE(14);
  const crc = crc32c.calculate(payload) >>> 0;
  if (crc !== stored) {
    throw new CheckpointError(file, 14, `CRC-32C ${stored.toString(16).padStart(8, '0')} of the payload; it computes to ${crc.toString(16).padStart(8, '0')}`, true);
  }
  let s: CheckpointState;
  try {
    s = JSON.parse(payload.toString('utf8')) as CheckpointState;
  } catch (e) {
    throw new CheckpointError(file, HEADER, `a JSON payload (${(e as Error).message})`);
  }
  const bad = (what: string): never => {
    throw new CheckpointError(file, HEADER, `a checkpoint payload: ${what}`);
  };
  if (typeof s !== 'object' || s === null || s.tool !== 'rdbmerge replay') bad('tool is not "rdbmerge replay"');
  if (typeof s.complete !== 'boolean' || !isCount(s.now) || !isCount(s.runs)) bad('complete, now or runs missing');
  if (typeof s.options !== 'object' || s.options === null) bad('options missing');
  if (!Array.isArray(s.inputs)) bad('inputs missing');
  for (const i of s.inputs) {
    if (typeof i !== 'object' || i === null || typeof i.path !== 'string') bad('an input without a path');
    for (const f of ['size', 'mtimeMs', 'head', 'tail', 'mark', 'issued', 'high'] as const) if (!isCount(i[f])) bad(`input ${i.path}: ${f} is not a count`);
    if (!Array.isArray(i.pending) || !i.pending.every(isCount)) bad(`input ${i.path}: pending is not a list of offsets`);
    if (i.mark > i.size || i.issued > i.size || i.high > i.size) bad(`input ${i.path}: a mark past the end of the input`);
  }
  if (typeof s.totals !== 'object' || s.totals === null) bad('totals missing');
  for (const f of ['restored', 'replaced', 'rebuilt', 'skippedBusy', 'skippedExpired', 'skippedUnsupported', 'failed', 'busy', 'resent'] as const) {
    if (!isCount(s.totals[f])) bad(`totals.${f} is not a count`);
  }
  if (!Array.isArray(s.failures) || !Array.isArray(s.busyKeys)) bad('failures or busyKeys missing');
  return s;
}

/**
 * The checkpoint at `file`, or null when there is none yet.
 * @throws CheckpointError for a damaged file; UsageError when it cannot be read
 */
export async function readCheckpoint(file: string): Promise<CheckpointState | null> {
  let size: number;
  try {
    const st = await stat(file);
    if (!st.isFile()) throw new UsageError(`--checkpoint ${file}: not a regular file`);
    size = st.size;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    if (e instanceof UsageError) throw e;
    throw new UsageError(`--checkpoint ${file}: ${(e as Error).message}`);
  }
  if (size > MAX_FILE) throw new CheckpointError(file, 0, `a checkpoint of at most ${MAX_FILE} bytes; the file has ${size}`);
  return decodeCheckpoint(await readFile(file), file);
}

/** Names what differs between two option records, or null when they are equal. */
function optionDiff(was: Record<string, unknown>, now: Record<string, unknown>): string | null {
  const keys = new Set([...Object.keys(was), ...Object.keys(now)]);
  for (const k of [...keys].sort()) {
    const a = JSON.stringify(was[k] ?? null);
    const b = JSON.stringify(now[k] ?? null);
    if (a !== b) return `${k} was ${a}, now ${b}`;
  }
  return null;
}

/**
 * Per-input tracking of sent entries: a ring of (offset, answered) by sequence number. `issue` and
 * `ack` are O(1); the oldest unanswered entry is at `head`.
 */
export class InputTrack {
  private offs = new Float64Array(1024);
  private done = new Uint8Array(1024);
  private head = 0;
  private tail = 0;
  /** Every record before this offset has been handled (sent, or needing nothing). */
  scan = 0;
  /** One past the start of the last entry sent by this run. */
  issuedEnd = 0;
  /** No entry at or above this offset may be sent before a write reserves further. */
  reserved = 0;
  /** The earlier run's `pending` offsets (their fate is unknown: they are sent again). */
  readonly prevPending: ReadonlySet<number>;

  constructor(readonly size: number, readonly prev: InputMarks | null) {
    this.prevPending = new Set(prev?.pending ?? []);
    if (prev !== null) this.reserved = prev.high;
  }

  /** Fate of the entry starting at `offset` under the recorded state. */
  fate(offset: number): EntryFate {
    const p = this.prev;
    if (p === null) return FRESH;
    if (offset < p.mark) return DONE;
    if (offset < p.issued) return this.prevPending.has(offset) ? UNCERTAIN : DONE;
    if (offset < p.high) return UNCERTAIN;
    return FRESH;
  }

  /** Records an entry sent; returns its sequence number for `ack`. */
  issue(offset: number): number {
    if (this.tail - this.head === this.offs.length) this.grow();
    const s = this.tail++;
    const i = s % this.offs.length;
    this.offs[i] = offset;
    this.done[i] = 0;
    this.issuedEnd = offset + 1;
    return s;
  }

  /** The target answered entry `seq` for good. */
  ack(seq: number): void {
    if (seq < this.head || seq >= this.tail) return; // answered already: its slot may be another's now
    const n = this.offs.length;
    this.done[seq % n] = 1;
    while (this.head < this.tail && this.done[this.head % n] === 1) this.head++;
  }

  private grow(): void {
    const n = this.offs.length;
    const offs = new Float64Array(n * 2);
    const done = new Uint8Array(n * 2);
    for (let s = this.head; s < this.tail; s++) {
      offs[s % (n * 2)] = this.offs[s % n]!;
      done[s % (n * 2)] = this.done[s % n]!;
    }
    this.offs = offs;
    this.done = done;
  }

  /** Sent and not answered, oldest first. */
  unanswered(): number[] {
    const out: number[] = [];
    const n = this.offs.length;
    for (let s = this.head; s < this.tail; s++) if (this.done[s % n] === 0) out.push(this.offs[s % n]!);
    return out;
  }

  /** The marks to write now, with `high` as the reservation. */
  marks(high: number): InputMarks {
    const p = this.prev;
    const open = this.unanswered();
    let mark = open.length > 0 ? open[0]! : this.scan;
    let issued = this.issuedEnd;
    const pending = open;
    if (p !== null) {
      // Entries of the earlier run this run has not reached yet keep their recorded state.
      const later = p.pending.filter((o) => o >= this.scan);
      const firstLater = later.length > 0 ? later[0]! : Infinity;
      mark = Math.min(mark, firstLater, Math.max(this.scan, p.issued));
      if (p.issued > issued) issued = p.issued;
      for (const o of later) pending.push(o);
      high = Math.max(high, p.high);
    }
    mark = Math.min(mark, this.size);
    issued = Math.min(Math.max(issued, mark), this.size);
    high = Math.min(Math.max(high, issued), this.size);
    return { mark, issued, pending, high };
  }
}

export interface CheckpointOpen {
  file: string;
  /** The identities of the inputs, in order. */
  inputs: InputIdentity[];
  /** What must match on a rerun. */
  options: Record<string, unknown>;
  now: number;
  /** `--now` was given on this command line (else a rerun takes the recorded one). */
  nowGiven: boolean;
}

/** Counts a run adds to the totals when it writes. */
export type RunCounts = Omit<CheckpointTotals, 'resent'> & { resent: number; failures: CheckpointFailure[]; busyKeys: CheckpointState['busyKeys'] };

/**
 * A replay's checkpoint: loads and checks an earlier one, tracks the entries of this run, writes.
 */
export class Checkpoint {
  readonly tracks: InputTrack[];
  /** The run's `--now` (the recorded one on a rerun without `--now`). */
  readonly now: number;
  /** Entries skipped because an earlier run had them answered. */
  skippedDone = 0;
  /** Entries sent again because their fate was unknown. */
  resent = 0;
  private writing: Promise<void> = Promise.resolve();
  private lastWrite = Date.now();
  private lastScan = 0;
  private reserve = MIN_RESERVE;
  private counts: (() => RunCounts) | null = null;
  private complete = false;
  private stopped = false;
  private current = 0;
  private timer: NodeJS.Timeout | null = null;
  private failure: Error | null = null;

  private constructor(readonly spec: CheckpointOpen, readonly prev: CheckpointState | null, readonly maxListed: number) {
    this.now = prev !== null && !spec.nowGiven ? prev.now : spec.now;
    this.tracks = spec.inputs.map((id, i) => new InputTrack(id.size, prev?.inputs[i] ?? null));
  }

  /** True when an earlier run finished the replay. */
  get alreadyComplete(): boolean {
    return this.prev?.complete === true;
  }

  /** Totals of the earlier runs (zeros on a first run). */
  get previous(): CheckpointTotals {
    return this.prev?.totals ?? { restored: 0, replaced: 0, rebuilt: 0, skippedBusy: 0, skippedExpired: 0, skippedUnsupported: 0, failed: 0, busy: 0, resent: 0 };
  }

  /**
   * Opens `spec.file`: a new checkpoint when there is none, else the recorded one after checking
   * it was made for these inputs and options.
   * @throws CheckpointError (damaged), UsageError (other inputs or options)
   */
  static async open(spec: CheckpointOpen, maxListed = 100): Promise<Checkpoint> {
    const prev = await readCheckpoint(spec.file);
    // Its directory must take the temp file and the rename: found now, not after keys were sent.
    try {
      await access(dirname(resolve(spec.file)), fsConstants.W_OK | fsConstants.X_OK);
    } catch (e) {
      throw new UsageError(`--checkpoint ${spec.file}: its directory cannot be written (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
    }
    if (prev !== null) {
      const hint = `give the same inputs and options as the run that wrote it, or delete ${spec.file} to start over`;
      if (prev.inputs.length !== spec.inputs.length) {
        throw new UsageError(`--checkpoint ${spec.file} was written for ${prev.inputs.length} input(s), this run has ${spec.inputs.length}`, hint);
      }
      for (let i = 0; i < prev.inputs.length; i++) {
        const a = prev.inputs[i]!;
        const b = spec.inputs[i]!;
        const what = a.path !== b.path ? `input ${i + 1} was ${a.path}, now ${b.path}`
          : a.size !== b.size ? `${b.path} had ${a.size} bytes, now ${b.size}`
          : a.mtimeMs !== b.mtimeMs ? `${b.path} was modified (mtime ${new Date(a.mtimeMs).toISOString()}, now ${new Date(b.mtimeMs).toISOString()})`
          : a.head !== b.head || a.tail !== b.tail ? `${b.path} has other contents (CRC-32C of its ends differs)`
          : null;
        if (what !== null) throw new UsageError(`--checkpoint ${spec.file} belongs to another input: ${what}`, hint);
      }
      const diff = optionDiff(prev.options, spec.options);
      if (diff !== null) throw new UsageError(`--checkpoint ${spec.file} was written with other options: ${diff}`, hint);
      if (spec.nowGiven && spec.now !== prev.now) {
        throw new UsageError(`--checkpoint ${spec.file} was written with --now ${new Date(prev.now).toISOString()}, this run has ${new Date(spec.now).toISOString()}`, 'leave --now out: a rerun takes the recorded one');
      }
    }
    return new Checkpoint(spec, prev, maxListed);
  }

  /** Where the run's outcome counts come from when writing. */
  countsFrom(f: () => RunCounts): void {
    this.counts = f;
  }

  /**
   * The entry of input `input` starting at `offset` comes next: every record before it was
   * handled, and every earlier input is finished. Returns its fate.
   */
  at(input: number, offset: number): EntryFate {
    if (input !== this.current) {
      for (let i = 0; i < input; i++) {
        const t = this.tracks[i]!;
        if (t.scan < t.size) t.scan = t.size;
      }
      this.current = input;
    }
    const t = this.tracks[input]!;
    t.scan = offset;
    const f = t.fate(offset);
    if (f === DONE) this.skippedDone++;
    else if (f === UNCERTAIN) this.resent++;
    return f;
  }

  /** Every input read to its end. */
  allScanned(): void {
    for (const t of this.tracks) t.scan = t.size;
  }

  /**
   * Resolves when entry `offset` of `input` may be sent: at once when it lies under the written
   * reservation, else after a write that reserves further. Undefined when no wait is needed.
   */
  room(input: number, offset: number): Promise<void> | undefined {
    if (offset < this.tracks[input]!.reserved) return undefined;
    return this.save();
  }

  /** Writes every second while `start`ed (the timer does not keep the process alive). */
  start(): void {
    this.timer ??= setInterval(() => {
      this.save().catch(() => undefined);
    }, 1000);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
  }

  /**
   * Nothing more will be sent by this process: later writes reserve nothing ahead, so what was
   * never sent is known as such (exactly what a rerun may send under the policy as given).
   */
  sendingStopped(): void {
    this.stop();
    this.stopped = true;
  }

  /** The replay finished: the next write says complete. */
  markComplete(): void {
    this.allScanned();
    this.complete = true;
  }

  /** The state as it would be written now (reservations included). */
  state(): CheckpointState {
    const now = Date.now();
    // Reserve enough input ahead for the next few writes at the pace seen since the last one.
    let scanned = 0;
    for (const t of this.tracks) scanned += t.scan;
    const dt = Math.max(1, now - this.lastWrite);
    this.reserve = Math.max(MIN_RESERVE, Math.ceil(((scanned - this.lastScan) * 4000) / dt));
    this.lastScan = scanned;
    this.lastWrite = now;
    let budget = this.reserve;
    const inputs = this.spec.inputs.map((id, i) => {
      const t = this.tracks[i]!;
      // The current input reserves ahead of the sender; the next ones take what is left over.
      let high = t.issuedEnd;
      if (!this.complete && !this.stopped && t.scan < t.size && budget > 0) {
        const from = Math.max(t.scan, t.issuedEnd);
        high = Math.min(t.size, from + budget);
        budget -= high - from;
        budget = Math.max(0, budget);
      }
      // While sending, a write never takes back a reservation: the sender may already be past
      // what this write would reserve, under the one the file holds now.
      if (!this.complete && !this.stopped) high = Math.max(high, Math.min(t.reserved, t.size));
      const m = t.marks(high);
      if (this.complete) {
        m.mark = t.size;
        m.issued = t.size;
        m.high = t.size;
        m.pending = [];
      }
      return { ...id, ...m };
    });
    const c = this.counts?.();
    const p = this.previous;
    const prevFail = this.prev?.failures ?? [];
    const prevBusy = this.prev?.busyKeys ?? [];
    return {
      tool: 'rdbmerge replay',
      created: this.prev?.created ?? new Date(now).toISOString(),
      updated: new Date(now).toISOString(),
      runs: (this.prev?.runs ?? 0) + 1,
      complete: this.complete,
      now: this.now,
      options: this.spec.options,
      inputs,
      totals: {
        restored: p.restored + (c?.restored ?? 0),
        replaced: p.replaced + (c?.replaced ?? 0),
        rebuilt: p.rebuilt + (c?.rebuilt ?? 0),
        skippedBusy: p.skippedBusy + (c?.skippedBusy ?? 0),
        skippedExpired: p.skippedExpired + (c?.skippedExpired ?? 0),
        skippedUnsupported: p.skippedUnsupported + (c?.skippedUnsupported ?? 0),
        failed: p.failed + (c?.failed ?? 0),
        busy: p.busy + (c?.busy ?? 0),
        resent: p.resent + this.resent,
      },
      failures: [...prevFail, ...(c?.failures ?? [])].slice(0, this.maxListed),
      busyKeys: [...prevBusy, ...(c?.busyKeys ?? [])].slice(0, this.maxListed),
    };
  }

  /**
   * Writes the current state (after any write under way). The reservations it makes count only
   * once the file is renamed into place.
   * @throws the file system's error (also from later calls: a checkpoint that cannot be written
   *   stops the replay)
   */
  save(): Promise<void> {
    const p = this.writing.then(async () => {
      if (this.failure !== null) throw this.failure;
      const s = this.state();
      const f = await atomicWrite(this.spec.file);
      try {
        await f.write(encodeCheckpoint(s));
        await f.commit();
      } catch (e) {
        await f.abort();
        this.failure = e as Error;
        throw e;
      }
      s.inputs.forEach((x, i) => {
        this.tracks[i]!.reserved = x.high;
      });
    });
    this.writing = p.catch(() => undefined);
    return p;
  }
}
