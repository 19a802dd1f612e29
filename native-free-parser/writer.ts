/**
 * RDB writer for versions 6-12: a synchronous state machine that appends records to one growing
 * buffer and hands it out in chunks (`drain()`); the caller awaits its sink between drains, so
 * the writer itself never awaits and depends on nothing. Layout: RDB-FORMAT.md §1, §2, §9.
 *
 *   new ──begin()──▶ header ──selectDb()──▶ db ──end()──▶ ended
 *                    aux, function,         key, aux, selectDb (higher db),
 *                    moduleAux              moduleAux
 *
 * Every byte goes through the one ByteWriter, and the CRC-64 is fed from it just before bytes
 * leave (`drain`, `end`), so no path can bypass the checksum. A record that fails half-way
 * (a value the target cannot hold) is rolled back: nothing of it is emitted.
 *
 * Values are copied as they are (no decode) whenever the target loads their type; otherwise
 * convert.ts rewrites them (RDB-FORMAT.md §9.3).
 */
import {
  OP_AUX, OP_EOF, OP_EXPIRETIME_MS, OP_FREQ, OP_FUNCTION2, OP_IDLE, OP_MODULE_AUX, OP_RESIZEDB,
  OP_SELECTDB, RDB_VERSION_MAX, RDB_WRITE_VERSION_MIN, serverVersionForRdb,
} from './constants.js';
import { ByteWriter } from './bytes/byte-writer.js';
import { Crc64 } from './crc64.js';
import { convertForTarget, encodeValue, isDropped, moduleNameOf, targetLoadsType, type ConvertResult } from './convert.js';
import { decodeValue } from './decode.js';
import { UnsupportedError } from './errors.js';
import { writeLen, writeRdbString, writeRdbStringAscii } from './encodings/length.js';

/** Options of {@link RdbWriter}. */
export interface RdbWriterOptions {
  /** Target RDB version, 6..12. */
  version: number;
  /** The `redis-ver` aux value (RDB >= 7). Default: `serverVersionForRdb(version)` ("7.0.15" for 10). */
  redisVersion?: string;
  /** The `ctime` aux value, Unix seconds. Default: `Math.floor(Date.now() / 1000)`. */
  ctime?: number;
  /** The `used-mem` aux value in bytes. Default 0 (unknown). */
  usedMem?: number;
  /** Extra aux fields written after the standard ones (RDB >= 7; ignored for 6). Default none. */
  aux?: Array<[string, string | Uint8Array]>;
  /**
   * LZF-compress the strings the writer encodes itself (keys, aux values, converted values),
   * as Redis's `rdbcompression yes`. Copied values keep their bytes. Default true.
   */
  compress?: boolean;
  /**
   * When the target cannot hold something (a function below RDB 10, a stream below 9, a module
   * value below 8, hash field TTLs below 12), leave it out and record it in `drops` instead of
   * throwing UnsupportedError. Default false.
   */
  dropUnsupported?: boolean;
  /** Keys come from a Valkey 9 file (VALKEY magic), where type 22 is Valkey's HASH_2. Default false. */
  valkeySource?: boolean;
  /**
   * Decode every value and serialise it again as the target's Redis would save it (convert.ts
   * `encodeValue`), instead of copying loadable values. Slow; for normalising and tests. Default false.
   */
  reencode?: boolean;
}

/** A key to write: what the reader's KeyRecord carries (plus, optionally, where it came from). */
export interface WriterKey {
  key: Uint8Array;
  /** RDB type id of `payload` (Redis numbering, or Valkey's with `valkey`). */
  type: number;
  /** The serialized value, as in KeyRecord.payload. */
  payload: Uint8Array;
  /** Absolute expiry in Unix ms, or -1 for none. */
  expireAt: number;
  /** LRU idle seconds, or -1. Written (RDB >= 9) only when there is no `freq`. */
  idle: number;
  /** LFU counter 0..255, or -1. Written for RDB >= 9. */
  freq: number;
  /** The value comes from a Valkey 9 file. Default: the writer's `valkeySource`. */
  valkey?: boolean;
  /** Absolute offset of payload[0] in its input, for error messages. */
  valueOffset?: number;
  /**
   * The key as already encoded in an RDB file (reader.ts `rawKeyOf`): copied as it is instead of
   * encoding `key` again (no LZF attempt per key). Key encodings are the same in every version.
   */
  rawKey?: Uint8Array;
}

