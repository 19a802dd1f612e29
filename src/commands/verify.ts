/**
 * `rdbmerge verify INPUT... --against FILE [options]`: checks that FILE holds exactly what
 * merging the inputs with the same options gives, compared logically (type, value, expiry), and
 * exits 10 when it does not. The work is src/pipelines/verify.ts; this module wires options,
 * progress and the output (one line per difference, or one JSON object with --json).
 */
import type { Command } from 'commander';
import { addOptions, globalOptionsFrom, SELECT_OPTIONS, sharedOptionsFrom, TLS_OPTIONS, tlsOptionsFrom } from '../cli-options.js';
import { UsageError, VerifyDiffError } from '../errors.js';
import { keyText } from '../format/jsonl.js';
import type { ConflictPolicy } from '../pipelines/merge.js';
import type { VerifyDifference, VerifyProgress, VerifyReport } from '../pipelines/verify.js';
import { parseDuration, parseUri } from '../values.js';
import type { VerifyTargetProgress } from '../pipelines/verify-target.js';
import type { CommandContext, RegisterCommand } from './context.js';
import { addMergeOptions, targetVersionFrom } from './merge.js';

function collect(value: string, previous: unknown): string[] {
  return Array.isArray(previous) ? [...(previous as string[]), value] : [value];
}

export const registerVerify: RegisterCommand = (program: Command, ctx: CommandContext) => {
  const cmd = program
    .command('verify')
    .summary('check that a merged file holds exactly what merging the inputs gives (exit 10 if not)')
    .description(
      'Merges the inputs in memory-bounded form (only the collision index, as merge does) and compares the ' +
        'merged FILE with that result key by key: type, value and expiry after the same transforms and conflict ' +
        'policy. Give the options the merge was run with (and its --now, printed in its report). Differences are ' +
        'printed (missing, extra and different keys; function libraries); exit 10 when there are any.',
    )
    .argument('<INPUT...>', 'the merge inputs: RDB files or directories, in merge order')
    .option('--against <FILE>', 'the merged file; repeat for the files of a split (their union is compared)', collect)
    .option('--target <URI>', 'a live server a replay wrote to, read back with DUMP (instead of --against)')
    .option('--cluster', 'with --target: the server is a node of a Redis Cluster; each key is read from the master owning its slot')
    .option('--exact', 'with --target: the server holds nothing else (no other key, no other function library)')
    .option('--ttl-tolerance <DURATION>', 'expiries this far apart still match (default 0ms with --against, 2s with --target)')
    .option('--limit <N>', 'differences listed (all are counted)', '100');
  addMergeOptions(cmd);
  addOptions(cmd, SELECT_OPTIONS);
  addOptions(cmd, TLS_OPTIONS);
  cmd.addHelpText(
    'after',
    '\nExamples:\n' +
      '  rdbmerge verify dumps/ --against dump.rdb --on-conflict last --now 2026-11-25T12:00:00Z\n' +
      '  rdbmerge verify a.rdb b.rdb --against out/dump.0.rdb --against out/dump.1.rdb --into-db 0\n' +
      '  rdbmerge verify dumps/ --target redis://10.0.0.7:7000 --cluster --into-db 0 --on-conflict last --exact\n',
  );
  cmd.action(async (inputs: string[], _opts: unknown, self: Command) => {
    const raw = self.optsWithGlobals();
    const g = globalOptionsFrom(raw);
    const select = sharedOptionsFrom(raw, ctx.startedAt);
    const targetVersion = targetVersionFrom(raw);
    const targetText = typeof raw['target'] === 'string' ? raw['target'] : undefined;
    const against = raw['against'] as string[] | undefined;
    if ((targetText === undefined) === (against === undefined)) {
      throw new UsageError('verify: give --against FILE or --target URI (one of them)');
    }
    if (raw['exact'] === true && targetText === undefined) throw new UsageError('--exact goes with --target');
    if (raw['cluster'] === true && targetText === undefined) throw new UsageError('--cluster goes with --target');
    const target = targetText !== undefined ? parseUri(targetText, '--target', ctx.io.env) : undefined;
    const tls = tlsOptionsFrom(raw, [target]);
    const ttlTolerance = parseDuration(String(raw['ttlTolerance'] ?? (targetText !== undefined ? '2s' : '0ms')), '--ttl-tolerance');
    if (ttlTolerance < 0) throw new UsageError('--ttl-tolerance: must not be negative');
    const limitText = String(raw['limit'] ?? '100');
    if (!/^\d+$/.test(limitText)) throw new UsageError(`--limit: a number, found ${limitText}`);
    const onProgress = (p: VerifyProgress | VerifyTargetProgress): void => {
      if (!g.quiet && g.json) ctx.errLine(JSON.stringify({ event: 'progress', ...p }));
    };
    const common = {
      select,
      onConflict: raw['onConflict'] as ConflictPolicy,
      ...(targetVersion !== undefined ? { targetVersion } : {}),
      dropUnsupported: raw['dropUnsupported'] === true,
      ttlTolerance,
      maxValueSize: g.maxValueSize,
      limit: Number(limitText),
      onProgress,
      signal: ctx.signal,
    };
    // Loaded when the command runs: the other commands start without them.
    const report: VerifyReport = targetText !== undefined
      ? await (await import('../pipelines/verify-target.js')).verifyTarget(inputs, {
        ...common, target: target!, exact: raw['exact'] === true,
        ...(raw['cluster'] === true ? { cluster: true } : {}),
        ...(tls !== undefined ? { tls } : {}),
      })
      : await (await import('../pipelines/verify.js')).verifyAgainst(inputs, { ...common, against: against! });
    if (g.json) {
      await ctx.out.write(`${JSON.stringify(report)}\n`);
      if (!g.quiet) {
        const { differences: _d, inputs: _i, ...numbers } = report;
        ctx.errLine(JSON.stringify({ event: 'done', ...numbers }));
      }
    } else {
      await ctx.out.write(renderVerify(report));
    }
    if (!report.ok) {
      const keyDiffs = report.differenceCount - report.functions.missing.length - report.functions.extra.length;
      throw new VerifyDiffError(
        `${report.differenceCount} difference(s) between ${report.against.join(', ')} and the merge of ${report.inputs.length} input(s)`,
        report.differences.length < keyDiffs ? 'raise --limit to list more of them' : undefined,
      );
    }
    ctx.exitCode = 0;
  });
};

