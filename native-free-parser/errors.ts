/**
 * Typed errors of the RDB codec. Every error says where (source name and byte offset) and what
 * was expected there, so a user can tell a damaged file from a truncated download from a version
 * this codec does not know. The CLI maps each class to its exit code (docs/CLI.md).
 */

export type RdbErrorKind = 'corrupt' | 'truncated' | 'checksum' | 'unsupported' | 'limit';

export interface RdbErrorInfo {
  /** Name of the input (a file path, `-`, a URI); empty when unknown. */
  source?: string;
  /** Absolute byte offset in the input where the problem was found. */
  offset: number;
  /** What was expected at that offset, in words. */
  expected: string;
  /** A next step for the user, when one helps. */
  hint?: string;
  /** The key being read, when the error happened inside a key record. */
  key?: Uint8Array;
}

export class RdbError extends Error {
  readonly kind: RdbErrorKind;
  source: string;
  offset: number;
  readonly expected: string;
  readonly hint: string | undefined;
  key: Uint8Array | undefined;

  constructor(kind: RdbErrorKind, info: RdbErrorInfo) {
    super(formatMessage(kind, info.source ?? '', info.offset, info.expected));
    this.kind = kind;
    this.source = info.source ?? '';
    this.offset = info.offset;
    this.expected = info.expected;
    this.hint = info.hint;
    this.key = info.key;
    this.name = 'RdbError';
  }

  /** Names the input once the caller knows it (the codec itself reads anonymous bytes). */
  setSource(source: string, offsetBase = 0): this {
    this.source = source;
    this.offset += offsetBase;
    this.message = formatMessage(this.kind, this.source, this.offset, this.expected);
    return this;
  }
}

/** One line: `<kind>: <source>: offset <n>: <expected>`. */
function formatMessage(kind: RdbErrorKind, source: string, offset: number, expected: string): string {
  const src = source === '' ? '' : `${source}: `;
  return `${kind}: ${src}offset ${offset}: ${expected}`;
}

/** Bad structure: an impossible length, a bad LZF stream, an inner blob that fails its checks. */
export class CorruptError extends RdbError {
  constructor(info: RdbErrorInfo) {
    super('corrupt', info);
    this.name = 'CorruptError';
  }
}

/** The input ended inside a record (or before the EOF opcode / checksum). */
export class TruncatedError extends RdbError {
  constructor(info: RdbErrorInfo) {
    super('truncated', info);
    this.name = 'TruncatedError';
  }
}

/** The CRC-64 stored after EOF (or in a DUMP footer) does not match the bytes. */
export class ChecksumError extends RdbError {
  constructor(info: RdbErrorInfo) {
    super('checksum', info);
    this.name = 'ChecksumError';
  }
}

/**
 * The error of a file whose stored CRC-64 (`stored`, 16 hex digits, most significant first) is not
 * the one computed over its bytes 0..eofOffset (`got`): found just after the EOF opcode.
 */
export function checksumMismatch(eofOffset: number, got: string, stored: string, source?: string): ChecksumError {
  return new ChecksumError({
    ...(source !== undefined ? { source } : {}),
    offset: eofOffset + 1,
    expected: `CRC-64 ${got} over bytes 0..${eofOffset}, found ${stored}`,
    hint: 'the file was damaged after it was written (or cut and re-joined)',
  });
}

/** A version, type, opcode or encoding this codec (or the chosen target) cannot handle. */
export class UnsupportedError extends RdbError {
  constructor(info: RdbErrorInfo) {
    super('unsupported', info);
    this.name = 'UnsupportedError';
  }
}

/** A length over the configured limit (`maxValueSize`): refused before anything is allocated. */
export class LimitError extends RdbError {
  constructor(info: RdbErrorInfo) {
    super('limit', info);
    this.name = 'LimitError';
  }
}

export function isRdbError(e: unknown): e is RdbError {
  return e instanceof RdbError;
}
