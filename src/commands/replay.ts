/**
 * `rdbmerge replay INPUT... --target URI [options]`: the keys of RDB files sent to a live server
 * as pipelined RESTOREs, or written as RESP for `redis-cli --pipe` (`--resp-out FILE`). The work
 * is src/pipelines/replay.ts; this module wires options, progress and the report (human lines, or
 * one JSON object with --json; printed too when the run ends with failed or busy keys).
 */
import { Option, type Command } from 'commander';
import {
  addOptions, globalOptionsFrom, positiveInt, positiveNumber, SELECT_OPTIONS, sharedOptionsFrom, TLS_OPTIONS, tlsOptionsFrom,
} from '../cli-options.js';
import { UsageError } from '../errors.js';
import { keyText } from '../format/jsonl.js';
import type { ConflictPolicy } from '../pipelines/merge.js';
import type { BusyKeyPolicy, ReplayProgress, ReplayReport, ReportCarrier } from '../pipelines/replay.js';
import { parseSize, parseUri } from '../values.js';
import type { CommandContext, RegisterCommand } from './context.js';
import { passProgress } from './progress.js';
import { targetVersionFrom } from './merge.js';

function isCarrier(e: unknown): e is Error & ReportCarrier {
  return e instanceof Error && typeof (e as Partial<ReportCarrier>).report === 'object';
}

