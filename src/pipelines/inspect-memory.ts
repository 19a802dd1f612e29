/**
 * `inspect --format memory` and `inspect --format report` as library functions.
 *
 * - `inspectMemory`: one row per key (redis-rdb-tools' memory CSV columns: database, type, key,
 *   size_in_bytes, encoding, num_elements, len_largest_element, expiry), handed to `onRows` a batch
 *   at a time, or collected and returned when there is no `onRows`.
 * - `inspectReport`: a MemoryReport (src/report/report.ts): totals per db and type, the biggest
 *   keys, a prefix tree, a TTL histogram, encodings per type.
 *
 * Sizes are estimates of what each key takes in a server of the target RDB version (default: each
 * file's own), as `MEMORY USAGE key SAMPLES 0` reports it there (src/report/memory.ts). The
 * selection options of CLI.md apply as in `inspect`. Never prints, never exits: errors are thrown
 * (RdbError with the input and offset, UsageError, InterruptedError).
 */
import { stat } from 'node:fs/promises';
import { performance } from 'node:perf_hooks';
import { isRdbError, readRdb, TYPE_KIND, type KeyRecord, type LogicalType, type RdbInput } from '../../native-free-parser/index.js';
import { defaultSharedOptions, type SharedOptions } from '../cli-options.js';
import { InterruptedError, UsageError } from '../errors.js';
import { MemoryRowWriter } from '../format/memory.js';
import { readStream, STDIN } from '../io/files.js';
import { readRdbFile } from '../io/rdb-file.js';
import { estimateKeyMemory, memoryModel, type EncodingConfig, type MemoryModel } from '../report/memory.js';
import { ReportBuilder, type MemoryReport } from '../report/report.js';
import { selectorForInput, type DropReason, type Selector } from './select.js';
import { PARALLEL_MIN_BYTES } from './memory-early.js';
import { acquirePool, defaultThreads, mainThreadPool, PARALLEL_AVAILABLE, releasePool, scanFileParallel, type ParallelFileResult } from './memory-parallel.js';
import { inspectedInputs, type InspectProgress } from './inspect.js';

/** One key of `--format memory`. */
export interface MemoryRow {
  /** The input, when there are several. */
  file?: string;
  /** The (target) database. */
  database: number;
  type: LogicalType;
  key: Uint8Array;
  /** Estimated bytes in the target server (MEMORY USAGE SAMPLES 0). */
  sizeInBytes: number;
  encoding: string;
  numElements: number;
  lenLargestElement: number;
  /** Absolute expiry, Unix ms (after the expiry options), or -1. */
  expiry: number;
}

export interface MemoryOptions {
  /** RDB version of the server to estimate for (6..12). Default: each file's own version. */
  targetVersion?: number;
  /** The target's encoding settings (redis.conf), Redis's defaults otherwise. */
  encodingConfig?: Partial<EncodingConfig>;
  /**
   * jemalloc's quantum in the target: 16 (default; distribution packages linking the system
   * libjemalloc, as Debian's) or 8 (Redis built from source with its bundled jemalloc, the
   * official Docker images).
   */
  jemallocQuantum?: 8 | 16;
  /** Entry selection (filters, database moves, expiry shifts). Default: keep all, now = Date.now(). */
  select?: SharedOptions;
  /** Largest value accepted, bytes. Default 512 MiB. */
  maxValueSize?: number;
  onProgress?: (p: InspectProgress) => void;
  /** Default 250. */
  progressIntervalMs?: number;
  /** The bytes of input `-`. Required when an input is `-`. */
  stdin?: AsyncIterable<Uint8Array>;
  /** Aborting it stops the run with an InterruptedError at the next batch. */
  signal?: AbortSignal;
}

export interface InspectMemoryOptions extends MemoryOptions {
  /**
   * Compute `lenLargestElement` (default true). False skips walking (and inflating, when
   * LZF-compressed) listpacks kept as they are; their rows then say -1.
   */
  largestElement?: boolean;
  /** Receives the rows a batch at a time (awaited). Without it, the rows are returned. */
  onRows?: (rows: MemoryRow[]) => void | Promise<void>;
}

export interface InspectMemoryResult {
  /** The rows, when no `onRows` was given; else empty. */
  rows: MemoryRow[];
  /** Per input: its versions, keys kept, estimated bytes, and size read (`sizeBytes`). */
  files: Array<{ file: string; rdbVersion: number; targetVersion: number; keys: number; bytes: number; sizeBytes: number }>;
  keys: number;
  /** Sum of the estimates. */
  bytes: number;
  /** Keys read before the selection options, and those they dropped per reason. */
  keysRead: number;
  dropped: Record<DropReason, number>;
  now: number;
}