/**
 * What happened to a key: copied as it was, converted for the target, dropped (the reason), or
 * written without its hash field TTLs (how many were removed).
 */
export type WriteOutcome = 'copied' | 'converted' | { dropped: string } | { fieldTtlsDropped: number };

/** Something left out of (or lost in) the output, for reports. */
export interface WriterDrop {
  kind: 'key' | 'fieldTtls' | 'function' | 'moduleAux' | 'aux';
  /** Database of a key. */
  db?: number;
  key?: Uint8Array;
  /** Function library name or module name. */
  name?: string;
  /** Number of field TTLs removed (kind 'fieldTtls'). */
  count?: number;
  reason: string;
}

/** Counters of what the writer did. */
export interface WriterStats {
  /** Keys written (copied + converted). */
  keys: number;
  copied: number;
  converted: number;
  /** Keys left out. */
  dropped: number;
  /** Keys written without their field TTLs, and the number of TTLs removed. */
  keysWithoutFieldTtls: number;
  fieldTtlsDropped: number;
  functions: number;
  functionsDropped: number;
  moduleAux: number;
  moduleAuxDropped: number;
  /** Bytes handed out by drain() so far (the whole file once ended and drained). */
  bytesOut: number;
}

type State = 'new' | 'header' | 'db' | 'ended';

const FIRST_VERSION_AUX = 7;
const FIRST_VERSION_IDLE_FREQ = 9;
const FIRST_VERSION_MODULE_AUX = 9;
const FIRST_VERSION_FUNCTIONS = 10;
const FIRST_VERSION_AOF_BASE = 10;

const LATIN1 = new TextDecoder('latin1');

/** The library name from a FUNCTION2 body's `#!<engine> name=<lib>` first line. */
export function functionLibraryName(code: Uint8Array): string | undefined {
  let end = code.indexOf(0x0a);
  if (end < 0) end = code.length;
  const first = LATIN1.decode(code.subarray(0, Math.min(end, 4096)));
  const m = /^#!\S+.*?\bname=(\S+)/.exec(first);
  return m === null ? undefined : m[1];
}

/**
 * Writes an RDB file for one target version. Usage:
 *
 * ```ts
 * const w = new RdbWriter({ version: 10 });
 * w.begin();
 * w.selectDb(0, n, nExpires);
 * for (const rec of keys) { w.key(rec); if (w.pendingBytes > 1 << 20) await sink(w.drain()); }
 * w.end();
 * await sink(w.drain());
 * ```
 *
 * State errors (a call out of order, a database written twice or going backwards, any call
 * after end()) throw a plain Error: they are bugs in the caller, not properties of the data.
 */
export class RdbWriter {
  readonly version: number;
  private readonly opts: RdbWriterOptions;
  private readonly compress: boolean;
  private readonly dropUnsupported: boolean;
  private readonly w = new ByteWriter();
  /** Options of every string the writer encodes (one shared object: no allocation per key). */
  private readonly strOpts: { compress: boolean; rdbVersion: number };
  private readonly crc = new Crc64();
  /** Bytes of `w` already fed to the CRC. */
  private crcPos = 0;
  private state: State = 'new';
  private db = -1;
  private isFragment = false;
  private readonly drops_: WriterDrop[] = [];
  private readonly stats_: WriterStats = {
    keys: 0, copied: 0, converted: 0, dropped: 0, keysWithoutFieldTtls: 0, fieldTtlsDropped: 0,
    functions: 0, functionsDropped: 0, moduleAux: 0, moduleAuxDropped: 0, bytesOut: 0,
  };

  /**
   * @throws RangeError when `version` is not an integer in 6..12
   */
  constructor(opts: RdbWriterOptions) {
    const v = opts.version;
    if (!Number.isInteger(v) || v < RDB_WRITE_VERSION_MIN || v > RDB_VERSION_MAX) {
      throw new RangeError(`RdbWriter: version must be ${RDB_WRITE_VERSION_MIN}..${RDB_VERSION_MAX}, got ${v}`);
    }
    this.version = v;
    this.opts = opts;
    this.compress = opts.compress !== false;
    this.dropUnsupported = opts.dropUnsupported === true;
    this.strOpts = { compress: this.compress, rdbVersion: v };
  }

