/**
 * `rdbmerge inspect INPUT... [--format summary|jsonl|keys] [--json]` plus the selection options
 * of CLI.md. The work is src/pipelines/inspect.ts; this module wires options, output and progress,
 * and renders the human summary.
 */
import { Option, type Command } from 'commander';
import { addOptions, globalOptionsFrom, SELECT_OPTIONS, sharedOptionsFrom, type SharedOptions } from '../cli-options.js';
import type { JsonBytes } from '../format/jsonl.js';
import { humanBytes, renderMemoryReport } from '../format/memory.js';
import { inspectReport, writeMemory } from '../pipelines/inspect-memory.js';
import { UsageError } from '../errors.js';
import { jemallocQuantumFrom, jemallocQuantumOption, targetVersionFrom } from './merge.js';
import {
  inspect, INSPECT_FORMATS, type FileSummary, type InspectFormat, type InspectProgress, type InspectReport,
  type InspectTotal, type KeyStats, type LargeKey,
} from '../pipelines/inspect.js';
import type { CommandContext, RegisterCommand } from './context.js';

export const registerInspect: RegisterCommand = (program: Command, ctx: CommandContext) => {
  const cmd = program
    .command('inspect')
    .summary('summarise RDB files, list their keys (jsonl, keys), estimate memory (memory, report)')
    .description(
      'Reads RDB files and prints a summary (version, aux fields, checksum, functions, key counts per ' +
        'database, type and encoding, expiries, sizes, the largest keys), or one line per key: ' +
        '--format jsonl (the canonical JSONL form) or --format keys (db, key, type, encoding, size, ' +
        'elements, expireAt; tab-separated, or JSON lines with --json). --format memory: one CSV row per ' +
        'key with the memory it would take in a server of --target-version (redis-rdb-tools\' columns; ' +
        'JSON lines with --json); --format report: totals per database and type, the biggest keys, a ' +
        'key-prefix tree, a TTL histogram and encodings per type (one JSON object with --json).',
    )
    .argument('<INPUT...>', 'RDB files, directories (their *.rdb files), or - for stdin')
    .addOption(
      new Option('--format <FORMAT>', 'summary, jsonl, keys, memory or report').choices([...INSPECT_FORMATS, ...MEMORY_FORMATS]).default('summary'),
    )
    .option('--target-version <N>', 'memory, report: estimate for a server of this RDB version, 6..12 (default: each file\'s own)')
    .addOption(jemallocQuantumOption('memory, report: '))
    .option('--top <N>', 'report: how many biggest keys to list', '20')
    .option('--separator <SEP>', 'report: key-prefix separator', ':')
    .option('--depth <N>', 'report: key-prefix levels', '3')
    .option('--no-collapse-ids', 'report: list digit-only key segments one by one instead of as *')
    .option('--threads <N>', 'memory: threads that parse files of 256 MiB and more, this one included (default: the cores, at most 8; 1: this one only)')
    .option('--no-largest-element', 'memory: write -1 as len_largest_element of listpacks kept as they are instead of walking (and inflating) them (5-20% of the time on the benchmark file)');
  addOptions(cmd, SELECT_OPTIONS);
  cmd.addHelpText(
    'after',
    '\nExamples:\n' +
      '  rdbmerge inspect dump.rdb\n' +
      '  rdbmerge inspect --format jsonl --db 0 --match "user:*" dump.rdb\n' +
      '  rdbmerge inspect --format keys --json backups/ | jq .size\n' +
      '  rdbmerge inspect --format memory dump.rdb > memory.csv\n' +
      '  rdbmerge inspect --format report --top 50 --separator : --depth 2 dump.rdb\n',
  );
  cmd.action(async (inputs: string[], _opts: unknown, self: Command) => {
    const raw = self.optsWithGlobals();
    const g = globalOptionsFrom(raw);
    const select = sharedOptionsFrom(raw, ctx.startedAt);
    const format = raw['format'] as InspectFormat | MemoryFormat;
    // An option of another format would be ignored silently: say so instead.
    for (const [name, flag, formats] of FORMAT_OPTIONS) {
      if (self.getOptionValueSource(name) === 'cli' && !formats.includes(format)) {
        throw new UsageError(`${flag} applies to --format ${formats.join(' or ')}, not ${format}`);
      }
    }
    const progress = progressReporter(ctx, g.json, g.quiet);
    if (format === 'memory' || format === 'report') {
      const targetVersion = targetVersionFrom(raw);
      const common = {
        select,
        maxValueSize: g.maxValueSize,
        onProgress: progress.update,
        stdin: ctx.io.stdin as AsyncIterable<Uint8Array>,
        signal: ctx.signal,
        ...(targetVersion !== undefined ? { targetVersion } : {}),
        ...jemallocQuantumFrom(raw),
      };
      let keys: number;
      let files: number;
      let fileBytes = 0;
      try {
        if (format === 'memory') {
          const largestElement = raw['largestElement'] !== false;
          const threads = raw['threads'] === undefined ? undefined : countOption(raw['threads'], '--threads');
          const res = await writeMemory(
            inputs,
            { ...common, largestElement, json: g.json, ...(threads !== undefined ? { threads } : {}) },
            async (bytes) => {
              await ctx.out.write(bytes);
            },
          );
          keys = res.keys;
          files = res.files.length;
          fileBytes = res.files.reduce((a, f) => a + f.sizeBytes, 0);
        } else {
          const report = await inspectReport(inputs, {
            ...common,
            top: countOption(raw['top'], '--top'),
            depth: countOption(raw['depth'], '--depth'),
            separator: String(raw['separator']),
            collapseIds: raw['collapseIds'] !== false,
          });
          await ctx.out.write(g.json ? `${JSON.stringify(report)}\n` : renderMemoryReport(report));
          keys = report.total.keys;
          files = report.files.length;
          fileBytes = report.files.reduce((a, f) => a + f.sizeBytes, 0);
        }
      } finally {
        progress.clear();
      }
      if (g.json) ctx.errLine(JSON.stringify({ event: 'done', files, keys, bytes: fileBytes, t: Date.now() - ctx.startedAt }));
      ctx.exitCode = 0;
      return;
    }
    let report: InspectReport;
    try {
      report = await inspect(inputs, {
        format,
        select,
        maxValueSize: g.maxValueSize,
        json: g.json,
        write: format === 'summary' ? undefined : (text) => ctx.out.write(text),
        onProgress: progress.update,
        stdin: ctx.io.stdin as AsyncIterable<Uint8Array>,
        signal: ctx.signal,
      });
    } finally {
      progress.clear();
    }
    if (format === 'summary') {
      await ctx.out.write(g.json ? `${JSON.stringify(report)}\n` : renderSummary(report, select));
    }
    progress.done(report);
    ctx.exitCode = 0;
  });
};

