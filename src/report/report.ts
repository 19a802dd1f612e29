/**
 * The memory report's aggregation, in bounded memory: totals per database and type, the N biggest
 * keys by estimated memory and by element count (two N-sized heaps), a key-prefix tree (capped per
 * level), a TTL histogram and encodings per type. Fed one key at a time; `finish()` gives the
 * plain-data report.
 *
 * The prefix tree: a key `a:b:c` (separator `:`) counts towards the prefixes `a:` and `a:b:` (the
 * last segment is the key's own name), down to `depth` levels. Segments of digits only are ids:
 * `user:42:name` counts under `user:` and `user:*:` (unless `collapseIds` is false). Each level keeps at most
 * `prefixCap` prefixes; when a level overflows, its lighter half (by bytes) is evicted together
 * with their descendants, and what they had counted is left to their parent's `other` bucket (the
 * root's for level 1). A prefix evicted and seen again counts from then on. So every node's
 * `keys`/`bytes` equal its children's plus its `other`, and the root's equal the totals; `other`
 * holds keys that end at that level (no further separator) and evicted prefixes, and
 * `evictedPrefixes` says how many were evicted.
 */
import type { LogicalType } from '../../native-free-parser/index.js';
import { jsonBytes, type JsonBytes } from '../format/jsonl.js';
import type { LargeKey } from '../pipelines/inspect.js';

export interface Count {
  keys: number;
  bytes: number;
}

/** One key of a top-N list: inspect's LargeKey with its element count and expiry. */
export interface TopKey extends LargeKey {
  elements: number;
  /** Unix ms, or null. */
  expireAt: number | null;
}

export interface PrefixNode extends Count {
  /** The prefix including its trailing separator, as JSONL bytes (text, or {b64}). */
  prefix: JsonBytes;
  /** The heaviest children (by bytes), at most `maxChildren`. */
  children: PrefixNode[];
  /** Child prefixes left out of `children` beyond `maxChildren`; their counts are in `other`. */
  foldedChildren: number;
  /**
   * Keys under this prefix in no listed child: keys with no further separator, children folded
   * beyond `maxChildren`, and prefixes evicted under the per-level cap.
   */
  other: Count;
}

export type TtlBucket = 'none' | 'expired' | 'lt1h' | 'lt1d' | 'lt7d' | 'lt30d' | 'longer';
export const TTL_BUCKETS: readonly TtlBucket[] = ['none', 'expired', 'lt1h', 'lt1d', 'lt7d', 'lt30d', 'longer'];

export interface MemoryReport {
  /** The `--now` instant the TTL histogram uses, Unix ms. */
  now: number;
  /** Per input: its RDB version, the version estimated for, keys kept, estimated bytes, file size. */
  files: Array<{ file: string; rdbVersion: number; targetVersion: number; keys: number; bytes: number; sizeBytes: number }>;
  total: Count & {
    /** Bytes of the expires-dictionary entries of keys with a TTL (not in MEMORY USAGE, not in `bytes`). */
    expiryBytes: number;
  };
  /** Per (target) database, then per type. */
  perDb: Record<string, Count & { types: Record<string, Count> }>;
  perType: Record<string, Count>;
  /** Encodings per type, as the target would use them. */
  encodings: Record<string, Record<string, Count>>;
  top: number;
  biggestByMemory: TopKey[];
  /** Collections only (strings have no elements). */
  biggestByElements: TopKey[];
  ttl: Record<TtlBucket, Count>;
  prefixes: {
    separator: string;
    depth: number;
    /** Prefixes kept per level at most. */
    cap: number;
    /** Prefixes evicted under the cap (their counts are in their parent's `other`). */
    evictedPrefixes: number;
    /** Children listed per node at most (the rest are folded into `other`). */
    maxChildren: number;
    /** Digit-only segments were counted as `*`. */
    collapseIds: boolean;
    root: Omit<PrefixNode, 'prefix'>;
  };
}

export interface ReportOptions {
  now: number;
  top?: number;
  separator?: string;
  depth?: number;
  prefixCap?: number;
  /** Children listed per prefix node. Default 50. */
  maxChildren?: number;
  /** Count segments of digits only (ids) under one `*` segment: `user:*:`. Default true. */
  collapseIds?: boolean;
}

export interface ReportKey {
  file?: string | undefined;
  db: number;
  key: Uint8Array;
  type: LogicalType;
  encoding: string;
  bytes: number;
  expiryBytes: number;
  elements: number;
  expireAt: number;
}

interface HeapItem {
  rank: number;
  seq: number;
  k: ReportKey;
}

/**
 * A min-heap of at most `size` items by rank (ties: the earlier key ranks higher), so the N
 * largest are kept in O(log N) per key.
 */
