/**
 * Reading an RDB file as fast as the machine allows: 1 MiB chunks parsed on the main thread while
 * a worker thread computes the CRC-64 of the same file, reading it itself (the CRC is about a
 * third of a parse's cost, and the machine has a second core). Handing chunks over instead was
 * tried: copies cost more than they save, and SharedArrayBuffers are freed so lazily that a
 * 300 MB file drove the peak RSS to 380 MB. The codec's own inline CRC check is used where no
 * worker can run (stdin, or running from TypeScript sources).
 */
import { open, stat } from 'node:fs/promises';
import { Worker } from 'node:worker_threads';
import { checksumMismatch, readRdb } from '../../native-free-parser/index.js';
import type { RdbRecord, ReadOptions } from '../../native-free-parser/index.js';

const CHUNK = 1024 * 1024;
const WORKER_URL = new URL('./crc-thread.js', import.meta.url);
/** Workers need the compiled JavaScript; under a TypeScript loader the reader checks inline. */
const CAN_USE_WORKER = import.meta.url.endsWith('.js');
/** Below this size the inline CRC costs less than the hand-off to the worker. */
const WORKER_MIN_BYTES = 4 * 1024 * 1024;

/** A CRC-64 computed by a worker thread over the chunks pushed to it. */
class ParallelCrc {
  private readonly worker: Worker;
  private waiting: ((b: Uint8Array | null) => void) | null = null;
  private failed: Error | null = null;

  constructor() {
    this.worker = new Worker(WORKER_URL);
    this.worker.unref();
    this.worker.on('message', (m: { digest: Uint8Array | null }) => {
      this.worker.unref();
      const w = this.waiting;
      this.waiting = null;
      w?.(m.digest);
    });
    this.worker.on('error', (e) => {
      this.failed = e;
      const w = this.waiting;
      this.waiting = null;
      w?.(null);
    });
  }

  /** Starts the CRC of a file. */
  start(path: string): void {
    this.worker.postMessage({ start: path });
  }

  /** The CRC-64 (8 bytes LE) of the first `n` bytes pushed; null if the worker cannot tell. */
  digest(n: number): Promise<Uint8Array | null> {
    if (this.failed !== null) return Promise.resolve(null);
    return new Promise((resolve) => {
      this.waiting = resolve;
      this.worker.ref(); // keep the process alive until the answer arrives
      this.worker.postMessage({ digest: n });
    });
  }

  async close(): Promise<void> {
    await this.worker.terminate();
  }
}

/** One idle worker is kept for the next file (inputs are usually read one after another). */
let idle: ParallelCrc | null = null;

function acquire(): ParallelCrc {
  const w = idle ?? new ParallelCrc();
  idle = null;
  return w;
}

function release(w: ParallelCrc, healthy: boolean): void {
  if (healthy && idle === null) idle = w;
  else void w.close();
}

async function* fileChunks(path: string): AsyncGenerator<Uint8Array> {
  const fh = await open(path, 'r');
  try {
    for (;;) {
      const view = new Uint8Array(CHUNK);
      const { bytesRead } = await fh.read(view, 0, CHUNK, null);
      if (bytesRead === 0) return;
      yield bytesRead === CHUNK ? view : view.subarray(0, bytesRead);
    }
  } finally {
    await fh.close();
  }
}

function hex(b: Uint8Array): string {
  let s = '';
  for (let i = 7; i >= 0; i--) s += b[i]!.toString(16).padStart(2, '0');
  return s;
}

/**
 * Reads an RDB file's records in batches, like the codec's readRdb, with the checksum verified
 * on a second thread when possible (the EOF record says 'ok' either way once verified).
 */
export async function* readRdbFile(path: string, opts: ReadOptions = {}): AsyncGenerator<RdbRecord[]> {
  const verify = opts.verifyChecksum !== false;
  const big = verify && CAN_USE_WORKER && (await stat(path)).size >= WORKER_MIN_BYTES;
  const crc = big ? acquire() : null;
  crc?.start(path);
  let healthy = false;
  try {
    const reader = readRdb(fileChunks(path), { source: path, ...opts, verifyChecksum: crc === null ? verify : false });
    for await (const batch of reader) {
      const last = batch[batch.length - 1];
      if (crc !== null && last?.kind === 'eof' && last.checksum === 'unchecked') {
        const got = await crc.digest(last.offset + 1);
        if (got === null) {
          // The worker failed: recompute inline rather than report an unchecked file.
          yield* inlineRecheck(path, opts, batch);
          return;
        }
        if (hex(got) !== last.stored) throw checksumMismatch(last.offset, hex(got), last.stored, path);
        last.checksum = 'ok';
      }
      yield batch;
    }
    healthy = true;
  } finally {
    if (crc !== null) release(crc, healthy);
  }
}

/** Fallback when the CRC worker died: a plain inline-checked read of the whole file for the CRC. */
async function* inlineRecheck(path: string, opts: ReadOptions, finalBatch: RdbRecord[]): AsyncGenerator<RdbRecord[]> {
  let eof: RdbRecord | undefined;
  for await (const b of readRdb(fileChunks(path), { ...opts, source: path, verifyChecksum: true })) {
    const l = b[b.length - 1];
    if (l?.kind === 'eof') eof = l;
  }
  const last = finalBatch[finalBatch.length - 1];
  if (eof?.kind === 'eof' && last?.kind === 'eof') last.checksum = eof.checksum;
  yield finalBatch;
}