  /**
   * A writer of key records for database `db` alone: no header, no SELECTDB, no EOF. Its drained
   * bytes are spliced into a full writer's section for `db` with {@link RdbWriter.appendRecords}
   * (merge spills databases this way, to write each database as one section).
   */
  static fragment(opts: RdbWriterOptions, db: number): RdbWriter {
    const w = new RdbWriter(opts);
    w.state = 'db';
    w.db = db;
    w.isFragment = true;
    return w;
  }

  /**
   * Appends key records serialized by a {@link RdbWriter.fragment} writer of the same version to
   * the current database section (they pass through the CRC like everything else).
   * @throws Error outside a database section
   */
  appendRecords(bytes: Uint8Array): void {
    this.expect('appendRecords', 'db');
    this.w.bytes(bytes);
  }

  /** Bytes written and not yet drained. */
  get pendingBytes(): number {
    return this.w.length;
  }

  /** What was left out, in order. */
  get drops(): readonly WriterDrop[] {
    return this.drops_;
  }

  /** Counters (a snapshot). */
  get stats(): WriterStats {
    return { ...this.stats_ };
  }

  /** True once end() was called. */
  get ended(): boolean {
    return this.state === 'ended';
  }

  /**
   * The bytes written since the last drain, as a new array the writer will not touch again;
   * the internal buffer is then empty (its memory is kept for the next records).
   */
  drain(): Uint8Array {
    this.feedCrc();
    const out = this.w.toBytes();
    this.w.reset();
    this.crcPos = 0;
    this.stats_.bytesOut += out.length;
    return out;
  }

  private feedCrc(): void {
    if (this.crcPos < this.w.length) {
      this.crc.update(this.w.view(), this.crcPos, this.w.length);
      this.crcPos = this.w.length;
    }
  }

  private expect(call: string, ...states: State[]): void {
    if (this.state === 'ended') throw new Error(`RdbWriter.${call}: the file was already ended`);
    if (!states.includes(this.state)) {
      const where = this.state === 'new' ? 'before begin()' : this.state === 'header' ? 'before selectDb()' : 'after selectDb()';
      throw new Error(`RdbWriter.${call}: not allowed ${where}`);
    }
  }

  private str(b: Uint8Array): void {
    writeRdbString(this.w, b, this.strOpts);
  }

  private auxRecord(key: string, value: string | Uint8Array): void {
    const o = { compress: this.compress, rdbVersion: this.version };
    this.w.u8(OP_AUX);
    writeRdbStringAscii(this.w, key, o);
    if (typeof value === 'string') {
      if (/^[\x00-\x7f]*$/.test(value)) writeRdbStringAscii(this.w, value, o);
      else writeRdbString(this.w, new TextEncoder().encode(value), o);
    } else {
      writeRdbString(this.w, value, o);
    }
  }

  /**
   * Writes the header `REDIS%04d` and, for RDB >= 7, the aux fields redis-ver, redis-bits (64),
   * ctime, used-mem, aof-base 0 (RDB >= 10; aof-preamble 0 for 7..9), then `opts.aux`. Never
   * repl-id / repl-offset (a file written here is no replication point). RDB 6 has no aux at all
   * (Redis 2.6/2.8 would reject the opcode).
   * @throws Error when called twice or after end()
   */
  begin(): void {
    this.expect('begin', 'new');
    this.w.ascii(`REDIS${String(this.version).padStart(4, '0')}`);
    if (this.version >= FIRST_VERSION_AUX) {
      this.auxRecord('redis-ver', this.opts.redisVersion ?? serverVersionForRdb(this.version));
      this.auxRecord('redis-bits', '64');
      this.auxRecord('ctime', String(this.opts.ctime ?? Math.floor(Date.now() / 1000)));
      this.auxRecord('used-mem', String(this.opts.usedMem ?? 0));
      if (this.version >= FIRST_VERSION_AOF_BASE) this.auxRecord('aof-base', '0');
      else this.auxRecord('aof-preamble', '0');
      for (const [k, v] of this.opts.aux ?? []) this.auxRecord(k, v);
    }
    this.state = 'header';
  }

