/**
 * Bad input: every fixture cut at ~50 points and hit by random byte flips. Only the codec's typed
 * errors may escape, each with a byte offset inside the input; nothing hangs; a hostile length
 * cannot make the reader buffer more than the input holds or the limit allows.
 */
import t, { type Test } from 'tap';
import { rng } from './helpers/rng.js';
import { decodeValue, RdbError, readRdb } from '../native-free-parser/index.js';
import { fixtureIndex, fixturePath } from './helpers/fixtures.js';
import { chunked, readBytes } from './helpers/read.js';


/** Reads and decodes everything; returns the error thrown, or null. */
async function attempt(bytes: Uint8Array, verifyChecksum: boolean, chunk = 65536): Promise<unknown> {
  try {
    let valkey = false;
    for await (const batch of readRdb(chunked(bytes, chunk), { verifyChecksum, maxValueSize: 4 * 1024 * 1024 })) {
      for (const r of batch) {
        if (r.kind === 'header') valkey = r.magic === 'VALKEY';
        if (r.kind === 'key') decodeValue(r.type, r.payload, { offset: r.valueOffset, valkey });
      }
    }
    return null;
  } catch (e) {
    return e;
  }
}

function checkError(t: Test, e: unknown, size: number, label: string): void {
  if (e === null) return;
  if (!(e instanceof RdbError)) {
    t.fail(`${label}: a non-codec error escaped: ${String((e as Error)?.stack ?? e)}`);
    return;
  }
  if (!(Number.isInteger(e.offset) && e.offset >= 0 && e.offset <= size + 8)) {
    t.fail(`${label}: offset ${e.offset} outside the input (${size} bytes): ${e.message}`);
  }
}

const small = fixtureIndex().filter((f) => f.sizeBytes < 250_000);

t.test('truncated inputs raise TruncatedError (or another typed error) at a real offset', async (t) => {
  for (const f of small) {
    const bytes = readBytes(fixturePath(f.rdb));
    const points = new Set<number>();
    for (let i = 1; i <= 50; i++) points.add(Math.floor((bytes.length * i) / 51));
    points.add(bytes.length - 1);
    points.add(5);
    let truncated = 0;
    for (const p of points) {
      const e = await attempt(bytes.subarray(0, p), true);
      checkError(t, e, p, `${f.rdb} cut at ${p}`);
      if (e instanceof RdbError && e.kind === 'truncated') truncated++;
      if (e === null) t.fail(`${f.rdb} cut at ${p}: read without error`);
    }
    // Where the cut lands inside a value the decoder can fail first (corrupt); most must be 'truncated'.
    if (f.loadError === null) t.ok(truncated >= points.size * 0.8, `${f.rdb}: ${truncated}/${points.size} cuts reported as truncated`);
  }
});

t.test('random byte flips: only typed errors escape', async (t) => {
  const next = rng(20261125);
  let errors = 0;
  let runs = 0;
  for (const f of small) {
    const bytes = readBytes(fixturePath(f.rdb));
    for (let i = 0; i < 120; i++) {
      const copy = bytes.slice();
      const flips = 1 + Math.floor(next() * 4);
      for (let k = 0; k < flips; k++) {
        const at = Math.floor(next() * copy.length);
        copy[at] = (copy[at]! ^ (1 + Math.floor(next() * 255))) & 0xff;
      }
      // Without the checksum, the structure checks alone must catch what they can.
      const e = await attempt(copy, false, 4096);
      checkError(t, e, copy.length, `${f.rdb} flip run ${i}`);
      if (e !== null) errors++;
      runs++;
    }
  }
  t.ok(runs >= 3000, `${runs} mutated inputs read`);
  t.ok(errors > runs / 4, `${errors} of them rejected with a typed error`);
});

t.test('with the checksum on, a flipped byte after the header is caught', async (t) => {
  const next = rng(7);
  for (const f of small.filter((x) => x.variant === 'types' && x.rdbVersion >= 5)) {
    const bytes = readBytes(fixturePath(f.rdb));
    for (let i = 0; i < 20; i++) {
      const copy = bytes.slice();
      const at = 9 + Math.floor(next() * (copy.length - 9 - 9));
      copy[at] = copy[at]! ^ 0x20;
      const e = await attempt(copy, true);
      t.ok(e instanceof RdbError, `${f.rdb}: flip at ${at} rejected (${e instanceof RdbError ? e.kind : String(e)})`);
    }
  }
});
