/**
 * A value rebuilt with plain commands, for a target that cannot take it as one RESTORE payload
 * (the payload is longer than the server's `proto-max-bulk-len`): RPUSH / SADD / ZADD / HSET in
 * chunks bounded by element count and bytes, XADD per stream entry then the stream's id
 * bookkeeping and consumer groups. The caller builds into a temporary key and renames it over the
 * real one at the end, so a reader never sees half a value, and sets the expiry itself.
 *
 * Each argument must itself fit under `proto-max-bulk-len`: a single string, element, member,
 * field or value longer than that cannot reach the server by any command, and the plan says so.
 *
 * What cannot follow: the key's LRU idle time and LFU counter. Redis sets them only when it loads
 * an object (RDB load, RESTORE ... IDLETIME/FREQ) or for a module (RM_SetLRU / RM_SetLFU);
 * OBJECT FREQ / IDLETIME only read them, and every command that builds the value touches the key.
 * A DUMP of the rebuilt key could carry them, but restoring it is exactly the bulk the server
 * refuses. So a rebuilt key starts as a new key would; replay counts these (rebuiltLruLfuLost).
 */
import { formatDoubleShortest, streamIdToString } from '../../native-free-parser/index.js';
import type { StreamId, Value } from '../../native-free-parser/index.js';
import type { Arg } from './resp.js';

export interface RebuildOptions {
  /** The server's proto-max-bulk-len: the longest single argument. */
  maxBulk: number;
  /** The target's RDB version: picks HMSET (< 8, Redis < 4.0), XSETID / XGROUP extras (>= 10). */
  targetVersion: number;
  /** Bytes of elements per command, at most. Default 1 MiB (at least one element). */
  chunkBytes?: number;
  /** Elements per command, at most. Default 1,024. */
  chunkElements?: number;
}

export type RebuildPlan =
  | { commands: Arg[][]; elements: number }
  | { error: string };

const DEFAULT_CHUNK_BYTES = 1024 * 1024;
const DEFAULT_CHUNK_ELEMENTS = 1024;

function score(d: number): string {
  return formatDoubleShortest(d);
}

function id(x: StreamId): string {
  return streamIdToString(x);
}

/**
 * The commands that build `v` at `key`, starting from a key that does not exist.
 * @returns the commands, or `{ error }` when an argument is longer than `maxBulk`, or the value a
 *   module's (which no command can rebuild)
 */
