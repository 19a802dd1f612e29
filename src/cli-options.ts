/**
 * Options as data (STYLE.md habit 18): the global options and the entry-selection options that
 * every reading command shares (../shared/docs/CLI.md "Options shared by the commands that read
 * entries"), their commander definitions, and the conversion of commander's raw strings into
 * typed option objects. Commands add the definitions they use with `addOptions`.
 *
 * Commander only collects strings here; every value is parsed by src/values.ts afterwards, so a
 * bad value is a UsageError naming its option, and `now` inside any TIME means the same instant.
 */
import type { Command } from 'commander';
import type { LogicalType } from '../native-free-parser/index.js';
import { UsageError } from './errors.js';
import {
  parseDbList, parseDbMap, parseDbNumber, parseDuration, parseSize, parseSnapshotTime, parseTime, parseTypeList,
  type SnapshotTimeOption,
} from './values.js';

/** Options every command has. */
export interface GlobalOptions {
  /** `--json`: machine output on stdout, JSON-lines events on stderr. Default false. */
  json: boolean;
  /** `-q/--quiet`: no progress, no warnings. Default false. */
  quiet: boolean;
  /** `--debug`: stack traces with errors. Default false. */
  debug: boolean;
  /** `--max-value-size SIZE`: the largest value accepted. Default 512 MiB (`proto-max-bulk-len`). */
  maxValueSize: number;
}

/** Which entries a reading command keeps, where they go, and how their expiries shift. */
export interface SharedOptions {
  /** `--db LIST`: keep only these source databases; undefined keeps all. */
  db: readonly number[] | undefined;
  /** `--type LIST`: keep only these logical types; undefined keeps all. */
  type: readonly LogicalType[] | undefined;
  /** `--match GLOB`: keep keys matching this Redis glob (its UTF-8 bytes); undefined keeps all. */
  match: string | undefined;
  /** `--db-map A:B,...`: source database A goes to B; unmapped databases stay. */
  dbMap: ReadonlyMap<number, number> | undefined;
  /** `--into-db N`: every key into database N. Exclusive with dbMap. */
  intoDb: number | undefined;
  /** `--now TIME`: the reference instant, Unix ms. Default: when the command started. */
  now: number;
  /** `--expire-offset DURATION`: ms added to every expiry (key and hash-field TTLs). Default 0. */
  expireOffset: number;
  /** `--rebase-expiry`: shift each input's expiries by now minus its snapshot time. Default false. */
  rebaseExpiry: boolean;
  /** `--snapshot-time INPUT=TIME`, repeatable. */
  snapshotTimes: readonly SnapshotTimeOption[];
  /** `--drop-expired`: drop keys whose shifted expiry is at or before now. Default false. */
  dropExpired: boolean;
}

/** SharedOptions that keep everything unchanged, with `now` as given. */
export function defaultSharedOptions(now: number = Date.now()): SharedOptions {
  return {
    db: undefined,
    type: undefined,
    match: undefined,
    dbMap: undefined,
    intoDb: undefined,
    now,
    expireOffset: 0,
    rebaseExpiry: false,
    snapshotTimes: [],
    dropExpired: false,
  };
}

/** One commander option, as data. */
export interface OptionDef {
  /** Commander flags, e.g. `--db <LIST>`. */
  flags: string;
  description: string;
  /** Every occurrence is kept (raw strings, in order); else the last one wins. */
  repeatable?: boolean;
  /** Default raw value (parsed like a given one). */
  defaultValue?: string;
}

export const GLOBAL_OPTIONS: readonly OptionDef[] = [
  { flags: '--json', description: 'machine output: one JSON object (or JSON lines) on stdout, JSON-lines events on stderr' },
  { flags: '-q, --quiet', description: 'no progress and no warnings' },
  { flags: '--debug', description: 'show stack traces with errors' },
  {
    flags: '--max-value-size <SIZE>',
    description: 'largest value accepted; a larger one is a limit error (exit 7)',
    defaultValue: '512mb',
  },
];

