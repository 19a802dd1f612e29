/**
 * The collision index (src/merge/key-index.ts) at the scale the issue names: 20,000,000 distinct
 * synthetic keys. Checks the memory bound (under 48 bytes a key at the end and at its worst
 * point, right after a growth), that no two different keys are ever taken for one although the
 * 32-bit hash collides tens of thousands of times at this size, and that every key inserted is
 * found again, exactly (key bytes compared through the fetcher).
 *
 * Keys are `key:<i>` built in reused buffers; a record's "offset" is i itself, so the fetcher
 * regenerates the key bytes of (input, offset) without storing any of them.
 */
import t from 'tap';
import { bytesEqual, keyHash, KeyIndex } from '../src/merge/key-index.js';

const N = Number(process.env['KEY_INDEX_KEYS'] ?? 20_000_000);
const MAX_BYTES_PER_KEY = 48;

/** Writes `key:<i>` into `buf` (whose first 4 bytes are `key:`) and returns the view of it. */
function keyOf(i: number, buf: KeyBuffer): Uint8Array {
  let digits = 1;
  for (let x = i; x >= 10; x = (x / 10) | 0) digits++;
  let x = i;
  for (let p = 3 + digits; p >= 4; p--) {
    buf.bytes[p] = 0x30 + (x % 10);
    x = (x / 10) | 0;
  }
  return buf.views[4 + digits]!;
}

/** A reused buffer starting with `key:`, and a view of each length (no allocation per key). */
interface KeyBuffer {
  bytes: Uint8Array;
  views: Uint8Array[];
}

function keyBuffer(): KeyBuffer {
  const bytes = new Uint8Array(32);
  bytes.set([0x6b, 0x65, 0x79, 0x3a]); // key:
  return { bytes, views: Array.from({ length: 33 }, (_, n) => bytes.subarray(0, n)) };
}

/** `key:0`, `key:1`, ... in one reused buffer: the next key is the previous one plus one, in place. */
class KeySequence {
  private readonly buf = new Uint8Array(32);
  private len = 5;

  constructor() {
    this.buf.set([0x6b, 0x65, 0x79, 0x3a, 0x30]); // key:0
  }

  /** The current key (a view, valid until next()). */
  get key(): Uint8Array {
    return this.buf.subarray(0, this.len);
  }

  next(): void {
    let p = this.len - 1;
    while (p >= 4 && this.buf[p] === 0x39) this.buf[p--] = 0x30;
    if (p >= 4) {
      this.buf[p]!++;
      return;
    }
    // 9...9 + 1: one more digit
    this.buf[4] = 0x31;
    this.buf[this.len++] = 0x30;
  }
}

t.test('the key sequence is key:<i>', async (t) => {
  const seq = new KeySequence();
  const b = keyBuffer();
  for (let i = 0; i < 120_000; i++, seq.next()) {
    if (!bytesEqual(seq.key, keyOf(i, b))) t.fail(`key ${i}`);
  }
  t.equal(new TextDecoder().decode(seq.key), 'key:120000');
});