  /**
   * One more aux field, anywhere between begin() and end() (loaders accept AUX at any record
   * position). For RDB 6 nothing is written (no AUX opcode there) and false is returned.
   * @throws Error outside begin()..end()
   */
  aux(key: string, value: string | Uint8Array): boolean {
    this.expect('aux', 'header', 'db');
    if (this.version < FIRST_VERSION_AUX) {
      this.drops_.push({ kind: 'aux', name: key, reason: `RDB ${this.version} has no aux fields` });
      return false;
    }
    this.auxRecord(key, value);
    return true;
  }

  /**
   * A FUNCTION2 record (a function library's source code), before the first database.
   * @returns true when written; false when dropped (RDB < 10 with dropUnsupported)
   * @throws UnsupportedError for RDB < 10 without dropUnsupported (naming the library)
   * @throws Error after selectDb() or outside begin()..end()
   */
  function(code: Uint8Array): boolean {
    this.expect('function', 'header');
    if (this.version < FIRST_VERSION_FUNCTIONS) {
      const name = functionLibraryName(code) ?? '(unnamed)';
      const why = `function library "${name}" needs RDB 10 (Redis 7.0) or later; the target is RDB ${this.version}`;
      if (!this.dropUnsupported) {
        throw new UnsupportedError({ offset: this.w.length, expected: why, hint: 'choose a newer target version, or drop functions (--drop-unsupported)' });
      }
      this.drops_.push({ kind: 'function', name, reason: why });
      this.stats_.functionsDropped++;
      return false;
    }
    this.w.u8(OP_FUNCTION2);
    this.str(code);
    this.stats_.functions++;
    return true;
  }

  /**
   * A MODULE_AUX record copied as it was read: `raw` is everything after the opcode byte
   * (ModuleAuxRecord.raw). Allowed before the first database and after keys.
   * @returns true when written; false when dropped (RDB < 9 with dropUnsupported)
   * @throws UnsupportedError for RDB < 9 without dropUnsupported
   * @throws Error outside begin()..end()
   */
  moduleAux(raw: Uint8Array): boolean {
    this.expect('moduleAux', 'header', 'db');
    if (this.version < FIRST_VERSION_MODULE_AUX) {
      const name = moduleNameOf(raw) ?? '(unknown)';
      const why = `module aux data of ${name} needs RDB 9 (Redis 5.0) or later; the target is RDB ${this.version}`;
      if (!this.dropUnsupported) {
        throw new UnsupportedError({ offset: this.w.length, expected: why, hint: 'choose a newer target version, or drop it (--drop-unsupported)' });
      }
      this.drops_.push({ kind: 'moduleAux', name, reason: why });
      this.stats_.moduleAuxDropped++;
      return false;
    }
    this.w.u8(OP_MODULE_AUX);
    this.w.bytes(raw);
    this.stats_.moduleAux++;
    return true;
  }

  /**
   * Starts database `db`: SELECTDB, and RESIZEDB with the size hints for RDB >= 7.
   * @param dbSize keys in this database (a hint for the loader's hash table)
   * @param expiresSize keys with an expiry (a hint)
   * @throws Error when `db` was already written or is lower than the previous one, when it is not
   *   a non-negative integer, or outside begin()..end()
   */
  selectDb(db: number, dbSize: number, expiresSize: number): void {
    this.expect('selectDb', 'header', 'db');
    if (!Number.isInteger(db) || db < 0) throw new Error(`RdbWriter.selectDb: ${db} is not a database number`);
    if (db === this.db) throw new Error(`RdbWriter.selectDb: database ${db} was already written`);
    if (db < this.db) throw new Error(`RdbWriter.selectDb: database ${db} after database ${this.db} (databases must be written in increasing order)`);
    this.w.u8(OP_SELECTDB);
    writeLen(this.w, db, this.version);
    if (this.version >= FIRST_VERSION_AUX) {
      this.w.u8(OP_RESIZEDB);
      writeLen(this.w, Math.max(0, Math.floor(dbSize)), this.version);
      writeLen(this.w, Math.max(0, Math.floor(expiresSize)), this.version);
    }
    this.db = db;
    this.state = 'db';
  }

