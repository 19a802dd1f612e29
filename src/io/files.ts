/**
 * Files in and out: INPUT expansion (../shared/docs/CLI.md "Inputs and outputs"), chunked reads
 * for the codec, stdin, and atomic writes (temp file beside the destination, fsync, rename, fsync
 * of the directory) with a process-wide registry so an interrupt can remove every temp file.
 */
import { randomBytes } from 'node:crypto';
import { constants as fsConstants } from 'node:fs';
import { open, readdir, readFile, rename, stat, unlink, type FileHandle } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { UsageError } from '../errors.js';

/** The INPUT that stands for standard input. */
export const STDIN = '-';

/** Default read size: big enough for ~4 GB/s from the page cache, small enough to stay cache-friendly. */
export const DEFAULT_CHUNK_SIZE = 1024 * 1024;

function byteOrder(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a), Buffer.from(b));
}

function errCode(e: unknown): string | undefined {
  return typeof e === 'object' && e !== null && 'code' in e ? String((e as { code: unknown }).code) : undefined;
}

/** A file-system failure on an input, as the usage error CLI.md makes of a missing input. */
function inputError(path: string, e: unknown): UsageError {
  const code = errCode(e);
  if (code === 'ENOENT') return new UsageError(`input not found: ${path}`);
  if (code === 'EACCES' || code === 'EPERM') return new UsageError(`input not readable (permission denied): ${path}`);
  if (code === 'EISDIR') return new UsageError(`input is a directory: ${path}`);
  return new UsageError(`cannot read input ${path}: ${(e as Error).message}`);
}

/**
 * Expands INPUT arguments: a directory stands for its `*.rdb` files in byte-wise name order, `-`
 * is stdin (at most once), anything else must be an existing file. Order is preserved: it is the
 * order every conflict policy uses.
 * @throws UsageError for a missing or unreadable input, an empty directory, `-` given twice.
 */
export async function expandInputs(args: readonly string[]): Promise<string[]> {
  const out: string[] = [];
  let stdinSeen = false;
  for (const arg of args) {
    if (arg === STDIN) {
      if (stdinSeen) throw new UsageError('stdin (-) can be read only once');
      stdinSeen = true;
      out.push(STDIN);
      continue;
    }
    let st;
    try {
      st = await stat(arg);
    } catch (e) {
      throw inputError(arg, e);
    }
    if (st.isDirectory()) {
      let names: string[];
      try {
        names = await readdir(arg);
      } catch (e) {
        throw inputError(arg, e);
      }
      const files: string[] = [];
      for (const name of names.filter((n) => n.endsWith('.rdb')).sort(byteOrder)) {
        const p = join(arg, name);
        try {
          if ((await stat(p)).isFile()) files.push(p);
        } catch {
          // vanished or a dangling link: not one of the directory's RDB files
        }
      }
      if (files.length === 0) throw new UsageError(`directory ${arg} holds no *.rdb files`);
      out.push(...files);
    } else {
      out.push(arg);
    }
  }
  return out;
}

/**
 * Reads a file as chunks of `chunkSize` bytes (the last one shorter). Every chunk is a fresh
 * buffer, never reused, because the codec hands out views into chunks. One read runs ahead while
 * the consumer parses the previous chunk.
 * @throws UsageError when the file cannot be opened.
 */
export async function* readChunks(path: string, chunkSize = DEFAULT_CHUNK_SIZE): AsyncGenerator<Uint8Array> {
  let fh: FileHandle;
  try {
    fh = await open(path, 'r');
  } catch (e) {
    throw inputError(path, e);
  }
  try {
    const readOne = async (): Promise<Uint8Array> => {
      const buf = Buffer.allocUnsafeSlow(chunkSize);
      const { bytesRead } = await fh.read(buf, 0, chunkSize, null);
      return bytesRead === chunkSize ? buf : buf.subarray(0, bytesRead);
    };
    let pending = readOne();
    for (;;) {
      const chunk = await pending;
      if (chunk.length === 0) return;
      pending = readOne();
      // A rejected read-ahead must not go unhandled if the consumer stops here.
      pending.catch(() => undefined);
      yield chunk;
    }
  } finally {
    await fh.close();
  }
}

/** Standard input (or any byte stream) as chunks; stream chunks are fresh buffers already. */
export async function* readStream(stream: AsyncIterable<Uint8Array | string>): AsyncGenerator<Uint8Array> {
  for await (const chunk of stream) {
    if (typeof chunk === 'string') throw new Error('rdbmerge internal: stdin delivered text; it must stay binary');
    if (chunk.length > 0) yield chunk;
  }
}

/**
 * The fallbacks for an input's snapshot time, after `--snapshot-time` and the `ctime` aux field:
 * a `<name-without-.rdb>.meta.json` beside it with a `snapshotTime` (TIME: Unix ms or ISO text),
 * else the file's mtime. Undefined for stdin or when nothing is known.
 */
