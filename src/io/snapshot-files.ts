/**
 * The files `fetch` leaves in its directory: `<host>-<port>.rdb` (verified by the codec before it
 * is renamed into place) and `<host>-<port>.meta.json`, whose `snapshotTime` merge's
 * `--rebase-expiry` reads (io/files.ts `snapshotTimeFromDisk`) when the RDB has no `ctime` aux field.
 */
import { atomicWrite } from './files.js';
import { readRdbFile } from './rdb-file.js';
import type { RedisUri } from '../values.js';

/** What DIR/<host>-<port>.meta.json holds. merge reads `snapshotTime` (Unix ms). */
export interface FetchMeta {
  source: string;
  host: string;
  port: number;
  via: 'native' | 'replica';
  protocol: 'psync' | 'sync' | 'replicaof';
  serverVersion: string | null;
  rdbVersion: number;
  bytes: number;
  keys: number;
  /** Unix ms: when the snapshot was taken (FULLRESYNC arrival; SYNC sent; REPLICAOF NO ONE). */
  snapshotTime: number;
  snapshotTimeIso: string;
  snapshotTimeFrom: string;
  replid: string | null;
  offset: number | null;
  fetchedAt: string;
}

/** `<host>-<port>`, safe as a file name (IPv6 colons become underscores). */
export function sourceFileStem(uri: RedisUri): string {
  return `${uri.host.replace(/[^A-Za-z0-9._-]/g, '_')}-${uri.port}`;
}

/**
 * Reads a finished RDB file through the codec: its structure, its CRC-64 (when it has one), and
 * its keys and version.
 * @throws the codec's RdbError (corrupt, truncated, checksum) naming the file
 */
export async function verifyRdb(path: string, maxValueSize: number, onKeys?: (keys: number, bytes: number) => void): Promise<{ keys: number; version: number; size: number }> {
  let keys = 0;
  let version = 0;
  let size = 0;
  for await (const batch of readRdbFile(path, { maxValueSize, verifyChecksum: true })) {
    for (const r of batch) {
      if (r.kind === 'key') keys++;
      else if (r.kind === 'header') version = r.version;
      else if (r.kind === 'eof') size = r.size;
    }
    const last = batch[batch.length - 1];
    if (last !== undefined && last.kind === 'key') onKeys?.(keys, last.offset);
  }
  return { keys, version, size };
}

/** Writes DIR/<stem>.meta.json atomically. */
export async function writeMeta(path: string, meta: FetchMeta): Promise<void> {
  const f = await atomicWrite(path);
  try {
    await f.write(Buffer.from(`${JSON.stringify(meta, null, 2)}\n`));
    await f.commit();
  } catch (e) {
    await f.abort();
    throw e;
  }
}
