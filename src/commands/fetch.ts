/**
 * `rdbmerge fetch SOURCE... --out-dir DIR [options]`: snapshots of live servers pulled into DIR
 * (src/pipelines/fetch.ts). This module wires the options (shared with `migrate`), the progress
 * (one line per source in flight and a total on a TTY; CLI.md's JSON-lines events with --json)
 * and the final table; exit 11 when some sources failed.
 */
import { Option, type Command } from 'commander';
import { addOptions, globalOptionsFrom, TLS_OPTIONS, tlsOptionsFrom, type TlsOptions } from '../cli-options.js';
import { EXIT, UsageError } from '../errors.js';
import type { FetchEvent, FetchOptions, FetchPhase, FetchReport } from '../pipelines/fetch.js';
import { parseDuration, parseUri, type RedisUri } from '../values.js';
import type { CommandContext, RegisterCommand } from './context.js';

/** The fetch options `fetch` and `migrate` share. */
export function addFetchOptions(cmd: Command): Command {
  cmd.option('--sources <FILE>', 'source URIs, one per line (blank lines and # comments allowed)');
  cmd.option('--cluster-source <URI>', 'add every master that CLUSTER NODES on this node lists; repeatable', (v: string, p: unknown) => (Array.isArray(p) ? [...(p as string[]), v] : [v]));
  cmd.addOption(new Option('--via <MODE>', 'native: speak the replication protocol; replica: a local redis-server per source').choices(['native', 'replica']).default('native'));
  cmd.addOption(new Option('--protocol <P>', 'native: PSYNC (SYNC for servers without it), or SYNC only').choices(['psync', 'sync']).default('psync'));
  cmd.option('--parallel <N>', 'sources fetched at once', '8');
  cmd.option('--retries <N>', 'further attempts for a failed source, with exponential backoff', '2');
  cmd.option('--retry-delay <DURATION>', 'backoff before the first retry (doubled each time, at most 30s)', '1s');
  cmd.option('--idle-timeout <DURATION>', 'a connection silent this long fails (never a limit on a long transfer)', '60s');
  cmd.option('--connect-timeout <DURATION>', 'time to connect to a source', '10s');
  cmd.option('--strict', 'refuse to start when the pre-check finds too little memory (fork) or disk');
  cmd.option('--redis-server <PATH>', 'redis-server for --via replica (default: on PATH)');
  addOptions(cmd, TLS_OPTIONS);
  return cmd;
}

function intOption(raw: unknown, option: string, min: number): number {
  const s = String(raw);
  if (!/^\d+$/.test(s) || Number(s) < min) throw new UsageError(`${option}: an integer of at least ${min}, found ${s}`);
  return Number(s);
}

/**
 * The `--tls-*` options (one set for every rediss:// URI of the command) read into what the
 * replication client and a local replica need: PEM contents, and the file names for redis-server.
 * @throws UsageError for a file that cannot be read; NetworkError for a file without PEM in it
 */
export async function tlsSettings(files: TlsOptions | undefined): Promise<NonNullable<FetchOptions['tls']>> {
  // Loaded when needed: the connection module brings node:tls and node:net, which every other
  // command would load for nothing (tens of milliseconds of each start).
  const { readTlsFiles } = await import('../redis/connection.js');
  const material = await readTlsFiles(files);
  if (files === undefined || material === undefined) return {};
  return {
    ...(material.ca !== undefined ? { ca: material.ca, caFile: files.ca! } : {}),
    ...(material.cert !== undefined ? { cert: material.cert, certFile: files.cert! } : {}),
    ...(material.key !== undefined ? { key: material.key, keyFile: files.key! } : {}),
    ...(material.rejectUnauthorized ? {} : { rejectUnauthorized: false }),
  };
}

/**
 * FetchOptions (all but outDir and onEvent) from commander's raw values, with the sources of the
 * arguments, then `--sources FILE`, then `--cluster-source` masters, in that order.
 * @throws UsageError for bad values; NetworkError when a --cluster-source node cannot be asked
 */
