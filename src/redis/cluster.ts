/**
 * A Redis Cluster as a replay target: the slot map, one pipelined Pool per master, and the
 * redirections a live cluster answers with while it reshards or fails over.
 *
 *  - Topology: `CLUSTER SLOTS` from the seed (any node, master or replica): slot ranges and the
 *    address of the master that owns each. Every master gets its own Pool of `perNode` connections,
 *    each bounded by count and bytes as a standalone target is (pool.ts).
 *  - Routing: a key goes to the owner of `keySlot(key)` (CRC16, hash tags), through that master's
 *    Pool; `send` wraps the command's handler so that its reply is looked at first.
 *  - `-MOVED slot host:port`: the slot map is updated and the command sent again to the new owner;
 *    after many MOVED replies the whole map is read again (a resharding is under way).
 *    `-ASK slot host:port`: `ASKING` then the command to that node, once, map unchanged.
 *    `-TRYAGAIN`, `-CLUSTERDOWN`, `-LOADING`, `-MASTERDOWN`: sent again after a backoff, for at most
 *    `retryMs`; after that the reply goes to the caller's handler as it is.
 *  - A command resent after a redirection goes to a connection chosen by its slot
 *    (`conns[slot % n]`), so two commands of one key that are redirected together (EXISTS then
 *    RESTORE) stay in order. Redirected commands are counted in `pending` until they are written,
 *    and `idle()` waits for them and for every reply.
 *
 * A redirection answers a command that the node did not execute, so resending it neither loses
 * nor duplicates the key.
 *
 * A connection lost (a node killed, a failover, CLIENT KILL, a server `timeout`): the node's Pool is
 * closed, and the commands it had not answered are parked; the router reads the slot map again
 * until every slot's owner can be reached (the same node back, or the replica a failover
 * promoted), for at most `retryMs`, then sends the parked commands to the owners. Their first
 * sending may or may not have run, so a RESTORE goes again with REPLACE (the key ends up with the
 * file's value either way), reads and idempotent writes go again as they are, and any other
 * command (RPUSH of a rebuild, RENAME) is answered with an error for its key (reported failed)
 * rather than applied twice. A write acknowledged by a master that then died before its replica
 * got it is lost by the cluster itself; no client can see that (`verify` does).
 *
 * Nothing here sleeps in a loop: backoffs are single timers per command, and the recovery waits
 * with a growing delay between reads of the slot map.
 */
import { setTimeout as delay } from 'node:timers/promises';
import { NetworkError, UsageError } from '../errors.js';
import { crc16, keySlot, SLOTS } from '../merge/slots.js';
import { redactUri, type RedisUri } from '../values.js';
import { openClient, type ConnectOptions, type ReplyHandler, type RespConnection } from './connection.js';
import { Pool } from './pool.js';
import { RespError, type Arg, type Reply } from './resp.js';

/** One master (or a node a redirection named). */
export interface ClusterNode {
  /** `host:port` as the cluster names it. */
  addr: string;
  uri: RedisUri;
  pool: Pool | null;
  opening: Promise<Pool> | null;
  /** A connection to it was lost and it could not be reached since. */
  down: boolean;
}

/** What the router did, for the report. */
export interface ClusterStats {
  /** Masters (addresses) found at the start. */
  masters: string[];
  /** `-MOVED` replies followed. */
  moved: number;
  /** `-ASK` replies followed. */
  ask: number;
  /** Commands sent again after `-TRYAGAIN`, `-CLUSTERDOWN`, `-LOADING` or `-MASTERDOWN`. */
  retried: number;
  /** Times the whole slot map was read again. */
  refreshes: number;
  /** Nodes connected to after the start (a slot moved to a master not known before). */
  nodesAdded: number;
  /** Connections lost (their node's Pool was closed and opened again, maybe on another node). */
  connectionsLost: number;
  /** Commands unanswered when their connection was lost, sent again (RESTORE with REPLACE). */
  resent: number;
}

export interface ClusterOptions {
  /** Connections per master. */
  perNode: number;
  /** Commands in flight per connection. */
  depth: number;
  /** Bytes in flight per connection. */
  budget: number;
  /**
   * Bytes in flight over every connection of every master: when given, `budget` becomes this
   * divided by the connections opened at the start (perNode x masters).
   */
  totalBudget?: number;
  connect: ConnectOptions;
  /** How long a command keeps being retried after TRYAGAIN / CLUSTERDOWN. Default 30,000 ms. */
  retryMs?: number;
}

