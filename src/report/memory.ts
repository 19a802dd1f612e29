/**
 * Memory estimate per key: what a key would take in a Redis server of a given version, modelled on
 * what `MEMORY USAGE key SAMPLES 0` reports there (`objectComputeSize` plus the key's sds and its
 * dict entry, redis `src/object.c`).
 *
 * The estimate follows what the target server does on load (redis `src/rdb.c` `rdbLoadObject`):
 * which encoding it picks for the value by its thresholds (hash-max-listpack-entries/value,
 * set-max-intset-entries, set-max-listpack-entries/value (7.2+), zset-max-listpack-entries/value,
 * list-max-listpack-size), how it converts older encodings (zipmap, ziplist, linked list) and how
 * big the resulting structures are: robj 16, dict 56 + 8 per bucket (a power of two >= the size),
 * dictEntry 24, sds headers by length class, quicklist 40 + node 40, skiplist nodes at the expected
 * level distribution (p = 1/4), stream rax nodes counted from the node IDs, all allocations rounded
 * to jemalloc's size classes (4 per doubling above 128 bytes; a 16-byte quantum below, or 8 with
 * Redis's bundled jemalloc: `MemoryModelOptions.jemallocQuantum`).
 *
 * The expires dictionary entry of a key with a TTL is not part of MEMORY USAGE; it is reported
 * apart (`KeyMemory.expiryBytes`) so totals for capacity planning can add it.
 *
 * Values are never decoded into JS objects here: the estimator walks the serialized payload, reading
 * only lengths, integer forms and listpack/ziplist entry headers; LZF-compressed blobs are inflated
 * only when their entries must be looked at.
 */
// The codec's modules themselves, not its index: a worker thread loads only what it runs.
import * as rdb from '../../native-free-parser/constants.js';
import { formatDoubleG17, formatDoubleShortest } from '../../native-free-parser/doubles.js';
import { CorruptError } from '../../native-free-parser/errors.js';
import { lzfDecompressScratch } from '../../native-free-parser/lzf.js';
import { listpackWalk, listpackWalkPreloaded, lzfWalkListpack } from '../../native-free-parser/lzf-wasm.js';
import type { KeyRecord } from '../../native-free-parser/model.js';

/** The server's encoding thresholds (its redis.conf settings). Defaults are Redis's. */
export interface EncodingConfig {
  hashMaxListpackEntries: number;
  hashMaxListpackValue: number;
  setMaxIntsetEntries: number;
  /** Redis 7.2+. */
  setMaxListpackEntries: number;
  /** Redis 7.2+. */
  setMaxListpackValue: number;
  zsetMaxListpackEntries: number;
  zsetMaxListpackValue: number;
  /** Negative: node size limit -1 4 KB .. -5 64 KB; positive: entries per node. */
  listMaxListpackSize: number;
}

export const DEFAULT_ENCODING_CONFIG: Readonly<EncodingConfig> = {
  hashMaxListpackEntries: 128,
  hashMaxListpackValue: 64,
  setMaxIntsetEntries: 512,
  setMaxListpackEntries: 128,
  setMaxListpackValue: 64,
  zsetMaxListpackEntries: 128,
  zsetMaxListpackValue: 64,
  listMaxListpackSize: -2,
};

/** How the target server was built (not a redis.conf setting). */
export interface MemoryModelOptions {
  /**
   * jemalloc's quantum. 16 (default): a server linking the system libjemalloc, as Debian's and
   * Ubuntu's redis-server packages do. 8: a server built from Redis's sources with its bundled
   * jemalloc (`make`, the official Docker images), whose size classes below 64 bytes are 8 apart.
   */
  jemallocQuantum?: 8 | 16;
}

/** The facts about a target server version the estimate uses. */
export interface MemoryModel {
  /** The RDB version the target writes (10 = Redis 7.0, 11 = 7.2, 12 = 7.4+). */
  targetRdbVersion: number;
  /** The Redis release line modelled, e.g. "7.0". */
  server: string;
  config: EncodingConfig;
  /** jemalloc's quantum: 16 (a system libjemalloc, the default) or 8 (Redis's bundled jemalloc). */
  jemallocQuantum: 8 | 16;
  /** Sets may be listpacks (7.2+). */
  setListpack: boolean;
  /** A list that fits one node is a plain listpack (7.2+); before, always a quicklist. */
  listListpack: boolean;
  /** Listpacks (7.0+) rather than ziplists; names only, sizes are computed as listpacks. */
  listpackNames: boolean;
  /** Quicklists (3.2+) rather than linked lists / ziplists for lists. */
  hasQuicklist: boolean;
  /** sds type limits of 7.2+ (header counted in the 8/16-bit classes). */
  sds72: boolean;
  /** Structure sizes, bytes (x86-64). */
  robj: number;
  dict: number;
  dictEntry: number;
  quicklist: number;
  quicklistNode: number;
  zset: number;
  zskiplist: number;
  /** Allocated size of a skiplist header (32 levels). */
  zslHeader: number;
  stream: number;
  streamCG: number;
  streamConsumer: number;
  streamNACK: number;
  /** Expected allocated size of a skiplist node without levels beyond the first, averaged over levels. */
  zslNodeAvg: number;
  /** Node byte limit of a quicklist node (list-max-listpack-size < 0), or 0 when a count limit applies. */
  listNodeBytes: number;
  /** Entry limit per quicklist node when list-max-listpack-size > 0. */
  listNodeCount: number;
}

/** What a key takes. */
export interface KeyMemory {
  /** Estimated bytes, as `MEMORY USAGE key SAMPLES 0` on the target would report. */
  bytes: number;
  /** The encoding the target would use (OBJECT ENCODING's names). */
  encoding: string;
  /** Elements: list/set entries, hash fields, zset members, stream entries; a string's length (redis-rdb-tools' convention). */
  elements: number;
  /**
   * Length of the longest element (member, field or value; a string's length; a stream's largest
   * node's bytes); -1 when not computed (KeyMemoryOptions.largestElement false).
   */
  largestElement: number;
  /** The expires-dictionary entry of a key with a TTL (not part of MEMORY USAGE); 0 without TTL. */
  expiryBytes: number;
}

/**
 * jemalloc's allocation size for a request of `n` bytes. `quantum` 16 is jemalloc's default on
 * x86-64 (distribution packages linking the system libjemalloc: 8, 16, 32, 48, 64, ...); 8 is how
 * Redis builds its bundled jemalloc (`--with-lg-quantum=3`, deps/Makefile: 8, 16, 24, 32, 40, ...).
 * Above 64 bytes both have the same classes.
 */
export function sizeClass(n: number, quantum: 8 | 16 = 16): number {
  if (n <= 8) return 8;
  if (quantum === 8 && n <= 64) return (n + 7) & ~7;
  if (n <= 128) return (n + 15) & ~15;
  // (2^k, 2^(k+1)] is split in four steps of 2^(k-2).
  const k = n - 1 < 0x80000000 ? 31 - Math.clz32(n - 1) : Math.floor(Math.log2(n - 1));
  const step = 2 ** (k - 2);
  return Math.ceil(n / step) * step;
}

/** The quantum of the model being estimated (set by keyMemory; memoryModel passes its own). */
let Q: 8 | 16 = 16;

/** sizeClass under the current model's quantum. */
function sc(n: number, quantum: 8 | 16 = Q): number {
  return sizeClass(n, quantum);
}

/** Skiplist node sizes: 24 bytes + 16 per level; level L has probability 0.75 * 0.25^(L-1). */
function skiplistNodeAverage(quantum: 8 | 16): number {
  let avg = 0;
  let p = 0.75;
  for (let level = 1; level <= 32; level++) {
    avg += p * sc(24 + 16 * level, quantum);
    p *= 0.25;
  }
  return avg;
}

const SERVER_FOR_RDB: Record<number, string> = {
  1: '2.0', 2: '2.4', 3: '2.6', 4: '2.6', 5: '2.6', 6: '2.8', 7: '3.2', 8: '4.0', 9: '6.2', 10: '7.0', 11: '7.2', 12: '7.4',
};

