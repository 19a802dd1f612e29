/**
 * What src/cli.ts hands each command module. A command module (`src/commands/<name>.ts`) exports
 * one `register(program, ctx)` that adds its commander command; its action parses options with
 * src/cli-options.ts, calls a pipeline, writes data through `ctx.out` and progress through
 * `ctx.progress`, and sets `ctx.exitCode` (or throws a typed error, which cli.ts reports).
 */
import type { Command } from 'commander';
import type { TextSink } from '../io/output.js';

/** The process streams and environment, injectable for tests. */
export interface CliIo {
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
  stdin: NodeJS.ReadableStream & AsyncIterable<Uint8Array | string>;
  env: Readonly<Record<string, string | undefined>>;
}

export interface CommandContext {
  readonly io: CliIo;
  /** Date.now() when main() started: the default `--now`. */
  readonly startedAt: number;
  /** Aborted on SIGINT/SIGTERM; pipelines stop with InterruptedError. */
  readonly signal: AbortSignal;
  /** stdout, with backpressure and quiet EPIPE handling. */
  readonly out: TextSink;
  /** One text line (no newline) to stderr; warnings go here unless --quiet. */
  errLine(text: string): void;
  /** Raw text to stderr (TTY progress redraws). */
  errRaw(text: string): void;
  /** Is this stream a terminal? */
  isTTY(stream: NodeJS.WritableStream): boolean;
  /** The command's exit status; 0 unless the action sets it. */
  exitCode: number;
}

/** A command module's entry point. */
export type RegisterCommand = (program: Command, ctx: CommandContext) => void;