export async function fetchOptionsFrom(
  raw: Readonly<Record<string, unknown>>, args: readonly string[], ctx: CommandContext, extraUris: readonly RedisUri[] = [],
): Promise<Omit<FetchOptions, 'outDir'>> {
  const env = ctx.io.env;
  // Loaded when the command runs: the other commands start without it.
  const { clusterMasters, readSourcesFile } = await import('../pipelines/fetch.js');
  const sources: RedisUri[] = args.map((a) => parseUri(a, 'SOURCE', env));
  if (typeof raw['sources'] === 'string') sources.push(...(await readSourcesFile(raw['sources'], env)));
  const tlsFiles = tlsOptionsFrom(raw, [...sources, ...extraUris, ...(Array.isArray(raw['clusterSource']) ? [{ tls: true }] : [])]);
  const tls = await tlsSettings(tlsFiles);
  const cluster = Array.isArray(raw['clusterSource']) ? (raw['clusterSource'] as string[]) : [];
  for (const c of cluster) sources.push(...(await clusterMasters(parseUri(c, '--cluster-source', env), tls)));
  const positive = (name: string, option: string): number => {
    const ms = parseDuration(String(raw[name]), option);
    if (ms <= 0) throw new UsageError(`${option}: a positive DURATION`);
    return ms;
  };
  const g = globalOptionsFrom(raw);
  return {
    sources,
    via: raw['via'] as 'native' | 'replica',
    protocol: raw['protocol'] as 'psync' | 'sync',
    parallel: intOption(raw['parallel'], '--parallel', 1),
    retries: intOption(raw['retries'], '--retries', 0),
    retryDelayMs: positive('retryDelay', '--retry-delay'),
    idleTimeoutMs: positive('idleTimeout', '--idle-timeout'),
    connectTimeoutMs: positive('connectTimeout', '--connect-timeout'),
    strict: raw['strict'] === true,
    ...(typeof raw['redisServer'] === 'string' ? { redisServer: raw['redisServer'] } : {}),
    ...(Object.keys(tls).length > 0 ? { tls } : {}),
    maxValueSize: g.maxValueSize,
    signal: ctx.signal,
  };
}

const PHASE_TEXT: Readonly<Record<FetchPhase, string>> = {
  queued: 'queued',
  connecting: 'connecting',
  'waiting-bgsave': 'waiting for BGSAVE',
  transferring: 'transferring',
  verifying: 'verifying',
  saving: 'saving',
  done: 'done',
  failed: 'failed',
  retrying: 'retrying',
};

function mb(n: number): string {
  return `${(n / 1e6).toFixed(1)} MB`;
}

/**
 * Fetch progress on stderr: JSON-lines events with --json; on a TTY one line per source in flight
 * (phase, bytes, rate) and a total line, redrawn in place; warnings as lines; nothing with -q.
 */
export function fetchProgress(ctx: CommandContext, json: boolean, quiet: boolean): { onEvent: (e: FetchEvent) => void; clear: () => void } {
  const tty = !json && !quiet && ctx.isTTY(ctx.io.stderr);
  const state = new Map<string, { phase: FetchPhase; bytes: number; total: number | null; keys: number; since: number; attempt: number }>();
  let done = 0;
  let failed = 0;
  let doneBytes = 0;
  let drawn = 0;
  let lastDraw = 0;
  const t0 = Date.now();
  const erase = (): void => {
    if (drawn > 0) ctx.errRaw(`\x1b[${drawn}A\r\x1b[J`);
    drawn = 0;
  };
  const draw = (force: boolean): void => {
    const now = Date.now();
    if (!force && now - lastDraw < 200) return;
    lastDraw = now;
    erase();
    const lines: string[] = [];
    let active = 0;
    for (const [source, s] of state) {
      if (s.phase === 'queued') continue;
      active++;
      const secs = (now - s.since) / 1000;
      const rate = s.phase === 'transferring' && secs > 0 ? `  ${(s.bytes / 1e6 / secs).toFixed(1)} MB/s` : '';
      const size = s.total !== null ? `${mb(s.bytes)} / ${mb(s.total)}` : mb(s.bytes);
      const keys = s.keys > 0 ? `  ${s.keys.toLocaleString('en-US')} keys` : '';
      lines.push(`  ${source}  ${PHASE_TEXT[s.phase]}${s.attempt > 1 ? ` (attempt ${s.attempt})` : ''}  ${size}${rate}${keys}`);
    }
    const queued = [...state.values()].filter((s) => s.phase === 'queued').length;
    const inflight = [...state.values()].reduce((a, s) => a + s.bytes, 0);
    lines.push(`fetch: ${done} done, ${failed} failed, ${active} running, ${queued} queued  ${mb(doneBytes + inflight)}  ${((now - t0) / 1000).toFixed(1)} s`);
    ctx.errRaw(`${lines.join('\n')}\n`);
    drawn = lines.length;
  };
  return {
    onEvent: (e: FetchEvent): void => {
      if (quiet && e.event !== 'warning') return;
      if (json) {
        if (!quiet) ctx.errLine(JSON.stringify(e));
        return;
      }
      if (e.event === 'warning') {
        if (quiet) return;
        if (tty) erase();
        ctx.errLine(`rdbmerge: warning: ${e.source !== null ? `${e.source}: ` : ''}${e.message}`);
        if (tty) draw(true);
        return;
      }
      if (!tty) return;
      if (e.event === 'progress') {
        const prev = state.get(e.source);
        const since = prev === undefined || prev.phase !== e.phase ? Date.now() : prev.since;
        state.set(e.source, { phase: e.phase, bytes: e.bytes, total: e.total, keys: e.keys, since, attempt: e.attempt });
        draw(prev === undefined || prev.phase !== e.phase);
      } else if (e.event === 'retry') {
        const prev = state.get(e.source);
        if (prev !== undefined) state.set(e.source, { ...prev, phase: 'retrying', bytes: 0, since: Date.now() });
        erase();
        ctx.errLine(`rdbmerge: ${e.source}: attempt ${e.attempt} failed (${e.error}); again in ${(e.delayMs / 1000).toFixed(1)} s`);
        draw(true);
      } else if (e.event === 'source-done') {
        state.delete(e.source);
        if (e.result === 'ok') {
          done++;
          doneBytes += e.bytes;
        } else {
          failed++;
        }
        draw(true);
      }
    },
    clear: (): void => {
      if (tty) erase();
    },
  };
}

