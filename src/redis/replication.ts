/**
 * The replica side of Redis replication, as far as a full snapshot: the handshake a replica does
 * (AUTH, REPLCONF, PSYNC or SYNC) over a raw socket, then the RDB bulk transfer as a stream of
 * chunks. ioredis cannot do this: after PSYNC the server stops speaking request/reply RESP.
 *
 * What the server sends, from redis `src/replication.c` (syncCommand, replicationSetupSlaveForFullResync,
 * replicationCron, sendBulkToSlave) and `src/redis-cli.c` (sendSync, getRDB):
 *  - `PSYNC ? -1` is answered at once with `+FULLRESYNC <replid> <offset>` when the BGSAVE that
 *    will feed us starts (for a diskless sync, after `repl-diskless-sync-delay`): that instant is
 *    the snapshot's point in time. `-NOMASTERLINK` / `-LOADING` mean "try later"; any other `-ERR`
 *    means the server does not know PSYNC (2.6), and SYNC is sent on the same connection.
 *  - While the BGSAVE runs, the server sends a bare `\n` every second (replicationCron), so a
 *    silent connection really is a dead one; those keepalives are skipped.
 *  - Then `$<length>\r\n` and exactly length bytes (disk-based: the file), or, for a diskless sync
 *    to a replica that said `REPLCONF capa eof`, `$EOF:<40 random bytes>\r\n`, the RDB, and the
 *    same 40 bytes. The server starts the command stream of an EOF transfer only after the
 *    replica's first `REPLCONF ACK`, which we never send, so the mark is the last thing to arrive
 *    and is found by keeping the last 40 bytes across chunks (it may be split between them).
 *    After a `$<length>` transfer the command stream may follow at once: bytes past the length
 *    are not the RDB's and are dropped.
 *  - `REPLCONF rdb-only 1` (Redis 7.0+) tells the server we want the snapshot only: it keeps no
 *    replication backlog for us. Older servers answer an error, which is ignored, as redis-cli does.
 *
 * Memory stays bounded: the socket is paused while more than HIGH_WATER bytes wait for the
 * consumer (who writes them to disk, or replays them), and resumed below LOW_WATER.
 */
import { connect as netConnect, isIP, type Socket } from 'node:net';
import { connect as tlsConnect, type ConnectionOptions } from 'node:tls';
import { InterruptedError, NetworkError } from '../errors.js';
import { redactUri, type RedisUri } from '../values.js';

/** TLS settings for rediss:// sources (`--tls-ca`, `--tls-cert`, `--tls-key`, `--tls-insecure`). */
export interface TlsSettings {
  /** PEM of the CA(s) to trust instead of the system's. */
  ca?: string | Buffer;
  /** Client certificate and key (PEM), for servers with `tls-auth-clients yes`. */
  cert?: string | Buffer;
  key?: string | Buffer;
  /** Verify the server's certificate. Default true. */
  rejectUnauthorized?: boolean;
}

export interface SnapshotOptions {
  /** 'psync' (default): PSYNC, falling back to SYNC for servers without it; 'sync': SYNC only. */
  protocol?: 'psync' | 'sync';
  /** No byte at all for this long while we wait for one fails the transfer. Default 60,000 ms. */
  idleTimeoutMs?: number;
  /** Default 10,000 ms. */
  connectTimeoutMs?: number;
  tls?: TlsSettings;
  signal?: AbortSignal;
  /** Called when the server starts its BGSAVE for us (FULLRESYNC / SYNC sent) and when bytes begin. */
  onPhase?: (phase: 'waiting-bgsave' | 'transferring') => void;
}