  /**
   * Writes one key: EXPIRETIME_MS when `expireAt` >= 0; for RDB >= 9 FREQ when `freq` >= 0, else
   * IDLE when `idle` >= 0 (never both: RESTORE and Redis's own saves carry one); the type byte;
   * the key as an RDB string (integer-encoded when canonical, LZF only past 20 bytes); the value,
   * copied when the target loads its type, else converted (types 22/23 always become 24/25).
   *
   * @returns 'copied', 'converted', `{ dropped }` (nothing written; dropUnsupported only) or
   *   `{ fieldTtlsDropped }` (written as a plain hash; dropUnsupported only)
   * @throws UnsupportedError when the target cannot hold the value (naming the key), CorruptError
   *   when a value that had to be converted does not parse; nothing of the key is written then
   * @throws Error before selectDb() or after end()
   */
  key(rec: WriterKey): WriteOutcome {
    if (this.state !== 'db') this.expect('key', 'db');
    const valkey = rec.valkey ?? this.opts.valkeySource === true;
    let res: ConvertResult | undefined;
    let type = rec.type;
    let payload = rec.payload;
    let copied = true;
    if (this.opts.reencode === true || !targetLoadsType(type, this.version, valkey)) {
      // Not the hot path: the value must be decoded or rewritten.
      const convOpts = {
        dropUnsupported: this.dropUnsupported,
        valkey,
        key: rec.key,
        compress: this.compress,
        ...(rec.valueOffset !== undefined ? { offset: rec.valueOffset } : {}),
      };
      if (this.opts.reencode === true) {
        const v = decodeValue(rec.type, rec.payload, { valkey, ...(rec.valueOffset !== undefined ? { offset: rec.valueOffset } : {}) });
        res = encodeValue(v, this.version, convOpts);
      } else {
        res = convertForTarget(rec.type, rec.payload, this.version, convOpts);
      }
      if (isDropped(res)) {
        this.drops_.push({ kind: 'key', db: this.db, key: rec.key, reason: res.dropped });
        this.stats_.dropped++;
        return { dropped: res.dropped };
      }
      copied = this.opts.reencode !== true && res.payload === rec.payload && res.type === rec.type;
      type = res.type;
      payload = res.payload;
    }

    const start = this.w.length;
    try {
      if (rec.expireAt >= 0) {
        this.w.u8(OP_EXPIRETIME_MS);
        this.w.i64le(rec.expireAt); // 8 bytes LE
      }
      if (this.version >= FIRST_VERSION_IDLE_FREQ) {
        if (rec.freq >= 0) {
          this.w.u8(OP_FREQ);
          this.w.u8(Math.min(255, rec.freq)); // one raw byte, not a length
        } else if (rec.idle >= 0) {
          this.w.u8(OP_IDLE);
          writeLen(this.w, rec.idle, this.version);
        }
      }
      this.w.u8(type);
      if (rec.rawKey !== undefined) this.w.bytes(rec.rawKey);
      else this.str(rec.key);
      this.w.bytes(payload);
    } catch (e) {
      this.w.length = start; // nothing of a failed record is emitted (the CRC has not seen it)
      throw e;
    }

    this.stats_.keys++;
    if (res !== undefined && !isDropped(res) && res.fieldTtlsDropped !== undefined && res.fieldTtlsDropped > 0) {
      this.stats_.converted++;
      this.stats_.keysWithoutFieldTtls++;
      this.stats_.fieldTtlsDropped += res.fieldTtlsDropped;
      this.drops_.push({
        kind: 'fieldTtls', db: this.db, key: rec.key, count: res.fieldTtlsDropped,
        reason: `${res.fieldTtlsDropped} hash field TTLs: RDB ${this.version} has no hash field expiry`,
      });
      return { fieldTtlsDropped: res.fieldTtlsDropped };
    }
    if (copied) {
      this.stats_.copied++;
      return 'copied';
    }
    this.stats_.converted++;
    return 'converted';
  }

  /**
   * Writes EOF (0xFF) and the CRC-64 (8 bytes LE) of every byte from the magic through the EOF.
   * Drain afterwards to get the last bytes. Every later call (except drain and the getters) throws.
   * @throws Error before begin() or when already ended
   */
  end(): void {
    this.expect('end', 'header', 'db');
    if (this.isFragment) throw new Error('RdbWriter.end: a fragment writer has no end; drain it instead');
    this.w.u8(OP_EOF);
    this.feedCrc();
    this.w.bytes(this.crc.digestBytes());
    this.crcPos = this.w.length; // the checksum itself is not checksummed
    this.state = 'ended';
  }
}