function short(v: unknown): string {
  const s = JSON.stringify(v) ?? 'undefined';
  return s.length > 120 ? `${s.slice(0, 117)}...` : s;
}

/** One line per difference. */
export function differenceLine(d: VerifyDifference): string {
  const where = `db ${d.db} ${keyText(d.key)}`;
  switch (d.kind) {
    case 'missing':
      return `missing    ${where} (expected from ${d.from ?? '?'})`;
    case 'extra':
      return `extra      ${where} in ${d.file ?? '?'}${d.from !== undefined ? ` (the target version cannot hold it; merge leaves it out)` : ''}`;
    case 'duplicate':
      return `duplicate  ${where} in ${d.file ?? '?'}`;
    case 'different':
      return `different  ${where}: ${(d.what ?? []).join(', ')} (at ${d.path ?? ''}: expected ${short(d.expected)}, found ${short(d.actual)}; from ${d.from ?? '?'})`;
  }
}

function renderVerify(r: VerifyReport): string {
  const n = (x: number): string => x.toLocaleString('en-US');
  const lines: string[] = [];
  for (const d of r.differences) lines.push(differenceLine(d));
  const keyDiffs = r.differenceCount - r.functions.missing.length - r.functions.extra.length;
  if (r.differences.length < keyDiffs) lines.push(`... (${n(keyDiffs - r.differences.length)} more; --limit N lists more)`);
  for (const l of r.functions.missing) lines.push(`missing    function library ${l}`);
  for (const l of r.functions.extra) lines.push(`extra      function library ${l}`);
  lines.push(
    `${r.ok ? 'verified' : 'DIFFERENT'}: ${n(r.checkedKeys)} keys checked in ${r.against.join(', ')} against ${r.inputs.length} input(s) (policy ${r.policy}, RDB ${r.targetVersion}, now ${r.nowIso}): ` +
      `${n(r.matched)} match, ${n(r.missing)} missing, ${n(r.extra)} extra, ${n(r.different)} different` +
      `${r.duplicates > 0 ? `, ${n(r.duplicates)} duplicate` : ''}${r.droppedUnsupported > 0 ? `; ${n(r.droppedUnsupported)} left out for RDB ${r.targetVersion} as expected` : ''}`,
  );
  return `${lines.join('\n')}\n`;
}
