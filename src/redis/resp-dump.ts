/**
 * Reads every key of a live server over RESP into the canonical JSONL objects of JSONL.md, the
 * same shape as the fixtures' manifests: the independent "what did the server actually load"
 * side of every golden and integration test.
 *
 * How: per database, SCAN in pages; per page one EVAL that returns TYPE + PEXPIRETIME of every
 * key (a pipeline of both per key where scripting is unavailable), then pipelined rounds: the
 * page's strings in one MGET, every collection paged at once (LRANGE / ZRANGE by index, SSCAN /
 * HSCAN by cursor, `pageSize` elements a command) until each is complete; hash field TTLs
 * (HPEXPIRETIME) as a last round; streams key by key (XINFO STREAM, XRANGE pages, XINFO GROUPS /
 * CONSUMERS, XPENDING pages). Paging instead of SMEMBERS / HGETALL / LRANGE 0 -1 keeps each
 * reply, and the time the server spends building it, bounded however large one key is. Two pages
 * of keys are in flight at a time, so the server works on one while the client decodes the other.
 *
 * Everything is read as bytes (`callBuffer`), so binary keys, members and values survive.
 * Nothing here is atomic: a key written while it is read may come out mixed, which is the nature
 * of SCAN; keys that disappear mid-read are left out, keys that change type are read again.
 */
import { Buffer } from 'node:buffer';
import type { ConnectionOptions } from 'node:tls';
import { Redis, type ChainableCommander } from 'ioredis';
import { decodeValue } from '../../native-free-parser/index.js';
import { jsonBytes, valueJson, type JsonBytes } from '../format/jsonl.js';

export interface RespTarget {
  host: string;
  port: number;
  password?: string;
  username?: string;
  /** TLS (node:tls options: ca, cert, key, ...); plain TCP when absent. */
  tls?: ConnectionOptions;
}

export interface RespDumpOptions {
  /** Databases to read; default: every database INFO keyspace lists. */
  dbs?: number[];
  /** SCAN COUNT hint, and so keys handled per pipelined batch; default 1000. */
  scanCount?: number;
  /** Elements asked for per LRANGE / ZRANGE / SSCAN / HSCAN / XRANGE / XPENDING / HPEXPIRETIME; default 1000. */
  pageSize?: number;
  /** Connect timeout in ms; default 10,000. */
  connectTimeoutMs?: number;
}

