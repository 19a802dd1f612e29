/**
 * One span of an RDB file turned into memory rows: the work unit of `inspect --format memory`
 * (memory-parallel.ts), run on a worker thread (memory-thread.ts) or on the calling thread. A span
 * starts and ends on record boundaries the skim found. The span walk (walkRecords) estimates each
 * key straight from its record bytes and writes its CSV row (in WebAssembly when it can,
 * src/format/memory-csv-wasm.ts); the reader takes, one record group at a time, what the walk
 * leaves, and every key when the selection changes keys or the rows are JSON. The runner also
 * computes the span's CRC-64 for the file checksum.
 */
// The codec's modules themselves, not its index: a worker thread loads only what it runs.
import * as rdb from '../../native-free-parser/constants.js';
import { TYPE_KIND } from '../../native-free-parser/constants.js';
import { Crc64 } from '../../native-free-parser/crc64.js';
import { isRdbError, type RdbErrorInfo, type RdbErrorKind } from '../../native-free-parser/errors.js';
import { lzfWasmPreload, lzfWasmPreloadedAt } from '../../native-free-parser/lzf-wasm.js';
import type { RdbRecord } from '../../native-free-parser/model.js';
import { RdbParser } from '../../native-free-parser/reader.js';
import { asciiInt, NEED_MORE } from '../../native-free-parser/bytes/cursor.js';
import type { SharedOptions } from '../cli-options.js';
import { UsageError } from '../errors.js';
import { MemoryRowWriter } from '../format/memory.js';
import { CsvRowsWasm } from '../format/memory-csv-wasm.js';
import { MemoryWalkWasm } from './memory-walk-wasm.js';
import { estimateKeyMemory, estimateValueAt, memoryModel, valueEstimate, type EncodingConfig, type MemoryModel } from '../report/memory.js';
import { createSelector, type DropReason, type Selector, type SnapshotTimeSource } from './select.js';

/** Main to worker: the facts of the file whose spans follow. */
export interface InputMessage {
  kind: 'input';
  id: number;
  name: string;
  index: number;
  source: string;
  fileField: string | undefined;
  version: number;
  magic: 'REDIS' | 'VALKEY';
  targetVersion: number;
  encodingConfig: Partial<EncodingConfig> | undefined;
  jemallocQuantum: 8 | 16;
  select: SharedOptions;
  snapshotTime: number | undefined;
  snapshotTimeSource: SnapshotTimeSource | undefined;
  largestElement: boolean;
  json: boolean;
  /** Let the span walk run in WebAssembly where it can (memory-walk-wasm.ts). */
  walkWasm: boolean;
  maxValueSize: number;
  /** Compute each span's CRC-64 (files of RDB 5 and later). */
  crc: boolean;
}

/** Main to worker: parse `buf[start..end)`, whose byte 0 is at absolute offset `base`. */
export interface JobMessage {
  kind: 'job';
  id: number;
  input: number;
  buf: ArrayBuffer;
  base: number;
  start: number;
  end: number;
  /** The database current at `start`. */
  db: number;
}

/** An error, as data that crosses threads. */
export interface ErrorData {
  rdb?: { kind: RdbErrorKind; info: RdbErrorInfo };
  usage?: { message: string; hint: string | undefined };
  message: string;
}

/** Worker to main: a span's lines and counts; `error` when the span stopped early. */
export interface JobResult {
  id: number;
  out: Uint8Array;
  /** The span's input buffer, handed back for reuse (worker threads only). */
  buf?: ArrayBuffer;
  read: number;
  kept: number;
  bytes: number;
  /** Keys read by the span walk straight from their bytes (the rest went through the reader). */
  walked: number;
  /** Of `walked`, those walked in WebAssembly. */
  walkedWasm: number;
  dropped: Record<DropReason, number>;
  /** The span's CRC-64 from 0 (when the input asked for it). */
  crcLo: number;
  crcHi: number;
  error?: ErrorData;
}

export function serializeError(e: unknown): ErrorData {
  if (isRdbError(e)) {
    const info: RdbErrorInfo = { source: e.source, offset: e.offset, expected: e.expected };
    if (e.hint !== undefined) info.hint = e.hint;
    if (e.key !== undefined) info.key = e.key.slice(); // a copy: the span's buffer is reused
    return { rdb: { kind: e.kind, info }, message: e.message };
  }
  if (e instanceof UsageError) return { usage: { message: e.message, hint: e.hint }, message: e.message };
  return { message: e instanceof Error ? (e.stack ?? e.message) : String(e) };
}