/** A command on its way: what is needed to send it again somewhere else. */
interface Routed {
  router: ClusterRouter;
  slot: number;
  args: readonly Arg[];
  handler: ReplyHandler<unknown>;
  ctx: unknown;
  redirects: number;
  retryStart: number;
  tries: number;
}

/** Commands that may run twice with the same effect: sent again as they are after a lost connection. */
const IDEMPOTENT = new Set([
  'EXISTS', 'DUMP', 'PTTL', 'PEXPIRETIME', 'TYPE', 'DEL', 'PEXPIREAT', 'PEXPIRE', 'HSET', 'SADD', 'ZADD', 'ASKING',
  'FUNCTION', 'SELECT', 'DBSIZE', 'SCAN', 'INFO',
]);

function commandName(args: readonly Arg[]): string {
  const a = args[0];
  return typeof a === 'string' ? a.toUpperCase() : a instanceof Uint8Array ? Buffer.from(a).toString('latin1').toUpperCase() : '';
}

/** Redirections one command may follow before its reply is taken as it is (a loop guard). */
const MAX_REDIRECTS = 16;
/** MOVED replies since the last map refresh that make the router read the whole map again. */
const REFRESH_AFTER_MOVED = 16;
const RETRY_CODES = new Set(['TRYAGAIN', 'CLUSTERDOWN', 'LOADING', 'MASTERDOWN']);

function onRouted(reply: Reply, r: Routed): void {
  if (reply instanceof RespError && r.router.redirect(reply, r)) return;
  r.handler(reply, r.ctx);
}

function onAsking(reply: Reply, router: ClusterRouter): void {
  if (reply instanceof RespError) router.fail(new NetworkError(`the cluster refused ASKING: ${reply.message.slice(0, 200)}`));
}

/**
 * A hash tag per slot: `{tag}` with `keySlot({tag}...) === slot`, so that a temporary key lives on
 * the slot of the key it stands for (RENAME across slots fails with CROSSSLOT). Built on first use.
 */
let TAGS: string[] | null = null;
export function slotTag(slot: number): string {
  if (TAGS === null) {
    const t = new Array<string>(SLOTS);
    let left = SLOTS;
    const te = new TextEncoder();
    for (let i = 0; left > 0; i++) {
      const s = i.toString(36);
      const sl = crc16(te.encode(s)) & (SLOTS - 1);
      if (t[sl] === undefined) {
        t[sl] = s;
        left--;
      }
    }
    TAGS = t;
  }
  return TAGS[slot]!;
}

/** The slot of a key given as bytes or text. */
export function slotOf(key: Uint8Array | string): number {
  return keySlot(typeof key === 'string' ? Buffer.from(key) : key);
}

/** Parses a CLUSTER SLOTS reply into [first, last, host, port] ranges (masters only). */
function slotRanges(r: Reply, seedHost: string): Array<[number, number, string, number]> {
  if (!Array.isArray(r)) throw new NetworkError('CLUSTER SLOTS: not an array');
  const out: Array<[number, number, string, number]> = [];
  for (const e of r) {
    if (!Array.isArray(e) || e.length < 3 || typeof e[0] !== 'number' || typeof e[1] !== 'number' || !Array.isArray(e[2])) {
      throw new NetworkError('CLUSTER SLOTS: an entry is not [first, last, [host, port, ...], ...]');
    }
    const m = e[2];
    const hostRaw = Buffer.isBuffer(m[0]) ? m[0].toString('utf8') : typeof m[0] === 'string' ? m[0] : '';
    const port = typeof m[1] === 'number' ? m[1] : Number(m[1]);
    // An empty or '?' endpoint means "the address you reached me on".
    const host = hostRaw === '' || hostRaw === '?' ? seedHost : hostRaw;
    if (!Number.isInteger(port) || port < 1 || port > 65535) throw new NetworkError(`CLUSTER SLOTS: bad port ${String(m[1])}`);
    out.push([e[0], e[1], host, port]);
  }
  return out;
}

