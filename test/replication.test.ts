/**
 * The replication client (src/redis/replication.ts) against scripted servers that speak what
 * redis `src/replication.c` sends, for the cases a local redis 7.0 cannot show:
 *
 *  - a 2.6 server: REPLCONF and PSYNC unknown (`-ERR unknown command`), SYNC answered after
 *    newline keepalives with `$<length>`, the RDB cut into 7-byte writes and followed at once by
 *    the command stream (which must not end up in the file);
 *  - a diskless transfer whose 40-byte end mark is split across writes (17 + 23 bytes, and 1 byte
 *    at a time), and one whose last write is shorter than the mark;
 *  - -LOADING (try later) and a refused AUTH (not retried) are told apart; silence past the idle
 *    timeout fails, but keepalives for longer than it do not; a connection closed mid-transfer and
 *    a reply line without end fail with NetworkError;
 *  - fetch() end to end on the 2.6 script: the file equals the RDB, the meta file has the version
 *    from INFO, and a failed transfer leaves nothing in DIR.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { NetworkError } from '../src/errors.js';
import { fetch, type FetchMeta } from '../src/pipelines/fetch.js';
import { openSnapshot, SyncLaterError, SyncRefusedError, type SnapshotOptions } from '../src/redis/replication.js';
import type { RedisUri } from '../src/values.js';
import { fixturePath } from './helpers/fixtures.js';

const RDB = readFileSync(fixturePath('redis-2.6.17-types.rdb'));
const MARK = Buffer.from('0123456789abcdef0123456789abcdef01234567');

type Script = (cmd: string[], sock: Socket) => void | Promise<void>;

const pause = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Writes `buf` in pieces of `size` bytes with a pause between them (each one its own TCP segment, mostly). */
async function dribble(sock: Socket, buf: Buffer, size: number, ms = 0): Promise<void> {
  for (let i = 0; i < buf.length; i += size) {
    sock.write(buf.subarray(i, Math.min(buf.length, i + size)));
    if (ms > 0) await pause(ms);
  }
}

