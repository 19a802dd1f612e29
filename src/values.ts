/**
 * Parsers for the value grammar of ../shared/docs/CLI.md ("Values"): DURATION, TIME, SIZE, URI,
 * database and type lists, `--db-map`, `--snapshot-time`. Every parser takes the option it reads
 * for (`--expire-offset`), so a bad value becomes a UsageError (exit 2) that names the option.
 */
import type { LogicalType } from '../native-free-parser/index.js';
import { UsageError } from './errors.js';

const DURATION_UNITS: Readonly<Record<string, number>> = {
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
};

const SIZE_UNITS: Readonly<Record<string, number>> = {
  '': 1,
  b: 1,
  kb: 1024,
  mb: 1024 ** 2,
  gb: 1024 ** 3,
};

/** The logical types `--type` accepts, in the order the CLI documents them. */
export const LOGICAL_TYPES: readonly LogicalType[] = ['string', 'list', 'set', 'zset', 'hash', 'stream', 'module'];

/** Largest database number accepted (RDB stores it as a length; Redis itself caps `databases` at INT_MAX). */
export const MAX_DB = 2 ** 31 - 1;

function bad(option: string, what: string, text: string, hint?: string): UsageError {
  return new UsageError(`${option}: expected ${what}, got ${JSON.stringify(text)}`, hint);
}

/**
 * DURATION: an integer with a unit `ms`, `s`, `m`, `h`, `d` (`3h`, `-10m`, `1500ms`), to
 * milliseconds. A leading sign is allowed; a bare `0` is accepted (it needs no unit).
 * @throws UsageError naming `option`.
 */
export function parseDuration(text: string, option = 'DURATION'): number {
  const m = /^([+-]?)(\d+)(ms|s|m|h|d)$/.exec(text.trim());
  if (m === null) {
    if (/^[+-]?0+$/.test(text.trim())) return 0;
    throw bad(option, 'a DURATION: an integer with a unit ms, s, m, h or d (e.g. 3h, -10m, 1500ms)', text);
  }
  const ms = Number(m[2]) * DURATION_UNITS[m[3]!]!;
  if (!Number.isSafeInteger(ms)) throw bad(option, 'a DURATION of at most 2^53 ms', text);
  return m[1] === '-' ? -ms : ms;
}

// ISO 8601 date, or date-time with seconds optional, fraction optional, and a zone required
// (a time without a zone would silently depend on the machine's time zone).
const ISO_DATE = /^(\d{4})-(\d{2})-(\d{2})$/;
const ISO_DATE_TIME = /^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d{1,9}))?)?(Z|[+-]\d{2}(?::?\d{2})?)$/i;

/** Date.UTC of calendar fields, or NaN when a field is out of range (2026-02-30, 25:00). */
function utcChecked(y: number, mo: number, d: number, h: number, mi: number, sec: number, msec: number): number {
  const ms = Date.UTC(y, mo - 1, d, h, mi, sec, msec);
  const c = new Date(ms);
  const same = c.getUTCFullYear() === y && c.getUTCMonth() === mo - 1 && c.getUTCDate() === d &&
    c.getUTCHours() === h && c.getUTCMinutes() === mi && c.getUTCSeconds() === sec;
  return same ? ms : NaN;
}

/**
 * TIME: ISO 8601 (`2026-11-25T12:00:00Z`, `2026-11-25`, with `Z` or an offset), Unix
 * milliseconds (`1795628673000`), or `now` (= `now`, the moment the command started), to Unix ms.
 * @throws UsageError naming `option`.
 */
export function parseTime(text: string, option: string, now: number): number {
  const s = text.trim();
  if (s.toLowerCase() === 'now') return now;
  if (/^-?\d+$/.test(s)) {
    const ms = Number(s);
    if (!Number.isSafeInteger(ms)) throw bad(option, 'a TIME in Unix milliseconds within 2^53', text);
    return ms;
  }
  let ms = NaN;
  let m = ISO_DATE.exec(s);
  if (m !== null) {
    ms = utcChecked(Number(m[1]), Number(m[2]), Number(m[3]), 0, 0, 0, 0);
  } else if ((m = ISO_DATE_TIME.exec(s)) !== null) {
    const [, y, mo, d, h, mi, sec, frac, zone] = m;
    const fracMs = frac === undefined ? 0 : Math.floor(Number(`0.${frac}`) * 1000);
    ms = utcChecked(Number(y), Number(mo), Number(d), Number(h), Number(mi), Number(sec ?? 0), fracMs);
    if (!Number.isNaN(ms) && zone!.toUpperCase() !== 'Z') {
      const z = /^([+-])(\d{2}):?(\d{2})?$/.exec(zone!)!;
      const off = (Number(z[2]) * 60 + Number(z[3] ?? 0)) * 60_000;
      ms -= z[1] === '-' ? -off : off;
    }
  } else if (/^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}([.,]\d+)?)?$/i.test(s)) {
    throw bad(option, 'a TIME with a time zone', text, 'add Z (UTC) or an offset such as +02:00');
  }
  if (Number.isNaN(ms)) {
    throw bad(option, 'a TIME: ISO 8601 (2026-11-25T12:00:00Z), Unix milliseconds, or now', text);
  }
  return ms;
}