/** The cluster's slot map and a Pool per master. Create with `ClusterRouter.discover`. */
export class ClusterRouter {
  readonly nodes = new Map<string, ClusterNode>();
  readonly stats: ClusterStats = { masters: [], moved: 0, ask: 0, retried: 0, refreshes: 0, nodesAdded: 0, connectionsLost: 0, resent: 0 };
  /** Set when the router cannot go on (a node named by a redirection cannot be reached, ...). */
  failure: NetworkError | null = null;
  /** Redirected commands not yet written (waiting for a connection or a backoff). */
  private pending = 0;
  private settled: Array<() => void> = [];
  private readonly owner: Array<ClusterNode | undefined> = new Array(SLOTS);
  private movedSinceRefresh = 0;
  private refreshing: Promise<void> | null = null;
  private readonly retryMs: number;
  private readonly timers = new Set<NodeJS.Timeout>();
  /** Rejecters of `call`s waiting for their reply. */
  private readonly calls = new Set<(e: Error) => void>();
  /** Commands unanswered on a lost connection, waiting for the recovery. */
  private parked: Routed[] = [];
  private recovering: Promise<void> | null = null;

  private constructor(readonly seed: RedisUri, public opts: ClusterOptions) {
    this.retryMs = opts.retryMs ?? 30_000;
  }

  /**
   * Reads the slot map from `seed` (an open, authenticated connection to it) and opens a Pool to
   * every master.
   * @throws UsageError when the seed is not in cluster mode; NetworkError when a master cannot be
   *   reached or some slot has no master
   */
  static async discover(seed: RedisUri, control: RespConnection, opts: ClusterOptions): Promise<ClusterRouter> {
    const router = new ClusterRouter(seed, opts);
    const r = await control.call(['CLUSTER', 'SLOTS']);
    if (r instanceof RespError) {
      if (/cluster support disabled/i.test(r.message)) {
        throw new UsageError(`${redactUri(seed)} is not a cluster node (cluster support disabled)`, 'leave out --cluster for a standalone server');
      }
      throw new NetworkError(`${redactUri(seed)}: CLUSTER SLOTS refused: ${r.message.slice(0, 200)}`);
    }
    router.applyMap(slotRanges(r, seed.host));
    const missing = router.owner.findIndex((n) => n === undefined);
    if (missing >= 0) {
      throw new NetworkError(`${redactUri(seed)}: slot ${missing} has no master in CLUSTER SLOTS`, 'the cluster is not ready: check CLUSTER INFO (cluster_state:ok)');
    }
    router.stats.masters = router.masters().map((n) => n.addr);
    if (opts.totalBudget !== undefined) {
      router.opts = { ...opts, budget: Math.max(1, Math.floor(opts.totalBudget / (opts.perNode * router.stats.masters.length))) };
    }
    try {
      await Promise.all(router.masters().map((n) => router.open(n)));
    } catch (e) {
      router.close();
      throw e;
    }
    router.stats.nodesAdded = 0;
    return router;
  }

  /** The masters that own slots now, in order of their first slot. */
  masters(): ClusterNode[] {
    const seen = new Set<ClusterNode>();
    for (const n of this.owner) if (n !== undefined) seen.add(n);
    return [...seen];
  }

  /** Every Pool opened so far (masters, and nodes redirections named). */
  pools(): Pool[] {
    const out: Pool[] = [];
    for (const n of this.nodes.values()) if (n.pool !== null) out.push(n.pool);
    return out;
  }

  private applyMap(ranges: Array<[number, number, string, number]>): void {
    for (const [a, b, host, port] of ranges) {
      const node = this.nodeAt(`${host}:${port}`);
      for (let s = Math.max(0, a); s <= Math.min(b, SLOTS - 1); s++) this.owner[s] = node;
    }
  }

  /** The node at `host:port`, known or new (same credentials and TLS as the seed). */
  nodeAt(addr: string): ClusterNode {
    let n = this.nodes.get(addr);
    if (n !== undefined) return n;
    const i = addr.lastIndexOf(':');
    let host = addr.slice(0, i);
    if (host.startsWith('[') && host.endsWith(']')) host = host.slice(1, -1);
    const port = Number(addr.slice(i + 1));
    n = { addr, uri: { ...this.seed, host, port }, pool: null, opening: null, down: false };
    this.nodes.set(addr, n);
    return n;
  }