/**
 * Value types the span walk estimates straight from the record bytes: those whose extent the
 * estimate walks exactly as the reader does (report/memory.ts estimateValueAt). Streams, modules
 * and 7.4 hashes with field TTLs go through the reader.
 */
const WALKED_TYPES: Uint8Array = (() => {
  const t = new Uint8Array(256);
  for (const type of [
    rdb.TYPE_STRING, rdb.TYPE_LIST, rdb.TYPE_SET, rdb.TYPE_ZSET, rdb.TYPE_HASH, rdb.TYPE_ZSET_2, rdb.TYPE_HASH_ZIPMAP,
    rdb.TYPE_LIST_ZIPLIST, rdb.TYPE_SET_INTSET, rdb.TYPE_ZSET_ZIPLIST, rdb.TYPE_HASH_ZIPLIST, rdb.TYPE_LIST_QUICKLIST,
    rdb.TYPE_HASH_LISTPACK, rdb.TYPE_ZSET_LISTPACK, rdb.TYPE_LIST_QUICKLIST_2, rdb.TYPE_SET_LISTPACK,
  ]) t[type] = 1;
  return t;
})();

/** Key records per walkRecords call. */
const WALK_BUDGET = 256;

/** Each walked type's name (TYPE_KIND), by type byte. */
const KIND_OF: string[] = Array.from({ length: 256 }, (_, t) => TYPE_KIND[t] ?? 'module');

/** Runs the spans of one input, in any order (each span carries its database). */
export class SpanRunner {
  private readonly parser: RdbParser;
  private readonly selector: Selector;
  private readonly model: MemoryModel;
  private readonly rows: MemoryRowWriter;
  private readonly records: RdbRecord[] = [];
  private readonly crc = new Crc64();
  /**
   * Whether the span walk may write rows straight from the record bytes: CSV, and a selection
   * that keeps every key as it is, but for `--drop-expired`.
   */
  private readonly walk: boolean;
  private readonly dropExpired: boolean;
  private readonly now: number;
  /** What the walks of the current span counted: keys read, kept, their bytes, expired keys dropped. */
  private readonly walked = { read: 0, kept: 0, bytes: 0, expired: 0 };
  /** The database current where the last walk stopped. */
  private wDb = 0;
  /** The last walk stopped for its record budget, not for the reader. */
  private wMore = false;
  /** The walk's rows written in WebAssembly (null: in JavaScript, or no walk). */
  private readonly wasmRows: CsvRowsWasm | null;
  /** The walk in WebAssembly (null: the JavaScript walk takes every record). */
  private readonly wasmWalk: MemoryWalkWasm | null;
  private readonly appendRows: (rows: Uint8Array) => void;

  constructor(readonly msg: InputMessage) {
    this.parser = new RdbParser({ source: msg.source, maxValueSize: msg.maxValueSize, verifyChecksum: false });
    this.selector = createSelector(msg.select, {
      name: msg.name,
      index: msg.index,
      ...(msg.snapshotTime !== undefined ? { snapshotTime: msg.snapshotTime, snapshotTimeSource: msg.snapshotTimeSource } : {}),
    });
    this.model = memoryModel(msg.targetVersion, msg.encodingConfig, { jemallocQuantum: msg.jemallocQuantum });
    this.rows = new MemoryRowWriter(msg.json);
    const sel = msg.select;
    this.walk = !msg.json && sel.db === undefined && sel.type === undefined && (sel.match === undefined || sel.match === '*') &&
      (sel.dbMap === undefined || sel.dbMap.size === 0) && sel.intoDb === undefined && sel.expireOffset === 0 && !sel.rebaseExpiry;
    this.dropExpired = sel.dropExpired;
    this.now = sel.now;
    // Before any span is preloaded: the region this takes moves the codec's preload area.
    this.wasmRows = this.walk ? CsvRowsWasm.create() : null;
    this.wasmWalk = this.wasmRows !== null && msg.walkWasm
      ? MemoryWalkWasm.create(this.wasmRows, this.model, { dropExpired: this.dropExpired, now: this.now, file: msg.fileField, largestElement: msg.largestElement })
      : null;
    const csv = this.rows.csv;
    this.appendRows = (rows) => csv.append(rows);
  }