/** The final table: one row per source. */
export function renderFetch(r: FetchReport): string {
  const n = (x: number): string => x.toLocaleString('en-US');
  const rows = r.sources.map((s) => [
    s.source, s.result === 'ok' ? 'ok' : 'FAILED', n(s.bytes), n(s.keys), s.seconds.toFixed(2), String(s.attempts),
    s.result === 'ok' ? (s.file ?? '') : (s.error ?? ''),
  ]);
  const head = ['source', 'result', 'bytes', 'keys', 'seconds', 'attempts', 'file / error'];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((row) => (i === 6 ? 0 : row[i]!.length))));
  const right = new Set([2, 3, 4, 5]);
  const fmt = (row: string[]): string => row.map((c, i) => (i === 6 ? c : right.has(i) ? c.padStart(widths[i]!) : c.padEnd(widths[i]!))).join('  ').trimEnd();
  const lines = [fmt(head), ...rows.map(fmt)];
  lines.push(`fetched ${r.ok} of ${r.sources.length} source(s) into ${r.outDir} (${r.via}${r.via === 'native' ? `, ${r.protocol}` : ''}, ${r.parallel} at once): ${n(r.bytes)} bytes, ${n(r.keys)} keys in ${r.seconds.toFixed(2)} s${r.failed > 0 ? `; ${r.failed} FAILED` : ''}`);
  return `${lines.join('\n')}\n`;
}

/** Exit status of a fleet run: 0, 11 when some failed, the error's own code when all did. */
export function fleetExitCode(r: FetchReport): number {
  if (r.failed === 0) return EXIT.ok;
  if (r.ok > 0) return EXIT.partial;
  return r.sources.find((s) => s.errorCode !== null)?.errorCode ?? EXIT.network;
}

export const registerFetch: RegisterCommand = (program: Command, ctx: CommandContext) => {
  const cmd = program
    .command('fetch')
    .summary('pull RDB snapshots off live servers (replication protocol, or a local replica each)')
    .description(
      'Pulls a snapshot of each SOURCE into DIR/<host>-<port>.rdb, with DIR/<host>-<port>.meta.json ' +
        '(source, server and RDB version, bytes, keys, snapshotTime: what merge --rebase-expiry reads). ' +
        'Native mode speaks the replication protocol itself (PSYNC, or SYNC for old servers): no local ' +
        'server, no memory per source; every file is verified (structure, CRC-64) before it appears.',
    )
    .argument('[SOURCE...]', 'redis://[user[:password]@]host[:port] or rediss:// (password also from REDISCLI_AUTH)')
    .requiredOption('--out-dir <DIR>', 'directory for the snapshots (created when missing)');
  addFetchOptions(cmd);
  cmd.addHelpText(
    'after',
    '\nExamples:\n' +
      '  rdbmerge fetch redis://10.0.0.1:6379 redis://10.0.0.2:6379 --out-dir dumps/\n' +
      '  REDISCLI_AUTH=secret rdbmerge fetch --sources fleet.txt --out-dir dumps/ --parallel 4 --retries 3\n' +
      '  rdbmerge fetch --cluster-source redis://10.0.1.1:7000 --out-dir shards/ --json\n' +
      '  rdbmerge fetch --sources old-2.6.txt --out-dir dumps/ --via replica --redis-server /opt/redis/bin/redis-server\n',
  );
  cmd.action(async (args: string[], _opts: unknown, self: Command) => {
    const raw = self.optsWithGlobals();
    const g = globalOptionsFrom(raw);
    const base = await fetchOptionsFrom(raw, args, ctx);
    const progress = fetchProgress(ctx, g.json, g.quiet);
    let report: FetchReport;
    try {
      const { fetch } = await import('../pipelines/fetch.js');
      report = await fetch({ ...base, outDir: String(raw['outDir']), onEvent: progress.onEvent });
    } finally {
      progress.clear();
    }
    if (g.json) {
      await ctx.out.write(`${JSON.stringify(report)}\n`);
      if (!g.quiet) {
        const { sources: _s, warnings: _w, ...numbers } = report;
        ctx.errLine(JSON.stringify({ event: 'done', ...numbers }));
      }
    } else {
      await ctx.out.write(renderFetch(report));
    }
    ctx.exitCode = fleetExitCode(report);
    if (report.failed > 0) {
      ctx.errLine(`rdbmerge: ${report.ok > 0 ? 'partial' : 'network'}: ${report.failed} of ${report.sources.length} source(s) failed; first: ${report.sources.find((s) => s.result === 'failed')?.error ?? '?'}`);
    }
  });
};