  /** Opens (once) the Pool of a node. */
  open(n: ClusterNode): Promise<Pool> {
    if (n.pool !== null) return Promise.resolve(n.pool);
    n.opening ??= (async () => {
      const conns: RespConnection[] = [];
      try {
        for (let i = 0; i < this.opts.perNode; i++) conns.push(await openClient(n.uri, this.opts.connect));
      } catch (e) {
        for (const c of conns) c.close();
        n.opening = null;
        throw e;
      }
      const pool = new Pool(conns, this.opts.depth, this.opts.budget);
      n.pool = pool;
      n.opening = null;
      n.down = false;
      for (const c of conns) {
        const wake = c.onReplies;
        c.onReplies = () => {
          wake?.();
          if (c.failure !== null) this.connectionLost(n, pool, c.failure);
        };
      }
      this.stats.nodesAdded++;
      // A connection that failed while the others were being opened: handled as lost now.
      const dead = conns.find((c) => c.failure !== null);
      if (dead !== undefined) {
        this.connectionLost(n, pool, dead.failure!);
        throw dead.failure!;
      }
      return pool;
    })();
    return n.opening;
  }

  /** The master owning `slot` now (the first master while the map has a hole). */
  ownerOf(slot: number): ClusterNode {
    return this.owner[slot] ?? this.masters()[0] ?? this.nodeAt(`${this.seed.host}:${this.seed.port}`);
  }

  /**
   * A connection of the slot's owner with room for a command of `bytes` (its Pool's window), or
   * a promise of one.
   */
  connFor(slot: number, bytes: number): RespConnection | Promise<RespConnection> {
    if (this.failure !== null) throw this.failure;
    const n = this.ownerOf(slot);
    const pool = n.pool;
    const again = (e: unknown): Promise<RespConnection> => this.afterLoss(e).then(() => this.connFor(slot, bytes));
    if (pool !== null) return pool.pick(bytes) ?? pool.room(bytes).catch(again);
    if (n.down || this.recovering !== null) return again(null);
    return this.open(n).then((p) => p.pick(bytes) ?? p.room(bytes)).catch((e: unknown) => {
      n.down = true;
      return again(e);
    });
  }

  /**
   * After a connection was lost (or a node could not be reached): resolves once the recovery
   * found every slot an owner it can reach; rejects with the router's failure otherwise.
   */
  private afterLoss(e: unknown): Promise<void> {
    if (this.failure !== null) return Promise.reject(this.failure);
    this.recover(e instanceof NetworkError ? e : new NetworkError(e instanceof Error ? e.message : 'a cluster node cannot be reached'));
    return this.recovering!.then(() => {
      if (this.failure !== null) throw this.failure;
    });
  }

  /**
   * A connection of `n` failed: the node's Pool is closed (its other connections too, so that
   * nothing of it is half answered), every unanswered routed command parked, the recovery started.
   */
  private connectionLost(n: ClusterNode, pool: Pool, e: NetworkError): void {
    if (n.pool !== pool) return; // handled already
    n.pool = null;
    n.opening = null;
    n.down = true;
    this.stats.connectionsLost++;
    for (const c of pool.conns) {
      if (c.failure === null) c.close();
      for (const { handler, ctx } of c.takeUnanswered()) {
        // ASKING and the like need nothing: their command is parked with them.
        if (handler === (onRouted as ReplyHandler<unknown>)) {
          this.parked.push(ctx as Routed);
          this.pending++;
        }
      }
    }
    if (this.failure === null) this.recover(e);
  }

  /** Starts (once at a time) the recovery: see the module comment. */
  private recover(cause: NetworkError): void {
    if (this.recovering !== null || this.failure !== null) return;
    this.recovering = (async () => {
      const start = Date.now();
      let wait = 50;
      for (;;) {
        if (this.failure !== null) return;
        await delay(wait);
        wait = Math.min(1000, wait * 2);
        await this.refresh();
        // Every owner reachable? (A node that comes back, or the replica promoted in its place.)
        let unreachable = false;
        for (const m of this.masters()) {
          if (m.pool !== null) continue;
          try {
            await this.open(m);
          } catch {
            m.down = true;
            unreachable = true;
          }
        }
        if (!unreachable) {
          const parked = this.parked;
          this.parked = [];
          for (const r of parked) {
            this.pending--;
            this.resendUncertain(r);
          }
          if (this.parked.length === 0) return;
        }
        if (Date.now() - start >= this.retryMs) {
          throw new NetworkError(
            `${cause.message}; no owner of its slots reachable within ${Math.round(this.retryMs / 1000)} s`,
            'is the cluster failing over? check CLUSTER NODES; a master without a replica must be restarted',
          );
        }
      }
    })().then(
      () => {
        this.recovering = null;
        this.settle();
      },
      (e: unknown) => {
        this.recovering = null;
        this.fail(e instanceof NetworkError ? e : new NetworkError(String(e)));
      },
    );
  }