export interface InspectReportOptions extends MemoryOptions {
  /** Biggest keys listed, by memory and by elements. Default 20. */
  top?: number;
  /** Prefix separator. Default ':'. */
  separator?: string;
  /** Prefix levels. Default 3. */
  depth?: number;
  /** Prefixes kept per level. Default 10,000. */
  prefixCap?: number;
  /** Digit-only key segments count as `*` in the prefix tree. Default true. */
  collapseIds?: boolean;
}


/** The shared read loop: expands inputs, applies the selection, calls `visit` per kept key. */
async function scan(
  inputs: readonly string[],
  opts: MemoryOptions,
  /** Per kept key (positional: no object per key); returns the key's estimated bytes. */
  visit: (rec: KeyRecord, type: LogicalType, file: string | undefined, model: MemoryModel) => number,
  afterBatch: () => Promise<void> | void,
  /** Files this hook takes (returns a result) are read by it instead (the parallel CSV path). */
  whole?: (name: string, index: number, fileField: string | undefined, selector: Selector) => Promise<ParallelFileResult | null>,
  /** Called once with the expanded inputs, before any is read (the CSV's header). */
  onInputs?: (names: readonly string[]) => Promise<void>,
): Promise<Omit<InspectMemoryResult, 'rows' | 'bytes'>> {
  const sel = opts.select ?? defaultSharedOptions();
  const maxValueSize = opts.maxValueSize ?? 512 * 1024 * 1024;
  const interval = opts.progressIntervalMs ?? 250;
  if (opts.targetVersion !== undefined && (!Number.isInteger(opts.targetVersion) || opts.targetVersion < 6 || opts.targetVersion > 12)) {
    throw new UsageError(`--target-version: a version from 6 to 12, found ${String(opts.targetVersion)}`);
  }
  const names = await inspectedInputs(inputs, sel, opts.stdin !== undefined);
  await onInputs?.(names);
  const several = names.length > 1;
  const started = performance.now();
  let lastProgress = started;
  const files: InspectMemoryResult['files'] = [];
  const dropped: Record<DropReason, number> = { db: 0, type: 0, match: 0, expired: 0 };
  let keysRead = 0;
  let keys = 0;
  const models = new Map<number, MemoryModel>();
  const quantum = opts.jemallocQuantum ?? 16;
  if (quantum !== 8 && quantum !== 16) throw new UsageError(`--jemalloc-quantum: 8 or 16, found ${String(quantum)}`);
  const modelFor = (v: number): MemoryModel => {
    let m = models.get(v);
    if (m === undefined) models.set(v, (m = memoryModel(v, opts.encodingConfig, { jemallocQuantum: quantum })));
    return m;
  };

  for (let index = 0; index < names.length; index++) {
    const name = names[index]!;
    const shown = name === STDIN ? 'stdin' : name;
    const fileField = several ? name : undefined;
    const selector = await selectorForInput(sel, name, index);
    const taken = whole === undefined || name === STDIN ? null : await whole(name, index, fileField, selector);
    if (taken !== null) {
      files.push({ file: name, rdbVersion: taken.rdbVersion, targetVersion: taken.targetVersion, keys: taken.keys, bytes: taken.bytes, sizeBytes: taken.sizeBytes });
      keysRead += taken.keysRead;
      keys += taken.keys;
      for (const r of Object.keys(dropped) as DropReason[]) dropped[r] += taken.dropped[r];
      continue;
    }
    const counter = { bytes: 0 };
    // Files: the CRC-64 is checked on a second thread (io/rdb-file.ts); stdin: inline.
    const batches = name === STDIN
      ? readRdb(counted(readStream(opts.stdin!), counter) as RdbInput, { source: shown, maxValueSize })
      : readRdbFile(name, { source: shown, maxValueSize });
    const file = { file: name, rdbVersion: 0, targetVersion: 0, keys: 0, bytes: 0, sizeBytes: 0 };
    let model = modelFor(opts.targetVersion ?? 10);
    let read = 0;
    const progress = (): void => {
      if (opts.onProgress === undefined) return;
      const t = performance.now();
      if (t - lastProgress < interval) return;
      lastProgress = t;
      opts.onProgress({ source: name, keys: read, bytes: counter.bytes, t: Math.round(t - started) });
    };
    try {
      for await (const batch of batches) {
        if (opts.signal?.aborted === true) throw new InterruptedError();
        const last = batch[batch.length - 1];
        if (last !== undefined && name !== STDIN) counter.bytes = last.kind === 'eof' ? last.size : last.offset;
        for (const rec of batch) {
          if (rec.kind === 'key') {
            read++;
            const e = selector(rec);
            if (e === null) continue;
            file.keys++;
            file.bytes += visit(e, TYPE_KIND[e.type] ?? 'module', fileField, model);
          } else if (rec.kind === 'header') {
            file.rdbVersion = rec.version;
            // Valkey 9 files (VALKEY080) are estimated as Redis 7.2, the closest memory layout.
            const own = rec.magic === 'VALKEY' ? 11 : Math.max(6, rec.version);
            file.targetVersion = opts.targetVersion ?? own;
            model = modelFor(file.targetVersion);
          } else if (rec.kind === 'aux') {
            selector.aux(rec.key, rec.value);
          }
        }
        await afterBatch();
        progress();
      }
    } catch (e) {
      if (isRdbError(e) && e.source === '') e.setSource(shown);
      throw e;
    }
    keysRead += read;
    keys += file.keys;
    file.sizeBytes = counter.bytes;
    for (const r of Object.keys(dropped) as DropReason[]) dropped[r] += selector.dropped[r];
    files.push(file);
  }
  return { files, keys, keysRead, dropped, now: sel.now };
}

