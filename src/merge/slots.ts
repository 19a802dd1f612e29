/**
 * Redis Cluster key slots: CRC16 (XMODEM: poly 0x1021, init 0) of the key, or of its hash tag
 * (the bytes between the first `{` and the next `}`, when not empty), modulo 16384 — redis
 * `src/cluster.c keyHashSlot`. And the slot layouts merge can split by.
 */
import { readFile } from 'node:fs/promises';
import { UsageError } from '../errors.js';

export const SLOTS = 16384;

const TABLE = new Uint16Array(256);
for (let n = 0; n < 256; n++) {
  let c = n << 8;
  for (let k = 0; k < 8; k++) c = c & 0x8000 ? ((c << 1) ^ 0x1021) & 0xffff : (c << 1) & 0xffff;
  TABLE[n] = c;
}

export function crc16(b: Uint8Array, start = 0, end = b.length): number {
  let crc = 0;
  for (let i = start; i < end; i++) crc = ((crc << 8) & 0xffff) ^ TABLE[((crc >> 8) ^ b[i]!) & 0xff]!;
  return crc;
}

/** The cluster slot of a key. */
export function keySlot(key: Uint8Array): number {
  const open = key.indexOf(0x7b); // {
  if (open >= 0) {
    const close = key.indexOf(0x7d, open + 1); // }
    if (close > open + 1) return crc16(key, open + 1, close) & (SLOTS - 1);
  }
  return crc16(key) & (SLOTS - 1);
}

/** One output shard: the slot ranges it owns (inclusive), and the node it is for. */
export interface Shard {
  index: number;
  ranges: Array<[number, number]>;
  nodeId?: string;
  address?: string;
}

/** N shards of contiguous, near-equal slot ranges, as `redis-cli --cluster create` assigns them. */
export function splitSlots(n: number): Shard[] {
  if (!Number.isInteger(n) || n < 1 || n > SLOTS) throw new UsageError(`--split-slots: a number from 1 to ${SLOTS}, found ${n}`);
  // redis-cli clusterManagerCommandCreate: slots_per_node = 16384 / (float) masters; node i gets
  // [first, last] with last = lround(cursor + slots_per_node - 1) in single-precision floats,
  // the final node up to 16383.
  const f = Math.fround;
  const per = f(SLOTS / n);
  const shards: Shard[] = [];
  let first = 0;
  let cursor = f(0);
  for (let i = 0; i < n; i++) {
    let last = Math.round(f(f(cursor + per) - 1));
    if (last > SLOTS || i === n - 1) last = SLOTS - 1;
    if (last < first) last = first;
    shards.push({ index: i, ranges: [[first, last]] });
    first = last + 1;
    cursor = f(cursor + per);
  }
  return shards;
}

/**
 * Masters and their slots from `CLUSTER NODES` output or a nodes.conf file. Lines: `<id>
 * <ip:port@cport[,hostname]> <flags> <master> <ping> <pong> <epoch> <link> <slot> ...`; slots are
 * `N` or `A-B`; importing/migrating entries (`[...]`) are ignored. Shards in slot order.
 */
export async function shardsFromClusterNodes(path: string): Promise<Shard[]> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    throw new UsageError(`--cluster-nodes: cannot read ${path}: ${(e as Error).message}`);
  }
  return parseClusterNodes(text, path);
}

export function parseClusterNodes(text: string, name = 'cluster nodes'): Shard[] {
  const shards: Shard[] = [];
  const owner = new Int32Array(SLOTS).fill(-1);
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('vars ')) continue;
    const f = line.split(/\s+/);
    if (f.length < 8) throw new UsageError(`${name}: not a CLUSTER NODES line: ${line.slice(0, 80)}`);
    const flags = f[2]!.split(',');
    if (!flags.includes('master') || flags.includes('fail') || flags.includes('noaddr')) continue;
    const ranges: Array<[number, number]> = [];
    for (const s of f.slice(8)) {
      if (s.startsWith('[')) continue;
      const m = /^(\d+)(?:-(\d+))?$/.exec(s);
      if (m === null) throw new UsageError(`${name}: bad slot range ${s}`);
      const a = Number(m[1]);
      const b = m[2] === undefined ? a : Number(m[2]);
      if (a > b || b >= SLOTS) throw new UsageError(`${name}: bad slot range ${s}`);
      ranges.push([a, b]);
    }
    if (ranges.length === 0) continue;
    const idx = shards.length;
    for (const [a, b] of ranges) {
      for (let s = a; s <= b; s++) {
        if (owner[s] !== -1) throw new UsageError(`${name}: slot ${s} owned by two masters`);
        owner[s] = idx;
      }
    }
    shards.push({ index: idx, ranges, nodeId: f[0]!, address: f[1]!.split('@')[0]! });
  }
  if (shards.length === 0) throw new UsageError(`${name}: no master owning slots`);
  const missing = owner.indexOf(-1);
  if (missing >= 0) throw new UsageError(`${name}: slot ${missing} has no master`, 'a merge split by nodes needs every slot covered');
  shards.sort((x, y) => x.ranges[0]![0] - y.ranges[0]![0]);
  shards.forEach((s, i) => { s.index = i; });
  return shards;
}

/** A slot → shard index table. */
export function slotTable(shards: readonly Shard[]): Uint16Array {
  const t = new Uint16Array(SLOTS);
  for (const s of shards) for (const [a, b] of s.ranges) for (let x = a; x <= b; x++) t[x] = s.index;
  return t;
}
