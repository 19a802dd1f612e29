/** Reads a fixture through the codec into canonical JSONL objects (the codec's view of a file). */
import { readFileSync } from 'node:fs';
import { decodeValue, readRdb } from '../../native-free-parser/index.js';
import type { RdbInput, RdbRecord, ReadOptions } from '../../native-free-parser/index.js';
import { keyJson } from '../../src/format/jsonl.js';

export interface ReadResult {
  lines: Array<Record<string, unknown>>;
  records: RdbRecord[];
  valkey: boolean;
}

export async function readToJsonl(input: RdbInput, opts: ReadOptions = {}): Promise<ReadResult> {
  const lines: Array<Record<string, unknown>> = [];
  const records: RdbRecord[] = [];
  let valkey = false;
  for await (const batch of readRdb(input, opts)) {
    for (const r of batch) {
      records.push(r);
      if (r.kind === 'header') valkey = r.magic === 'VALKEY';
      if (r.kind !== 'key') continue;
      const v = decodeValue(r.type, r.payload, { offset: r.valueOffset, valkey });
      lines.push(keyJson(r.db, r.key, v, r.expireAt));
    }
  }
  return { lines, records, valkey };
}

/** Splits a buffer into chunks of `size` bytes (each a fresh copy, as a stream would deliver). */
export function* chunked(buf: Uint8Array, size: number): Generator<Uint8Array> {
  for (let i = 0; i < buf.length; i += size) yield buf.slice(i, Math.min(buf.length, i + size));
}

export function readBytes(path: string): Uint8Array {
  const b = readFileSync(path);
  return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
}