/** A snapshot being received. Consume `chunks` to the end, then (or on any error) `close()`. */
export interface SnapshotStream {
  /** Unix ms: when `+FULLRESYNC` arrived (PSYNC), or when SYNC was sent (the server forks on receipt). */
  snapshotTime: number;
  snapshotTimeFrom: 'fullresync' | 'sync-sent';
  protocol: 'psync' | 'sync';
  replid: string | null;
  offset: number | null;
  /** `redis_version` (or valkey_version) from INFO server; null when INFO was refused. */
  serverVersion: string | null;
  /** '$<length>' or '$EOF:<mark>'. */
  transfer: 'length' | 'eof-mark';
  /** The announced length for a '$<length>' transfer. */
  length: number | null;
  /** RDB bytes handed out so far. */
  readonly bytes: number;
  /** The RDB's bytes (never the mark, never what follows a length). Ends when the RDB is complete. */
  chunks: AsyncGenerator<Uint8Array>;
  close(): void;
}

export const EOF_MARK_SIZE = 40;
const HIGH_WATER = 8 * 1024 * 1024;
const LOW_WATER = 2 * 1024 * 1024;
/** A reply line longer than this is not a handshake reply. */
const MAX_LINE = 64 * 1024;

/**
 * A socket read as lines and chunks, pull-driven: data waits in a queue (copied only when a line
 * straddles chunks), the socket pauses at HIGH_WATER, and a wait for data with nothing arriving
 * for `idleMs` fails with a NetworkError.
 */
class SocketReader {
  private readonly queue: Buffer[] = [];
  private queued = 0;
  private paused = false;
  private ended = false;
  private failure: Error | null = null;
  private wake: (() => void) | null = null;

  constructor(readonly socket: Socket, readonly name: string, private readonly idleMs: number, private readonly signal?: AbortSignal) {
    socket.on('data', (b: Buffer) => {
      this.queue.push(b);
      this.queued += b.length;
      if (this.queued >= HIGH_WATER && !this.paused) {
        this.paused = true;
        socket.pause();
      }
      this.notify();
    });
    socket.on('end', () => {
      this.ended = true;
      this.notify();
    });
    socket.on('close', () => {
      this.ended = true;
      this.notify();
    });
    socket.on('error', (e: Error) => {
      this.failure ??= new NetworkError(`${name}: ${e.message}`);
      this.notify();
    });
  }

  private notify(): void {
    const w = this.wake;
    this.wake = null;
    w?.();
  }

  /** Resolves when data (or the end, or an error) is there; rejects after idleMs of silence. */
  private async more(what: string): Promise<void> {
    if (this.signal?.aborted === true) throw new InterruptedError();
    if (this.failure !== null) throw this.failure;
    if (this.queued > 0) return;
    if (this.ended) throw new NetworkError(`${this.name}: the server closed the connection ${what}`, 'the source may have been stopped, or refused us (see its log)');
    let timer: NodeJS.Timeout | undefined;
    let onAbort: (() => void) | undefined;
    try {
      await new Promise<void>((resolve, reject) => {
        this.wake = resolve;
        timer = setTimeout(() => {
          this.wake = null;
          reject(new NetworkError(`${this.name}: nothing received for ${Math.round(this.idleMs / 1000)} s ${what}`, 'raise --idle-timeout if the source is just slow'));
        }, this.idleMs);
        if (this.signal !== undefined) {
          onAbort = () => {
            this.wake = null;
            reject(new InterruptedError());
          };
          this.signal.addEventListener('abort', onAbort, { once: true });
        }
      });
    } finally {
      clearTimeout(timer);
      if (onAbort !== undefined) this.signal?.removeEventListener('abort', onAbort);
    }
    if (this.failure !== null) throw this.failure;
    if (this.queued === 0 && this.ended) {
      throw new NetworkError(`${this.name}: the server closed the connection ${what}`, 'the source may have been stopped, or refused us (see its log)');
    }
  }

  private consumed(n: number): void {
    this.queued -= n;
    if (this.paused && this.queued <= LOW_WATER) {
      this.paused = false;
      this.socket.resume();
    }
  }

