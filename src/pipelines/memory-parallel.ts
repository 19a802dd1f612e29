/**
 * `inspect --format memory` of one file, in spans: on worker threads (big files), or on the calling
 * thread alone (mainThreadPool: smaller files, `--threads 1`).
 *
 * An RDB file cannot be cut at arbitrary offsets: only a parse finds where records begin. So the
 * calling thread reads the file in chunks (the next one read ahead while this one is worked on)
 * and skims it (RdbParser.skimKeys: every record's extent is walked and checked, no key is built);
 * each chunk's complete records become one span, with the database current at its start. A span
 * goes to a worker thread (memory-thread.ts) when one has fewer than 2 queued, else the calling
 * thread runs it itself; either way memory-span.ts estimates each key straight from its record
 * bytes (the reader takes what that walk leaves), applies the selection, writes its CSV or JSON
 * lines and computes the span's CRC-64. The calling thread writes the spans' bytes in file order
 * and checks the file's checksum by combining the spans' CRCs (Crc64.append).
 *
 * Memory stays bounded: at most 2 spans per worker and 8 more are in flight, each a chunk (default
 * 4 MiB) plus its rows; span buffers come back from the workers for the next chunks.
 *
 * Errors keep the reader's meaning and order: a span's error (a damaged value) is thrown after
 * the rows before it are written; the skim's own (a bad length, a truncated file) after every
 * earlier span's rows; a checksum mismatch after all rows. The reader parses a batch of records
 * before it estimates them, so when a damaged value sits in the file's last batch it reports the
 * checksum first; the spans find the damaged value (exit 3 rather than 5).
 */
import { open } from 'node:fs/promises';
import { Worker } from 'node:worker_threads';
import {
  ChecksumError, checksumMismatch, CorruptError, Crc64, isRdbError, LimitError, RdbParser, TruncatedError, UnsupportedError,
  type RdbError, type RdbErrorInfo, type RdbErrorKind, type RdbRecord,
} from '../../native-free-parser/index.js';
import { NEED_MORE } from '../../native-free-parser/bytes/cursor.js';
import type { SharedOptions } from '../cli-options.js';
import { SpanRunner, type ErrorData, type InputMessage, type JobMessage, type JobResult } from './memory-span.js';
import { InterruptedError, UsageError } from '../errors.js';
import type { EncodingConfig } from '../report/memory.js';
import { takeEarlyWorker, WORKER_URL } from './memory-early.js';
import type { DropReason, Selector } from './select.js';

const RDB_ERRORS: Record<RdbErrorKind, new (info: RdbErrorInfo) => RdbError> = {
  corrupt: CorruptError,
  truncated: TruncatedError,
  checksum: ChecksumError,
  unsupported: UnsupportedError,
  limit: LimitError,
};

function rebuildError(d: ErrorData): Error {
  if (d.rdb !== undefined) return new RDB_ERRORS[d.rdb.kind](d.rdb.info);
  if (d.usage !== undefined) return new UsageError(d.usage.message, d.usage.hint);
  return new Error(`rdbmerge internal: memory worker: ${d.message}`);
}


interface Slot {
  worker: Worker;
  /** Jobs sent and not answered. */
  busy: number;
  failed: Error | null;
  /** The worker has loaded its modules (until then the main thread runs every span). */
  ready: boolean;
}

/** Worker threads, started once and kept for the next file or run (they hold no file state). */
class MemoryPool {
  private readonly slots: Slot[] = [];
  private readonly waiting = new Map<number, { resolve: (r: JobResult) => void; reject: (e: Error) => void; slot: Slot }>();
  private nextId = 1;
  private readonly readyWaiters: Array<() => void> = [];

  constructor(readonly size: number) {
    for (let i = 0; i < size; i++) {
      // A worker src/bin.ts started before the command line loaded, when there is one.
      const early = takeEarlyWorker();
      const worker = early?.worker ?? new Worker(WORKER_URL);
      worker.unref();
      const slot: Slot = { worker, busy: 0, failed: null, ready: early?.ready === true };
      worker.on('message', (r: JobResult | 'ready') => {
        if (r === 'ready') {
          slot.ready = true;
          if (this.slots.every((x) => x.ready)) for (const w of this.readyWaiters.splice(0)) w();
          return;
        }
        const w = this.waiting.get(r.id);
        if (w === undefined) return;
        this.waiting.delete(r.id);
        if (--slot.busy === 0) worker.unref();
        w.resolve(r);
      });
      const fail = (e: Error): void => {
        slot.failed = e;
        for (const [id, w] of this.waiting) {
          if (w.slot !== slot) continue;
          this.waiting.delete(id);
          w.reject(new Error(`rdbmerge internal: memory worker failed: ${e.message}`));
        }
      };
      worker.on('error', fail);
      worker.on('exit', (code) => fail(new Error(`exited with code ${code}`)));
      this.slots.push(slot);
    }
  }

