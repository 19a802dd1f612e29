/**
 * The canonical JSONL form of ../shared/docs/JSONL.md: one key a line, bytes as UTF-8 strings or
 * {"b64": ...}, sets and hash fields sorted by raw bytes, zsets in ZRANGE order.
 */
import { Buffer, isUtf8 } from 'node:buffer';
import type { Value, StreamId, StreamValue } from '../../native-free-parser/index.js';
import { bytesCompare as compareBytes } from '../../native-free-parser/encodings/elem.js';

export type JsonBytes = string | { b64: string };

/** Bytes as JSONL wants them: text when valid UTF-8, else base64. */
export function jsonBytes(b: Uint8Array): JsonBytes {
  const buf = Buffer.from(b.buffer, b.byteOffset, b.byteLength);
  if (isUtf8(buf)) return buf.toString('utf8');
  return { b64: buf.toString('base64') };
}

/** A key as messages show it: JSON-quoted text, or `b64:...` for bytes that are not UTF-8. */
export function keyText(k: JsonBytes): string {
  return typeof k === 'string' ? JSON.stringify(k) : `b64:${k.b64}`;
}

function idStr(id: StreamId): string {
  return `${id.ms}-${id.seq}`;
}

function cmpId(a: StreamId, b: StreamId): number {
  if (a.ms !== b.ms) return a.ms < b.ms ? -1 : 1;
  if (a.seq !== b.seq) return a.seq < b.seq ? -1 : 1;
  return 0;
}

function score(d: number): number | string {
  if (d === Infinity) return 'inf';
  if (d === -Infinity) return '-inf';
  return d;
}

function bigNum(v: bigint): number | string {
  return v <= BigInt(Number.MAX_SAFE_INTEGER) && v >= -BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v.toString();
}

function streamJson(s: StreamValue): Record<string, unknown> {
  const out: Record<string, unknown> = {
    entries: s.entries.map((e) => {
      const f: JsonBytes[][] = [];
      for (let i = 0; i < e.fields.length; i += 2) f.push([jsonBytes(e.fields[i]!), jsonBytes(e.fields[i + 1]!)]);
      return [idStr(e.id), f];
    }),
    length: s.length,
    lastId: idStr(s.lastId),
  };
  if (s.entriesAdded !== undefined) out['entriesAdded'] = bigNum(s.entriesAdded);
  if (s.maxDeletedEntryId !== undefined) out['maxDeletedEntryId'] = idStr(s.maxDeletedEntryId);
  if (s.firstId !== undefined) out['firstEntryId'] = idStr(s.firstId);
  const groups = [...s.groups].sort((a, b) => compareBytes(a.name, b.name));
  out['groups'] = groups.map((g) => {
    const owner = new Map<string, Uint8Array>();
    for (const c of g.consumers) for (const id of c.pending) owner.set(idStr(id), c.name);
    const pending = [...g.pending].sort((a, b) => cmpId(a.id, b.id)).map((p) => {
      const o = owner.get(idStr(p.id));
      return [idStr(p.id), o === undefined ? null : jsonBytes(o), p.deliveryCount];
    });
    const consumers = [...g.consumers]
      .sort((a, b) => compareBytes(a.name, b.name))
      .map((c) => ({ name: jsonBytes(c.name), pending: c.pending.length }));
    const gj: Record<string, unknown> = { name: jsonBytes(g.name), lastDeliveredId: idStr(g.lastDeliveredId) };
    if (g.entriesRead !== undefined) gj['entriesRead'] = g.entriesRead < 0n ? null : bigNum(g.entriesRead);
    gj['pending'] = pending;
    gj['consumers'] = consumers;
    return gj;
  });
  return out;
}

