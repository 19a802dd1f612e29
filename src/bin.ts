#!/usr/bin/env node
/** The `rdbmerge` executable: everything happens in main(); this only exits with its code. */
import { main } from './cli.js';

// A reader that goes away after main() returned (`| head`) must not crash the exit path.
process.stdout.on('error', () => undefined);

const code = await main(process.argv);
process.exit(code);
