/**
 * The reader's skim (RdbParser.skimRun: key records walked for their extent only, for a driver that
 * needs record boundaries) again, as a WebAssembly function assembled here from its instructions.
 * The parallel memory scan skims every record of a file on its calling thread before the spans go
 * to the threads; in WebAssembly that takes a fraction of the JavaScript loop's time and needs no
 * compiling while it runs.
 *
 * It makes the same checks as the JavaScript skim, and parseItem's header checks of a raw intset
 * (the JavaScript skim leaves those to parseItem); it stops at the first record it leaves to
 * parseItem, which reads it with every check and its errors. The buffer is copied into the module's memory once (buffers of at most
 * 16 MiB: the memory never shrinks); the caller must not change a buffer once skimmed.
 */
import {
  add, and, body, c, call, cat, eq, eqz, extU, geS, geU, gg, gs, gtU, HEADER, I32, iff, inc, instantiate, ld8, ld32, lg, ls, ltS, ltU, mul64,
  name, ne, ne64, or, rdbLength, ret, section, sel, shrU, sub, uleb, whileDo, type Code, type WasmMemory,
} from './wasm-asm.js';
import * as rdb from './constants.js';

/** Functions: len, str, listpack, skim, intset. */
const F = { len: 0, str: 1, lp: 2, skim: 3, intset: 4 } as const;
/** Globals: where the last len ended, the records the last skim walked, the skim's end and limit. */
const G = { NEXT: 0, N: 1, END: 2, MAX: 3 } as const;

/** The types the skim walks (RdbParser's SKIM_TYPES): their bytes in memory at 0..256. */
const SKIM_TYPES = [
  rdb.TYPE_STRING, rdb.TYPE_LIST, rdb.TYPE_SET, rdb.TYPE_HASH, rdb.TYPE_ZSET_2, rdb.TYPE_HASH_ZIPMAP, rdb.TYPE_LIST_ZIPLIST,
  rdb.TYPE_SET_INTSET, rdb.TYPE_ZSET_ZIPLIST, rdb.TYPE_HASH_ZIPLIST, rdb.TYPE_HASH_LISTPACK, rdb.TYPE_ZSET_LISTPACK,
  rdb.TYPE_SET_LISTPACK, rdb.TYPE_LIST_QUICKLIST_2,
];
/** Where a buffer goes in the module's memory (after the type table). */
const BASE = 256;

/** len(q): an RDB length of the 6-, 14- or 32-bit form below 2^31 at q (NEXT set past it), else -1. */
function lenFn(): Code {
  const [Q, B, V] = [0, 1, 2];
  return cat(rdbLength(Q, gg(G.END), (next) => gs(G.NEXT, next), 0x7fffffff, B, V), [0x0b]);
}

/** str(q): where the RDB string at q ends, or -1 (skimString). */
function strFn(): Code {
  const [Q, B, N, E] = [0, 1, 2, 3];
  const upTo = (e: Code): Code => ret(sel(e, c(-1), geS(gg(G.END), e)));
  return cat(
    iff(geU(lg(Q), gg(G.END)), ret(c(-1))),
    ls(B, ld8(lg(Q))),
    iff(ne(shrU(lg(B), c(6)), c(3)), cat(
      ls(N, call(F.len, lg(Q))),
      iff(or(ltS(lg(N), c(0)), gtU(lg(N), gg(G.MAX))), ret(c(-1))),
      iff(gtU(lg(N), sub(gg(G.END), gg(G.NEXT))), ret(c(-1))),
      ret(add(gg(G.NEXT), lg(N))),
    )),
    ls(E, and(lg(B), c(0x3f))),
    iff(eq(lg(E), c(rdb.ENC_INT8)), upTo(add(lg(Q), c(2)))),
    iff(eq(lg(E), c(rdb.ENC_INT16)), upTo(add(lg(Q), c(3)))),
    iff(eq(lg(E), c(rdb.ENC_INT32)), upTo(add(lg(Q), c(5)))),
    iff(ne(lg(E), c(rdb.ENC_LZF)), ret(c(-1))),
    ls(N, call(F.len, add(lg(Q), c(1)))),
    iff(or(ltS(lg(N), c(0)), gtU(lg(N), gg(G.MAX))), ret(c(-1))),
    ls(E, call(F.len, gg(G.NEXT))),
    iff(or(ltS(lg(E), c(0)), gtU(lg(E), gg(G.MAX))), ret(c(-1))),
    iff(gtU(lg(N), sub(gg(G.END), gg(G.NEXT))), ret(c(-1))),
    add(gg(G.NEXT), lg(N)),
    [0x0b],
  );
}

/**
 * The start of a blob reader at local `q`: a compressed blob returns str's answer (its extent); a
 * raw one of `min` to MAX bytes within END leaves its length in local `n` and its first byte's
 * position in local `s`; anything else returns -1.
 */
