/**
 * One benchmark case in its own process, so its peak RSS is its own. Prints one JSON line:
 * {case, keys, bytes, seconds}. Usage: node dist/bench/worker.js <parse|decode> FILE
 *
 * `memory-warm FILE [RUNS]`: the memory CSV of FILE (writeMemory, the CLI's path, default threads,
 * the rows counted and dropped) RUNS times (default 4) in this one process, a JSON line per run:
 * the first pays the worker threads' start and the JIT's compiling, the last shows the steady rate
 * a long file or a fleet of dumps runs at.
 */
import { open } from 'node:fs/promises';
import { decodeValue, readRdb } from '../native-free-parser/index.js';
import { readRdbFile } from '../src/io/rdb-file.js';
import { writeMemory } from '../src/pipelines/inspect-memory.js';

const CHUNK = 1024 * 1024;

async function* fileChunks(path: string): AsyncGenerator<Uint8Array> {
  const fh = await open(path, 'r');
  try {
    for (;;) {
      const buf = Buffer.allocUnsafe(CHUNK);
      const { bytesRead } = await fh.read(buf, 0, CHUNK, null);
      if (bytesRead === 0) return;
      // A plain Uint8Array view: subarray() on a Buffer goes through a slower Buffer path.
      yield new Uint8Array(buf.buffer, buf.byteOffset, bytesRead);
    }
  } finally {
    await fh.close();
  }
}

async function memoryWarm(file: string, runs: number): Promise<void> {
  for (let r = 1; r <= runs; r++) {
    const t0 = performance.now();
    const cpu0 = process.cpuUsage();
    let out = 0;
    const res = await writeMemory([file], {}, async (b) => {
      out += b.length;
    });
    const cpu = process.cpuUsage(cpu0);
    const seconds = (performance.now() - t0) / 1000;
    process.stdout.write(`${JSON.stringify({ case: 'memory-warm', run: r, keys: res.keys, outBytes: out, seconds, cpuSeconds: (cpu.user + cpu.system) / 1e6 })}\n`);
  }
}

async function main(): Promise<void> {
  const [mode, file] = process.argv.slice(2);
  if (mode === 'memory-warm' && file !== undefined) {
    await memoryWarm(file, Number(process.argv[4] ?? 4));
    return;
  }
  if ((mode !== 'parse' && mode !== 'decode') || file === undefined) {
    process.stderr.write('usage: worker.js parse|decode FILE\n');
    process.exit(2);
  }
  const t0 = performance.now();
  let keys = 0;
  let bytes = 0;
  let elements = 0;
  let valkey = false;
  const inline = process.env['RDBMERGE_INLINE_CRC'] === '1';
  for await (const batch of inline ? readRdb(fileChunks(file), { source: file }) : readRdbFile(file)) {
    for (const r of batch) {
      if (r.kind === 'key') {
        keys++;
        if (mode === 'decode') {
          const v = decodeValue(r.type, r.payload, { offset: r.valueOffset, valkey });
          elements += Array.isArray(v.value) ? v.value.length : 1;
        }
      } else if (r.kind === 'eof') {
        bytes = r.size;
      } else if (r.kind === 'header') {
        valkey = r.magic === 'VALKEY';
      }
    }
  }
  const seconds = (performance.now() - t0) / 1000;
  process.stdout.write(`${JSON.stringify({ case: mode, keys, bytes, elements, seconds })}\n`);
}

main().catch((e: unknown) => {
  process.stderr.write(`${String((e as Error).stack ?? e)}\n`);
  process.exit(1);
});
