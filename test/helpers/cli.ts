/** Runs the CLI in process (`main` with argv and captured streams), as the tests call it. */
import { Readable, Writable } from 'node:stream';
import { main } from '../../src/cli.js';

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