  /** Resolves when every worker has loaded its code. */
  whenReady(): Promise<void> {
    if (this.slots.every((s) => s.ready)) return Promise.resolve();
    for (const s of this.slots) s.worker.ref();
    return new Promise<void>((resolve) => {
      this.readyWaiters.push(() => {
        for (const s of this.slots) if (s.busy === 0) s.worker.unref();
        resolve();
      });
    });
  }

  get healthy(): boolean {
    return this.slots.every((s) => s.failed === null);
  }

  /** Sends the facts of a new input to every worker. */
  startInput(msg: Omit<InputMessage, 'id' | 'kind'>): InputMessage {
    const full: InputMessage = { ...msg, kind: 'input', id: this.nextId++ };
    for (const s of this.slots) s.worker.postMessage(full);
    return full;
  }

  /**
   * Runs a span on the least busy worker, when one has fewer than `depth` spans queued (else
   * null: the caller runs it itself). `buf` is then transferred (detached here).
   */
  trySend(job: Omit<JobMessage, 'id' | 'kind'>, depth: number): Promise<JobResult> | null {
    let slot: Slot | null = null;
    for (const s of this.slots) if (s.ready && s.busy < depth && (slot === null || s.busy < slot.busy)) slot = s;
    if (slot === null) return null;
    if (slot.failed !== null) return Promise.reject(new Error(`rdbmerge internal: memory worker failed: ${slot.failed.message}`));
    const id = this.nextId++;
    const s = slot;
    const answer = new Promise<JobResult>((resolve, reject) => {
      this.waiting.set(id, { resolve, reject, slot: s });
      if (s.busy++ === 0) s.worker.ref(); // an awaited answer must keep the process alive
      s.worker.postMessage({ ...job, kind: 'job', id } satisfies JobMessage, [job.buf]);
    });
    // A run that stops early drops its later answers: their failure must not become an
    // unhandled rejection (the caller still sees it when it awaits).
    answer.catch(() => undefined);
    return answer;
  }

  async close(): Promise<void> {
    await Promise.all(this.slots.map((s) => s.worker.terminate()));
  }
}

let idlePool: MemoryPool | null = null;

/** A pool of `size` workers: the idle one when it fits, else a new one. */
export function acquirePool(size: number): MemoryPool {
  const p = idlePool !== null && idlePool.size === size && idlePool.healthy ? idlePool : null;
  if (p !== null) {
    idlePool = null;
    return p;
  }
  return new MemoryPool(size);
}

let noWorkers: MemoryPool | null = null;

/** A pool without workers: the calling thread runs every span (files below the parallel size, `--threads 1`). */
export function mainThreadPool(): MemoryPool {
  noWorkers ??= new MemoryPool(0);
  return noWorkers;
}

/**
 * Returns a pool for reuse (one is kept). A run that stopped early may leave spans running: the
 * next input's messages queue behind them, and their answers are dropped.
 */
export function releasePool(p: MemoryPool): void {
  if (p.healthy && idlePool === null) idlePool = p;
  else void p.close();
}

/**
 * Starts the worker threads of a `threads`-thread memory scan now and waits until they have
 * loaded (they are kept for the next scan): a later scan then hands spans to them from its first
 * span on. Until a worker is ready, the main thread runs every span itself.
 */
export async function startMemoryThreads(threads: number): Promise<void> {
  if (threads < 2) return;
  const pool = acquirePool(threads - 1);
  try {
    await pool.whenReady();
  } finally {
    releasePool(pool);
  }
}

export { defaultThreads } from './memory-early.js';

/** Whether worker threads can run here at all (compiled JavaScript, or a TypeScript loader). */
export const PARALLEL_AVAILABLE = import.meta.url.endsWith('.js') || import.meta.url.endsWith('.ts');

export interface ParallelInput {
  name: string;
  /** The name in messages ("stdin" is never read here). */
  shown: string;
  index: number;
  fileField: string | undefined;
  /** The main thread's selector of this input: fed the aux fields, its snapshot time goes to the workers. */
  selector: Selector;
}