  /** A parked command, to the owner of its slot now: see the module comment. */
  private resendUncertain(r: Routed): void {
    const name = commandName(r.args);
    if (name === 'RESTORE') {
      if (!r.args.some((a) => a === 'REPLACE')) r.args = [...r.args, 'REPLACE'];
    } else if (!IDEMPOTENT.has(name)) {
      r.handler(new RespError(`ERR the connection was lost before the reply to ${name}; not sent again, it may or may not have run`), r.ctx);
      return;
    }
    this.stats.resent++;
    this.resend(this.ownerOf(r.slot), r, false);
  }

  /** Sends a command about `slot` on `c`; its reply reaches `handler(reply, ctx)` after redirections. Returns its size. */
  send<C>(c: RespConnection, slot: number, args: readonly Arg[], handler: ReplyHandler<C>, ctx: C): number {
    const r: Routed = { router: this, slot, args, handler: handler as ReplyHandler<unknown>, ctx, redirects: 0, retryStart: 0, tries: 0 };
    return c.send(args, onRouted, r);
  }

  /**
   * Sends a command about `slot` to its owner now, on the connection the slot picks (outside the
   * window: for a command that follows up a reply, as a RESTORE sent again with REPLACE).
   */
  sendToOwner<C>(slot: number, args: readonly Arg[], handler: ReplyHandler<C>, ctx: C): void {
    const r: Routed = { router: this, slot, args, handler: handler as ReplyHandler<unknown>, ctx, redirects: 0, retryStart: 0, tries: 0 };
    this.resend(this.ownerOf(slot), r, false);
  }

  /** `sendToOwner` and a promise of the final reply; rejects when the router fails first. */
  callOwner(slot: number, args: readonly Arg[]): Promise<Reply> {
    return new Promise((resolve, reject) => {
      if (this.failure !== null) {
        reject(this.failure);
        return;
      }
      this.calls.add(reject);
      this.sendToOwner(slot, args, (reply: Reply) => {
        this.calls.delete(reject);
        resolve(reply);
      }, null);
    });
  }

  /**
   * Resolves (or returns undefined at once) when the connection `sendToOwner` picks for `slot`
   * has room in its window; waits through a recovery when that connection is lost.
   * @throws NetworkError (rejects) when the router failed
   */
  roomAt(slot: number): void | Promise<void> {
    if (this.failure !== null) throw this.failure;
    const n = this.ownerOf(slot);
    const pool = n.pool;
    if (pool === null) {
      if (n.down || this.recovering !== null) return this.afterLoss(null);
      return this.open(n).then(() => undefined, (e: unknown) => {
        n.down = true;
        return this.afterLoss(e);
      });
    }
    const c = pool.conns[slot % pool.conns.length]!;
    if (c.roomFor(this.opts.depth, this.opts.budget)) return undefined;
    return c.whenBelow(this.opts.depth, this.opts.budget).catch((e: unknown) => this.afterLoss(e));
  }

