/**
 * One RESP connection to a Redis (or Valkey) server over node:net or node:tls, pipelined: commands
 * are written as soon as they are given (coalesced into one socket write per tick), and their
 * replies are paired with them through a FIFO, in order (STYLE.md habit 16; ioredis
 * `lib/Pipeline.ts` pairs the same way). What the FIFO holds per command is a shared handler and
 * a context object: no closure, no promise per command on the hot path.
 *
 * The window (how much may be in flight) belongs to the caller: the connection counts commands
 * and bytes sent but not yet answered, and `whenBelow` resolves once both are under a bound, woken
 * by the replies themselves. Nothing here sleeps or polls.
 *
 * A connection that fails (socket error, close, protocol violation, reply timeout) stays failed:
 * `failure` is set, every waiter is rejected with it, and handlers of unanswered commands are not
 * called. There is no reconnect: the caller decides what a failure means for its run.
 */
import { readFile } from 'node:fs/promises';
import { connect as netConnect, isIP, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { NetworkError, UsageError } from '../errors.js';
import { redactUri, type RedisUri } from '../values.js';
import { CommandWriter, ReplyParser, RespError, type Arg, type Reply } from './resp.js';

/** Called with a command's reply (errors included, as RespError) and the context given with it. */
export type ReplyHandler<C> = (reply: Reply, ctx: C) => void;

export interface ConnectOptions {
  /** Default 10,000 ms. */
  connectTimeoutMs?: number;
  /** A connection with commands in flight and no byte received for this long fails. Default 120,000 ms. */
  replyTimeoutMs?: number;
  /** TLS (rediss://): the CA, the client certificate and whether to verify the server. */
  tls?: TlsMaterial;
}

/** `--tls-ca`, `--tls-cert`, `--tls-key`, `--tls-insecure`: file names, as the options give them. */
export interface TlsFiles {
  ca?: string;
  cert?: string;
  key?: string;
  /** Do not verify the server certificate (nor its name). Default false. */
  insecure?: boolean;
}

/** TlsFiles read: PEM contents ready for `tls.connect`. */
export interface TlsMaterial {
  ca?: Buffer;
  cert?: Buffer;
  key?: Buffer;
  /** False with `--tls-insecure`. */
  rejectUnauthorized: boolean;
}

/**
 * Reads the files TLS options name, once per run (every connection shares the contents).
 * @throws UsageError naming the option whose file cannot be read
 */
export async function readTlsFiles(files: TlsFiles | undefined): Promise<TlsMaterial | undefined> {
  if (files === undefined) return undefined;
  const read = async (path: string | undefined, option: string): Promise<Buffer | undefined> => {
    if (path === undefined) return undefined;
    try {
      return await readFile(path);
    } catch (e) {
      throw new UsageError(`${option}: cannot read ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
  };
  const m: TlsMaterial = { rejectUnauthorized: files.insecure !== true };
  const ca = await read(files.ca, '--tls-ca');
  const cert = await read(files.cert, '--tls-cert');
  const key = await read(files.key, '--tls-key');
  // Node ignores a CA file with no certificate in it, and the server then fails to verify for
  // another reason: say what is wrong with the file instead.
  const pem = (b: Buffer | undefined, what: RegExp, option: string, path: string | undefined): void => {
    if (b !== undefined && !what.test(b.toString('latin1'))) {
      throw new NetworkError(`TLS: ${option} ${path}: no PEM ${option === '--tls-key' ? 'private key' : 'certificate'} in it`, 'give a PEM file (-----BEGIN ...-----)');
    }
  };
  pem(ca, /-----BEGIN (TRUSTED )?CERTIFICATE-----/, '--tls-ca', files.ca);
  pem(cert, /-----BEGIN (TRUSTED )?CERTIFICATE-----/, '--tls-cert', files.cert);
  pem(key, /-----BEGIN [A-Z ]*PRIVATE KEY-----/, '--tls-key', files.key);
  if (ca !== undefined) m.ca = ca;
  if (cert !== undefined) m.cert = cert;
  if (key !== undefined) m.key = key;
  return m;
}

/** Node's codes for a server certificate that does not verify, with what to do about it. */
const CERT_CODES = new Set([
  'UNABLE_TO_GET_ISSUER_CERT', 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY', 'UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT', 'CERT_HAS_EXPIRED', 'CERT_NOT_YET_VALID', 'ERR_TLS_CERT_ALTNAME_INVALID', 'CERT_SIGNATURE_FAILURE',
  'CERT_UNTRUSTED', 'CERT_REJECTED',
]);

/**
 * An error on an established connection. TLS alerts the server sends after the handshake (TLS 1.3
 * checks the client certificate then) are named; a reset on a plain connection may be a TLS port.
 */
function socketFailure(name: string, e: NodeJS.ErrnoException, tls: boolean): NetworkError {
  const m = e.message;
  if (tls && /alert certificate required/i.test(m)) {
    return new NetworkError(`${name}: TLS: the server requires a client certificate (TLS alert "certificate required")`, 'give --tls-cert FILE and --tls-key FILE');
  }
  if (tls && /alert (unknown ca|bad certificate|certificate unknown|certificate expired|decrypt error|access denied)/i.test(m)) {
    const alert = /alert ([a-z ]+?)(?::|$)/i.exec(m)?.[1] ?? 'bad certificate';
    return new NetworkError(`${name}: TLS: the server refused the client certificate (TLS alert "${alert}")`, 'check that --tls-cert is signed by a CA the server trusts (tls-ca-cert-file) and matches --tls-key');
  }
  if (tls && (/SSL routines|tlsv1|alert/i.test(m) || (e.code ?? '').startsWith('ERR_SSL'))) {
    return new NetworkError(`${name}: TLS: ${m.replace(/^[0-9A-F]+:error:[0-9A-F]+:/, '').split(':../')[0]}`);
  }
  if (!tls && e.code === 'ECONNRESET') {
    return new NetworkError(`${name}: ${m}`, 'the server reset the connection: if it only speaks TLS on this port, use rediss://');
  }
  return new NetworkError(`${name}: ${m}`);
}

/** A connect error as a message and a hint; TLS certificate failures say which check failed. */
function connectFailure(name: string, e: NodeJS.ErrnoException, tls: boolean): NetworkError {
  const code = e.code ?? '';
  if (tls && CERT_CODES.has(code)) {
    return new NetworkError(
      `${name}: TLS: the server certificate does not verify: ${e.message} (${code})`,
      'give the CA that signed it with --tls-ca FILE (or --tls-insecure to skip verification)',
    );
  }
  if (tls && (/ssl|tls|certificate|handshake|alert|PEM|asn1/i.test(e.message) || code.startsWith('ERR_SSL') || code.startsWith('ERR_TLS') || code.startsWith('ERR_OSSL'))) {
    return new NetworkError(
      `${name}: TLS: ${e.message}${code !== '' ? ` (${code})` : ''}`,
      'check --tls-ca, --tls-cert and --tls-key (PEM files), and that the server speaks TLS on this port',
    );
  }
  return new NetworkError(`${name}: cannot connect: ${e.message}`, 'is the server running and reachable? check host, port and TLS (rediss://)');
}

const CONNECT_TIMEOUT = 10_000;
const REPLY_TIMEOUT = 120_000;
/** Socket writes are coalesced up to this size before being handed to the kernel. */
const WRITE_AT = 256 * 1024;

type Waiter = { resolve: () => void; reject: (e: Error) => void; count: number; bytes: number };

/** A pipelined RESP connection. Create with `RespConnection.open`. */
export class RespConnection {
  /** Commands sent and not yet answered. */
  inflight = 0;
  /** Bytes of those commands. */
  inflightBytes = 0;
  /** The database selected on this connection (SELECT is per connection). */
  db = 0;
  /** Set once the connection failed; it never recovers. */
  failure: NetworkError | null = null;
  /** Called after each batch of replies was handled (a pool wakes its waiters here). */
  onReplies: (() => void) | null = null;

  private readonly writer = new CommandWriter();
  private readonly parser: ReplyParser;
  // The FIFO: parallel ring arrays of handler, context and size.
  private qHandler: Array<ReplyHandler<unknown> | undefined> = new Array(1024);
  private qCtx: unknown[] = new Array(1024);
  private qBytes = new Float64Array(1024);
  private qHead = 0;
  private qLen = 0;
  private flushScheduled = false;
  private waiters: Waiter[] = [];
  /** The reject functions of `call()`s not answered yet. */
  private readonly calls = new Set<(e: Error) => void>();
  private closing = false;

  private constructor(private readonly socket: Socket, readonly name: string, replyTimeoutMs: number, tls: boolean) {
    this.parser = new ReplyParser((r) => this.reply(r));
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => {
      try {
        this.parser.feed(chunk);
      } catch (e) {
        this.fail(new NetworkError(`${this.name}: the server's reply is not RESP (${(e as Error).message})`));
        return;
      }
      this.onReplies?.();
    });
    socket.on('error', (e: Error) => this.fail(socketFailure(this.name, e as NodeJS.ErrnoException, tls)));
    socket.on('close', () => {
      if (!this.closing) this.fail(new NetworkError(`${this.name}: the server closed the connection${this.inflight > 0 ? ` with ${this.inflight} command(s) unanswered` : ''}`));
    });
    socket.setTimeout(replyTimeoutMs);
    socket.on('timeout', () => {
      if (this.inflight > 0) this.fail(new NetworkError(`${this.name}: no reply for ${Math.round(replyTimeoutMs / 1000)} s with ${this.inflight} command(s) in flight`));
    });
  }

  /**
   * Connects (TLS for rediss://). Does not authenticate: see `openClient`.
   * @throws NetworkError when the server cannot be reached in time
   */
  static open(uri: RedisUri, opts: ConnectOptions = {}): Promise<RespConnection> {
    const name = redactUri(uri);
    const timeout = opts.connectTimeoutMs ?? CONNECT_TIMEOUT;
    return new Promise((resolve, reject) => {
      let socket: Socket;
      try {
        if (uri.tls) {
          const t = opts.tls;
          socket = tlsConnect({
            host: uri.host,
            port: uri.port,
            // SNI takes host names only; the certificate is still checked against an IP address.
            ...(isIP(uri.host) === 0 ? { servername: uri.host } : {}),
            rejectUnauthorized: t?.rejectUnauthorized !== false,
            ...(t?.ca !== undefined ? { ca: t.ca } : {}),
            ...(t?.cert !== undefined ? { cert: t.cert } : {}),
            ...(t?.key !== undefined ? { key: t.key } : {}),
          });
        } else {
          socket = netConnect({ host: uri.host, port: uri.port });
        }
      } catch (e) {
        // A CA, certificate or key that is not PEM (or a key that does not match) throws here.
        reject(connectFailure(name, e as NodeJS.ErrnoException, true));
        return;
      }
      const timer = setTimeout(() => {
        socket.destroy();
        reject(uri.tls
          ? new NetworkError(`${name}: no TLS handshake within ${timeout} ms`, 'is this a TLS port? a server speaking plain RESP there needs redis://, not rediss://')
          : new NetworkError(`${name}: no connection within ${timeout} ms`));
      }, timeout);
      const onError = (e: Error): void => {
        clearTimeout(timer);
        socket.destroy();
        reject(connectFailure(name, e as NodeJS.ErrnoException, uri.tls));
      };
      socket.once('error', onError);
      socket.once(uri.tls ? 'secureConnect' : 'connect', () => {
        clearTimeout(timer);
        socket.removeListener('error', onError);
        resolve(new RespConnection(socket, name, opts.replyTimeoutMs ?? REPLY_TIMEOUT, uri.tls));
      });
    });
  }

  /**
   * Queues a command; its reply goes to `handler(reply, ctx)`. Returns the command's size.
   * @throws NetworkError when the connection has failed
   */
  send<C>(args: readonly Arg[], handler: ReplyHandler<C>, ctx: C): number {
    if (this.failure !== null) throw this.failure;
    const n = this.writer.command(args);
    this.push(handler as ReplyHandler<unknown>, ctx, n);
    if (this.writer.pendingBytes >= WRITE_AT) this.flush();
    else if (!this.flushScheduled) {
      this.flushScheduled = true;
      process.nextTick(() => this.flush());
    }
    return n;
  }

  /** Sends a command and resolves with its reply (an error reply resolves as RespError). */
  call(args: readonly Arg[]): Promise<Reply> {
    return new Promise((resolve, reject) => {
      if (this.failure !== null) {
        reject(this.failure);
        return;
      }
      // Rejected by a failure through `calls` (a Set: thousands of calls in flight cost O(1)
      // each, and the replies' wake() never walks them).
      this.calls.add(reject);
      this.send(args, CALL_HANDLER, { resolve: (r: Reply) => {
        this.calls.delete(reject);
        resolve(r);
      } });
    });
  }

  /** Hands every queued byte to the socket now. */
  flush(): void {
    this.flushScheduled = false;
    if (this.failure !== null) return;
    const parts = this.writer.take();
    if (parts.length === 0) return;
    if (parts.length === 1) {
      this.socket.write(parts[0]!);
      return;
    }
    this.socket.cork();
    for (const p of parts) this.socket.write(p);
    this.socket.uncork();
  }

  /**
   * Resolves when fewer than `count` commands and fewer than `bytes` bytes are in flight (or none
   * at all: one command larger than `bytes` still goes alone).
   * @throws NetworkError (rejects) when the connection fails first
   */
  whenBelow(count: number, bytes: number): Promise<void> {
    if (this.failure !== null) return Promise.reject(this.failure);
    if (this.roomFor(count, bytes)) return Promise.resolve();
    this.flush();
    return new Promise((resolve, reject) => this.waiters.push({ resolve, reject, count, bytes }));
  }

  /** Every command answered. */
  idle(): Promise<void> {
    return this.whenBelow(1, Infinity);
  }

  /** True when another command may go under these bounds. */
  roomFor(count: number, bytes: number): boolean {
    return this.inflight === 0 || (this.inflight < count && this.inflightBytes < bytes);
  }

  /**
   * After a failure: the handler and context of every command that got no reply, oldest first,
   * taken once (the queue is empty afterwards). They may or may not have run on the server; a
   * caller that can route them elsewhere (a cluster) sends them again.
   */
  takeUnanswered(): Array<{ handler: ReplyHandler<unknown>; ctx: unknown }> {
    const out: Array<{ handler: ReplyHandler<unknown>; ctx: unknown }> = [];
    const n = this.qHandler.length;
    for (let k = 0; k < this.qLen; k++) {
      const i = (this.qHead + k) & (n - 1);
      out.push({ handler: this.qHandler[i]!, ctx: this.qCtx[i] });
      this.qHandler[i] = undefined;
      this.qCtx[i] = undefined;
    }
    this.qHead = 0;
    this.qLen = 0;
    this.inflight = 0;
    this.inflightBytes = 0;
    return out;
  }

  /** Closes the connection (QUIT is not needed; unanswered commands are abandoned). */
  close(): void {
    this.closing = true;
    this.socket.end();
    this.socket.destroy();
    const e = this.failure ?? new NetworkError(`${this.name}: connection closed`);
    this.failure ??= e;
    this.rejectAll(e);
  }

  private push(h: ReplyHandler<unknown>, ctx: unknown, n: number): void {
    if (this.qLen === this.qHandler.length) this.growQueue();
    const i = (this.qHead + this.qLen) & (this.qHandler.length - 1);
    this.qHandler[i] = h;
    this.qCtx[i] = ctx;
    this.qBytes[i] = n;
    this.qLen++;
    this.inflight++;
    this.inflightBytes += n;
  }

  private growQueue(): void {
    const n = this.qHandler.length;
    const h = new Array<ReplyHandler<unknown> | undefined>(n * 2);
    const c = new Array<unknown>(n * 2);
    const b = new Float64Array(n * 2);
    for (let k = 0; k < this.qLen; k++) {
      const i = (this.qHead + k) & (n - 1);
      h[k] = this.qHandler[i];
      c[k] = this.qCtx[i];
      b[k] = this.qBytes[i]!;
    }
    this.qHandler = h;
    this.qCtx = c;
    this.qBytes = b;
    this.qHead = 0;
  }

  private reply(r: Reply): void {
    if (this.qLen === 0) {
      this.fail(new NetworkError(`${this.name}: a reply nobody asked for (${r instanceof RespError ? r.message : typeof r})`));
      return;
    }
    const i = this.qHead;
    const h = this.qHandler[i]!;
    const ctx = this.qCtx[i];
    this.inflightBytes -= this.qBytes[i]!;
    this.qHandler[i] = undefined;
    this.qCtx[i] = undefined;
    this.qHead = (i + 1) & (this.qHandler.length - 1);
    this.qLen--;
    this.inflight--;
    h(r, ctx);
    if (this.waiters.length > 0) this.wake();
  }

  private wake(): void {
    for (let k = 0; k < this.waiters.length; k++) {
      const w = this.waiters[k]!;
      if (w.count !== Infinity || w.bytes !== Infinity ? this.roomFor(w.count, w.bytes) : false) {
        this.waiters.splice(k--, 1);
        w.resolve();
      }
    }
  }

  private fail(e: NetworkError): void {
    if (this.failure !== null) return;
    this.failure = e;
    this.socket.destroy();
    this.rejectAll(e);
    this.onReplies?.();
  }

  private rejectAll(e: Error): void {
    const ws = this.waiters;
    this.waiters = [];
    for (const w of ws) w.reject(e);
    const cs = [...this.calls];
    this.calls.clear();
    for (const reject of cs) reject(e);
  }
}