const MEMORY_FORMATS = ['memory', 'report'] as const;
type MemoryFormat = (typeof MEMORY_FORMATS)[number];

/** Options that only one format (or two) reads: [commander name, flag, formats]. */
const FORMAT_OPTIONS: ReadonlyArray<readonly [string, string, readonly string[]]> = [
  ['targetVersion', '--target-version', ['memory', 'report']],
  ['jemallocQuantum', '--jemalloc-quantum', ['memory', 'report']],
  ['top', '--top', ['report']],
  ['separator', '--separator', ['report']],
  ['depth', '--depth', ['report']],
  ['collapseIds', '--no-collapse-ids', ['report']],
  ['threads', '--threads', ['memory']],
  ['largestElement', '--no-largest-element', ['memory']],
];

function countOption(v: unknown, name: string): number {
  const s = String(v);
  if (!/^\d+$/.test(s)) throw new UsageError(`${name}: a whole number, found ${JSON.stringify(s)}`);
  return Number(s);
}

/** Progress on stderr: JSON-lines events with --json, a redrawn line on a TTY, else nothing. */
function progressReporter(ctx: CommandContext, json: boolean, quiet: boolean) {
  const stderr = ctx.io.stderr;
  const tty = !json && !quiet && ctx.isTTY(stderr);
  let drawn = false;
  return {
    update: (p: InspectProgress): void => {
      if (json) {
        if (!quiet) ctx.errLine(JSON.stringify({ event: 'progress', ...p }));
      } else if (tty) {
        const line = `inspect ${p.source}  ${num(p.keys)} keys  ${humanBytes(p.bytes)}  ${(p.t / 1000).toFixed(1)} s`;
        ctx.errRaw(`\r\x1b[2K${line}`);
        drawn = true;
      }
    },
    clear: (): void => {
      if (drawn) ctx.errRaw('\r\x1b[2K');
      drawn = false;
    },
    done: (r: InspectReport): void => {
      if (json) {
        ctx.errLine(
          JSON.stringify({
            event: 'done',
            files: r.total.files,
            keys: r.total.totalKeys,
            bytes: r.total.sizeBytes,
            t: Date.now() - ctx.startedAt,
          }),
        );
      }
    },
  };
}

// ---- human summary --------------------------------------------------------------------------

const LABEL = 14;

function num(n: number): string {
  return n.toLocaleString('en-US');
}

function iso(ms: number): string {
  const d = new Date(ms);
  return Number.isNaN(d.getTime()) ? `${ms} ms` : d.toISOString().replace('.000Z', 'Z');
}