class TopHeap {
  private readonly a: HeapItem[] = [];
  constructor(private readonly size: number) {}

  /** Smaller = evicted first: lower rank, or equal rank and later arrival. */
  private less(x: HeapItem, y: HeapItem): boolean {
    return x.rank < y.rank || (x.rank === y.rank && x.seq > y.seq);
  }

  wants(rank: number): boolean {
    return this.size > 0 && (this.a.length < this.size || rank > this.a[0]!.rank);
  }

  push(item: HeapItem): void {
    const a = this.a;
    if (a.length < this.size) {
      a.push(item);
      let i = a.length - 1;
      while (i > 0) {
        const p = (i - 1) >> 1;
        if (!this.less(a[i]!, a[p]!)) break;
        [a[i], a[p]] = [a[p]!, a[i]!];
        i = p;
      }
      return;
    }
    if (!this.less(a[0]!, item)) return;
    a[0] = item;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < a.length && this.less(a[l]!, a[m]!)) m = l;
      if (r < a.length && this.less(a[r]!, a[m]!)) m = r;
      if (m === i) break;
      [a[i], a[m]] = [a[m]!, a[i]!];
      i = m;
    }
  }

  /** Largest first. */
  sorted(): HeapItem[] {
    return [...this.a].sort((x, y) => (this.less(x, y) ? 1 : this.less(y, x) ? -1 : 0));
  }
}

interface Level {
  /** Prefix (latin1 string of its bytes) -> counts. */
  map: Map<string, Count>;
}

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

function count(): Count {
  return { keys: 0, bytes: 0 };
}

function add(c: Count, bytes: number): void {
  c.keys++;
  c.bytes += bytes;
}

const latin1Slice = Buffer.prototype.latin1Slice as (this: Uint8Array, start: number, end: number) => string;

/** Bytes as a latin1 string (one char per byte): a cheap, binary-safe Map key. */
function latin1(b: Uint8Array): string {
  return latin1Slice.call(b, 0, b.length);
}

export class ReportBuilder {
  readonly now: number;
  readonly top: number;
  readonly separator: string;
  readonly depth: number;
  readonly cap: number;
  readonly maxChildren: number;
  readonly collapseIds: boolean;
  private readonly sep: Uint8Array;
  /** The separator's bytes as a latin1 string, as prefixes are kept. */
  private readonly sepL: string;
  private readonly total = { keys: 0, bytes: 0, expiryBytes: 0 };
  private readonly perDb = new Map<number, Count & { types: Map<string, Count> }>();
  private readonly perType = new Map<string, Count>();
  private readonly encodings = new Map<string, Map<string, Count>>();
  private readonly byMemory: TopHeap;
  private readonly byElements: TopHeap;
  private readonly ttl = new Map<TtlBucket, Count>(TTL_BUCKETS.map((b) => [b, count()]));
  private readonly levels: Level[];
  private evicted = 0;
  /** encoding -> type -> db -> the counts `slot` gives. */
  private readonly slots = new Map<string, Map<string, Map<number, Count[]>>>();
  /** Per level: hash of a prefix's bytes -> its bytes and counts (the lookup without a string). */
  private readonly fast: Array<Map<number, { bytes: Uint8Array; count: Count }>>;
  private scratch = new Uint8Array(256);
  private seq = 0;
  readonly files: MemoryReport['files'] = [];

  constructor(opts: ReportOptions) {
    this.now = opts.now;
    this.top = opts.top ?? 20;
    this.separator = opts.separator ?? ':';
    this.depth = opts.depth ?? 3;
    this.cap = opts.prefixCap ?? 10_000;
    this.maxChildren = opts.maxChildren ?? 50;
    this.collapseIds = opts.collapseIds ?? true;
    this.sep = new TextEncoder().encode(this.separator);
    this.sepL = latin1(this.sep);
    this.byMemory = new TopHeap(this.top);
    this.byElements = new TopHeap(this.top);
    this.levels = Array.from({ length: this.depth }, () => ({ map: new Map() }));
    this.fast = Array.from({ length: this.depth }, () => new Map());
  }

  add(k: ReportKey): void {
    const b = k.bytes;
    this.total.keys++;
    this.total.bytes += b;
    this.total.expiryBytes += k.expiryBytes;
    // The four counts a (db, type, encoding) adds to, found through one cache.
    let byType = this.slots.get(k.encoding);
    if (byType === undefined) this.slots.set(k.encoding, (byType = new Map()));
    let byDb = byType.get(k.type);
    if (byDb === undefined) byType.set(k.type, (byDb = new Map()));
    let slot = byDb.get(k.db);
    if (slot === undefined) byDb.set(k.db, (slot = this.slot(k.db, k.type, k.encoding)));
    add(slot[0]!, b);
    add(slot[1]!, b);
    add(slot[2]!, b);
    add(slot[3]!, b);
    add(this.ttl.get(this.ttlBucket(k.expireAt))!, b);
    const seq = this.seq++;
    if (this.byMemory.wants(b)) this.byMemory.push({ rank: b, seq, k });
    if (k.type !== 'string' && this.byElements.wants(k.elements)) this.byElements.push({ rank: k.elements, seq, k });
    this.addPrefixes(k.key, b);
  }

