/**
 * One span of an RDB file, parsed and turned into memory rows: the work unit of the parallel
 * `inspect --format memory` (memory-parallel.ts), run on a worker thread (memory-thread.ts) or on
 * the main thread itself. A span starts and ends on record boundaries the main thread found; the
 * runner parses it in full, applies the selection, estimates each kept key and writes its CSV or
 * JSON line, and computes the span's CRC-64 for the file checksum.
 */
import { Crc64, isRdbError, RdbParser, TYPE_KIND, type RdbErrorInfo, type RdbErrorKind, type RdbRecord } from '../../native-free-parser/index.js';
import { NEED_MORE } from '../../native-free-parser/bytes/cursor.js';
import type { SharedOptions } from '../cli-options.js';
import { UsageError } from '../errors.js';
import { MemoryRowWriter } from '../format/memory.js';
import { estimateKeyMemory, memoryModel, type EncodingConfig, type MemoryModel } from '../report/memory.js';
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


/** Runs the spans of one input, in any order (each span carries its database). */
export class SpanRunner {
  private readonly parser: RdbParser;
  private readonly selector: Selector;
  private readonly model: MemoryModel;
  private readonly rows: MemoryRowWriter;
  private readonly records: RdbRecord[] = [];
  private readonly crc = new Crc64();

  constructor(readonly msg: InputMessage) {
    this.parser = new RdbParser({ source: msg.source, maxValueSize: msg.maxValueSize, verifyChecksum: false });
    this.selector = createSelector(msg.select, {
      name: msg.name,
      index: msg.index,
      ...(msg.snapshotTime !== undefined ? { snapshotTime: msg.snapshotTime, snapshotTimeSource: msg.snapshotTimeSource } : {}),
    });
    this.model = memoryModel(msg.targetVersion, msg.encodingConfig, { jemallocQuantum: msg.jemallocQuantum });
    this.rows = new MemoryRowWriter(msg.json);
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
    let error: ErrorData | undefined;
    try {
      parser.resumeAt(bytesIn, job.base, job.start, { version: msg.version, magic: msg.magic, db: job.db });
      for (let atEnd = false; !atEnd; ) {
        records.length = 0;
        try {
          parser.parseSome(records, 1024);
        } catch (e) {
          if (e !== NEED_MORE) throw e;
          atEnd = true;
        }
        if (parser.done) atEnd = true;
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
      }
      if (parser.cur.pos !== job.end || parser.done) {
        throw new Error(`rdbmerge internal: a span of ${job.base + job.start}..${job.base + job.end} ended at ${parser.cur.offset}`);
      }
    } catch (e) {
      if (isRdbError(e) && e.source === '') e.setSource(msg.source);
      error = serializeError(e);
    }
    const out = rows.take();
    const dropped = {} as Record<DropReason, number>;
    for (const r of Object.keys(before) as DropReason[]) dropped[r] = selector.dropped[r] - before[r];
    return { id: job.id, out, read, kept, bytes, dropped, crcLo: crc.lo, crcHi: crc.hi, ...(error !== undefined ? { error } : {}) };
  }
}
