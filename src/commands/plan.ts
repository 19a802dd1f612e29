/**
 * `rdbmerge plan INPUT... (-o OUT | --target URI) [merge/replay options]`: everything a merge or a
 * replay would do, without writing anything, and the exit code the real run would end with. The
 * work is src/pipelines/plan.ts; this module wires options, progress and the output (the plan as
 * text, or one JSON object with --json). Warnings (memory, databases, long values) also go to
 * stderr unless -q.
 */
import { Option, type Command } from 'commander';
import { addOptions, globalOptionsFrom, positiveInt, SELECT_OPTIONS, sharedOptionsFrom } from '../cli-options.js';
import { UsageError } from '../errors.js';
import { keyText } from '../format/jsonl.js';
import type { ConflictPolicy } from '../pipelines/merge.js';
import type { PlanProgress, PlanReport } from '../pipelines/plan.js';
import type { BusyKeyPolicy } from '../pipelines/replay.js';
import { parseSize, parseUri } from '../values.js';
import type { CommandContext, RegisterCommand } from './context.js';
import { addMergeOptions, jemallocQuantumFrom, jemallocQuantumOption, targetVersionFrom } from './merge.js';
import { passProgress } from './progress.js';

export const registerPlan: RegisterCommand = (program: Command, ctx: CommandContext) => {
  const cmd = program
    .command('plan')
    .summary('what a merge (-o) or replay (--target) would do, without writing; exit = the real run\'s')
    .description(
      'A dry run of merge (-o OUT) or replay (--target URI) with the same options: keys per input and database, ' +
        'collisions and their winners, what the target version cannot hold, values over proto-max-bulk-len, ' +
        "databases beyond the target's, estimated memory against maxmemory, expiries shifted and dropped. " +
        'Nothing is written (a live target is only read: INFO, CONFIG GET, EXISTS). Exits with the code the ' +
        'real run would give: 0, 6 (unsupported), 8 (the server would refuse), 9 (conflicts), 11 (some keys).',
    )
    .argument('<INPUT...>', 'RDB files or directories, in merge order')
    .option('-o, --out <FILE>', 'plan a merge into FILE (nothing is written)')
    .option('--target <URI>', 'plan a replay into this server (only read)')
    .option('--split-slots <N>', 'merge: N files with contiguous equal slot ranges')
    .option('--cluster-nodes <FILE>', 'merge: one file per master of this CLUSTER NODES output / nodes.conf')
    .addOption(new Option('--on-busykey <POLICY>', 'replay: a key the target already holds: skip, replace, or error (exit 9)')
      .choices(['skip', 'replace', 'error']).default('error'))
    .option('--proto-max-bulk-len <SIZE>', "the target's proto-max-bulk-len (default: CONFIG GET on --target, else 512mb)")
    .option('--databases <N>', "the target's databases setting (default: CONFIG GET on --target, else 16)")
    .option('--maxmemory <SIZE>', "the target's maxmemory (default: CONFIG GET on --target, else no limit)")
    .option('--limit <N>', 'keys listed per list in the report (all are counted)', '100')
    .addOption(jemallocQuantumOption('the memory estimate: '));
  addMergeOptions(cmd);
  addOptions(cmd, SELECT_OPTIONS);
  cmd.addHelpText(
    'after',
    '\nExamples:\n' +
      '  rdbmerge plan dumps/ -o dump.rdb --on-conflict last --maxmemory 8gb\n' +
      '  rdbmerge plan dumps/ --target redis://new-host:6379 --into-db 0 --json > plan.json\n',
  );
  cmd.action(async (inputs: string[], _opts: unknown, self: Command) => {
    const raw = self.optsWithGlobals();
    const g = globalOptionsFrom(raw);
    const select = sharedOptionsFrom(raw, ctx.startedAt);
    const targetVersion = targetVersionFrom(raw);
    const out = typeof raw['out'] === 'string' ? raw['out'] : undefined;
    const targetText = typeof raw['target'] === 'string' ? raw['target'] : undefined;
    if ((out === undefined) === (targetText === undefined)) throw new UsageError('plan: give -o OUT (a merge) or --target URI (a replay), one of them');
    if (targetText !== undefined && (raw['splitSlots'] !== undefined || raw['clusterNodes'] !== undefined)) {
      throw new UsageError('--split-slots and --cluster-nodes go with -o (a merge), not --target');
    }
    const size = (name: string, option: string): number | undefined => (raw[name] === undefined ? undefined : parseSize(String(raw[name]), option));
    const protoMaxBulkLen = size('protoMaxBulkLen', '--proto-max-bulk-len');
    const maxmemory = size('maxmemory', '--maxmemory');
    const databases = positiveInt(raw['databases'], '--databases');
    const splitSlots = positiveInt(raw['splitSlots'], '--split-slots');
    const limit = Number(String(raw['limit'] ?? '100'));
    if (!Number.isInteger(limit) || limit < 0) throw new UsageError(`--limit: a number, found ${String(raw['limit'])}`);
    const progress = passProgress<PlanProgress>(ctx, g.json, g.quiet);
    let report: PlanReport;
    try {
      // Loaded when the command runs: the other commands start without it.
      const { plan } = await import('../pipelines/plan.js');
      report = await plan(inputs, {
        select,
        onConflict: raw['onConflict'] as ConflictPolicy,
        ...(targetVersion !== undefined ? { targetVersion } : {}),
        dropUnsupported: raw['dropUnsupported'] === true,
        maxValueSize: g.maxValueSize,
        ...jemallocQuantumFrom(raw),
        ...(out !== undefined ? { out } : {}),
        ...(targetText !== undefined ? { target: parseUri(targetText, '--target', ctx.io.env), onBusykey: raw['onBusykey'] as BusyKeyPolicy } : {}),
        ...(splitSlots !== undefined ? { splitSlots } : {}),
        ...(typeof raw['clusterNodes'] === 'string' ? { clusterNodes: raw['clusterNodes'] } : {}),
        ...(protoMaxBulkLen !== undefined ? { protoMaxBulkLen } : {}),
        ...(maxmemory !== undefined ? { maxmemory } : {}),
        ...(databases !== undefined ? { databases } : {}),
        maxListed: limit,
        onProgress: progress.update,
        signal: ctx.signal,
      });
    } finally {
      progress.clear();
    }
    if (g.json) {
      await ctx.out.write(`${JSON.stringify(report)}\n`);
      if (!g.quiet) {
        const { collisions: _c, inputs: _i, droppedUnsupported: _d, failures: _f, busyKeys: _b, ...numbers } = report;
        ctx.errLine(JSON.stringify({ event: 'done', ...numbers }));
      }
    } else {
      await ctx.out.write(renderPlan(report));
      if (!g.quiet) for (const w of report.warnings) ctx.errLine(`rdbmerge: warning: ${w}`);
    }
    if (report.exitCode !== 0) ctx.errLine(`rdbmerge: plan: the real run would fail (exit ${report.exitCode}): ${(report.error ?? '').split('\n')[0]}`);
    ctx.exitCode = report.exitCode;
  });
};

