/**
 * The command line: the only place that prints errors and decides exit codes
 * (../shared/docs/CLI.md). `main(argv, io)` runs one command and returns its exit code; src/bin.ts
 * passes that to process.exit. Tests call main with argv arrays and captured streams.
 *
 * Adding a command: write `src/commands/<name>.ts` exporting a RegisterCommand and list it in
 * COMMANDS below. Nothing else here changes.
 */
import { readFileSync } from 'node:fs';
import { Command, CommanderError } from 'commander';
import { isRdbError } from '../native-free-parser/index.js';
import { addOptions, GLOBAL_OPTIONS } from './cli-options.js';
import type { CliIo, CommandContext, RegisterCommand } from './commands/context.js';
import { registerDiff } from './commands/diff.js';
import { registerInspect } from './commands/inspect.js';
import { registerMerge } from './commands/merge.js';
import { registerPlan } from './commands/plan.js';
import { registerFetch } from './commands/fetch.js';
import { registerMigrate } from './commands/migrate.js';
import { registerReplay } from './commands/replay.js';
import { registerVerify } from './commands/verify.js';
import { EXIT, exitCodeFor, ToolError } from './errors.js';
import { abortAllAtomicWrites } from './io/files.js';
import { createSink, StdoutClosedError } from './io/output.js';

export type { CliIo } from './commands/context.js';

/** Every working command, in help order. */
export const COMMANDS: readonly RegisterCommand[] = [
  registerInspect, registerMerge, registerVerify, registerReplay, registerFetch, registerMigrate, registerDiff, registerPlan,
];

function packageVersion(): string {
  for (const rel of ['../../package.json', '../package.json']) {
    try {
      const pkg = JSON.parse(readFileSync(new URL(rel, import.meta.url), 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'rdbmerge' && typeof pkg.version === 'string') return pkg.version;
    } catch {
      // try the next layout (dist/src/cli.js or src/cli.ts)
    }
  }
  return '0.0.0';
}

function defaultIo(): CliIo {
  return {
    stdout: process.stdout,
    stderr: process.stderr,
    // Lazy: touching process.stdin opens it, which a command without `-` never needs.
    get stdin() {
      return process.stdin;
    },
    env: process.env,
  };
}

/** Commander's message as one line, without its `error: ` prefix. */
function commanderLine(e: CommanderError): string {
  return e.message.replace(/^error: /, '').replace(/\s*\n\s*/g, ' ').trim();
}

/**
 * Runs the command line `argv` (process.argv form: node, script, then arguments).
 * @returns the exit code of CLI.md. Never throws.
 */
export async function main(argv: readonly string[], io: Partial<CliIo> = {}): Promise<number> {
  const full = defaultIo();
  if (io.stdout !== undefined) full.stdout = io.stdout;
  if (io.stderr !== undefined) full.stderr = io.stderr;
  if (io.env !== undefined) full.env = io.env;
  if (io.stdin !== undefined) Object.defineProperty(full, 'stdin', { value: io.stdin });
  const startedAt = Date.now();
  const debug = argv.slice(2).includes('--debug');
  const ac = new AbortController();
  const out = createSink(full.stdout);
  const errWrite = (s: string): void => {
    try {
      full.stderr.write(s);
    } catch {
      // stderr gone: nothing left to tell
    }
  };
  const ctx: CommandContext = {
    io: full,
    startedAt,
    signal: ac.signal,
    out,
    errLine: (t) => errWrite(`${t}\n`),
    errRaw: errWrite,
    isTTY: (s) => (s as { isTTY?: boolean }).isTTY === true,
    exitCode: EXIT.ok,
  };

  let helpText = '';
  const program = new Command('rdbmerge')
    .description('Moves many Redis servers into one, working on their RDB snapshots (no Redis server needed).')
    .version(packageVersion(), '-V, --version', 'print the version')
    .exitOverride()
    .configureOutput({
      writeOut: (s) => {
        helpText += s;
      },
      writeErr: () => undefined, // commander's own errors are re-worded below, on one line
      outputError: () => undefined,
    })
    .configureHelp({ showGlobalOptions: true })
    .showHelpAfterError(false);
  addOptions(program, GLOBAL_OPTIONS);
  for (const register of COMMANDS) register(program, ctx);

  let interrupt: (() => void) | undefined;
  const interrupted = new Promise<'interrupted'>((resolve) => {
    interrupt = () => {
      ac.abort();
      resolve('interrupted');
    };
  });
  const onSignal = (): void => interrupt!();
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  const report = (e: unknown): number => {
    if (e instanceof StdoutClosedError || (out.closed && !(e instanceof ToolError) && !isRdbError(e))) return EXIT.ok;
    if (e instanceof CommanderError) {
      if (e.code === 'commander.helpDisplayed' || e.code === 'commander.version') return EXIT.ok;
      // `rdbmerge help [cmd]` exits 0; `rdbmerge` alone (help shown as an error) exits 1.
      if (e.code === 'commander.help' && e.exitCode === 0) return EXIT.ok;
      if (e.code === 'commander.help') {
        errWrite('rdbmerge: usage: missing command (rdbmerge --help lists them)\n');
        return EXIT.usage;
      }
      errWrite(`rdbmerge: usage: ${commanderLine(e)}\n`);
      return EXIT.usage;
    }
    const code = exitCodeFor(e);
    if (isRdbError(e)) {
      errWrite(`rdbmerge: ${e.message}\n`);
      if (e.hint !== undefined) errWrite(`hint: ${e.hint}\n`);
    } else if (e instanceof ToolError) {
      errWrite(`rdbmerge: ${e.kind}: ${e.message}\n`);
      if (e.hint !== undefined) errWrite(`hint: ${e.hint}\n`);
    } else {
      const msg = e instanceof Error ? e.message : String(e);
      errWrite(`rdbmerge: internal error (a bug: report it): ${msg.split('\n')[0]}\n`);
      if (!debug) errWrite('hint: run again with --debug for the stack trace\n');
    }
    if (debug && e instanceof Error && e.stack !== undefined) errWrite(`${e.stack}\n`);
    return code;
  };

  const run = program.parseAsync([...argv]).then(() => ctx.exitCode);
  run.catch(() => undefined); // reported below, or moot after an interrupt
  let code: number;
  try {
    const r = await Promise.race([run, interrupted]);
    if (r === 'interrupted') {
      // Let the pipeline see the aborted signal and run its own clean-up (a temp file still being
      // opened is not registered yet), for a moment; then remove whatever is left.
      await Promise.race([run.catch(() => undefined), new Promise((res) => setTimeout(res, 3000).unref())]);
      await abortAllAtomicWrites();
      errWrite('rdbmerge: interrupted\n');
      code = EXIT.interrupted;
    } else {
      code = r;
    }
  } catch (e) {
    await abortAllAtomicWrites();
    code = report(e);
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
  if (helpText !== '') {
    try {
      await out.write(helpText);
    } catch {
      // reader gone
    }
  }
  try {
    await out.flush();
  } catch (e) {
    code = code === EXIT.ok ? report(e) : code;
  }
  out.dispose();
  return code;
}