  /**
   * One line without its `\r\n` (or `\n`). A bare `\n` (a keepalive) gives ''.
   * @throws NetworkError for a line over MAX_LINE, silence, or a closed connection
   */
  async line(what: string): Promise<string> {
    const parts: Buffer[] = [];
    let len = 0;
    for (;;) {
      if (this.queued === 0) await this.more(what);
      const head = this.queue[0]!;
      const nl = head.indexOf(0x0a);
      if (nl < 0) {
        parts.push(head);
        len += head.length;
        this.queue.shift();
        this.consumed(head.length);
        if (len > MAX_LINE) throw new NetworkError(`${this.name}: a reply line longer than ${MAX_LINE} bytes ${what}: this is not a Redis replication reply`);
        continue;
      }
      parts.push(head.subarray(0, nl));
      if (nl + 1 === head.length) this.queue.shift();
      else this.queue[0] = head.subarray(nl + 1);
      this.consumed(nl + 1);
      const all = parts.length === 1 ? parts[0]! : Buffer.concat(parts);
      const end = all.length > 0 && all[all.length - 1] === 0x0d ? all.length - 1 : all.length;
      return all.subarray(0, end).toString('latin1');
    }
  }

  /** Exactly n bytes (for a short bulk reply during the handshake). */
  async exactly(n: number, what: string): Promise<Buffer> {
    const parts: Buffer[] = [];
    let need = n;
    while (need > 0) {
      const c = await this.chunk(need, what);
      parts.push(c);
      need -= c.length;
    }
    return parts.length === 1 ? parts[0]! : Buffer.concat(parts);
  }

  /** The next piece of data, at most `max` bytes. */
  async chunk(max: number, what: string): Promise<Buffer> {
    if (this.queued === 0) await this.more(what);
    const head = this.queue[0]!;
    if (head.length <= max) {
      this.queue.shift();
      this.consumed(head.length);
      return head;
    }
    this.queue[0] = head.subarray(max);
    this.consumed(max);
    return head.subarray(0, max);
  }
}

function connectSocket(uri: RedisUri, name: string, timeoutMs: number, tls: TlsSettings | undefined): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const tlsOpts: ConnectionOptions = {
      host: uri.host,
      port: uri.port,
      // SNI takes host names only; an address is checked against the certificate's IP SANs.
      ...(isIP(uri.host) === 0 ? { servername: uri.host } : {}),
      rejectUnauthorized: tls?.rejectUnauthorized !== false,
      ...(tls?.ca !== undefined ? { ca: tls.ca } : {}),
      ...(tls?.cert !== undefined ? { cert: tls.cert } : {}),
      ...(tls?.key !== undefined ? { key: tls.key } : {}),
    };
    const socket = uri.tls ? tlsConnect(tlsOpts) : netConnect({ host: uri.host, port: uri.port });
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new NetworkError(`${name}: no connection within ${timeoutMs} ms`));
    }, timeoutMs);
    const onError = (e: Error): void => {
      clearTimeout(timer);
      socket.destroy();
      reject(new NetworkError(`${name}: cannot connect: ${e.message}`, uri.tls ? 'check host, port and the TLS settings (--tls-ca, --tls-cert, --tls-key)' : 'is the server running and reachable? check host, port and TLS (rediss://)'));
    };
    socket.once('error', onError);
    socket.once(uri.tls ? 'secureConnect' : 'connect', () => {
      clearTimeout(timer);
      socket.removeListener('error', onError);
      socket.setNoDelay(true);
      resolve(socket);
    });
  });
}

function command(args: readonly string[]): Buffer {
  let s = `*${args.length}\r\n`;
  for (const a of args) s += `$${Buffer.byteLength(a)}\r\n${a}\r\n`;
  return Buffer.from(s);
}

/** The first word of an error line (`-NOAUTH Authentication required.` → NOAUTH). */
function errorCode(line: string): string {
  return line.slice(1).split(' ', 1)[0] ?? '';
}

