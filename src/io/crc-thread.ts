/**
 * Worker thread of src/io/rdb-file.ts: the CRC-64 of a file, computed on the second core while
 * the main thread parses the same file. The worker reads the file itself (the page cache serves
 * both readers), so no chunk crosses threads. It keeps the register at every chunk boundary, so
 * it can answer "the CRC of the first n bytes" for the n the parser finds (the EOF opcode), after
 * which come the stored checksum and possibly other data (an AOF tail).
 *
 * Messages in: {start: path} (begin a new file; the register goes back to zero),
 * {digest: n}. Out: {digest: Uint8Array(8) | null} (null when the file has fewer than n bytes).
 */
import { open } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import { parentPort } from 'node:worker_threads';
import { Crc64 } from '../../native-free-parser/index.js';

const CHUNK = 1024 * 1024;

interface Job {
  fh: FileHandle | null;
  /** Register (lo, hi) at the start of chunk i, i.e. after i * CHUNK bytes. */
  marks: number[];
  done: number;
  eof: boolean;
  waiters: Array<{ n: number; resolve: () => void }>;
}

let job: Job | null = null;
const buf = new Uint8Array(CHUNK);

async function run(path: string, j: Job): Promise<void> {
  const crc = new Crc64();
  try {
    j.fh = await open(path, 'r');
    for (;;) {
      if (job !== j) return; // superseded by a new file
      j.marks.push(crc.lo, crc.hi);
      const { bytesRead } = await j.fh.read(buf, 0, CHUNK, j.done);
      if (bytesRead === 0) break;
      crc.update(buf, 0, bytesRead);
      j.done += bytesRead;
      wake(j);
      if (bytesRead < CHUNK) break;
    }
  } catch {
    // unreadable: digests answer null and the main thread falls back to an inline check
  }
  j.eof = true;
  wake(j);
}

function wake(j: Job): void {
  j.waiters = j.waiters.filter((w) => {
    if (j.done >= w.n || j.eof) {
      w.resolve();
      return false;
    }
    return true;
  });
}

async function digest(j: Job, n: number): Promise<Uint8Array | null> {
  if (j.done < n && !j.eof) await new Promise<void>((resolve) => j.waiters.push({ n, resolve }));
  if (j.done < n || j.fh === null) return null;
  const k = Math.floor(n / CHUNK);
  const c = new Crc64();
  c.setState(j.marks[2 * k]!, j.marks[2 * k + 1]!);
  const rest = n - k * CHUNK;
  if (rest > 0) {
    const part = new Uint8Array(rest);
    const { bytesRead } = await j.fh.read(part, 0, rest, k * CHUNK);
    if (bytesRead !== rest) return null;
    c.update(part);
  }
  return c.digestBytes();
}

parentPort!.on('message', (m: { start?: string; digest?: number }) => {
  if (m.start !== undefined) {
    const old = job;
    job = { fh: null, marks: [], done: 0, eof: false, waiters: [] };
    if (old !== null) {
      old.eof = true;
      wake(old);
      void old.fh?.close();
    }
    void run(m.start, job);
    return;
  }
  if (m.digest !== undefined && job !== null) {
    const j = job;
    void digest(j, m.digest).then(
      (d) => parentPort!.postMessage({ digest: d }),
      () => parentPort!.postMessage({ digest: null }),
    );
  }
});
