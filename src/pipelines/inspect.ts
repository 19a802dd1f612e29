/**
 * `inspect` as a library function: reads RDB inputs and returns a summary report per input and in
 * total, and for the `jsonl` / `keys` formats also streams one line per key to a callback. Never
 * prints, never exits: errors are thrown (RdbError from the codec with the input's name and byte
 * offset, UsageError for bad inputs or options, InterruptedError when the signal aborts).
 *
 * Formats (the item 8):
 * - `summary`: only the report.
 * - `jsonl`: the canonical JSONL of ../shared/docs/JSONL.md, one key a line in file order (values
 *   decoded, so damaged inner blobs are found), `"file"` on each line when there are several inputs.
 * - `keys`: `db, key, type, encoding, size, elements, expireAt` per key, tab-separated (or JSON
 *   lines with `json: true`).
 *
 * Sizes are serialized value lengths (the value after the key, without the type byte), the
 * number Redis's `DEBUG OBJECT` calls `serializedlength`.
 */
import { performance } from 'node:perf_hooks';
import {
  decodeValue, isRdbError, moduleName, readRdb, TYPE_KIND, TYPE_NAMES,
  type KeyRecord, type LogicalType, type RdbInput,
} from '../../native-free-parser/index.js';
import { defaultSharedOptions, type SharedOptions } from '../cli-options.js';
import { InterruptedError, UsageError } from '../errors.js';
import { jsonBytes, JsonlBuilder, type JsonBytes } from '../format/jsonl.js';
import { keyText } from '../format/key-text.js';
import { parseFunctionLibrary } from '../functions.js';
import { expandInputs, readChunks, readStream, STDIN } from '../io/files.js';
import {
  selectorForInput, unmatchedSnapshotTimes, type DropReason, type Selector, type SnapshotTime,
} from './select.js';
import { LOGICAL_TYPES } from '../values.js';

export type InspectFormat = 'summary' | 'jsonl' | 'keys';

export const INSPECT_FORMATS: readonly InspectFormat[] = ['summary', 'jsonl', 'keys'];

/** Progress of one input, for CLI.md's `{"event":"progress",...}` events. */
export interface InspectProgress {
  /** The input's name. */
  source: string;
  /** Keys read from this input so far (before filtering). */
  keys: number;
  /** Bytes read from this input so far. */
  bytes: number;
  /** Milliseconds since inspect started. */
  t: number;
}

export interface InspectOptions {
  /** Output format. Default 'summary'. */
  format?: InspectFormat;
  /** Entry selection (filters, database moves, expiry shifts). Default: keep all, now = Date.now(). */
  select?: SharedOptions;
  /** Largest value accepted, bytes. Default 512 MiB. */
  maxValueSize?: number;
  /** For `keys`: JSON lines instead of tab-separated text. Default false. */
  json?: boolean;
  /**
   * Receives the `jsonl` / `keys` output: whole newline-terminated lines, one batch at a time.
   * Awaited, so a slow consumer slows the reader. Required for those formats.
   */
  write?: (text: string) => void | Promise<void>;
  /** Called while reading (after a batch, at the end of an input), at most every `progressIntervalMs`. */
  onProgress?: (p: InspectProgress) => void;
  /** Default 250. */
  progressIntervalMs?: number;
  /** The bytes of input `-`. Required when an input is `-`. */
  stdin?: AsyncIterable<Uint8Array>;
  /** Aborting it stops the run with an InterruptedError at the next batch. */
  signal?: AbortSignal;
  /** Read size for files. Default 1 MiB. */
  chunkSize?: number;
}

/** One of the largest keys. */
export interface LargeKey {
  /** The input, in the total's list. */
  file?: string;
  db: number;
  key: JsonBytes;
  type: LogicalType;
  encoding: string;
  bytes: number;
}

export interface FunctionLibrarySummary {
  library: string;
  engine: string;
  functions: string[];
  code: JsonBytes;
}