t.test(`KeyIndex with ${N.toLocaleString('en-US')} distinct keys`, async (t) => {
  const theirs = keyBuffer();
  // The fetcher: input 0 only; the offset is the key number.
  let fetches = 0;
  const fetchKey = (input: number, offset: number): Uint8Array => {
    fetches++;
    if (input !== 0) throw new Error(`unexpected input ${input}`);
    return keyOf(offset, theirs);
  };
  const DB = 0;

  const index = new KeyIndex(1 << 16);
  let worst = 0;
  let worstAt = 0;
  let growths = 0;
  let duringGrowth = 0;
  let arrayBuffersPeak = 0;
  let falseDuplicates = 0;
  let hashTwin: [number, number] | undefined;
  const t0 = Date.now();
  const seq = new KeySequence();
  for (let i = 0; i < N; i++, seq.next()) {
    const k = seq.key;
    const h = keyHash(DB, k);
    let dup = false;
    for (let s = index.candidate(DB, h); s >= 0; s = index.candidate(DB, h, s)) {
      index.keyCompares++;
      if (bytesEqual(fetchKey(index.inputOf(s), index.offset(s)), k)) {
        dup = true;
        break;
      }
      hashTwin ??= [index.offset(s), i];
    }
    if (dup) {
      falseDuplicates++;
      continue;
    }
    const cap = index.capacity;
    const held = index.size;
    const peakBefore = index.peakBytes;
    index.insert(DB, h, 0, i, (i & 7) === 0);
    if (index.capacity !== cap) {
      growths++;
      const perKey = index.bytes / index.size;
      if (perKey > worst) {
        worst = perKey;
        worstAt = index.size;
      }
      // While growing, old and new arrays exist side by side: the peak of that moment, per key held.
      if (index.peakBytes > peakBefore) duringGrowth = Math.max(duringGrowth, index.peakBytes / held);
      arrayBuffersPeak = Math.max(arrayBuffersPeak, process.memoryUsage().arrayBuffers);
    }
  }
  const insertMs = Date.now() - t0;
  const comparesOnInsert = index.keyCompares;
  const endPerKey = index.bytes / index.size;
  t.comment(
    `inserted ${N.toLocaleString('en-US')} keys in ${insertMs} ms: ${index.bytes.toLocaleString('en-US')} bytes, ` +
      `${endPerKey.toFixed(2)} bytes/key at the end, ${worst.toFixed(2)} bytes/key at worst (right after the growth at ` +
      `${worstAt.toLocaleString('en-US')} keys), ${growths} growths; ${comparesOnInsert.toLocaleString('en-US')} key compares ` +
      `from 32-bit hash twins, none taken for a duplicate; while growing at most ${duringGrowth.toFixed(2)} bytes/key ` +
      `(old and new arrays side by side); process arrayBuffers right after a growth at most ` +
      `${(arrayBuffersPeak / 2 ** 20).toFixed(0)} MiB (includes arrays the GC has not collected yet)`,
  );

  t.equal(falseDuplicates, 0, 'no two different keys taken for one');
  t.equal(index.size, N, 'every key is in the index once');
  t.ok(endPerKey < MAX_BYTES_PER_KEY, `bytes per key at the end: ${endPerKey.toFixed(2)} < ${MAX_BYTES_PER_KEY}`);
  t.ok(worst < MAX_BYTES_PER_KEY, `bytes per key at worst (right after a growth): ${worst.toFixed(2)} < ${MAX_BYTES_PER_KEY}`);
  t.ok(duringGrowth > worst, 'growing holds more than the table after it');
  t.ok(duringGrowth < MAX_BYTES_PER_KEY, `bytes per key while growing (old and new arrays): ${duringGrowth.toFixed(2)} < ${MAX_BYTES_PER_KEY}`);
  t.ok(growths > 0, 'the table grew along the way');
  t.ok(worst >= endPerKey, 'the worst point is no better than the end');
  if (N >= 1_000_000) {
    // ~N^2 / 2^33 same-hash pairs are expected (about 46,000 at 20 M): the compares happen, and
    // each one was settled by the key bytes, not by the hash.
    t.ok(comparesOnInsert > 0, 'hash twins met while inserting, each settled by comparing key bytes');
    t.ok(hashTwin !== undefined, 'a pair of different keys with the same hash was seen');
  }
  if (hashTwin !== undefined) {
    const [a, b] = hashTwin;
    const ka = keyOf(a, keyBuffer()).slice();
    const kb = keyOf(b, keyBuffer()).slice();
    t.equal(keyHash(DB, ka), keyHash(DB, kb), `key:${a} and key:${b} share a 32-bit hash`);
    t.notOk(bytesEqual(ka, kb), 'and are different keys');
    const sa = await index.find(DB, ka, keyHash(DB, ka), fetchKey);
    const sb = await index.find(DB, kb, keyHash(DB, kb), fetchKey);
    t.ok(sa >= 0 && sb >= 0 && sa !== sb, 'both are found, in different slots');
    t.equal(index.offset(sa), a);
    t.equal(index.offset(sb), b);
  }

  // Inserting the same keys again: every one is found, by its key bytes.
  const t1 = Date.now();
  const comparesBefore = index.keyCompares;
  fetches = 0;
  let found = 0;
  let wrongSlot = 0;
  const again = new KeySequence();
  for (let i = 0; i < N; i++, again.next()) {
    const k = again.key;
    const h = keyHash(DB, k);
    let hit = -1;
    for (let s = index.candidate(DB, h); s >= 0; s = index.candidate(DB, h, s)) {
      index.keyCompares++;
      if (bytesEqual(fetchKey(index.inputOf(s), index.offset(s)), k)) {
        hit = s;
        break;
      }
    }
    if (hit < 0) continue;
    found++;
    if (index.offset(hit) !== i || index.hasExpire(hit) !== ((i & 7) === 0)) wrongSlot++;
  }
  const comparesAgain = index.keyCompares - comparesBefore;
  t.comment(`looked up ${N.toLocaleString('en-US')} keys again in ${Date.now() - t1} ms: ${comparesAgain.toLocaleString('en-US')} key compares`);
  t.equal(found, N, 'every key inserted again is found');
  t.equal(wrongSlot, 0, 'each at its own record (offset and expiry flag)');
  t.ok(comparesAgain >= N, 'each found by comparing key bytes (at least one compare a key)');
  t.equal(fetches, comparesAgain, 'one fetch per compare');
  t.ok(comparesAgain - N <= comparesOnInsert * 2 + 1000, 'extra compares only from hash twins');
  t.equal(index.size, N, 'looking up adds nothing');
  t.ok(index.bytes / index.size < MAX_BYTES_PER_KEY, 'still under the bound');
});
