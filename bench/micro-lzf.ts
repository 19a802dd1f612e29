/**
 * Microbenchmark for native-free-parser/lzf.ts: compression and decompression throughput in MB/s
 * of uncompressed data, for a few data shapes (text-like, repetitive, all zeros), both as one
 * 16 MiB stream and as many 1 KiB values (the size of a typical compressed Redis string).
 *
 * Run: node --import @tapjs/typescript/import bench/micro-lzf.ts   (or the compiled dist/bench/)
 */
import { lzfCompress, lzfDecompress } from '../native-free-parser/lzf.js';

const RUNS = 5;
const te = new TextEncoder();

function xorshift(seed: number): () => number {
  let x = seed | 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return x >>> 0;
  };
}

function textLike(n: number): Uint8Array {
  const words = ['user', 'session', 'id', 'name', 'value', 'redis', 'the', 'and', 'of', '2024', ':', '{', '}', '"'];
  const r = xorshift(7);
  const parts: string[] = [];
  let len = 0;
  while (len < n) {
    const w = words[r() % words.length]! + (r() % 4 === 0 ? String(r() % 100000) : '') + ' ';
    parts.push(w);
    len += w.length;
  }
  return te.encode(parts.join('').slice(0, n));
}

function repetitive(n: number): Uint8Array {
  const unit = te.encode('field:0123456789abcdef;');
  return Uint8Array.from({ length: n }, (_, i) => unit[i % unit.length]!);
}

function timeBest(fn: () => void): number {
  let best = Infinity;
  for (let r = 0; r < RUNS; r++) {
    const t0 = performance.now();
    fn();
    best = Math.min(best, performance.now() - t0);
  }
  return best;
}

function report(label: string, bytes: number, ms: number): void {
  const mbs = bytes / (1024 * 1024) / (ms / 1000);
  console.log(`${label.padEnd(40)} ${ms.toFixed(1).padStart(8)} ms  ${mbs.toFixed(0).padStart(6)} MB/s`);
}

const BIG = 16 * 1024 * 1024;
const SMALL = 1024;
let sink = 0;

for (const [name, data] of [
  ['text', textLike(BIG)],
  ['repetitive', repetitive(BIG)],
  ['zeros', new Uint8Array(BIG)],
] as Array<[string, Uint8Array]>) {
  const packed = lzfCompress(data)!;
  report(`compress ${name} 16 MiB (ratio ${(packed.length / data.length).toFixed(3)})`, BIG, timeBest(() => {
    sink ^= lzfCompress(data)!.length;
  }));
  report(`decompress ${name} 16 MiB`, BIG, timeBest(() => {
    sink ^= lzfDecompress(packed, BIG).length;
  }));

  // Many small values, as in an RDB full of compressed strings.
  const values: Uint8Array[] = [];
  for (let off = 0; off + SMALL <= 4 * 1024 * 1024; off += SMALL) values.push(data.subarray(off, off + SMALL));
  const packedValues = values.map((v) => lzfCompress(v)!);
  const total = values.length * SMALL;
  report(`compress ${name} ${values.length} x 1 KiB`, total, timeBest(() => {
    for (const v of values) sink ^= lzfCompress(v)!.length;
  }));
  report(`decompress ${name} ${values.length} x 1 KiB`, total, timeBest(() => {
    for (const p of packedValues) sink ^= lzfDecompress(p, SMALL).length;
  }));
}
console.log(`(sink ${sink})`);
