/**
 * Streaming RDB reader, versions 1-12 and Valkey 9 (VALKEY080).
 *
 * Shape: a synchronous parser (`RdbParser.parseSome`) walks records on a `Cursor` over one
 * contiguous buffer and never awaits; the async driver (`readRdb`) only makes sure the bytes of
 * the record being parsed are present. When a record runs past the end of the current buffer,
 * the parser throws the NEED_MORE token, the driver copies just that record's bytes plus enough
 * of the next chunk(s) into a fresh buffer, and parsing restarts at the record's first byte. Once
 * the parser has moved past the copied part, it switches back to the original chunk, so only
 * records that straddle a chunk boundary are ever copied (RDB-FORMAT.md §1, STYLE.md habit 4).
 *
 * A value is not decoded while reading: the reader measures its extent (walking lengths) and
 * hands out the serialized bytes (`KeyRecord.payload`); decode.ts turns them into values on
 * request. Memory is bounded by the largest record (at most maxValueSize) plus one chunk.
 */
import {
  OP_AUX, OP_EOF, OP_EXPIRETIME, OP_EXPIRETIME_MS, OP_FREQ, OP_FUNCTION2, OP_FUNCTION_PRE_GA,
  OP_IDLE, OP_MODULE_AUX, OP_RESIZEDB, OP_SELECTDB, OP_SLOT_INFO, RDB_VERSION_MAX,
  TYPE_HASH, TYPE_HASH_LISTPACK, TYPE_HASH_LISTPACK_EX, TYPE_HASH_LISTPACK_EX_PRE_GA,
  TYPE_HASH_METADATA, TYPE_HASH_METADATA_PRE_GA, TYPE_HASH_ZIPLIST, TYPE_HASH_ZIPMAP,
  TYPE_LIST, TYPE_LIST_QUICKLIST, TYPE_LIST_QUICKLIST_2, TYPE_LIST_ZIPLIST, TYPE_MODULE_2,
  TYPE_MODULE_PRE_GA, TYPE_SET, TYPE_SET_INTSET, TYPE_SET_LISTPACK, TYPE_STREAM_LISTPACKS,
  TYPE_STREAM_LISTPACKS_2, TYPE_STREAM_LISTPACKS_3, TYPE_STRING, TYPE_ZSET, TYPE_ZSET_2,
  TYPE_ZSET_LISTPACK, TYPE_ZSET_ZIPLIST, VALKEY_RDB_VERSION_MIN, VALKEY_TYPE_HASH_2,
  QUICKLIST_NODE_PACKED, QUICKLIST_NODE_PLAIN, MODULE_OP_EOF, MODULE_OP_SINT, MODULE_OP_UINT,
  MODULE_OP_FLOAT, MODULE_OP_DOUBLE, MODULE_OP_STRING, ENC_LZF,
} from './constants.js';
import { Crc64 } from './crc64.js';
import { checksumMismatch, CorruptError, LimitError, RdbError, TruncatedError, UnsupportedError } from './errors.js';
import { Cursor, NEED_MORE } from './bytes/cursor.js';
import type { KeyRecord, RdbRecord } from './model.js';
import { ziplistCount } from './encodings/ziplist.js';
import { listpackCount } from './encodings/listpack.js';
import { intsetCount } from './encodings/intset.js';
import { zipmapCount } from './encodings/zipmap.js';
import { skimWasm, skimWasmResult } from './skim-wasm.js';

export interface ReadOptions {
  /** Name of the input, used in error messages (a path, `-`, a URI). */
  source?: string;
  /** Largest string, collection length or record accepted, in bytes. Default 512 MiB. */
  maxValueSize?: number;
  /**
   * Count each key's elements (`KeyRecord.elements`). Costs a decompression of LZF-compressed
   * blobs; without it, `elements` is -1 and only emptiness is established. Default false.
   */
  countElements?: boolean;
  /** Verify the CRC-64 after EOF. Default true. */
  verifyChecksum?: boolean;
  /** Records per yielded batch, at most. Default 1024. */
  batchSize?: number;
}

export type RdbInput = AsyncIterable<Uint8Array> | Iterable<Uint8Array> | Uint8Array;

const DEFAULT_MAX_VALUE = 512 * 1024 * 1024;
/** Bytes a record may exceed maxValueSize by (its key, lengths and per-key opcodes). */
const RECORD_SLACK = 1024 * 1024;

/**
 * The synchronous half: parses whole records from the cursor. Holds all parse state, so one
 * parser reads one input; nothing is module-level.
 */
export class RdbParser {
  readonly cur: Cursor;
  readonly opts: Required<Omit<ReadOptions, 'source'>> & { source: string };
  version = 0;
  magic: 'REDIS' | 'VALKEY' = 'REDIS';
  db = 0;
  done = false;
  /** Random access only: stop after the key, leaving the payload empty. */
  keyOnly = false;
  /**
   * Skim: key records are walked (their extent checked as in a full parse) but neither built
   * nor pushed; `skimmed` counts them. For a driver that only needs record boundaries, the
   * databases and the checksum (the parallel memory scan hands the keys to worker threads).
   */
  skimKeys = false;
  /** Key records walked in skim mode. */
  skimmed = 0;
  /**
   * Skim in WebAssembly (skim-wasm.ts) where it can: for a driver that never changes a buffer
   * once it was handed over (switchTo); the buffer is copied into the module once.
   */
  skimInWasm = false;
  private headerDone = false;
  private readonly crc = new Crc64();
  /** Absolute offset up to which bytes were fed to the CRC. */
  private crcPos = 0;