  /** The per-db, per-db-and-type, per-type and per-encoding counts of a key (created on first use). */
  private slot(db: number, type: string, encoding: string): Count[] {
    let d = this.perDb.get(db);
    if (d === undefined) {
      d = { keys: 0, bytes: 0, types: new Map() };
      this.perDb.set(db, d);
    }
    let dt = d.types.get(type);
    if (dt === undefined) d.types.set(type, (dt = count()));
    let t = this.perType.get(type);
    if (t === undefined) this.perType.set(type, (t = count()));
    let e = this.encodings.get(type);
    if (e === undefined) this.encodings.set(type, (e = new Map()));
    let ec = e.get(encoding);
    if (ec === undefined) e.set(encoding, (ec = count()));
    return [d, dt, t, ec];
  }

  ttlBucket(expireAt: number): TtlBucket {
    if (expireAt < 0) return 'none';
    const left = expireAt - this.now;
    if (left <= 0) return 'expired';
    if (left < HOUR) return 'lt1h';
    if (left < DAY) return 'lt1d';
    if (left < 7 * DAY) return 'lt7d';
    if (left < 30 * DAY) return 'lt30d';
    return 'longer';
  }

  private addPrefixes(key: Uint8Array, bytes: number): void {
    const sep = this.sep;
    const sl = sep.length;
    if (sl === 0 || this.depth === 0) return;
    let from = 0;
    // The prefix so far as bytes (digit-only segments as `*`): its latin1 string is the level's
    // map key. `h` hashes those bytes, for the per-level cache that spares building that string.
    let n = 0;
    let h = 0x811c9dc5;
    for (let level = 0; level < this.depth; level++) {
      const at = indexOf(key, sep, from);
      if (at < 0) return;
      const end = at + sl;
      // A prefix that is the whole key (the key ends with the separator) is still a prefix of nothing else.
      if (end >= key.length) return;
      if (n + (end - from) + 1 > this.scratch.length) {
        const grown = new Uint8Array(2 * (n + (end - from) + 1));
        grown.set(this.scratch.subarray(0, n));
        this.scratch = grown;
      }
      const buf = this.scratch;
      if (this.collapseIds && isDigits(key, from, at)) {
        buf[n++] = 0x2a;
        h = Math.imul(h ^ 0x2a, 0x01000193);
        for (let i = 0; i < sl; i++) h = Math.imul(h ^ (buf[n++] = sep[i]!), 0x01000193);
      } else {
        for (let i = from; i < end; i++) h = Math.imul(h ^ (buf[n++] = key[i]!), 0x01000193);
      }
      const fast = this.fast[level]!;
      const hit = fast.get(h);
      let c: Count | undefined;
      if (hit !== undefined && sameBytes(hit.bytes, buf, n)) {
        c = hit.count;
      } else {
        const p = latin1Slice.call(buf, 0, n);
        const lv = this.levels[level]!;
        c = lv.map.get(p);
        if (c === undefined) {
          lv.map.set(p, (c = count()));
          if (lv.map.size > this.cap) {
            this.evict(level);
            // The cache may point at evicted counts: start it over.
            for (const f of this.fast) f.clear();
            if (!lv.map.has(p)) c = undefined;
          }
        }
        if (c !== undefined && hit === undefined && fast.size < 4 * this.cap) fast.set(h, { bytes: buf.slice(0, n), count: c });
      }
      if (c !== undefined) add(c, bytes);
      from = end;
    }
  }

  /** Evicts the lighter half of a level and every descendant of what it evicts. */
  private evict(level: number): void {
    const lv = this.levels[level]!;
    const entries = [...lv.map.entries()].sort((a, b) => b[1].bytes - a[1].bytes || b[1].keys - a[1].keys);
    const keep = Math.floor(this.cap / 2);
    const gone = entries.slice(keep).map(([p]) => p);
    this.evicted += gone.length;
    for (const p of gone) lv.map.delete(p);
    const goneSet = new Set(gone);
    for (let d = level + 1; d < this.depth; d++) {
      for (const p of [...this.levels[d]!.map.keys()]) {
        if (goneSet.has(ancestor(p, this.sepL, level + 1))) {
          this.levels[d]!.map.delete(p);
          this.evicted++;
        }
      }
    }
  }

  addFile(f: MemoryReport['files'][number]): void {
    this.files.push(f);
  }