function mib(n: number): string {
  return `${(n / 1048576).toFixed(1)} MiB`;
}

export function renderPlan(r: PlanReport): string {
  const n = (x: number): string => x.toLocaleString('en-US');
  const lines: string[] = [];
  const where = r.mode === 'merge' ? `merge into ${r.out ?? '?'}` : `replay into ${r.target ?? '?'}${r.serverVersion !== null ? ` (server ${r.serverVersion})` : ''}`;
  lines.push(`plan: ${where}, RDB ${r.targetVersion}, policy ${r.policy}${r.onBusykey !== null ? `, on busy key ${r.onBusykey}` : ''}, now ${r.nowIso}`);
  lines.push(r.exitCode === 0 ? 'outcome: would succeed (exit 0)' : `outcome: would FAIL with exit ${r.exitCode}: ${(r.error ?? '').split('\n')[0]}`);
  lines.push('inputs:');
  for (const i of r.inputs) {
    const dbs = Object.entries(i.perDb).map(([db, c]) => `db${db}=${n(c.in)}`).join(' ');
    const dropped = i.dropped.db + i.dropped.type + i.dropped.match + i.dropped.expired;
    lines.push(`  ${i.file} (RDB ${i.rdbVersion}): ${n(i.keysRead)} read, ${n(i.keysSelected)} selected (${dbs || 'none'})${dropped > 0 ? `, ${n(dropped)} filtered out` : ''}${i.collisionsLost > 0 ? `, ${n(i.collisionsLost)} lose collisions` : ''}`);
  }
  const dbs = Object.entries(r.keyCountsPerDb).map(([db, c]) => `db${db}=${n(c)}`).join(' ');
  lines.push(`keys written: ${n(r.totalKeys)} (${dbs || 'none'}); payloads ${n(r.copied)} copied, ${n(r.converted)} converted`);
  for (const o of r.outputs) if (r.outputs.length > 1 || o.bytes > 0) lines.push(`  ${o.file}: ${n(o.totalKeys)} keys, ${n(o.bytes)} bytes`);
  lines.push(`collisions: ${n(r.collisionCount)}`);
  for (const c of r.collisions.slice(0, 10)) lines.push(`  db ${c.db} ${keyText(c.key)}: ${c.inputs.join(', ')} -> ${c.winner ?? '(none: exit 9)'}`);
  if (r.collisions.length > 10) lines.push(`  ... ${n(r.collisions.length - 10)} more (--json lists them)`);
  for (const f of r.functionConflicts) lines.push(`  function library ${f.library}: ${f.kind} in ${f.inputs.join(', ')} -> ${f.winner ?? '(none)'}`);
  if (r.droppedUnsupported.length > 0) {
    lines.push(`RDB ${r.targetVersion} cannot hold: ${n(r.droppedUnsupported.length)}${r.dropUnsupported ? ' (left out)' : ' (without --drop-unsupported the run stops: exit 6)'}`);
    for (const d of r.droppedUnsupported.slice(0, 10)) lines.push(`  ${d.kind} ${d.key !== undefined ? `db ${d.db ?? 0} ${keyText(d.key)}` : d.name ?? ''}: ${d.reason}`);
  }
  const e = r.expiries;
  const shifts = e.shiftPerInput.filter((s) => s.shift !== 0);
  lines.push(`expiries: ${n(e.keysShifted)} keys shifted${shifts.length > 0 ? ` (${shifts.map((s) => `${s.file} ${s.shift} ms`).join(', ')})` : ''}, ${n(e.droppedExpired)} dropped as expired${r.mode === 'replay' ? `, ${n(e.expiredBeforeSend)} expired before sending (skipped)` : ''}`);
  lines.push(`proto-max-bulk-len ${n(r.protoMaxBulkLen.limit)} (${r.protoMaxBulkLen.source}): ${n(r.protoMaxBulkLen.count)} value(s) over it${r.mode === 'replay' ? `; ${n(r.rebuilt)} rebuilt with plain commands, ${n(r.failed)} cannot be sent` : ''}`);
  for (const k of r.protoMaxBulkLen.keys.slice(0, 10)) lines.push(`  db ${k.db} ${keyText(k.key)}: ${n(k.bytes)} bytes`);
  lines.push(`databases ${r.databases.limit} (${r.databases.source}): ${r.databases.beyond.length === 0 ? 'every key fits' : `beyond: ${r.databases.beyond.map((d) => `db${d.db} (${n(d.keys)} keys)`).join(', ')}`}`);
  const m = r.memory;
  lines.push(
    `memory: estimated ${mib(m.estimatedBytes)}${m.usedMemory > 0 ? ` + ${mib(m.usedMemory)} in use` : ''}; maxmemory ${m.maxmemory > 0 ? mib(m.maxmemory) : 'none'} (${m.source})` +
      `${m.policy !== null ? `, policy ${m.policy}` : ''}${m.over ? ': OVER' : ''}`,
  );
  if (r.busy > 0) {
    lines.push(`already on the target: ${n(r.busy)}`);
    for (const b of r.busyKeys.slice(0, 10)) lines.push(`  db ${b.db} ${keyText(b.key)}`);
  }
  for (const w of r.warnings) lines.push(`warning: ${w}`);
  return `${lines.join('\n')}\n`;
}
