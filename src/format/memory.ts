/**
 * Text forms of `inspect --format memory` rows and `--format report` reports: redis-rdb-tools'
 * memory CSV, JSON lines with the same fields, and the report's human tables.
 */
import { keyText } from './key-text.js';
import type { KeyRecord } from '../../native-free-parser/index.js';
import type { MemoryRow } from '../pipelines/inspect-memory.js';
import type { KeyMemory } from '../report/memory.js';
import type { Count, MemoryReport, PrefixNode, TopKey, TtlBucket } from '../report/report.js';
import { jsonBytes, type JsonBytes } from './jsonl.js';

/** redis-rdb-tools' columns (`rdb -c memory`), plus `file` when there are several inputs. */
export const MEMORY_CSV_COLUMNS = [
  'database', 'type', 'key', 'size_in_bytes', 'encoding', 'num_elements', 'len_largest_element', 'expiry',
] as const;

export function memoryCsvHeader(withFile: boolean): string {
  return `${MEMORY_CSV_COLUMNS.join(',')}${withFile ? ',file' : ''}\n`;
}

/** A CSV field, quoted (RFC 4180) when it holds a comma, quote, CR or LF or edge spaces. */
export function csvField(s: string): string {
  if (s === '') return s;
  if (/[",\r\n]/.test(s) || s.charCodeAt(0) === 0x20 || s.charCodeAt(s.length - 1) === 0x20) return `"${s.replace(/"/g, '""')}"`;
  return s;
}

const TWO = Array.from({ length: 60 }, (_, i) => String(i).padStart(2, '0'));
const THREE = Array.from({ length: 1000 }, (_, i) => String(i).padStart(3, '0'));
const DAY = 86_400_000;
/** Date parts ("2026-11-25T") per day number, a bounded cache: most expiries share a few days. */
const days = new Map<number, string>();

/** Whether isoTime's fast path takes `ms` (whole milliseconds in years 1970..9999). */
function plainTime(ms: number): boolean {
  return ms >= 0 && ms < 253402300800000 && ms === Math.floor(ms);
}

/** The date part of day number `day` ("2026-11-25T"). */
function datePart(day: number): string {
  let date = days.get(day);
  if (date === undefined) {
    if (days.size >= 4096) days.clear();
    date = new Date(day * DAY).toISOString().slice(0, 11);
    days.set(day, date);
  }
  return date;
}

/** The time of day of the last splitDay: hours, minutes, seconds, milliseconds. */
let todH = 0;
let todM = 0;
let todS = 0;
let todMs = 0;

/** Splits `ms` (plainTime) into its day number (returned) and the time of day (tod*, 32-bit steps). */
function splitDay(ms: number): number {
  const day = Math.floor(ms / DAY);
  let r = (ms - day * DAY) | 0;
  todH = (r / 3_600_000) | 0;
  r -= todH * 3_600_000;
  todM = (r / 60_000) | 0;
  r -= todM * 60_000;
  todS = (r / 1000) | 0;
  todMs = r - todS * 1000;
  return day;
}

/** ISO 8601 in UTC with milliseconds, as Date#toISOString, without a Date per call. */
export function isoTime(ms: number): string {
  // Years 1970..9999 take the fast path; anything else (or NaN) goes through Date.
  if (!plainTime(ms)) {
    const d = new Date(ms);
    return Number.isNaN(d.getTime()) ? String(ms) : d.toISOString();
  }
  const date = datePart(splitDay(ms));
  return `${date}${TWO[todH]}:${TWO[todM]}:${TWO[todS]}.${THREE[todMs]}Z`;
}

const latin1Slice = Buffer.prototype.latin1Slice as (this: Uint8Array, start: number, end: number) => string;

/** A key as a CSV field: plain printable ASCII as is (the fast path), else keyText's escapes, quoted if needed. */
export function csvKey(key: Uint8Array): string {
  const n = key.length;
  if (n === 0) return '""';
  for (let i = 0; i < n; i++) {
    const b = key[i]!;
    if (b < 0x21 || b > 0x7e || b === 0x5c || b === 0x2c || b === 0x22) {
      if (b !== 0x20 || i === 0 || i === n - 1) return csvField(keyText(key));
    }
  }
  return latin1Slice.call(key, 0, n);
}

/**
 * One CSV line. The key is text when it is UTF-8, with `\`, control and invalid bytes escaped
 * (`\\`, `\n`, `\xNN`: inspect's `keyText`), then CSV-quoted if needed. Expiry: ISO 8601 or empty.
 */
export function memoryCsvLine(r: MemoryRow): string {
  const line = `${r.database},${r.type},${csvKey(r.key)},${r.sizeInBytes},${r.encoding},${r.numElements},${r.lenLargestElement},${r.expiry < 0 ? '' : isoTime(r.expiry)}`;
  return r.file === undefined ? `${line}\n` : `${line},${csvField(r.file)}\n`;
}

/** One JSON line with the CSV's fields; the key as JSONL bytes (text, or {"b64":...}). */
export function memoryJsonLine(r: MemoryRow): string {
  const o: Record<string, unknown> = {
    database: r.database,
    type: r.type,
    key: jsonBytes(r.key),
    size_in_bytes: r.sizeInBytes,
    encoding: r.encoding,
    num_elements: r.numElements,
    len_largest_element: r.lenLargestElement,
    expiry: r.expiry < 0 ? null : isoTime(r.expiry),
  };
  if (r.file !== undefined) o['file'] = r.file;
  return `${JSON.stringify(o)}\n`;
}

/** Bytes of one CSV row's parts, for MemoryCsvWriter: a MemoryRow, with any type name. */
export type MemoryCsvFields = Omit<MemoryRow, 'type'> & { type: string };

const COMMA = 0x2c;
const NL = 0x0a;

/** Bytes a CSV key may hold as they are (printable ASCII but for `\\`, `,` and `"`): 1, else 0. */
const PLAIN: Uint8Array = (() => {
  const t = new Uint8Array(256);
  for (let b = 0x20; b <= 0x7e; b++) t[b] = 1;
  t[0x5c] = 0;
  t[COMMA] = 0;
  t[0x22] = 0;
  return t;
})();

/**
 * Writes the decimal text of `v` at `buf[n..)` (room made by the caller: 22 bytes); returns the
 * index after it. The same text as String(v) for integers.
 */
function writeInt(buf: Uint8Array, n: number, v: number): number {
  if (v >= 0 && v < 0x80000000) {
    const d = v < 10 ? 1 : v < 100 ? 2 : v < 1000 ? 3 : v < 10000 ? 4 : v < 100000 ? 5 : v < 1000000 ? 6 :
      v < 10000000 ? 7 : v < 100000000 ? 8 : v < 1000000000 ? 9 : 10;
    let at = n + d;
    for (let x = v; ; ) {
      const q = (x / 10) | 0;
      buf[--at] = 0x30 + (x - q * 10);
      if (q === 0) break;
      x = q;
    }
    return n + d;
  }
  const t = String(v);
  for (let i = 0; i < t.length; i++) buf[n++] = t.charCodeAt(i);
  return n;
}
const utf8 = new TextEncoder();

/**
 * The memory CSV straight into bytes (the CLI's fast path: no row objects, no intermediate
 * strings for plain keys and numbers). Produces exactly what memoryCsvLine gives, encoded as
 * UTF-8. Call `take()` after each batch for the bytes so far.
 */
export class MemoryCsvWriter {
  private buf = new Uint8Array(256 * 1024);
  private n = 0;
  private readonly words = new Map<string, Uint8Array>();
  /** Date parts ("2026-11-25T") per day number, as bytes (bounded, as isoTime's). */
  private readonly dayBytes = new Map<number, Uint8Array>();
  /** The day of the last expiry written, and its date part (expiries cluster on a few days). */
  private lastDay = NaN;
  private lastDate: Uint8Array = new Uint8Array(0);
  /** The last `file` column written, and its CSV bytes. */
  private fileName: string | undefined;
  private fileBytes = new Uint8Array(0);

  get length(): number {
    return this.n;
  }

  private ensure(k: number): void {
    if (this.n + k <= this.buf.length) return;
    let cap = this.buf.length * 2;
    while (cap < this.n + k) cap *= 2;
    const next = new Uint8Array(cap);
    next.set(this.buf.subarray(0, this.n));
    this.buf = next;
  }

  /** Appends bytes already formatted (rows written elsewhere, e.g. src/format/memory-csv-wasm.ts). */
  append(b: Uint8Array): void {
    this.bytes(b);
  }

  private bytes(b: Uint8Array): void {
    this.ensure(b.length);
    this.buf.set(b, this.n);
    this.n += b.length;
  }

  private ascii(s: string): void {
    this.ensure(s.length);
    for (let i = 0; i < s.length; i++) this.buf[this.n++] = s.charCodeAt(i);
  }

  header(withFile: boolean): void {
    this.ascii(memoryCsvHeader(withFile));
  }

  line(r: MemoryCsvFields): void {
    this.fields(r.database, r.type, r.key, r.sizeInBytes, r.encoding, r.numElements, r.lenLargestElement, r.expiry, r.file);
  }

  /**
   * One CSV line from its parts (positional: no object per key). Room for the line is made once;
   * numbers, the cached words and plain keys are copied byte by byte into it.
   */
  fields(
    database: number, type: string, k: Uint8Array, sizeInBytes: number, encoding: string,
    numElements: number, lenLargestElement: number, expiry: number, file?: string,
  ): void {
    this.fieldsAt(database, type, k, 0, k.length, sizeInBytes, encoding, numElements, lenLargestElement, expiry, file);
  }

  /** `fields` with the key as `kb[ks..ke)` (a span walk's record bytes: no key array of its own). */
  fieldsAt(
    database: number, type: string, kb: Uint8Array, ks: number, ke: number, sizeInBytes: number, encoding: string,
    numElements: number, lenLargestElement: number, expiry: number, file?: string,
  ): void {
    const tw = this.wordBytes(type);
    const ew = this.wordBytes(encoding);
    // 4 numbers of up to 21 characters and the database, 24 of expiry, 8 separators, the words.
    this.ensure(ke - ks + tw.length + ew.length + 160);
    const buf = this.buf;
    let n = this.n;
    n = writeInt(buf, n, database);
    buf[n++] = COMMA;
    for (let i = 0; i < tw.length; i++) buf[n++] = tw[i]!;
    buf[n++] = COMMA;
    // Copied while checked: a key that needs quoting or escapes is written again, the slow way.
    const keyAt = n;
    let plain = ke > ks && kb[ks] !== 0x20 && kb[ke - 1] !== 0x20;
    if (plain) {
      for (let i = ks; i < ke; i++) {
        const b = kb[i]!;
        if (PLAIN[b] === 0) {
          plain = false;
          break;
        }
        buf[n++] = b;
      }
    }
    if (plain) {
      this.n = n;
    } else {
      this.n = keyAt;
      this.bytes(utf8.encode(csvKey(kb.subarray(ks, ke))));
    }
    this.fieldsAfterKey(sizeInBytes, ew, numElements, lenLargestElement, expiry, file);
  }

  /** The columns after the key. */
  private fieldsAfterKey(sizeInBytes: number, ew: Uint8Array, numElements: number, lenLargestElement: number, expiry: number, file: string | undefined): void {
    this.ensure(ew.length + 160);
    const buf = this.buf;
    let n = this.n;
    buf[n++] = COMMA;
    n = writeInt(buf, n, sizeInBytes);
    buf[n++] = COMMA;
    for (let i = 0; i < ew.length; i++) buf[n++] = ew[i]!;
    buf[n++] = COMMA;
    n = writeInt(buf, n, numElements);
    buf[n++] = COMMA;
    n = writeInt(buf, n, lenLargestElement);
    buf[n++] = COMMA;
    this.n = n;
    if (expiry >= 0) this.time(expiry);
    if (file !== undefined) {
      this.ensure(1);
      this.buf[this.n++] = COMMA;
      // The same input for many rows in a row: its field is encoded once.
      if (file !== this.fileName) {
        this.fileName = file;
        this.fileBytes = utf8.encode(csvField(file));
      }
      this.bytes(this.fileBytes);
    }
    this.ensure(1);
    this.buf[this.n++] = NL;
  }

  /** A word's UTF-8 bytes, from the cache. */
  private wordBytes(s: string): Uint8Array {
    let w = this.words.get(s);
    if (w === undefined) {
      w = utf8.encode(s);
      if (this.words.size < 1024) this.words.set(s, w);
    }
    return w;
  }

  /** isoTime's text, as bytes: the day part from a cache, the time of day as digits. */
  private time(ms: number): void {
    if (!plainTime(ms)) {
      this.ascii(isoTime(ms));
      return;
    }
    const day = splitDay(ms);
    let date = this.lastDate;
    if (day !== this.lastDay) {
      const cached = this.dayBytes.get(day);
      if (cached === undefined) {
        if (this.dayBytes.size >= 4096) this.dayBytes.clear();
        date = utf8.encode(datePart(day));
        this.dayBytes.set(day, date);
      } else {
        date = cached;
      }
      this.lastDay = day;
      this.lastDate = date;
    }
    const h = todH;
    const mi = todM;
    const sec = todS;
    const r = todMs;
    this.ensure(date.length + 13);
    const buf = this.buf;
    let n = this.n;
    for (let i = 0; i < date.length; i++) buf[n++] = date[i]!;
    const h1 = (h / 10) | 0;
    buf[n++] = 0x30 + h1;
    buf[n++] = 0x30 + h - h1 * 10;
    buf[n++] = 0x3a;
    const m1 = (mi / 10) | 0;
    buf[n++] = 0x30 + m1;
    buf[n++] = 0x30 + mi - m1 * 10;
    buf[n++] = 0x3a;
    const s1 = (sec / 10) | 0;
    buf[n++] = 0x30 + s1;
    buf[n++] = 0x30 + sec - s1 * 10;
    buf[n++] = 0x2e;
    const f1 = (r / 100) | 0;
    const f2 = ((r - f1 * 100) / 10) | 0;
    buf[n++] = 0x30 + f1;
    buf[n++] = 0x30 + f2;
    buf[n++] = 0x30 + r - f1 * 100 - f2 * 10;
    buf[n++] = 0x5a;
    this.n = n;
  }

  /** The bytes written since the last take (a copy; the buffer is reused). */
  take(): Uint8Array {
    const out = this.buf.slice(0, this.n);
    this.n = 0;
    return out;
  }
}

/**
 * The memory rows of `inspect --format memory` as bytes, CSV (MemoryCsvWriter) or JSON lines: one
 * `key()` per kept key, `take()` for the bytes so far. Shared by the calling thread's pass and
 * the parallel spans, so both write the same bytes.
 */
export class MemoryRowWriter {
  /** The CSV writer (a span walk writes its rows straight into it). */
  readonly csv = new MemoryCsvWriter();
  private json = '';

  constructor(readonly asJson: boolean) {}

  /** The CSV header line (none for JSON lines). */
  header(withFile: boolean): void {
    if (!this.asJson) this.csv.header(withFile);
  }

  /** One key's row: `rec` after the selection, `m` its estimate. */
  key(rec: KeyRecord, type: string, m: KeyMemory, file: string | undefined): void {
    if (this.asJson) {
      this.json += memoryJsonLine({
        database: rec.db, type: type as MemoryRow['type'], key: rec.key, sizeInBytes: m.bytes, encoding: m.encoding,
        numElements: m.elements, lenLargestElement: m.largestElement, expiry: rec.expireAt, ...(file !== undefined ? { file } : {}),
      });
    } else {
      this.csv.fields(rec.db, type, rec.key, m.bytes, m.encoding, m.elements, m.largestElement, rec.expireAt, file);
    }
  }

  get length(): number {
    return this.asJson ? this.json.length : this.csv.length;
  }

  /** The bytes written since the last take (their own buffer). */
  take(): Uint8Array {
    if (!this.asJson) return this.csv.take();
    const out = utf8.encode(this.json);
    this.json = '';
    return out;
  }
}

// ---- the report's human form ---------------------------------------------------------------

function num(n: number): string {
  return n.toLocaleString('en-US');
}

export function humanBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let v = n / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v.toFixed(v < 10 ? 1 : 0)} ${units[i]}`;
}

function shown(b: JsonBytes, max = 60): string {
  const s = typeof b === 'string' ? (b === '' || /[\u0000-\u001f\u007f"\\]/.test(b) ? JSON.stringify(b) : b) : `{b64:${b.b64}}`;
  return s.length > max ? `${s.slice(0, max - 1)}…` : s;
}

/** A table: columns right-aligned unless listed in `left`. */
function table(head: string[], rows: string[][], left: ReadonlySet<number> = new Set()): string {
  const w = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const fmt = (r: string[]): string =>
    `  ${r.map((c, i) => (left.has(i) ? c.padEnd(w[i]!) : c.padStart(w[i]!))).join('  ')}`.trimEnd() + '\n';
  return fmt(head) + rows.map(fmt).join('');
}

function pct(part: number, whole: number): string {
  return whole === 0 ? '-' : `${((part / whole) * 100).toFixed(1)}%`;
}

const TTL_LABEL: Record<TtlBucket, string> = {
  none: 'no expiry',
  expired: 'expired at --now',
  lt1h: '< 1 hour',
  lt1d: '< 1 day',
  lt7d: '< 7 days',
  lt30d: '< 30 days',
  longer: '>= 30 days',
};

function topTable(keys: readonly TopKey[], several: boolean): string {
  const rows = keys.map((k) => [
    humanBytes(k.bytes), num(k.elements), String(k.db), `${k.type}/${k.encoding}`, shown(k.key, 56), several ? (k.file ?? '') : '',
  ]);
  return table(['memory', 'elements', 'db', 'type', 'key', several ? 'file' : ''], rows, new Set([3, 4, 5]));
}

/** Rows of the prefix tree, at most `children` per node (the rest summed into the node's "(other)" row). */
function prefixRows(n: Omit<PrefixNode, 'prefix'>, total: Count, indent: string, children: number, out: string[][]): void {
  const listed = n.children.slice(0, children);
  let keys = n.other.keys;
  let bytes = n.other.bytes;
  let hidden = n.foldedChildren;
  for (const c of n.children.slice(children)) {
    keys += c.keys;
    bytes += c.bytes;
    hidden++;
  }
  for (const c of listed) {
    out.push([`${indent}${shown(c.prefix, 50)}`, num(c.keys), humanBytes(c.bytes), pct(c.bytes, total.bytes)]);
    prefixRows(c, total, `${indent}  `, children, out);
  }
  if (keys > 0 && (listed.length > 0 || indent === '')) {
    const label = hidden > 0 ? `(other: ${num(hidden)} more prefixes, short keys)` : '(other)';
    out.push([`${indent}${label}`, num(keys), humanBytes(bytes), pct(bytes, total.bytes)]);
  }
}

/** The report as text tables. */
export function renderMemoryReport(r: MemoryReport, opts: { prefixChildren?: number } = {}): string {
  let out = '';
  const several = r.files.length > 1;
  const t = r.total;
  out += 'memory estimate\n';
  for (const f of r.files) {
    out += `  ${f.file === '-' ? 'stdin' : f.file}: RDB ${f.rdbVersion}, estimated for a server of RDB ${f.targetVersion}: ${num(f.keys)} keys, ${humanBytes(f.bytes)}\n`;
  }
  out += `  total: ${num(t.keys)} keys, ${humanBytes(t.bytes)} (${num(t.bytes)} bytes, as MEMORY USAGE counts); ` +
    `expires entries ${humanBytes(t.expiryBytes)} more\n`;

  out += '\nper database and type\n';
  const dbRows: string[][] = [];
  for (const [db, c] of Object.entries(r.perDb)) {
    dbRows.push([`db ${db}`, '', num(c.keys), humanBytes(c.bytes), pct(c.bytes, t.bytes)]);
    for (const [type, tc] of Object.entries(c.types)) dbRows.push(['', type, num(tc.keys), humanBytes(tc.bytes), pct(tc.bytes, t.bytes)]);
  }
  for (const [type, c] of Object.entries(r.perType)) dbRows.push(['all', type, num(c.keys), humanBytes(c.bytes), pct(c.bytes, t.bytes)]);
  out += table(['db', 'type', 'keys', 'memory', 'share'], dbRows, new Set([0, 1]));

  out += '\nencodings per type\n';
  const encRows: string[][] = [];
  for (const [type, m] of Object.entries(r.encodings)) {
    for (const [enc, c] of Object.entries(m)) encRows.push([type, enc, num(c.keys), humanBytes(c.bytes)]);
  }
  out += table(['type', 'encoding', 'keys', 'memory'], encRows, new Set([0, 1]));

  out += `\nbiggest keys by memory (top ${r.top})\n`;
  out += r.biggestByMemory.length === 0 ? '  -\n' : topTable(r.biggestByMemory, several);
  out += `\nbiggest keys by elements (top ${r.top}, collections)\n`;
  out += r.biggestByElements.length === 0 ? '  -\n' : topTable(r.biggestByElements, several);

  const p = r.prefixes;
  out += `\nkey prefixes (separator ${JSON.stringify(p.separator)}, depth ${p.depth}${p.collapseIds ? ', digit-only segments as *' : ''}` +
    `${p.evictedPrefixes > 0 ? `, ${num(p.evictedPrefixes)} prefixes over the cap of ${num(p.cap)} per level counted in (other)` : ''})\n`;
  const rows: string[][] = [];
  prefixRows(p.root, t, '', opts.prefixChildren ?? 10, rows);
  out += rows.length === 0 ? '  -\n' : table(['prefix', 'keys', 'memory', 'share'], rows, new Set([0]));

  out += `\nexpiry (at --now ${new Date(r.now).toISOString()})\n`;
  out += table(
    ['ttl', 'keys', 'memory'],
    (Object.keys(TTL_LABEL) as TtlBucket[]).map((b) => [TTL_LABEL[b], num(r.ttl[b].keys), humanBytes(r.ttl[b].bytes)]),
    new Set([0]),
  );
  return out;
}