/** Counts shared by a file's summary and the total. Names reuse the fixtures' meta.json names. */
export interface KeyStats {
  /** Keys kept per (target) database. */
  keyCountsPerDb: Record<string, number>;
  totalKeys: number;
  keysPerType: Record<string, number>;
  keysPerEncoding: Record<string, number>;
  keysWithExpiry: number;
  /** Earliest and latest (shifted) key expiry, Unix ms; null when no key expires. */
  expiryRange: { min: number | null; max: number | null };
  /** Empty collections in the file, which Redis skips on load (and so does every reader here). */
  emptyKeysSkipped: number;
  serializedBytes: { total: number; largest: number };
  /** The 10 largest keys by serialized size, largest first (file order among equals). */
  largestKeys: LargeKey[];
  /** Keys read before the selection options. */
  keysRead: number;
  /** Keys the selection options dropped, per reason. */
  dropped: Record<DropReason, number>;
}

export interface FileSummary extends KeyStats {
  file: string;
  magic: 'REDIS' | 'VALKEY';
  rdbVersion: number;
  sizeBytes: number;
  /** 'ok' verified; 'disabled' stored as zero (rdbchecksum no); 'absent' RDB < 5 has none. */
  checksum: 'ok' | 'disabled' | 'absent' | 'unchecked';
  /** AUX fields, values as JSONL bytes (text, or {b64}). */
  aux: Record<string, JsonBytes>;
  /** The snapshot time the expiry options use, and where it came from; null when unknown. */
  snapshotTime: SnapshotTime | null;
  /** Function libraries (RDB 10+), sorted by library name. */
  functions: FunctionLibrarySummary[];
  moduleAux: Array<{ module: string; encver: number; when: number }>;
}

export interface InspectTotal extends KeyStats {
  files: number;
  sizeBytes: number;
  /** Function libraries in all inputs. */
  functionLibraries: number;
}

export interface InspectReport {
  format: InspectFormat;
  /** The `--now` instant used, Unix ms. */
  now: number;
  files: FileSummary[];
  total: InspectTotal;
}

const TOP = 10;

/**
 * JSONL text is handed to `write` in pieces of about this many bytes (whole lines). A batch's
 * text is about 500 KB; strings that large go to V8's large-object space, one fresh mapping each,
 * and making them plus writing them out cost four times as much as for 64 KB pieces.
 */
const TEXT_PIECE = 60 * 1024;

/** Encoding name of Valkey 9's type 22 (VALKEY_TYPE_HASH_2); TYPE_NAMES follows Redis's numbering. */
const VALKEY_HASH_2_ENCODING = 'hash2';

function emptyStats(): KeyStats {
  return {
    keyCountsPerDb: {},
    totalKeys: 0,
    keysPerType: {},
    keysPerEncoding: {},
    keysWithExpiry: 0,
    expiryRange: { min: null, max: null },
    emptyKeysSkipped: 0,
    serializedBytes: { total: 0, largest: 0 },
    largestKeys: [],
    keysRead: 0,
    dropped: { db: 0, type: 0, match: 0, expired: 0 },
  };
}

/** Inserts into a list kept sorted by bytes, descending, at most TOP long (ties keep arrival order). */
function pushLargest(list: LargeKey[], k: LargeKey): void {
  let i = list.length;
  while (i > 0 && list[i - 1]!.bytes < k.bytes) i--;
  if (i >= TOP) return;
  list.splice(i, 0, k);
  if (list.length > TOP) list.pop();
}

function encodingName(type: number, valkey: boolean): string {
  if (valkey && type === 22) return VALKEY_HASH_2_ENCODING;
  return TYPE_NAMES[type] ?? `type-${type}`;
}

export { keyText } from '../format/key-text.js';

async function* counted(src: AsyncIterable<Uint8Array>, counter: { bytes: number }): AsyncGenerator<Uint8Array> {
  for await (const c of src) {
    counter.bytes += c.length;
    yield c;
  }
}