  constructor(opts: ReadOptions = {}) {
    this.opts = {
      source: opts.source ?? '',
      maxValueSize: opts.maxValueSize ?? DEFAULT_MAX_VALUE,
      countElements: opts.countElements ?? false,
      verifyChecksum: opts.verifyChecksum ?? true,
      batchSize: opts.batchSize ?? 1024,
    };
    this.cur = new Cursor(new Uint8Array(0), 0, this.opts.maxValueSize, RDB_VERSION_MAX);
  }

  get isValkey(): boolean {
    return this.magic === 'VALKEY';
  }

  /** Feeds the CRC with the current buffer's bytes up to absolute offset `upTo`. */
  crcFlush(upTo: number): void {
    if (upTo <= this.crcPos) return;
    const c = this.cur;
    const from = this.crcPos - c.base;
    const to = upTo - c.base;
    if (from < 0 || to > c.buf.length) {
      // Cannot happen when the driver switches buffers through crcFlush; guard the invariant.
      throw new Error(`rdbmerge internal: CRC window ${this.crcPos}..${upTo} outside buffer`);
    }
    // Without verification (the caller checks the CRC elsewhere, e.g. on a worker thread) the
    // digest is never read: skip the work, about a third of a parse.
    if (this.opts.verifyChecksum) this.crc.update(c.buf, from, to);
    this.crcPos = upTo;
  }

  /** Switches to a new buffer whose byte 0 is at absolute `base`, parsing from index `pos`. */
  switchTo(buf: Uint8Array, base: number, pos: number): void {
    this.crcFlush(base);
    this.cur.reset(buf, base, pos);
  }

  /**
   * Parses records into `out` until the batch is full, the input is exhausted (NEED_MORE is
   * rethrown with the cursor rewound to the record start) or EOF was read.
   */
  parseSome(out: RdbRecord[], limit: number): void {
    const c = this.cur;
    if (!this.headerDone) {
      const start = c.pos;
      try {
        this.parseHeader(out);
      } catch (e) {
        c.pos = start;
        throw e;
      }
    }
    while (!this.done && out.length < limit) {
      // Skimming: the common records in a tight loop first; the reader takes the one it stops at.
      if (this.skimKeys) this.skimRun();
      const start = c.pos;
      try {
        this.parseItem(out);
      } catch (e) {
        c.pos = start;
        throw e;
      }
    }
  }

  /**
   * Skims the key records from the cursor on in one loop over the buffer, checking what
   * parseItem checks for them, and stops (on a record boundary) before the first record it
   * leaves to parseItem: another opcode, a rarer type, a raw blob (whose header parseItem
   * checks), a length past maxValueSize or in a rare form, or a record that runs past the buffer.
   */
  private skimRun(): void {
    const c = this.cur;
    const b = c.buf;
    const end = b.length;
    const max = this.opts.maxValueSize;
    if (this.skimInWasm) {
      const q = skimWasm(b, c.pos, max);
      if (q >= 0) {
        c.pos = q;
        this.skimmed += skimWasmResult.records;
        return;
      }
    }
    let p = c.pos;
    let n = 0;
    for (;;) {
      let q = p;
      let type = -1;
      while (q < end) {
        const op = b[q]!;
        if (op === OP_EXPIRETIME_MS) q += 9;
        else if (op === OP_EXPIRETIME) q += 5;
        else if (op === OP_FREQ) q += 2;
        else {
          type = op;
          break;
        }
      }
      if (type < 0 || SKIM_TYPES[type] !== 1) break;
      q = skimString(b, q + 1, end, max);
      if (q < 0) break;
      if (type === TYPE_STRING) {
        q = skimString(b, q, end, max);
      } else if (type === TYPE_LIST_QUICKLIST_2) {
        const count = skimLen(b, q, end);
        if (count < 0 || count > max) break;
        q = skimNext;
        for (let i = 0; i < count && q >= 0; i++) {
          // Packed nodes (plain ones are parseItem's, which checks they are not empty).
          if (q + 1 >= end || b[q] !== QUICKLIST_NODE_PACKED) {
            q = -1;
            break;
          }
          q = skimListpack(b, q + 1, end, max);
        }
      } else if (type === TYPE_LIST || type === TYPE_SET || type === TYPE_HASH || type === TYPE_ZSET_2) {
        const count = skimLen(b, q, end);
        if (count < 0 || count > max) break;
        q = skimNext;
        const strings = type === TYPE_HASH ? 2 : 1;
        for (let i = 0; i < count && q >= 0; i++) {
          q = skimString(b, q, end, max);
          if (strings === 2 && q >= 0) q = skimString(b, q, end, max);
          if (type === TYPE_ZSET_2 && q >= 0) q += 8;
        }
      } else {
        // A listpack blob, or a ziplist, intset or zipmap blob when LZF-compressed.
        q = type === TYPE_HASH_LISTPACK || type === TYPE_ZSET_LISTPACK || type === TYPE_SET_LISTPACK
          ? skimListpack(b, q, end, max)
          : q < end && b[q] === 0xc3 ? skimString(b, q, end, max) : -1;
      }
      if (q < 0 || q > end) break;
      p = q;
      n++;
    }
    c.pos = p;
    this.skimmed += n;
  }