export const registerReplay: RegisterCommand = (program: Command, ctx: CommandContext) => {
  const cmd = program
    .command('replay')
    .summary('send the keys of RDB files to a live server (pipelined RESTORE), or write them as RESP')
    .description(
      'Sends every key of the inputs to a running server as RESTORE commands, pipelined over several ' +
        "connections, with payloads built for the server's version (read from INFO). Keys present in " +
        'several inputs are settled by --on-conflict before anything is sent, exactly as merge does; ' +
        'keys the server already holds follow --on-busykey. Expiries go as absolute times (ABSTTL) and ' +
        "LRU/LFU data as IDLETIME/FREQ on Redis 5.0+. A value longer than the server's proto-max-bulk-len " +
        'is rebuilt with plain commands. --resp-out writes the same commands for redis-cli --pipe.',
    )
    .argument('<INPUT...>', 'RDB files, directories (their *.rdb files, in name order), or - for stdin; order = conflict order')
    .option('--target <URI>', 'the server: redis://[user[:password]@]host[:port] or rediss:// (password also from REDISCLI_AUTH)')
    .option('--cluster', 'the target is a node of a Redis Cluster: each key goes to the master owning its slot (MOVED/ASK followed); database 0 only')
    .option('--resp-out <FILE>', 'write the commands as RESP to FILE (for redis-cli --pipe) instead of sending them; needs --target-version')
    .addOption(new Option('--on-conflict <POLICY>', 'a key in several inputs (or source dbs mapped together): first, last, or error (exit 9)')
      .choices(['first', 'last', 'error']).default('error'))
    .addOption(new Option('--on-busykey <POLICY>', 'a key the target already holds: skip it, replace it, or error (exit 9, nothing written)')
      .choices(['skip', 'replace', 'error']).default('error'))
    .option('--target-version <N>', 'RDB version to build payloads for, 6..12 (default: from the target\'s INFO)')
    .option('--drop-unsupported', 'leave out (and count) what the target version cannot hold, instead of exit 6')
    .option('--connections <N>', 'connections to the target', '4')
    .option('--pipeline <DEPTH>', 'commands in flight per connection', '256')
    .option('--max-rate <KEYS_PER_S>', 'send at most this many keys a second')
    .option('--proto-max-bulk-len <SIZE>', "the target's proto-max-bulk-len (default: CONFIG GET, else 512mb); longer values are rebuilt")
    .option('--check-first', 'read the whole input before sending anything (one input without --db-map/--into-db is otherwise replayed in one pass)')
    .option('--checkpoint <FILE>', 'record progress in FILE; a rerun with the same FILE, inputs and options continues where the last run stopped');
  addOptions(cmd, SELECT_OPTIONS);
  addOptions(cmd, TLS_OPTIONS);
  cmd.addHelpText(
    'after',
    '\nExamples:\n' +
      '  rdbmerge replay dumps/ --target redis://10.0.0.5:6379 --on-conflict last --on-busykey replace\n' +
      '  REDISCLI_AUTH=secret rdbmerge replay a.rdb b.rdb --target redis://new-host --into-db 0 --json\n' +
      '  rdbmerge replay dump.rdb --resp-out cmds.resp --target-version 10 && redis-cli --pipe < cmds.resp\n' +
      '  rdbmerge replay dumps/ --target redis://10.0.0.7:7000 --cluster --into-db 0 --on-conflict last\n' +
      '  rdbmerge replay dump.rdb --target rediss://cache.example:6380 --tls-ca ca.pem\n' +
      '  rdbmerge replay dumps/ --target redis://new-host --checkpoint replay.ckpt   # rerun the same line after an interruption\n',
  );
  cmd.action(async (inputs: string[], _opts: unknown, self: Command) => {
    const raw = self.optsWithGlobals();
    const g = globalOptionsFrom(raw);
    const select = sharedOptionsFrom(raw, ctx.startedAt);
    const targetVersion = targetVersionFrom(raw);
    const targetText = typeof raw['target'] === 'string' ? raw['target'] : undefined;
    const respOut = typeof raw['respOut'] === 'string' ? raw['respOut'] : undefined;
    if ((targetText === undefined) === (respOut === undefined)) {
      throw new UsageError('replay: give --target URI or --resp-out FILE (one of them)');
    }
    const target = targetText !== undefined ? parseUri(targetText, '--target', ctx.io.env) : undefined;
    const tls = tlsOptionsFrom(raw, [target]);
    const cluster = raw['cluster'] === true;
    if (cluster && respOut !== undefined) throw new UsageError('--cluster goes with --target, not --resp-out', 'for a cluster via files: merge --split-slots and load each shard');
    const connections = positiveInt(raw['connections'], '--connections');
    const pipeline = positiveInt(raw['pipeline'], '--pipeline');
    const maxRate = positiveNumber(raw['maxRate'], '--max-rate');
    const bulkText = raw['protoMaxBulkLen'];
    const protoMaxBulkLen = bulkText === undefined ? undefined : parseSize(String(bulkText), '--proto-max-bulk-len');
    const progress = passProgress<ReplayProgress>(ctx, g.json, g.quiet);
    let report: ReplayReport;
    try {
      // Loaded when the command runs: the other commands start without it.
      const { replay } = await import('../pipelines/replay.js');
      report = await replay(inputs, {
        select,
        onConflict: raw['onConflict'] as ConflictPolicy,
        onBusykey: raw['onBusykey'] as BusyKeyPolicy,
        ...(target !== undefined ? { target } : {}),
        ...(cluster ? { cluster } : {}),
        ...(tls !== undefined ? { tls } : {}),
        ...(respOut !== undefined ? { respOut } : {}),
        ...(targetVersion !== undefined ? { targetVersion } : {}),
        dropUnsupported: raw['dropUnsupported'] === true,
        ...(connections !== undefined ? { connections } : {}),
        ...(pipeline !== undefined ? { pipeline } : {}),
        ...(maxRate !== undefined ? { maxRate } : {}),
        ...(protoMaxBulkLen !== undefined ? { protoMaxBulkLen } : {}),
        ...(typeof raw['checkpoint'] === 'string' ? { checkpoint: raw['checkpoint'] } : {}),
        nowGiven: raw['now'] !== undefined,
        checkFirst: raw['checkFirst'] === true,
        stdin: ctx.io.stdin,
        maxValueSize: g.maxValueSize,
        onProgress: progress.update,
        signal: ctx.signal,
      });
    } catch (e) {
      progress.clear();
      if (isCarrier(e)) await printReport(ctx, e.report, g.json, g.quiet);
      throw e;
    }
    progress.clear();
    await printReport(ctx, report, g.json, g.quiet);
    ctx.exitCode = 0;
  });
};

async function printReport(ctx: CommandContext, report: ReplayReport, json: boolean, quiet: boolean): Promise<void> {
  if (json) {
    await ctx.out.write(`${JSON.stringify(report)}\n`);
    if (!quiet) {
      const { failures: _f, busyKeys: _b, inputs: _i, ...numbers } = report;
      ctx.errLine(JSON.stringify({ event: 'done', ...numbers }));
    }
  } else {
    await ctx.out.write(renderReplay(report));
  }
}

