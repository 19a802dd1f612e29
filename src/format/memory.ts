/**
 * Text forms of `inspect --format memory` rows and `--format report` reports: redis-rdb-tools'
 * memory CSV, JSON lines with the same fields, and the report's human tables.
 */
import { keyText } from '../pipelines/inspect.js';
import type { MemoryRow } from '../pipelines/inspect-memory.js';
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

function iso(ms: number): string {
  const d = new Date(ms);
  return Number.isNaN(d.getTime()) ? String(ms) : d.toISOString();
}

/**
 * One CSV line. The key is text when it is UTF-8, with `\`, control and invalid bytes escaped
 * (`\\`, `\n`, `\xNN`: inspect's `keyText`), then CSV-quoted if needed. Expiry: ISO 8601 or empty.
 */
export function memoryCsvLine(r: MemoryRow): string {
  const line = `${r.database},${r.type},${csvField(keyText(r.key))},${r.sizeInBytes},${r.encoding},${r.numElements},${r.lenLargestElement},${r.expiry < 0 ? '' : iso(r.expiry)}`;
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
    expiry: r.expiry < 0 ? null : iso(r.expiry),
  };
  if (r.file !== undefined) o['file'] = r.file;
  return `${JSON.stringify(o)}\n`;
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

function prefixRows(n: Omit<PrefixNode, 'prefix'>, total: Count, indent: string, out: string[][]): void {
  for (const c of n.children) {
    out.push([`${indent}${shown(c.prefix, 50)}`, num(c.keys), humanBytes(c.bytes), pct(c.bytes, total.bytes)]);
    prefixRows(c, total, `${indent}  `, out);
  }
  if (n.other.keys > 0 && (n.children.length > 0 || indent === '')) {
    out.push([`${indent}(other)`, num(n.other.keys), humanBytes(n.other.bytes), pct(n.other.bytes, total.bytes)]);
  }
}

/** The report as text tables. */
export function renderMemoryReport(r: MemoryReport, opts: { maxPrefixRows?: number } = {}): string {
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
  out += `\nkey prefixes (separator ${JSON.stringify(p.separator)}, depth ${p.depth}` +
    `${p.evictedPrefixes > 0 ? `, ${num(p.evictedPrefixes)} prefixes over the cap of ${num(p.cap)} per level counted in (other)` : ''})\n`;
  const rows: string[][] = [];
  prefixRows(p.root, t, '', rows);
  const max = opts.maxPrefixRows ?? 60;
  const cut = rows.length > max;
  out += rows.length === 0 ? '  -\n' : table(['prefix', 'keys', 'memory', 'share'], cut ? rows.slice(0, max) : rows, new Set([0]));
  if (cut) out += `  … ${num(rows.length - max)} more rows (all of them with --json)\n`;

  out += `\nexpiry (at --now ${new Date(r.now).toISOString()})\n`;
  out += table(
    ['ttl', 'keys', 'memory'],
    (Object.keys(TTL_LABEL) as TtlBucket[]).map((b) => [TTL_LABEL[b], num(r.ttl[b].keys), humanBytes(r.ttl[b].bytes)]),
    new Set([0]),
  );
  return out;
}