  /** For random access into a stream whose header was read elsewhere. */
  skipHeader(): void {
    this.headerDone = true;
  }

  /**
   * Continues a file from a record boundary another parser found: `buf[pos]` (absolute offset
   * `base + pos`) starts a record of a `version`/`magic` file whose current database is `db`.
   * No checksum is kept from there (the driver that found the boundary checks it).
   */
  resumeAt(buf: Uint8Array, base: number, pos: number, at: { version: number; magic: 'REDIS' | 'VALKEY'; db: number }): void {
    this.version = at.version;
    this.magic = at.magic;
    this.db = at.db;
    this.headerDone = true;
    this.done = false;
    this.cur.rdbVersion = at.magic === 'VALKEY' ? RDB_VERSION_MAX : at.version;
    this.cur.reset(buf, base, pos);
    this.crcPos = base + pos;
  }

  /** Parses exactly one record (random access). */
  parseOne(out: RdbRecord[]): void {
    this.parseItem(out);
  }

  private parseHeader(out: RdbRecord[]): void {
    const c = this.cur;
    c.need(9);
    const b = c.buf;
    const p = c.pos;
    const m = String.fromCharCode(b[p]!, b[p + 1]!, b[p + 2]!, b[p + 3]!, b[p + 4]!, b[p + 5]!);
    let version: number;
    if (m.startsWith('REDIS')) {
      const digits = String.fromCharCode(b[p + 5]!, b[p + 6]!, b[p + 7]!, b[p + 8]!);
      version = /^\d{4}$/.test(digits) ? Number(digits) : NaN;
      this.magic = 'REDIS';
    } else if (m === 'VALKEY') {
      const digits = String.fromCharCode(b[p + 6]!, b[p + 7]!, b[p + 8]!);
      version = /^\d{3}$/.test(digits) ? Number(digits) : NaN;
      this.magic = 'VALKEY';
    } else {
      const gz = b[p] === 0x1f && b[p + 1] === 0x8b;
      throw new CorruptError({
        offset: c.base + p,
        expected: 'the magic "REDIS" or "VALKEY" followed by a version number',
        hint: gz ? 'this file is gzip-compressed: gunzip it first' : 'is this an RDB file?',
      });
    }
    if (Number.isNaN(version)) {
      throw new CorruptError({ offset: c.base + p + 5, expected: 'a decimal RDB version after the magic' });
    }
    if (this.magic === 'REDIS' && (version < 1 || version > RDB_VERSION_MAX)) {
      throw new UnsupportedError({
        offset: c.base + p + 5,
        expected: `an RDB version from 1 to ${RDB_VERSION_MAX}, found ${version}`,
        hint: version > RDB_VERSION_MAX ? 'written by a newer Redis (8.6+) than this tool reads' : undefined,
      });
    }
    if (this.magic === 'VALKEY' && version < VALKEY_RDB_VERSION_MIN) {
      throw new CorruptError({ offset: c.base + p + 6, expected: `a Valkey RDB version of at least 80, found ${version}` });
    }
    if (this.magic === 'VALKEY' && version > 80) {
      throw new UnsupportedError({
        offset: c.base + p + 6,
        expected: `Valkey RDB version 80, found ${version}`,
        hint: 'written by a Valkey newer than 9.0, whose format is not published as stable',
      });
    }
    c.pos = p + 9;
    this.version = version;
    c.rdbVersion = this.magic === 'VALKEY' ? RDB_VERSION_MAX : version;
    this.headerDone = true;
    out.push({ kind: 'header', magic: this.magic, version, offset: c.base + p });
  }

  private parseItem(out: RdbRecord[]): void {
    const c = this.cur;
    const start = c.pos;
    let expireAt = -1;
    let idle = -1;
    let freq = -1;
    for (;;) {
      const op = c.u8();
      switch (op) {
        case OP_EXPIRETIME_MS:
          // 8-byte little-endian ms (native order before RDB 9: little-endian in practice).
          expireAt = c.i64le();
          continue;
        case OP_EXPIRETIME:
          // 4-byte little-endian seconds (RDB 1-2 writers).
          expireAt = c.i32le() * 1000;
          continue;
        case OP_IDLE:
          idle = c.len();
          continue;
        case OP_FREQ:
          freq = c.u8();
          continue;
        case OP_SELECTDB:
          this.db = c.len();
          out.push({ kind: 'selectDb', db: this.db, offset: c.base + start });
          return;
        case OP_RESIZEDB: {
          const dbSize = c.len();
          const expiresSize = c.len();
          out.push({ kind: 'resizeDb', dbSize, expiresSize, offset: c.base + start });
          return;
        }
        case OP_AUX: {
          const key = c.string();
          const value = c.string();
          out.push({ kind: 'aux', key, value, offset: c.base + start });
          return;
        }
        case OP_FUNCTION2: {
          const code = c.string();
          out.push({ kind: 'function', code, offset: c.base + start });
          return;
        }
        case OP_FUNCTION_PRE_GA:
          throw new UnsupportedError({
            offset: c.base + start,
            expected: 'FUNCTION2 (0xF5); 0xF6 is the pre-release function format of Redis 7.0-rc1/rc2, which no released server loads',
          });
        case OP_MODULE_AUX: {
          const rawStart = c.pos;
          const moduleId = c.lenBig();
          const opPos = c.pos;
          const opcode = c.len();
          if (opcode !== MODULE_OP_UINT) {
            throw new CorruptError({ offset: c.base + opPos, expected: `MODULE_AUX "when" opcode 2 (UINT), found ${opcode}` });
          }
          const when = c.len();
          this.skipModuleData();
          out.push({ kind: 'moduleAux', moduleId, when, raw: c.buf.subarray(rawStart, c.pos), offset: c.base + start });
          return;
        }
        case OP_SLOT_INFO: {
          if (this.isValkey || this.version >= 12) {
            const slot = c.len();
            const slotSize = c.len();
            const expiresSlotSize = c.len();
            out.push({ kind: 'slotInfo', slot, slotSize, expiresSlotSize, offset: c.base + start });
            return;
          }
          throw this.unknownType(op, start);
        }
        case OP_EOF:
          this.parseEof(out, start);
          return;
        default:
          this.parseKey(out, op, start, expireAt, idle, freq);
          return;
      }
    }
  }

