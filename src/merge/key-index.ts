/**
 * The collision index: which (target db, key) pairs have been seen, and where the winning record
 * lives (input number and byte offset of its record). Built for tens of millions of keys, where a
 * JavaScript Map or Set stops (16,777,216 entries) and costs ~100 bytes a key anyway.
 *
 * Open addressing with linear probing over parallel typed arrays, 14 bytes a slot:
 *   hash   u32  32-bit hash of (db, key); 0 marks an empty slot
 *   offLo  u32  record offset, low 32 bits
 *   offHi  u16  record offset, bits 32..45; bit 15 = "the winner has an expiry", bit 14 = "the
 *               writer leaves the winner out" (a type the target version cannot hold)
 *   input  u16  input number (order on the command line)
 *   db     u16  target database (0..32767); bit 15 = "this key collided"
 * The table doubles at a load of 0.8, so it holds 14/0.8 .. 14/0.4 = 17.5 .. 35 bytes a key, and
 * 42.5 at the moment of a growth (see grow()).
 *
 * A 32-bit hash cannot prove two keys equal: on a hash and db match the caller compares the key
 * bytes, re-reading the stored record's key from its input (`KeyFetcher`). Two different keys are
 * therefore never taken for one, and real duplicates cost one small read each.
 */

export type KeyFetcher = (input: number, offset: number) => Uint8Array | Promise<Uint8Array>;

const EMPTY = 0;
const MAX_LOAD = 0.8;
const EXPIRE_BIT = 0x8000;
const LEFT_OUT_BIT = 0x4000;
const OFF_HI_MASK = 0x3fff;
const COLLIDED_BIT = 0x8000;
const DB_MASK = 0x7fff;
/** Highest target database the index can hold. */
export const MAX_INDEX_DB = DB_MASK;
const MAX_OFFSET = 2 ** 46;

/** murmur3-style 32-bit hash of a key, mixed with its db; never 0 (0 marks empty slots). */
export function keyHash(db: number, key: Uint8Array): number {
  let h = (0x9747b28c ^ Math.imul(db + 1, 0x85ebca6b)) >>> 0;
  const n = key.length;
  const blocks = n & ~3;
  let i = 0;
  for (; i < blocks; i += 4) {
    let k = key[i]! | (key[i + 1]! << 8) | (key[i + 2]! << 16) | (key[i + 3]! << 24);
    k = Math.imul(k, 0xcc9e2d51);
    k = (k << 15) | (k >>> 17);
    k = Math.imul(k, 0x1b873593);
    h ^= k;
    h = (h << 13) | (h >>> 19);
    h = (Math.imul(h, 5) + 0xe6546b64) | 0;
  }
  const tail = n & 3;
  if (tail !== 0) {
    let k = key[i]!;
    if (tail > 1) k ^= key[i + 1]! << 8;
    if (tail > 2) k ^= key[i + 2]! << 16;
    k = Math.imul(k, 0xcc9e2d51);
    k = (k << 15) | (k >>> 17);
    k = Math.imul(k, 0x1b873593);
    h ^= k;
  }
  h ^= n;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  h >>>= 0;
  return h === EMPTY ? 1 : h;
}

export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Where a key's winning record is. */
export interface IndexEntry {
  slot: number;
  input: number;
  offset: number;
  db: number;
  hasExpire: boolean;
}

export class KeyIndex {
  private hash: Uint32Array;
  private offLo: Uint32Array;
  private offHi: Uint16Array;
  private input: Uint16Array;
  private db: Uint16Array;
  private mask: number;
  private cap: number;
  size = 0;
  /** Byte comparisons done because of a 32-bit hash match (true duplicates and rare false ones). */
  keyCompares = 0;
  /** The most bytes the table's arrays held at once, the moments of growth included. */
  peakBytes: number;

  constructor(initialCapacity = 1 << 16) {
    let cap = 1;
    while (cap < initialCapacity) cap <<= 1;
    this.cap = cap;
    this.mask = cap - 1;
    this.hash = new Uint32Array(cap);
    this.offLo = new Uint32Array(cap);
    this.offHi = new Uint16Array(cap);
    this.input = new Uint16Array(cap);
    this.db = new Uint16Array(cap);
    this.peakBytes = cap * 14;
  }