  /** The span's rows and counts; an error stops the span and comes back as data after its rows. */
  run(job: Omit<JobMessage, 'kind'>): JobResult {
    const { msg, parser, selector, model, rows, records, crc } = this;
    const bytesIn = new Uint8Array(job.buf, 0, job.end);
    // The span's part of the file checksum, combined in file order by the main thread.
    crc.reset();
    if (msg.crc) crc.update(bytesIn, job.start, job.end);
    const before: Record<DropReason, number> = { ...selector.dropped };
    let read = 0;
    let kept = 0;
    let bytes = 0;
    const walked = this.walked;
    walked.read = walked.kept = walked.bytes = walked.expired = 0;
    const wasmBefore = this.wasmWalk?.walkedKeys ?? 0;
    let error: ErrorData | undefined;
    // The span's compressed values are inflated in WebAssembly from one copy of the span.
    if (this.walk) lzfWasmPreload(bytesIn);
    // The WebAssembly walk reads the span there (a span over the preload limit, a record of
    // several MiB, is walked in JavaScript).
    const wasmWalk = this.wasmWalk !== null && lzfWasmPreloadedAt(bytesIn) >= 0 ? this.wasmWalk : null;
    try {
      let p = job.start;
      let db = job.db;
      let eof = false;
      while (p < job.end) {
        if (this.walk) {
          // The records the walk takes, straight from their bytes; it stops before the first it
          // leaves to the reader (an aux field, a stream, a compressed key, a damaged value...).
          // A few hundred records a call: V8 then optimizes walkRecords as a function, once,
          // instead of compiling its loop again for on-stack replacement (tens of ms each time).
          // In WebAssembly first, when it runs: the JavaScript walk then takes the one record it
          // left, and gives the rest back to it.
          do {
            if (wasmWalk !== null) {
              p = wasmWalk.walk(bytesIn, p, job.end, db, walked, this.appendRows);
              db = wasmWalk.db;
              if (p >= job.end) break;
            }
            p = this.walkRecords(bytesIn, p, job.end, db, wasmWalk !== null ? 1 : WALK_BUDGET);
            db = this.wDb;
          } while (this.wMore && p < job.end);
          if (p >= job.end) break;
        }
        // The reader: one record group, then the walk again (or the rest of the span, without it).
        parser.resumeAt(bytesIn, job.base, p, { version: msg.version, magic: msg.magic, db });
        let atEnd = false;
        records.length = 0;
        try {
          parser.parseSome(records, this.walk ? 1 : 1024);
        } catch (e) {
          if (e !== NEED_MORE) throw e;
          atEnd = true;
        }
        if (parser.done) atEnd = eof = true;
        for (const rec of records) {
          if (rec.kind === 'key') {
            read++;
            const e = selector(rec);
            if (e === null) continue;
            kept++;
            const type = TYPE_KIND[e.type] ?? 'module';
            const m = estimateKeyMemory(e, model, msg.largestElement);
            bytes += m.bytes;
            rows.key(e, type, m, msg.fileField);
          } else if (rec.kind === 'aux') {
            selector.aux(rec.key, rec.value);
          }
        }
        p = parser.cur.pos;
        db = parser.db;
        if (atEnd) break;
      }
      if (p !== job.end || eof) {
        throw new Error(`rdbmerge internal: a span of ${job.base + job.start}..${job.base + job.end} ended at ${job.base + p}`);
      }
    } catch (e) {
      if (isRdbError(e) && e.source === '') e.setSource(msg.source);
      error = serializeError(e);
    } finally {
      lzfWasmPreload(null);
    }
    const out = rows.take();
    const dropped = {} as Record<DropReason, number>;
    for (const r of Object.keys(before) as DropReason[]) dropped[r] = selector.dropped[r] - before[r];
    dropped.expired += walked.expired;
    return {
      id: job.id, out, read: read + walked.read, kept: kept + walked.kept, bytes: bytes + walked.bytes, walked: walked.read,
      walkedWasm: (this.wasmWalk?.walkedKeys ?? 0) - wasmBefore,
      dropped, crcLo: crc.lo, crcHi: crc.hi, ...(error !== undefined ? { error } : {}),
    };
  }