/**
 * The model of a server writing RDB version `targetRdbVersion` (Valkey 9's 80 is modelled as 7.2),
 * with its encoding settings (`config` overrides Redis's defaults).
 */
export function memoryModel(targetRdbVersion: number, config: Partial<EncodingConfig> = {}, options: MemoryModelOptions = {}): MemoryModel {
  const quantum = options.jemallocQuantum ?? 16;
  const v = targetRdbVersion >= 80 ? 11 : Math.max(1, Math.min(12, Math.floor(targetRdbVersion)));
  const cfg: EncodingConfig = { ...DEFAULT_ENCODING_CONFIG, ...config };
  const fill = cfg.listMaxListpackSize;
  const levels = [4096, 8192, 16384, 32768, 65536];
  return {
    targetRdbVersion: v,
    server: SERVER_FOR_RDB[v] ?? '7.4',
    config: cfg,
    jemallocQuantum: quantum,
    setListpack: v >= 11,
    listListpack: v >= 11,
    listpackNames: v >= 10,
    hasQuicklist: v >= 7,
    sds72: v >= 11,
    robj: 16,
    // Before 7.0 a dict held two dictht structs (table, size, sizemask, used) plus type, privdata,
    // rehashidx and iterators.
    dict: v >= 10 ? 56 : 96,
    dictEntry: 24,
    quicklist: 40,
    // 7.0 made the node's byte size a size_t: 3 pointers, sz, 32 bits of flags, padded.
    quicklistNode: v >= 10 ? 40 : 32,
    zset: 16,
    zskiplist: 32,
    zslHeader: sc(24 + 32 * 16, quantum),
    stream: v >= 10 ? 80 : 48,
    streamCG: v >= 10 ? 40 : 32,
    streamConsumer: v >= 11 ? 32 : 24,
    streamNACK: 24,
    zslNodeAvg: skiplistNodeAverage(quantum),
    listNodeBytes: fill < 0 ? levels[Math.min(-fill - 1, levels.length - 1)]! : 0,
    listNodeCount: fill > 0 ? fill : 0,
  };
}

// ---- sizes of Redis structures -------------------------------------------------------------

/** Header bytes of an sds of length `len` (sdsReqType). */
function sdsHeader(len: number, m: MemoryModel): number {
  if (len < 32) return 1;
  if (m.sds72) {
    if (len <= 256 - 3 - 1) return 3;
    if (len <= 65536 - 5 - 1) return 5;
    return len <= 4294967296 - 9 - 1 ? 9 : 17;
  }
  if (len < 256) return 3;
  if (len < 65536) return 5;
  return len < 4294967296 ? 9 : 17;
}

/** Allocated size of an sds holding `len` bytes (sdsZmallocSize). */
export function sdsSize(len: number, m: MemoryModel): number {
  return sc(sdsHeader(len, m) + len + 1, m.jemallocQuantum);
}

/** Buckets of a dict holding `n` entries: a power of two, at least 4. */
function dictBuckets(n: number): number {
  if (n <= 4) return 4;
  return 2 ** Math.ceil(Math.log2(n));
}

/**
 * A dict's bucket arrays as entries are added one by one (redis `src/dict.c`): explicit expands,
 * growth to the next power of two when full, and incremental rehashing, one bucket per add, which
 * may still be under way at the end (then both tables count, as `dictSlots` counts them). A
 * rehash step moves one non-empty bucket; the old table's non-empty buckets are estimated for
 * uniformly hashed keys.
 */
class DictSim {
  size0 = 0;
  used0 = 0;
  size1 = 0;
  used1 = 0;
  /** Non-empty buckets of table 0 left to move while rehashing. */
  steps = 0;

  get rehashing(): boolean {
    return this.size1 > 0;
  }

  get buckets(): number {
    return this.size0 + this.size1;
  }

  expand(size: number): void {
    if (this.rehashing || this.used0 > size) return;
    const ns = dictBuckets(size);
    if (ns === this.size0) return;
    if (this.size0 === 0) {
      this.size0 = ns;
      return;
    }
    this.size1 = ns;
    this.steps = Math.round(this.size0 * (1 - Math.exp(-this.used0 / this.size0)));
  }

  private step(): void {
    if (this.used0 > 0 && this.steps > 0) {
      const moved = Math.min(this.used0, Math.max(1, Math.round(this.used0 / this.steps)));
      this.used0 -= moved;
      this.used1 += moved;
      this.steps--;
      if (this.steps === 0) {
        this.used1 += this.used0;
        this.used0 = 0;
      }
    }
    if (this.used0 === 0) {
      this.size0 = this.size1;
      this.used0 = this.used1;
      this.size1 = 0;
      this.used1 = 0;
    }
  }

  add(): void {
    if (this.rehashing) this.step();
    if (!this.rehashing) {
      if (this.size0 === 0) this.expand(4);
      else if (this.used0 >= this.size0) this.expand(this.used0 + 1);
    }
    if (this.rehashing) this.used1++;
    else this.used0++;
  }
}

/** Listpack entry bytes (encoding + data + backlen) of an integer value. */
function lpIntEntry(v: number): number {
  if (v >= 0 && v <= 127) return 2;
  if (v >= -4096 && v <= 4095) return 3;
  if (v >= -32768 && v <= 32767) return 4;
  if (v >= -8388608 && v <= 8388607) return 5;
  if (v >= -2147483648 && v <= 2147483647) return 6;
  return 10;
}

/** Listpack entry bytes of a string of `len` bytes that is not an integer. */
function lpStrEntry(len: number): number {
  const l = (len < 64 ? 1 : len < 4096 ? 2 : 5) + len;
  return l + (l <= 127 ? 1 : l < 16383 ? 2 : l < 2097151 ? 3 : l < 268435455 ? 4 : 5);
}

const LP_EMPTY = 7;

/** Decimal length of an integer. */
function digits(v: number): number {
  if (v < 0) return 1 + digits(-v);
  if (v < 10) return 1;
  if (v < 100) return 2;
  if (v < 1000) return 3;
  if (v < 10000) return 4;
  if (v < 100000) return 5;
  if (v < 1000000) return 6;
  let n = 7;
  let a = Math.floor(v / 1000000);
  while (a >= 10) {
    a = Math.floor(a / 10);
    n++;
  }
  return n;
}

// ---- payload walking -----------------------------------------------------------------------
// One payload at a time: module-level cursor state, no allocation per element.

let P: Uint8Array = new Uint8Array(0);
let pos = 0;
/** Absolute offset of P[0] in the input, for error offsets. */
let BASE = 0;
/** Last string read: its length as a string, and its integer value or NaN when it is not one. */
let sLen = 0;
let sInt = NaN;

function u8(): number {
  if (pos >= P.length) throw new RangeError('payload ended early');
  return P[pos++]!;
}

/** An RDB length (not a special encoding). */
function len(): number {
  const b = u8();
  const t = b >> 6;
  if (t === 0) return b & 0x3f;
  if (t === 1) return ((b & 0x3f) << 8) | u8();
  if (b === 0x80) {
    const v = ((P[pos]! << 24) | (P[pos + 1]! << 16) | (P[pos + 2]! << 8) | P[pos + 3]!) >>> 0;
    pos += 4;
    return v;
  }
  if (b === 0x81) {
    let v = 0;
    for (let i = 0; i < 8; i++) v = v * 256 + P[pos + i]!;
    pos += 8;
    return v;
  }
  throw new RangeError(`unexpected length byte ${b}`);
}

/**
 * Canonical decimal int64 in `b[s..e)` (Redis's string2ll), as a number (approximate past 2^53,
 * which only matters for its size class), or NaN.
 */