export function rebuildCommands(v: Value, key: Uint8Array, opts: RebuildOptions): RebuildPlan {
  const maxBulk = opts.maxBulk;
  const chunkBytes = Math.max(1, opts.chunkBytes ?? DEFAULT_CHUNK_BYTES);
  const chunkElements = Math.max(1, opts.chunkElements ?? DEFAULT_CHUNK_ELEMENTS);
  const tooLong = (what: string, n: number): RebuildPlan => ({
    error: `${what} of ${n} bytes is longer than the target's proto-max-bulk-len (${maxBulk}): no command can carry it`,
  });
  const commands: Arg[][] = [];

  /** Appends elements (each `width` args long) in chunks after `head`. */
  const chunked = (head: Arg[], items: ReadonlyArray<readonly Arg[]>): void => {
    let cur: Arg[] | null = null;
    let bytes = 0;
    let n = 0;
    for (const it of items) {
      let size = 0;
      for (const a of it) size += typeof a === 'string' ? a.length : typeof a === 'number' ? 20 : a.length;
      if (cur !== null && (n >= chunkElements || bytes + size > chunkBytes)) {
        commands.push(cur);
        cur = null;
      }
      if (cur === null) {
        cur = [...head];
        bytes = 0;
        n = 0;
      }
      for (const a of it) cur.push(a);
      bytes += size;
      n++;
    }
    if (cur !== null) commands.push(cur);
  };

  switch (v.type) {
    case 'string':
      if (v.value.length > maxBulk) return tooLong('a string', v.value.length);
      commands.push(['SET', key, v.value]);
      return { commands, elements: 1 };
    case 'list': {
      for (const e of v.value) if (e.length > maxBulk) return tooLong('a list element', e.length);
      chunked(['RPUSH', key], v.value.map((e) => [e]));
      return { commands, elements: v.value.length };
    }
    case 'set': {
      for (const e of v.value) if (e.length > maxBulk) return tooLong('a set member', e.length);
      chunked(['SADD', key], v.value.map((e) => [e]));
      return { commands, elements: v.value.length };
    }
    case 'zset': {
      for (const [m] of v.value) if (m.length > maxBulk) return tooLong('a sorted-set member', m.length);
      chunked(['ZADD', key], v.value.map(([m, s]) => [score(s), m]));
      return { commands, elements: v.value.length };
    }
    case 'hash': {
      for (const [f, x] of v.value) {
        if (f.length > maxBulk) return tooLong('a hash field', f.length);
        if (x.length > maxBulk) return tooLong('a hash value', x.length);
      }
      chunked([opts.targetVersion >= 8 ? 'HSET' : 'HMSET', key], v.value.map(([f, x]) => [f, x]));
      if (v.fieldExpireAt !== undefined && v.fieldExpireAt.length > 0) {
        // HPEXPIREAT key ms FIELDS n f1 f2 ...: one command per distinct expiry time.
        const byTime = new Map<number, Uint8Array[]>();
        for (const [f, t] of v.fieldExpireAt) {
          let l = byTime.get(t);
          if (l === undefined) byTime.set(t, (l = []));
          l.push(f);
        }
        for (const [t, fields] of byTime) {
          for (let i = 0; i < fields.length; i += chunkElements) {
            const part = fields.slice(i, i + chunkElements);
            commands.push(['HPEXPIREAT', key, t, 'FIELDS', part.length, ...part]);
          }
        }
      }
      return { commands, elements: v.value.length };
    }
    case 'stream': {
      const s = v.value;
      for (const e of s.entries) for (const f of e.fields) if (f.length > maxBulk) return tooLong('a stream field or value', f.length);
      for (const e of s.entries) commands.push(['XADD', key, id(e.id), ...e.fields]);
      const v7 = opts.targetVersion >= 10;
      if (s.entries.length === 0) {
        // An empty stream still exists: make it with a throwaway group, removed below.
        commands.push(['XGROUP', 'CREATE', key, 'rdbmerge-tmp-group', '0', 'MKSTREAM']);
        commands.push(['XGROUP', 'DESTROY', key, 'rdbmerge-tmp-group']);
      }
      const setid: Arg[] = ['XSETID', key, id(s.lastId)];
      if (v7 && s.entriesAdded !== undefined) setid.push('ENTRIESADDED', s.entriesAdded.toString());
      if (v7 && s.maxDeletedEntryId !== undefined) setid.push('MAXDELETEDID', id(s.maxDeletedEntryId));
      commands.push(setid);
      for (const g of s.groups) {
        const create: Arg[] = ['XGROUP', 'CREATE', key, g.name, id(g.lastDeliveredId)];
        if (v7 && g.entriesRead !== undefined && g.entriesRead >= 0n) create.push('ENTRIESREAD', g.entriesRead.toString());
        commands.push(create);
        const owner = new Map<string, Uint8Array>();
        for (const c of g.consumers) {
          if (v7) commands.push(['XGROUP', 'CREATECONSUMER', key, g.name, c.name]);
          for (const p of c.pending) owner.set(id(p), c.name);
        }
        // XCLAIM ... FORCE recreates each pending entry with its consumer, delivery time and count.
        for (const p of g.pending) {
          const c = owner.get(id(p.id));
          if (c === undefined) continue;
          commands.push(['XCLAIM', key, g.name, c, '0', id(p.id), 'TIME', p.deliveryTime, 'RETRYCOUNT', p.deliveryCount, 'FORCE', 'JUSTID']);
        }
      }
      return { commands, elements: s.entries.length };
    }
    case 'module':
      return { error: `a module value (${v.value.name}) cannot be rebuilt with commands` };
  }
}
