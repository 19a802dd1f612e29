/**
 * Microbenchmark for native-free-parser/crc64.ts: CRC-64/Jones throughput over a 64 MiB buffer,
 * fed in one call and in 64 KiB chunks (the reader's typical chunk size), best of several runs.
 *
 * Run: node --import @tapjs/typescript/import bench/micro-crc64.ts   (or the compiled dist/bench/)
 */
import { Crc64 } from '../native-free-parser/crc64.js';

const SIZE = 64 * 1024 * 1024;
const RUNS = 7;

function fill(buf: Uint8Array): void {
  // xorshift32: deterministic pseudo-random bytes, cheap to generate.
  let x = 0x9e3779b9;
  for (let i = 0; i < buf.length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    buf[i] = x;
  }
}

function best(label: string, fn: () => void): void {
  let bestMs = Infinity;
  for (let r = 0; r < RUNS; r++) {
    const t0 = performance.now();
    fn();
    const ms = performance.now() - t0;
    if (ms < bestMs) bestMs = ms;
  }
  const mbs = SIZE / (1024 * 1024) / (bestMs / 1000);
  console.log(`${label.padEnd(28)} ${bestMs.toFixed(1).padStart(8)} ms  ${mbs.toFixed(0).padStart(6)} MB/s`);
}

const buf = new Uint8Array(SIZE);
fill(buf);
const crc = new Crc64();
let sink = 0;

best('crc64 one-shot 64 MiB', () => {
  crc.reset();
  crc.update(buf);
  sink ^= crc.lo;
});
best('crc64 64 KiB chunks', () => {
  crc.reset();
  for (let off = 0; off < SIZE; off += 65536) crc.update(buf, off, off + 65536);
  sink ^= crc.lo;
});
best('crc64 unaligned (+1) start', () => {
  crc.reset();
  crc.update(buf, 1);
  sink ^= crc.lo;
});
best('crc64 100-byte records', () => {
  crc.reset();
  for (let off = 0; off + 100 <= SIZE; off += 100) crc.update(buf, off, off + 100);
  sink ^= crc.lo;
});
console.log(`(checksum sink ${sink >>> 0})`);