function intOf(b: Uint8Array, s: number, e: number): number {
  const n = e - s;
  if (n <= 0 || n > 20) return NaN;
  let i = s;
  const neg = b[i] === 0x2d;
  if (neg) i++;
  if (i === e) return NaN;
  const first = b[i]!;
  if (first === 0x30) return !neg && n === 1 ? 0 : NaN;
  if (first < 0x31 || first > 0x39) return NaN;
  const nd = e - i;
  if (nd > 19) return NaN;
  let v = 0;
  for (; i < e; i++) {
    const d = b[i]! - 0x30;
    if (d < 0 || d > 9) return NaN;
    v = v * 10 + d;
  }
  if (nd === 19) {
    // Compare with 9223372036854775807 / ...808 by text, the double is not exact there.
    const lim = neg ? '9223372036854775808' : '9223372036854775807';
    const start = neg ? s + 1 : s;
    for (let k = 0; k < 19; k++) {
      const c = b[start + k]!;
      const l = lim.charCodeAt(k);
      if (c < l) break;
      if (c > l) return NaN;
    }
  }
  return neg ? -v : v;
}

/** Reads an RDB string, setting sLen/sInt; returns [start, end) of raw bytes via sRaw*, or -1. */
let sRawStart = -1;
let sRawEnd = -1;
function str(): void {
  const b = P[pos]!;
  if (b >> 6 === 3) {
    pos++;
    const enc = b & 0x3f;
    sRawStart = -1;
    if (enc === rdb.ENC_INT8) {
      const v = (P[pos]! << 24) >> 24;
      pos += 1;
      sInt = v;
    } else if (enc === rdb.ENC_INT16) {
      const v = ((P[pos]! | (P[pos + 1]! << 8)) << 16) >> 16;
      pos += 2;
      sInt = v;
    } else if (enc === rdb.ENC_INT32) {
      const v = P[pos]! | (P[pos + 1]! << 8) | (P[pos + 2]! << 16) | (P[pos + 3]! << 24);
      pos += 4;
      sInt = v;
    } else if (enc === rdb.ENC_LZF) {
      const clen = len();
      const ulen = len();
      sRawStart = pos;
      pos += clen;
      sRawEnd = pos;
      // Checked before anything is inflated: a damaged length must not ask for memory.
      if (pos > P.length) throw new RangeError(`a compressed string of ${clen} bytes runs past the value`);
      sLen = ulen;
      sInt = NaN; // compressed strings are longer than 20 bytes: never integers
      lzfPending = clen;
      return;
    } else {
      throw new RangeError(`unknown string encoding ${enc}`);
    }
    sLen = digits(sInt);
    lzfPending = -1;
    return;
  }
  const n = len();
  sRawStart = pos;
  pos += n;
  sRawEnd = pos;
  if (pos > P.length) throw new RangeError(`a string of ${n} bytes runs past the value`);
  sLen = n;
  sInt = n <= 20 ? intOf(P, sRawStart, sRawEnd) : NaN;
  lzfPending = -1;
}
/** Compressed length of the last string when it was LZF, else -1. */
let lzfPending = -1;

/** The bytes of the last string read (inflated when compressed). */
function strBytes(): { buf: Uint8Array; start: number; end: number } {
  if (lzfPending >= 0) {
    // Into one reused buffer: no allocation per blob. Valid until the next strBytes: callers
    // walk it at once (and copy what they keep).
    const out = lzfDecompressScratch(P, sRawStart, sRawEnd, sLen, BASE + sRawStart);
    return { buf: out, start: 0, end: sLen };
  }
  return { buf: P, start: sRawStart, end: sRawEnd };
}

/** Whether the current estimate wants `largestElement` (inflating compressed listpacks for it). */
let wantLargest = true;

/**
 * Reads a listpack blob kept as it is: its byte length (returned) and its entries (wCount,
 * wLargest, wMaxEven, wMaxOdd). Without wantLargest its entries are not walked (nor, when it is
 * LZF-compressed, inflated): the count comes from the listpack header (inside the compressed
 * stream's first literal run), and the lengths are -1. A header count of 65535 means "unknown":
 * then the entries are walked after all.
 */
function listpackBlob(): number {
  str();
  const blobLen = sLen;
  if (!wantLargest) {
    // The header's count. A compressed stream starts with a literal run (nothing precedes it to
    // refer to): when it holds the 6 header bytes, the count is readable without inflating.
    let hs = sRawStart;
    if (lzfPending >= 0) hs = P[sRawStart]! < 32 && P[sRawStart]! + 1 >= 6 ? sRawStart + 1 : -1;
    if (hs >= 0) {
      const n = P[hs + 4]! | (P[hs + 5]! << 8);
      if (n !== 0xffff) {
        wCount = n;
        wLargest = -1;
        wMaxEven = -1;
        wMaxOdd = -1;
        return blobLen;
      }
    }
  }
  // In WebAssembly first (native-free-parser/lzf-wasm.ts): a compressed listpack is inflated and
  // walked there, a raw one in a buffer the caller preloaded (a span's records) walked in place.
  // What it leaves (a damaged stream or entry) is walked below.
  const n = lzfPending >= 0 ? lzfWalkListpack(P, sRawStart, sRawEnd, sLen) : listpackWalkPreloaded(P, sRawStart, sRawEnd);
  if (n >= 0) {
    if (lzfPending < 0) noteListpackCount(P, sRawStart, n);
    wCount = n;
    wLargest = listpackWalk.largest;
    wMaxEven = listpackWalk.maxEven;
    wMaxOdd = listpackWalk.maxOdd;
    return blobLen;
  }
  const z = strBytes();
  walkListpack(z.buf, z.start, z.end);
  return blobLen;
}

// ---- listpack / ziplist / intset / zipmap walking -------------------------------------------

/** Results of a blob walk. */
let wCount = 0;
/**
 * A walked blob's entries disagree with the count in its header, which is what the reader (and
 * Redis) take for its size, an empty one included: estimateValueAt leaves such a value to the
 * reader.
 */
let countDiffers = false;
let wLargest = 0;
/** Listpack bytes the entries would take re-encoded (for ziplist / zipmap conversion). */
let wLpBytes = 0;
/** Largest entry length (string length) of entries at even positions / odd positions. */
let wMaxEven = 0;
let wMaxOdd = 0;
/** Quicklist push simulation for list conversion: node sizes. */
let nodeSizes: number[] | null = null;

function u32le(b: Uint8Array, o: number): number {
  return (b[o]! | (b[o + 1]! << 8) | (b[o + 2]! << 16) | (b[o + 3]! << 24)) >>> 0;
}

/**
 * The JavaScript listpack walk as a function: entry count, longest entry as text, longest at even
 * and at odd positions (the WebAssembly walk, lzfWalkListpack, must give the same).
 */
export function listpackEntryStats(b: Uint8Array): { count: number; largest: number; maxEven: number; maxOdd: number } {
  walkListpack(b, 0, b.length);
  return { count: wCount, largest: wLargest, maxEven: wMaxEven, maxOdd: wMaxOdd };
}

/** Walks a listpack: count, largest element (string length), max lengths by parity. */
function walkListpack(b: Uint8Array, s: number, e: number): void {
  let p = s + 6;
  let count = 0;
  let largest = 0;
  let maxEven = 0;
  let maxOdd = 0;
  while (p < e) {
    const c = b[p]!;
    if (c === 0xff) break;
    let l: number; // element length as a string
    let entry: number; // encoding + data
    if (c < 0x80) {
      l = c < 10 ? 1 : c < 100 ? 2 : 3;
      entry = 1;
    } else if (c < 0xc0) {
      l = c & 0x3f;
      entry = 1 + l;
    } else if (c < 0xe0) {
      let v = ((c & 0x1f) << 8) | b[p + 1]!;
      if (v >= 4096) v -= 8192;
      l = digits(v);
      entry = 2;
    } else if (c < 0xf0) {
      l = ((c & 0x0f) << 8) | b[p + 1]!;
      entry = 2 + l;
    } else if (c === 0xf0) {
      l = u32le(b, p + 1);
      entry = 5 + l;
    } else if (c === 0xf1) {
      l = digits(((b[p + 1]! | (b[p + 2]! << 8)) << 16) >> 16);
      entry = 3;
    } else if (c === 0xf2) {
      l = digits(((b[p + 1]! | (b[p + 2]! << 8) | (b[p + 3]! << 16)) << 8) >> 8);
      entry = 4;
    } else if (c === 0xf3) {
      l = digits(b[p + 1]! | (b[p + 2]! << 8) | (b[p + 3]! << 16) | (b[p + 4]! << 24));
      entry = 5;
    } else if (c === 0xf4) {
      const lo = u32le(b, p + 1);
      const hi = (b[p + 5]! | (b[p + 6]! << 8) | (b[p + 7]! << 16) | (b[p + 8]! << 24));
      l = digits(hi * 4294967296 + lo);
      entry = 9;
    } else {
      throw new RangeError(`bad listpack entry byte ${c}`);
    }
    p += entry + (entry <= 127 ? 1 : entry < 16383 ? 2 : entry < 2097151 ? 3 : entry < 268435455 ? 4 : 5);
    if (l > largest) largest = l;
    if ((count & 1) === 0) {
      if (l > maxEven) maxEven = l;
    } else if (l > maxOdd) maxOdd = l;
    count++;
  }
  noteListpackCount(b, s, count);
  wCount = count;
  wLargest = largest;
  wMaxEven = maxEven;
  wMaxOdd = maxOdd;
}