function blobAt(q: number, n: number, s: number, min: number): Code {
  return cat(
    iff(geU(lg(q), gg(G.END)), ret(c(-1))),
    iff(eq(ld8(lg(q)), c(0xc3)), ret(call(F.str, lg(q)))),
    ls(n, call(F.len, lg(q))),
    iff(or(ltS(lg(n), c(min)), gtU(lg(n), gg(G.MAX))), ret(c(-1))),
    ls(s, gg(G.NEXT)),
    iff(gtU(lg(n), sub(gg(G.END), lg(s))), ret(c(-1))),
  );
}

/** lp(q): where the listpack blob at q ends, with listpackCount's header checks when raw; or -1 (skimListpack). */
function lpFn(): Code {
  const [Q, N, S, E] = [0, 1, 2, 3];
  return cat(
    blobAt(Q, N, S, 7),
    ls(E, add(lg(S), lg(N))),
    iff(ne(ld32(lg(S)), lg(N)), ret(c(-1))),
    iff(ne(ld8(sub(lg(E), c(1))), c(0xff)), ret(c(-1))), // the end marker last
    iff(and(eq(ld8(lg(S), 4), c(0xff)), eq(ld8(lg(S), 5), c(0xff))), ret(c(-1))),
    lg(E),
    [0x0b],
  );
}

/**
 * intset(q): where the intset blob at q ends: compressed, its extent; raw, the header checks of
 * intsetCount too (a width of 2, 4 or 8, a count above 0 that fills the blob); or -1.
 */
function intsetFn(): Code {
  const [Q, N, S, W, L] = [0, 1, 2, 3, 4];
  return cat(
    blobAt(Q, N, S, 8),
    ls(W, ld32(lg(S))),
    iff(and(and(ne(lg(W), c(2)), ne(lg(W), c(4))), ne(lg(W), c(8))), ret(c(-1))),
    ls(L, ld32(lg(S), 4)),
    // L > 0 and L * W = N - 8 (in 64 bits).
    iff(eqz(lg(L)), ret(c(-1))),
    iff(ne64(mul64(extU(lg(L)), extU(lg(W))), extU(sub(lg(N), c(8)))), ret(c(-1))),
    add(lg(S), lg(N)),
    [0x0b],
  );
}

/** skim(p, end, max): where the skim stopped (a record boundary); N the records walked. */
function skimFn(): Code {
  const [P, PEND, PMAX, Q, T, OP, CNT, I] = [0, 1, 2, 3, 4, 5, 6, 7];
  const out = cat(ret(lg(P)));
  return cat(
    gs(G.END, lg(PEND)), gs(G.MAX, lg(PMAX)), gs(G.N, c(0)),
    [0x03, 0x40], // loop: one record
    ls(Q, lg(P)),
    ls(T, c(-1)),
    // The expiry and LFU opcodes before the type.
    whileDo(ltU(lg(Q), lg(PEND)), cat(
      ls(OP, ld8(lg(Q))),
      iff(eq(lg(OP), c(rdb.OP_EXPIRETIME_MS)), cat(inc(Q, c(9)), [0x0c, 1])),
      iff(eq(lg(OP), c(rdb.OP_EXPIRETIME)), cat(inc(Q, c(5)), [0x0c, 1])),
      iff(eq(lg(OP), c(rdb.OP_FREQ)), cat(inc(Q, c(2)), [0x0c, 1])),
      ls(T, lg(OP)),
      [0x0c, 1], // break: leave the block around the loop
    )),
    // (T is -1 when the opcodes ran to the end: the table byte read is then 255's, 0.)
    iff(or(ltS(lg(T), c(0)), eq(ld8(and(lg(T), c(0xff))), c(0))), out),
    ls(Q, call(F.str, add(lg(Q), c(1)))),
    iff(ltS(lg(Q), c(0)), out),
    iff(eq(lg(T), c(rdb.TYPE_STRING)), ls(Q, call(F.str, lg(Q))),
      iff(eq(lg(T), c(rdb.TYPE_LIST_QUICKLIST_2)), cat(
        ls(CNT, call(F.len, lg(Q))),
        iff(or(ltS(lg(CNT), c(0)), gtU(lg(CNT), gg(G.MAX))), out),
        ls(Q, gg(G.NEXT)),
        ls(I, c(0)),
        whileDo(and(ltU(lg(I), lg(CNT)), geS(lg(Q), c(0))), cat(
          // Packed nodes (plain ones are parseItem's).
          iff(or(geU(add(lg(Q), c(1)), lg(PEND)), ne(ld8(lg(Q)), c(rdb.QUICKLIST_NODE_PACKED))), cat(ls(Q, c(-1)), [0x0c, 2])),
          ls(Q, call(F.lp, add(lg(Q), c(1)))),
          inc(I),
        )),
      ),
      iff(or(or(eq(lg(T), c(rdb.TYPE_LIST)), eq(lg(T), c(rdb.TYPE_SET))), or(eq(lg(T), c(rdb.TYPE_HASH)), eq(lg(T), c(rdb.TYPE_ZSET_2)))), cat(
        ls(CNT, call(F.len, lg(Q))),
        iff(or(ltS(lg(CNT), c(0)), gtU(lg(CNT), gg(G.MAX))), out),
        ls(Q, gg(G.NEXT)),
        ls(I, c(0)),
        whileDo(and(ltU(lg(I), lg(CNT)), geS(lg(Q), c(0))), cat(
          ls(Q, call(F.str, lg(Q))),
          iff(and(eq(lg(T), c(rdb.TYPE_HASH)), geS(lg(Q), c(0))), ls(Q, call(F.str, lg(Q)))),
          iff(and(eq(lg(T), c(rdb.TYPE_ZSET_2)), geS(lg(Q), c(0))), inc(Q, c(8))),
          inc(I),
        )),
      ),
      // A listpack or intset blob, or a ziplist or zipmap blob when LZF-compressed.
      iff(or(or(eq(lg(T), c(rdb.TYPE_HASH_LISTPACK)), eq(lg(T), c(rdb.TYPE_ZSET_LISTPACK))), eq(lg(T), c(rdb.TYPE_SET_LISTPACK))),
        ls(Q, call(F.lp, lg(Q))),
        iff(eq(lg(T), c(rdb.TYPE_SET_INTSET)),
          ls(Q, call(F.intset, lg(Q))),
          iff(and(ltU(lg(Q), lg(PEND)), eq(ld8(lg(Q)), c(0xc3))), ls(Q, call(F.str, lg(Q))), ls(Q, c(-1)))),
      )))),
    iff(or(ltS(lg(Q), c(0)), gtU(lg(Q), lg(PEND))), out),
    ls(P, lg(Q)),
    gs(G.N, add(gg(G.N), c(1))),
    [0x0c, 0, 0x0b],
    [0x00, 0x0b],
  );
}