/**
 * SIZE: bytes with an optional `b`, `kb`, `mb`, `gb` (powers of 1024; case-insensitive).
 * @throws UsageError naming `option`.
 */
export function parseSize(text: string, option = 'SIZE'): number {
  const m = /^(\d+)\s*(b|kb|mb|gb)?$/i.exec(text.trim());
  if (m === null) throw bad(option, 'a SIZE: bytes with an optional kb, mb or gb (e.g. 512mb)', text);
  const n = Number(m[1]) * SIZE_UNITS[(m[2] ?? '').toLowerCase()]!;
  if (!Number.isSafeInteger(n)) throw bad(option, 'a SIZE below 2^53 bytes', text);
  return n;
}

/**
 * A database number: a decimal integer from 0 to MAX_DB.
 * @throws UsageError naming `option`.
 */
export function parseDbNumber(text: string, option: string): number {
  const s = text.trim();
  if (!/^\d+$/.test(s) || Number(s) > MAX_DB) throw bad(option, 'a database number (0, 1, 15, ...)', text);
  return Number(s);
}

/** Splits repeatable comma lists (`--db 0,1 --db 7`) into trimmed, non-empty items. */
function items(texts: string | readonly string[], option: string): string[] {
  const out: string[] = [];
  for (const t of typeof texts === 'string' ? [texts] : texts) {
    const parts = t.split(',').map((p) => p.trim());
    if (parts.some((p) => p === '')) throw bad(option, 'a comma-separated list without empty items', t);
    out.push(...parts);
  }
  return out;
}

/**
 * A database LIST (`0,1,7`), repeatable: the union of all occurrences, ascending.
 * @throws UsageError naming `option`.
 */
export function parseDbList(texts: string | readonly string[], option = '--db'): number[] {
  const set = new Set<number>();
  for (const it of items(texts, option)) set.add(parseDbNumber(it, option));
  return [...set].sort((a, b) => a - b);
}

/**
 * A type LIST (`string,hash`), repeatable, of LOGICAL_TYPES (case-insensitive).
 * @throws UsageError naming `option`.
 */
export function parseTypeList(texts: string | readonly string[], option = '--type'): LogicalType[] {
  const set = new Set<LogicalType>();
  for (const it of items(texts, option)) {
    const t = it.toLowerCase() as LogicalType;
    if (!LOGICAL_TYPES.includes(t)) throw bad(option, `a type among ${LOGICAL_TYPES.join(', ')}`, it);
    set.add(t);
  }
  return LOGICAL_TYPES.filter((t) => set.has(t));
}

/**
 * `--db-map A:B,...`, repeatable: source database A goes to B. A source mapped twice is an error.
 * @throws UsageError naming `option`.
 */
export function parseDbMap(texts: string | readonly string[], option = '--db-map'): Map<number, number> {
  const map = new Map<number, number>();
  for (const it of items(texts, option)) {
    const m = /^(\d+):(\d+)$/.exec(it);
    if (m === null) throw bad(option, 'pairs SOURCE:TARGET of database numbers (e.g. 0:3,1:4)', it);
    const from = parseDbNumber(m[1]!, option);
    const to = parseDbNumber(m[2]!, option);
    const prev = map.get(from);
    if (prev !== undefined && prev !== to) {
      throw new UsageError(`${option}: database ${from} is mapped twice (to ${prev} and to ${to})`);
    }
    map.set(from, to);
  }
  return map;
}

/** One `--snapshot-time INPUT=TIME`. */
export interface SnapshotTimeOption {
  input: string;
  time: number;
}

