/**
 * Worker thread of ParallelCrc (src/io/rdb-file.ts): CRC-64 of an input's chunks, in order, on
 * the second core while the main thread parses. Chunks arrive as SharedArrayBuffer views, so
 * nothing is copied. Messages: {reset} (a new input), {chunk: Uint8Array} and {digest: n} (the CRC
 * of the first n bytes, answered as 8 bytes little-endian).
 */
import { parentPort } from 'node:worker_threads';
import { Crc64 } from '../../native-free-parser/index.js';

interface Seen {
  start: number;
  lo: number;
  hi: number;
  data: Uint8Array;
}

const crc = new Crc64();
let done = 0;
// The register at the start of the last two chunks, to answer for a prefix ending inside them.
let prev: Seen | null = null;
let last: Seen | null = null;

parentPort!.on('message', (m: { chunk?: Uint8Array; digest?: number; reset?: boolean }) => {
  if (m.reset === true) {
    crc.reset();
    done = 0;
    prev = null;
    last = null;
    return;
  }
  if (m.chunk !== undefined) {
    prev = last;
    last = { start: done, lo: crc.lo, hi: crc.hi, data: m.chunk };
    crc.update(m.chunk);
    done += m.chunk.length;
    return;
  }
  if (m.digest !== undefined) {
    const n = m.digest;
    let out: Uint8Array | null = null;
    if (n === done) out = crc.digestBytes();
    for (const s of [last, prev]) {
      if (out !== null || s === null) continue;
      if (n >= s.start && n <= s.start + s.data.length) {
        const c = new Crc64();
        c.setState(s.lo, s.hi);
        c.update(s.data, 0, n - s.start);
        out = c.digestBytes();
      }
    }
    parentPort!.postMessage({ digest: out });
  }
});
