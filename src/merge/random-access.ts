/**
 * Re-reads records of the inputs by offset: the collision index stores only (input, offset), and
 * comes back here to compare key bytes exactly, and verify to compare values.
 */
import { open } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import { parseKeyAt } from '../../native-free-parser/index.js';
import type { KeyRecord, ReadOptions } from '../../native-free-parser/index.js';

interface Source {
  path: string;
  fh: FileHandle | null;
  header: { version: number; magic: 'REDIS' | 'VALKEY' } | null;
}

const FIRST_READ = 4096;

export class RandomAccess {
  private readonly sources: Source[];
  private readonly opts: ReadOptions;
  reads = 0;

  constructor(paths: string[], opts: ReadOptions = {}) {
    this.sources = paths.map((path) => ({ path, fh: null, header: null }));
    this.opts = opts;
  }

  /** Records the header of input `i` (read by the streaming pass). */
  setHeader(i: number, version: number, magic: 'REDIS' | 'VALKEY'): void {
    this.sources[i]!.header = { version, magic };
  }

  private async handle(i: number): Promise<FileHandle> {
    const s = this.sources[i]!;
    if (s.fh === null) s.fh = await open(s.path, 'r');
    return s.fh;
  }

  private async read(i: number, offset: number, keyOnly: boolean): Promise<KeyRecord> {
    const s = this.sources[i]!;
    if (s.header === null) throw new Error(`rdbmerge internal: no header recorded for input ${i}`);
    const fh = await this.handle(i);
    let want = FIRST_READ;
    for (;;) {
      const buf = Buffer.allocUnsafe(want);
      const { bytesRead } = await fh.read(buf, 0, want, offset);
      this.reads++;
      const view = new Uint8Array(buf.buffer, buf.byteOffset, bytesRead);
      const r = parseKeyAt(view, offset, s.header, { ...this.opts, source: s.path }, keyOnly);
      if (typeof r !== 'number') return r;
      if (bytesRead < want) {
        throw new Error(`rdbmerge internal: record at ${s.path} offset ${offset} runs past the end of the file`);
      }
      want = Math.max(r - offset, want * 2);
    }
  }

  /** The key bytes of the record at `offset` of input `i`. */
  async keyAt(i: number, offset: number): Promise<Uint8Array> {
    return (await this.read(i, offset, true)).key;
  }

  /** The whole key record at `offset` of input `i` (db left 0: the caller knows it). */
  async recordAt(i: number, offset: number): Promise<KeyRecord> {
    return this.read(i, offset, false);
  }

  async close(): Promise<void> {
    for (const s of this.sources) {
      if (s.fh !== null) await s.fh.close();
      s.fh = null;
    }
  }
}