/** A TCP server that parses RESP arrays and inline commands and hands each to `script`. */
async function scripted(script: Script): Promise<{ uri: RedisUri; server: Server; close: () => Promise<void> }> {
  const socks = new Set<Socket>();
  const server = createServer((sock) => {
    socks.add(sock);
    sock.on('close', () => socks.delete(sock));
    sock.on('error', () => undefined);
    let buf = Buffer.alloc(0);
    let chain = Promise.resolve();
    sock.on('data', (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      for (;;) {
        const cmd = parseOne();
        if (cmd === null) break;
        chain = chain.then(() => script(cmd, sock)).catch(() => undefined);
      }
    });
    function parseOne(): string[] | null {
      const nl = buf.indexOf('\r\n');
      if (nl < 0) return null;
      if (buf[0] !== 0x2a) {
        const line = buf.subarray(0, nl).toString();
        buf = buf.subarray(nl + 2);
        return line.split(' ');
      }
      const n = Number(buf.subarray(1, nl).toString());
      let pos = nl + 2;
      const out: string[] = [];
      for (let i = 0; i < n; i++) {
        const e = buf.indexOf('\r\n', pos);
        if (e < 0) return null;
        const len = Number(buf.subarray(pos + 1, e).toString());
        if (buf.length < e + 2 + len + 2) return null;
        out.push(buf.subarray(e + 2, e + 2 + len).toString());
        pos = e + 2 + len + 2;
      }
      buf = buf.subarray(pos);
      return out;
    }
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const a = server.address();
  const port = typeof a === 'object' && a !== null ? a.port : 0;
  return {
    uri: { tls: false, host: '127.0.0.1', port, username: undefined, password: undefined, passwordFrom: undefined },
    server,
    close: async () => {
      for (const s of socks) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

const INFO_26 = 'redis_version:2.6.17\r\nredis_mode:standalone\r\n';

/** What a Redis 2.6 master answers. */
const redis26: Script = async (cmd, sock) => {
  const c = cmd[0]!.toUpperCase();
  if (c === 'INFO') sock.write(`$${INFO_26.length}\r\n${INFO_26}\r\n`);
  else if (c === 'SYNC') {
    for (let i = 0; i < 3; i++) {
      sock.write('\n');
      await pause(20);
    }
    sock.write(`$${RDB.length}\r\n`);
    await dribble(sock, RDB, 7);
    // The command stream follows the bulk at once.
    sock.write('*1\r\n$4\r\nPING\r\n');
  } else sock.write(`-ERR unknown command '${cmd[0]}'\r\n`);
};

async function collect(opts: SnapshotOptions, uri: RedisUri): Promise<{ bytes: Buffer; snap: Awaited<ReturnType<typeof openSnapshot>> }> {
  const snap = await openSnapshot(uri, opts);
  const parts: Buffer[] = [];
  try {
    for await (const c of snap.chunks) parts.push(Buffer.from(c));
  } finally {
    snap.close();
  }
  return { bytes: Buffer.concat(parts), snap };
}

t.test('a 2.6 server: PSYNC unknown, SYNC after keepalives, $<length> in 7-byte pieces, stream after it dropped', async (t) => {
  const s = await scripted(redis26);
  try {
    const { bytes, snap } = await collect({ idleTimeoutMs: 2000 }, s.uri);
    t.equal(snap.protocol, 'sync', 'fell back to SYNC');
    t.equal(snap.transfer, 'length', '$<length> transfer');
    t.equal(snap.length, RDB.length, 'the announced length');
    t.equal(snap.serverVersion, '2.6.17', 'version from INFO');
    t.equal(snap.snapshotTimeFrom, 'sync-sent', 'snapshot time: when SYNC was sent');
    t.ok(bytes.equals(RDB), `exactly the ${RDB.length} RDB bytes, nothing of the command stream`);
  } finally {
    await s.close();
  }
});

/** A 7.0-like master doing a diskless transfer; `send` writes the RDB and the mark. */
function diskless(send: (sock: Socket, payload: Buffer) => Promise<void>): Script {
  return async (cmd, sock) => {
    const c = cmd[0]!.toUpperCase();
    if (c === 'INFO') sock.write('$22\r\nredis_version:7.0.15\r\n\r\n');
    else if (c === 'REPLCONF') sock.write('+OK\r\n');
    else if (c === 'PSYNC') {
      sock.write('+FULLRESYNC 8371b4fb1155b71f4a04d3e1bc3e18c4a990aeeb 0\r\n');
      sock.write('\n');
      await pause(20);
      sock.write(`$EOF:${MARK.toString()}\r\n`);
      await send(sock, Buffer.concat([RDB, MARK]));
    } else sock.write('-ERR unexpected\r\n');
  };
}

t.test('diskless $EOF: transfers, the end mark split across writes', async (t) => {
  const cases: Array<[string, (sock: Socket, payload: Buffer) => Promise<void>]> = [
    ['mark split 17 + 23', async (sock, p) => {
      sock.write(p.subarray(0, p.length - 23));
      await pause(30);
      sock.write(p.subarray(p.length - 23));
    }],
    ['the last 60 bytes one at a time', async (sock, p) => {
      sock.write(p.subarray(0, p.length - 60));
      await dribble(sock, p.subarray(p.length - 60), 1, 2);
    }],
    ['a last write shorter than the mark (5 bytes)', async (sock, p) => {
      sock.write(p.subarray(0, p.length - 5));
      await pause(30);
      sock.write(p.subarray(p.length - 5));
    }],
    ['all in one write', async (sock, p) => {
      sock.write(p);
    }],
    ['1000-byte pieces', async (sock, p) => dribble(sock, p, 1000, 1)],
  ];
  for (const [name, send] of cases) {
    const s = await scripted(diskless(send));
    try {
      const { bytes, snap } = await collect({ idleTimeoutMs: 2000 }, s.uri);
      t.equal(snap.transfer, 'eof-mark', `${name}: an $EOF: transfer`);
      t.equal(snap.replid, '8371b4fb1155b71f4a04d3e1bc3e18c4a990aeeb', `${name}: replid from +FULLRESYNC`);
      t.ok(bytes.equals(RDB), `${name}: exactly the RDB, without the mark (${bytes.length} of ${RDB.length} bytes)`);
    } finally {
      await s.close();
    }
  }
});

t.test('refusals, silence, keepalives, a closed connection, a line without end', async (t) => {
  const loading = await scripted((cmd, sock) => {
    if (cmd[0] === 'PSYNC') sock.write('-LOADING Redis is loading the dataset in memory\r\n');
    else if (cmd[0] === 'INFO') sock.write('$0\r\n\r\n');
    else sock.write('+OK\r\n');
  });
  const later = await openSnapshot(loading.uri, { idleTimeoutMs: 1000 }).catch((e: unknown) => e);
  t.ok(later instanceof SyncLaterError, `-LOADING: try later (${String(later)})`);
  await loading.close();

  const authed = await scripted((cmd, sock) => {
    if (cmd[0] === 'AUTH') sock.write('-WRONGPASS invalid username-password pair or user is disabled.\r\n');
    else sock.write('-NOAUTH Authentication required.\r\n');
  });
  const withPw: RedisUri = { ...authed.uri, password: 'nope', passwordFrom: 'uri' };
  const err = await openSnapshot(withPw, { idleTimeoutMs: 1000 }).catch((e: unknown) => e);
  t.ok(err instanceof SyncRefusedError, 'a refused AUTH: SyncRefusedError');
  t.notOk(String((err as Error).message).includes('nope'), 'the password is not in the message');
  await authed.close();

  const silent = await scripted(async (cmd, sock) => {
    if (cmd[0] === 'PSYNC') sock.write('+FULLRESYNC x 0\r\n'); // then nothing, ever
    else if (cmd[0] === 'INFO') sock.write('$0\r\n\r\n');
    else sock.write('+OK\r\n');
  });
  const t0 = Date.now();
  await t.rejects(openSnapshot(silent.uri, { idleTimeoutMs: 300 }), /nothing received for 0 s|nothing received/, 'silence past the idle timeout fails');
  t.ok(Date.now() - t0 < 5000, 'and does so promptly');
  await silent.close();

  const patient = await scripted(async (cmd, sock) => {
    if (cmd[0] === 'PSYNC') {
      sock.write('+FULLRESYNC x 0\r\n');
      // A BGSAVE of 1 s: keepalives every 100 ms, more than 3 idle timeouts in all.
      for (let i = 0; i < 10; i++) {
        sock.write('\n');
        await pause(100);
      }
      sock.write(`$${RDB.length}\r\n`);
      await dribble(sock, RDB, 4096, 100); // a slow transfer, longer than the idle timeout in all
    } else if (cmd[0] === 'INFO') sock.write('$0\r\n\r\n');
    else sock.write('+OK\r\n');
  });
  const got = await collect({ idleTimeoutMs: 300 }, patient.uri);
  t.ok(got.bytes.equals(RDB), 'keepalives and a slow transfer outlast the idle timeout: the RDB arrives whole');
  await patient.close();

  const dies = await scripted(async (cmd, sock) => {
    if (cmd[0] === 'PSYNC') {
      sock.write(`+FULLRESYNC x 0\r\n$${RDB.length}\r\n`);
      sock.write(RDB.subarray(0, 1000));
      await pause(20);
      sock.destroy();
    } else if (cmd[0] === 'INFO') sock.write('$0\r\n\r\n');
    else sock.write('+OK\r\n');
  });
  const died = await collect({ idleTimeoutMs: 2000 }, dies.uri).catch((e: unknown) => e);
  t.ok(died instanceof NetworkError, `closed mid-transfer: NetworkError (${String(died)})`);
  await dies.close();

  const endless = await scripted(async (cmd, sock) => {
    if (cmd[0] === 'INFO') sock.write('$0\r\n\r\n');
    else if (cmd[0] === 'PSYNC') sock.write(Buffer.alloc(200 * 1024, 0x41));
    else sock.write('+OK\r\n');
  });
  await t.rejects(openSnapshot(endless.uri, { idleTimeoutMs: 2000 }), /longer than/, 'a reply line without end: NetworkError, no unbounded buffer');
  await endless.close();
});

t.test('fetch() on the 2.6 script: file, meta, and no partial file after a failure', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'rdbmerge-repl-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const s = await scripted(redis26);
  try {
    const rep = await fetch({ sources: [s.uri], outDir: dir, retries: 0 });
    t.equal(rep.ok, 1, 'fetched');
    t.equal(rep.sources[0]!.keys, 72, 'the fixture\'s 72 keys verified');
    const stem = `127.0.0.1-${s.uri.port}`;
    t.ok(readFileSync(join(dir, `${stem}.rdb`)).equals(RDB), 'the file is the RDB');
    const meta = JSON.parse(readFileSync(join(dir, `${stem}.meta.json`), 'utf8')) as FetchMeta;
    t.equal(meta.serverVersion, '2.6.17', 'meta: server version');
    t.equal(meta.rdbVersion, 6, 'meta: RDB version');
    t.equal(meta.protocol, 'sync', 'meta: SYNC');
  } finally {
    await s.close();
  }
  // A transfer that stops short: retried once, then failed; nothing left in DIR.
  const dir2 = join(dir, 'failed');
  const short = await scripted(async (cmd, sock) => {
    if (cmd[0] === 'PSYNC') {
      sock.write(`+FULLRESYNC x 0\r\n$${RDB.length}\r\n`);
      sock.write(RDB.subarray(0, RDB.length - 100));
      await pause(20);
      sock.destroy();
    } else if (cmd[0] === 'INFO') sock.write('$0\r\n\r\n');
    else sock.write('+OK\r\n');
  });
  try {
    const events: string[] = [];
    const rep = await fetch({ sources: [short.uri], outDir: dir2, retries: 1, retryDelayMs: 50, onEvent: (e) => events.push(e.event) });
    t.equal(rep.failed, 1, 'reported failed');
    t.equal(rep.sources[0]!.attempts, 2, 'after one retry');
    t.ok(events.includes('retry'), 'a retry event');
    t.same(readdirSync(dir2), [], 'nothing in DIR, no temp file');
  } finally {
    await short.close();
  }
});

t.test('pre-checks: a source whose fork could exhaust its machine and a dump larger than the free disk; --strict refuses', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'rdbmerge-precheck-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  // 900 TB of data on a 1 TB machine: no disk has room for it, no fork of it fits.
  const huge = 'used_memory:900000000000000\r\nused_memory_rss:900000000000000\r\nused_memory_dataset:900000000000000\r\ntotal_system_memory:1000000000000\r\n';
  const s = await scripted(async (cmd, sock) => {
    if (cmd[0] === 'INFO' && cmd[1] === 'memory') sock.write(`$${huge.length}\r\n${huge}\r\n`);
    else await redis26(cmd, sock);
  });
  try {
    const strict = await fetch({ sources: [s.uri], outDir: join(dir, 'strict'), strict: true }).catch((e: unknown) => e);
    t.match(String(strict), /pre-check \(--strict\)/, '--strict: refused before pulling');
    t.match(String(strict), /copy-on-write/, 'names the fork memory');
    t.match(String(strict), /free; the sources hold up to/, 'names the disk space');
    t.same(readdirSync(join(dir, 'strict')), [], '--strict: nothing fetched');
    const warned = await fetch({ sources: [s.uri], outDir: join(dir, 'warn') });
    t.equal(warned.ok, 1, 'without --strict: fetched anyway');
    t.equal(warned.warnings.length, 2, 'with two warnings');
  } finally {
    await s.close();
  }
});