  private unknownType(op: number, start: number): RdbError {
    return new UnsupportedError({
      offset: this.cur.base + start,
      expected: `a value type or opcode known to RDB ${this.magic === 'VALKEY' ? 'Valkey ' : ''}${this.version}, found byte ${op} (0x${op.toString(16)})`,
      hint: op >= 200 && op <= 224 ? 'bytes 200-224 are Dragonfly extensions, which rdbmerge does not read yet' : undefined,
    });
  }

  private parseEof(out: RdbRecord[], start: number): void {
    const c = this.cur;
    const eofAbs = c.base + start;
    if (this.version < 5 && this.magic === 'REDIS') {
      this.crcFlush(eofAbs + 1);
      this.done = true;
      out.push({ kind: 'eof', checksum: 'absent', stored: '', offset: eofAbs, size: eofAbs + 1 });
      return;
    }
    c.need(8);
    this.crcFlush(eofAbs + 1);
    const stored = c.buf.subarray(c.pos, c.pos + 8);
    let storedHex = '';
    let zero = true;
    for (let i = 7; i >= 0; i--) {
      storedHex += stored[i]!.toString(16).padStart(2, '0');
      if (stored[i] !== 0) zero = false;
    }
    let checksum: 'ok' | 'disabled' | 'unchecked' = 'ok';
    if (zero) checksum = 'disabled';
    else if (!this.opts.verifyChecksum) checksum = 'unchecked';
    else if (!this.crc.equalsBytes(stored, 0)) throw checksumMismatch(eofAbs, this.crc.hex(), storedHex);
    c.pos += 8;
    this.done = true;
    out.push({ kind: 'eof', checksum, stored: storedHex, offset: eofAbs, size: eofAbs + 9 });
  }

  private parseKey(out: RdbRecord[], type: number, start: number, expireAt: number, idle: number, freq: number): void {
    const c = this.cur;
    if (!this.isKnownType(type)) throw this.unknownType(type, c.pos - 1);
    if (this.skimKeys) {
      c.skipString();
      this.skipValue(type);
      this.skimmed++;
      return;
    }
    const keyStart = c.pos;
    const key = c.string();
    const valueStart = c.pos;
    if (this.keyOnly) {
      out.push({
        kind: 'key', db: this.db, key, type, payload: c.buf.subarray(valueStart, valueStart), expireAt, idle, freq,
        offset: c.base + start, keyOffset: c.base + keyStart, valueOffset: c.base + valueStart, elements: -1,
      });
      return;
    }
    let elements: number;
    try {
      elements = this.skipValue(type);
    } catch (e) {
      if (e instanceof RdbError && e.key === undefined) e.key = key;
      throw e;
    }
    if (elements === 0 && !isStreamType(type)) {
      out.push({ kind: 'skipped', reason: 'empty', db: this.db, key, type, offset: c.base + start });
      return;
    }
    const rec: KeyRecord = {
      kind: 'key',
      db: this.db,
      key,
      type,
      payload: c.buf.subarray(valueStart, c.pos),
      expireAt,
      idle,
      freq,
      offset: c.base + start,
      keyOffset: c.base + keyStart,
      valueOffset: c.base + valueStart,
      elements: this.opts.countElements ? elements : -1,
    };
    out.push(rec);
  }

  private isKnownType(t: number): boolean {
    if (t <= 7) return true;
    if (t === 8) return false;
    if (this.isValkey) return t <= 22; // 22 = Valkey HASH_2; 23 (PATH_HASH) unpublished
    return t <= 25;
  }