/**
 * The inputs of a one-pass read (inspect, inspect --format memory/report): files and directories
 * expanded, every `--snapshot-time` naming one of them, `-` only where stdin is available.
 * @throws UsageError
 */
export async function inspectedInputs(inputs: readonly string[], sel: SharedOptions, stdinAvailable: boolean): Promise<string[]> {
  if (inputs.length === 0) throw new UsageError('no INPUT given');
  const names = await expandInputs(inputs);
  const unmatched = unmatchedSnapshotTimes(sel, names);
  if (unmatched.length > 0) {
    throw new UsageError(`--snapshot-time: ${unmatched.map((n) => JSON.stringify(n)).join(', ')} is not among the inputs`);
  }
  if (names.includes(STDIN) && !stdinAvailable) throw new UsageError('input - (stdin) is not available here');
  return names;
}

/**
 * Inspects RDB inputs (files, directories of `*.rdb`, `-` for `opts.stdin`).
 * @throws RdbError (corrupt, truncated, checksum, unsupported, limit) naming the input and offset;
 *   UsageError for a missing input, a `--snapshot-time` naming no input, or `--rebase-expiry`
 *   without a snapshot time; InterruptedError when `opts.signal` aborts.
 */
export async function inspect(inputs: readonly string[], opts: InspectOptions = {}): Promise<InspectReport> {
  const format = opts.format ?? 'summary';
  if (!INSPECT_FORMATS.includes(format)) throw new UsageError(`--format: expected summary, jsonl or keys, got ${JSON.stringify(format)}`);
  const sel = opts.select ?? defaultSharedOptions();
  const maxValueSize = opts.maxValueSize ?? 512 * 1024 * 1024;
  const write = opts.write;
  if (format !== 'summary' && write === undefined) throw new Error('rdbmerge internal: inspect --format needs opts.write');
  const interval = opts.progressIntervalMs ?? 250;
  const started = performance.now();
  const names = await inspectedInputs(inputs, sel, opts.stdin !== undefined);
  const several = names.length > 1;
  const files: FileSummary[] = [];
  let lastProgress = started;
  const jsonlOut = new JsonlBuilder();

  for (let index = 0; index < names.length; index++) {
    const name = names[index]!;
    const shown = name === STDIN ? 'stdin' : name;
    const fileField = several ? name : undefined;
    const fileJson = fileField === undefined ? undefined : new TextEncoder().encode(JSON.stringify(fileField));
    const selector = await selectorForInput(sel, name, index);
    const counter = { bytes: 0 };
    const source: RdbInput = counted(name === STDIN ? readStream(opts.stdin!) : readChunks(name, opts.chunkSize), counter);
    const st = emptyStats();
    const file: FileSummary = {
      file: name,
      magic: 'REDIS',
      rdbVersion: 0,
      sizeBytes: 0,
      checksum: 'absent',
      aux: {},
      snapshotTime: null,
      functions: [],
      moduleAux: [],
      ...st,
    };
    const dbCounts = new Map<number, number>();
    const typeCounts = new Map<LogicalType, number>();
    const encCounts = new Map<string, number>();
    let valkey = false;
    let minExp = Infinity;
    let maxExp = -Infinity;

    /** At most one event per `interval`, across all inputs. */
    const progress = (): void => {
      if (opts.onProgress === undefined) return;
      const t = performance.now();
      if (t - lastProgress < interval) return;
      lastProgress = t;
      opts.onProgress({ source: name, keys: file.keysRead, bytes: counter.bytes, t: Math.round(t - started) });
    };

    try {
      for await (const batch of readRdb(source, { source: shown, maxValueSize, countElements: format === 'keys' })) {
        if (opts.signal?.aborted === true) throw new InterruptedError();
        let text = '';
        const jsonl = format === 'jsonl' ? jsonlOut : null;
        const pieces: string[] = [];
        for (const rec of batch) {
          switch (rec.kind) {
            case 'header':
              file.magic = rec.magic;
              file.rdbVersion = rec.version;
              valkey = rec.magic === 'VALKEY';
              break;
            case 'aux': {
              selector.aux(rec.key, rec.value);
              const k = jsonBytes(rec.key);
              file.aux[typeof k === 'string' ? k : keyText(rec.key)] = jsonBytes(rec.value);
              break;
            }
            case 'function': {
              const code = jsonBytes(rec.code);
              const lib = parseFunctionLibrary(typeof code === 'string' ? code : Buffer.from(rec.code).toString('latin1'));
              file.functions.push({ library: lib.library, engine: lib.engine, functions: lib.functions, code });
              break;
            }
            case 'moduleAux': {
              const m = moduleName(rec.moduleId);
              file.moduleAux.push({ module: m.name, encver: m.encver, when: rec.when });
              break;
            }
            case 'skipped':
              file.emptyKeysSkipped++;
              break;
            case 'eof':
              file.checksum = rec.checksum;
              file.sizeBytes = rec.size;
              break;
            case 'key': {
              file.keysRead++;
              const e = selector(rec);
              if (e === null) break;
              const kind = TYPE_KIND[e.type]!;
              const enc = encodingName(e.type, valkey);
              const size = e.payload.length;
              file.totalKeys++;
              dbCounts.set(e.db, (dbCounts.get(e.db) ?? 0) + 1);
              typeCounts.set(kind, (typeCounts.get(kind) ?? 0) + 1);
              encCounts.set(enc, (encCounts.get(enc) ?? 0) + 1);
              if (e.expireAt >= 0) {
                file.keysWithExpiry++;
                if (e.expireAt < minExp) minExp = e.expireAt;
                if (e.expireAt > maxExp) maxExp = e.expireAt;
              }
              file.serializedBytes.total += size;
              if (size > file.serializedBytes.largest) file.serializedBytes.largest = size;
              if (file.largestKeys.length < TOP || size > file.largestKeys[TOP - 1]!.bytes) {
                pushLargest(file.largestKeys, { db: e.db, key: jsonBytes(e.key), type: kind, encoding: enc, bytes: size });
              }
              if (jsonl !== null) {
                jsonlLine(jsonl, e, valkey, maxValueSize, selector, fileJson);
                if (jsonl.length >= TEXT_PIECE) pieces.push(jsonl.take());
              } else if (format === 'keys') text += keysLine(e, kind, enc, opts.json === true, fileField);
              break;
            }
            default:
              break;
          }
        }
        if (jsonl !== null && jsonl.length > 0) pieces.push(jsonl.take());
        for (const piece of pieces) await write!(piece);
        if (text !== '') await write!(text);
        progress();
      }
    } catch (e) {
      if (isRdbError(e) && e.source === '') e.setSource(shown);
      throw e;
    }
    file.keyCountsPerDb = objectOf([...dbCounts].sort((a, b) => a[0] - b[0]));
    file.keysPerType = objectOf(LOGICAL_TYPES.filter((t) => typeCounts.has(t)).map((t) => [t, typeCounts.get(t)!]));
    file.keysPerEncoding = objectOf([...encCounts].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1)));
    file.expiryRange = minExp === Infinity ? { min: null, max: null } : { min: minExp, max: maxExp };
    file.dropped = { ...selector.dropped };
    // FUNCTION LIST order (by library name), so a summary compares equal to what a server reports.
    file.functions.sort((a, b) => Buffer.compare(Buffer.from(a.library), Buffer.from(b.library)));
    file.snapshotTime = selector.snapshotTime() ?? null;
    if (file.sizeBytes === 0) file.sizeBytes = counter.bytes;
    progress();
    files.push(file);
  }

  return { format, now: sel.now, files, total: totalOf(files) };
}

