/**
 * Worker threads started before the command line loads (src/pipelines/memory-early.ts): which
 * command lines start them, and the scan's pool taking them over.
 */
import t from 'tap';
import { mkdtempSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { memoryWorkersFor, PARALLEL_MIN_BYTES, startEarlyWorkers, takeEarlyWorker } from '../src/pipelines/memory-early.js';
import { writeMemory } from '../src/pipelines/inspect-memory.js';
import { startMemoryThreads } from '../src/pipelines/memory-parallel.js';
import { fixturePath } from './helpers/fixtures.js';

const work = mkdtempSync(join(tmpdir(), 'rdbmerge-early-'));
t.teardown(() => rmSync(work, { recursive: true, force: true }));

t.test('the command lines that start workers early', async (t) => {
  // A sparse file of the parallel size: no disk written.
  const big = join(work, 'big.rdb');
  writeFileSync(big, '');
  truncateSync(big, PARALLEL_MIN_BYTES);
  const small = fixturePath('redis-7.0.15-types.rdb');
  const cores = Math.min(8, availableParallelism());
  const cases: Array<[string[], number]> = [
    [['inspect', '--format', 'memory', big], cores - 1],
    [['inspect', big, '--format=memory', '--threads', '4'], 3],
    [['inspect', '--threads=3', '--format', 'memory', '-q', big], 2],
    [['inspect', '--format', 'memory', '--threads', '1', big], 0],
    [['inspect', '--format', 'memory', small], 0],
    [['inspect', '--format', 'report', big], 0],
    [['inspect', big], 0],
    [['merge', '--format', 'memory', big], 0],
    [['inspect', '--format', 'memory', '--threads', 'x', big], 0],
    [['inspect', '--format', 'memory', join(work, 'missing.rdb'), '-'], 0],
  ];
  for (const [args, n] of cases) t.equal(memoryWorkersFor(args), Math.max(0, n), args.join(' '));
});

t.test('the pool takes the workers started early', async (t) => {
  startEarlyWorkers(2);
  // A pool of 2 workers takes both, and is kept for the scan once they have loaded (under the
  // tests' TypeScript loader that takes seconds: the scan would otherwise run every span itself).
  await startMemoryThreads(3);
  t.equal(takeEarlyWorker(), undefined, 'both taken by the pool');
  const r = await writeMemory([fixturePath('redis-7.4.1-types.rdb')], { threads: 3, parallelMinBytes: 0, chunkBytes: 1024 }, async () => undefined);
  t.ok(r.spansOnWorkers > 0, `${r.spansOnWorkers} of ${r.spans} spans on the workers started early`);
});
