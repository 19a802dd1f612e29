/** Runs the CLI in process (`main` with argv and captured streams), as the tests call it. */
import { Readable, Writable } from 'node:stream';
import { main } from '../../src/cli.js';
import type { ReplayReport } from '../../src/pipelines/replay.js';
import type { VerifyTargetReport } from '../../src/pipelines/verify-target.js';

export interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** A Writable that keeps what it is given, as text on demand. */
export function sink(): { stream: Writable; text: () => string } {
  const chunks: Buffer[] = [];
  const stream = new Writable({
    write(chunk: Buffer | string, _enc, cb) {
      chunks.push(typeof chunk === 'string' ? Buffer.from(chunk) : chunk);
      cb();
    },
  });
  return { stream, text: () => Buffer.concat(chunks).toString('utf8') };
}

/** `rdbmerge ARGS...` with optional stdin bytes and environment; resolves with code and output. */
export async function runCli(args: readonly string[], opts: { stdin?: Uint8Array; env?: Record<string, string> } = {}): Promise<Run> {
  const out = sink();
  const err = sink();
  const stdin = Readable.from(opts.stdin === undefined ? [] : [Buffer.from(opts.stdin)]);
  const code = await main(['node', 'rdbmerge', ...args], {
    stdout: out.stream,
    stderr: err.stream,
    stdin: stdin as unknown as NodeJS.ReadableStream & AsyncIterable<Uint8Array>,
    env: opts.env ?? {},
  });
  return { code, stdout: out.text(), stderr: err.text() };
}

/** A run whose first line of stdout, when it is JSON (`--json`), is the command's report. */
export interface ReportRun<R> extends Run {
  report: R | null;
}

async function withReport<R>(args: readonly string[], opts: { stdin?: Uint8Array; env?: Record<string, string> }): Promise<ReportRun<R>> {
  const r = await runCli(args, opts);
  const first = r.stdout.split('\n')[0] ?? '';
  return { ...r, report: first.startsWith('{') ? (JSON.parse(first) as R) : null };
}

/** `rdbmerge replay ARGS`; the report parsed from stdout when there is one (--json). */
export function replayCli(args: readonly string[], opts: { stdin?: Uint8Array; env?: Record<string, string> } = {}): Promise<ReportRun<ReplayReport>> {
  return withReport<ReplayReport>(['replay', ...args], opts);
}

/** `rdbmerge verify ARGS --json -q`, with its report. */
export function verifyCli(args: readonly string[], opts: { env?: Record<string, string> } = {}): Promise<ReportRun<VerifyTargetReport>> {
  return withReport<VerifyTargetReport>(['verify', ...args, '--json', '-q'], opts);
}
