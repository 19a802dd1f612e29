/**
 * Re-reads records of the inputs by offset: the collision index stores only (input, offset), and
 * comes back here to compare key bytes exactly, verify and diff to compare values.
 *
 * Lookups come one a key (diff and verify do a million of them), so the path is synchronous and
 * cheap: one parser reused per input, and reads with `readSync`, one small pread mostly served by
 * the page cache (a few microseconds; the same read through libuv's thread pool costs ten times
 * that, plus a promise per key). Records are often re-read in runs that follow the file's order
 * (diff of a file against a copy, verify of a merge): the bytes of the last read stay as a
 * window, which grows (up to 256 KiB) while requests land in it or just past it and falls back to
 * 4 KiB when they jump around, so scattered lookups read little.
 */
import { closeSync, openSync, readSync } from 'node:fs';
import { parseKeyAt, RdbParser } from '../../native-free-parser/index.js';
import type { KeyRecord, ReadOptions } from '../../native-free-parser/index.js';

interface Source {
  path: string;
  fd: number | null;
  header: { version: number; magic: 'REDIS' | 'VALKEY' } | null;
  parser: RdbParser | null;
  /** The last bytes read, from file offset `winStart`: records inside it need no read. */
  win: Uint8Array | null;
  winStart: number;
  /** Bytes the next read takes. */
  winSize: number;
}

const FIRST_READ = 4096;
/** The largest window a run of nearby reads grows to... */
const MAX_WINDOW = 256 * 1024;
/** ...and what all inputs' windows may hold together (many inputs: smaller windows). */
const ALL_WINDOWS = 16 * 1024 * 1024;

export class RandomAccess {
  private readonly sources: Source[];
  private readonly opts: ReadOptions;
  private readonly maxWindow: number;
  /** preads done. */
  reads = 0;
  /** Records found in the window of an earlier read. */
  hits = 0;

  constructor(paths: string[], opts: ReadOptions = {}) {
    this.maxWindow = Math.max(FIRST_READ, Math.min(MAX_WINDOW, Math.floor(ALL_WINDOWS / Math.max(1, paths.length))));
    this.sources = paths.map((path) => ({ path, fd: null, header: null, parser: null, win: null, winStart: 0, winSize: FIRST_READ }));
    this.opts = opts;
  }

  /** Records the header of input `i` (read by the streaming pass). */
  setHeader(i: number, version: number, magic: 'REDIS' | 'VALKEY'): void {
    this.sources[i]!.header = { version, magic };
  }

  private parse(s: Source, buf: Uint8Array, offset: number, keyOnly: boolean): KeyRecord | number {
    s.parser ??= new RdbParser({ ...this.opts, source: s.path });
    return parseKeyAt(buf, offset, s.header!, s.parser.opts, keyOnly, s.parser);
  }

  private read(i: number, offset: number, keyOnly: boolean): KeyRecord {
    const s = this.sources[i]!;
    if (s.header === null) throw new Error(`rdbmerge internal: no header recorded for input ${i}`);
    if (s.win !== null && offset >= s.winStart && offset < s.winStart + s.win.length) {
      const r = this.parse(s, s.win.subarray(offset - s.winStart), offset, keyOnly);
      if (typeof r !== 'number') {
        this.hits++;
        return r;
      }
      // The record runs past the window: a fresh read from its start, large enough.
      s.winSize = Math.min(this.maxWindow, s.winSize * 2);
      return this.readAt(s, offset, keyOnly, Math.max(r - offset, s.winSize));
    }
    const near = s.win !== null && offset >= s.winStart && offset < s.winStart + s.win.length + this.maxWindow;
    s.winSize = near ? Math.min(this.maxWindow, s.winSize * 2) : FIRST_READ;
    return this.readAt(s, offset, keyOnly, s.winSize);
  }

  private readAt(s: Source, offset: number, keyOnly: boolean, size: number): KeyRecord {
    s.fd ??= openSync(s.path, 'r');
    let want = size;
    for (;;) {
      const buf = Buffer.allocUnsafe(want);
      const bytesRead = readSync(s.fd, buf, 0, want, offset);
      this.reads++;
      const view = new Uint8Array(buf.buffer, buf.byteOffset, bytesRead);
      s.win = view;
      s.winStart = offset;
      const r = this.parse(s, view, offset, keyOnly);
      if (typeof r !== 'number') return r;
      if (bytesRead < want) {
        throw new Error(`rdbmerge internal: record at ${s.path} offset ${offset} runs past the end of the file`);
      }
      want = Math.max(r - offset, want * 2);
    }
  }

  /** The key bytes of the record at `offset` of input `i`. */
  keyAtSync(i: number, offset: number): Uint8Array {
    return this.read(i, offset, true).key;
  }

  /** The whole key record at `offset` of input `i` (db left 0: the caller knows it). */
  recordAtSync(i: number, offset: number): KeyRecord {
    return this.read(i, offset, false);
  }

  /** {@link keyAtSync} as a promise (the collision index's KeyFetcher). */
  keyAt(i: number, offset: number): Promise<Uint8Array> {
    try {
      return Promise.resolve(this.read(i, offset, true).key);
    } catch (e) {
      return Promise.reject(e as Error);
    }
  }

  /** {@link recordAtSync} as a promise. */
  recordAt(i: number, offset: number): Promise<KeyRecord> {
    try {
      return Promise.resolve(this.read(i, offset, false));
    } catch (e) {
      return Promise.reject(e as Error);
    }
  }

  async close(): Promise<void> {
    for (const s of this.sources) {
      if (s.fd !== null) closeSync(s.fd);
      s.fd = null;
      s.win = null;
      s.parser = null;
    }
  }
}
