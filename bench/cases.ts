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
    name: 'merge',
    async run(ctx) {
      // The 1M keys split into 37 files as 37 servers would hold them, merged back into one.
      const { shardFiles } = await ctx.dataset(ctx.keys, 37);
      const { mkdtempSync, rmSync, statSync } = await import('node:fs');
      const { tmpdir } = await import('node:os');
      const { join } = await import('node:path');
      const dir = mkdtempSync(join(tmpdir(), 'rdbmerge-bench-merge-'));
      try {
        const out = join(dir, 'merged.rdb');
        const inBytes = shardFiles.reduce((a, f) => a + statSync(f).size, 0);
        const m = await ctx.measure(ctx.node, [ctx.bin, 'merge', ...shardFiles, '-o', out, '--json', '-q']);
        const rep = JSON.parse(m.stdout) as { totalKeys: number };
        const rows = [mk('merge 37 files', 'rdbmerge', rep.totalKeys, inBytes, m)];
        // How long a real server takes to boot from the merged file (until INFO says loading:0).
        const t0 = performance.now();
        const srv = await ctx.startServer([], out);
        const boot = (performance.now() - t0) / 1000;
        const { spawnSync } = await import('node:child_process');
        const dbsize = spawnSync('redis-cli', ['-p', String(srv.port), 'INFO', 'keyspace'], { encoding: 'utf8' }).stdout;
        srv.stop();
        const loaded = [...dbsize.matchAll(/keys=(\d+)/g)].reduce((a, m) => a + Number(m[1]), 0);
        if (loaded !== rep.totalKeys) throw new Error(`the server booted with ${loaded} keys, the merge wrote ${rep.totalKeys}`);
        rows.push(mk('boot from merged file', 'redis-server', rep.totalKeys, statSync(out).size, { seconds: boot, maxRssMb: NaN }));
        return rows;
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  },
  {
    name: 'replay',
    async run(ctx) {
      // Replay of the 1M-key file into a fresh local redis-server, and in the same run:
      // (a) redis-cli --pipe of the RESP that `replay --resp-out` writes for the same file (the
      //     target's own ceiling), (b) the classic loop (SCAN + pipelined PTTL/DUMP + pipelined
      //     RESTORE) from a second server booted from the same file. Each target starts empty;
      //     every run must leave the target with every key.
      const { mkdtempSync, rmSync, statSync } = await import('node:fs');
      const { tmpdir } = await import('node:os');
      const { dirname, join } = await import('node:path');
      const { spawnSync } = await import('node:child_process');
      const dir = mkdtempSync(join(tmpdir(), 'rdbmerge-bench-replay-'));
      const keysOn = (port: number): number => {
        const info = spawnSync('redis-cli', ['-p', String(port), 'INFO', 'keyspace'], { encoding: 'utf8' }).stdout;
        return [...info.matchAll(/keys=(\d+)/g)].reduce((a, m) => a + Number(m[1]), 0);
      };
      const rows: Row[] = [];
      try {
        // rdbmerge replay
        let srv = await ctx.startServer();
        try {
          const m = await ctx.measure(ctx.node, [ctx.bin, 'replay', ctx.file, '--target', `redis://127.0.0.1:${srv.port}`, '--json', '-q']);
          const rep = JSON.parse(m.stdout) as { restored: number; connections: number; pipeline: number; seconds: number };
          const n = keysOn(srv.port);
          if (rep.restored !== ctx.keys || n !== ctx.keys) throw new Error(`replay restored ${rep.restored}, the server holds ${n}, expected ${ctx.keys}`);
          rows.push(mk('replay into redis-server', 'rdbmerge replay', ctx.keys, ctx.size, m, `${rep.connections} connections x ${rep.pipeline}`));
        } finally {
          srv.stop();
        }

        // (a) the target's ceiling: redis-cli --pipe of the same commands
        const resp = join(dir, 'replay.resp');
        const w = await ctx.measure(ctx.node, [ctx.bin, 'replay', ctx.file, '--resp-out', resp, '--target-version', '10', '--json', '-q']);
        rows.push(mk('replay --resp-out (write the RESP file)', 'rdbmerge replay', ctx.keys, ctx.size, w));
        srv = await ctx.startServer();
        try {
          const m = await ctx.measure('sh', ['-c', `redis-cli -p ${srv.port} --pipe < '${resp}' > /dev/null`]);
          const n = keysOn(srv.port);
          if (n !== ctx.keys) throw new Error(`redis-cli --pipe left ${n} keys, expected ${ctx.keys}`);
          rows.push(mk('(a) redis-cli --pipe of the --resp-out file', 'redis-cli', ctx.keys, statSync(resp).size, m));
        } finally {
          srv.stop();
          rmSync(resp, { force: true });
        }

        // (b) the classic loop, server to server
        const source = await ctx.startServer([], ctx.file);
        srv = await ctx.startServer();
        try {
          const classic = join(dirname(ctx.worker), 'classic-copy.js');
          const m = await ctx.measure(ctx.node, [classic, String(source.port), String(srv.port)]);
          const n = keysOn(srv.port);
          if (n !== ctx.keys) throw new Error(`the classic loop left ${n} keys, expected ${ctx.keys}`);
          rows.push(mk('(b) classic SCAN 2500 + PTTL/DUMP + RESTORE', 'bench/classic-copy', ctx.keys, ctx.size, m));
        } finally {
          srv.stop();
          source.stop();
        }
        const r = rows[0]!;
        const a = rows.find((x) => x.case.startsWith('(a)'))!;
        const b = rows.find((x) => x.case.startsWith('(b)'))!;
        r.note = `${r.note}; ${(r.keysPerSec / a.keysPerSec * 100).toFixed(0)}% of (a), ${(r.keysPerSec / b.keysPerSec).toFixed(2)}x (b)`;
        return rows;
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  },
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
