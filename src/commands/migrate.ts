/**
 * `rdbmerge migrate --sources FILE (-o OUT | --target URI) [options]`: fetch every source, then
 * merge into OUT or replay into the target (src/pipelines/migrate.ts). Options are fetch's, plus
 * merge's or replay's; progress is fetch's, then merge's or replay's; the report is the fetch
 * table followed by the merge or replay summary (or one JSON object with --json).
 */
import { Option, type Command } from 'commander';
import { addOptions, globalOptionsFrom, positiveInt, positiveNumber, SELECT_OPTIONS, sharedOptionsFrom, tlsOptionsFrom } from '../cli-options.js';
import type { FetchReport } from '../pipelines/fetch.js';
import type { ConflictPolicy, MergeProgress, MergeReport } from '../pipelines/merge.js';
import type { MigrateReport } from '../pipelines/migrate.js';
import type { BusyKeyPolicy, ReplayProgress, ReplayReport, ReportCarrier } from '../pipelines/replay.js';
import { parseSize, parseUri } from '../values.js';
import type { CommandContext, RegisterCommand } from './context.js';
import { addFetchOptions, fetchOptionsFrom, fetchProgress, renderFetch } from './fetch.js';
import { addMergeOptions, renderMerge, targetVersionFrom } from './merge.js';
import { passProgress } from './progress.js';
import { renderReplay } from './replay.js';