/** Sets countDiffers when the listpack at `b[s]` has a header count (not 65535) other than `count`. */
function noteListpackCount(b: Uint8Array, s: number, count: number): void {
  const header = b[s + 4]! | (b[s + 5]! << 8);
  if (header !== 0xffff && header !== count) countDiffers = true;
}

/**
 * Walks a ziplist; computes what the entries take as listpack entries (wLpBytes), and when
 * `nodeSizes` is set, simulates quicklist pushes of each entry into nodes.
 */
function walkZiplist(b: Uint8Array, s: number, e: number, m: MemoryModel): void {
  let p = s + 10;
  let count = 0;
  let largest = 0;
  let lp = 0;
  let maxEven = 0;
  let maxOdd = 0;
  while (p < e) {
    if (b[p] === 0xff) break;
    p += b[p]! === 0xfe ? 5 : 1; // prevlen
    const c = b[p]!;
    let l: number;
    let lpe: number;
    const t = c >> 6;
    if (t !== 3) {
      let n: number;
      if (t === 0) {
        n = c & 0x3f;
        p += 1;
      } else if (t === 1) {
        n = ((c & 0x3f) << 8) | b[p + 1]!;
        p += 2;
      } else {
        n = ((b[p + 1]! << 24) | (b[p + 2]! << 16) | (b[p + 3]! << 8) | b[p + 4]!) >>> 0;
        p += 5;
      }
      const v = n <= 20 ? intOf(b, p, p + n) : NaN;
      l = n;
      lpe = v === v ? lpIntEntry(v) : lpStrEntry(n);
      p += n;
    } else {
      let v: number;
      if (c === 0xc0) {
        v = ((b[p + 1]! | (b[p + 2]! << 8)) << 16) >> 16;
        p += 3;
      } else if (c === 0xd0) {
        v = b[p + 1]! | (b[p + 2]! << 8) | (b[p + 3]! << 16) | (b[p + 4]! << 24);
        p += 5;
      } else if (c === 0xe0) {
        const lo = u32le(b, p + 1);
        const hi = (b[p + 5]! | (b[p + 6]! << 8) | (b[p + 7]! << 16) | (b[p + 8]! << 24));
        v = hi * 4294967296 + lo;
        p += 9;
      } else if (c === 0xf0) {
        v = ((b[p + 1]! | (b[p + 2]! << 8) | (b[p + 3]! << 16)) << 8) >> 8;
        p += 4;
      } else if (c === 0xfe) {
        v = (b[p + 1]! << 24) >> 24;
        p += 2;
      } else if (c >= 0xf1 && c <= 0xfd) {
        v = (c & 0x0f) - 1;
        p += 1;
      } else {
        throw new RangeError(`bad ziplist entry byte ${c}`);
      }
      l = digits(v);
      lpe = lpIntEntry(v);
    }
    if (nodeSizes !== null) pushList(l, lpe, m);
    lp += lpe;
    if (l > largest) largest = l;
    if ((count & 1) === 0) {
      if (l > maxEven) maxEven = l;
    } else if (l > maxOdd) maxOdd = l;
    count++;
  }
  const zllen = b[s + 8]! | (b[s + 9]! << 8);
  if (zllen !== 0xffff && zllen !== count) countDiffers = true;
  wCount = count;
  wLargest = largest;
  wLpBytes = lp;
  wMaxEven = maxEven;
  wMaxOdd = maxOdd;
}

/** Quicklist push simulation: the current (last) node's listpack bytes and count. */
let qlCur = 0;
let qlCurCount = 0;

/** quicklistPushTail of an element of string length `l` taking `lpe` listpack bytes. */
function pushList(l: number, lpe: number, m: MemoryModel): void {
  const SIZE_ESTIMATE_OVERHEAD = 11;
  let fits: boolean;
  if (qlCurCount === 0) fits = false;
  else if (m.listNodeBytes > 0) fits = qlCur + l + SIZE_ESTIMATE_OVERHEAD <= m.listNodeBytes;
  else fits = qlCurCount < m.listNodeCount && qlCur + l + SIZE_ESTIMATE_OVERHEAD <= 8192;
  if (!fits) {
    if (qlCurCount > 0) nodeSizes!.push(qlCur);
    qlCur = LP_EMPTY;
    qlCurCount = 0;
  }
  qlCur += lpe;
  qlCurCount++;
}

function startList(): void {
  nodeSizes = [];
  qlCur = 0;
  qlCurCount = 0;
}

function endList(): number[] {
  const n = nodeSizes!;
  if (qlCurCount > 0) n.push(qlCur);
  nodeSizes = null;
  return n;
}

/** Intset: count and widest value. */
function walkIntset(b: Uint8Array, s: number, e: number): void {
  const width = u32le(b, s);
  const n = u32le(b, s + 4);
  let largest = 0;
  // Sorted ascending: the longest decimal is at one of the ends.
  if (n > 0) {
    largest = Math.max(digits(intsetAt(b, s, width, 0)), digits(intsetAt(b, s, width, n - 1)));
  }
  if (n * width !== e - s - 8) countDiffers = true;
  wCount = n;
  wLargest = largest;
}

function intsetAt(b: Uint8Array, s: number, width: number, i: number): number {
  const o = s + 8 + i * width;
  if (width === 2) return ((b[o]! | (b[o + 1]! << 8)) << 16) >> 16;
  if (width === 4) return b[o]! | (b[o + 1]! << 8) | (b[o + 2]! << 16) | (b[o + 3]! << 24);
  const lo = u32le(b, o);
  const hi = b[o + 4]! | (b[o + 5]! << 8) | (b[o + 6]! << 16) | (b[o + 7]! << 24);
  return hi * 4294967296 + lo;
}

/** Where the zipmap length zipmapLen read last ends. */
let zmNext = 0;

/** A zipmap length at `p`: one byte below 254, else 254 and a 4-byte little-endian length. */
function zipmapLen(b: Uint8Array, p: number): number {
  const c = b[p]!;
  if (c < 254) {
    zmNext = p + 1;
    return c;
  }
  zmNext = p + 5;
  return u32le(b, p + 1);
}

/** Zipmap (Redis < 2.6 hashes): pairs, the listpack they become, longest field/value. */
function walkZipmap(b: Uint8Array, s: number, e: number): void {
  let p = s + 1;
  let count = 0;
  let largest = 0;
  let lp = 0;
  while (p < e && b[p] !== 0xff) {
    const fl = zipmapLen(b, p);
    p = zmNext;
    const fv = intOf(b, p, p + fl);
    lp += fv === fv ? lpIntEntry(fv) : lpStrEntry(fl);
    p += fl;
    const vl = zipmapLen(b, p);
    p = zmNext;
    const free = b[p]!;
    p += 1;
    const vv = vl <= 20 ? intOf(b, p, p + vl) : NaN;
    lp += vv === vv ? lpIntEntry(vv) : lpStrEntry(vl);
    p += vl + free;
    if (fl > largest) largest = fl;
    if (vl > largest) largest = vl;
    count++;
  }
  if (b[s]! < 254 && b[s] !== count) countDiffers = true;
  wCount = count;
  wLargest = largest;
  wLpBytes = lp;
}