function objectOf(entries: ReadonlyArray<readonly [string | number, number]>): Record<string, number> {
  const o: Record<string, number> = {};
  for (const [k, v] of entries) o[String(k)] = v;
  return o;
}

function addInto(into: Record<string, number>, from: Record<string, number>): void {
  for (const [k, v] of Object.entries(from)) into[k] = (into[k] ?? 0) + v;
}

function totalOf(files: readonly FileSummary[]): InspectTotal {
  const t: InspectTotal = { files: files.length, sizeBytes: 0, functionLibraries: 0, ...emptyStats() };
  const types: Record<string, number> = {};
  const encs: Record<string, number> = {};
  const dbs: Record<string, number> = {};
  for (const f of files) {
    t.sizeBytes += f.sizeBytes;
    t.functionLibraries += f.functions.length;
    t.totalKeys += f.totalKeys;
    t.keysRead += f.keysRead;
    t.keysWithExpiry += f.keysWithExpiry;
    t.emptyKeysSkipped += f.emptyKeysSkipped;
    t.serializedBytes.total += f.serializedBytes.total;
    t.serializedBytes.largest = Math.max(t.serializedBytes.largest, f.serializedBytes.largest);
    for (const r of Object.keys(t.dropped) as DropReason[]) t.dropped[r] += f.dropped[r];
    addInto(dbs, f.keyCountsPerDb);
    addInto(types, f.keysPerType);
    addInto(encs, f.keysPerEncoding);
    const { min, max } = f.expiryRange;
    if (min !== null && (t.expiryRange.min === null || min < t.expiryRange.min)) t.expiryRange.min = min;
    if (max !== null && (t.expiryRange.max === null || max > t.expiryRange.max)) t.expiryRange.max = max;
    for (const k of f.largestKeys) pushLargest(t.largestKeys, { file: f.file, ...k });
  }
  t.keyCountsPerDb = objectOf(Object.entries(dbs).sort((a, b) => Number(a[0]) - Number(b[0])));
  t.keysPerType = objectOf(LOGICAL_TYPES.filter((x) => types[x] !== undefined).map((x) => [x, types[x]!]));
  t.keysPerEncoding = objectOf(Object.entries(encs).sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1)));
  return t;
}