  /**
   * Walks a value of `type` at the cursor. Returns its element count when it is known cheaply or
   * counting was asked for, 0 for an empty collection Redis would skip on load, and -1 for
   * "non-empty, count not computed".
   */
  private skipValue(type: number): number {
    const c = this.cur;
    const count = this.opts.countElements;
    switch (type) {
      case TYPE_STRING:
        c.skipString();
        return 1;
      case TYPE_LIST:
      case TYPE_SET: {
        const n = c.size('an element count');
        for (let i = 0; i < n; i++) c.skipString();
        return n;
      }
      case TYPE_ZSET: {
        const n = c.size('an element count');
        for (let i = 0; i < n; i++) {
          c.skipString();
          c.skipTextDouble();
        }
        return n;
      }
      case TYPE_HASH: {
        const n = c.size('a field count');
        for (let i = 0; i < n; i++) {
          c.skipString();
          c.skipString();
        }
        return n;
      }
      case TYPE_ZSET_2: {
        const n = c.size('an element count');
        for (let i = 0; i < n; i++) {
          c.skipString();
          c.skip(8);
        }
        return n;
      }
      case TYPE_MODULE_PRE_GA:
        throw new UnsupportedError({
          offset: c.offset - 1,
          expected: 'a module value of type 7 (MODULE_2); type 6 (Redis 4.0 release candidates) carries no opcodes and cannot be walked without its module',
        });
      case TYPE_MODULE_2:
        c.lenBig();
        this.skipModuleData();
        return 1;
      case TYPE_HASH_ZIPMAP:
        return this.blob(type, count);
      case TYPE_LIST_ZIPLIST:
      case TYPE_SET_INTSET:
      case TYPE_ZSET_ZIPLIST:
      case TYPE_HASH_ZIPLIST:
      case TYPE_HASH_LISTPACK:
      case TYPE_ZSET_LISTPACK:
      case TYPE_SET_LISTPACK:
        return this.blob(type, count);
      case TYPE_LIST_QUICKLIST:
      case TYPE_LIST_QUICKLIST_2: {
        const nodes = c.size('a quicklist node count');
        let total = 0;
        let unknown = false;
        for (let i = 0; i < nodes; i++) {
          let container = QUICKLIST_NODE_PACKED;
          if (type === TYPE_LIST_QUICKLIST_2) {
            const at = c.offset;
            container = c.len();
            if (container !== QUICKLIST_NODE_PACKED && container !== QUICKLIST_NODE_PLAIN) {
              throw new CorruptError({ offset: at, expected: `a quicklist node container 1 (plain) or 2 (packed), found ${container}` });
            }
          }
          const at = c.offset;
          if (container === QUICKLIST_NODE_PLAIN) {
            if (c.skipString() === 0) throw new CorruptError({ offset: at, expected: 'a non-empty quicklist node' });
            total += 1;
            continue;
          }
          const n = this.blob(type === TYPE_LIST_QUICKLIST ? TYPE_LIST_ZIPLIST : TYPE_SET_LISTPACK, count, true);
          if (n < 0) unknown = true;
          else total += n;
        }
        if (total === 0 && !unknown) return 0;
        return count ? total : -1;
      }
      case TYPE_STREAM_LISTPACKS:
      case TYPE_STREAM_LISTPACKS_2:
      case TYPE_STREAM_LISTPACKS_3:
        return this.skipStream(type);
      case TYPE_HASH_METADATA_PRE_GA: {
        if (this.isValkey) {
          // Valkey 9 HASH_2: count x (field, value, int64 LE expire ms; -1 = none).
          const n = c.size('a field count');
          for (let i = 0; i < n; i++) {
            c.skipString();
            c.skipString();
            c.skip(8);
          }
          return n;
        }
        const n = c.size('a field count');
        for (let i = 0; i < n; i++) {
          c.len();
          c.skipString();
          c.skipString();
        }
        return n;
      }
      case TYPE_HASH_METADATA: {
        c.skip(8); // minExpire, ms, little-endian
        const n = c.size('a field count');
        for (let i = 0; i < n; i++) {
          c.len();
          c.skipString();
          c.skipString();
        }
        return n;
      }
      case TYPE_HASH_LISTPACK_EX_PRE_GA:
        return this.blob(type, count);
      case TYPE_HASH_LISTPACK_EX:
        c.skip(8); // minExpire, ms, little-endian; the loader ignores it
        return this.blob(type, count);
      default:
        throw this.unknownType(type, c.pos);
    }
  }

  /**
   * Walks one blob string (ziplist, listpack, intset, zipmap). Returns its element count (pairs
   * or triples for hashes and zsets), 0 when empty. A compressed blob is never empty (an empty
   * blob is 7-11 bytes, below LZF's 20-byte threshold), so it is decompressed only to count.
   */
  private blob(type: number, count: boolean, quicklistNode = false): number {
    const c = this.cur;
    const at = c.pos;
    const b0 = c.u8();
    c.pos = at;
    let blob: Uint8Array;
    let blobBase: number;
    if (b0 >> 6 === 3) {
      if ((b0 & 0x3f) !== ENC_LZF) {
        throw new CorruptError({ offset: c.base + at, expected: 'a raw or LZF-compressed blob, found an integer-encoded string' });
      }
      if (!count) {
        c.skipString();
        return -1;
      }
      blob = c.string();
      blobBase = c.base + at;
    } else {
      const n = c.size('a blob length');
      if (n === 0) {
        throw new CorruptError({ offset: c.base + at, expected: quicklistNode ? 'a non-empty quicklist node' : 'a non-empty encoded blob' });
      }
      c.need(n);
      blobBase = c.base + c.pos;
      blob = c.buf.subarray(c.pos, c.pos + n);
      c.pos += n;
    }
    return blobCount(type, blob, blobBase);
  }

