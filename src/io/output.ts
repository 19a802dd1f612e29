/**
 * A text sink over a writable stream (stdout): waits for 'drain' when the stream asks for it, and
 * turns a closed reader (EPIPE, as in `rdbmerge inspect ... | head`) into StdoutClosedError, which
 * the CLI ends quietly on.
 */

/** The reader of our output went away. Not an error for the user. */
export class StdoutClosedError extends Error {
  override name = 'StdoutClosedError';
  constructor() {
    super('output closed by its reader');
  }
}

export interface TextSink {
  /** Writes text; returns a promise only when the stream wants the writer to wait. */
  write(text: string | Uint8Array): void | Promise<void>;
  /** Resolves when everything written so far has been handed to the OS. */
  flush(): Promise<void>;
  /** True once the reader went away. */
  readonly closed: boolean;
  /** Removes the sink's listeners from the stream. */
  dispose(): void;
}

function isClosedCode(e: unknown): boolean {
  const code = typeof e === 'object' && e !== null ? (e as { code?: unknown }).code : undefined;
  return code === 'EPIPE' || code === 'ERR_STREAM_DESTROYED' || code === 'ERR_STREAM_WRITE_AFTER_END';
}

export function createSink(stream: NodeJS.WritableStream): TextSink {
  let closed = false;
  let failure: unknown;
  const waiters = new Set<() => void>();
  const wake = (): void => {
    for (const w of [...waiters]) w();
  };
  const onError = (e: unknown): void => {
    if (isClosedCode(e)) closed = true;
    else failure = e;
    wake();
  };
  const onClose = (): void => {
    closed = true;
    wake();
  };
  stream.on('error', onError);
  stream.on('close', onClose);

  const check = (): void => {
    if (failure !== undefined) throw failure;
    if (closed) throw new StdoutClosedError();
  };

  const wait = (event: 'drain' | 'flushed', start: (done: () => void) => void): Promise<void> =>
    new Promise<void>((resolve, reject) => {
      const done = (): void => {
        waiters.delete(done);
        if (event === 'drain') stream.removeListener('drain', done);
        try {
          check();
          resolve();
        } catch (e) {
          reject(e);
        }
      };
      waiters.add(done);
      start(done);
    });

  return {
    get closed() {
      return closed;
    },
    write(text) {
      check();
      let ok: boolean;
      try {
        ok = stream.write(text);
      } catch (e) {
        if (isClosedCode(e)) throw new StdoutClosedError();
        throw e;
      }
      if (ok) return undefined;
      return wait('drain', (done) => stream.once('drain', done));
    },
    flush() {
      if (closed || failure !== undefined) return Promise.resolve();
      return wait('flushed', (done) => {
        try {
          stream.write('', () => done());
        } catch {
          done();
        }
      }).catch((e: unknown) => {
        if (!(e instanceof StdoutClosedError)) throw e;
      });
    },
    dispose() {
      stream.removeListener('error', onError);
      stream.removeListener('close', onClose);
      wake();
    },
  };
}