/** A transient refusal: the server may serve us later (the fleet retries these). */
export class SyncLaterError extends NetworkError {
  override name = 'SyncLaterError';
}

/** A refusal that a retry will not change (wrong password, no permission). */
export class SyncRefusedError extends NetworkError {
  override name = 'SyncRefusedError';
}

/**
 * Connects, authenticates and asks for a full snapshot; resolves once the server announced the
 * transfer (`$<length>` or `$EOF:<mark>`), with the RDB bytes to read from `chunks`.
 * @throws SyncRefusedError for a refused AUTH or command (NOAUTH, WRONGPASS, NOPERM);
 *   SyncLaterError for -NOMASTERLINK / -LOADING; NetworkError for connect failures, silence past
 *   the idle timeout, a closed connection or a reply that is not the protocol; InterruptedError
 */
export async function openSnapshot(uri: RedisUri, opts: SnapshotOptions = {}): Promise<SnapshotStream> {
  const name = redactUri(uri);
  const idleMs = opts.idleTimeoutMs ?? 60_000;
  const socket = await connectSocket(uri, name, opts.connectTimeoutMs ?? 10_000, opts.tls);
  const r = new SocketReader(socket, name, idleMs, opts.signal);
  const send = (args: readonly string[]): void => {
    socket.write(command(args));
  };
  try {
    // ---- AUTH: the password goes to the server and nowhere else ------------------------------
    if (uri.password !== undefined) {
      send(uri.username !== undefined ? ['AUTH', uri.username, uri.password] : ['AUTH', uri.password]);
      const a = await r.line('waiting for the reply to AUTH');
      if (a.startsWith('-')) {
        const from = uri.passwordFrom === 'env' ? 'REDISCLI_AUTH' : 'the URI';
        throw new SyncRefusedError(`${name}: authentication failed (${errorCode(a)})`, `check the ${uri.username !== undefined ? 'user and ' : ''}password given in ${from}`);
      }
    }
    // ---- INFO server: the version, for the meta file ------------------------------------------
    send(['INFO', 'server']);
    let serverVersion: string | null = null;
    const head = await r.line('waiting for the reply to INFO');
    if (head.startsWith('$')) {
      const n = Number(head.slice(1));
      if (!Number.isSafeInteger(n) || n < 0 || n > MAX_LINE * 16) throw new NetworkError(`${name}: a bad reply to INFO (${JSON.stringify(head.slice(0, 40))})`);
      const text = (await r.exactly(n + 2, 'reading the reply to INFO')).toString('utf8');
      const m = /^(?:valkey_version|redis_version):(\S+)/m.exec(text);
      serverVersion = m === null ? null : m[1]!;
    } else if (head.startsWith('-')) {
      const code = errorCode(head);
      if (code === 'NOAUTH') throw new SyncRefusedError(`${name}: the server wants a password (NOAUTH)`, 'give it in the URI (redis://:PASSWORD@host) or REDISCLI_AUTH');
      // NOPERM (an ACL user without INFO) or a renamed command: the version stays unknown.
    } else {
      throw new NetworkError(`${name}: a reply to INFO that is not RESP (${JSON.stringify(head.slice(0, 40))})`);
    }

    // ---- REPLCONF: errors ignored (servers before 2.8 know none; before 7.0 no rdb-only) -----
    send(['REPLCONF', 'capa', 'eof', 'capa', 'psync2']);
    await r.line('waiting for the reply to REPLCONF capa');
    let protocol = opts.protocol ?? 'psync';
    // As redis-cli --rdb does before SYNC too: the snapshot, then nothing (7.0+).
    send(['REPLCONF', 'rdb-only', '1']);
    await r.line('waiting for the reply to REPLCONF rdb-only');

    // ---- PSYNC ? -1, or SYNC -------------------------------------------------------------------
    let snapshotTime = 0;
    let snapshotTimeFrom: SnapshotStream['snapshotTimeFrom'] = 'fullresync';
    let replid: string | null = null;
    let offset: number | null = null;
    const refusal = (line: string, cmd: string): NetworkError => {
      const code = errorCode(line);
      const text = line.slice(1, 200);
      if (code === 'NOMASTERLINK' || code === 'LOADING') return new SyncLaterError(`${name}: ${cmd} refused for now: ${text}`, 'the source is loading or has lost its own master: it will be retried');
      if (code === 'NOAUTH' || code === 'NOPERM' || code === 'WRONGPASS') {
        return new SyncRefusedError(`${name}: ${cmd} refused: ${text}`, code === 'NOPERM' ? 'the ACL user needs +psync +sync +replconf (or +@admin)' : 'give the password in the URI or REDISCLI_AUTH');
      }
      return new NetworkError(`${name}: ${cmd} failed: ${text}`);
    };
    if (protocol === 'psync') {
      send(['PSYNC', '?', '-1']);
      let reply = '';
      while (reply === '') reply = await r.line('waiting for the reply to PSYNC');
      if (reply.startsWith('+FULLRESYNC')) {
        snapshotTime = Date.now();
        const parts = reply.split(' ');
        replid = parts[1] ?? null;
        const o = Number(parts[2]);
        offset = Number.isSafeInteger(o) ? o : null;
      } else if (reply.startsWith('-') && errorCode(reply) === 'ERR') {
        // The server does not know PSYNC (2.6), or refuses it: SYNC, as a replica does.
        protocol = 'sync';
      } else if (reply.startsWith('-')) {
        throw refusal(reply, 'PSYNC');
      } else {
        throw new NetworkError(`${name}: unexpected reply to PSYNC ? -1: ${JSON.stringify(reply.slice(0, 80))}`);
      }
    }
    if (protocol === 'sync') {
      socket.write('SYNC\r\n');
      // The server forks on receipt (or joins a BGSAVE in progress); its first reply byte comes a
      // second later at best: the moment we asked is the snapshot's time, to within that.
      snapshotTime = Date.now();
      snapshotTimeFrom = 'sync-sent';
    }
    opts.onPhase?.('waiting-bgsave');

    // ---- keepalives, then $<length> or $EOF:<mark> ---------------------------------------------
    let bulk = '';
    while (bulk === '') bulk = await r.line('waiting for the source to finish its BGSAVE');
    if (bulk.startsWith('-')) throw refusal(bulk, protocol === 'psync' ? 'the full sync' : 'SYNC');
    if (!bulk.startsWith('$')) throw new NetworkError(`${name}: expected $<length> or $EOF:<mark> before the RDB, got ${JSON.stringify(bulk.slice(0, 80))}`);
    let length: number | null = null;
    let mark: Buffer | null = null;
    if (bulk.startsWith('$EOF:')) {
      mark = Buffer.from(bulk.slice(5), 'latin1');
      if (mark.length !== EOF_MARK_SIZE) throw new NetworkError(`${name}: the EOF mark is ${mark.length} bytes, expected ${EOF_MARK_SIZE}`);
    } else {
      const n = Number(bulk.slice(1));
      if (!/^\$\d+$/.test(bulk) || !Number.isSafeInteger(n)) throw new NetworkError(`${name}: a bad RDB length ${JSON.stringify(bulk.slice(0, 40))}`);
      length = n;
    }
    opts.onPhase?.('transferring');

    let bytes = 0;
    const chunks = mark === null ? lengthChunks(r, length!, (n) => (bytes += n)) : markChunks(r, mark, (n) => (bytes += n));
    return {
      snapshotTime,
      snapshotTimeFrom,
      protocol,
      replid,
      offset,
      serverVersion,
      transfer: mark === null ? 'length' : 'eof-mark',
      length,
      get bytes() {
        return bytes;
      },
      chunks,
      close: () => socket.destroy(),
    };
  } catch (e) {
    socket.destroy();
    throw e;
  }
}