export async function snapshotTimeFromDisk(
  path: string,
): Promise<{ time: number; source: 'meta.json' | 'mtime' } | undefined> {
  if (path === STDIN) return undefined;
  const metaPath = join(dirname(path), `${basename(path).replace(/\.rdb$/, '')}.meta.json`);
  try {
    const meta = JSON.parse(await readFile(metaPath, 'utf8')) as { snapshotTime?: unknown };
    const t = meta.snapshotTime;
    if (typeof t === 'number' && Number.isFinite(t)) return { time: t, source: 'meta.json' };
    if (typeof t === 'string' && !Number.isNaN(Date.parse(t))) return { time: Date.parse(t), source: 'meta.json' };
  } catch {
    // no meta.json, or not JSON: fall back to the mtime
  }
  try {
    return { time: Math.floor((await stat(path)).mtimeMs), source: 'mtime' };
  } catch {
    return undefined;
  }
}

/** A file being written atomically. Nothing appears at `dest` until `commit()` succeeds. */
export interface AtomicFile {
  readonly dest: string;
  /** The temp file beside dest: `.<name>.tmp-<pid>-<random>`. */
  readonly tempPath: string;
  /** Appends bytes; resolves once they are handed to the OS (small writes are coalesced). */
  write(chunk: Uint8Array): Promise<void>;
  /** Hands every coalesced byte to the OS (so the temp file can be read back). */
  flush(): Promise<void>;
  /** Flushes, fsyncs, renames onto dest, fsyncs the directory. */
  commit(): Promise<void>;
  /** Closes and removes the temp file; safe to call twice or after a failed commit. */
  abort(): Promise<void>;
}

const openFiles = new Set<AtomicFile>();

/** Removes the temp file of every atomic write still open (for SIGINT/SIGTERM). Never throws. */
export async function abortAllAtomicWrites(): Promise<void> {
  await Promise.all([...openFiles].map((f) => f.abort().catch(() => undefined)));
}

/** How many atomic writes are open (for tests and diagnostics). */
export function openAtomicWrites(): number {
  return openFiles.size;
}

const COALESCE_BELOW = 64 * 1024;
const FLUSH_AT = 1024 * 1024;

/**
 * Starts an atomic write of `dest`: creates the temp file (exclusively) beside it.
 * @throws the file system's error when the temp file cannot be created.
 */
export async function atomicWrite(dest: string): Promise<AtomicFile> {
  const dir = dirname(dest);
  const tempPath = join(dir, `.${basename(dest)}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`);
  const fh = await open(tempPath, fsConstants.O_WRONLY | fsConstants.O_CREAT | fsConstants.O_EXCL, 0o644);
  let pending = Buffer.allocUnsafe(FLUSH_AT);
  let pendingLen = 0;
  let state: 'open' | 'committed' | 'aborted' = 'open';

  const writeAll = async (b: Uint8Array): Promise<void> => {
    let off = 0;
    while (off < b.length) {
      const { bytesWritten } = await fh.write(b, off, b.length - off, null);
      off += bytesWritten;
    }
  };
  const flush = async (): Promise<void> => {
    if (pendingLen === 0) return;
    const b = pending.subarray(0, pendingLen);
    pending = Buffer.allocUnsafe(FLUSH_AT);
    pendingLen = 0;
    await writeAll(b);
  };

  const file: AtomicFile = {
    dest,
    tempPath,
    async write(chunk) {
      if (state !== 'open') throw new Error(`rdbmerge internal: write after ${state} of ${dest}`);
      if (chunk.length < COALESCE_BELOW) {
        if (pendingLen + chunk.length > FLUSH_AT) await flush();
        pending.set(chunk, pendingLen);
        pendingLen += chunk.length;
        return;
      }
      await flush();
      await writeAll(chunk);
    },
    flush,
    async commit() {
      if (state !== 'open') throw new Error(`rdbmerge internal: commit after ${state} of ${dest}`);
      try {
        await flush();
        await fh.sync();
        await fh.close();
        await rename(tempPath, dest);
        state = 'committed';
        openFiles.delete(file);
      } catch (e) {
        await file.abort();
        throw e;
      }
      await syncDir(dir);
    },
    async abort() {
      if (state !== 'open') return;
      state = 'aborted';
      openFiles.delete(file);
      await fh.close().catch(() => undefined);
      await unlink(tempPath).catch(() => undefined);
    },
  };
  openFiles.add(file);
  return file;
}

/** fsync of a directory, so a rename survives a crash; not every platform allows it. */
async function syncDir(dir: string): Promise<void> {
  let dh: FileHandle | undefined;
  try {
    dh = await open(dir, 'r');
    await dh.sync();
  } catch {
    // EISDIR/EPERM/EINVAL on platforms without directory fsync: the rename itself is done
  } finally {
    await dh?.close().catch(() => undefined);
  }
}