async function* counted(src: AsyncIterable<Uint8Array>, counter: { bytes: number }): AsyncGenerator<Uint8Array> {
  for await (const c of src) {
    counter.bytes += c.length;
    yield c;
  }
}

export interface WriteMemoryOptions extends MemoryOptions {
  /** As InspectMemoryOptions.largestElement (default true). */
  largestElement?: boolean;
  /** JSON lines instead of CSV (no header line then). */
  json?: boolean;
  /**
   * Threads that parse, estimate and format: the calling thread and `threads - 1` workers
   * (default: the machine's cores, at most 8); 1 does everything on the calling thread. Files
   * below `parallelMinBytes` and stdin are always read on the calling thread alone.
   */
  threads?: number;
  /**
   * Smallest file read with worker threads. Default 256 MiB: each worker compiles the same hot
   * code again (about half a second of CPU), which smaller files do not earn back.
   */
  parallelMinBytes?: number;
  /** Bytes per span handed to a worker. Default 4 MiB. */
  chunkBytes?: number;
  /**
   * Read files in spans (memory-parallel.ts: a skim cuts the file, each span's keys are estimated
   * straight from their record bytes), on worker threads or on the calling thread (default true).
   * False: every file through the reader, as inspectMemory reads (the same bytes; stdin always).
   */
  spans?: boolean;
  /**
   * Let the spans' keys be estimated and written in WebAssembly where it can (memory-walk-wasm.ts;
   * default true). False: the JavaScript span walk only (the tests compare the two).
   */
  walkWasm?: boolean;
}

const CHUNK_BYTES = 4 * 1024 * 1024;

/**
 * The memory CSV (with its header) or JSON lines of the inputs, as bytes handed to `write` in
 * order: the CLI's path. Big files are parsed on worker threads (memory-parallel.ts); the bytes
 * are the same either way. The result adds `spans`, the spans such files were cut into, and
 * `spansOnWorkers`, how many of them ran on worker threads (both 0 when no file was), and
 * `keysWalked`, the keys of those spans estimated straight from their record bytes (`keysWalkedWasm`
 * of them in WebAssembly).
 * @throws as inspectMemory
 */
export async function writeMemory(
  inputs: readonly string[],
  opts: WriteMemoryOptions,
  write: (bytes: Uint8Array) => Promise<void>,
): Promise<Omit<InspectMemoryResult, 'rows'> & { spans: number; spansOnWorkers: number; keysWalked: number; keysWalkedWasm: number }> {
  const threads = opts.threads ?? defaultThreads();
  if (!Number.isInteger(threads) || threads < 1) throw new UsageError(`--threads: a count of at least 1, found ${String(threads)}`);
  const json = opts.json === true;
  const largest = opts.largestElement !== false;
  const minBytes = opts.parallelMinBytes ?? PARALLEL_MIN_BYTES;
  const rows = new MemoryRowWriter(json);
  const flush = async (): Promise<void> => {
    if (rows.length > 0) await write(rows.take());
  };
  let pool: ReturnType<typeof acquirePool> | null = null;
  const sel = opts.select ?? defaultSharedOptions();
  const interval = opts.progressIntervalMs ?? 250;
  let lastProgress = 0;
  let spans = 0;
  let spansOnWorkers = 0;
  let keysWalked = 0;
  let keysWalkedWasm = 0;
  const whole = opts.spans !== false
    ? async (name: string, index: number, fileField: string | undefined, selector: Selector): Promise<ParallelFileResult | null> => {
      // Worker threads for big files; the calling thread alone runs the spans of the others.
      const workers = threads > 1 && PARALLEL_AVAILABLE && (await stat(name)).size >= minBytes;
      if (workers) pool ??= acquirePool(threads - 1);
      const started = performance.now();
      const r = await scanFileParallel({ name, shown: name, index, fileField, selector }, {
        select: sel,
        targetVersion: opts.targetVersion,
        encodingConfig: opts.encodingConfig,
        jemallocQuantum: opts.jemallocQuantum ?? 16,
        maxValueSize: opts.maxValueSize ?? 512 * 1024 * 1024,
        largestElement: largest,
        json,
        walkWasm: opts.walkWasm !== false,
        chunkBytes: opts.chunkBytes ?? CHUNK_BYTES,
        signal: opts.signal,
        onSpan: (keysRead, bytes) => {
          const t = performance.now();
          if (opts.onProgress === undefined || t - lastProgress < interval) return;
          lastProgress = t;
          opts.onProgress({ source: name, keys: keysRead, bytes, t: Math.round(t - started) });
        },
      }, workers ? pool! : mainThreadPool(), write);
      spans += r.spans;
      spansOnWorkers += r.spansOnWorkers;
      keysWalked += r.keysWalked;
      keysWalkedWasm += r.keysWalkedWasm;
      return r;
    }
    : undefined;
  let bytes = 0;
  try {
    const res = await scan(
      inputs,
      { ...opts, select: sel },
      (rec, type, file, model) => {
        const m = estimateKeyMemory(rec, model, largest);
        rows.key(rec, type, m, file);
        return m.bytes;
      },
      flush,
      whole,
      async (names) => {
        rows.header(names.length > 1);
        await flush();
      },
    );
    await flush();
    for (const f of res.files) bytes += f.bytes;
    return { ...res, bytes, spans, spansOnWorkers, keysWalked, keysWalkedWasm };
  } finally {
    if (pool !== null) releasePool(pool);
  }
}

