/**
 * The classic migration loop, as the scripts replay replaces did it, for `npm run bench`: per
 * database, SCAN COUNT 2500 on the source; for each batch, pipelined PTTL + DUMP on the source,
 * then pipelined RESTORE key ttl payload REPLACE on the target; the next SCAN only after the
 * batch is restored. One connection to each server, on the project's own RESP client
 * (src/redis/connection.ts: send() with one handler per reply, as replay uses it; not call(),
 * whose promise per command costs more than the loop itself), so the comparison is about the
 * method, not the client library.
 *
 * Usage: node dist/bench/classic-copy.js SOURCE_PORT TARGET_PORT
 * Prints one JSON line: {keys, seconds}.
 */
import { openClient, type RespConnection } from '../src/redis/connection.js';
import { RespError, type Arg, type Reply } from '../src/redis/resp.js';

/** Replies of a pipelined batch, in order; `done` resolves once the last one arrived. */
interface Batch {
  replies: Reply[];
  left: number;
  done: () => void;
}

const collect = (r: Reply, ctx: { b: Batch; i: number }): void => {
  ctx.b.replies[ctx.i] = r;
  if (--ctx.b.left === 0) ctx.b.done();
};

/** Sends every command at once (one handler per reply, no promise per command) and waits for all replies. */
function pipeline(c: RespConnection, cmds: Arg[][]): Promise<Reply[]> {
  return new Promise((resolve) => {
    const b: Batch = { replies: new Array<Reply>(cmds.length), left: cmds.length, done: () => resolve(b.replies) };
    if (cmds.length === 0) resolve([]);
    cmds.forEach((cmd, i) => c.send(cmd, collect, { b, i }));
    c.flush();
  });
}

async function main(): Promise<void> {
  const [src, dst] = process.argv.slice(2).map(Number);
  if (!(src! > 0) || !(dst! > 0)) {
    process.stderr.write('usage: classic-copy.js SOURCE_PORT TARGET_PORT\n');
    process.exit(2);
  }
  const t0 = performance.now();
  const a = await openClient({ tls: false, host: '127.0.0.1', port: src!, username: undefined, password: undefined, passwordFrom: undefined });
  const b = await openClient({ tls: false, host: '127.0.0.1', port: dst!, username: undefined, password: undefined, passwordFrom: undefined });
  let keys = 0;
  const info = await a.call(['INFO', 'keyspace']);
  const dbs = [...String(Buffer.isBuffer(info) ? info.toString('latin1') : info).matchAll(/^db(\d+):/gm)].map((m) => Number(m[1]));
  for (const db of dbs) {
    await a.call(['SELECT', db]);
    await b.call(['SELECT', db]);
    let cursor = '0';
    do {
      const r = await a.call(['SCAN', cursor, 'COUNT', 2500]);
      if (!Array.isArray(r) || r.length !== 2) throw new Error(`SCAN: ${String(r)}`);
      cursor = (r[0] as Buffer).toString('latin1');
      const batch = r[1] as Buffer[];
      if (batch.length === 0) continue;
      // Pipelined PTTL + DUMP for the batch (every command written before the first reply).
      const cmds: Arg[][] = [];
      for (const k of batch) {
        cmds.push(['PTTL', k]);
        cmds.push(['DUMP', k]);
      }
      const got = await pipeline(a, cmds);
      const restores: Arg[][] = [];
      for (let i = 0; i < batch.length; i++) {
        const ttl = got[2 * i] as number;
        const dump = got[2 * i + 1];
        if (dump === null || !Buffer.isBuffer(dump)) continue; // expired or deleted meanwhile
        restores.push(['RESTORE', batch[i]!, ttl > 0 ? ttl : 0, dump, 'REPLACE']);
      }
      for (const x of await pipeline(b, restores)) {
        if (x instanceof RespError) throw new Error(`RESTORE: ${x.message}`);
        keys++;
      }
    } while (cursor !== '0');
  }
  a.close();
  b.close();
  const seconds = (performance.now() - t0) / 1000;
  process.stdout.write(`${JSON.stringify({ keys, seconds })}\n`);
}

main().catch((e: unknown) => {
  process.stderr.write(`${String((e as Error).stack ?? e)}\n`);
  process.exit(1);
});