export const SELECT_OPTIONS: readonly OptionDef[] = [
  { flags: '--db <LIST>', description: 'keep only these source databases (e.g. 0,1,7); repeatable', repeatable: true },
  {
    flags: '--type <LIST>',
    description: 'keep only these types (string,list,set,zset,hash,stream,module); repeatable',
    repeatable: true,
  },
  { flags: '--match <GLOB>', description: 'keep keys matching a Redis glob (*, ?, [...], \\) on raw key bytes' },
  { flags: '--db-map <A:B,...>', description: 'move source database A to B (after filtering); repeatable', repeatable: true },
  { flags: '--into-db <N>', description: 'put every key into database N' },
  { flags: '--now <TIME>', description: 'reference instant for expiry options (default: when the command starts)' },
  { flags: '--expire-offset <DURATION>', description: 'add to every expiry, key and hash-field TTLs (e.g. 3h, -10m)' },
  { flags: '--rebase-expiry', description: "shift each input's expiries by --now minus its snapshot time" },
  {
    flags: '--snapshot-time <INPUT=TIME>',
    description: "an input's snapshot time (else its ctime aux field, its .meta.json, its mtime); repeatable",
    repeatable: true,
  },
  { flags: '--drop-expired', description: 'drop keys whose (shifted) expiry is at or before --now' },
];

/**
 * TLS for `rediss://` URIs, for every command that opens a client (replay, verify --target, fetch,
 * migrate). Read with `tlsOptionsFrom`; the files are read when the command connects.
 */
export const TLS_OPTIONS: readonly OptionDef[] = [
  { flags: '--tls-ca <FILE>', description: 'rediss://: PEM file of the CA(s) that signed the server certificate (default: the system CAs)' },
  { flags: '--tls-cert <FILE>', description: 'rediss://: PEM client certificate, for servers that ask for one (with --tls-key)' },
  { flags: '--tls-key <FILE>', description: 'rediss://: PEM private key of --tls-cert' },
  { flags: '--tls-insecure', description: 'rediss://: do not verify the server certificate (encryption without authentication)' },
];

/** The TLS options as given: file names, not yet read (src/redis/connection.ts `readTlsFiles`). */
export interface TlsOptions {
  ca?: string;
  cert?: string;
  key?: string;
  insecure?: boolean;
}

/**
 * TlsOptions from commander's raw values; undefined when none was given.
 * @throws UsageError for --tls-cert without --tls-key (or the reverse), or --tls-ca with
 *   --tls-insecure, or TLS options given while none of `uris` is rediss://
 */
export function tlsOptionsFrom(raw: Raw, uris: ReadonlyArray<{ tls: boolean } | undefined> = []): TlsOptions | undefined {
  const ca = str(raw, 'tlsCa');
  const cert = str(raw, 'tlsCert');
  const key = str(raw, 'tlsKey');
  const insecure = raw['tlsInsecure'] === true;
  if (ca === undefined && cert === undefined && key === undefined && !insecure) return undefined;
  if ((cert === undefined) !== (key === undefined)) {
    throw new UsageError(`${cert === undefined ? '--tls-key' : '--tls-cert'} needs ${cert === undefined ? '--tls-cert' : '--tls-key'}`, 'a client certificate goes with its private key');
  }
  if (ca !== undefined && insecure) throw new UsageError('--tls-ca and --tls-insecure contradict each other', 'give the CA to verify the server, or --tls-insecure to skip verification');
  const given = uris.filter((u) => u !== undefined);
  if (given.length > 0 && !given.some((u) => u!.tls)) {
    throw new UsageError('--tls-* options need a rediss:// URI', 'write the target as rediss://host:port to connect over TLS');
  }
  return {
    ...(ca !== undefined ? { ca } : {}),
    ...(cert !== undefined ? { cert } : {}),
    ...(key !== undefined ? { key } : {}),
    ...(insecure ? { insecure } : {}),
  };
}