function moduleBytes(): Uint8Array {
  const fn = (params: number[], results: number[]): number[] => [0x60, params.length, ...params, results.length, ...results];
  const type = section(1, [2, ...fn([I32], [I32]), ...fn([I32, I32, I32], [I32])]);
  const func = section(3, [5, 0, 0, 0, 1, 0]);
  const memory = section(5, [1, 0x00, 1]);
  const globals = section(6, [4, ...[0, 1, 2, 3].flatMap(() => [I32, 0x01, ...c(0), 0x0b])]);
  const exports = section(7, [3, ...name('s'), 0x00, F.skim, ...name('m'), 0x02, 0, ...name('n'), 0x03, ...uleb(G.N)]);
  const code = section(10, [5, ...body(2, lenFn()), ...body(3, strFn()), ...body(3, lpFn()), ...body(5, skimFn()), ...body(4, intsetFn())]);
  return Uint8Array.from([...HEADER, ...type, ...func, ...memory, ...globals, ...exports, ...code]);
}

interface Skimmer {
  s: (p: number, end: number, max: number) => number;
  m: WasmMemory;
  n: { value: number };
}

let skimmer: Skimmer | null | undefined;
let bytes = new Uint8Array(0);
/** The buffer in the module's memory. */
let loaded: Uint8Array | null = null;
/** Largest buffer copied in: the memory never shrinks. */
const MAX_BUFFER = 16 * 1024 * 1024;

function load(): Skimmer | null {
  const ex = instantiate(moduleBytes());
  if (ex === null) return null;
  const s = ex as unknown as Skimmer;
  bytes = new Uint8Array(s.m.buffer);
  for (const t of SKIM_TYPES) bytes[t] = 1;
  return s;
}

/** Records the last skimWasm walked. */
export const skimWasmResult = { records: 0 };

/**
 * Skims `b` from `p` on as RdbParser's skim does (the same checks, the same stop or an earlier
 * one) and returns where it stopped; skimWasmResult.records tells how many key records it walked.
 * -1 when it cannot run here (no WebAssembly, a buffer over 16 MiB): the caller skims in
 * JavaScript. `b` is copied in on its first call and must not change afterwards.
 */
export function skimWasm(b: Uint8Array, p: number, max: number): number {
  if (skimmer === undefined) skimmer = load();
  if (skimmer === null || b.length > MAX_BUFFER) return -1;
  if (b !== loaded) {
    const need = BASE + b.length + 16;
    if (need > bytes.length) {
      skimmer.m.grow(Math.ceil((need - bytes.length) / 65536));
      bytes = new Uint8Array(skimmer.m.buffer);
    }
    bytes.set(b, BASE);
    loaded = b;
  }
  const q = skimmer.s(BASE + p, BASE + b.length, Math.min(max, 0x7fffffff));
  skimWasmResult.records = skimmer.n.value;
  return q - BASE;
}

/** Forgets the buffer copied in (a caller about to reuse its memory). */
export function skimWasmForget(): void {
  loaded = null;
}

/** The module's bytes (for the tests: they must compile). */
export const skimModuleBytes = moduleBytes;