/** The JSON value of a decoded value, in canonical order. */
export function valueJson(v: Value): unknown {
  switch (v.type) {
    case 'string':
      return jsonBytes(v.value);
    case 'list':
      return v.value.map(jsonBytes);
    case 'set':
      return [...v.value].sort(compareBytes).map(jsonBytes);
    case 'zset':
      return [...v.value]
        .sort((a, b) => (a[1] < b[1] ? -1 : a[1] > b[1] ? 1 : compareBytes(a[0], b[0])))
        .map(([m, s]) => [jsonBytes(m), score(s)]);
    case 'hash':
      return [...v.value].sort((a, b) => compareBytes(a[0], b[0])).map(([f, x]) => [jsonBytes(f), jsonBytes(x)]);
    case 'stream':
      return streamJson(v.value);
    case 'module':
      return {
        module: v.value.name,
        encver: v.value.encver,
        b64: Buffer.from(v.value.raw.buffer, v.value.raw.byteOffset, v.value.raw.byteLength).toString('base64'),
      };
  }
}

/** One canonical JSONL object for a key. */
export function keyJson(
  db: number,
  key: Uint8Array,
  v: Value,
  expireAt: number,
  file?: string,
): Record<string, unknown> {
  const o: Record<string, unknown> = {
    db,
    key: jsonBytes(key),
    type: v.type,
    value: valueJson(v),
    expireAt: expireAt < 0 ? null : expireAt,
  };
  if (v.type === 'hash' && v.fieldExpireAt !== undefined && v.fieldExpireAt.length > 0) {
    o['fieldExpireAt'] = [...v.fieldExpireAt].sort((a, b) => compareBytes(a[0], b[0])).map(([f, t]) => [jsonBytes(f), t]);
  }
  if (file !== undefined) o['file'] = file;
  return o;
}

// ---- the fast path: canonical JSONL lines built as UTF-8 bytes ------------------------------------

/**
 * How a byte goes into a JSON string: 0 as is (printable ASCII other than `"` and `\`), 1 escaped
 * (the control characters, `"`, `\`: what JSON.stringify escapes), 2 non-ASCII (the element must
 * be valid UTF-8 to be written as text; its bytes are then copied unchanged).
 */
const BYTE_CLASS = new Uint8Array(256);
for (let b = 0; b < 0x20; b++) BYTE_CLASS[b] = 1;
BYTE_CLASS[0x22] = 1;
BYTE_CLASS[0x5c] = 1;
for (let b = 0x80; b < 0x100; b++) BYTE_CLASS[b] = 2;

/** JSON.stringify's short escapes; other control characters become \u00XX (lowercase hex). */
const SHORT_ESCAPE: Record<number, number> = { 0x08: 0x62, 0x09: 0x74, 0x0a: 0x6e, 0x0c: 0x66, 0x0d: 0x72, 0x22: 0x22, 0x5c: 0x5c };
const HEX = new TextEncoder().encode('0123456789abcdef');

/** From this length on, bytes() scans an element before copying it (see there). */
const SCAN_MIN = 24;

const TEXT = new TextEncoder();
const ascii = (s: string): Uint8Array => TEXT.encode(s);
const LINE_DB = ascii('{"db":');
const LINE_KEY = ascii(',"key":');
const LINE_TYPE: Record<string, Uint8Array> = {};
for (const t of ['string', 'list', 'set', 'zset', 'hash', 'stream', 'module']) LINE_TYPE[t] = ascii(`,"type":"${t}","value":`);
const LINE_EXPIRE = ascii(',"expireAt":');
const LINE_FIELD_EXPIRE = ascii(',"fieldExpireAt":');
const LINE_FILE = ascii(',"file":');
const B64_OPEN = ascii('{"b64":"');
const NULL = ascii('null');
const INF = ascii('"inf"');
const NEG_INF = ascii('"-inf"');

/** Field order of a pair list (hash, fieldExpireAt): raw field bytes. */
function byFirst(a: readonly [Uint8Array, unknown], b: readonly [Uint8Array, unknown]): number {
  return compareBytes(a[0], b[0]);
}

/** ZRANGE order: score, then member bytes. */
function byScore(a: readonly [Uint8Array, number], b: readonly [Uint8Array, number]): number {
  return a[1] < b[1] ? -1 : a[1] > b[1] ? 1 : compareBytes(a[0], b[0]);
}

