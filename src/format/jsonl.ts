/**
 * The canonical JSONL form of ../shared/docs/JSONL.md: one key a line, bytes as UTF-8 strings or
 * {"b64": ...}, sets and hash fields sorted by raw bytes, zsets in ZRANGE order.
 */
import { Buffer, isUtf8 } from 'node:buffer';
import type { Value, StreamId, StreamValue } from '../../native-free-parser/index.js';
import { compareBytes } from '../../native-free-parser/index.js';

export type JsonBytes = string | { b64: string };

/** Bytes as JSONL wants them: text when valid UTF-8, else base64. */
export function jsonBytes(b: Uint8Array): JsonBytes {
  const buf = Buffer.from(b.buffer, b.byteOffset, b.byteLength);
  if (isUtf8(buf)) return buf.toString('utf8');
  return { b64: buf.toString('base64') };
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