export const registerMigrate: RegisterCommand = (program: Command, ctx: CommandContext) => {
  const cmd = program
    .command('migrate')
    .summary('fetch every source, then merge into one file or replay into a live server')
    .description(
      'The whole move in one command: fetches a snapshot of every source (as fetch does), then merges ' +
        'them into OUT (as merge does) or replays them into --target (as replay does), in the order the ' +
        'sources are given: that order is the conflict order. The snapshots are kept with --keep-dumps DIR, ' +
        'else fetched into a work directory removed at the end. --stream (with --target) replays each ' +
        'snapshot straight from the replication socket, touching no disk; keys present in several sources ' +
        'are then settled by --on-busykey (skip: the first source wins; replace: the last).',
    )
    .argument('[SOURCE...]', 'source URIs (also --sources FILE, --cluster-source URI)')
    .option('-o, --out <FILE>', 'merge into this file')
    .option('--target <URI>', 'replay into this server')
    .option('--keep-dumps <DIR>', 'fetch into DIR and keep the snapshots there')
    .option('--work-dir <DIR>', 'fetch into a temporary directory under DIR, removed at the end (default: the system temp dir)')
    .option('--stream', 'with --target: replay from the replication socket, without files')
    .option('--report <FILE>', 'merge: write a JSON report (keys per input, collisions, drops)')
    .option('--split-slots <N>', 'merge: write N files with contiguous slot ranges')
    .option('--cluster-nodes <FILE>', 'merge: one file per master of this CLUSTER NODES output')
    .addOption(new Option('--on-busykey <POLICY>', 'replay: a key the target already holds: skip, replace, or error (exit 9)').choices(['skip', 'replace', 'error']).default('error'))
    .option('--connections <N>', 'replay: connections to the target', '4')
    .option('--pipeline <DEPTH>', 'replay: commands in flight per connection', '256')
    .option('--max-rate <KEYS_PER_S>', 'replay: send at most this many keys a second')
    .option('--proto-max-bulk-len <SIZE>', "replay: the target's proto-max-bulk-len (default: CONFIG GET, else 512mb)");
  addFetchOptions(cmd);
  addMergeOptions(cmd);
  addOptions(cmd, SELECT_OPTIONS);
  cmd.addHelpText(
    'after',
    '\nExamples:\n' +
      '  rdbmerge migrate --sources fleet.txt -o dump.rdb --on-conflict last --rebase-expiry\n' +
      '  rdbmerge migrate --sources fleet.txt --target redis://new-host:6379 --keep-dumps dumps/ --parallel 4\n' +
      '  rdbmerge migrate --sources fleet.txt --target redis://new-host:6379 --stream --on-busykey skip\n',
  );
  cmd.action(async (args: string[], _opts: unknown, self: Command) => {
    const raw = self.optsWithGlobals();
    const g = globalOptionsFrom(raw);
    const select = sharedOptionsFrom(raw, ctx.startedAt);
    const targetVersion = targetVersionFrom(raw);
    const out = typeof raw['out'] === 'string' ? raw['out'] : undefined;
    const target = typeof raw['target'] === 'string' ? parseUri(raw['target'], '--target', ctx.io.env) : undefined;
    // One set of --tls-* options for every rediss:// URI: the sources and the target.
    const base = await fetchOptionsFrom(raw, args, ctx, target !== undefined ? [target] : []);
    const { signal: _s, ...fetchOpts } = base;
    const targetTls = target?.tls === true ? tlsOptionsFrom(raw) : undefined;
    const bulk = raw['protoMaxBulkLen'];
    const fp = fetchProgress(ctx, g.json, g.quiet);
    const mp = passProgress<MergeProgress>(ctx, g.json, g.quiet);
    const rp = passProgress<ReplayProgress | { pass: 'stream'; source: string; keys: number; bytes: number; t: number }>(ctx, g.json, g.quiet);
    const onFetched = async (r: FetchReport): Promise<void> => {
      fp.clear();
      if (!g.json) await ctx.out.write(renderFetch(r));
    };
    let pendingTable: Promise<void> = Promise.resolve();
    let report: MigrateReport;
    // Loaded when the command runs: the other commands start without it.
    const { migrate, MigratePartialFailure } = await import('../pipelines/migrate.js');
    try {
      report = await migrate({
        fetch: { ...fetchOpts, onEvent: fp.onEvent },
        ...(out !== undefined ? { out } : {}),
        ...(target !== undefined ? { target } : {}),
        ...(targetTls !== undefined ? { targetTls } : {}),
        ...(typeof raw['keepDumps'] === 'string' ? { keepDumps: raw['keepDumps'] } : {}),
        ...(typeof raw['workDir'] === 'string' ? { workDir: raw['workDir'] } : {}),
        stream: raw['stream'] === true,
        select,
        onConflict: raw['onConflict'] as ConflictPolicy,
        onBusykey: raw['onBusykey'] as BusyKeyPolicy,
        ...(targetVersion !== undefined ? { targetVersion } : {}),
        dropUnsupported: raw['dropUnsupported'] === true,
        ...(raw['splitSlots'] !== undefined ? { splitSlots: positiveInt(raw['splitSlots'], '--split-slots')! } : {}),
        ...(typeof raw['clusterNodes'] === 'string' ? { clusterNodes: raw['clusterNodes'] } : {}),
        ...(typeof raw['report'] === 'string' ? { reportFile: raw['report'] } : {}),
        connections: positiveInt(raw['connections'], '--connections')!,
        pipeline: positiveInt(raw['pipeline'], '--pipeline')!,
        ...(raw['maxRate'] !== undefined ? { maxRate: positiveNumber(raw['maxRate'], '--max-rate')! } : {}),
        ...(bulk !== undefined ? { protoMaxBulkLen: parseSize(String(bulk), '--proto-max-bulk-len') } : {}),
        maxValueSize: g.maxValueSize,
        onFetched: (r) => {
          pendingTable = onFetched(r);
        },
        onMergeProgress: mp.update,
        onReplayProgress: rp.update,
        signal: ctx.signal,
      });
    } catch (e) {
      fp.clear();
      mp.clear();
      rp.clear();
      await pendingTable;
      if (e instanceof MigratePartialFailure) {
        if (g.json) await ctx.out.write(`${JSON.stringify(e.report)}\n`);
        else if (e.report.fetch !== null && e.report.fetch.failed > 0) await ctx.out.write(renderFetch(e.report.fetch));
        else if (e.report.replay !== null) await ctx.out.write(renderStreamed(e.report.replay));
      } else if (isCarrier(e) && g.json) {
        await ctx.out.write(`${JSON.stringify({ command: 'migrate', replay: e.report })}\n`);
      }
      throw e;
    }
    fp.clear();
    mp.clear();
    rp.clear();
    await pendingTable;
    if (g.json) {
      await ctx.out.write(`${JSON.stringify(stripLists(report))}\n`);
      if (!g.quiet) ctx.errLine(JSON.stringify({ event: 'done', command: 'migrate', seconds: report.seconds, keys: report.fetch?.keys ?? null }));
    } else {
      if (report.merge !== null) await ctx.out.write(renderMerge(report.merge));
      if (report.replay !== null) await ctx.out.write(renderStreamed(report.replay));
      if (report.dumps !== null) await ctx.out.write(`snapshots kept in ${report.dumps}\n`);
    }
    ctx.exitCode = 0;
  });
};

function isCarrier(e: unknown): e is Error & ReportCarrier {
  return e instanceof Error && typeof (e as Partial<ReportCarrier>).report === 'object';
}

/** The JSON report without merge's full collision list (as merge --json leaves it out). */
function stripLists(r: MigrateReport): unknown {
  if (r.merge === null) return r;
  const { collisions: _c, ...merge } = r.merge as MergeReport;
  return { ...r, merge };
}

function renderStreamed(r: ReplayReport): string {
  const s = (r as ReplayReport & { streamed?: Array<{ source: string; result: string; keys: number; bytes: number; seconds: number; error: string | null }> }).streamed;
  let text = renderReplay(r);
  if (s !== undefined) {
    for (const x of s) text += `  streamed ${x.source}: ${x.result === 'ok' ? 'ok' : 'FAILED'}, ${x.keys.toLocaleString('en-US')} keys, ${x.bytes.toLocaleString('en-US')} bytes, ${x.seconds.toFixed(2)} s${x.error !== null ? `: ${x.error}` : ''}\n`;
  }
  return text;
}