  finish(): MemoryReport {
    const topKey = (h: HeapItem): TopKey => ({
      ...(h.k.file !== undefined ? { file: h.k.file } : {}),
      db: h.k.db,
      key: jsonBytes(h.k.key),
      type: h.k.type,
      encoding: h.k.encoding,
      bytes: h.k.bytes,
      elements: h.k.elements,
      expireAt: h.k.expireAt < 0 ? null : h.k.expireAt,
    });
    const perDb: MemoryReport['perDb'] = {};
    for (const [db, c] of [...this.perDb].sort((a, b) => a[0] - b[0])) {
      perDb[String(db)] = { keys: c.keys, bytes: c.bytes, types: Object.fromEntries([...c.types].sort((a, b) => b[1].bytes - a[1].bytes)) };
    }
    const encodings: MemoryReport['encodings'] = {};
    for (const [type, m] of this.encodings) encodings[type] = Object.fromEntries([...m].sort((a, b) => b[1].keys - a[1].keys));
    return {
      now: this.now,
      files: this.files,
      total: { ...this.total },
      perDb,
      perType: Object.fromEntries([...this.perType].sort((a, b) => b[1].bytes - a[1].bytes)),
      encodings,
      top: this.top,
      biggestByMemory: this.byMemory.sorted().map(topKey),
      biggestByElements: this.byElements.sorted().map(topKey),
      ttl: Object.fromEntries(TTL_BUCKETS.map((b) => [b, { ...this.ttl.get(b)! }])) as Record<TtlBucket, Count>,
      prefixes: {
        separator: this.separator,
        depth: this.depth,
        cap: this.cap,
        evictedPrefixes: this.evicted,
        maxChildren: this.maxChildren,
        collapseIds: this.collapseIds,
        root: this.tree(),
      },
    };
  }

  /** Builds the tree from the per-level maps; `other` = own counts minus the children's. */
  private tree(): Omit<PrefixNode, 'prefix'> {
    const nodes: Array<Map<string, PrefixNode>> = this.levels.map((lv) => {
      const m = new Map<string, PrefixNode>();
      for (const [p, c] of lv.map) {
        m.set(p, { prefix: jsonBytes(Buffer.from(p, 'latin1')), keys: c.keys, bytes: c.bytes, children: [], foldedChildren: 0, other: count() });
      }
      return m;
    });
    const root: Omit<PrefixNode, 'prefix'> = { keys: this.total.keys, bytes: this.total.bytes, children: [], foldedChildren: 0, other: count() };
    for (let d = 0; d < nodes.length; d++) {
      for (const [p, n] of nodes[d]!) {
        const parent = d === 0 ? root : nodes[d - 1]!.get(ancestor(p, this.sepL, d));
        // Evictions remove descendants with their ancestors, so a parent is always there.
        if (parent !== undefined) parent.children.push(n);
      }
    }
    const settle = (n: Omit<PrefixNode, 'prefix'>): void => {
      let keys = 0;
      let bytes = 0;
      for (const c of n.children) {
        settle(c);
        keys += c.keys;
        bytes += c.bytes;
      }
      n.children.sort((a, b) => b.bytes - a.bytes || b.keys - a.keys);
      if (n.children.length > this.maxChildren) {
        const folded = n.children.splice(this.maxChildren);
        n.foldedChildren = folded.length;
        for (const c of folded) {
          keys -= c.keys;
          bytes -= c.bytes;
        }
      }
      n.other = { keys: n.keys - keys, bytes: n.bytes - bytes };
    };
    settle(root);
    return root;
  }
}

/** The first `levels` segments of prefix `p` (with their separators). */
function ancestor(p: string, sep: string, levels: number): string {
  let at = 0;
  for (let i = 0; i < levels; i++) {
    const j = p.indexOf(sep, at);
    if (j < 0) return p;
    at = j + sep.length;
  }
  return p.slice(0, at);
}

/** `a` equals `b[0..n)`. */
function sameBytes(a: Uint8Array, b: Uint8Array, n: number): boolean {
  if (a.length !== n) return false;
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** `b[s..e)` is a non-empty run of ASCII digits (an id segment). */
function isDigits(b: Uint8Array, s: number, e: number): boolean {
  if (s >= e) return false;
  for (let i = s; i < e; i++) if (b[i]! < 0x30 || b[i]! > 0x39) return false;
  return true;
}

function indexOf(hay: Uint8Array, needle: Uint8Array, from: number): number {
  const n = needle.length;
  const first = needle[0]!;
  outer: for (let i = hay.indexOf(first, from); i >= 0 && i + n <= hay.length; i = hay.indexOf(first, i + 1)) {
    for (let j = 1; j < n; j++) if (hay[i + j] !== needle[j]) continue outer;
    return i;
  }
  return -1;
}