  private skipStream(type: number): number {
    const c = this.cur;
    const nodes = c.size('a stream node count');
    for (let i = 0; i < nodes; i++) {
      const at = c.offset;
      if (c.skipString() !== 16) throw new CorruptError({ offset: at, expected: 'a 16-byte stream node key' });
      const lpAt = c.offset;
      if (c.skipString() === 0) throw new CorruptError({ offset: lpAt, expected: 'a non-empty stream node listpack' });
    }
    const length = c.len();
    c.len();
    c.len(); // last id
    if (type !== TYPE_STREAM_LISTPACKS) {
      c.len(); c.len(); // first id
      c.len(); c.len(); // max deleted entry id
      c.len(); // entries added
    }
    const groups = c.size('a consumer group count');
    for (let g = 0; g < groups; g++) {
      c.skipString();
      c.len(); c.len(); // last delivered id
      if (type !== TYPE_STREAM_LISTPACKS) c.len(); // entries read
      const pel = c.size('a PEL size');
      for (let i = 0; i < pel; i++) {
        c.skip(16 + 8); // raw id, delivery time
        c.len(); // delivery count
      }
      const consumers = c.size('a consumer count');
      for (let k = 0; k < consumers; k++) {
        c.skipString();
        c.skip(8); // seen time
        if (type === TYPE_STREAM_LISTPACKS_3) c.skip(8); // active time
        const cpel = c.size('a consumer PEL size');
        c.skip(16 * cpel);
      }
    }
    // A stream is a key even with no entries (RDB-FORMAT.md §1): the caller never skips it.
    return length;
  }

  /** Walks annotated module data (§7.2) up to its EOF opcode. */
  private skipModuleData(): void {
    const c = this.cur;
    for (;;) {
      const at = c.offset;
      const op = c.len();
      switch (op) {
        case MODULE_OP_EOF:
          return;
        case MODULE_OP_SINT:
        case MODULE_OP_UINT:
          c.lenBig();
          break;
        case MODULE_OP_FLOAT:
          c.skip(4);
          break;
        case MODULE_OP_DOUBLE:
          c.skip(8);
          break;
        case MODULE_OP_STRING:
          c.skipString();
          break;
        default:
          throw new CorruptError({ offset: at, expected: `a module data opcode 0-5, found ${op}` });
      }
    }
  }
}

export function isStreamType(t: number): boolean {
  return t === TYPE_STREAM_LISTPACKS || t === TYPE_STREAM_LISTPACKS_2 || t === TYPE_STREAM_LISTPACKS_3;
}

/**
 * The key exactly as encoded in the input (its RDB string bytes: raw, integer or LZF form), a view
 * into the same chunk as the payload. A writer copies it instead of encoding the key again.
 */
export function rawKeyOf(rec: KeyRecord): Uint8Array {
  const n = rec.valueOffset - rec.keyOffset;
  return new Uint8Array(rec.payload.buffer, rec.payload.byteOffset - n, n);
}

/** Element count of a blob by its value type (pairs for hashes/zsets, triples for TTL hashes). */
export function blobCount(type: number, blob: Uint8Array, base: number): number {
  switch (type) {
    case TYPE_HASH_ZIPMAP:
      return zipmapCount(blob, base);
    case TYPE_LIST_ZIPLIST:
      return ziplistCount(blob, base);
    case TYPE_ZSET_ZIPLIST:
    case TYPE_HASH_ZIPLIST:
      return ziplistCount(blob, base) >>> 1;
    case TYPE_SET_INTSET:
      return intsetCount(blob, base);
    case TYPE_SET_LISTPACK:
      return listpackCount(blob, base);
    case TYPE_HASH_LISTPACK:
    case TYPE_ZSET_LISTPACK:
      return listpackCount(blob, base) >>> 1;
    case TYPE_HASH_LISTPACK_EX:
    case TYPE_HASH_LISTPACK_EX_PRE_GA:
      return Math.floor(listpackCount(blob, base) / 3);
    default:
      return -1;
  }
}

/** Types skimRun walks itself: strings, the plain collections, blobs and quicklist 2. */
const SKIM_TYPES: Uint8Array = (() => {
  const t = new Uint8Array(256);
  for (const type of [
    TYPE_STRING, TYPE_LIST, TYPE_SET, TYPE_HASH, TYPE_ZSET_2, TYPE_HASH_ZIPMAP, TYPE_LIST_ZIPLIST, TYPE_SET_INTSET,
    TYPE_ZSET_ZIPLIST, TYPE_HASH_ZIPLIST, TYPE_HASH_LISTPACK, TYPE_ZSET_LISTPACK, TYPE_SET_LISTPACK, TYPE_LIST_QUICKLIST_2,
  ]) t[type] = 1;
  return t;
})();

/** Where the last skimLen's length ended. */
let skimNext = 0;

/**
 * An RDB length at `b[q]` in its 6-, 14- or 32-bit form (skimNext set past it), or -1 for anything
 * else (an encoded-string marker, a 64-bit length, bytes past `end`): parseItem's to read.
 */