const READ_MAX = 4 * 1024 * 1024;

/**
 * One command on a fresh raw connection (AUTH first when the URI has a password), its reply as
 * text: a bulk or simple string, or a RespError-like `{ error }` for an error reply. For the
 * pre-checks and CLUSTER NODES: the same TLS settings as the fetch (a private CA, client
 * certificates), which the pipelined client does not take.
 * @throws SyncRefusedError for a refused AUTH; NetworkError for connect failures or silence
 */
export async function rawCommand(uri: RedisUri, args: readonly string[], opts: Pick<SnapshotOptions, 'idleTimeoutMs' | 'connectTimeoutMs' | 'tls'> = {}): Promise<string | { error: string }> {
  const name = redactUri(uri);
  const socket = await connectSocket(uri, name, opts.connectTimeoutMs ?? 10_000, opts.tls);
  const r = new SocketReader(socket, name, opts.idleTimeoutMs ?? 60_000);
  try {
    if (uri.password !== undefined) {
      socket.write(command(uri.username !== undefined ? ['AUTH', uri.username, uri.password] : ['AUTH', uri.password]));
      const a = await r.line('waiting for the reply to AUTH');
      if (a.startsWith('-')) throw new SyncRefusedError(`${name}: authentication failed (${errorCode(a)})`, 'check the user and password');
    }
    socket.write(command(args));
    const head = await r.line(`waiting for the reply to ${args[0]}`);
    if (head.startsWith('-')) return { error: head.slice(1) };
    if (head.startsWith('$')) {
      const n = Number(head.slice(1));
      if (n < 0) return '';
      if (!Number.isSafeInteger(n) || n > 64 * 1024 * 1024) throw new NetworkError(`${name}: a bad reply to ${args[0]} (${JSON.stringify(head.slice(0, 40))})`);
      return (await r.exactly(n + 2, `reading the reply to ${args[0]}`)).subarray(0, n).toString('utf8');
    }
    return head.slice(1);
  } finally {
    socket.destroy();
  }
}

