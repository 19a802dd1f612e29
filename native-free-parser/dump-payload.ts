/**
 * DUMP / RESTORE payloads (RDB-FORMAT.md §8; Redis `createDumpPayload`, `verifyDumpPayload`):
 *
 *   type:u8  value (as in an RDB file)  rdbver:u16 LE  crc64:u64 LE
 *
 * The CRC-64 covers everything before it (type, value, version). Unlike an RDB file, a zero CRC
 * is not "checksum disabled": RESTORE checks it like any other value, and so does this module.
 */
import { RDB_VERSION_MAX, isRedisValueType } from './constants.js';
import { convertForTarget, encodeValue, isDropped, targetLoadsType } from './convert.js';
import { Crc64, crc64 } from './crc64.js';
import { decodeValue } from './decode.js';
import { ChecksumError, CorruptError, UnsupportedError } from './errors.js';

/** Type byte + version + CRC: the smallest possible payload is 11 bytes (with a 0-byte value). */
const FOOTER_BYTES = 10;
const MIN_PAYLOAD = 1 + FOOTER_BYTES;

/**
 * Builds a DUMP payload: `type`, `payload`, `rdbVersion` as u16 LE, then the CRC-64 LE of all
 * of that. The value is not checked against the version (RESTORE does not check it either).
 * @throws RangeError when `type` is not 0..255 or `rdbVersion` not 0..65535
 */
export function buildDumpPayload(type: number, payload: Uint8Array, rdbVersion: number): Uint8Array {
  if (!Number.isInteger(type) || type < 0 || type > 255) throw new RangeError(`buildDumpPayload: type ${type} is not a byte`);
  if (!Number.isInteger(rdbVersion) || rdbVersion < 0 || rdbVersion > 0xffff) {
    throw new RangeError(`buildDumpPayload: version ${rdbVersion} is not a u16`);
  }
  const n = payload.length;
  const out = new Uint8Array(1 + n + FOOTER_BYTES);
  out[0] = type;
  out.set(payload, 1);
  out[1 + n] = rdbVersion & 0xff; // u16 LE
  out[2 + n] = rdbVersion >>> 8;
  out.set(crc64(out, 0, 3 + n).digestBytes(), 3 + n);
  return out;
}

/** Options of {@link parseDumpPayload}. */
export interface ParseDumpOptions {
  /** Highest footer version accepted, as the receiving server's RDB_VERSION. Default 12. */
  maxVersion?: number;
}

/** A verified DUMP payload. `payload` is a view into the input (no copy). */
export interface DumpPayload {
  type: number;
  payload: Uint8Array;
  version: number;
}

/**
 * Verifies and splits a DUMP payload, in Redis's order: the version, then the CRC.
 * @throws CorruptError when shorter than 11 bytes or when the first byte is not a value type
 * @throws UnsupportedError when the footer version is above `maxVersion`
 * @throws ChecksumError when the CRC-64 does not match (a stored zero included)
 */
export function parseDumpPayload(bytes: Uint8Array, opts: ParseDumpOptions = {}): DumpPayload {
  const n = bytes.length;
  if (n < MIN_PAYLOAD) {
    throw new CorruptError({ offset: n, expected: `a DUMP payload of at least ${MIN_PAYLOAD} bytes (type, value, version, CRC), got ${n}` });
  }
  const maxVersion = opts.maxVersion ?? RDB_VERSION_MAX;
  const version = bytes[n - 10]! | (bytes[n - 9]! << 8); // u16 LE
  if (version > maxVersion) {
    throw new UnsupportedError({
      offset: n - 10,
      expected: `a DUMP payload version of at most ${maxVersion}, found ${version}`,
      hint: version >= 80 ? 'a Valkey 9 payload: only Valkey 9 restores it' : 'the payload comes from a newer server',
    });
  }
  const crc = new Crc64();
  crc.update(bytes, 0, n - 8);
  if (!crc.equalsBytes(bytes, n - 8)) {
    throw new ChecksumError({ offset: n - 8, expected: `the CRC-64 of the first ${n - 8} bytes (is the payload complete and unmodified?)` });
  }
  const type = bytes[0]!;
  if (!isRedisValueType(type)) {
    throw new CorruptError({ offset: 0, expected: `a value type as the first byte of a DUMP payload, found ${type}` });
  }
  return { type, payload: bytes.subarray(1, n - FOOTER_BYTES), version };
}

/** A key's value for {@link payloadForTarget}: what the reader's KeyRecord carries. */
export interface PayloadSource {
  type: number;
  payload: Uint8Array;
  key?: Uint8Array;
  valueOffset?: number;
}

/** Options of {@link payloadForTarget}. */
export interface PayloadForTargetOptions {
  /** Drop values the target cannot hold / strip field TTLs instead of throwing. Default false. */
  dropUnsupported?: boolean;
  /** The value comes from a Valkey 9 file. Default false. */
  valkey?: boolean;
  /** LZF for strings written by conversion. Default true. */
  compress?: boolean;
  /** Decode and re-encode even loadable values (see RdbWriterOptions.reencode). Default false. */
  reencode?: boolean;
}

export type PayloadForTargetResult =
  | { dump: Uint8Array; type: number; outcome: 'copied' | 'converted'; fieldTtlsDropped?: number }
  | { dropped: string };

/**
 * A RESTORE payload for a server of RDB version `targetVersion`: the value converted when that
 * version cannot load its type (convert.ts), then framed with `targetVersion` in the footer.
 * @throws UnsupportedError / CorruptError as convertForTarget
 */
export function payloadForTarget(rec: PayloadSource, targetVersion: number, opts: PayloadForTargetOptions = {}): PayloadForTargetResult {
  const valkey = opts.valkey === true;
  const convOpts = {
    dropUnsupported: opts.dropUnsupported === true,
    valkey,
    ...(rec.key !== undefined ? { key: rec.key } : {}),
    ...(rec.valueOffset !== undefined ? { offset: rec.valueOffset } : {}),
    ...(opts.compress !== undefined ? { compress: opts.compress } : {}),
  };
  if (opts.reencode !== true && targetLoadsType(rec.type, targetVersion, valkey)) {
    return { dump: buildDumpPayload(rec.type, rec.payload, targetVersion), type: rec.type, outcome: 'copied' };
  }
  const res = opts.reencode === true
    ? encodeValue(decodeValue(rec.type, rec.payload, { valkey, ...(rec.valueOffset !== undefined ? { offset: rec.valueOffset } : {}) }), targetVersion, convOpts)
    : convertForTarget(rec.type, rec.payload, targetVersion, convOpts);
  if (isDropped(res)) return { dropped: res.dropped };
  const out: PayloadForTargetResult = { dump: buildDumpPayload(res.type, res.payload, targetVersion), type: res.type, outcome: 'converted' };
  if (res.fieldTtlsDropped !== undefined && res.fieldTtlsDropped > 0) out.fieldTtlsDropped = res.fieldTtlsDropped;
  return out;
}