function skimLen(b: Uint8Array, q: number, end: number): number {
  if (q >= end) return -1;
  const b0 = b[q]!;
  const t = b0 >> 6;
  if (t === 0) {
    skimNext = q + 1;
    return b0 & 0x3f;
  }
  if (t === 1) {
    if (q + 1 >= end) return -1;
    skimNext = q + 2;
    return ((b0 & 0x3f) << 8) | b[q + 1]!;
  }
  if (b0 === 0x80 && q + 4 < end) {
    skimNext = q + 5;
    return b[q + 1]! * 0x1000000 + ((b[q + 2]! << 16) | (b[q + 3]! << 8) | b[q + 4]!);
  }
  return -1;
}

/**
 * Skips the RDB string at `b[q]` as Cursor.skipString does, returning where it ends, or -1 where
 * skipString would throw, ask for more bytes, or read a rare form (parseItem then decides).
 */
function skimString(b: Uint8Array, q: number, end: number, max: number): number {
  if (q >= end) return -1;
  const b0 = b[q]!;
  if (b0 >> 6 !== 3) {
    const n = skimLen(b, q, end);
    if (n < 0 || n > max) return -1;
    const e = skimNext + n;
    return e <= end ? e : -1;
  }
  const enc = b0 & 0x3f;
  if (enc === 0) return q + 2 <= end ? q + 2 : -1;
  if (enc === 1) return q + 3 <= end ? q + 3 : -1;
  if (enc === 2) return q + 5 <= end ? q + 5 : -1;
  if (enc !== 3) return -1;
  const clen = skimLen(b, q + 1, end);
  if (clen < 0 || clen > max) return -1;
  const ulen = skimLen(b, skimNext, end);
  if (ulen < 0 || ulen > max) return -1;
  const e = skimNext + clen;
  return e <= end ? e : -1;
}

/**
 * Skips a listpack blob at `b[q]` as parseItem does, returning where it ends, or -1 for parseItem
 * to decide: LZF-compressed, its extent only; raw, the header checks of listpackCount too (at least
 * 7 bytes, total_bytes equal to the blob's length, the end marker last, a count other than 65535,
 * which would ask for a walk).
 */
function skimListpack(b: Uint8Array, q: number, end: number, max: number): number {
  if (q >= end) return -1;
  if (b[q] === 0xc3) return skimString(b, q, end, max);
  const n = skimLen(b, q, end);
  if (n < 7 || n > max) return -1;
  const s = skimNext;
  const e = s + n;
  if (e > end) return -1;
  const total = (b[s]! | (b[s + 1]! << 8) | (b[s + 2]! << 16)) + b[s + 3]! * 0x1000000;
  if (total !== n || b[e - 1] !== 0xff || (b[s + 4]! === 0xff && b[s + 5]! === 0xff)) return -1;
  return e;
}

function isAsyncIterable(x: unknown): x is AsyncIterable<Uint8Array> {
  return x != null && typeof (x as AsyncIterable<Uint8Array>)[Symbol.asyncIterator] === 'function';
}

/** Pulls chunks from any input form, skipping empty ones. */
async function* chunksOf(input: RdbInput): AsyncGenerator<Uint8Array> {
  if (input instanceof Uint8Array) {
    if (input.length > 0) yield input;
    return;
  }
  if (isAsyncIterable(input)) {
    for await (const ch of input) if (ch.length > 0) yield ch;
    return;
  }
  for (const ch of input) if (ch.length > 0) yield ch;
}

/**
 * Reads an RDB stream, yielding batches of records in file order: a `header` first, an `eof`
 * last. Consume with `for await (const batch of readRdb(src)) for (const rec of batch) ...`.
 *
 * Byte arrays handed out (keys, payloads) are views into the input chunks, which the reader never
 * modifies; the input must not reuse its chunk buffers.
 *
 * @throws CorruptError, TruncatedError, ChecksumError, UnsupportedError, LimitError (all RdbError),
 *   each with the absolute byte offset and `source` set from `opts.source`.
 */