  get capacity(): number {
    return this.cap;
  }

  /** Bytes held by the table's arrays. */
  get bytes(): number {
    return this.cap * 14;
  }

  /**
   * The next slot after `from` (-1 to start) holding the same hash and db, or -1 when the probe
   * sequence ends. Synchronous: the caller fetches and compares key bytes only for candidates,
   * which are true duplicates in all but ~1 in 2^32 probes.
   */
  candidate(db: number, h: number, from = -1): number {
    const hash = this.hash;
    const mask = this.mask;
    for (let s = from < 0 ? h & mask : (from + 1) & mask; ; s = (s + 1) & mask) {
      const v = hash[s]!;
      if (v === EMPTY) return -1;
      if (v === h && (this.db[s]! & DB_MASK) === db) return s;
    }
  }

  /** Finds the slot of (db, key), comparing key bytes through `fetch`; -1 when absent. */
  async find(db: number, key: Uint8Array, h: number, fetch: KeyFetcher): Promise<number> {
    for (let s = this.candidate(db, h); s >= 0; s = this.candidate(db, h, s)) {
      this.keyCompares++;
      const other = await fetch(this.input[s]!, this.offset(s));
      if (bytesEqual(other, key)) return s;
    }
    return -1;
  }

  /** Inserts a new entry for (db, key hash); the caller has checked it is absent. */
  insert(db: number, h: number, input: number, offset: number, hasExpire: boolean, leftOut = false): number {
    if (db > DB_MASK) throw new RangeError(`database ${db} beyond ${DB_MASK}`);
    if (this.size + 1 > this.cap * MAX_LOAD) this.grow();
    let s = h & this.mask;
    while (this.hash[s] !== EMPTY) s = (s + 1) & this.mask;
    this.hash[s] = h;
    this.db[s] = db;
    this.setWinner(s, input, offset, hasExpire, leftOut);
    this.size++;
    return s;
  }

  /** Replaces the winning record of a slot (the "last wins" policy). */
  setWinner(s: number, input: number, offset: number, hasExpire: boolean, leftOut = false): void {
    if (offset >= MAX_OFFSET) throw new RangeError('record offset beyond 2^46 bytes');
    if (input > 0xffff) throw new RangeError('more than 65,536 inputs');
    this.offLo[s] = offset >>> 0;
    this.offHi[s] = Math.floor(offset / 4294967296) | (hasExpire ? EXPIRE_BIT : 0) | (leftOut ? LEFT_OUT_BIT : 0);
    this.input[s] = input;
  }

  inputOf(s: number): number {
    return this.input[s]!;
  }

  offset(s: number): number {
    return (this.offHi[s]! & OFF_HI_MASK) * 4294967296 + this.offLo[s]!;
  }

  dbOf(s: number): number {
    return this.db[s]! & DB_MASK;
  }

  /** Marks the key of slot `s` as collided; returns whether it already was. */
  markCollided(s: number): boolean {
    const was = (this.db[s]! & COLLIDED_BIT) !== 0;
    this.db[s] = this.db[s]! | COLLIDED_BIT;
    return was;
  }

  hasExpire(s: number): boolean {
    return (this.offHi[s]! & EXPIRE_BIT) !== 0;
  }

  /** Will the writer leave the winner of slot `s` out (so it is not counted in RESIZEDB)? */
  leftOut(s: number): boolean {
    return (this.offHi[s]! & LEFT_OUT_BIT) !== 0;
  }

  /**
   * Is the record at (input, offset) the winner of (db, key)? Synchronous when the answer is
   * plain (the usual case); `fetch` only for a same-hash record of another input.
   */
  isWinnerSync(db: number, h: number, input: number, offset: number): boolean | number {
    for (let s = this.candidate(db, h); s >= 0; s = this.candidate(db, h, s)) {
      if (this.input[s] === input && this.offset(s) === offset) return true;
      return s; // a candidate to compare: same key (then not the winner) or a hash twin
    }
    return false;
  }

