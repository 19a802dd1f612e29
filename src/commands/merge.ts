/**
 * `rdbmerge merge INPUT... -o OUT [options]`: many RDB files into one (or one per cluster shard),
 * and `rdbmerge verify INPUT... --against FILE`. The work is src/pipelines/merge.ts and
 * src/pipelines/verify.ts; this module wires options, progress and the human summary.
 */
import { Option, type Command } from 'commander';
import { addOptions, globalOptionsFrom, positiveInt, SELECT_OPTIONS, sharedOptionsFrom } from '../cli-options.js';
import { UsageError } from '../errors.js';
import type { ConflictPolicy, MergeProgress, MergeReport } from '../pipelines/merge.js';
import type { CommandContext, RegisterCommand } from './context.js';
import { passProgress } from './progress.js';


/** Options merge, verify and plan share beyond CLI.md's selection options. */
export function addMergeOptions(cmd: Command): Command {
  cmd.addOption(new Option('--on-conflict <POLICY>', 'a key in several inputs (or source dbs mapped together): first, last, or error (exit 9)')
    .choices(['first', 'last', 'error']).default('error'));
  cmd.option('--target-version <N>', 'RDB version to write, 6..12 (default: the highest input version, at least 6)');
  cmd.option('--drop-unsupported', 'leave out (and report) what the target version cannot hold, instead of exit 6');
  return cmd;
}

/** `--jemalloc-quantum`: the target's allocator, for memory estimates (inspect, plan). */
export function jemallocQuantumOption(what: string): Option {
  return new Option(
    '--jemalloc-quantum <N>',
    `${what}the target's jemalloc quantum: 16 (distribution packages, the default) or 8 (built from source, official Docker images)`,
  ).choices(['8', '16']);
}

/** The `--jemalloc-quantum` value, when given. */
export function jemallocQuantumFrom(raw: Record<string, unknown>): { jemallocQuantum?: 8 | 16 } {
  return raw['jemallocQuantum'] === undefined ? {} : { jemallocQuantum: Number(raw['jemallocQuantum']) as 8 | 16 };
}

export function targetVersionFrom(raw: Readonly<Record<string, unknown>>): number | undefined {
  const v = raw['targetVersion'];
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!/^\d+$/.test(String(v)) || n < 6 || n > 12) throw new UsageError(`--target-version: a version from 6 to 12, found ${String(v)}`);
  return n;
}