/** Bytes as one display token: plain text as is, text with quotes/controls JSON-quoted, else {b64:...}. */
function text(b: JsonBytes, max = 60): string {
  const s = typeof b === 'string' ? (b === '' || /[\u0000-\u001f\u007f"\\]/.test(b) ? JSON.stringify(b) : b) : `{b64:${b.b64}}`;
  return s.length > max ? `${s.slice(0, max - 1)}…` : s;
}

function line(label: string, value: string): string {
  return `  ${label.padEnd(LABEL)}${value}\n`;
}

function more(value: string): string {
  return `  ${' '.repeat(LABEL)}${value}\n`;
}

function list(o: Record<string, number>): string {
  const parts = Object.entries(o).map(([k, v]) => `${k} ${num(v)}`);
  return parts.length === 0 ? '-' : parts.join(', ');
}

function renderStats(s: KeyStats, showFile: boolean): string {
  let out = '';
  const dbs = Object.entries(s.keyCountsPerDb);
  out += line('keys', `${num(s.totalKeys)}${dbs.length > 0 ? ` in ${dbs.length} database${dbs.length === 1 ? '' : 's'}` : ''}`);
  if (dbs.length > 0) {
    const w = Math.max(...dbs.map(([db]) => db.length));
    const cw = Math.max(...dbs.map(([, c]) => num(c).length));
    for (const [db, c] of dbs) out += more(`db ${db.padEnd(w)}  ${num(c).padStart(cw)}`);
  }
  const dropped = Object.entries(s.dropped).filter(([, v]) => v > 0);
  if (dropped.length > 0) {
    out += line('filtered', `${num(s.keysRead)} read, dropped ${dropped.map(([r, v]) => `${num(v)} by ${r === 'expired' ? 'expiry' : `--${r}`}`).join(', ')}`);
  }
  out += line('types', list(s.keysPerType));
  out += line('encodings', list(s.keysPerEncoding));
  const { min, max } = s.expiryRange;
  out += line('expiry', min === null || max === null ? 'no key expires' : `${num(s.keysWithExpiry)} keys expire, ${iso(min)} .. ${iso(max)}`);
  out += line('empty keys', `${num(s.emptyKeysSkipped)} skipped (empty collections, as Redis skips them on load)`);
  out += line('size', `${humanBytes(s.serializedBytes.total)} of values (${num(s.serializedBytes.total)} bytes), largest ${num(s.serializedBytes.largest)} bytes`);
  if (s.largestKeys.length > 0) out += renderLargest(s.largestKeys, showFile);
  return out;
}

function renderLargest(keys: readonly LargeKey[], showFile: boolean): string {
  const rows = keys.map((k) => [num(k.bytes), String(k.db), `${k.type}/${k.encoding}`, text(k.key, 48), showFile ? (k.file ?? '') : '']);
  const head = ['bytes', 'db', 'type', 'key', showFile ? 'file' : ''];
  const w = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const fmt = (r: string[]): string =>
    more(`${r[0]!.padStart(w[0]!)}  ${r[1]!.padStart(w[1]!)}  ${r[2]!.padEnd(w[2]!)}  ${showFile ? `${r[3]!.padEnd(w[3]!)}  ${r[4]}` : r[3]}`.trimEnd());
  let out = `  largest keys\n`;
  out += fmt(head);
  for (const r of rows) out += fmt(r);
  return out;
}

function renderFile(f: FileSummary): string {
  let out = `${f.file === '-' ? 'stdin' : f.file}\n`;
  out += line('format', `${f.magic} RDB version ${f.rdbVersion}, ${num(f.sizeBytes)} bytes, checksum ${f.checksum}`);
  const aux = Object.entries(f.aux);
  if (aux.length === 0) out += line('aux', '-');
  aux.forEach(([k, v], i) => {
    let shown = text(v);
    if (k === 'ctime' && typeof v === 'string' && /^\d+$/.test(v)) shown += ` (${iso(Number(v) * 1000)})`;
    out += i === 0 ? line('aux', `${k} ${shown}`) : more(`${k} ${shown}`);
  });
  if (f.snapshotTime !== null) out += line('snapshot', `${iso(f.snapshotTime.time)} (from ${f.snapshotTime.source})`);
  if (f.functions.length === 0) out += line('functions', '-');
  else {
    out += line('functions', `${f.functions.length} librar${f.functions.length === 1 ? 'y' : 'ies'}`);
    for (const l of f.functions) {
      out += more(`${l.library || '(unnamed)'} (${l.engine || '?'}): ${l.functions.length > 0 ? l.functions.join(', ') : '-'}`);
    }
  }
  if (f.moduleAux.length > 0) out += line('module aux', f.moduleAux.map((m) => `${m.module} v${m.encver}`).join(', '));
  out += renderStats(f, false);
  return out;
}

function renderTotal(t: InspectTotal): string {
  let out = `total\n`;
  out += line('files', `${num(t.files)}, ${num(t.sizeBytes)} bytes`);
  out += line('functions', `${num(t.functionLibraries)} librar${t.functionLibraries === 1 ? 'y' : 'ies'}`);
  out += renderStats(t, true);
  return out;
}

/** The human summary: one section per file, then a total when there are several. */
export function renderSummary(r: InspectReport, select?: SharedOptions): string {
  let out = r.files.map(renderFile).join('\n');
  if (r.files.length > 1) out += `\n${renderTotal(r.total)}`;
  if (select !== undefined && (select.rebaseExpiry || select.dropExpired || select.expireOffset !== 0)) {
    out += `\nexpiries shifted${select.expireOffset !== 0 ? ` by ${select.expireOffset} ms` : ''}${select.rebaseExpiry ? ', rebased on each snapshot time' : ''}; now = ${iso(r.now)} (--now ${r.now})\n`;
  }
  return out;
}
