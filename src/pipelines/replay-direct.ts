/**
 * Replay in one pass, when nothing needs settling before the first key is sent: a single input,
 * no `--db-map` / `--into-db` (one RDB file holds a key once per database, so no two records can
 * meet), a target that loads every encoding of the file as it is (its RDB version at least the
 * file's, Redis magic: no conversion can fail), and no `--check-first`.
 *
 * Then merge's index pass (a whole read of the file, a hash and an index slot per key) only
 * delays the send. Instead, only the head of the file is read (header, aux fields and function
 * libraries all come before the first key), and the send pass treats every selected key as a
 * winner and counts what the index pass would have counted.
 *
 * What is given up: an input damaged in its middle is found while sending (a typed error naming
 * the file and offset, exit 3/4/5, with the keys before it already on the target) instead of
 * before anything was sent. `--check-first` keeps the two passes.
 */
import { parseFunctionLibrary } from '../functions.js';
import { readRdbFile } from '../io/rdb-file.js';
import { KeyIndex } from '../merge/key-index.js';
import { RandomAccess } from '../merge/random-access.js';
import type { SharedOptions } from '../cli-options.js';
import { inputSelector, newInputState, type IndexedInputs, type InputState, type Library } from './merge.js';
import type { Selector } from './select.js';
import { open } from 'node:fs/promises';

/** IndexedInputs whose every selected key is a winner (no index was built). */
export interface DirectInputs extends IndexedInputs {
  direct: true;
}

/** True for inputs built by {@link directInputs}. */
export function isDirect(ix: IndexedInputs): ix is DirectInputs {
  return (ix as Partial<DirectInputs>).direct === true;
}

/**
 * The RDB version and magic of a file from its first 9 bytes (`REDIS0011`, `VALKEY080`), or null
 * when they are not a header (the reader then reports the file properly).
 */
export async function peekHeader(path: string): Promise<{ magic: 'REDIS' | 'VALKEY'; version: number } | null> {
  const fh = await open(path, 'r');
  try {
    const b = Buffer.alloc(9);
    const { bytesRead } = await fh.read(b, 0, 9, 0);
    const s = b.toString('latin1', 0, bytesRead);
    const m = /^(REDIS)(\d{4})$/.exec(s) ?? /^(VALKEY)(\d{3})$/.exec(s);
    return m === null ? null : { magic: m[1] as 'REDIS' | 'VALKEY', version: Number(m[2]) };
  } finally {
    await fh.close();
  }
}

/**
 * Reads the head of `path` (up to its first key) for its header and function libraries, and
 * returns inputs for a one-pass send. The input's report is filled by the send pass.
 * @throws the codec's RdbError for a bad head
 */
export async function directInputs(path: string, sel: SharedOptions, maxValueSize: number): Promise<DirectInputs> {
  const st = await newInputState(0, path);

  const libraries: Library[] = [];
  head: for await (const batch of readRdbFile(path, { maxValueSize, verifyChecksum: false })) {
    for (const r of batch) {
      if (r.kind === 'header') {
        st.version = r.version;
        st.magic = r.magic;
        st.report.rdbVersion = r.version;
        st.report.magic = r.magic;
      } else if (r.kind === 'function') {
        const lib = parseFunctionLibrary(Buffer.from(r.code).toString('utf8'));
        libraries.push({ input: 0, code: r.code.slice(), library: lib.library, engine: lib.engine, functions: lib.functions });
        st.report.functions++;
      } else if (r.kind === 'key' || r.kind === 'skipped' || r.kind === 'eof') {
        break head;
      }
    }
  }
  const newSelector = (s: InputState): Selector => inputSelector(sel, s);

  const ra = new RandomAccess([path], { maxValueSize });
  return {
    direct: true,
    paths: [path],
    inputs: [st],
    index: new KeyIndex(16),
    ra,
    fetchKey: (input, offset) => ra.keyAt(input, offset),
    collisions: new Map(),
    collisionCount: 0,
    libraries,
    slotKeys: null,
    slotExpires: null,
    newSelector,
  };
}

/** After a one-pass send: what the index pass would have put in the input's report. */
export function finishDirectReport(st: InputState, selector: Selector): void {
  const rep = st.report;
  const snap = selector.snapshotTime();
  rep.snapshotTime = snap === undefined ? null : { time: snap.time, iso: new Date(snap.time).toISOString(), source: snap.source };
  try {
    rep.expiryShift = selector.expiryShift();
  } catch {
    // no snapshot time under --rebase-expiry: the selector itself reports it on the first key
  }
  const d = selector.dropped;
  rep.dropped = { db: d.db, type: d.type, match: d.match, expired: d.expired };
}