/**
 * `--snapshot-time INPUT=TIME`: split at the last `=` (a path may contain `=`, a TIME never does).
 * @throws UsageError naming `option`.
 */
export function parseSnapshotTime(text: string, option: string, now: number): SnapshotTimeOption {
  const i = text.lastIndexOf('=');
  if (i <= 0 || i === text.length - 1) throw bad(option, 'INPUT=TIME (e.g. dump1.rdb=2026-11-25T12:00:00Z)', text);
  return { input: text.slice(0, i), time: parseTime(text.slice(i + 1), option, now) };
}

/** A parsed `redis://` / `rediss://` URI. `password` must never be printed: use redactUri. */
export interface RedisUri {
  tls: boolean;
  /** Host name or address; IPv6 without brackets. */
  host: string;
  port: number;
  username: string | undefined;
  password: string | undefined;
  /** Where the password came from. */
  passwordFrom: 'uri' | 'env' | undefined;
}

/**
 * URI: `redis://[user[:password]@]host[:port]` or `rediss://` (TLS). The password may come from
 * `env.REDISCLI_AUTH` when the URI has none. A `/db` path is an error (entries carry their own
 * database; use --db-map), as are query strings and fragments. Messages never show the password.
 * @throws UsageError naming `option`.
 */
export function parseUri(text: string, option: string, env: Readonly<Record<string, string | undefined>> = {}): RedisUri {
  const shown = JSON.stringify(redactUri(text));
  const expected = `${option}: expected a URI redis://[user[:password]@]host[:port] or rediss://..., got ${shown}`;
  let u: URL;
  try {
    u = new URL(text);
  } catch {
    throw new UsageError(expected);
  }
  if (u.protocol !== 'redis:' && u.protocol !== 'rediss:') throw new UsageError(expected);
  let host = u.hostname;
  if (host.startsWith('[') && host.endsWith(']')) host = host.slice(1, -1);
  if (host === '') throw new UsageError(expected);
  if (u.pathname !== '' && u.pathname !== '/') {
    throw new UsageError(
      `${option}: a database path (${JSON.stringify(u.pathname)}) is not allowed in ${shown}`,
      'entries carry their own database; use --db-map or --into-db to move them',
    );
  }
  if (u.search !== '' || u.hash !== '') {
    throw new UsageError(`${option}: query strings and fragments are not allowed in ${shown}`);
  }
  const port = u.port === '' ? 6379 : Number(u.port);
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new UsageError(expected);
  let username: string | undefined;
  let password: string | undefined;
  let passwordFrom: RedisUri['passwordFrom'];
  try {
    username = u.username === '' ? undefined : decodeURIComponent(u.username);
    if (u.password !== '') {
      password = decodeURIComponent(u.password);
      passwordFrom = 'uri';
    }
  } catch {
    throw new UsageError(`${option}: bad percent-encoding in the user or password of ${shown}`);
  }
  if (password === undefined) {
    const envPass = env['REDISCLI_AUTH'];
    if (envPass !== undefined && envPass !== '') {
      password = envPass;
      passwordFrom = 'env';
    }
  }
  return { tls: u.protocol === 'rediss:', host, port, username, password, passwordFrom };
}

/**
 * A URI as it may be printed: the password (from the URI or the environment) replaced by `***`.
 * Accepts a parsed RedisUri or any text (unparseable text still loses whatever sits between
 * `user:` and `@`).
 */
export function redactUri(uri: RedisUri | string): string {
  if (typeof uri === 'string') {
    // scheme://user:password@host -> scheme://user:***@host. The last '@' ends the user info
    // (as in WHATWG URL parsing), so a password holding '@' or '/' is still hidden whole.
    const se = uri.indexOf('://');
    const start = se >= 0 ? se + 3 : 0;
    const at = uri.lastIndexOf('@');
    if (at < start) return uri;
    const colon = uri.indexOf(':', start);
    if (colon < 0 || colon > at) return uri;
    return `${uri.slice(0, colon)}:***${uri.slice(at)}`;
  }
  const host = uri.host.includes(':') ? `[${uri.host}]` : uri.host;
  let auth = '';
  if (uri.username !== undefined || uri.password !== undefined) {
    auth = `${uri.username === undefined ? '' : encodeURIComponent(uri.username)}${uri.password === undefined ? '' : ':***'}@`;
  }
  return `${uri.tls ? 'rediss' : 'redis'}://${auth}${host}:${uri.port}`;
}