// ---- the estimate --------------------------------------------------------------------------

/** Bytes of the db dict entry and the key's sds (what MEMORY USAGE adds to the value). */
function keyOverhead(keyLen: number, m: MemoryModel): number {
  return m.dictEntry + sdsSize(keyLen, m);
}

/** OBJECT ENCODING's name for a small hash / zset: listpack (7.0+) or ziplist. */
function packedName(m: MemoryModel): string {
  return m.listpackNames ? 'listpack' : 'ziplist';
}

/** A hash table set / hash of `n` entries whose per-entry sds sizes sum to `sdsBytes`. */
function dictObject(n: number, sdsBytes: number, m: MemoryModel): number {
  return m.robj + m.dict + 8 * dictBuckets(n) + n * m.dictEntry + sdsBytes;
}

function quicklistObject(nodes: readonly number[], m: MemoryModel): number {
  let s = m.robj + m.quicklist;
  for (const n of nodes) s += m.quicklistNode + sc(n);
  return s;
}

export interface KeyMemoryOptions {
  /**
   * Compute `largestElement` (default true). Without it, listpacks kept as they are (the common
   * case) are neither walked nor, when LZF-compressed, inflated: their element count comes from
   * their header, and `largestElement` is -1 for them. The byte estimate is the same either way.
   */
  largestElement?: boolean;
}

/**
 * Estimates the memory `rec` takes in a server described by `model`.
 * @throws RangeError when the payload is malformed (the reader validated its extent, not its inner bytes)
 */
export function keyMemory(rec: KeyRecord, model: MemoryModel, opts: KeyMemoryOptions = {}): KeyMemory {
  wantLargest = opts.largestElement !== false;
  P = rec.payload;
  pos = 0;
  BASE = rec.valueOffset;
  const m = model;
  Q = m.jemallocQuantum;
  const v = valueMemory(rec.type, m);
  P = EMPTY;
  return {
    // Skiplist levels are counted by their expectation: round the sum to whole bytes.
    bytes: Math.round(v.bytes + keyOverhead(rec.key.length, m)),
    encoding: v.encoding,
    elements: v.elements,
    largestElement: v.largestElement,
    expiryBytes: rec.expireAt >= 0 ? sc(m.dictEntry) + 8 : 0,
  };
}

/**
 * The estimate of the value of `type` that starts at `buf[start]`, for a caller that walks record
 * bytes itself (the memory CSV's span walk, src/pipelines/memory-span.ts): no record object, no
 * result object. The result is left in {@link valueEstimate} (`bytes` with the key's share,
 * rounded, for a key of `keyLen` bytes), valid until the next estimate; returns the offset just
 * past the value. Only for types whose extent the estimate walks exactly as the reader does
 * (not modules, streams or 7.4 hashes with field TTLs) and for bytes a reader has already walked:
 * the estimate stops at `buf`'s end, not at the value's. Returns -1 for a value to leave to the
 * reader: a blob whose entries disagree with its header's count (the reader's idea of its size).
 * @throws RangeError when the value is malformed (the reader's estimateKeyMemory then names it)
 */
export function estimateValueAt(buf: Uint8Array, start: number, type: number, keyLen: number, model: MemoryModel, largestElement: boolean): number {
  wantLargest = largestElement;
  P = buf;
  pos = start;
  BASE = 0;
  Q = model.jemallocQuantum;
  countDiffers = false;
  const v = valueMemory(type, model);
  v.bytes = Math.round(v.bytes + keyOverhead(keyLen, model));
  P = EMPTY;
  return countDiffers ? -1 : pos;
}

/** The value estimateValueAt computed last (one object, overwritten by every estimate). */
export const valueEstimate: Readonly<KeyMemory> = { bytes: 0, encoding: '', elements: 0, largestElement: 0, expiryBytes: 0 };

const EMPTY = new Uint8Array(0);

const WITH_LARGEST: KeyMemoryOptions = { largestElement: true };
const WITHOUT_LARGEST: KeyMemoryOptions = { largestElement: false };

/**
 * keyMemory for a reader: a payload whose inner structure is damaged (the reader checked only its
 * extent) becomes a CorruptError naming the key and the value's offset.
 */
export function estimateKeyMemory(rec: KeyRecord, model: MemoryModel, largestElement: boolean): KeyMemory {
  try {
    return keyMemory(rec, model, largestElement ? WITH_LARGEST : WITHOUT_LARGEST);
  } catch (err) {
    if (!(err instanceof RangeError)) throw err;
    const e = new CorruptError({ offset: rec.valueOffset, expected: `a well-formed value (${err.message})` });
    e.key = rec.key;
    throw e;
  }
}

/** Every estimate's result goes into this one object (no allocation per key); callers copy it. */
function result(bytes: number, encoding: string, elements: number, largest: number): KeyMemory {
  const r = valueEstimate as KeyMemory;
  r.bytes = bytes;
  r.encoding = encoding;
  r.elements = elements;
  r.largestElement = largest;
  return r;
}