export interface ParallelConfig {
  select: SharedOptions;
  targetVersion: number | undefined;
  encodingConfig: Partial<EncodingConfig> | undefined;
  jemallocQuantum: 8 | 16;
  maxValueSize: number;
  largestElement: boolean;
  json: boolean;
  /** Let the spans walk in WebAssembly where they can (memory-walk-wasm.ts). */
  walkWasm: boolean;
  chunkBytes: number;
  signal: AbortSignal | undefined;
  /** After each span is written: keys read so far, bytes of the file consumed. */
  onSpan?: (keysRead: number, bytes: number) => void;
}

export interface ParallelFileResult {
  rdbVersion: number;
  targetVersion: number;
  /** Spans the file was cut into, and how many of them ran on worker threads. */
  spans: number;
  spansOnWorkers: number;
  /** Keys the spans estimated straight from their record bytes (memory-span.ts), of keysRead. */
  keysWalked: number;
  /** Of keysWalked, those walked in WebAssembly. */
  keysWalkedWasm: number;
  keysRead: number;
  keys: number;
  bytes: number;
  sizeBytes: number;
  dropped: Record<DropReason, number>;
}

const EOF_OPCODE = new Uint8Array([0xff]);
/** Room over the chunk size in a new buffer, for the partial record carried over. */
const SLACK = 256 * 1024;
/** Room before the bytes read ahead, for the partial record carried over from the chunk before. */
const HEAD = 64 * 1024;

/** A read of the next chunk's new bytes, started before they are needed (scanFileParallel). */
interface AheadRead {
  pos: number;
  len: number;
  ab: ArrayBuffer;
  done: Promise<number>;
}

/** Bytes a record may exceed maxValueSize by, as the codec's reader allows. */
const RECORD_SLACK = 1024 * 1024;

/**
 * Writes one file's memory rows (CSV lines without the header, or JSON lines) through `write`,
 * in file order, with the parse spread over `pool`.
 * @throws as the sequential scan: RdbError with the input and offset, UsageError, InterruptedError
 */