const CALL_HANDLER: ReplyHandler<{ resolve: (r: Reply) => void }> = (r, ctx) => ctx.resolve(r);

/** What `openClient` learnt about the server. */
export interface ServerInfo {
  /** `redis_version` (or `valkey_version` for Valkey). */
  version: string;
  valkey: boolean;
  /** `redis_mode`: standalone, cluster, sentinel. */
  mode: string;
  /** Databases holding keys, from INFO keyspace. */
  keyspace: Map<number, number>;
  /** `proto-max-bulk-len`, or undefined when CONFIG GET is not allowed. */
  protoMaxBulkLen: number | undefined;
}

/** Codes of error replies that mean "no password or the wrong one". */
const AUTH_CODES = new Set(['NOAUTH', 'WRONGPASS', 'NOPERM', 'ERR']);

/**
 * Opens a connection and authenticates: `AUTH [user] password` when the URI (or REDISCLI_AUTH)
 * gave a password. The password is never part of a message.
 * @throws NetworkError for an unreachable server or a refused AUTH
 */
export async function openClient(uri: RedisUri, opts: ConnectOptions = {}): Promise<RespConnection> {
  const c = await RespConnection.open(uri, opts);
  try {
    if (uri.password !== undefined) {
      const args: string[] = uri.username !== undefined ? ['AUTH', uri.username, uri.password] : ['AUTH', uri.password];
      const r = await c.call(args);
      if (r instanceof RespError) {
        const from = uri.passwordFrom === 'env' ? 'REDISCLI_AUTH' : 'the URI';
        throw new NetworkError(
          `${c.name}: authentication failed (${r.code}${AUTH_CODES.has(r.code) ? '' : ' reply'})`,
          `check the ${uri.username !== undefined ? 'user and ' : ''}password given in ${from}`,
        );
      }
    }
    return c;
  } catch (e) {
    c.close();
    throw e;
  }
}