function valueMemory(type: number, m: MemoryModel): KeyMemory {
  switch (type) {
    case rdb.TYPE_STRING: {
      str();
      if (sInt === sInt) return result(m.robj, 'int', sLen, sLen);
      if (sLen <= 44) return result(sc(m.robj + 3 + sLen + 1), 'embstr', sLen, sLen);
      return result(m.robj + sdsSize(sLen, m), 'raw', sLen, sLen);
    }
    case rdb.TYPE_LIST:
      return listElements(m);
    case rdb.TYPE_LIST_ZIPLIST: {
      str();
      const z = strBytes();
      startList();
      walkZiplist(z.buf, z.start, z.end, m);
      return listResult(endList(), wCount, wLargest, m);
    }
    case rdb.TYPE_LIST_QUICKLIST:
    case rdb.TYPE_LIST_QUICKLIST_2:
      return quicklistNodes(type, m);
    case rdb.TYPE_SET:
      return setElements(m);
    case rdb.TYPE_SET_INTSET: {
      str();
      const z = strBytes();
      walkIntset(z.buf, z.start, z.end);
      const count = wCount;
      if (count > m.config.setMaxIntsetEntries) {
        // setTypeConvert: every integer becomes an sds.
        const width = u32le(z.buf, z.start);
        let sds = 0;
        for (let i = 0; i < count; i++) sds += sdsSize(digits(intsetAt(z.buf, z.start, width, i)), m);
        return result(dictObject(count, sds, m), 'hashtable', count, wLargest);
      }
      return result(m.robj + sc(sLen), 'intset', count, wLargest);
    }
    case rdb.TYPE_SET_LISTPACK: {
      const blobLen = listpackBlob();
      if (m.setListpack && wCount <= m.config.setMaxListpackEntries) {
        return result(m.robj + sc(blobLen), 'listpack', wCount, wLargest);
      }
      const z = strBytes();
      return setFromListpack(z.buf, z.start, z.end, m);
    }
    case rdb.TYPE_ZSET:
    case rdb.TYPE_ZSET_2:
      return zsetElements(type === rdb.TYPE_ZSET_2, m);
    case rdb.TYPE_ZSET_ZIPLIST:
    case rdb.TYPE_ZSET_LISTPACK: {
      const lpBytes = pairsBlob(type === rdb.TYPE_ZSET_ZIPLIST, m);
      const pairs = wCount >>> 1;
      if (pairs > m.config.zsetMaxListpackEntries) {
        const z = strBytes();
        return zsetFromPacked(z.buf, z.start, z.end, type === rdb.TYPE_ZSET_ZIPLIST, pairs, m);
      }
      return result(m.robj + sc(lpBytes), packedName(m), pairs, wMaxEven);
    }
    case rdb.TYPE_HASH:
      return hashElements(m);
    case rdb.TYPE_HASH_ZIPMAP: {
      str();
      const z = strBytes();
      walkZipmap(z.buf, z.start, z.end);
      const pairs = wCount;
      if (pairs > m.config.hashMaxListpackEntries || wLargest > m.config.hashMaxListpackValue) {
        return hashFromPairs(z.buf, z.start, z.end, 'zipmap', pairs, m);
      }
      return result(m.robj + sc(LP_EMPTY + wLpBytes), packedName(m), pairs, wLargest);
    }
    case rdb.TYPE_HASH_ZIPLIST:
    case rdb.TYPE_HASH_LISTPACK: {
      const lpBytes = pairsBlob(type === rdb.TYPE_HASH_ZIPLIST, m);
      const pairs = wCount >>> 1;
      if (pairs > m.config.hashMaxListpackEntries) {
        const z = strBytes();
        return hashFromPairs(z.buf, z.start, z.end, type === rdb.TYPE_HASH_ZIPLIST ? 'ziplist' : 'listpack', pairs, m);
      }
      return result(m.robj + sc(lpBytes), packedName(m), pairs, wLargest);
    }
    case rdb.TYPE_HASH_LISTPACK_EX_PRE_GA:
    case rdb.TYPE_HASH_LISTPACK_EX: {
      if (type === rdb.TYPE_HASH_LISTPACK_EX) pos += 8;
      const blobLen = listpackBlob();
      const fields = Math.floor(wCount / 3);
      // The blob is kept as it is (only the entry limit is checked on load): the robj, the
      // listpackEx struct and the listpack.
      if (fields <= m.config.hashMaxListpackEntries) {
        let largest = wLargest;
        if (largest >= 0) {
          // The walk counted every entry, the TTLs (each third) too: the longest field or value.
          const t = strBytes();
          largest = 0;
          forEachPackedLength(t.buf, t.start, t.end, false, (l, i) => {
            if (i % 3 !== 2 && l > largest) largest = l;
          });
        }
        return result(m.robj + sc(LISTPACK_EX) + sc(blobLen), 'listpackex', fields, largest);
      }
      // Over the entry limit: hashTypeConvertListpackEx, a presized hashtable of (hfield, sds)
      // pairs; a field carries the expiry metadata only when it has a TTL. The TTL entry is
      // HASH_LP_NO_TTL (0, one digit) or a unix time in ms (many digits).
      const z = strBytes();
      let sds = 0;
      let largest = 0;
      let fieldLen = 0;
      forEachPackedLength(z.buf, z.start, z.end, false, (l, i) => {
        const k = i % 3;
        if (k === 0) fieldLen = l;
        else if (k === 1) sds += sdsSize(l, m);
        else sds += hfieldSize(fieldLen, l > 1);
        if (k !== 2 && l > largest) largest = l;
      });
      return result(dictObject(fields, sds, m), 'hashtable', fields, largest);
    }
    case rdb.TYPE_HASH_METADATA_PRE_GA:
    case rdb.TYPE_HASH_METADATA:
      return hashWithTtl(type === rdb.TYPE_HASH_METADATA, m);
    case rdb.TYPE_STREAM_LISTPACKS:
    case rdb.TYPE_STREAM_LISTPACKS_2:
    case rdb.TYPE_STREAM_LISTPACKS_3:
      return streamMemory(type, m);
    default:
      // Modules: the serialized size is the only measure here.
      return result(m.robj + sc(P.length), 'module', 1, P.length);
  }
}

/**
 * The blob of a packed hash or zset: a ziplist (walked; the listpack it becomes on load) or a
 * listpack (kept as it is). Returns the listpack's bytes; sets wCount, wLargest, wMaxEven.
 */
function pairsBlob(ziplist: boolean, m: MemoryModel): number {
  if (!ziplist) return listpackBlob();
  str();
  const z = strBytes();
  walkZiplist(z.buf, z.start, z.end, m);
  return LP_EMPTY + wLpBytes;
}

function listResult(nodes: readonly number[], count: number, largest: number, m: MemoryModel): KeyMemory {
  if (!m.hasQuicklist) {
    return result(m.robj + sc(nodes.reduce((a, b) => a + b, 0) - (nodes.length - 1) * LP_EMPTY), 'ziplist', count, largest);
  }
  if (m.listListpack && nodes.length === 1 && (m.listNodeBytes === 0 || nodes[0]! <= m.listNodeBytes)) {
    return result(m.robj + sc(nodes[0]!), 'listpack', count, largest);
  }
  return result(quicklistObject(nodes, m), 'quicklist', count, largest);
}

/** RDB_TYPE_LIST: elements pushed one by one into quicklist nodes. */
function listElements(m: MemoryModel): KeyMemory {
  const count = len();
  let largest = 0;
  startList();
  for (let i = 0; i < count; i++) {
    str();
    const e = sInt === sInt ? lpIntEntry(sInt) : lpStrEntry(sLen);
    pushList(sLen, e, m);
    if (sLen > largest) largest = sLen;
  }
  return listResult(endList(), count, largest, m);
}

/** Quicklist (ziplist nodes, v1) or quicklist 2 (listpack / plain nodes). */
function quicklistNodes(type: number, m: MemoryModel): KeyMemory {
  const nodes = len();
  const sizes: number[] = [];
  let count = 0;
  let largest = 0;
  let unknown = false;
  for (let i = 0; i < nodes; i++) {
    let container = rdb.QUICKLIST_NODE_PACKED;
    if (type === rdb.TYPE_LIST_QUICKLIST_2) container = len();
    const strStart = pos;
    str();
    if (container === rdb.QUICKLIST_NODE_PLAIN) {
      sizes.push(sLen);
      count++;
      if (sLen > largest) largest = sLen;
      continue;
    }
    if (type === rdb.TYPE_LIST_QUICKLIST) {
      const z = strBytes();
      walkZiplist(z.buf, z.start, z.end, m);
      if (wCount > 0) sizes.push(LP_EMPTY + wLpBytes);
    } else {
      pos = strStart;
      const blobLen = listpackBlob();
      if (wCount > 0) sizes.push(blobLen);
    }
    count += wCount;
    if (wLargest < 0) unknown = true;
    else if (wLargest > largest) largest = wLargest;
  }
  return listResult(sizes, count, unknown ? -1 : largest, m);
}

/** RDB_TYPE_SET: intset when all integers and few enough, listpack (7.2+), else hashtable. */
function setElements(m: MemoryModel): KeyMemory {
  const count = len();
  let allInt = true;
  let min = 0;
  let max = 0;
  let largest = 0;
  let sds = 0;
  let lp = 0;
  for (let i = 0; i < count; i++) {
    str();
    if (sInt === sInt) {
      if (sInt < min) min = sInt;
      if (sInt > max) max = sInt;
      lp += lpIntEntry(sInt);
    } else {
      allInt = false;
      lp += lpStrEntry(sLen);
    }
    sds += sdsSize(sLen, m);
    if (sLen > largest) largest = sLen;
  }
  const c = m.config;
  if (allInt && count <= c.setMaxIntsetEntries) {
    const width = min >= -32768 && max <= 32767 ? 2 : min >= -2147483648 && max <= 2147483647 ? 4 : 8;
    return result(m.robj + sc(8 + count * width), 'intset', count, largest);
  }
  if (m.setListpack && count <= c.setMaxListpackEntries && largest <= c.setMaxListpackValue) {
    return result(m.robj + sc(LP_EMPTY + lp), 'listpack', count, largest);
  }
  return result(dictObject(count, sds, m), 'hashtable', count, largest);
}

/** A listpack set over the target's limits: a hashtable of its members. */
function setFromListpack(b: Uint8Array, s: number, e: number, m: MemoryModel): KeyMemory {
  let sds = 0;
  let count = 0;
  let largest = 0;
  forEachPackedLength(b, s, e, false, (l) => {
    sds += sdsSize(l, m);
    if (l > largest) largest = l;
    count++;
  });
  return result(dictObject(count, sds, m), 'hashtable', count, largest);
}

