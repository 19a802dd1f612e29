/**
 * Progress on stderr for the commands that read inputs in passes (merge, replay, verify): CLI.md's
 * JSON-lines events with --json, a redrawn line when stderr is a TTY, else nothing; -q silences it.
 */
import type { CommandContext } from './context.js';

/** What a pipeline reports as it goes. */
export interface PassProgress {
  pass: string;
  source: string;
  keys: number;
  t: number;
}

export interface ProgressReporter<P extends PassProgress> {
  update(p: P): void;
  /** Erases the TTY line, before the summary is printed. */
  clear(): void;
}

export function passProgress<P extends PassProgress>(ctx: CommandContext, json: boolean, quiet: boolean): ProgressReporter<P> {
  const tty = !json && !quiet && ctx.isTTY(ctx.io.stderr);
  let drawn = false;
  return {
    update: (p: P): void => {
      if (quiet) return;
      if (json) ctx.errLine(JSON.stringify({ event: 'progress', ...p }));
      else if (tty) {
        ctx.errRaw(`\r\x1b[2K${p.pass} ${p.source}  ${p.keys.toLocaleString('en-US')} keys  ${(p.t / 1000).toFixed(1)} s`);
        drawn = true;
      }
    },
    clear: (): void => {
      if (drawn) ctx.errRaw('\r\x1b[2K');
      drawn = false;
    },
  };
}