/** Why a dump failed: no connection, a reply that was not what the command promises, a key that kept changing. */
export class RespDumpError extends Error {
  override readonly name = 'RespDumpError';
  constructor(
    readonly code: 'connect' | 'reply' | 'unstable',
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** One dumped key: its db and raw key (for sorting) and its JSONL object. */
export interface DumpedKey {
  db: number;
  key: Buffer;
  line: Record<string, unknown>;
}

/** What the server can do, from COMMAND INFO (or its version when COMMAND is missing). */
interface Caps {
  /** PEXPIRETIME (Redis 7.0+): exact absolute expiry. Otherwise PTTL + the local clock. */
  pexpiretime: boolean;
  /** HPEXPIRETIME (Redis 7.4+): hash field TTLs. */
  hpexpiretime: boolean;
  /**
   * Lua scripting: TYPE and expiry of a whole page in one EVAL. Turned off for the rest of the
   * dump the first time EVAL fails (no scripting, ACL, cluster CROSSSLOT, OOM on old servers).
   */
  script: boolean;
  /** Function flags in scripts (`#!lua flags=no-writes`, Redis 7.0+): such a script runs under OOM and on replicas. */
  scriptFlags: boolean;
  /** MGET for the string keys of a page; off after it fails once (cluster CROSSSLOT). */
  mget: boolean;
}

const DEFAULT_SCAN_COUNT = 1000;
const DEFAULT_PAGE = 1000;
/** How often a key that changed type under us is read again before giving up. */
const MAX_REREADS = 3;

/**
 * Every key of the server (or of `opts.dbs`) as canonical JSONL objects, sorted by db then raw key
 * bytes like the manifests. Holds the whole result; use `iterateKeysOverResp` to stream.
 * @throws RespDumpError as `iterateKeysOverResp`.
 */
export async function dumpOverResp(target: RespTarget, opts: RespDumpOptions = {}): Promise<Array<Record<string, unknown>>> {
  // Keys as latin1 strings: one char per byte, so the default string sort (UTF-16 code units) is
  // raw byte order, and V8's built-in comparison is several times cheaper than a comparator
  // calling Buffer.compare. Keys are unique within a db (the iterator drops SCAN's repeats).
  const byDb = new Map<number, Map<string, Record<string, unknown>>>();
  for await (const batch of iterateKeysOverResp(target, opts)) {
    for (const k of batch) {
      let m = byDb.get(k.db);
      if (m === undefined) byDb.set(k.db, (m = new Map()));
      m.set(k.key.toString('latin1'), k.line);
    }
  }
  const out: Array<Record<string, unknown>> = [];
  for (const db of [...byDb.keys()].sort((a, b) => a - b)) {
    const m = byDb.get(db)!;
    for (const k of [...m.keys()].sort()) out.push(m.get(k)!);
  }
  return out;
}

/**
 * The keys as they are read, a SCAN page at a time (db order, then SCAN order within a db).
 * Memory: two pages of keys in flight, plus a set of the keys seen so far in the current db
 * (SCAN may return a key twice).
 * @throws RespDumpError code 'connect' when the server cannot be reached or the connection drops
 *   (there is no reconnect: a dump never resumes on another connection), 'reply' when the server
 *   refuses a command or answers in an unexpected shape, 'unstable' when keys keep changing type.
 */
export async function* iterateKeysOverResp(target: RespTarget, opts: RespDumpOptions = {}): AsyncGenerator<DumpedKey[]> {
  const client = new Redis({
    host: target.host,
    port: target.port,
    ...(target.username !== undefined ? { username: target.username } : {}),
    ...(target.password !== undefined ? { password: target.password } : {}),
    ...(target.tls !== undefined ? { tls: target.tls } : {}),
    lazyConnect: true,
    connectTimeout: opts.connectTimeoutMs ?? 10_000,
    connectionName: 'rdbmerge-resp-dump',
    // A dump must not silently continue on a new connection (and possibly another server state).
    retryStrategy: () => null,
    maxRetriesPerRequest: 0,
  });
  let lastError: unknown;
  client.on('error', (e: unknown) => {
    lastError = e;
  });
  try {
    try {
      await client.connect();
    } catch (e) {
      throw new RespDumpError('connect', `cannot connect to ${target.host}:${target.port}: ${errText(lastError ?? e)}`, { cause: e });
    }
    const caps = await detectCaps(client);
    const dbs = opts.dbs ?? (await keyspaceDbs(client));
    const ctx: Ctx = { client, caps, page: opts.pageSize ?? DEFAULT_PAGE };
    const count = opts.scanCount ?? DEFAULT_SCAN_COUNT;
    // Two pages in flight: while the client decodes one page's replies the server already works
    // on the next (the connection keeps their commands in order). A failure surfaces when its page
    // is awaited; the noop catch only keeps it from being reported as unhandled meanwhile.
    let inFlight: Promise<DumpedKey[]> | undefined;
    for (const db of dbs) {
      await client.select(db);
      const seen = new Set<string>();
      let cursor = '0';
      do {
        const reply = arr(await client.callBuffer('SCAN', cursor, 'COUNT', count), 'SCAN');
        cursor = buf(reply[0], 'SCAN cursor').toString('latin1');
        const keys: Buffer[] = [];
        for (const k of arr(reply[1], 'SCAN keys')) {
          const kb = buf(k, 'SCAN key');
          const id = kb.toString('latin1'); // a 1:1 map of bytes to a string, for the seen-set
          if (seen.has(id)) continue;
          seen.add(id);
          keys.push(kb);
        }
        if (keys.length === 0) continue;
        const next = dumpKeys(ctx, db, keys);
        next.catch(() => undefined);
        if (inFlight !== undefined) {
          const out = await inFlight;
          if (out.length > 0) yield out;
        }
        inFlight = next;
      } while (cursor !== '0');
      // Finish the db before SELECTing the next one.
      if (inFlight !== undefined) {
        const out = await inFlight;
        inFlight = undefined;
        if (out.length > 0) yield out;
      }
    }
  } catch (e) {
    throw asDumpError(e, target, lastError);
  } finally {
    client.disconnect();
  }
}

/**
 * Any failure as a RespDumpError: server error replies (ioredis's ReplyError: NOPERM, LOADING,
 * ...) are 'reply', everything else (connection closed or reset, timeouts) is 'connect'.
 */
function asDumpError(e: unknown, target: RespTarget, lastError: unknown): RespDumpError {
  if (e instanceof RespDumpError) return e;
  const where = `${target.host}:${target.port}`;
  if (e instanceof Error && e.name === 'ReplyError') return new RespDumpError('reply', `${where}: ${e.message}`, { cause: e });
  const why = lastError !== undefined && lastError !== e ? `${errText(e)} (${errText(lastError)})` : errText(e);
  return new RespDumpError('connect', `${where}: connection failed during the dump: ${why}`, { cause: e });
}

interface Ctx {
  client: Redis;
  caps: Caps;
  page: number;
}

function errText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/** The error code of a server error reply ("WRONGTYPE", "ERR", ...): match on this, not the text. */
function errCode(e: unknown): string {
  const m = e instanceof Error ? /^([A-Z]+)\b/.exec(e.message) : null;
  return m ? m[1]! : '';
}

function arr(x: unknown, what: string): unknown[] {
  if (!Array.isArray(x)) throw new RespDumpError('reply', `${what}: expected an array reply, got ${typeof x}`);
  return x;
}

function buf(x: unknown, what: string): Buffer {
  if (Buffer.isBuffer(x)) return x;
  if (typeof x === 'number') return Buffer.from(String(x));
  throw new RespDumpError('reply', `${what}: expected a bulk string, got ${x === null ? 'nil' : typeof x}`);
}

function int(x: unknown, what: string): number {
  if (typeof x === 'number') return x;
  if (Buffer.isBuffer(x)) {
    const n = Number(x.toString('latin1'));
    if (Number.isFinite(n)) return n;
  }
  throw new RespDumpError('reply', `${what}: expected an integer, got ${x === null ? 'nil' : typeof x}`);
}

/** A flat [name, value, name, value, ...] reply as a map of names. */
function fieldMap(x: unknown, what: string): Map<string, unknown> {
  const a = arr(x, what);
  const m = new Map<string, unknown>();
  for (let i = 0; i + 1 < a.length; i += 2) m.set(buf(a[i], what).toString('latin1'), a[i + 1]);
  return m;
}

async function detectCaps(client: Redis): Promise<Caps> {
  try {
    const info = arr(await client.call('COMMAND', 'INFO', 'pexpiretime', 'hpexpiretime'), 'COMMAND INFO');
    const pexpiretime = info[0] != null;
    return { pexpiretime, hpexpiretime: info[1] != null, script: true, scriptFlags: pexpiretime, mget: true };
  } catch (e) {
    if (e instanceof RespDumpError) throw e;
    // No COMMAND (Redis < 2.8.13) or it is renamed away: go by the version.
    const server = await client.info('server');
    const m = /^redis_version:(\d+)\.(\d+)/m.exec(server);
    const v = m ? Number(m[1]) * 100 + Number(m[2]) : 0;
    return { pexpiretime: v >= 700, hpexpiretime: v >= 704, script: v >= 206, scriptFlags: v >= 700, mget: true };
  }
}

async function keyspaceDbs(client: Redis): Promise<number[]> {
  const text = await client.info('keyspace');
  const dbs: number[] = [];
  for (const m of text.matchAll(/^db(\d+):keys=(\d+)/gm)) if (Number(m[2]) > 0) dbs.push(Number(m[1]));
  return dbs.sort((a, b) => a - b);
}

/** An absolute expiry from PEXPIRETIME, or from PTTL and the local clock on older servers. */
function expireAtOf(caps: Caps, reply: unknown, now: number): number | null | 'gone' {
  const v = int(reply, caps.pexpiretime ? 'PEXPIRETIME' : 'PTTL');
  if (v === -2) return 'gone';
  if (v < 0) return null;
  return caps.pexpiretime ? v : now + v;
}

/** The value families, as small numbers for the hot switches. */
const Kind = { String: 0, List: 1, Set: 2, Zset: 3, Hash: 4, Stream: 5, Module: 6 } as const;
type Kind = (typeof Kind)[keyof typeof Kind];

function kindOf(type: string): Kind | undefined {
  switch (type) {
    case 'string': return Kind.String;
    case 'list': return Kind.List;
    case 'set': return Kind.Set;
    case 'zset': return Kind.Zset;
    case 'hash': return Kind.Hash;
    case 'stream': return Kind.Stream;
    case 'none': return undefined;
    default: return Kind.Module; // TYPE answers a module's 9-character type name
  }
}

/**
 * One key being read: which command comes next and what has been gathered. A plain state machine
 * (no closure per key) so a batch of a thousand keys costs a thousand small objects.
 */
class KeyJob {
  done = false;
  /** The key vanished while being read: leave it out. */
  gone = false;
  /** The key changed type while being read: read it again. */
  reread = false;
  /** LRANGE / ZRANGE offset, or HPEXPIRETIME field offset. */
  offset = 0;
  /** SSCAN / HSCAN cursor. */
  cursor = '0';
  /** Hash phase: 0 fields, 1 field TTLs. */
  phase = 0;
  items: Buffer[] = [];
  /** Zset scores, parallel to `items`. */
  scores: Array<number | string> | undefined;
  /** SSCAN/HSCAN may return an element twice: members or fields seen, by their latin1 string. */
  seen: Map<string, Buffer> | undefined;
  fieldTtls: Array<[Buffer, number]> | undefined;
  value: unknown;

  constructor(
    readonly db: number,
    readonly key: Buffer,
    readonly kind: Kind,
    readonly typeName: string,
    readonly expireAt: number | null,
  ) {}

  /** Queues this key's next command on `p`. */
  queue(p: ChainableCommander, page: number): void {
    switch (this.kind) {
      case Kind.String: p.callBuffer('GET', this.key); return;
      case Kind.List: p.callBuffer('LRANGE', this.key, this.offset, this.offset + page - 1); return;
      case Kind.Zset: p.callBuffer('ZRANGE', this.key, this.offset, this.offset + page - 1, 'WITHSCORES'); return;
      case Kind.Set: p.callBuffer('SSCAN', this.key, this.cursor, 'COUNT', page); return;
      case Kind.Hash:
        if (this.phase === 0) {
          p.callBuffer('HSCAN', this.key, this.cursor, 'COUNT', page);
        } else {
          const fields = this.items.slice(this.offset, this.offset + page);
          p.callBuffer('HPEXPIRETIME', this.key, 'FIELDS', fields.length, ...fields);
        }
        return;
      case Kind.Module: p.callBuffer('DUMP', this.key); return;
      case Kind.Stream: throw new Error('streams are read by readStream');
    }
  }

  /** Takes the reply to the command `queue` sent. */
  take(err: Error | null, reply: unknown, ctx: Ctx): void {
    if (err) {
      if (errCode(err) === 'WRONGTYPE') {
        this.reread = true;
        this.done = true;
        return;
      }
      throw new RespDumpError('reply', `db ${this.db} key ${this.key.toString('latin1')} (${this.typeName}): ${err.message}`, { cause: err });
    }
    const page = ctx.page;
    switch (this.kind) {
      case Kind.String:
        if (reply === null) {
          this.gone = true;
          this.done = true;
        } else {
          this.takeString(buf(reply, 'GET'));
        }
        return;
      case Kind.List: {
        const a = arr(reply, 'LRANGE');
        for (const x of a) this.items.push(buf(x, 'LRANGE'));
        this.offset += page;
        if (a.length < page) this.finishList();
        return;
      }
      case Kind.Zset: {
        const a = arr(reply, 'ZRANGE');
        for (let i = 0; i + 1 < a.length; i += 2) {
          this.items.push(buf(a[i], 'ZRANGE member'));
          (this.scores ??= []).push(score(buf(a[i + 1], 'ZRANGE score')));
        }
        this.offset += page;
        if (a.length < 2 * page) this.finishZset();
        return;
      }
      case Kind.Set: {
        const a = arr(reply, 'SSCAN');
        this.cursor = buf(a[0], 'SSCAN cursor').toString('latin1');
        const seen = (this.seen ??= new Map());
        for (const x of arr(a[1], 'SSCAN members')) {
          const m = buf(x, 'SSCAN member');
          seen.set(m.toString('latin1'), m);
        }
        if (this.cursor === '0') this.finishSet();
        return;
      }
      case Kind.Hash:
        if (this.phase === 0) this.takeHashPage(reply, ctx);
        else this.takeFieldTtls(reply, page);
        return;
      case Kind.Module:
        if (reply === null) this.gone = true;
        else this.value = moduleJson(buf(reply, 'DUMP'), this.typeName);
        this.done = true;
        return;
      case Kind.Stream:
        return;
    }
  }

  takeString(value: Buffer): void {
    this.value = jsonBytes(value);
    this.done = true;
  }

  private finishList(): void {
    if (this.items.length === 0) this.gone = true;
    else this.value = this.items.map(jsonBytes);
    this.done = true;
  }

  private finishZset(): void {
    if (this.items.length === 0) this.gone = true;
    else this.value = this.items.map((m, i) => [jsonBytes(m), this.scores![i]]);
    this.done = true;
  }

  private finishSet(): void {
    const members = [...this.seen!.values()].sort(Buffer.compare);
    this.seen = undefined;
    if (members.length === 0) this.gone = true;
    else this.value = members.map(jsonBytes);
    this.done = true;
  }

  private takeHashPage(reply: unknown, ctx: Ctx): void {
    const a = arr(reply, 'HSCAN');
    this.cursor = buf(a[0], 'HSCAN cursor').toString('latin1');
    const seen = (this.seen ??= new Map());
    const flat = arr(a[1], 'HSCAN fields');
    for (let i = 0; i + 1 < flat.length; i += 2) {
      const f = buf(flat[i], 'HSCAN field');
      // Field then value, kept together: the map's value is the value, the field is re-made below.
      seen.set(f.toString('latin1'), buf(flat[i + 1], 'HSCAN value'));
    }
    if (this.cursor !== '0') return;
    const fields = [...seen.keys()].map((f) => Buffer.from(f, 'latin1')).sort(Buffer.compare);
    if (fields.length === 0) {
      this.gone = true;
      this.done = true;
      return;
    }
    this.items = fields;
    if (ctx.caps.hpexpiretime) {
      this.phase = 1;
      this.offset = 0;
    } else {
      this.finishHash();
    }
  }

  private takeFieldTtls(reply: unknown, page: number): void {
    const a = arr(reply, 'HPEXPIRETIME');
    for (let i = 0; i < a.length; i++) {
      const t = int(a[i], 'HPEXPIRETIME');
      const f = this.items[this.offset + i]!;
      if (t === -2) this.seen!.delete(f.toString('latin1')); // the field expired or went meanwhile
      else if (t >= 0) (this.fieldTtls ??= []).push([f, t]);
    }
    this.offset += page;
    if (this.offset >= this.items.length) this.finishHash();
  }

  private finishHash(): void {
    const seen = this.seen!;
    const pairs: JsonBytes[][] = [];
    for (const f of this.items) {
      const v = seen.get(f.toString('latin1'));
      if (v !== undefined) pairs.push([jsonBytes(f), jsonBytes(v)]);
    }
    this.seen = undefined;
    if (pairs.length === 0) this.gone = true;
    else this.value = pairs;
    this.done = true;
  }

  line(): Record<string, unknown> {
    const o: Record<string, unknown> = {
      db: this.db,
      key: jsonBytes(this.key),
      type: this.kind === Kind.Module ? 'module' : this.typeName,
      value: this.value,
      expireAt: this.expireAt,
    };
    // fields are sorted already (this.items order)
    if (this.fieldTtls !== undefined) o['fieldExpireAt'] = this.fieldTtls.map(([f, t]) => [jsonBytes(f), t]);
    return o;
  }
}

/** A zset score as JSONL wants it: a number, or "inf" / "-inf". */
function score(b: Buffer): number | string {
  const s = b.toString('latin1');
  if (s === 'inf' || s === '+inf') return 'inf';
  if (s === '-inf') return '-inf';
  const v = Number(s);
  if (Number.isNaN(v)) throw new RespDumpError('reply', `ZRANGE: a score that is not a number: "${s}"`);
  return v;
}

/**
 * A module value from its DUMP payload (type byte, serialized value, 2-byte RDB version, CRC-64):
 * decoded into {module, encver, b64} like the codec does; when the codec cannot walk it, the
 * whole DUMP payload in b64 with encver null.
 */
function moduleJson(dump: Buffer, typeName: string): unknown {
  if (dump.length > 11) {
    try {
      const v = decodeValue(dump[0]!, dump.subarray(1, dump.length - 10));
      if (v.type === 'module') return valueJson(v);
    } catch {
      // fall through to the raw payload
    }
  }
  return { module: typeName, encver: null, b64: dump.toString('base64') };
}

/**
 * TYPE and expiry of every key of a page, read inside the server by one script: two commands a
 * key cost the client more than the server (ioredis spends ~10 us on each), one EVAL a page costs
 * the server about a millisecond. Returns undefined when scripting is unavailable.
 */
const TYPES_SCRIPT = `local r = {}
for i = 1, #KEYS do
  r[2 * i - 1] = redis.call('TYPE', KEYS[i])['ok']
  r[2 * i] = redis.call(ARGV[1], KEYS[i])
end
return r`;

async function typesByScript(ctx: Ctx, keys: Buffer[]): Promise<unknown[] | undefined> {
  const script = ctx.caps.scriptFlags ? `#!lua flags=no-writes\n${TYPES_SCRIPT}` : TYPES_SCRIPT;
  try {
    const r = arr(
      await ctx.client.callBuffer('EVAL', script, keys.length, ...keys, ctx.caps.pexpiretime ? 'PEXPIRETIME' : 'PTTL'),
      'EVAL TYPE/expiry',
    );
    if (r.length === 2 * keys.length) return r;
  } catch (e) {
    if (e instanceof RespDumpError) throw e;
    // Any refusal (scripting off, ACL, CROSSSLOT, busy): the pipeline below works everywhere.
  }
  ctx.caps.script = false;
  return undefined;
}

async function typesByPipeline(ctx: Ctx, keys: Buffer[]): Promise<unknown[]> {
  const cmd = ctx.caps.pexpiretime ? 'PEXPIRETIME' : 'PTTL';
  const p = ctx.client.pipeline();
  for (const k of keys) {
    p.callBuffer('TYPE', k);
    p.callBuffer(cmd, k);
  }
  const res = await execPipeline(p, 'TYPE/expiry');
  return res.map(([err, rep], i) => {
    if (err) throw new RespDumpError('reply', `${i % 2 === 0 ? 'TYPE' : cmd}: ${err.message}`, { cause: err });
    return rep;
  });
}

/**
 * Reads one page of keys: TYPE + expiry in one round, then rounds of paged value commands for all
 * keys at once (the page's strings in one MGET); streams one by one; keys that changed type are
 * read again.
 */
async function dumpKeys(ctx: Ctx, db: number, keys: Buffer[]): Promise<DumpedKey[]> {
  const out: DumpedKey[] = [];
  let todo = keys;
  for (let attempt = 0; todo.length > 0; attempt++) {
    if (attempt > MAX_REREADS) {
      throw new RespDumpError('unstable', `db ${db}: ${todo.length} key(s) kept changing type while being read (first: ${todo[0]!.toString('latin1')})`);
    }
    const res = (ctx.caps.script ? await typesByScript(ctx, todo) : undefined) ?? (await typesByPipeline(ctx, todo));
    const now = Date.now();
    const jobs: KeyJob[] = [];
    const streams: KeyJob[] = [];
    for (let i = 0; i < todo.length; i++) {
      const typeName = buf(res[2 * i], 'TYPE').toString('latin1');
      const kind = kindOf(typeName);
      const exp = expireAtOf(ctx.caps, res[2 * i + 1], now);
      if (kind === undefined || exp === 'gone') continue;
      const job = new KeyJob(db, todo[i]!, kind, typeName, exp);
      (kind === Kind.Stream ? streams : jobs).push(job);
    }
    let active = jobs;
    let first = true;
    while (active.length > 0) {
      const q = ctx.client.pipeline();
      let strings: KeyJob[] | undefined;
      let rest = active;
      if (first && ctx.caps.mget) {
        strings = active.filter((j) => j.kind === Kind.String);
        if (strings.length > 1) {
          q.callBuffer('MGET', ...strings.map((j) => j.key));
          rest = active.filter((j) => j.kind !== Kind.String);
        } else {
          strings = undefined;
        }
      }
      for (const j of rest) j.queue(q, ctx.page);
      const r = await execPipeline(q, 'values');
      let i = 0;
      if (strings !== undefined) {
        const [err, rep] = r[i++]!;
        if (err) {
          ctx.caps.mget = false; // the strings stay active and are read with GET next round
        } else {
          const values = arr(rep, 'MGET');
          for (let k = 0; k < strings.length; k++) {
            // nil: gone, or no longer a string; GET next round tells which.
            if (values[k] != null) strings[k]!.takeString(buf(values[k], 'MGET'));
          }
        }
      }
      for (const j of rest) {
        const [err, rep] = r[i++]!;
        j.take(err, rep, ctx);
      }
      active = active.filter((j) => !j.done);
      first = false;
    }
    const again: Buffer[] = [];
    for (const j of jobs) {
      if (j.reread) again.push(j.key);
      else if (!j.gone) out.push({ db, key: j.key, line: j.line() });
    }
    for (const s of streams) {
      const value = await readStream(ctx, s.key);
      if (value === 'reread') again.push(s.key);
      else if (value !== undefined) {
        s.value = value;
        out.push({ db, key: s.key, line: s.line() });
      }
    }
    todo = again;
  }
  return out;
}

async function execPipeline(p: ChainableCommander, what: string): Promise<Array<[Error | null, unknown]>> {
  const res = await p.exec();
  if (res === null) throw new RespDumpError('reply', `${what}: the pipeline was discarded (connection lost?)`);
  return res;
}

type StreamIdText = string;

/** The id right after `id` (ms-seq as unsigned 64-bit parts), or undefined after the last one. */
function nextId(id: StreamIdText): StreamIdText | undefined {
  const dash = id.indexOf('-');
  let ms = BigInt(id.slice(0, dash));
  let seq = BigInt(id.slice(dash + 1));
  const MAX = 0xffff_ffff_ffff_ffffn;
  if (seq < MAX) seq += 1n;
  else if (ms < MAX) {
    ms += 1n;
    seq = 0n;
  } else return undefined;
  return `${ms}-${seq}`;
}

function cmpId(a: StreamIdText, b: StreamIdText): number {
  const [am, as] = a.split('-').map(BigInt) as [bigint, bigint];
  const [bm, bs] = b.split('-').map(BigInt) as [bigint, bigint];
  return am !== bm ? (am < bm ? -1 : 1) : as !== bs ? (as < bs ? -1 : 1) : 0;
}

/** An integer reply as a JSON number (exact below 2^53, as the codec's bigNum). */
function jsonInt(x: unknown, what: string): number | string {
  if (Buffer.isBuffer(x)) {
    const s = x.toString('latin1');
    const b = BigInt(s);
    return b <= BigInt(Number.MAX_SAFE_INTEGER) && b >= -BigInt(Number.MAX_SAFE_INTEGER) ? Number(b) : s;
  }
  return int(x, what);
}

/**
 * A stream's value. Uses the commands every server since 5.0 has (XINFO STREAM without FULL,
 * XINFO GROUPS / CONSUMERS, XPENDING with a range), so nothing is capped at FULL's COUNT of 10
 * and no reply carries the whole stream twice. Metadata the server does not report (entries-added,
 * max-deleted-entry-id, recorded-first-entry-id, entries-read before 7.0) is left out.
 * Returns undefined when the key is gone, 'reread' when it is no longer a stream.
 */
async function readStream(ctx: Ctx, key: Buffer): Promise<Record<string, unknown> | undefined | 'reread'> {
  const c = ctx.client;
  let info: Map<string, unknown>;
  try {
    info = fieldMap(await c.callBuffer('XINFO', 'STREAM', key), 'XINFO STREAM');
  } catch (e) {
    if (e instanceof RespDumpError) throw e;
    if (errCode(e) === 'WRONGTYPE') return 'reread';
    // "no such key" has no code of its own: ask the keyspace instead of matching the text.
    if ((await c.exists(key)) === 0) return undefined;
    throw new RespDumpError('reply', `XINFO STREAM ${key.toString('latin1')}: ${errText(e)}`, { cause: e });
  }

  const entries: unknown[] = [];
  let start: StreamIdText | undefined = '-';
  while (start !== undefined) {
    const page = arr(await c.callBuffer('XRANGE', key, start, '+', 'COUNT', ctx.page), 'XRANGE');
    let last: StreamIdText | undefined;
    for (const e of page) {
      const [idB, flat] = arr(e, 'XRANGE entry');
      last = buf(idB, 'XRANGE id').toString('latin1');
      const f = arr(flat ?? [], 'XRANGE fields');
      const pairs: JsonBytes[][] = [];
      for (let i = 0; i + 1 < f.length; i += 2) pairs.push([jsonBytes(buf(f[i], 'XRANGE field')), jsonBytes(buf(f[i + 1], 'XRANGE value'))]);
      entries.push([last, pairs]);
    }
    start = page.length < ctx.page || last === undefined ? undefined : nextId(last);
  }

  const out: Record<string, unknown> = {
    entries,
    length: int(info.get('length'), 'XINFO STREAM length'),
    lastId: buf(info.get('last-generated-id'), 'XINFO STREAM last-generated-id').toString('latin1'),
  };
  if (info.has('entries-added')) out['entriesAdded'] = jsonInt(info.get('entries-added'), 'entries-added');
  if (info.has('max-deleted-entry-id')) out['maxDeletedEntryId'] = buf(info.get('max-deleted-entry-id'), 'max-deleted-entry-id').toString('latin1');
  if (info.has('recorded-first-entry-id')) out['firstEntryId'] = buf(info.get('recorded-first-entry-id'), 'recorded-first-entry-id').toString('latin1');

  const groups: Array<{ name: Buffer; json: Record<string, unknown> }> = [];
  const groupCount = info.has('groups') ? int(info.get('groups'), 'XINFO STREAM groups') : 1;
  const groupReplies = groupCount === 0 ? [] : arr(await c.callBuffer('XINFO', 'GROUPS', key), 'XINFO GROUPS');
  for (const gr of groupReplies) {
    const g = fieldMap(gr, 'XINFO GROUPS');
    const name = buf(g.get('name'), 'group name');
    const gj: Record<string, unknown> = {
      name: jsonBytes(name),
      lastDeliveredId: buf(g.get('last-delivered-id'), 'last-delivered-id').toString('latin1'),
    };
    if (g.has('entries-read')) {
      const er = g.get('entries-read');
      gj['entriesRead'] = er === null ? null : jsonInt(er, 'entries-read');
    }

    const pending: Array<[StreamIdText, JsonBytes, number]> = [];
    if (int(g.get('pending'), 'group pending') > 0) {
      let from: StreamIdText | undefined = '-';
      while (from !== undefined) {
        const page = arr(await c.callBuffer('XPENDING', key, name, from, '+', ctx.page), 'XPENDING');
        let last: StreamIdText | undefined;
        for (const p of page) {
          const [idB, consumer, , count] = arr(p, 'XPENDING entry');
          last = buf(idB, 'XPENDING id').toString('latin1');
          pending.push([last, jsonBytes(buf(consumer, 'XPENDING consumer')), int(count, 'XPENDING delivery count')]);
        }
        from = page.length < ctx.page || last === undefined ? undefined : nextId(last);
      }
      pending.sort((a, b) => cmpId(a[0], b[0]));
    }
    gj['pending'] = pending;

    const consumers: Array<{ name: Buffer; pending: number }> = [];
    if (int(g.get('consumers'), 'group consumers') > 0) {
      for (const cr of arr(await c.callBuffer('XINFO', 'CONSUMERS', key, name), 'XINFO CONSUMERS')) {
        const cm = fieldMap(cr, 'XINFO CONSUMERS');
        consumers.push({ name: buf(cm.get('name'), 'consumer name'), pending: int(cm.get('pending'), 'consumer pending') });
      }
      consumers.sort((a, b) => Buffer.compare(a.name, b.name));
    }
    gj['consumers'] = consumers.map((x) => ({ name: jsonBytes(x.name), pending: x.pending }));
    groups.push({ name, json: gj });
  }
  groups.sort((a, b) => Buffer.compare(a.name, b.name));
  out['groups'] = groups.map((g) => g.json);
  return out;
}