export function renderReplay(r: ReplayReport): string {
  const n = (x: number): string => x.toLocaleString('en-US');
  const lines: string[] = [];
  const where = r.target ?? `${r.respOut ?? '?'} (RESP)`;
  const cp = r.checkpoint;
  if (cp !== null && cp.alreadyComplete) {
    const p = cp.previous;
    return `checkpoint ${cp.file} says this replay is complete: nothing sent\n  earlier runs: ${n(p.restored)} restored, ${n(p.replaced)} replaced, ${n(p.rebuilt)} rebuilt, ${n(p.skipped)} skipped, ${n(p.failed)} failed\n`;
  }
  const server = r.serverVersion !== null ? `, server ${r.serverVersion}` : '';
  lines.push(`replayed ${r.inputs.length} input(s) into ${where} (RDB ${r.targetVersion}${server}) in ${r.seconds.toFixed(2)} s, ${n(r.keysPerSecond)} keys/s`);
  const restored = r.respOut !== null ? 'written as RESTORE' : 'restored';
  lines.push(
    `  ${n(r.keys)} keys: ${n(r.restored)} ${restored}, ${n(r.replaced)} replaced, ${n(r.rebuilt)} rebuilt, ` +
      `${n(r.skipped)} skipped${r.skipped > 0 ? ` (${n(r.skippedBusy)} already there, ${n(r.skippedExpired)} expired, ${n(r.skippedUnsupported)} unsupported)` : ''}, ${n(r.failed)} failed`,
  );
  lines.push(`  payloads: ${n(r.copied)} copied, ${n(r.converted)} converted${r.fieldTtlsDropped > 0 ? `, ${n(r.fieldTtlsDropped)} lost their field TTLs` : ''}`);
  if (r.cluster !== null) {
    const c = r.cluster;
    lines.push(`  cluster: ${c.masters.length} masters (${c.masters.join(', ')}); redirections followed: ${n(c.moved)} MOVED, ${n(c.ask)} ASK, ${n(c.retried)} retried${c.refreshes > 0 ? `; slot map read again ${c.refreshes} time(s)` : ''}${c.connectionsLost > 0 ? `; ${n(c.connectionsLost)} connection(s) lost, ${n(c.resent)} unanswered command(s) sent again` : ''}`);
  }
  if (r.rebuiltLruLfuLost > 0) lines.push(`  ${n(r.rebuiltLruLfuLost)} rebuilt key(s) start with a fresh LRU/LFU: no command sets IDLETIME/FREQ (only RESTORE does)`);
  if (r.collisionCount > 0) lines.push(`  collisions across inputs: ${n(r.collisionCount)} (policy ${r.policy})`);
  const f = r.functions;
  if (f.loaded.length + f.skipped.length + f.dropped.length + f.failed.length > 0) {
    lines.push(`  functions: ${f.loaded.length} loaded${f.skipped.length ? `, ${f.skipped.length} already there` : ''}${f.dropped.length ? `, ${f.dropped.length} dropped` : ''}${f.failed.length ? `, ${f.failed.length} failed` : ''}`);
  }
  for (const x of r.failures.slice(0, 10)) lines.push(`  failed: db ${x.db} ${keyText(x.key)}: ${x.error}`);
  if (r.failed > 10) lines.push(`  ... ${n(r.failed - Math.min(10, r.failures.length))} more failed (--json lists up to 100)`);
  for (const b of r.busyKeys.slice(0, 10)) lines.push(`  already on the target: db ${b.db} ${keyText(b.key)}`);
  if (r.busy > 10) lines.push(`  ... ${n(r.busy - 10)} more already on the target`);
  for (const x of f.failed) lines.push(`  function library ${x.library} failed: ${x.error}`);
  if (cp !== null) {
    lines.push(cp.resumed
      ? `  checkpoint ${cp.file}: resumed; ${n(cp.skippedDone)} keys already answered skipped, ${n(cp.resent)} in flight when it stopped sent again; earlier runs restored ${n(cp.previous.restored + cp.previous.replaced + cp.previous.rebuilt)}, failed ${n(cp.previous.failed)}`
      : `  checkpoint ${cp.file}: written`);
  }
  lines.push(`  now ${r.nowIso}`);
  return `${lines.join('\n')}\n`;
}