/** Calls `fn` with each entry's string length of a listpack (or ziplist). */
function forEachPackedLength(b: Uint8Array, s: number, e: number, ziplist: boolean, fn: (l: number, index: number) => void): void {
  // Reuses the walkers by slicing entry by entry would cost more; decode lengths directly.
  let p = ziplist ? s + 10 : s + 6;
  let i = 0;
  while (p < e && b[p] !== 0xff) {
    let l: number;
    if (ziplist) {
      p += b[p]! === 0xfe ? 5 : 1;
      const c = b[p]!;
      const t = c >> 6;
      if (t === 0) {
        l = c & 0x3f;
        p += 1 + l;
      } else if (t === 1) {
        l = ((c & 0x3f) << 8) | b[p + 1]!;
        p += 2 + l;
      } else if (t === 2) {
        l = ((b[p + 1]! << 24) | (b[p + 2]! << 16) | (b[p + 3]! << 8) | b[p + 4]!) >>> 0;
        p += 5 + l;
      } else {
        let v: number;
        if (c === 0xc0) { v = ((b[p + 1]! | (b[p + 2]! << 8)) << 16) >> 16; p += 3; }
        else if (c === 0xd0) { v = b[p + 1]! | (b[p + 2]! << 8) | (b[p + 3]! << 16) | (b[p + 4]! << 24); p += 5; }
        else if (c === 0xe0) { v = (b[p + 5]! | (b[p + 6]! << 8) | (b[p + 7]! << 16) | (b[p + 8]! << 24)) * 4294967296 + u32le(b, p + 1); p += 9; }
        else if (c === 0xf0) { v = ((b[p + 1]! | (b[p + 2]! << 8) | (b[p + 3]! << 16)) << 8) >> 8; p += 4; }
        else if (c === 0xfe) { v = (b[p + 1]! << 24) >> 24; p += 2; }
        else { v = (c & 0x0f) - 1; p += 1; }
        l = digits(v);
      }
    } else {
      const c = b[p]!;
      let entry: number;
      if (c < 0x80) { l = c < 10 ? 1 : c < 100 ? 2 : 3; entry = 1; }
      else if (c < 0xc0) { l = c & 0x3f; entry = 1 + l; }
      else if (c < 0xe0) { let v = ((c & 0x1f) << 8) | b[p + 1]!; if (v >= 4096) v -= 8192; l = digits(v); entry = 2; }
      else if (c < 0xf0) { l = ((c & 0x0f) << 8) | b[p + 1]!; entry = 2 + l; }
      else if (c === 0xf0) { l = u32le(b, p + 1); entry = 5 + l; }
      else if (c === 0xf1) { l = digits(((b[p + 1]! | (b[p + 2]! << 8)) << 16) >> 16); entry = 3; }
      else if (c === 0xf2) { l = digits(((b[p + 1]! | (b[p + 2]! << 8) | (b[p + 3]! << 16)) << 8) >> 8); entry = 4; }
      else if (c === 0xf3) { l = digits(b[p + 1]! | (b[p + 2]! << 8) | (b[p + 3]! << 16) | (b[p + 4]! << 24)); entry = 5; }
      else { l = digits((b[p + 5]! | (b[p + 6]! << 8) | (b[p + 7]! << 16) | (b[p + 8]! << 24)) * 4294967296 + u32le(b, p + 1)); entry = 9; }
      p += entry + (entry <= 127 ? 1 : entry < 16383 ? 2 : entry < 2097151 ? 3 : entry < 268435455 ? 4 : 5);
    }
    fn(l, i++);
  }
}

/** A skiplist-encoded zset of `count` members whose sds sizes sum to `sds`. */
function skiplistObject(count: number, sds: number, m: MemoryModel, buckets = dictBuckets(count)): number {
  return m.robj + m.zset + m.zskiplist + m.dict + 8 * buckets + m.zslHeader +
    sds + count * (m.dictEntry + m.zslNodeAvg);
}

/** Buckets of a dict filled by `n` adds with no presizing (growth and rehashing as they happen). */
function grownBuckets(n: number): number {
  const d = new DictSim();
  for (let i = 0; i < n; i++) d.add();
  return d.buckets;
}

/** Score text as the target writes it into a listpack (d2string: %.17g before 7.2, shortest after). */
function scoreEntry(score: number, m: MemoryModel): number {
  if (Number.isInteger(score) && Math.abs(score) < 2 ** 63) return lpIntEntry(score);
  const t = m.targetRdbVersion >= 11 ? formatDoubleShortest(score) : formatDoubleG17(score);
  return lpStrEntry(t.length);
}

/** RDB_TYPE_ZSET / ZSET_2: loaded as a skiplist, converted to a listpack when small. */
function zsetElements(binary: boolean, m: MemoryModel): KeyMemory {
  const count = len();
  let largest = 0;
  let sds = 0;
  let lp = 0;
  for (let i = 0; i < count; i++) {
    str();
    sds += sdsSize(sLen, m);
    if (sLen > largest) largest = sLen;
    const memberLp = sInt === sInt ? lpIntEntry(sInt) : lpStrEntry(sLen);
    let score: number;
    if (binary) {
      const dv = new DataView(P.buffer, P.byteOffset + pos, 8);
      score = dv.getFloat64(0, true);
      pos += 8;
    } else {
      const l = u8();
      if (l === 253) score = NaN;
      else if (l === 254) score = Infinity;
      else if (l === 255) score = -Infinity;
      else {
        score = Number(String.fromCharCode(...P.subarray(pos, pos + l)));
        pos += l;
      }
    }
    lp += memberLp + scoreEntry(score, m);
  }
  const c = m.config;
  if (count <= c.zsetMaxListpackEntries && largest <= c.zsetMaxListpackValue) {
    return result(m.robj + sc(LP_EMPTY + lp), packedName(m), count, largest);
  }
  return result(skiplistObject(count, sds, m), 'skiplist', count, largest);
}

/** A packed zset over the target's entry limit: a skiplist of its members. */
function zsetFromPacked(b: Uint8Array, s: number, e: number, ziplist: boolean, pairs: number, m: MemoryModel): KeyMemory {
  let sds = 0;
  let largest = 0;
  forEachPackedLength(b, s, e, ziplist, (l, i) => {
    if ((i & 1) === 0) {
      sds += sdsSize(l, m);
      if (l > largest) largest = l;
    }
  });
  // zsetConvert fills the dict without presizing it.
  return result(skiplistObject(pairs, sds, m, grownBuckets(pairs)), 'skiplist', pairs, largest);
}

/** RDB_TYPE_HASH: listpack while small, hashtable once a field or value is too long or too many. */
function hashElements(m: MemoryModel): KeyMemory {
  const count = len();
  let largest = 0;
  let sds = 0;
  let lp = 0;
  const limit = m.config.hashMaxListpackValue;
  let firstLong = -1;
  for (let i = 0; i < count; i++) {
    str();
    sds += sdsSize(sLen, m);
    if (sLen > largest) largest = sLen;
    lp += sInt === sInt ? lpIntEntry(sInt) : lpStrEntry(sLen);
    const fl = sLen;
    str();
    sds += sdsSize(sLen, m);
    if (sLen > largest) largest = sLen;
    lp += sInt === sInt ? lpIntEntry(sInt) : lpStrEntry(sLen);
    if (firstLong < 0 && (fl > limit || sLen > limit)) firstLong = i;
  }
  const c = m.config;
  if (count <= c.hashMaxListpackEntries && largest <= c.hashMaxListpackValue) {
    return result(m.robj + sc(LP_EMPTY + lp), packedName(m), count, largest);
  }
  if (count > c.hashMaxListpackEntries || firstLong < 0) return result(dictObject(count, sds, m), 'hashtable', count, largest);
  // Loaded into a listpack until the pair at `firstLong`, then converted (dictExpand to the pairs
  // so far), that pair added, dictTryExpand(pairs left), the rest added one by one.
  const d = new DictSim();
  d.expand(firstLong);
  for (let i = 0; i < firstLong; i++) d.add();
  d.add();
  const left = count - firstLong - 1;
  if (left > 4) d.expand(left);
  for (let i = 0; i < left; i++) d.add();
  return result(dictObject(count, sds, m) + 8 * (d.buckets - dictBuckets(count)), 'hashtable', count, largest);
}

