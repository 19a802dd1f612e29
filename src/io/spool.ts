/**
 * Standard input kept in a temporary file, for a command that reads its inputs more than once
 * (replay reads the head of each input, then streams it; a rerun with a checkpoint identifies it
 * by content). The file lives in its own directory under the OS temp dir and is removed by
 * `remove()`, also after a failure or an interrupt.
 */
import { open, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { InterruptedError } from '../errors.js';
import { readStream } from './files.js';

export interface Spooled {
  path: string;
  bytes: number;
  remove(): Promise<void>;
}

/**
 * Copies `stream` into a temporary file (each chunk written as it arrives: memory stays at one
 * chunk).
 * @throws InterruptedError when `signal` fires; the file system's error otherwise (the temporary
 *   directory is removed either way)
 */
export async function spoolStream(stream: AsyncIterable<Uint8Array | string>, signal?: AbortSignal): Promise<Spooled> {
  const dir = await mkdtemp(join(tmpdir(), 'rdbmerge-stdin-'));
  const path = join(dir, 'stdin.rdb');
  const remove = (): Promise<void> => rm(dir, { recursive: true, force: true });
  let bytes = 0;
  try {
    const fh = await open(path, 'wx', 0o600);
    try {
      for await (const chunk of readStream(stream)) {
        if (signal?.aborted === true) throw new InterruptedError();
        let off = 0;
        while (off < chunk.length) off += (await fh.write(chunk, off, chunk.length - off)).bytesWritten;
        bytes += chunk.length;
      }
    } finally {
      await fh.close();
    }
  } catch (e) {
    await remove();
    throw e;
  }
  return { path, bytes, remove };
}