export const registerMerge: RegisterCommand = (program: Command, ctx: CommandContext) => {
  const cmd = program
    .command('merge')
    .summary('merge RDB files into one dump.rdb (or one per cluster shard)')
    .description(
      'Merges RDB files into one file a fresh server boots from: keys present in several inputs follow\n' +
        '--on-conflict, databases can be remapped, expiries shifted, and the output written for an older\n' +
        'server (--target-version) or split by cluster slots. Nothing appears at OUT unless all went well.',
    )
    .argument('<INPUT...>', 'RDB files or directories (their *.rdb files, in name order); order = conflict order')
    .requiredOption('-o, --out <FILE>', 'output file (with a split: FILE.<i>.rdb and FILE.slots.json)')
    .option('--report <FILE>', 'write a JSON report: keys in/out per input and db, every collision, drops, times')
    .option('--split-slots <N>', 'write N files with contiguous equal slot ranges (redis-cli --cluster create layout)')
    .option('--cluster-nodes <FILE>', 'write one file per master of this CLUSTER NODES output / nodes.conf');
  addMergeOptions(cmd);
  addOptions(cmd, SELECT_OPTIONS);
  cmd.addHelpText(
    'after',
    '\nExamples:\n' +
      '  rdbmerge merge dumps/ -o dump.rdb --on-conflict last --report merge-report.json\n' +
      '  rdbmerge merge a.rdb b.rdb -o out/dump.rdb --into-db 0 --split-slots 3\n' +
      '  rdbmerge merge old/*.rdb -o dump.rdb --target-version 6 --rebase-expiry --drop-expired\n',
  );
  cmd.action(async (inputs: string[], _opts: unknown, self: Command) => {
    const raw = self.optsWithGlobals();
    const g = globalOptionsFrom(raw);
    const select = sharedOptionsFrom(raw, ctx.startedAt);
    const targetVersion = targetVersionFrom(raw);
    const splitSlots = positiveInt(raw['splitSlots'], '--split-slots');
    const progress = passProgress<MergeProgress>(ctx, g.json, g.quiet);
    let report: MergeReport;
    try {
      // Loaded when the command runs: the other commands start without it.
      const { merge } = await import('../pipelines/merge.js');
      report = await merge(inputs, {
        select,
        onConflict: raw['onConflict'] as ConflictPolicy,
        ...(targetVersion !== undefined ? { targetVersion } : {}),
        dropUnsupported: raw['dropUnsupported'] === true,
        maxValueSize: g.maxValueSize,
        out: String(raw['out']),
        ...(splitSlots !== undefined ? { splitSlots } : {}),
        ...(typeof raw['clusterNodes'] === 'string' ? { clusterNodes: raw['clusterNodes'] } : {}),
        ...(typeof raw['report'] === 'string' ? { reportFile: raw['report'] } : {}),
        onProgress: progress.update,
        signal: ctx.signal,
      });
    } finally {
      progress.clear();
    }
    if (g.json) {
      const { collisions: _c, ...numbers } = report;
      await ctx.out.write(`${JSON.stringify(numbers)}\n`);
      if (!g.quiet) ctx.errLine(JSON.stringify({ event: 'done', ...numbers }));
    } else {
      await ctx.out.write(renderMerge(report));
    }
    ctx.exitCode = 0;
  });
};

export function renderMerge(r: MergeReport): string {
  const lines: string[] = [];
  const n = (x: number): string => x.toLocaleString('en-US');
  const read = r.inputs.reduce((a, i) => a + i.keysRead, 0);
  lines.push(`merged ${r.inputs.length} input(s), ${n(read)} keys read, into ${r.outputs.length} file(s) (RDB ${r.targetVersion}) in ${r.seconds.toFixed(2)} s`);
  for (const o of r.outputs) {
    const dbs = Object.entries(o.keyCountsPerDb).map(([db, c]) => `db${db}=${n(c)}`).join(' ');
    const slots = o.slots ? `  slots ${o.slots.map(([a, b]) => (a === b ? `${a}` : `${a}-${b}`)).join(',')}` : '';
    lines.push(`  ${o.file}: ${n(o.totalKeys)} keys (${dbs || 'empty'}), ${n(o.bytes)} bytes${slots}`);
  }
  lines.push(`collisions: ${n(r.collisionCount)} (policy ${r.policy})`);
  for (const c of r.collisions.slice(0, 10)) {
    const key = typeof c.key === 'string' ? c.key : `b64:${c.key.b64}`;
    lines.push(`  db ${c.db} ${JSON.stringify(key)}: ${c.inputs.join(', ')} -> ${c.winner ?? '-'}`);
  }
  if (r.collisions.length > 10) lines.push(`  ... ${n(r.collisions.length - 10)} more (--report FILE lists them all)`);
  if (r.functionConflicts.length > 0) lines.push(`function library conflicts: ${r.functionConflicts.length}`);
  if (r.functions.length > 0) lines.push(`functions: ${r.functions.map((f) => f.library).join(', ')}`);
  const dropped = r.inputs.reduce((a, i) => a + i.dropped.expired, 0);
  if (dropped > 0) lines.push(`expired keys dropped: ${n(dropped)} (now ${r.nowIso})`);
  if (r.keysShifted > 0) lines.push(`expiries shifted: ${n(r.keysShifted)} keys`);
  if (r.droppedUnsupported.length > 0) lines.push(`left out for RDB ${r.targetVersion}: ${r.droppedUnsupported.length} (see --report)`);
  lines.push(`copied ${n(r.copied)} values as they were, converted ${n(r.converted)}`);
  return `${lines.join('\n')}\n`;
}