/** A packed hash over the target's limits: a hashtable of its fields and values. */
function hashFromPairs(b: Uint8Array, s: number, e: number, form: 'zipmap' | 'ziplist' | 'listpack', pairs: number, m: MemoryModel): KeyMemory {
  let sds = 0;
  let largest = 0;
  if (form === 'zipmap') {
    let p = s + 1;
    while (p < e && b[p] !== 0xff) {
      const fl = zipmapLen(b, p);
      p = zmNext + fl;
      const vl = zipmapLen(b, p);
      p = zmNext;
      // The free byte, then the value and its unused tail.
      p += 1 + vl + b[p]!;
      sds += sdsSize(fl, m) + sdsSize(vl, m);
      largest = Math.max(largest, fl, vl);
    }
  } else {
    forEachPackedLength(b, s, e, form === 'ziplist', (l) => {
      sds += sdsSize(l, m);
      if (l > largest) largest = l;
    });
  }
  return result(dictObject(pairs, sds, m), 'hashtable', pairs, largest);
}

/** sizeof(listpackEx) (7.4): its ExpireMeta (16), the key and the listpack pointers. */
const LISTPACK_EX = 32;

/**
 * Allocated size of a 7.4 hash field (an mstr, t_hash.c hfieldNew): header (1 byte below 32
 * bytes, 3 below 65536, else 9), the string and its NUL; a field with a TTL also carries its
 * ExpireMeta (16) and the mstr's meta flags (2).
 */
function hfieldSize(len: number, ttl: boolean): number {
  const hdr = len < 32 ? 1 : len < 65536 ? 3 : 9;
  return sc((ttl ? 16 + 2 : 0) + hdr + len + 1);
}

/** Reads the 8-byte little-endian millisecond time of an RDB (rdbLoadMillisecondTime). */
function msTime(): number {
  if (pos + 8 > P.length) throw new RangeError('payload ended early');
  let v = 0;
  for (let i = 7; i >= 0; i--) v = v * 256 + P[pos + i]!;
  pos += 8;
  return v;
}

/**
 * RDB_TYPE_HASH_METADATA (7.4; PRE_GA: absolute TTLs, no minimum): [ttl, field, value] tuples
 * (rdb.c). Over the entry limit: a hashtable from the start, grown by adds (not presized). Else a
 * listpackEx (field, value, expire time or HASH_LP_NO_TTL 0) until a field or value is too long,
 * then converted (presized to the pairs so far, then dictTryExpand(pairs left)).
 */
function hashWithTtl(ga: boolean, m: MemoryModel): KeyMemory {
  const minExpire = ga ? msTime() : 0;
  const count = len();
  let largest = 0;
  let sds = 0;
  let lp = 0;
  const limit = m.config.hashMaxListpackValue;
  let firstLong = -1;
  for (let i = 0; i < count; i++) {
    const ttl = len();
    const expireAt = ttl === 0 ? 0 : ga ? ttl + minExpire - 1 : ttl;
    str();
    const fl = sLen;
    sds += hfieldSize(fl, expireAt !== 0);
    if (sLen > largest) largest = sLen;
    lp += sInt === sInt ? lpIntEntry(sInt) : lpStrEntry(sLen);
    str();
    sds += sdsSize(sLen, m);
    if (sLen > largest) largest = sLen;
    lp += (sInt === sInt ? lpIntEntry(sInt) : lpStrEntry(sLen)) + lpIntEntry(expireAt);
    if (firstLong < 0 && (fl > limit || sLen > limit)) firstLong = i;
  }
  const c = m.config;
  if (count > c.hashMaxListpackEntries) {
    return result(dictObject(count, sds, m) + 8 * (grownBuckets(count) - dictBuckets(count)), 'hashtable', count, largest);
  }
  if (firstLong < 0) return result(m.robj + sc(LISTPACK_EX) + sc(LP_EMPTY + lp), 'listpackex', count, largest);
  const d = new DictSim();
  d.expand(firstLong);
  for (let i = 0; i < firstLong; i++) d.add();
  const left = count - firstLong - 1;
  if (left > 4) d.expand(left);
  for (let i = 0; i <= left; i++) d.add();
  return result(dictObject(count, sds, m) + 8 * (d.buckets - dictBuckets(count)), 'hashtable', count, largest);
}

// ---- streams -------------------------------------------------------------------------------

/**
 * Nodes of a rax holding `keys` (sorted ascending, distinct, same length): one per compressed run
 * or branching point plus the leaves, as raxInsert builds it. An empty rax has its root.
 */
export function raxNodes(keys: readonly Uint8Array[]): number {
  if (keys.length === 0) return 1;
  return raxCount(keys, 0, keys.length, 0);
}

function raxCount(keys: readonly Uint8Array[], lo: number, hi: number, d: number): number {
  const first = keys[lo]!;
  if (hi - lo === 1) return d >= first.length ? 1 : 2;
  const last = keys[hi - 1]!;
  if (d >= first.length) return 1;
  // Longest common prefix of the range from depth d: that of its first and last keys (sorted).
  let l = d;
  while (l < first.length && first[l] === last[l]) l++;
  if (l > d) return 1 + raxCount(keys, lo, hi, l);
  // A branching node with one child per distinct byte at depth d.
  let nodes = 1;
  let i = lo;
  while (i < hi) {
    const c = keys[i]![d]!;
    let j = i + 1;
    while (j < hi && keys[j]![d] === c) j++;
    nodes += raxCount(keys, i, j, d + 1);
    i = j;
  }
  return nodes;
}

/** streamRadixTreeMemoryUsage: 16 per element and 4 + 30 pointers per node (sic). */
function raxUsage(elements: number, nodes: number): number {
  return elements * 16 + nodes * (4 + 8 * 30);
}

function compareBytes16(a: Uint8Array, b: Uint8Array): number {
  for (let i = 0; i < a.length && i < b.length; i++) if (a[i] !== b[i]) return a[i]! - b[i]!;
  return a.length - b.length;
}

function streamMemory(type: number, m: MemoryModel): KeyMemory {
  const nodes = len();
  const nodeKeys: Uint8Array[] = [];
  let lpBytes = 0;
  let largest = 0;
  for (let i = 0; i < nodes; i++) {
    str();
    const k = strBytes();
    // (A compressed key is inflated into strBytes' reused buffer: copied.)
    nodeKeys.push(lzfPending >= 0 ? k.buf.slice(k.start, k.end) : k.buf.subarray(k.start, k.end));
    str();
    lpBytes += sc(sLen);
    if (sLen > largest) largest = sLen;
  }
  const length = len();
  len(); len(); // last id
  if (type !== rdb.TYPE_STREAM_LISTPACKS) {
    len(); len(); len(); len(); len();
  }
  let size = m.robj + m.stream + raxUsage(nodes, raxNodes(nodeKeys)) + lpBytes;
  const groups = len();
  for (let g = 0; g < groups; g++) {
    str(); // name (the cgroups rax is not counted by MEMORY USAGE)
    len(); len();
    if (type !== rdb.TYPE_STREAM_LISTPACKS) len();
    const pel = len();
    const ids: Uint8Array[] = [];
    for (let i = 0; i < pel; i++) {
      ids.push(P.subarray(pos, pos + 16));
      pos += 16 + 8;
      len();
    }
    ids.sort(compareBytes16);
    size += m.streamCG + raxUsage(pel, raxNodes(ids)) + m.streamNACK * pel;
    const consumers = len();
    for (let k = 0; k < consumers; k++) {
      str();
      const nameLen = sLen;
      pos += 8;
      if (type === rdb.TYPE_STREAM_LISTPACKS_3) pos += 8;
      const cpel = len();
      const cids: Uint8Array[] = [];
      for (let i = 0; i < cpel; i++) {
        cids.push(P.subarray(pos, pos + 16));
        pos += 16;
      }
      cids.sort(compareBytes16);
      size += m.streamConsumer + nameLen + raxUsage(cpel, raxNodes(cids));
    }
  }
  return result(size, 'stream', length, largest);
}