function isSorted<T>(a: readonly T[], cmp: (x: T, y: T) => number): boolean {
  for (let i = 1; i < a.length; i++) if (cmp(a[i - 1]!, a[i]!) > 0) return false;
  return true;
}

/** 10^k for k = 0..22, all exact doubles. */
const POW10 = Array.from({ length: 23 }, (_, k) => 10 ** k);

/** Up to this many items byteOrder sorts by insertion; above, by number keys (see there). */
const INSERTION_MAX = 48;
/** 2^20: the index part of a number sort key (see byteOrder). */
const INDEX_SPAN = 1048576;
/**
 * Per-item prefixes and sort keys, reused across values (allocating them per value cost more
 * than the sorting), grown as needed up to SCRATCH_MAX items; bigger values get their own.
 */
let prefixes = new Uint32Array(256);
let sortKeys = new Float64Array(256);
const SCRATCH_MAX = 65536;

function scratchPrefixes(n: number): Uint32Array {
  if (n > SCRATCH_MAX) return new Uint32Array(n);
  if (prefixes.length < n) prefixes = new Uint32Array(Math.min(SCRATCH_MAX, Math.max(n, prefixes.length * 2)));
  return prefixes;
}

function scratchKeys(n: number): Float64Array {
  if (sortKeys.length < n) sortKeys = new Float64Array(Math.min(SCRATCH_MAX, Math.max(n, sortKeys.length * 2)));
  return sortKeys.subarray(0, n);
}

/**
 * The indexes of `items` in raw byte order (memcmp, then length), as sorting them with
 * compareBytes gives (ties keep their order).
 *
 * A comparator sort was the largest cost of writing hashes and sets. Here each item first gets a
 * prefix: the 4 bytes after the items' common prefix (zeros past an item's end) as a big-endian
 * uint32. Prefix order is byte order except between items with equal prefixes, which compareBytes
 * then decides. (An item that ends inside those 4 bytes has zeros there: it sorts before every
 * longer item with the same bytes, or ties with one that has real zeros and is then ordered by
 * compareBytes.) Few items (hash fields, small sets) are sorted by insertion on the prefixes, with
 * no function call per comparison; many by a number sort without comparator of
 * prefix * 2^20 + index, whose runs of equal prefixes are then finished by insertion.
 */
function byteOrder(items: readonly Uint8Array[]): number[] {
  const n = items.length;
  const order = new Array<number>(n);
  for (let i = 0; i < n; i++) order[i] = i;
  if (n < 2) return order;
  if (n >= INDEX_SPAN) return order.sort((a, b) => compareBytes(items[a]!, items[b]!));
  // The common prefix of all items: its bytes decide nothing.
  const first = items[0]!;
  let lcp = first.length;
  for (let i = 1; i < n && lcp > 0; i++) {
    const b = items[i]!;
    const m = b.length < lcp ? b.length : lcp;
    let k = 0;
    while (k < m && b[k] === first[k]) k++;
    lcp = k;
  }
  const pre = scratchPrefixes(n);
  for (let i = 0; i < n; i++) {
    const b = items[i]!;
    const len = b.length;
    if (len >= lcp + 4) {
      pre[i] = (b[lcp]! << 24) | (b[lcp + 1]! << 16) | (b[lcp + 2]! << 8) | b[lcp + 3]!;
    } else {
      let x = 0;
      for (let k = lcp; k < lcp + 4; k++) x = x * 256 + (k < len ? b[k]! : 0);
      pre[i] = x;
    }
  }
  if (n <= INSERTION_MAX) {
    for (let a = 1; a < n; a++) {
      const x = order[a]!;
      const px = pre[x]!;
      let b = a - 1;
      for (; b >= 0; b--) {
        const y = order[b]!;
        const py = pre[y]!;
        if (py < px || (py === px && compareBytes(items[y]!, items[x]!) <= 0)) break;
        order[b + 1] = y;
      }
      order[b + 1] = x;
    }
    return order;
  }
  const keys = n <= SCRATCH_MAX ? scratchKeys(n) : new Float64Array(n);
  for (let i = 0; i < n; i++) keys[i] = pre[i]! * INDEX_SPAN + i;
  keys.sort();
  for (let i = 0; i < n; i++) order[i] = keys[i]! % INDEX_SPAN;
  for (let i = 0; i < n - 1; ) {
    const p = pre[order[i]!]!;
    let j = i + 1;
    while (j < n && pre[order[j]!] === p) j++;
    for (let a = i + 1; a < j; a++) {
      const x = order[a]!;
      let b = a - 1;
      while (b >= i && compareBytes(items[order[b]!]!, items[x]!) > 0) {
        order[b + 1] = order[b]!;
        b--;
      }
      order[b + 1] = x;
    }
    i = j;
  }
  return order;
}

