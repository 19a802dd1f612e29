/**
 * Records the reader yields, as a discriminated union on `kind`. Keys and values are bytes;
 * nothing here is decoded text except aux fields, which are short ASCII by nature.
 */

/** The file's header: magic and version. Always the first record. */
export interface HeaderRecord {
  kind: 'header';
  magic: 'REDIS' | 'VALKEY';
  version: number;
  offset: number;
}

/** An AUX field (0xFA): any key/value; unknown keys are legal and kept. */
export interface AuxRecord {
  kind: 'aux';
  key: Uint8Array;
  value: Uint8Array;
  offset: number;
}

export interface SelectDbRecord {
  kind: 'selectDb';
  db: number;
  offset: number;
}

/** RESIZEDB (0xFB): a sizing hint for the current database. */
export interface ResizeDbRecord {
  kind: 'resizeDb';
  dbSize: number;
  expiresSize: number;
  offset: number;
}

/** SLOT_INFO (0xF4, RDB 12 cluster mode): per-slot key counts, a hint. */
export interface SlotInfoRecord {
  kind: 'slotInfo';
  slot: number;
  slotSize: number;
  expiresSlotSize: number;
  offset: number;
}

/** FUNCTION2 (0xF5): one function library's source code. */
export interface FunctionRecord {
  kind: 'function';
  code: Uint8Array;
  offset: number;
}

/** MODULE_AUX (0xF7): a module's global data, carried as the raw bytes after the opcode. */
export interface ModuleAuxRecord {
  kind: 'moduleAux';
  moduleId: bigint;
  when: number;
  /** Bytes after the opcode byte up to the end of the record (module id, opcode, when, data). */
  raw: Uint8Array;
  offset: number;
}

/**
 * A key with its value. `payload` is the value exactly as serialized after the key (without the
 * type byte): `type` + `payload` is the DUMP body, and a writer can copy both unchanged.
 */
export interface KeyRecord {
  kind: 'key';
  db: number;
  key: Uint8Array;
  /** RDB type id (Redis numbering; Valkey's own ids when `valkey` is set on the header). */
  type: number;
  payload: Uint8Array;
  /** Absolute expiry in Unix ms, or -1 for none. */
  expireAt: number;
  /** LRU idle seconds from an IDLE opcode, or -1. */
  idle: number;
  /** LFU counter from a FREQ opcode, or -1. */
  freq: number;
  /** Absolute offset of the record's first byte (its first per-key opcode, or its type byte). */
  offset: number;
  /** Absolute offset of the key's encoded string (right after the type byte). */
  keyOffset: number;
  /** Absolute offset of payload[0]. */
  valueOffset: number;
  /** Element count, computed when the reader is asked to (`countElements`); else -1. */
  elements: number;
}

/** A key Redis would skip on load (an empty collection): reported, never written. */
export interface SkippedRecord {
  kind: 'skipped';
  reason: 'empty';
  db: number;
  key: Uint8Array;
  type: number;
  offset: number;
}

/** EOF (0xFF) and what the checksum said. */
export interface EofRecord {
  kind: 'eof';
  /** 'ok' verified; 'absent' RDB < 5 has none; 'disabled' a stored zero (rdbchecksum no). */
  checksum: 'ok' | 'absent' | 'disabled' | 'unchecked';
  /** Stored CRC-64 as 16 hex digits, or '' when absent. */
  stored: string;
  offset: number;
  /** Total bytes of the RDB stream including the checksum. */
  size: number;
}

export type RdbRecord =
  | HeaderRecord
  | AuxRecord
  | SelectDbRecord
  | ResizeDbRecord
  | SlotInfoRecord
  | FunctionRecord
  | ModuleAuxRecord
  | KeyRecord
  | SkippedRecord
  | EofRecord;
