/** The benchmark cases: each returns rows measured in its own processes. */
import type { Row, Server } from './run.js';

export interface BenchContext {
  file: string;
  size: number;
  keys: number;
  node: string;
  bin: string;
  worker: string;
  measure(cmd: string, args: string[], opts?: { input?: string }): Promise<{ seconds: number; maxRssMb: number; stdout: string }>;
  startServer(extra?: string[], dbfile?: string): Promise<Server>;
  dataset(keys: number, shards?: number): Promise<{ file: string; shardFiles: string[] }>;
}

export interface BenchCase {
  name: string;
  run(ctx: BenchContext): Promise<Row[]>;
}

function mk(c: string, tool: string, keys: number, bytes: number, m: { seconds: number; maxRssMb: number }, note?: string): Row {
  return {
    case: c, tool, keys, bytes, seconds: m.seconds, keysPerSec: keys / m.seconds, mbPerSec: bytes / 1e6 / m.seconds,
    peakRssMb: m.maxRssMb, ...(note !== undefined ? { note } : {}),
  };
}

export const cases: BenchCase[] = [
  {
    name: 'parse',
    async run(ctx) {
      const m = await ctx.measure(ctx.node, [ctx.worker, 'parse', ctx.file]);
      const r = JSON.parse(m.stdout) as { keys: number };
      return [mk('parse (no decode)', 'rdbmerge', r.keys, ctx.size, m)];
    },
  },
  {
    name: 'decode',
    async run(ctx) {
      const m = await ctx.measure(ctx.node, [ctx.worker, 'decode', ctx.file]);
      const r = JSON.parse(m.stdout) as { keys: number };
      return [mk('full decode', 'rdbmerge', r.keys, ctx.size, m)];
    },
  },
  {
    name: 'summary',
    async run(ctx) {
      const m = await ctx.measure(ctx.node, [ctx.bin, 'inspect', ctx.file, '--json', '-q']);
      return [mk('inspect summary', 'rdbmerge', ctx.keys, ctx.size, m)];
    },
  },
  {
    name: 'jsonl',
    async run(ctx) {
      const m = await ctx.measure('sh', ['-c', `'${ctx.node}' '${ctx.bin}' inspect '${ctx.file}' --format jsonl -q > /dev/null`]);
      return [mk('inspect --format jsonl', 'rdbmerge', ctx.keys, ctx.size, m)];
    },
  },
];
