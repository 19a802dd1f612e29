/**
 * `rdbmerge diff A B [options]`: the keys only in A, only in B, and in both with a different type,
 * value or expiry, compared logically. Exit 10 when anything differs, 0 when A and B are equal.
 * The work is src/pipelines/diff.ts; this module wires options, progress and the output: counts,
 * then the first differences (`--limit`), or with --json one JSON line per difference on stdout
 * (every one of them) and the report, without its list, as the last line.
 */
import type { Command } from 'commander';
import { addOptions, globalOptionsFrom, SELECT_OPTIONS, sharedOptionsFrom } from '../cli-options.js';
import { EXIT, UsageError } from '../errors.js';
import { keyText } from '../format/jsonl.js';
import type { DiffDifference, DiffProgress, DiffReport } from '../pipelines/diff.js';
import { parseDuration } from '../values.js';
import type { CommandContext, RegisterCommand } from './context.js';
import { passProgress } from './progress.js';

export const registerDiff: RegisterCommand = (program: Command, ctx: CommandContext) => {
  const cmd = program
    .command('diff')
    .summary('keys only in A, only in B, or different (type, value, expiry); exit 10 when they differ')
    .description(
      'Compares two RDB files (or directories of them) key by key after the same selection and transforms on ' +
        'both sides: values logically (encodings and RDB versions do not matter), expiries within --ttl-tolerance. ' +
        'Memory: the collision index of A (under 48 bytes a key), never the values. Exit 10 when they differ.',
    )
    .argument('<A>', 'an RDB file or a directory of them')
    .argument('<B>', 'an RDB file or a directory of them')
    .option('--ttl-tolerance <DURATION>', 'expiries this far apart still match', '0ms')
    .option('--limit <N>', 'differences listed after the counts (all are counted; --json lists all)', '20');
  addOptions(cmd, SELECT_OPTIONS);
  cmd.addHelpText(
    'after',
    '\nExamples:\n' +
      '  rdbmerge diff before.rdb after.rdb\n' +
      '  rdbmerge diff dumps/ merged.rdb --into-db 0 --ttl-tolerance 2s --json > differences.jsonl\n',
  );
  cmd.action(async (a: string, b: string, _opts: unknown, self: Command) => {
    const raw = self.optsWithGlobals();
    const g = globalOptionsFrom(raw);
    const select = sharedOptionsFrom(raw, ctx.startedAt);
    const ttlTolerance = parseDuration(String(raw['ttlTolerance'] ?? '0ms'), '--ttl-tolerance');
    if (ttlTolerance < 0) throw new UsageError('--ttl-tolerance: must not be negative');
    const limitText = String(raw['limit'] ?? '20');
    if (!/^\d+$/.test(limitText)) throw new UsageError(`--limit: a number, found ${limitText}`);
    const progress = passProgress<DiffProgress>(ctx, g.json, g.quiet);
    let report: DiffReport;
    try {
      // Loaded when the command runs: the other commands start without it.
      const { diff } = await import('../pipelines/diff.js');
      report = await diff(a, b, {
        select,
        ttlTolerance,
        maxValueSize: g.maxValueSize,
        limit: g.json ? 0 : Number(limitText),
        ...(g.json ? { onDifference: (d: DiffDifference) => ctx.out.write(`${JSON.stringify({ event: 'difference', ...d })}\n`) } : {}),
        onProgress: progress.update,
        signal: ctx.signal,
      });
    } finally {
      progress.clear();
    }
    if (g.json) {
      const { differences: _d, ...numbers } = report;
      await ctx.out.write(`${JSON.stringify(numbers)}\n`);
      if (!g.quiet) {
        const { inputsA: _a, inputsB: _b, ...done } = numbers;
        ctx.errLine(JSON.stringify({ event: 'done', ...done }));
      }
    } else {
      await ctx.out.write(renderDiff(report));
    }
    ctx.exitCode = report.same ? EXIT.ok : EXIT.verifyDiff;
  });
};

function short(v: unknown): string {
  const s = JSON.stringify(v) ?? '(none)';
  return s.length > 120 ? `${s.slice(0, 117)}...` : s;
}

/** One line per difference. */
export function diffLine(d: DiffDifference): string {
  const where = `db ${d.db} ${keyText(d.key)}`;
  switch (d.kind) {
    case 'onlyA':
      return `only in A  ${where} (${d.fileA ?? '?'})`;
    case 'onlyB':
      return `only in B  ${where} (${d.fileB ?? '?'})`;
    case 'different':
      return `different  ${where}: ${(d.what ?? []).join(', ')} (at ${d.path ?? ''}: A ${short(d.a)}, B ${short(d.b)})`;
  }
}

function renderDiff(r: DiffReport): string {
  const n = (x: number): string => x.toLocaleString('en-US');
  const lines: string[] = [];
  const by = Object.entries(r.differentBy).filter(([, c]) => c > 0).map(([f, c]) => `${f} ${n(c)}`).join(', ');
  lines.push(
    `${r.same ? 'same' : 'DIFFERENT'}: A ${n(r.keysA)} keys (${r.a.length} file(s)), B ${n(r.keysB)} keys (${r.b.length} file(s)); ` +
      `${n(r.equal)} equal, ${n(r.onlyA)} only in A, ${n(r.onlyB)} only in B, ${n(r.different)} different${by !== '' ? ` (${by})` : ''}` +
      `${r.ttlTolerance > 0 ? `; expiries within ${r.ttlTolerance} ms match` : ''}`,
  );
  if (r.duplicatesA > 0 || r.duplicatesB > 0) lines.push(`keys present twice on one side (first record compared): A ${n(r.duplicatesA)}, B ${n(r.duplicatesB)}`);
  for (const l of r.functions.onlyA) lines.push(`only in A  function library ${l}`);
  for (const l of r.functions.onlyB) lines.push(`only in B  function library ${l}`);
  for (const d of r.differences) lines.push(diffLine(d));
  const keyDiffs = r.onlyA + r.onlyB + r.different;
  if (r.differences.length < keyDiffs) lines.push(`... (${n(keyDiffs - r.differences.length)} more; --limit N lists more, --json all)`);
  return `${lines.join('\n')}\n`;
}
