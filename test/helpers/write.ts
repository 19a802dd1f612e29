/**
 * Rewriting a fixture with the codec's RdbWriter, and what the result should contain: the
 * fixture's manifest minus whatever the target version cannot hold (and the writer reported as
 * dropped). Shared by writer.test.ts and writer-redis.test.ts.
 */
import { writeFileSync } from 'node:fs';
import { encodeValue, isDropped, RdbWriter } from '../../native-free-parser/index.js';
import type { KeyRecord, RdbRecord, RdbWriterOptions, Value, WriterDrop } from '../../native-free-parser/index.js';
import { jsonBytes } from '../../src/format/jsonl.js';
import type { FixtureMeta } from './fixtures.js';

/** Writes the records of a file that was read with readRdbAll (keys, functions, module aux). */
export function writeRecords(records: RdbRecord[], opts: RdbWriterOptions): { bytes: Uint8Array; writer: RdbWriter } {
  const w = new RdbWriter(opts);
  // RESIZEDB hints: the reader's count of keys and expires per db.
  const sizes = new Map<number, { keys: number; expires: number }>();
  for (const r of records) {
    if (r.kind !== 'key') continue;
    const s = sizes.get(r.db) ?? { keys: 0, expires: 0 };
    s.keys++;
    if (r.expireAt >= 0) s.expires++;
    sizes.set(r.db, s);
  }
  const chunks: Uint8Array[] = [];
  w.begin();
  let db = -1;
  for (const r of records) {
    switch (r.kind) {
      case 'function':
        w.function(r.code);
        break;
      case 'moduleAux':
        w.moduleAux(r.raw);
        break;
      case 'key': {
        const k = r as KeyRecord;
        if (k.db !== db) {
          const s = sizes.get(k.db)!;
          w.selectDb(k.db, s.keys, s.expires);
          db = k.db;
        }
        w.key(k);
        // Drain now and then, as a streaming caller would: the CRC must span the chunks.
        if (w.pendingBytes > 64 * 1024) chunks.push(w.drain());
        break;
      }
      default:
        break;
    }
  }
  w.end();
  chunks.push(w.drain());
  let n = 0;
  for (const c of chunks) n += c.length;
  const bytes = new Uint8Array(n);
  let o = 0;
  for (const c of chunks) {
    bytes.set(c, o);
    o += c.length;
  }
  return { bytes, writer: w };
}

function lineId(db: unknown, key: unknown): string {
  return `${String(db)}\u0000${JSON.stringify(key)}`;
}

/** The manifest as it should read back after a write that dropped `drops` (a deep copy). */
export function expectedAfterDrops(manifest: Array<Record<string, unknown>>, drops: readonly WriterDrop[]): Array<Record<string, unknown>> {
  const gone = new Set<string>();
  const noTtl = new Set<string>();
  for (const d of drops) {
    if (d.key === undefined) continue;
    const id = lineId(d.db, jsonBytes(d.key));
    if (d.kind === 'key') gone.add(id);
    if (d.kind === 'fieldTtls') noTtl.add(id);
  }
  const out: Array<Record<string, unknown>> = [];
  for (const line of manifest) {
    const id = lineId(line['db'], line['key']);
    if (gone.has(id)) continue;
    const copy = structuredClone(line);
    if (noTtl.has(id)) delete copy['fieldExpireAt'];
    out.push(copy);
  }
  return out;
}

/** What a fixture holds that limits the versions it can be written at without loss. */
export interface FixtureNeeds {
  streams: number;
  functions: number;
  /** Hash keys with at least one field TTL. */
  fieldTtlKeys: number;
  modules: number;
  /** The lowest RDB version that holds everything. */
  minVersion: number;
}

/** From the manifest and the meta file, independently of the writer. */
export function fixtureNeeds(manifest: Array<Record<string, unknown>>, meta: FixtureMeta): FixtureNeeds {
  const streams = manifest.filter((l) => l['type'] === 'stream').length;
  const modules = manifest.filter((l) => l['type'] === 'module').length;
  const fieldTtlKeys = manifest.filter((l) => Array.isArray(l['fieldExpireAt']) && (l['fieldExpireAt'] as unknown[]).length > 0).length;
  const functions = meta.functions?.length ?? 0;
  let minVersion = 6;
  if (modules > 0) minVersion = Math.max(minVersion, 8);
  if (streams > 0) minVersion = Math.max(minVersion, 9);
  if (functions > 0) minVersion = Math.max(minVersion, 10);
  if (fieldTtlKeys > 0) minVersion = 12;
  return { streams, functions, fieldTtlKeys, modules, minVersion };
}

/** The drops a write at `version` with dropUnsupported must report, by kind. */
export function expectedDropCounts(needs: FixtureNeeds, version: number): { key: number; fieldTtls: number; function: number } {
  return {
    key: (version < 9 ? needs.streams : 0) + (version < 8 ? needs.modules : 0),
    fieldTtls: version < 12 ? needs.fieldTtlKeys : 0,
    function: version < 10 ? needs.functions : 0,
  };
}

/**
 * Expected lines for a target below RDB 10, whose stream layout (type 15) has no first id, max
 * deleted id, entries-added counter or group entries-read: the server that loads such a file
 * computes values of its own for them, so they are not part of what must survive.
 */
export function withoutStreamV2Metadata(lines: Array<Record<string, unknown>>): Array<Record<string, unknown>> {
  for (const line of lines) {
    if (line['type'] !== 'stream') continue;
    const v = line['value'] as Record<string, unknown>;
    delete v['entriesAdded'];
    delete v['maxDeletedEntryId'];
    delete v['firstEntryId'];
    for (const g of (v['groups'] as Array<Record<string, unknown>> | undefined) ?? []) delete g['entriesRead'];
  }
  return lines;
}

/** A key of a handmade file: its value, and an expiry (unix ms) when given. */
export interface HandmadeKey {
  key: string;
  v: Value;
  expireAt?: number;
}

/** Writes an RDB 10 file of `values`, all in db 0. */
export function writeValues(path: string, values: readonly HandmadeKey[]): void {
  const te = new TextEncoder();
  const w = new RdbWriter({ version: 10 });
  w.begin();
  w.selectDb(0, values.length, values.filter((x) => x.expireAt !== undefined).length);
  for (const x of values) {
    const enc = encodeValue(x.v, 10, { key: te.encode(x.key) });
    if (isDropped(enc)) throw new Error('test: dropped');
    w.key({ key: te.encode(x.key), type: enc.type, payload: enc.payload, expireAt: x.expireAt ?? -1, idle: -1, freq: -1 });
  }
  w.end();
  writeFileSync(path, w.drain());
}
