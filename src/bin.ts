#!/usr/bin/env node
/** The `rdbmerge` executable: everything happens in main(); this only exits with its code. */
import { memoryWorkersFor, startEarlyWorkers } from './pipelines/memory-early.js';

// `inspect --format memory` of a big file: its worker threads load while the command line does
// (src/pipelines/memory-early.ts).
const early = memoryWorkersFor(process.argv.slice(2));
if (early > 0) startEarlyWorkers(early);

const { main } = await import('./cli.js');

// A reader that goes away after main() returned (`| head`) must not crash the exit path.
process.stdout.on('error', () => undefined);

const code = await main(process.argv);
process.exit(code);