/**
 * A command's own option as a positive integer (`--connections`, `--split-slots` ...);
 * undefined when not given.
 * @throws UsageError naming the option
 */
export function positiveInt(raw: unknown, option: string): number | undefined {
  if (raw === undefined) return undefined;
  const s = String(raw);
  if (!/^\d+$/.test(s) || Number(s) < 1) throw new UsageError(`${option}: a positive integer, found ${s}`);
  return Number(s);
}

/**
 * A command's own option as a positive number, decimals allowed (`--max-rate`); undefined when
 * not given.
 * @throws UsageError naming the option
 */
export function positiveNumber(raw: unknown, option: string): number | undefined {
  if (raw === undefined) return undefined;
  const s = String(raw);
  const n = Number(s);
  if (!/^\d+(\.\d+)?$/.test(s) || !(n > 0)) throw new UsageError(`${option}: a positive number, found ${s}`);
  return n;
}

function collect(value: string, previous: unknown): string[] {
  return Array.isArray(previous) ? [...(previous as string[]), value] : [value];
}

/** Adds option definitions to a commander command. */
export function addOptions(cmd: Command, defs: readonly OptionDef[]): Command {
  for (const d of defs) {
    if (d.repeatable === true) cmd.option(d.flags, d.description, collect);
    else if (d.defaultValue !== undefined) cmd.option(d.flags, d.description, d.defaultValue);
    else cmd.option(d.flags, d.description);
  }
  return cmd;
}

type Raw = Readonly<Record<string, unknown>>;

function str(raw: Raw, name: string): string | undefined {
  const v = raw[name];
  return typeof v === 'string' ? v : undefined;
}

function strs(raw: Raw, name: string): string[] | undefined {
  const v = raw[name];
  if (v === undefined) return undefined;
  return Array.isArray(v) ? (v as string[]) : [String(v)];
}

/**
 * GlobalOptions from commander's raw values (`cmd.optsWithGlobals()`).
 * @throws UsageError for a bad `--max-value-size`.
 */
export function globalOptionsFrom(raw: Raw): GlobalOptions {
  const maxValueSize = parseSize(str(raw, 'maxValueSize') ?? '512mb', '--max-value-size');
  if (maxValueSize < 1) throw new UsageError('--max-value-size: must be at least 1 byte');
  return {
    json: raw['json'] === true,
    quiet: raw['quiet'] === true,
    debug: raw['debug'] === true,
    maxValueSize,
  };
}

/**
 * SharedOptions from commander's raw values. `startedAt` is the default for `--now`; the word
 * `now` in any TIME means the `--now` instant.
 * @throws UsageError for any bad value, or `--db-map` together with `--into-db`.
 */
export function sharedOptionsFrom(raw: Raw, startedAt: number): SharedOptions {
  const nowText = str(raw, 'now');
  const now = nowText === undefined ? startedAt : parseTime(nowText, '--now', startedAt);
  const dbs = strs(raw, 'db');
  const types = strs(raw, 'type');
  const maps = strs(raw, 'dbMap');
  const into = str(raw, 'intoDb');
  if (maps !== undefined && into !== undefined) {
    throw new UsageError('--db-map and --into-db cannot be used together', 'use one: --into-db N moves every database');
  }
  const offset = str(raw, 'expireOffset');
  const match = str(raw, 'match');
  return {
    db: dbs === undefined ? undefined : parseDbList(dbs, '--db'),
    type: types === undefined ? undefined : parseTypeList(types, '--type'),
    match,
    dbMap: maps === undefined ? undefined : parseDbMap(maps, '--db-map'),
    intoDb: into === undefined ? undefined : parseDbNumber(into, '--into-db'),
    now,
    expireOffset: offset === undefined ? 0 : parseDuration(offset, '--expire-offset'),
    rebaseExpiry: raw['rebaseExpiry'] === true,
    snapshotTimes: (strs(raw, 'snapshotTime') ?? []).map((t) => parseSnapshotTime(t, '--snapshot-time', now)),
    dropExpired: raw['dropExpired'] === true,
  };
}