function infoField(info: string, name: string): string | undefined {
  const m = new RegExp(`^${name}:(.*?)\\r?$`, 'm').exec(info);
  return m === null ? undefined : m[1];
}

/**
 * INFO server + INFO keyspace + CONFIG GET proto-max-bulk-len (its errors ignored: the command may
 * be renamed or forbidden).
 * @throws NetworkError when INFO is refused (NOAUTH: no password given) or the connection fails
 */
export async function serverInfo(c: RespConnection): Promise<ServerInfo> {
  const info = await c.call(['INFO', 'server']);
  if (info instanceof RespError) {
    throw new NetworkError(
      `${c.name}: INFO refused: ${info.code}`,
      info.code === 'NOAUTH' ? 'the server wants a password: give it in the URI (redis://:PASSWORD@host) or REDISCLI_AUTH' : undefined,
    );
  }
  const text = Buffer.isBuffer(info) ? info.toString('utf8') : String(info);
  const valkeyVersion = infoField(text, 'valkey_version');
  const version = valkeyVersion ?? infoField(text, 'redis_version') ?? '';
  const mode = infoField(text, 'redis_mode') ?? infoField(text, 'server_mode') ?? 'standalone';
  const ks = await c.call(['INFO', 'keyspace']);
  const keyspace = new Map<number, number>();
  if (Buffer.isBuffer(ks)) {
    for (const m of ks.toString('utf8').matchAll(/^db(\d+):keys=(\d+)/gm)) keyspace.set(Number(m[1]), Number(m[2]));
  }
  let protoMaxBulkLen: number | undefined;
  const cfg = await c.call(['CONFIG', 'GET', 'proto-max-bulk-len']);
  if (Array.isArray(cfg) && cfg.length >= 2 && Buffer.isBuffer(cfg[1])) {
    const n = Number(cfg[1].toString('latin1'));
    if (Number.isSafeInteger(n) && n > 0) protoMaxBulkLen = n;
  }
  return { version, valkey: valkeyVersion !== undefined, mode, keyspace, protoMaxBulkLen };
}