/**
 * One row per kept key, with its estimated memory in the target server.
 * @throws RdbError naming the input and offset; UsageError for bad inputs or options;
 *   InterruptedError when `opts.signal` aborts.
 */
export async function inspectMemory(inputs: readonly string[], opts: InspectMemoryOptions = {}): Promise<InspectMemoryResult> {
  const rows: MemoryRow[] = [];
  const largest = opts.largestElement !== false;
  let pending: MemoryRow[] = [];
  let bytes = 0;
  const res = await scan(
    inputs,
    opts,
    (rec, type, file, model) => {
      const m = estimateKeyMemory(rec, model, largest);
      bytes += m.bytes;
      const row: MemoryRow = {
        database: rec.db,
        type,
        key: rec.key,
        sizeInBytes: m.bytes,
        encoding: m.encoding,
        numElements: m.elements,
        lenLargestElement: m.largestElement,
        expiry: rec.expireAt,
      };
      if (file !== undefined) row.file = file;
      if (opts.onRows === undefined) rows.push(row);
      else pending.push(row);
      return m.bytes;
    },
    async () => {
      if (opts.onRows !== undefined && pending.length > 0) {
        const out = pending;
        pending = [];
        await opts.onRows(out);
      }
    },
  );
  return { rows, files: res.files, keys: res.keys, bytes, keysRead: res.keysRead, dropped: res.dropped, now: res.now };
}

/**
 * The memory report of the inputs (see src/report/report.ts for its parts and bounds).
 * @throws as inspectMemory
 */
export async function inspectReport(inputs: readonly string[], opts: InspectReportOptions = {}): Promise<MemoryReport & {
  keysRead: number;
  dropped: Record<DropReason, number>;
}> {
  const sel = opts.select ?? defaultSharedOptions();
  if (opts.top !== undefined && (!Number.isInteger(opts.top) || opts.top < 0)) throw new UsageError(`--top: a count of at least 0, found ${String(opts.top)}`);
  if (opts.depth !== undefined && (!Number.isInteger(opts.depth) || opts.depth < 0)) throw new UsageError(`--depth: a count of at least 0, found ${String(opts.depth)}`);
  if (opts.separator !== undefined && opts.separator === '') throw new UsageError('--separator: must not be empty');
  const b = new ReportBuilder({
    now: sel.now,
    ...(opts.top !== undefined ? { top: opts.top } : {}),
    ...(opts.separator !== undefined ? { separator: opts.separator } : {}),
    ...(opts.depth !== undefined ? { depth: opts.depth } : {}),
    ...(opts.prefixCap !== undefined ? { prefixCap: opts.prefixCap } : {}),
    ...(opts.collapseIds !== undefined ? { collapseIds: opts.collapseIds } : {}),
  });
  const res = await scan(
    inputs,
    { ...opts, select: sel },
    (rec, type, file, model) => {
      // The report lists no largest element: compressed listpacks need not be inflated.
      const m = estimateKeyMemory(rec, model, false);
      b.add({
        file,
        db: rec.db,
        key: rec.key,
        type,
        encoding: m.encoding,
        bytes: m.bytes,
        expiryBytes: m.expiryBytes,
        elements: m.elements,
        expireAt: rec.expireAt,
      });
      return m.bytes;
    },
    () => undefined,
  );
  for (const f of res.files) b.addFile(f);
  return { ...b.finish(), keysRead: res.keysRead, dropped: res.dropped };
}