  async isWinner(db: number, key: Uint8Array, input: number, offset: number, fetch: KeyFetcher): Promise<boolean> {
    const h = keyHash(db, key);
    for (let s = this.candidate(db, h); s >= 0; s = this.candidate(db, h, s)) {
      if (this.input[s] === input && this.offset(s) === offset) return true;
      const other = await fetch(this.input[s]!, this.offset(s));
      if (bytesEqual(other, key)) return false;
    }
    return false;
  }

  /** Visits every occupied slot. */
  forEach(fn: (slot: number) => void): void {
    for (let s = 0; s < this.cap; s++) if (this.hash[s] !== EMPTY) fn(s);
  }

  /**
   * Doubles the table. Each entry's new slot depends on its hash alone, so the new hash array
   * and a slot map (4 bytes an old slot) settle where everything goes; then the other arrays
   * move one at a time, each old one dropped as soon as its copy is filled. The most held at
   * once is 34 bytes an old slot (old arrays 14, new 28 and the map 4, minus what is already
   * dropped), i.e. 42.5 bytes a key at the 0.8 load a growth happens at; allocating all five new
   * arrays first would hold 42 bytes an old slot, 52.5 a key.
   */
  private grow(): void {
    const old = this.cap;
    const cap = old * 2;
    const mask = cap - 1;
    let live = old * 14;
    const hold = (delta: number): void => {
      live += delta;
      if (live > this.peakBytes) this.peakBytes = live;
    };
    const oh = this.hash;
    const hash = new Uint32Array(cap);
    const to = new Uint32Array(old);
    hold(cap * 4 + old * 4);
    for (let s = 0; s < old; s++) {
      const h = oh[s]!;
      if (h === EMPTY) {
        to[s] = NOWHERE;
        continue;
      }
      let t = h & mask;
      while (hash[t] !== EMPTY) t = (t + 1) & mask;
      hash[t] = h;
      to[s] = t;
    }
    this.hash = hash;
    hold(-old * 4);
    hold(cap * 4);
    this.offLo = moved32(this.offLo, to, cap);
    hold(-old * 4);
    hold(cap * 2);
    this.offHi = moved16(this.offHi, to, cap);
    hold(-old * 2);
    hold(cap * 2);
    this.input = moved16(this.input, to, cap);
    hold(-old * 2);
    hold(cap * 2);
    this.db = moved16(this.db, to, cap);
    hold(-old * 2);
    this.cap = cap;
    this.mask = mask;
  }
}

/** Marks an empty old slot in grow()'s slot map. */
const NOWHERE = 0xffffffff;

function moved32(from: Uint32Array, to: Uint32Array, cap: number): Uint32Array {
  const out = new Uint32Array(cap);
  for (let s = 0; s < to.length; s++) {
    const t = to[s]!;
    if (t !== NOWHERE) out[t] = from[s]!;
  }
  return out;
}

function moved16(from: Uint16Array, to: Uint32Array, cap: number): Uint16Array {
  const out = new Uint16Array(cap);
  for (let s = 0; s < to.length; s++) {
    const t = to[s]!;
    if (t !== NOWHERE) out[t] = from[s]!;
  }
  return out;
}


/**
 * A set of slots of one KeyIndex, a bit each: the winners a pass has met (verify, diff). The
 * index must not grow while the set is in use (slots move when it does).
 */
export class SlotSet {
  private readonly bits: Uint32Array;

  constructor(capacity: number) {
    this.bits = new Uint32Array(Math.ceil(capacity / 32));
  }

  has(slot: number): boolean {
    return (this.bits[slot >>> 5]! & (1 << (slot & 31))) !== 0;
  }

  add(slot: number): void {
    this.bits[slot >>> 5] = this.bits[slot >>> 5]! | (1 << (slot & 31));
  }

  /** The occupied slots of `index` not in the set, in slot order. */
  missing(index: KeyIndex): Uint32Array {
    let n = 0;
    index.forEach((s) => {
      if (!this.has(s)) n++;
    });
    const out = new Uint32Array(n);
    let i = 0;
    index.forEach((s) => {
      if (!this.has(s)) out[i++] = s;
    });
    return out;
  }
}
