/**
 * A real local Redis Cluster for integration tests: N masters started with `startRedis` (each on a
 * port whose cluster bus port, +10000, is free too), joined by `redis-cli --cluster create`, and
 * ready once every node reports `cluster_state:ok` and knows every other node. Plus the resharding
 * steps redis-cli performs, for moving one slot while a client writes.
 */
import { spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { Redis } from 'ioredis';
import { findOnPath, freeClusterPort, probe, startRedis, type RedisHandle } from './redis-server.js';

export interface ClusterHandle {
  /** The masters as created. */
  nodes: RedisHandle[];
  /** Node ids, in the order of `nodes`. */
  ids: string[];
  /** ioredis clients to each master (not cluster-aware), in the order of `nodes`. */
  clients: Redis[];
  /** Replicas as created: `of` is the index of their master in `nodes`. */
  replicas: Array<{ h: RedisHandle; id: string; client: Redis; of: number }>;
  /** With `tls`: the TLS port of each master, in the order of `nodes`. */
  tlsPorts: number[];
  stop(): Promise<void>;
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function run(bin: string, args: string[], timeoutMs: number): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (c: Buffer) => { out += c.toString('utf8'); });
    child.stderr.on('data', (c: Buffer) => { out += c.toString('utf8'); });
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${bin} ${args.join(' ')}: no exit within ${timeoutMs} ms:\n${out}`));
    }, timeoutMs);
    child.once('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, out });
    });
  });
}

export interface ClusterOptions {
  /** Default 3. */
  masters?: number;
  /** Replicas per master; default 0. */
  replicas?: number;
  /**
   * TLS: every node also listens on a TLS port (its plain port stays, for the helpers' readiness
   * checks), the cluster bus runs over TLS (`tls-cluster yes`), and the cluster is created through
   * the TLS ports, so that CLUSTER SLOTS over TLS names them.
   */
  tls?: { cert: string; key: string; ca: string };
}

/** A port for a TLS listener (any the OS hands out). */
function tlsPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const a = srv.address();
      const p = typeof a === 'object' && a !== null ? a.port : 0;
      srv.close(() => resolve(p));
    });
  });
}

/**
 * Starts `masters` masters with `replicas` replicas each and creates the cluster.
 * @throws Error when redis-cli is missing, the create fails, or the cluster is not ok in time
 */
export async function startCluster(opts: ClusterOptions = {}): Promise<ClusterHandle> {
  const n = opts.masters ?? 3;
  const replicas = opts.replicas ?? 0;
  const tls = opts.tls;
  const cli = findOnPath('redis-cli');
  if (cli === undefined) throw new Error('redis-cli is not on PATH: the cluster tests need it (apt-get install -y redis-tools)');
  const nodes: RedisHandle[] = [];
  const clients: Redis[] = [];
  const stop = async (): Promise<void> => {
    for (const c of clients) c.disconnect();
    await Promise.all(nodes.map((h) => h.stop()));
  };
  const total = n * (1 + replicas);
  const tlsPorts: number[] = [];
  try {
    for (let i = 0; i < total; i++) {
      const tp = tls !== undefined ? await tlsPort() : 0;
      const tlsArgs = tls === undefined ? [] : [
        '--tls-port', String(tp), '--tls-cluster', 'yes', '--tls-replication', 'yes', '--tls-cert-file', tls.cert, '--tls-key-file', tls.key,
        '--tls-ca-cert-file', tls.ca, '--tls-auth-clients', 'no',
      ];
      nodes.push(await startRedis({
        pickPort: freeClusterPort,
        args: ['--cluster-enabled', 'yes', '--cluster-config-file', 'nodes.conf', '--cluster-node-timeout', '5000', ...tlsArgs],
      }));
      tlsPorts.push(tp);
    }
    const addrs = nodes.map((h, i) => `${h.host}:${tls !== undefined ? tlsPorts[i] : h.port}`);
    const tlsCli = tls === undefined ? [] : ['--tls', '--cacert', tls.ca];
    const r = await run(cli, [...tlsCli, '--cluster', 'create', ...addrs, '--cluster-replicas', String(replicas), '--cluster-yes'], 60_000);
    if (r.code !== 0 || !/All 16384 slots covered/.test(r.out)) throw new Error(`redis-cli --cluster create failed (exit ${r.code}):\n${r.out}`);
    const deadline = Date.now() + 30_000;
    for (;;) {
      const infos = await Promise.all(nodes.map((h) => probe(h.port, ['CLUSTER', 'INFO'])));
      const ok = infos.every((t) => /^cluster_state:ok\r?$/m.test(t) && new RegExp(`^cluster_known_nodes:${total}\\r?$`, 'm').test(t));
      if (ok) break;
      if (Date.now() > deadline) throw new Error(`the cluster is not ok after 30 s:\n${infos.join('\n---\n')}`);
      await delay(100);
    }
    for (const h of nodes) clients.push(new Redis({ host: h.host, port: h.port, lazyConnect: true }));
    await Promise.all(clients.map((c) => c.connect()));
    const ids = await Promise.all(clients.map(async (c) => String(await c.call('CLUSTER', 'MYID'))));
    // Roles as redis-cli chose them, each node asked itself (gossip may lag behind).
    const masterIdx: number[] = [];
    const replicaOf = new Map<number, string>();
    for (let i = 0; i < total; i++) {
      const info = await probe(nodes[i]!.port, ['INFO', 'replication']);
      if (/^role:master\r?$/m.test(info)) {
        masterIdx.push(i);
      } else {
        const port = Number(/^master_port:(\d+)\r?$/m.exec(info)?.[1]);
        const m = nodes.findIndex((h, k) => h.port === port || tlsPorts[k] === port);
        if (m < 0) throw new Error(`replica ${nodes[i]!.port}: master port ${port} is not one of ours`);
        replicaOf.set(i, ids[m]!);
      }
    }
    if (masterIdx.length !== n) throw new Error(`${masterIdx.length} masters after create, expected ${n}`);
    // Wait for every replica to be in sync with its master.
    for (const [i] of replicaOf) {
      for (;;) {
        const info = await probe(nodes[i]!.port, ['INFO', 'replication']);
        if (/^master_link_status:up\r?$/m.test(info)) break;
        if (Date.now() > deadline) throw new Error(`replica ${nodes[i]!.port} not in sync after 30 s:\n${info}`);
        await delay(100);
      }
    }
    const masterIds = masterIdx.map((i) => ids[i]!);
    return {
      tlsPorts: masterIdx.map((i) => tlsPorts[i]!),
      nodes: masterIdx.map((i) => nodes[i]!),
      ids: masterIds,
      clients: masterIdx.map((i) => clients[i]!),
      replicas: [...replicaOf].map(([i, m]) => ({ h: nodes[i]!, id: ids[i]!, client: clients[i]!, of: masterIds.indexOf(m) })),
      stop,
    };
  } catch (e) {
    await stop();
    throw e;
  }
}

/** The index (in `nodes`) of the master owning `slot`, from CLUSTER SLOTS of node 0. */
export async function ownerIndex(c: ClusterHandle, slot: number): Promise<number> {
  const ranges = (await c.clients[0]!.call('CLUSTER', 'SLOTS')) as Array<[number, number, [string, number, string]]>;
  for (const [a, b, m] of ranges) {
    if (slot >= a && slot <= b) return c.ids.indexOf(m[2]);
  }
  return -1;
}

/** Empties every master (keys and function libraries). */
export async function flushCluster(c: ClusterHandle): Promise<void> {
  for (const x of c.clients) {
    await x.flushall();
    await x.call('FUNCTION', 'FLUSH');
  }
}

/** Keys over every master. */
export async function clusterKeyCount(c: ClusterHandle): Promise<number> {
  let n = 0;
  for (const x of c.clients) n += Number(await x.dbsize());
  return n;
}

export interface MigrationReport {
  migrated: number;
  batches: number;
  /** ms between MIGRATING and the final SETSLOT NODE. */
  migratingMs: number;
}

/**
 * Moves `slot` from node `from` to node `to` the way `redis-cli --cluster reshard` does:
 * SETSLOT IMPORTING on the target, MIGRATING on the source, MIGRATE ... KEYS in batches until the
 * source holds no key of the slot (and at least `holdMs` passed, so that writers meet the ASK
 * state), then SETSLOT NODE on the target, the source and every other master.
 */
export async function migrateSlot(c: ClusterHandle, slot: number, from: number, to: number, holdMs: number, batch = 50): Promise<MigrationReport> {
  const src = c.clients[from]!;
  const dst = c.clients[to]!;
  const dstNode = c.nodes[to]!;
  await dst.call('CLUSTER', 'SETSLOT', slot, 'IMPORTING', c.ids[from]!);
  await src.call('CLUSTER', 'SETSLOT', slot, 'MIGRATING', c.ids[to]!);
  const t0 = Date.now();
  let migrated = 0;
  let batches = 0;
  for (;;) {
    const keys = (await src.call('CLUSTER', 'GETKEYSINSLOT', slot, batch)) as string[];
    if (keys.length === 0) {
      if (Date.now() - t0 >= holdMs) break;
      await delay(20);
      continue;
    }
    const r = await src.call('MIGRATE', dstNode.host, dstNode.port, '', 0, 10_000, 'KEYS', ...keys);
    if (r !== 'OK' && r !== 'NOKEY') throw new Error(`MIGRATE: ${String(r)}`);
    migrated += keys.length;
    batches++;
    await delay(20);
  }
  await dst.call('CLUSTER', 'SETSLOT', slot, 'NODE', c.ids[to]!);
  await src.call('CLUSTER', 'SETSLOT', slot, 'NODE', c.ids[to]!);
  for (let i = 0; i < c.clients.length; i++) {
    if (i !== from && i !== to) await c.clients[i]!.call('CLUSTER', 'SETSLOT', slot, 'NODE', c.ids[to]!);
  }
  return { migrated, batches, migratingMs: Date.now() - t0 };
}
