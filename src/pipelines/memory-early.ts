/**
 * The memory scan's worker threads, started before the command line has loaded.
 *
 * A worker needs about a tenth of a second to load its modules, and the command line as long
 * again before it reaches the scan; meanwhile the machine's other cores idle. `rdbmerge inspect
 * --format memory` of a big file (src/bin.ts asks {@link memoryWorkersFor}) therefore starts its
 * workers first, and the scan's pool (memory-parallel.ts) takes them over instead of starting
 * its own. The arguments are only a hint read here: anything unusual starts no worker early, and
 * the pool starts what it needs when the command runs. A worker started early and not used
 * (an error in the arguments, a small file) holds nothing and does not keep the process alive.
 *
 * No imports beyond Node's own: this module loads before everything else.
 */
import { statSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';

/** Workers run the compiled module next to this one (.js), or under the TypeScript loader (.ts). */
export const WORKER_URL = new URL(`./memory-thread${import.meta.url.endsWith('.ts') ? '.ts' : '.js'}`, import.meta.url);

/** Smallest file read with worker threads by default (inspect-memory.ts `parallelMinBytes`). */
export const PARALLEL_MIN_BYTES = 256 * 1024 * 1024;

/** Threads by default (the main thread and its workers): the machine's cores, at most 8. */
export function defaultThreads(): number {
  return Math.min(8, availableParallelism());
}

/** A worker started early: whether it has loaded, or failed. */
export interface EarlyWorker {
  worker: Worker;
  ready: boolean;
  failed: boolean;
}

const early: EarlyWorker[] = [];

/** Starts `n` memory workers now. */
export function startEarlyWorkers(n: number): void {
  for (let i = 0; i < n; i++) {
    const worker = new Worker(WORKER_URL);
    worker.unref();
    const rec: EarlyWorker = { worker, ready: false, failed: false };
    const onMessage = (m: unknown): void => {
      if (m !== 'ready') return;
      rec.ready = true;
      worker.off('message', onMessage);
    };
    worker.on('message', onMessage);
    worker.once('error', () => {
      rec.failed = true;
    });
    worker.once('exit', () => {
      rec.failed = true;
    });
    early.push(rec);
  }
}

/** A worker started early and not taken yet (the pool takes each once), or undefined. */
export function takeEarlyWorker(): EarlyWorker | undefined {
  for (;;) {
    const w = early.shift();
    if (w === undefined || !w.failed) return w;
    void w.worker.terminate();
  }
}

/**
 * The workers worth starting early for the command line `args` (process.argv without node and
 * the script): `inspect` with `--format memory` and an input file of at least 256 MiB, `--threads`
 * minus one (default: the cores minus one); else 0.
 */
export function memoryWorkersFor(args: readonly string[]): number {
  if (args[0] !== 'inspect') return 0;
  let memory = false;
  let big = false;
  let threads = defaultThreads();
  for (let i = 1; i < args.length; i++) {
    const a = args[i]!;
    if (a === '--format' || a === '--threads') {
      const v = args[++i];
      if (a === '--format') memory = v === 'memory';
      else threads = Number(v);
    } else if (a.startsWith('--format=')) {
      memory = a === '--format=memory';
    } else if (a.startsWith('--threads=')) {
      threads = Number(a.slice('--threads='.length));
    } else if (!a.startsWith('-')) {
      // An input, or some option's value: a path that is not a big file does not count.
      try {
        if (statSync(a).size >= PARALLEL_MIN_BYTES) big = true;
      } catch {
        // not a file
      }
    }
  }
  return memory && big && Number.isInteger(threads) && threads >= 2 ? Math.min(threads, 64) - 1 : 0;
}
