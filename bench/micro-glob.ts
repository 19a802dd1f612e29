/**
 * Microbenchmark for src/glob.ts: `--match` runs once per key, so the compiled matcher must stay
 * far below the reader's per-key cost. 1 M keys like `user:123456:session`, best of several runs,
 * for each fast path and the general matcher, against the recursive reference port.
 *
 * Run: node --import @tapjs/typescript/import bench/micro-glob.ts   (or the compiled dist/bench/)
 */
import { compileGlob, stringMatchLen } from '../src/glob.js';

const N = 1_000_000;
const RUNS = 5;
const te = new TextEncoder();
const keys: Uint8Array[] = [];
for (let i = 0; i < N; i++) keys.push(te.encode(`${i % 3 === 0 ? 'user' : 'order'}:${i}:${i % 7 === 0 ? 'session' : 'profile'}`));

let sink = 0;

function best(label: string, fn: () => number): void {
  let bestMs = Infinity;
  for (let r = 0; r < RUNS; r++) {
    const t0 = performance.now();
    sink += fn();
    const ms = performance.now() - t0;
    if (ms < bestMs) bestMs = ms;
  }
  console.log(`${label.padEnd(34)} ${bestMs.toFixed(1).padStart(8)} ms  ${((N / bestMs) * 1000 / 1e6).toFixed(1).padStart(6)} M keys/s`);
}

for (const p of ['user:1:session', 'user:*', '*:session', '*:12*', 'user:[0-9]*:s?ssion', '*[13579]:*e*']) {
  const m = compileGlob(p);
  best(`compiled ${p}`, () => {
    let n = 0;
    for (const k of keys) if (m(k)) n++;
    return n;
  });
}
const pat = te.encode('user:[0-9]*:s?ssion');
best('reference user:[0-9]*:s?ssion', () => {
  let n = 0;
  for (const k of keys) if (stringMatchLen(pat, k)) n++;
  return n;
});
console.log(`(sink ${sink})`);