  /**
   * Writes the rows of the records from `b[p]` on, straight from their bytes, and returns where it
   * stopped: at `end`, or at the start of the first record group (its expiry, idle and freq
   * opcodes included) it leaves to the reader. The bytes were skimmed by the reader already
   * (every extent checked); what the walk cannot take as it is, the reader takes, with its errors.
   */
  private walkRecords(b: Uint8Array, p: number, end: number, db: number, records: number): number {
    const model = this.model;
    const csv = this.rows.csv;
    const wasmRows = this.wasmRows;
    const appendRows = this.appendRows;
    // The span's bytes in the codec's WebAssembly memory (the walk's keys are read there), or -1.
    const at = wasmRows === null ? -1 : lzfWasmPreloadedAt(b);
    const largest = this.msg.largestElement;
    const file = this.msg.fileField;
    let read = 0;
    let kept = 0;
    let bytes = 0;
    let expired = 0;
    let start = p;
    let expireAt = -1;
    let budget = records;
    let more = false;
    try {
      while (p < end) {
        const op = b[p]!;
        if (op >= 248) {
          if (op === rdb.OP_EXPIRETIME_MS) {
            if (p + 9 > end) break;
            const lo = (b[p + 1]! | (b[p + 2]! << 8) | (b[p + 3]! << 16)) + b[p + 4]! * 0x1000000;
            const hi = b[p + 5]! | (b[p + 6]! << 8) | (b[p + 7]! << 16) | (b[p + 8]! << 24);
            expireAt = hi * 4294967296 + lo;
            p += 9;
            continue;
          }
          if (op === rdb.OP_EXPIRETIME) {
            if (p + 5 > end) break;
            expireAt = (b[p + 1]! | (b[p + 2]! << 8) | (b[p + 3]! << 16) | (b[p + 4]! << 24)) * 1000;
            p += 5;
            continue;
          }
          if (op === rdb.OP_FREQ) {
            p += 2;
            continue;
          }
          if (op === rdb.OP_SELECTDB && expireAt < 0 && p === start) {
            const l = b[p + 1]!;
            if (l >= 0x80) break;
            db = l < 0x40 ? l : ((l & 0x3f) << 8) | b[p + 2]!;
            p += l < 0x40 ? 2 : 3;
            start = p;
            continue;
          }
          break; // idle, resizedb, aux, EOF...: the reader's
        }
        if (WALKED_TYPES[op] !== 1) break;
        // The key: a plain string, or an integer written as one (LZF keys are the reader's).
        let q = p + 1;
        const l0 = b[q]!;
        let ks: number;
        let ke: number;
        let kb = b;
        const t = l0 >> 6;
        if (t === 0) {
          ks = q + 1;
          ke = ks + (l0 & 0x3f);
        } else if (t === 1) {
          ks = q + 2;
          ke = ks + (((l0 & 0x3f) << 8) | b[q + 1]!);
        } else if (l0 === 0x80) {
          ks = q + 5;
          ke = ks + (b[q + 1]! * 0x1000000 + ((b[q + 2]! << 16) | (b[q + 3]! << 8) | b[q + 4]!));
        } else if (l0 === 0xc0 || l0 === 0xc1 || l0 === 0xc2) {
          let v: number;
          if (l0 === 0xc0) {
            v = (b[q + 1]! << 24) >> 24;
            q += 2;
          } else if (l0 === 0xc1) {
            v = ((b[q + 1]! | (b[q + 2]! << 8)) << 16) >> 16;
            q += 3;
          } else {
            v = b[q + 1]! | (b[q + 2]! << 8) | (b[q + 3]! << 16) | (b[q + 4]! << 24);
            q += 5;
          }
          // The reader's own text of it.
          kb = asciiInt(v);
          ks = 0;
          ke = kb.length;
        } else {
          break;
        }
        const valueAt = kb === b ? ke : q;
        if (valueAt > end) break;
        const valueEnd = estimateValueAt(b, valueAt, op, ke - ks, model, largest);
        if (valueEnd < 0 || valueEnd > end) break;
        const v = valueEstimate;
        // An empty collection is skipped by the reader (and by Redis): the reader's to decide.
        if (v.elements === 0 && op !== rdb.TYPE_STRING) break;
        read++;
        if (expireAt >= 0 && this.dropExpired && expireAt <= this.now) {
          expired++;
        } else {
          kept++;
          bytes += v.bytes;
          // In WebAssembly when the key is in the preloaded span and the expiry a plain time.
          if (
            at < 0 || kb !== b || (expireAt >= 0 && (expireAt >= 253402300800000 || expireAt !== Math.floor(expireAt))) ||
            !wasmRows!.row(db, KIND_OF[op]!, at + ks, at + ke, v.bytes, v.encoding, v.elements, v.largestElement, expireAt, file, appendRows)
          ) {
            wasmRows?.flush(appendRows);
            csv.fieldsAt(db, KIND_OF[op]!, kb, ks, ke, v.bytes, v.encoding, v.elements, v.largestElement, expireAt, file);
          }
        }
        p = valueEnd;
        start = p;
        expireAt = -1;
        if (--budget === 0) {
          more = true;
          break;
        }
      }
    } catch (e) {
      if (!(e instanceof RangeError)) throw e;
      // A damaged value: the reader reports it, with its offset.
    } finally {
      wasmRows?.flush(appendRows);
    }
    this.wMore = more;
    const w = this.walked;
    w.read += read;
    w.kept += kept;
    w.bytes += bytes;
    w.expired += expired;
    this.wDb = db;
    return start;
  }
}