async function* lengthChunks(r: SocketReader, length: number, count: (n: number) => void): AsyncGenerator<Uint8Array> {
  let left = length;
  while (left > 0) {
    const c = await r.chunk(Math.min(left, READ_MAX), `with ${left} of ${length} RDB bytes still to come`);
    left -= c.length;
    count(c.length);
    yield c;
  }
}

/**
 * A diskless transfer: everything up to the 40-byte mark. The last 40 bytes seen are held back
 * (in `tail`) until more data shows they are not the mark; a chunk ending in the mark (possibly
 * begun in the previous chunk) ends the RDB.
 */
async function* markChunks(r: SocketReader, mark: Buffer, count: (n: number) => void): AsyncGenerator<Uint8Array> {
  const M = EOF_MARK_SIZE;
  let tail = Buffer.alloc(0);
  for (;;) {
    const c = await r.chunk(READ_MAX, 'before the end-of-transfer mark of a diskless sync');
    if (c.length >= M) {
      // Emit the held-back tail and the chunk but its last 40 bytes: the mark, or the new tail.
      const done = c.subarray(c.length - M).equals(mark);
      if (tail.length > 0) {
        count(tail.length);
        yield tail;
      }
      if (c.length > M) {
        count(c.length - M);
        yield c.subarray(0, c.length - M);
      }
      if (done) return;
      tail = Buffer.from(c.subarray(c.length - M)); // a copy: 40 bytes, not a view pinning 4 MB
      continue;
    }
    // A short chunk: the mark may straddle tail and chunk.
    const joined = Buffer.concat([tail, c]);
    const done = joined.length >= M && joined.subarray(joined.length - M).equals(mark);
    if (joined.length > M) {
      count(joined.length - M);
      yield joined.subarray(0, joined.length - M);
    }
    if (done) return;
    tail = joined.length > M ? Buffer.from(joined.subarray(joined.length - M)) : joined;
  }
}