export async function* readRdb(input: RdbInput, opts: ReadOptions = {}): AsyncGenerator<RdbRecord[]> {
  const parser = new RdbParser(opts);
  const source = parser.opts.source;
  const maxRecord = parser.opts.maxValueSize + RECORD_SLACK;
  const limit = parser.opts.batchSize;
  const chunks = chunksOf(input)[Symbol.asyncIterator]();
  const c = parser.cur;
  let inputEnd = 0; // absolute offset just past the last byte received
  let exhausted = false;
  // A chunk whose start is copied at index `switchPos` of the current (straddle) buffer.
  let switchChunk: Uint8Array | null = null;
  let switchPos = 0;

  const nextChunk = async (): Promise<Uint8Array | null> => {
    if (exhausted) return null;
    const r = await chunks.next();
    if (r.done === true) {
      exhausted = true;
      return null;
    }
    inputEnd += r.value.length;
    return r.value;
  };

  try {
    let batch: RdbRecord[] = [];
    for (;;) {
      let needUpTo = -1;
      try {
        parser.parseSome(batch, limit);
      } catch (e) {
        if (e !== NEED_MORE) throw e;
        needUpTo = NEED_MORE.needUpTo;
      }
      if (switchChunk !== null && c.pos >= switchPos) {
        // The straddling record is done: continue in the original chunk, without copies.
        const chunk = switchChunk;
        switchChunk = null;
        const base = c.base + switchPos;
        parser.switchTo(chunk, base, c.pos - switchPos);
        if (needUpTo >= 0) continue; // re-parse from the original chunk first
      }
      if (batch.length > 0 && (needUpTo >= 0 || batch.length >= limit || parser.done)) {
        yield batch;
        batch = [];
      }
      if (parser.done) return;
      if (needUpTo < 0) continue;

      // Gather input until the record starting at c.pos can be parsed.
      const recStart = c.base + c.pos;
      if (needUpTo - recStart > maxRecord) {
        throw new LimitError({
          offset: recStart,
          expected: `a record of at most ${parser.opts.maxValueSize} bytes (--max-value-size), this one needs ${needUpTo - recStart}`,
          hint: 'raise --max-value-size if the file is sound',
        });
      }
      const leftover = c.buf.subarray(c.pos);
      // Data following the current buffer: the rest of a pending switch chunk, then new chunks.
      let pendingHead: Uint8Array | null = null;
      if (switchChunk !== null) {
        pendingHead = switchChunk.subarray(c.buf.length - switchPos);
        switchChunk = null;
        if (pendingHead.length === 0) pendingHead = null;
      }
      const haveNow = leftover.length;
      // Grow geometrically when the size is not known, so re-parsing stays linear overall.
      const target = Math.min(Math.max(needUpTo - recStart, 2 * haveNow, haveNow + 1), maxRecord);
      const parts: Uint8Array[] = [];
      let have = haveNow;
      let lastChunk: Uint8Array | null = null;
      let lastTake = 0;
      while (have < target) {
        const ch: Uint8Array | null = pendingHead ?? (await nextChunk());
        pendingHead = null;
        if (ch === null) break;
        if (haveNow === 0 && parts.length === 0 && ch.length >= target) {
          // The record starts exactly at this chunk: use it in place.
          lastChunk = ch;
          lastTake = -1;
          break;
        }
        const take = Math.min(ch.length, target - have);
        parts.push(take === ch.length ? ch : ch.subarray(0, take));
        have += take;
        if (take < ch.length) {
          lastChunk = ch;
          lastTake = take;
        }
      }
      if (lastTake === -1 && lastChunk !== null) {
        parser.switchTo(lastChunk, recStart, 0);
        continue;
      }
      if (have === haveNow) {
        if (pendingHead !== null) throw new Error('rdbmerge internal: unread data in reader');
        throw new TruncatedError({
          offset: recStart + haveNow,
          expected: parser.version === 0
            ? 'a 9-byte RDB header'
            : `${needUpTo - (recStart + haveNow)} more byte(s) to complete the record at offset ${recStart}`,
          hint: 'the file ends early: an interrupted transfer or a disk that filled up?',
        });
      }
      const merged = new Uint8Array(have);
      merged.set(leftover, 0);
      let at = haveNow;
      for (const p of parts) {
        merged.set(p, at);
        at += p.length;
      }
      parser.switchTo(merged, recStart, 0);
      if (lastChunk !== null) {
        switchChunk = lastChunk;
        switchPos = have - lastTake;
      }
    }
  } catch (e) {
    if (e instanceof RdbError) {
      if (e.source === '' && source !== '') e.setSource(source);
    }
    throw e;
  } finally {
    if (!exhausted) await chunks.return?.(undefined);
  }
}

/** Reads a whole in-memory RDB into one array of records. */
export async function readRdbAll(input: RdbInput, opts: ReadOptions = {}): Promise<RdbRecord[]> {
  const all: RdbRecord[] = [];
  for await (const batch of readRdb(input, opts)) for (const r of batch) all.push(r);
  return all;
}

/**
 * Parses the single key record that starts at `buf[0]` (absolute offset `base`) of an input whose
 * header said `version`/`magic` — random access for callers that remember record offsets (the
 * merge's collision index). Returns the record, or the absolute offset the data must reach when
 * `buf` is too short. The record's `db` is unknown here and left 0. With `keyOnly`, parsing stops
 * after the key (the payload is empty), so a key can be re-read without reading its value.
 * `parser`: a parser to reuse across calls for one input (made with `new RdbParser(opts)`).
 */
export function parseKeyAt(
  buf: Uint8Array,
  base: number,
  header: { version: number; magic: 'REDIS' | 'VALKEY' },
  opts: ReadOptions = {},
  keyOnly = false,
  parser?: RdbParser,
): KeyRecord | number {
  // A caller doing many lookups passes its own parser (built with the same opts): constructing
  // one costs about as much as parsing a small record.
  const p = parser ?? new RdbParser(opts);
  p.keyOnly = keyOnly;
  p.version = header.version;
  p.magic = header.magic;
  p.skipHeader();
  p.cur.rdbVersion = header.magic === 'VALKEY' ? RDB_VERSION_MAX : header.version;
  p.cur.reset(buf, base, 0);
  const out: RdbRecord[] = [];
  try {
    p.parseOne(out);
  } catch (e) {
    if (e === NEED_MORE) return NEED_MORE.needUpTo;
    throw e;
  }
  const r = out[0];
  if (r === undefined || (r.kind !== 'key' && r.kind !== 'skipped')) {
    throw new CorruptError({ offset: base, expected: 'a key record at this offset' });
  }
  if (r.kind === 'skipped') throw new CorruptError({ offset: base, expected: 'a non-empty key record at this offset' });
  return r;
}