export async function scanFileParallel(
  input: ParallelInput,
  cfg: ParallelConfig,
  pool: MemoryPool,
  write: (bytes: Uint8Array) => Promise<void>,
): Promise<ParallelFileResult> {
  const { name, shown } = input;
  // The skim keeps no checksum: each worker computes its span's, and they are combined here.
  const parser = new RdbParser({ source: shown, maxValueSize: cfg.maxValueSize, verifyChecksum: false });
  const crc = new Crc64();
  parser.skimKeys = true;
  parser.skimInWasm = true;
  const c = parser.cur;
  const maxRecord = cfg.maxValueSize + RECORD_SLACK;
  const res: ParallelFileResult = {
    rdbVersion: 0, targetVersion: 0, spans: 0, spansOnWorkers: 0, keysWalked: 0, keysWalkedWasm: 0, keysRead: 0, keys: 0, bytes: 0, sizeBytes: 0,
    dropped: { db: 0, type: 0, match: 0, expired: 0 },
  };
  /** Spans in file order: the answer, the span's length, and the file offset it ends at. */
  const inFlight: Array<{ result: Promise<JobResult>; length: number; endsAt: number }> = [];
  /** Buffers of finished spans, for the next chunks. */
  const spare: ArrayBuffer[] = [];
  // Each worker has up to 2 spans queued; the main thread runs a span itself when all are full
  // (or still starting). A worker's first spans run before its code is optimized, several times
  // slower: the main thread goes on with later spans meanwhile, up to 8 more in flight.
  const depth = 2;
  const maxInFlight = depth * pool.size + 8;
  let inputId = -1;
  let local: SpanRunner | null = null;

  /** Writes the oldest span's lines; throws its error after them. */
  const settle = async (): Promise<void> => {
    const span = inFlight.shift()!;
    const r = await span.result;
    if (r.buf !== undefined && spare.length < 4) spare.push(r.buf);
    crc.append(r.crcLo, r.crcHi, span.length);
    if (r.out.length > 0) await write(r.out);
    res.keysRead += r.read;
    res.keysWalked += r.walked;
    res.keysWalkedWasm += r.walkedWasm;
    res.keys += r.kept;
    res.bytes += r.bytes;
    for (const k of Object.keys(r.dropped) as DropReason[]) res.dropped[k] += r.dropped[k];
    if (r.error !== undefined) throw rebuildError(r.error);
    cfg.onSpan?.(res.keysRead, span.endsAt);
  };

  const fh = await open(name, 'r');
  /**
   * The next chunk's new bytes, read while this chunk is skimmed and its span runs (the disk or
   * page cache works while the threads do): file bytes [pos, pos + len) into `ab` at HEAD, so that
   * the record carried over from this chunk (up to HEAD bytes) goes just before them and the two
   * make the next chunk without copying the new bytes. `done` gives the bytes read.
   */
  let ahead: AheadRead | null = null;
  const readFully = async (dst: Uint8Array, off: number, len: number, pos: number): Promise<number> => {
    let got = 0;
    while (got < len) {
      const { bytesRead } = await fh.read(dst, off + got, len - got, pos + got);
      if (bytesRead === 0) break;
      got += bytesRead;
    }
    return got;
  };
  /** A buffer of a span already done when one is big enough (chunks are about the same size), else a new one. */
  const bufferOf = (bytes: number): ArrayBuffer => {
    for (let i = 0; i < spare.length; i++) {
      if (spare[i]!.byteLength >= bytes) return spare.splice(i, 1)[0]!;
    }
    return new ArrayBuffer(Math.max(bytes, HEAD + cfg.chunkBytes + SLACK));
  };
  const startAhead = (pos: number, fileSize: number): void => {
    if (pos >= fileSize) return;
    const len = Math.min(cfg.chunkBytes, fileSize - pos);
    const ab = bufferOf(HEAD + len);
    const done = readFully(new Uint8Array(ab), HEAD, len, pos);
    done.catch(() => undefined); // seen when the next chunk is made, or dropped with the run
    ahead = { pos, len, ab, done };
  };
  try {
    const fileSize = (await fh.stat()).size;
    let buf: Uint8Array<ArrayBuffer> = new Uint8Array(0);
    let base = 0; // absolute offset of buf[0]
    let spanStart = -1; // where the next span starts in buf; -1 until the header is read
    let spanDb = 0;
    let fileEnd = false;
    let failure: unknown = null;
    let eofPos = -1;
    let eof: Extract<RdbRecord, { kind: 'eof' }> | null = null;
    const records: RdbRecord[] = [];

    const dispatch = async (end: number): Promise<void> => {
      if (end <= spanStart) return;
      while (inFlight.length >= maxInFlight) await settle();
      // Offsets in the job are the buffer's own (a chunk may start after read-ahead head-room).
      const off = buf.byteOffset;
      const job = { input: inputId, buf: buf.buffer, base: base - off, start: spanStart + off, end: end + off, db: spanDb };
      const length = end - spanStart;
      const endsAt = base + end;
      spanStart = end;
      spanDb = parser.db;
      const sent = pool.trySend(job, depth);
      res.spans++;
      if (sent !== null) {
        res.spansOnWorkers++;
        inFlight.push({ result: sent, length, endsAt });
      } else {
        inFlight.push({ result: Promise.resolve(local!.run({ ...job, id: 0 })), length, endsAt });
        if (spare.length < 4) spare.push(job.buf);
      }
    };

    for (;;) {
      if (cfg.signal?.aborted === true) throw new InterruptedError();
      records.length = 0;
      let needUpTo = -1;
      try {
        parser.parseSome(records, Number.MAX_SAFE_INTEGER);
      } catch (e) {
        if (e === NEED_MORE) needUpTo = NEED_MORE.needUpTo;
        else failure = e;
      }
      for (const rec of records) {
        if (rec.kind === 'header') {
          res.rdbVersion = rec.version;
          const own = rec.magic === 'VALKEY' ? 11 : Math.max(6, rec.version);
          res.targetVersion = cfg.targetVersion ?? own;
          spanStart = rec.offset + 9 - base; // just past the 9-byte header
          crc.update(c.buf, rec.offset - base, spanStart);
        } else if (rec.kind === 'aux') {
          input.selector.aux(rec.key, rec.value);
        } else if (rec.kind === 'eof') {
          res.sizeBytes = rec.size;
          eofPos = rec.offset - base;
          eof = rec;
        }
      }
      if (inputId < 0 && spanStart >= 0) {
        // The header and the aux fields before the first key are read: the workers can start.
        const snap = input.selector.snapshotTime();
        const msg = pool.startInput({
          name, index: input.index, source: shown, fileField: input.fileField,
          version: parser.version, magic: parser.magic, targetVersion: res.targetVersion,
          encodingConfig: cfg.encodingConfig, jemallocQuantum: cfg.jemallocQuantum, select: cfg.select,
          snapshotTime: snap?.time, snapshotTimeSource: snap?.source,
          largestElement: cfg.largestElement, json: cfg.json, walkWasm: cfg.walkWasm, maxValueSize: cfg.maxValueSize,
          crc: parser.magic === 'VALKEY' || parser.version >= 5,
        });
        inputId = msg.id;
        local = new SpanRunner(msg);
      }
      if (failure !== null || parser.done) {
        // The complete records before the failure (or the EOF opcode) are the last span.
        const last = parser.done ? eofPos : c.pos;
        if (failure !== null && isRdbError(failure)) failure = withKey(parser, failure);
        if (spanStart >= 0) await dispatch(last);
        break;
      }
      // The chunk is used up: its complete records are a span; the partial one moves on.
      const recStart = base + c.pos;
      if (needUpTo - recStart > maxRecord) {
        failure = new LimitError({
          offset: recStart,
          expected: `a record of at most ${cfg.maxValueSize} bytes (--max-value-size), this one needs ${needUpTo - recStart}`,
          hint: 'raise --max-value-size if the file is sound',
        });
        if (spanStart >= 0) await dispatch(c.pos);
        break;
      }
      const tail = buf.length - c.pos;
      let cap = tail + cfg.chunkBytes;
      if (needUpTo - recStart > cap) cap = needUpTo - recStart;
      // No record completed in this chunk: grow geometrically, so re-parsing stays linear.
      if (c.pos === Math.max(spanStart, 0)) cap = Math.max(cap, 2 * tail);
      cap = Math.max(tail, Math.min(cap, fileSize - recStart));
      let next: Uint8Array<ArrayBuffer>;
      let have = tail;
      const a = ahead as AheadRead | null; // set by startAhead, which TypeScript does not follow
      ahead = null;
      const aheadGot = a === null ? 0 : await a.done;
      if (a !== null && a.pos === recStart + tail && tail <= HEAD && a.ab.byteLength >= HEAD + cap - tail) {
        // The bytes read ahead start where this chunk ends: the carried record goes before them.
        next = new Uint8Array(a.ab, HEAD - tail, cap);
        next.set(buf.subarray(c.pos));
        have += Math.min(aheadGot, cap - tail);
        if (aheadGot < a.len) fileEnd = true;
      } else {
        if (a !== null && spare.length < 4) spare.push(a.ab);
        next = new Uint8Array(bufferOf(cap), 0, cap);
        next.set(buf.subarray(c.pos));
      }
      if (have < cap && !fileEnd) {
        const got = await readFully(next, have, cap - have, recStart + have);
        if (got < cap - have) fileEnd = true;
        have += got;
      }
      if (have === tail) {
        failure = new TruncatedError({
          offset: recStart + tail,
          expected: parser.version === 0
            ? 'a 9-byte RDB header'
            : `${needUpTo - (recStart + tail)} more byte(s) to complete the record at offset ${recStart}`,
          hint: 'the file ends early: an interrupted transfer or a disk that filled up?',
        });
        if (spanStart >= 0) await dispatch(c.pos);
        break;
      }
      const end = c.pos;
      const view = have === cap ? next : next.subarray(0, have);
      // The CRC takes the old chunk's bytes up to `end` before the chunk goes to a worker.
      parser.switchTo(view, recStart, 0);
      if (!fileEnd) startAhead(recStart + have, fileSize);
      if (spanStart >= 0) await dispatch(end);
      base = recStart;
      buf = view;
      spanStart = spanStart >= 0 ? 0 : -1;
    }
    while (inFlight.length > 0) await settle();
    if (failure !== null) throw failure;
    if (eof !== null && eof.checksum === 'unchecked') {
      crc.update(EOF_OPCODE);
      if (crc.hex() !== eof.stored) throw checksumMismatch(eof.offset, crc.hex(), eof.stored, shown);
    }
    return res;
  } catch (e) {
    // Spans still running are left to finish; their answers are dropped.
    inFlight.length = 0;
    if (isRdbError(e) && e.source === '') e.setSource(shown);
    throw e;
  } finally {
    if (ahead !== null) await (ahead as AheadRead).done.catch(() => 0);
    await fh.close();
  }
}

/**
 * The skim's error, found again by a full parse of the same record, which names the key when the
 * error is inside a key record (the skim builds no keys).
 */
function withKey(parser: RdbParser, e: RdbError): RdbError {
  const c = parser.cur;
  const at = c.pos;
  parser.skimKeys = false;
  try {
    parser.parseSome([], 1);
  } catch (again) {
    if (isRdbError(again) && again.kind === e.kind && again.key !== undefined) return again;
  } finally {
    c.pos = at;
  }
  return e;
}