/**
 * Builds canonical JSONL lines (the same text as `JSON.stringify(keyJson(...))` plus a newline)
 * straight into a byte buffer, without the intermediate objects, the per-element isUtf8 call and
 * UTF-8 decode, and JSON.stringify's walk over them: element bytes that are printable ASCII are
 * copied as they are, escapes are written by hand, and only an element with non-ASCII bytes is
 * checked for valid UTF-8 (then copied unchanged, or written as {"b64":...}); hashes and sets
 * are put in order by byteOrder, numbers written without String() where possible. With it,
 * `inspect --format jsonl` of the 1M-key benchmark RDB went from 22 s to 7 s. Streams and module
 * values, rare, still go through valueJson and JSON.stringify.
 */
export class JsonlBuilder {
  private buf: Buffer = Buffer.allocUnsafe(1 << 20);
  private pos = 0;
  /** Some byte since the last take() is not ASCII (then the text must be decoded as UTF-8). */
  private nonAscii = false;

  /** Bytes written since the last take(). */
  get length(): number {
    return this.pos;
  }

  /** The lines written so far as text, and an empty builder. */
  take(): string {
    // Pure ASCII (the usual case) decodes as latin1, a plain copy: about 5x faster than UTF-8.
    const s = this.buf.toString(this.nonAscii ? 'utf8' : 'latin1', 0, this.pos);
    this.pos = 0;
    this.nonAscii = false;
    return s;
  }

  /**
   * Appends the line of one key: `{"db","key","type","value","expireAt"[,"fieldExpireAt"][,"file"]}`.
   * `file` is the JSON text of the file name (JSON.stringify of it), as bytes, or undefined.
   */
  line(db: number, key: Uint8Array, v: Value, expireAt: number, file?: Uint8Array): void {
    this.raw(LINE_DB);
    this.number(db);
    this.raw(LINE_KEY);
    this.bytes(key);
    this.raw(LINE_TYPE[v.type]!);
    this.value(v);
    this.raw(LINE_EXPIRE);
    if (expireAt < 0) this.raw(NULL);
    else this.number(expireAt);
    if (v.type === 'hash' && v.fieldExpireAt !== undefined && v.fieldExpireAt.length > 0) {
      this.raw(LINE_FIELD_EXPIRE);
      const ttl = [...v.fieldExpireAt].sort(byFirst);
      this.byte(0x5b);
      for (let i = 0; i < ttl.length; i++) {
        if (i > 0) this.byte(0x2c);
        this.byte(0x5b);
        this.bytes(ttl[i]![0]);
        this.byte(0x2c);
        this.number(ttl[i]![1]);
        this.byte(0x5d);
      }
      this.byte(0x5d);
    }
    if (file !== undefined) {
      this.raw(LINE_FILE);
      this.raw(file);
      for (let i = 0; i < file.length; i++) if (file[i]! >= 0x80) this.nonAscii = true;
    }
    this.byte(0x7d);
    this.byte(0x0a);
  }