  /**
   * A redirection or a retryable refusal: handled (true), or not one / out of attempts (false:
   * the caller's handler gets the reply).
   */
  redirect(err: RespError, r: Routed): boolean {
    if (this.failure !== null) return false;
    if (err.code === 'MOVED' || err.code === 'ASK') {
      if (r.redirects >= MAX_REDIRECTS) return false;
      const m = /^(?:MOVED|ASK) (\d+) (\S+)$/.exec(err.message);
      if (m === null) return false;
      r.redirects++;
      const slot = Number(m[1]);
      const node = this.nodeAt(m[2]!);
      if (err.code === 'MOVED') {
        this.stats.moved++;
        if (slot >= 0 && slot < SLOTS) this.owner[slot] = node;
        if (++this.movedSinceRefresh >= REFRESH_AFTER_MOVED) {
          this.movedSinceRefresh = 0;
          void this.refresh();
        }
        this.resend(node, r, false);
      } else {
        this.stats.ask++;
        this.resend(node, r, true);
      }
      return true;
    }
    if (RETRY_CODES.has(err.code)) {
      const now = Date.now();
      if (r.retryStart === 0) r.retryStart = now;
      if (now - r.retryStart >= this.retryMs) return false;
      this.stats.retried++;
      r.tries++;
      this.pending++;
      const wait = Math.min(1000, 10 * 2 ** Math.min(r.tries, 7));
      if (err.code === 'CLUSTERDOWN' || err.code === 'MASTERDOWN') void this.refresh();
      const timer = setTimeout(() => {
        this.timers.delete(timer);
        this.pending--;
        this.resend(this.ownerOf(r.slot), r, false);
        this.settle();
      }, wait);
      this.timers.add(timer);
      return true;
    }
    return false;
  }

  /** Writes a redirected command to `node` (ASKING first for an ASK), on the connection its slot picks. */
  private resend(node: ClusterNode, r: Routed, asking: boolean): void {
    const go = (pool: Pool): void => {
      if (this.failure !== null) return;
      const c = pool.conns[r.slot % pool.conns.length]!;
      try {
        if (asking) c.send(['ASKING'], onAsking, this);
        c.send(r.args, onRouted, r);
      } catch (e) {
        this.fail(e instanceof NetworkError ? e : new NetworkError(String(e)));
      }
    };
    if (node.pool !== null) {
      go(node.pool);
      return;
    }
    this.pending++;
    this.open(node).then(
      (p) => {
        this.pending--;
        go(p);
        this.settle();
      },
      (e: unknown) => {
        // Unreachable: parked until the recovery finds the slot's owner.
        node.down = true;
        this.parked.push(r);
        this.recover(e instanceof NetworkError ? e : new NetworkError(`${node.addr}: ${(e as Error).message}`));
      },
    );
  }

  /** Reads the whole slot map again (once at a time); a failure leaves the map as it was. */
  refresh(): Promise<void> {
    this.refreshing ??= (async () => {
      try {
        for (const n of [...this.masters(), ...this.nodes.values()]) {
          const pool = n.pool;
          const c = pool?.conns.find((x) => x.failure === null);
          if (c === undefined) continue;
          const r = await c.call(['CLUSTER', 'SLOTS']);
          if (r instanceof RespError) continue;
          try {
            const ranges = slotRanges(r, this.seed.host);
            this.applyMap(ranges);
            this.stats.refreshes++;
            return;
          } catch {
            // a malformed reply: ask another node
          }
        }
      } catch {
        // the node went away while answering: the redirections keep working without a new map
      } finally {
        this.refreshing = null;
      }
    })();
    return this.refreshing;
  }

  fail(e: NetworkError): void {
    this.failure ??= e;
    const calls = [...this.calls];
    this.calls.clear();
    for (const reject of calls) reject(this.failure);
    this.settle(true);
  }

  private settle(force = false): void {
    if (this.pending > 0 && !force) return;
    const s = this.settled;
    this.settled = [];
    for (const f of s) f();
  }

  /** Every command answered, redirected and resent ones included. @throws NetworkError when the router failed */
  async idle(): Promise<void> {
    for (;;) {
      if (this.failure !== null) throw this.failure;
      try {
        await Promise.all(this.pools().map((p) => p.idle()));
      } catch {
        // A connection lost: its commands are parked, the recovery sends them.
      }
      if (this.failure !== null) throw this.failure;
      if (this.pending === 0 && this.recovering === null && this.pools().every((p) => p.conns.every((c) => c.inflight === 0))) return;
      if (this.pending > 0 || this.recovering !== null) await new Promise<void>((resolve) => this.settled.push(resolve));
    }
  }

  /** Hands every queued byte to the sockets. */
  flush(): void {
    for (const p of this.pools()) for (const c of p.conns) c.flush();
  }

  close(): void {
    // Ends a recovery under way too (its loop looks at `failure`).
    this.failure ??= new NetworkError('the cluster connections were closed');
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    for (const p of this.pools()) p.close();
    this.settle(true);
  }
}