/** Appends the canonical JSONL line of a key (decoded here, so damaged inner blobs are found). */
function jsonlLine(
  out: JsonlBuilder, e: KeyRecord, valkey: boolean, maxValueSize: number, selector: Selector, file: Uint8Array | undefined,
): void {
  let v;
  try {
    v = decodeValue(e.type, e.payload, { offset: e.valueOffset, valkey, maxValueSize });
  } catch (err) {
    if (isRdbError(err) && err.key === undefined) err.key = e.key;
    throw err;
  }
  if (v.type === 'hash' && v.fieldExpireAt !== undefined && v.fieldExpireAt.length > 0) {
    // Field TTLs shift with the key's (CLI.md --expire-offset, --rebase-expiry).
    const shift = selector.expiryShift();
    if (shift !== 0) v.fieldExpireAt = v.fieldExpireAt.map(([f, t]) => [f, t < 0 ? t : Math.max(0, t + shift)]);
  }
  out.line(e.db, e.key, v, e.expireAt, file);
}

function keysLine(e: KeyRecord, kind: LogicalType, enc: string, json: boolean, file: string | undefined): string {
  if (json) {
    const o: Record<string, unknown> = {
      db: e.db,
      key: jsonBytes(e.key),
      type: kind,
      encoding: enc,
      size: e.payload.length,
      elements: e.elements,
      expireAt: e.expireAt < 0 ? null : e.expireAt,
    };
    if (file !== undefined) o['file'] = file;
    return `${JSON.stringify(o)}\n`;
  }
  const exp = e.expireAt < 0 ? '-' : String(e.expireAt);
  const line = `${e.db}\t${keyText(e.key)}\t${kind}\t${enc}\t${e.payload.length}\t${e.elements}\t${exp}`;
  return file === undefined ? `${line}\n` : `${line}\t${keyText(new TextEncoder().encode(file))}\n`;
}