  private value(v: Value): void {
    switch (v.type) {
      case 'string':
        this.bytes(v.value);
        return;
      case 'list':
        this.bytesList(v.value);
        return;
      case 'set': {
        const order = byteOrder(v.value);
        this.byte(0x5b);
        for (let i = 0; i < order.length; i++) {
          if (i > 0) this.byte(0x2c);
          this.bytes(v.value[order[i]!]!);
        }
        this.byte(0x5d);
        return;
      }
      case 'zset': {
        // Listpack zsets are stored in ZRANGE order already; skiplists in reverse. The decoded
        // array is the caller's, so a copy is sorted (as valueJson does).
        const z = isSorted(v.value, byScore) ? v.value : v.value.slice().sort(byScore);
        this.byte(0x5b);
        for (let i = 0; i < z.length; i++) {
          if (i > 0) this.byte(0x2c);
          this.byte(0x5b);
          this.bytes(z[i]![0]);
          this.byte(0x2c);
          this.score(z[i]![1]);
          this.byte(0x5d);
        }
        this.byte(0x5d);
        return;
      }
      case 'hash': {
        const h = v.value;
        const fields = new Array<Uint8Array>(h.length);
        for (let i = 0; i < h.length; i++) fields[i] = h[i]![0];
        const order = byteOrder(fields);
        this.byte(0x5b);
        for (let i = 0; i < order.length; i++) {
          if (i > 0) this.byte(0x2c);
          const pair = h[order[i]!]!;
          this.byte(0x5b);
          this.bytes(pair[0]);
          this.byte(0x2c);
          this.bytes(pair[1]);
          this.byte(0x5d);
        }
        this.byte(0x5d);
        return;
      }
      default:
        this.text(JSON.stringify(valueJson(v)));
    }
  }

  private bytesList(list: readonly Uint8Array[]): void {
    this.byte(0x5b);
    for (let i = 0; i < list.length; i++) {
      if (i > 0) this.byte(0x2c);
      this.bytes(list[i]!);
    }
    this.byte(0x5d);
  }

  /** A zset score as score() and JSON.stringify write it. */
  private score(d: number): void {
    if (d === Infinity) this.raw(INF);
    else if (d === -Infinity) this.raw(NEG_INF);
    else this.number(d);
  }

  /** A number as JSON.stringify writes it (String() for finite numbers, null otherwise). */
  private number(d: number): void {
    // Most scores are integers and most others short decimals: both written without String(),
    // which costs several hundred ns for a fractional double.
    if (Number.isSafeInteger(d)) this.decimal(d, 0);
    else if (!this.shortDecimal(d)) {
      if (Number.isFinite(d)) this.ascii(String(d));
      else this.raw(NULL);
    }
  }

  /**
   * Writes `d` (1e-6 <= |d| < 1e15) as String(d) does when its shortest round-trip form has at
   * most 15 significant digits, and returns true; else writes nothing and returns false.
   *
   * For f = 0, 1, ... the candidate m = round(|d| * 10^f): m / 10^f is then exactly how the text
   * "m * 10^-f" parses (m < 2^53 and 10^f are exact, and one division rounds correctly), so the
   * first f with m / 10^f === |d| gives a text that round-trips. It is the one String() picks
   * (ECMA-262 Number::toString: fewest digits, then closest) when neither m - 1 nor m + 1 also
   * round-trips: then the decimals that round to |d| span less than 2 * 10^-f, so any shorter text
   * would have been found at a smaller f (its distance from |d| * 10^f' is below 0.5), and m is
   * the only candidate with f digits. Otherwise, leave it to String(). Checked against String()
   * on 15 million doubles of several shapes.
   */
  private shortDecimal(d: number): boolean {
    const a = d < 0 ? -d : d;
    if (!(a >= 1e-6 && a < 1e15)) return false;
    for (let f = 1; f <= 21; f++) {
      const p = POW10[f]!;
      const m = Math.round(a * p);
      if (m > Number.MAX_SAFE_INTEGER) return false;
      if (m / p === a) {
        if ((m - 1) / p === a || (m + 1) / p === a) return false;
        if (d < 0) this.byte(0x2d);
        this.decimal(m, f);
        return true;
      }
    }
    return false;
  }

  /**
   * Writes the safe integer `m` scaled by 10^-f in fixed notation: "-12", "45.089", "0.05".
   * Digits come from division by 10, exact for |m| < 2^53 (the quotient's rounding error stays
   * below its distance to the next integer).
   */
  private decimal(m: number, f: number): void {
    let u = m;
    if (u < 0) {
      this.byte(0x2d);
      u = -u;
    }
    let digits = 1;
    for (let t = u; t >= 10; t = Math.floor(t / 10)) digits++;
    // With a fraction: at least one digit before the point ("0.05").
    const intDigits = digits > f ? digits - f : 1;
    const len = f > 0 ? intDigits + 1 + f : digits;
    this.reserve(len);
    const out = this.buf;
    const start = this.pos;
    let p = start + len;
    for (let i = 0; i < f; i++) {
      const q = Math.floor(u / 10);
      out[--p] = 0x30 + u - q * 10;
      u = q;
    }
    if (f > 0) out[--p] = 0x2e;
    do {
      const q = Math.floor(u / 10);
      out[--p] = 0x30 + u - q * 10;
      u = q;
    } while (p > start);
    this.pos = start + len;
  }

  private reserve(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    const next = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.pos + n));
    this.buf.copy(next, 0, 0, this.pos);
    this.buf = next;
  }

  private byte(b: number): void {
    this.reserve(1);
    this.buf[this.pos++] = b;
  }

  private raw(b: Uint8Array): void {
    this.reserve(b.length);
    this.buf.set(b, this.pos);
    this.pos += b.length;
  }

  /** A string known to be ASCII (numbers). */
  private ascii(s: string): void {
    this.reserve(s.length);
    const out = this.buf;
    let p = this.pos;
    for (let i = 0; i < s.length; i++) out[p++] = s.charCodeAt(i);
    this.pos = p;
  }

  /** Any text, as UTF-8. */
  private text(s: string): void {
    this.nonAscii = true; // (perhaps)
    this.reserve(Buffer.byteLength(s, 'utf8'));
    this.pos += this.buf.write(s, this.pos, 'utf8');
  }

  /** Bytes as jsonBytes gives them, written as JSON: a string when valid UTF-8, else {"b64":...}. */
  private bytes(b: Uint8Array): void {
    const n = b.length;
    this.reserve(n * 6 + 2); // worst case: every byte as \u00XX
    const out = this.buf;
    const start = this.pos;
    let p = start;
    out[p++] = 0x22;
    let i = 0;
    if (n >= SCAN_MIN) {
      // Longer elements: look for a byte needing care first; if there is none (the usual case),
      // one native copy beats the byte loop.
      while (i < n && BYTE_CLASS[b[i]!] === 0) i++;
      if (i === n) {
        out.set(b, p);
        p += n;
        out[p++] = 0x22;
        this.pos = p;
        return;
      }
      i = 0;
    }
    let checked = false; // the element was found to be valid UTF-8
    for (; i < n; i++) {
      const c = b[i]!;
      const k = BYTE_CLASS[c]!;
      if (k === 0) {
        out[p++] = c;
      } else if (k === 2) {
        if (!checked) {
          if (!isUtf8(b)) {
            this.pos = start;
            this.base64(b);
            return;
          }
          checked = true;
          this.nonAscii = true;
        }
        out[p++] = c;
      } else {
        out[p++] = 0x5c;
        const short = SHORT_ESCAPE[c];
        if (short !== undefined) {
          out[p++] = short;
        } else {
          out[p++] = 0x75; // \u00XX
          out[p++] = 0x30;
          out[p++] = 0x30;
          out[p++] = HEX[c >> 4]!;
          out[p++] = HEX[c & 15]!;
        }
      }
    }
    out[p++] = 0x22;
    this.pos = p;
  }

  private base64(b: Uint8Array): void {
    this.raw(B64_OPEN);
    this.ascii(Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('base64'));
    this.byte(0x22);
    this.byte(0x7d);
  }
}
