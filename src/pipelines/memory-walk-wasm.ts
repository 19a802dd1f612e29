/**
 * The span walk of `inspect --format memory` (memory-span.ts walkRecords) again, as a WebAssembly
 * module assembled here from its instructions: record opcodes, the key, the value's estimate
 * (report/memory.ts estimateValueAt) and the CSV row, without returning to JavaScript between keys.
 *
 * Why: the JavaScript walk is fast once V8 has optimized it, but a command runs it only once, and
 * its first half-second goes to compiling it (TurboFan, several hundred ms of compile per thread)
 * while it runs unoptimized. A WebAssembly module is compiled in a few milliseconds, before it runs.
 *
 * It imports the codec's LZF module's memory and functions (native-free-parser/lzf-wasm.ts: the span
 * is preloaded there, compressed listpacks are inflated and walked there) and the CSV module's row
 * function (src/format/memory-csv-wasm.ts).
 *
 * It takes what a modern target (RDB 10 and later: listpacks, quicklists) holds from the common
 * records: strings in every encoding, listpack hashes, zsets and sets, quicklist 2 lists, intsets, and
 * plain sets and hashes, with their expiry and LFU opcodes and database switches. Everything else
 * (another type, an integer or compressed key, a conversion it does not model, a damaged value, a
 * key that needs quoting in CSV, a value of 1 GiB or more) stops it at the start of that record
 * group: the JavaScript walk takes the record, or the reader. It never decides otherwise than the
 * JavaScript walk does: where the two would differ it stops, and the tests compare the two on every
 * fixture and on damaged files.
 */
import * as rdb from '../../native-free-parser/constants.js';
import { LZF_WASM_MAX_OUTPUT, lzfWasmFunctions, lzfWasmPreloadedAt, lzfWasmScratchAt } from '../../native-free-parser/lzf-wasm.js';
import {
  add, add64, addF, and, be32, body, c, c64, call, cat, clz, compile, instantiate, eq, eqz, ext, extU, F64, f64Const, f64OfI32, f64OfI64, f64OfU32, geF, geS64, geU,
  gg, gs, gtS, gtS64, gtU, HEADER, I32, i32OfF64, I64, iff, inc, ld16s, ld16u, ld32, ld64, ld8, ld8s, leF, leS64, leU, lg, ls, ltF, ltS,
  ltS64, ltU, maxInto, mul, mul64, mulF, name, ne, ne64, negF, or, rdbLength, ret, section, sel, shl, shrU, sub, sub64, subF, divF, uleb, whileDo,
  type Code,
} from '../../native-free-parser/wasm-asm.js';
import { ROW_ROOM, type CsvRowsWasm } from '../format/memory-csv-wasm.js';
import type { MemoryModel } from '../report/memory.js';

// ---- the module's layout ---------------------------------------------------------------------

/** Functions: the 5 imports, then the module's own. */
const F = {
  inflate: 0, walkLp: 1, row: 2, exp: 3, round: 4,
  digits: 5, sc: 6, sds: 7, lpInt: 8, lpStr: 9, len: 10, intOf: 11, str: 12, blob: 13, buckets: 14,
  dexpand: 15, dstep: 16, dadd: 17, value: 18, init: 19, walk: 20,
} as const;

/** Globals, all mutable. */
const G = {
  POS: 0, END: 1, SLEN: 2, ISINT: 3, SINT: 4, RAWS: 5, RAWE: 6, LZF: 7,
  Q: 8, SDS72: 9, DICT: 10, QLNODE: 11, HASHE: 12, HASHV: 13, SETIE: 14, SETLE: 15, SETLV: 16, ZSETE: 17, LNB: 18,
  SETLP: 19, LISTLP: 20, DROP: 21, NOW: 22, FA: 23, FL: 24, TAB: 25, SCR: 26,
  VB: 27, VENC: 28, VEL: 29, VLG: 30,
  S0: 31, U0: 32, S1: 33, U1: 34, STEPS: 35,
  R_DB: 36, R_O: 37, R_READ: 38, R_KEPT: 39, R_EXP: 40, R_BYTES: 41, R_FULL: 42,
  WANTLG: 43,
} as const;
const GLOBAL_TYPES: number[] = Array.from({ length: 44 }, (_, g) => (g === G.SINT || g === G.VB ? I64 : g === G.NOW || g === G.R_BYTES ? F64 : I32));

/** The words of the CSV rows, by id: the five kinds, then the encodings. */
const WORDS = ['string', 'list', 'set', 'zset', 'hash', 'int', 'embstr', 'raw', 'listpack', 'quicklist', 'intset', 'hashtable'] as const;
const W = { INT: 5, EMBSTR: 6, RAW: 7, LISTPACK: 8, QUICKLIST: 9, INTSET: 10, HASHTABLE: 11 } as const;
/** The value types taken here, with their kind's word id. */
const TAKEN: Array<[number, number]> = [
  [rdb.TYPE_STRING, 0], [rdb.TYPE_SET, 2], [rdb.TYPE_HASH, 4], [rdb.TYPE_SET_INTSET, 2], [rdb.TYPE_HASH_LISTPACK, 4],
  [rdb.TYPE_ZSET_LISTPACK, 3], [rdb.TYPE_LIST_QUICKLIST_2, 1], [rdb.TYPE_SET_LISTPACK, 2],
];
/** The table's bytes: a kind byte per type byte (word id + 1, 0: not taken), then address and length per word. */
const TABLE_BYTES = 256 + 8 * WORDS.length;
/** Largest value inflated here (the codec module's limit): bigger ones are the JavaScript walk's. */
const MAX_INFLATE = LZF_WASM_MAX_OUTPUT;
/** Lengths from 2^30 on stop the walk (every size then stays far below 2^31). */
const BIG = 0x3fffffff;

// ---- the functions ---------------------------------------------------------------------------

/** digits(v): the decimal length of the i32 v, its sign included. */
function digitsFn(): Code {
  const [V, U, N] = [0, 1, 2];
  const atLeast = (k: number): Code => [...geU(lg(U), c(k)), 0x6a];
  return cat(
    ls(N, c(1)), ls(U, lg(V)),
    iff(ltS(lg(V), c(0)), cat(ls(N, c(2)), ls(U, sub(c(0), lg(V))))),
    lg(N),
    ...[10, 100, 1000, 10000, 100000, 1000000, 10000000, 100000000, 1000000000].map(atLeast),
    [0x0b],
  );
}

/** sc(n): jemalloc's size class of n bytes (n < 2^31) under the quantum Q. */
function scFn(): Code {
  const [N, STEP] = [0, 1];
  return cat(
    iff(leU(lg(N), c(8)), ret(c(8))),
    iff(and(eq(gg(G.Q), c(8)), leU(lg(N), c(64))), ret(and(add(lg(N), c(7)), c(-8)))),
    iff(leU(lg(N), c(128)), ret(and(add(lg(N), c(15)), c(-16)))),
    ls(STEP, shl(c(1), sub(sub(c(31), clz(sub(lg(N), c(1)))), c(2)))),
    and(sub(add(lg(N), lg(STEP)), c(1)), sub(c(0), lg(STEP))),
    [0x0b],
  );
}

/** sds(len): the allocated size of an sds of len bytes (sdsZmallocSize). */
function sdsFn(): Code {
  const L = 0;
  const of = (hdr: number): Code => ret(call(F.sc, add(lg(L), c(hdr + 1))));
  return cat(
    iff(ltU(lg(L), c(32)), of(1)),
    iff(gg(G.SDS72), cat(iff(leU(lg(L), c(252)), of(3)), iff(leU(lg(L), c(65530)), of(5)), of(9))),
    iff(ltU(lg(L), c(256)), of(3)),
    iff(ltU(lg(L), c(65536)), of(5)),
    call(F.sc, add(lg(L), c(10))),
    [0x0b],
  );
}

/** lpInt(v): listpack entry bytes of the i64 integer v. */
function lpIntFn(): Code {
  const V = 0;
  const within = (lo: number, hi: number, n: number): Code => iff(and(geS64(lg(V), c64(lo)), leS64(lg(V), c64(hi))), ret(c(n)));
  return cat(
    within(0, 127, 2), within(-4096, 4095, 3), within(-32768, 32767, 4), within(-8388608, 8388607, 5),
    within(-2147483648, 2147483647, 6),
    c(10),
    [0x0b],
  );
}

/** lpStr(len): listpack entry bytes of a string of len bytes that is not an integer. */
function lpStrFn(): Code {
  const [N, L] = [0, 1];
  return cat(
    ls(L, add(sel(c(1), sel(c(2), c(5), ltU(lg(N), c(4096))), ltU(lg(N), c(64))), lg(N))),
    add(lg(L), add(c(1), add(add(gtU(lg(L), c(127)), geU(lg(L), c(16383))), add(geU(lg(L), c(2097151)), geU(lg(L), c(268435455)))))),
    [0x0b],
  );
}

/** len(): the RDB length at POS (moving POS past it), or -1: special, 64-bit, 2^30 or more, or past END. */
function lenFn(): Code {
  const [B, V, P] = [0, 1, 2];
  return cat(ls(P, gg(G.POS)), rdbLength(P, gg(G.END), (next) => gs(G.POS, next), BIG, B, V), [0x0b]);
}

/**
 * intOf(s, e): 1 when [s, e) (at most 20 bytes) is a canonical decimal integer of at most 18
 * digits (its value in SINT), 0 when it is not an integer, 2 when it has 19 digits (the
 * JavaScript walk compares those with the int64 limits).
 */
function intOfFn(): Code {
  const [S, E, I, NEG, FIRST, V, D] = [0, 1, 2, 3, 4, 5, 6];
  return cat(
    iff(eq(lg(S), lg(E)), ret(c(0))),
    ls(NEG, eq(ld8(lg(S)), c(0x2d))),
    ls(I, add(lg(S), lg(NEG))),
    iff(eq(lg(I), lg(E)), ret(c(0))),
    ls(FIRST, ld8(lg(I))),
    iff(eq(lg(FIRST), c(0x30)), cat(
      iff(and(eqz(lg(NEG)), eq(sub(lg(E), lg(S)), c(1))), cat(gs(G.SINT, c64(0)), ret(c(1)))),
      ret(c(0)),
    )),
    iff(gtU(sub(lg(FIRST), c(0x31)), c(8)), ret(c(0))),
    // More than 19 digits: not an integer (string2ll).
    iff(gtU(sub(lg(E), lg(I)), c(19)), ret(c(0))),
    ls(S, lg(I)),
    ls(V, c64(0)),
    whileDo(ne(lg(I), lg(E)), cat(
      ls(D, sub(ld8(lg(I)), c(0x30))),
      iff(gtU(lg(D), c(9)), ret(c(0))),
      ls(V, add64(mul64(lg(V), c64(10)), extU(lg(D)))),
      inc(I),
    )),
    // 19 digits: the JavaScript walk compares them with the int64 limits.
    iff(eq(sub(lg(E), lg(S)), c(19)), ret(c(2))),
    gs(G.SINT, [...sel(sub64(c64(0), lg(V)), lg(V), lg(NEG))]),
    c(1),
    [0x0b],
  );
}

/**
 * str(): reads the RDB string at POS (0), setting SLEN (its length as text), ISINT and SINT, RAWS and
 * RAWE (its stored bytes; RAWS -1 for an integer encoding) and LZF; or 1 for what the JavaScript walk
 * must read (past END, an unknown encoding, a length of 2^30 or more, a 19-digit integer).
 */
function strFn(): Code {
  const [P, B, E, V, CL, UL, N] = [0, 1, 2, 3, 4, 5, 6];
  const need = (n: number): Code => iff(gtU(add(lg(P), c(n)), gg(G.END)), ret(c(1)));
  /** Local `l` = len(), or return 1. */
  const lenOr1 = (l: number): Code => cat(ls(l, call(F.len)), iff(ltS(lg(l), c(0)), ret(c(1))));
  /** The string's stored bytes are the `n` at P (or return 1 past END): RAWS, RAWE, POS past them, SLEN, LZF. */
  const stored = (n: number, slen: Code, lzf: number): Code => cat(
    iff(gtU(lg(n), sub(gg(G.END), lg(P))), ret(c(1))),
    gs(G.RAWS, lg(P)), gs(G.RAWE, add(lg(P), lg(n))), gs(G.POS, add(lg(P), lg(n))),
    gs(G.SLEN, slen), gs(G.ISINT, c(0)), gs(G.LZF, c(lzf)),
  );
  return cat(
    ls(P, gg(G.POS)),
    iff(geU(lg(P), gg(G.END)), ret(c(1))),
    ls(B, ld8(lg(P))),
    iff(geU(lg(B), c(0xc0)), cat(
      ls(E, and(lg(B), c(0x3f))),
      ls(P, add(lg(P), c(1))),
      iff(eq(lg(E), c(rdb.ENC_LZF)), cat(
        gs(G.POS, lg(P)),
        lenOr1(CL),
        lenOr1(UL),
        ls(P, gg(G.POS)),
        stored(CL, lg(UL), 1),
        ret(c(0)),
      )),
      iff(eq(lg(E), c(rdb.ENC_INT8)),
        cat(need(1), ls(V, ld8s(lg(P))), gs(G.POS, add(lg(P), c(1)))),
        iff(eq(lg(E), c(rdb.ENC_INT16)),
          cat(need(2), ls(V, ld16s(lg(P))), gs(G.POS, add(lg(P), c(2)))),
          cat(
            iff(ne(lg(E), c(rdb.ENC_INT32)), ret(c(1))),
            need(4), ls(V, ld32(lg(P))), gs(G.POS, add(lg(P), c(4))),
          ))),
      gs(G.SINT, ext(lg(V))),
      gs(G.ISINT, c(1)),
      gs(G.SLEN, call(F.digits, lg(V))),
      gs(G.RAWS, c(-1)),
      gs(G.LZF, c(0)),
      ret(c(0)),
    )),
    lenOr1(N),
    ls(P, gg(G.POS)),
    stored(N, lg(N), 0),
    iff(leU(lg(N), c(20)), cat(
      ls(V, call(F.intOf, lg(P), add(lg(P), lg(N)))),
      iff(eq(lg(V), c(2)), ret(c(1))),
      gs(G.ISINT, lg(V)),
    )),
    c(0),
    [0x0b],
  );
}

/**
 * blob(): the listpack string at POS walked (inflated first when compressed, at SCR): its entry
 * count, the longest entries at bytes 0..12; SLEN is its length. -1 for what the JavaScript walk
 * must take: a damaged stream or entry, a 64-bit integer entry, a count other than the header's.
 */
function blobFn(): Code {
  const [N, H, HS] = [0, 1, 2];
  return cat(
    iff(call(F.str), ret(c(-1))),
    iff(ltS(gg(G.RAWS), c(0)), ret(c(-1))),
    // Without the longest element: the header's count, unless 65535, read where the blob is raw
    // or, compressed, in its first literal run when that holds the 6 header bytes (nothing
    // inflated, nothing walked; the longest entries -1).
    iff(eqz(gg(G.WANTLG)), cat(
      ls(HS, gg(G.RAWS)),
      iff(gg(G.LZF), cat(
        ls(H, ld8(gg(G.RAWS))),
        iff(or(geU(lg(H), c(32)), ltU(lg(H), c(5))), ret(c(-1))),
        ls(HS, add(gg(G.RAWS), c(1))),
      )),
      iff(gtU(add(lg(HS), c(6)), gg(G.RAWE)), ret(c(-1))),
      ls(N, ld16u(lg(HS), 4)),
      iff(ne(lg(N), c(0xffff)), cat(
                [...c(0), ...c(-1), 0x36, 2, 0], [...c(4), ...c(-1), 0x36, 2, 0], [...c(8), ...c(-1), 0x36, 2, 0],
        ret(lg(N)),
      )),
    )),
    iff(gg(G.LZF), cat(
      iff(gtU(gg(G.SLEN), c(MAX_INFLATE)), ret(c(-1))),
      iff(ne(call(F.inflate, gg(G.RAWS), gg(G.RAWE), gg(G.SCR), add(gg(G.SCR), gg(G.SLEN))), add(gg(G.SCR), gg(G.SLEN))), ret(c(-1))),
      ls(N, call(F.walkLp, gg(G.SCR), add(gg(G.SCR), gg(G.SLEN)))),
      ret(sel(c(-1), lg(N), ltS(lg(N), c(0)))),
    )),
    iff(ltU(sub(gg(G.RAWE), gg(G.RAWS)), c(7)), ret(c(-1))),
    ls(N, call(F.walkLp, gg(G.RAWS), gg(G.RAWE))),
    iff(ltS(lg(N), c(0)), ret(c(-1))),
    ls(H, ld16u(gg(G.RAWS), 4)),
    iff(and(ne(lg(H), c(0xffff)), ne(lg(H), lg(N))), ret(c(-1))),
    lg(N),
    [0x0b],
  );
}

/** buckets(n): a dict's buckets for n entries, a power of two, at least 4 (n < 2^30). */
function bucketsFn(): Code {
  const N = 0;
  return cat(
    iff(leU(lg(N), c(4)), ret(c(4))),
    shl(c(1), sub(c(32), clz(sub(lg(N), c(1))))),
    [0x0b],
  );
}

// The dict simulation of report/memory.ts DictSim, on globals S0 U0 S1 U1 STEPS (S1 > 0: rehashing).

function dexpandFn(): Code {
  const [SIZE, NS] = [0, 1];
  return cat(
    iff(gg(G.S1), ret([])),
    iff(gtU(gg(G.U0), lg(SIZE)), ret([])),
    ls(NS, call(F.buckets, lg(SIZE))),
    iff(eq(lg(NS), gg(G.S0)), ret([])),
    iff(eqz(gg(G.S0)), cat(gs(G.S0, lg(NS)), ret([]))),
    gs(G.S1, lg(NS)),
    // steps = Math.round(size0 * (1 - Math.exp(-used0 / size0)))
    gs(G.STEPS, i32OfF64(call(F.round, mulF(f64OfU32(gg(G.S0)), subF(f64Const(1), call(F.exp, divF(negF(f64OfU32(gg(G.U0))), f64OfU32(gg(G.S0))))))))),
    [0x0b],
  );
}

function dstepFn(): Code {
  const M = 0;
  return cat(
    iff(and(gtS(gg(G.U0), c(0)), gtS(gg(G.STEPS), c(0))), cat(
      // moved = min(used0, max(1, Math.round(used0 / steps)))
      ls(M, i32OfF64(call(F.round, divF(f64OfU32(gg(G.U0)), f64OfU32(gg(G.STEPS)))))),
      iff(ltS(lg(M), c(1)), ls(M, c(1))),
      iff(gtS(lg(M), gg(G.U0)), ls(M, gg(G.U0))),
      gs(G.U0, sub(gg(G.U0), lg(M))),
      gs(G.U1, add(gg(G.U1), lg(M))),
      gs(G.STEPS, sub(gg(G.STEPS), c(1))),
      iff(eqz(gg(G.STEPS)), cat(gs(G.U1, add(gg(G.U1), gg(G.U0))), gs(G.U0, c(0)))),
    )),
    iff(eqz(gg(G.U0)), cat(gs(G.S0, gg(G.S1)), gs(G.U0, gg(G.U1)), gs(G.S1, c(0)), gs(G.U1, c(0)))),
    [0x0b],
  );
}

function daddFn(): Code {
  return cat(
    iff(gg(G.S1), call(F.dstep)),
    iff(eqz(gg(G.S1)), iff(eqz(gg(G.S0)), call(F.dexpand, c(4)), iff(geU(gg(G.U0), gg(G.S0)), call(F.dexpand, add(gg(G.U0), c(1)))))),
    iff(gg(G.S1), gs(G.U1, add(gg(G.U1), c(1))), gs(G.U0, add(gg(G.U0), c(1)))),
    [0x0b],
  );
}

/**
 * value(type): the estimate of the value at POS (0), leaving POS past it: VB (bytes, the key's share
 * not included), VENC (word id), VEL (elements), VLG (longest element); or 1 for the JavaScript walk.
 */
function valueFn(): Code {
  const [T, N, I, CNT, LG, FIRST, SCNT, SUM, MIN, MAX, SDS, LP, ALLINT, FL, FIRSTLONG, WD, S, A, START, K, UNK] =
    [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20];
  const done = (vb: Code, enc: number, el: Code, lgst: Code): Code =>
    cat(gs(G.VB, vb), gs(G.VENC, c(enc)), gs(G.VEL, el), gs(G.VLG, lgst), ret(c(0)));
  const robjPlus = (n: Code): Code => ext(add(c(16), n));
  const sc = (n: Code): Code => call(F.sc, n);
  /** dictObject(n, sds): robj, dict, buckets, entries, the sds sizes. */
  const dictObject = (n: Code): Code =>
    add64(add64(ext(add(c(16), gg(G.DICT))), mul64(c64(8), extU(call(F.buckets, n)))), add64(mul64(c64(24), extU(n)), lg(SDS)));
  const strOr1 = (): Code => iff(call(F.str), ret(c(1)));
  /** The entry of the string just read into LP and SDS, and LG. */
  const element = (): Code => cat(
    ls(LP, add64(lg(LP), extU([...call(F.lpInt, gg(G.SINT)), ...call(F.lpStr, gg(G.SLEN)), ...gg(G.ISINT), 0x1b]))),
    ls(SDS, add64(lg(SDS), extU(call(F.sds, gg(G.SLEN))))),
    maxInto(LG, gg(G.SLEN)),
  );
  /** A listpack blob of a hash, zset or set; `limit` the entries (or pairs) it may hold as it is. */
  const packed = (type: number, limit: Code, pairs: boolean, largestAt: number): Code => iff(eq(lg(T), c(type)), cat(
    ls(N, call(F.blob)),
    iff(ltS(lg(N), c(0)), ret(c(1))),
    pairs ? ls(N, shrU(lg(N), c(1))) : [],
    iff(gtU(lg(N), limit), ret(c(1))),
    done(robjPlus(sc(gg(G.SLEN))), W.LISTPACK, lg(N), ld32(c(largestAt))),
  ));
  /** Adds a quicklist node of `size` bytes. */
  const push = (size: Code): Code => cat(
    iff(eqz(lg(SCNT)), ls(FIRST, size)),
    inc(SCNT),
    ls(SUM, add64(lg(SUM), ext(add(gg(G.QLNODE), sc(size))))),
  );
  const string = iff(eq(lg(T), c(rdb.TYPE_STRING)), cat(
    strOr1(),
    iff(gg(G.ISINT), done(c64(16), W.INT, gg(G.SLEN), gg(G.SLEN))),
    iff(leU(gg(G.SLEN), c(44)), done(ext(sc(add(gg(G.SLEN), c(20)))), W.EMBSTR, gg(G.SLEN), gg(G.SLEN))),
    done(robjPlus(call(F.sds, gg(G.SLEN))), W.RAW, gg(G.SLEN), gg(G.SLEN)),
  ));
  const intset = iff(eq(lg(T), c(rdb.TYPE_SET_INTSET)), cat(
    strOr1(),
    iff(ltS(gg(G.RAWS), c(0)), ret(c(1))),
    iff(gg(G.LZF), cat(
      iff(gtU(gg(G.SLEN), c(MAX_INFLATE)), ret(c(1))),
      iff(ne(call(F.inflate, gg(G.RAWS), gg(G.RAWE), gg(G.SCR), add(gg(G.SCR), gg(G.SLEN))), add(gg(G.SCR), gg(G.SLEN))), ret(c(1))),
      ls(S, gg(G.SCR)),
    ), ls(S, gg(G.RAWS))),
    iff(ltU(gg(G.SLEN), c(8)), ret(c(1))),
    ls(WD, ld32(lg(S))),
    ls(N, ld32(lg(S), 4)),
    iff(and(ne(lg(WD), c(2)), ne(lg(WD), c(4))), ret(c(1))),
    iff(ltS(lg(N), c(1)), ret(c(1))),
    iff(ne64(mul64(extU(lg(N)), extU(lg(WD))), extU(sub(gg(G.SLEN), c(8)))), ret(c(1))),
    iff(gtU(lg(N), gg(G.SETIE)), ret(c(1))),
    // Sorted ascending: the longest decimal is at one of the ends.
    ls(A, add(lg(S), mul(sub(lg(N), c(1)), lg(WD)))),
    iff(eq(lg(WD), c(2)),
      cat(ls(LG, call(F.digits, ld16s(lg(S), 8))), maxInto(LG, call(F.digits, ld16s(lg(A), 8)))),
      cat(ls(LG, call(F.digits, ld32(lg(S), 8))), maxInto(LG, call(F.digits, ld32(lg(A), 8))))),
    done(robjPlus(sc(gg(G.SLEN))), W.INTSET, lg(N), lg(LG)),
  ));
  const quicklist = iff(eq(lg(T), c(rdb.TYPE_LIST_QUICKLIST_2)), cat(
    ls(N, call(F.len)),
    iff(ltS(lg(N), c(0)), ret(c(1))),
    whileDo(ltU(lg(I), lg(N)), cat(
      ls(K, call(F.len)),
      iff(ltS(lg(K), c(0)), ret(c(1))),
      ls(START, gg(G.POS)),
      strOr1(),
      iff(eq(lg(K), c(rdb.QUICKLIST_NODE_PLAIN)),
        cat(push(gg(G.SLEN)), inc(CNT), maxInto(LG, gg(G.SLEN))),
        cat(
          gs(G.POS, lg(START)),
          ls(A, call(F.blob)),
          iff(ltS(lg(A), c(0)), ret(c(1))),
          iff(lg(A), push(gg(G.SLEN))),
          inc(CNT, lg(A)),
          // -1: the node's longest entry unknown (no --largest-element), and so the list's.
          iff(ltS(ld32(c(0)), c(0)), ls(UNK, c(1)), maxInto(LG, ld32(c(0)))),
        )),
      inc(I),
    )),
    iff(lg(UNK), ls(LG, c(-1))),
    iff(and(and(gg(G.LISTLP), eq(lg(SCNT), c(1))), or(eqz(gg(G.LNB)), leU(lg(FIRST), gg(G.LNB)))),
      done(robjPlus(sc(lg(FIRST))), W.LISTPACK, lg(CNT), lg(LG))),
    done(add64(c64(16 + 40), lg(SUM)), W.QUICKLIST, lg(CNT), lg(LG)),
  ));
  const set = iff(eq(lg(T), c(rdb.TYPE_SET)), cat(
    ls(N, call(F.len)),
    iff(ltS(lg(N), c(0)), ret(c(1))),
    iff(gtU(lg(N), c(1 << 26)), ret(c(1))),
    ls(ALLINT, c(1)),
    whileDo(ltU(lg(I), lg(N)), cat(
      strOr1(),
      iff(gg(G.ISINT),
        cat(iff(ltS64(gg(G.SINT), lg(MIN)), ls(MIN, gg(G.SINT))), iff(gtS64(gg(G.SINT), lg(MAX)), ls(MAX, gg(G.SINT)))),
        ls(ALLINT, c(0))),
      element(),
      inc(I),
    )),
    iff(and(lg(ALLINT), leU(lg(N), gg(G.SETIE))), cat(
      ls(WD, sel(c(2), sel(c(4), c(8), and(geS64(lg(MIN), c64(-2147483648)), leS64(lg(MAX), c64(2147483647)))),
        and(geS64(lg(MIN), c64(-32768)), leS64(lg(MAX), c64(32767))))),
      done(robjPlus(sc(add(c(8), mul(lg(N), lg(WD))))), W.INTSET, lg(N), lg(LG)),
    )),
    iff(and(and(gg(G.SETLP), leU(lg(N), gg(G.SETLE))), leU(lg(LG), gg(G.SETLV))), cat(
      iff(gtS64(lg(LP), c64(BIG)), ret(c(1))),
      done(robjPlus(sc(add(c(7), [...lg(LP), 0xa7]))), W.LISTPACK, lg(N), lg(LG)),
    )),
    done(dictObject(lg(N)), W.HASHTABLE, lg(N), lg(LG)),
  ));
  const hash = iff(eq(lg(T), c(rdb.TYPE_HASH)), cat(
    ls(N, call(F.len)),
    iff(ltS(lg(N), c(0)), ret(c(1))),
    iff(gtU(lg(N), c(1 << 26)), ret(c(1))),
    ls(FIRSTLONG, c(-1)),
    whileDo(ltU(lg(I), lg(N)), cat(
      strOr1(),
      element(),
      ls(FL, gg(G.SLEN)),
      strOr1(),
      element(),
      iff(and(ltS(lg(FIRSTLONG), c(0)), or(gtU(lg(FL), gg(G.HASHV)), gtU(gg(G.SLEN), gg(G.HASHV)))), ls(FIRSTLONG, lg(I))),
      inc(I),
    )),
    iff(and(leU(lg(N), gg(G.HASHE)), leU(lg(LG), gg(G.HASHV))), cat(
      iff(gtS64(lg(LP), c64(BIG)), ret(c(1))),
      done(robjPlus(sc(add(c(7), [...lg(LP), 0xa7]))), W.LISTPACK, lg(N), lg(LG)),
    )),
    iff(or(gtU(lg(N), gg(G.HASHE)), ltS(lg(FIRSTLONG), c(0))), done(dictObject(lg(N)), W.HASHTABLE, lg(N), lg(LG))),
    // Loaded into a listpack until the pair at FIRSTLONG, then converted: the dict as it grows.
    gs(G.S0, c(0)), gs(G.U0, c(0)), gs(G.S1, c(0)), gs(G.U1, c(0)), gs(G.STEPS, c(0)),
    call(F.dexpand, lg(FIRSTLONG)),
    ls(I, c(0)),
    whileDo(ltU(lg(I), lg(FIRSTLONG)), cat(call(F.dadd), inc(I))),
    call(F.dadd),
    ls(A, sub(sub(lg(N), lg(FIRSTLONG)), c(1))),
    iff(gtS(lg(A), c(4)), call(F.dexpand, lg(A))),
    ls(I, c(0)),
    whileDo(ltU(lg(I), lg(A)), cat(call(F.dadd), inc(I))),
    done(add64(dictObject(lg(N)), mul64(c64(8), sub64(extU(add(gg(G.S0), gg(G.S1))), extU(call(F.buckets, lg(N)))))), W.HASHTABLE, lg(N), lg(LG)),
  ));
  return cat(
    string,
    packed(rdb.TYPE_HASH_LISTPACK, gg(G.HASHE), true, 0),
    packed(rdb.TYPE_ZSET_LISTPACK, gg(G.ZSETE), true, 4),
    iff(eqz(gg(G.SETLP)), iff(eq(lg(T), c(rdb.TYPE_SET_LISTPACK)), ret(c(1)))),
    packed(rdb.TYPE_SET_LISTPACK, gg(G.SETLE), false, 0),
    quicklist,
    intset,
    set,
    hash,
    c(1),
    [0x0b],
  );
}

/** init(...): the model's numbers, the drop rule and the words' table (once per input; the file field is walk's). */
function initFn(): Code {
  const order = [G.Q, G.SDS72, G.DICT, G.QLNODE, G.HASHE, G.HASHV, G.SETIE, G.SETLE, G.SETLV, G.ZSETE, G.LNB, G.SETLP, G.LISTLP, G.DROP, G.NOW, G.TAB, G.WANTLG];
  return cat(...order.map((g, i) => gs(g, lg(i))), [0x0b]);
}

/**
 * walk(p, end, db, o, oend, scr, fa, fl): writes the rows of the records from p on at o (rows end
 * before oend; the file column's field of fl bytes at fa), inflating at scr, and returns where it stopped: at end, or at the start of the record
 * group it leaves to the JavaScript walk (R_FULL 1 when it stopped for room in the rows' area).
 * R_DB, R_O and the counts tell the rest.
 */
function walkFn(): Code {
  const [P, PEND, DB, O, OEND, PSCR, PFA, PFL, START, EXP, OPC, L0, KS, KL, VE, READ, KEPT, EXPD, KIND, R, BYTES, VBF] =
    [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21];
  const stop = cat(
    gs(G.R_DB, lg(DB)), gs(G.R_O, lg(O)), gs(G.R_READ, lg(READ)), gs(G.R_KEPT, lg(KEPT)), gs(G.R_EXP, lg(EXPD)), gs(G.R_BYTES, lg(BYTES)),
    ret(lg(START)),
  );
  const stopIf = (cond: Code): Code => iff(cond, stop);
  /** The address (k 0) or length (k 4) of a word in the table: `base` 256, or 248 for a kind id + 1. */
  const word = (id: Code, base: number, k: number): Code => ld32(add(gg(G.TAB), add(c(base + k), shl(id, c(3)))));
  return cat(
    gs(G.END, lg(PEND)), gs(G.SCR, lg(PSCR)), gs(G.FA, lg(PFA)), gs(G.FL, lg(PFL)), gs(G.R_FULL, c(0)),
    ls(START, lg(P)), ls(EXP, f64Const(-1)),
    [0x03, 0x40],
    stopIf(geU(lg(P), lg(PEND))),
    ls(OPC, ld8(lg(P))),
    iff(geU(lg(OPC), c(248)), cat(
      iff(eq(lg(OPC), c(rdb.OP_EXPIRETIME_MS)), cat(
        stopIf(gtU(add(lg(P), c(9)), lg(PEND))),
        ls(EXP, f64OfI64(ld64(lg(P), 1))),
        ls(P, add(lg(P), c(9))),
        [0x0c, 2],
      )),
      iff(eq(lg(OPC), c(rdb.OP_EXPIRETIME)), cat(
        stopIf(gtU(add(lg(P), c(5)), lg(PEND))),
        ls(EXP, mulF(f64OfI32(ld32(lg(P), 1)), f64Const(1000))),
        ls(P, add(lg(P), c(5))),
        [0x0c, 2],
      )),
      iff(eq(lg(OPC), c(rdb.OP_FREQ)), cat(ls(P, add(lg(P), c(2))), [0x0c, 2])),
      iff(and(and(eq(lg(OPC), c(rdb.OP_SELECTDB)), ltF(lg(EXP), f64Const(0))), eq(lg(P), lg(START))), cat(
        stopIf(gtU(add(lg(P), c(2)), lg(PEND))),
        ls(L0, ld8(lg(P), 1)),
        stopIf(geU(lg(L0), c(0x80))),
        iff(ltU(lg(L0), c(0x40)),
          cat(ls(DB, lg(L0)), ls(P, add(lg(P), c(2)))),
          cat(
            stopIf(gtU(add(lg(P), c(3)), lg(PEND))),
            ls(DB, or(shl(and(lg(L0), c(0x3f)), c(8)), ld8(lg(P), 2))),
            ls(P, add(lg(P), c(3))),
          )),
        ls(START, lg(P)),
        [0x0c, 2],
      )),
      stop, // idle, resizedb, aux, module aux, function, EOF: the JavaScript walk's, then the reader's
    )),
    ls(KIND, ld8(add(gg(G.TAB), lg(OPC)))),
    stopIf(eqz(lg(KIND))),
    // The key: a plain string (an integer or compressed one is the JavaScript walk's).
    stopIf(geU(add(lg(P), c(1)), lg(PEND))),
    ls(L0, ld8(lg(P), 1)),
    iff(ltU(lg(L0), c(0x40)),
      cat(ls(KS, add(lg(P), c(2))), ls(KL, and(lg(L0), c(0x3f)))),
      iff(ltU(lg(L0), c(0x80)),
        cat(
          stopIf(gtU(add(lg(P), c(3)), lg(PEND))),
          ls(KS, add(lg(P), c(3))),
          ls(KL, or(shl(and(lg(L0), c(0x3f)), c(8)), ld8(lg(P), 2))),
        ),
        cat(
          stopIf(ne(lg(L0), c(0x80))),
          stopIf(gtU(add(lg(P), c(6)), lg(PEND))),
          ls(KS, add(lg(P), c(6))),
          ls(KL, be32(add(lg(P), c(1)))),
          stopIf(gtU(lg(KL), c(BIG))),
        ))),
    stopIf(gtU(lg(KS), lg(PEND))),
    stopIf(gtU(lg(KL), sub(lg(PEND), lg(KS)))),
    gs(G.POS, add(lg(KS), lg(KL))),
    stopIf(call(F.value, lg(OPC))),
    ls(VE, gg(G.POS)),
    stopIf(gtU(lg(VE), lg(PEND))),
    // An empty collection is skipped by the reader (and by Redis): the reader's to decide.
    stopIf(and(eqz(gg(G.VEL)), ne(lg(OPC), c(rdb.TYPE_STRING)))),
    ls(VBF, f64OfI64(add64(gg(G.VB), ext(add(c(24), call(F.sds, lg(KL))))))),
    iff(and(and(geF(lg(EXP), f64Const(0)), gg(G.DROP)), leF(lg(EXP), gg(G.NOW))),
      cat(inc(EXPD), inc(READ)),
      cat(
        // A time past year 9999 is written by the JavaScript walk.
        stopIf(geF(lg(EXP), f64Const(253402300800000))),
        iff(gtU(add(add(add(lg(O), lg(KL)), gg(G.FL)), c(ROW_ROOM + 1)), lg(OEND)), cat(gs(G.R_FULL, c(1)), stop)),
        ls(R, call(F.row,
          lg(DB), word(lg(KIND), 248, 0), word(lg(KIND), 248, 4), lg(KS), add(lg(KS), lg(KL)), lg(VBF),
          word(gg(G.VENC), 256, 0), word(gg(G.VENC), 256, 4), f64OfU32(gg(G.VEL)), f64OfI32(gg(G.VLG)), lg(EXP),
          gg(G.FA), gg(G.FL), lg(O))),
        // A key that needs quoting or escapes: the JavaScript walk writes its row.
        stopIf(ltS(lg(R), c(0))),
        ls(O, lg(R)),
        inc(KEPT), inc(READ),
        ls(BYTES, addF(lg(BYTES), lg(VBF))),
      )),
    ls(P, lg(VE)),
    ls(START, lg(P)),
    ls(EXP, f64Const(-1)),
    [0x0c, 0, 0x0b],
    [0x00, 0x0b], // the loop only leaves by returning
  );
}

function moduleBytes(): Uint8Array {
  const fn = (params: number[], results: number[]): number[] => [0x60, params.length, ...params, results.length, ...results];
  const types = [
    fn([I32, I32, I32, I32], [I32]), // 0 inflate
    fn([I32, I32], [I32]), // 1 walkLp, intOf
    fn([I32, I32, I32, I32, I32, F64, I32, I32, F64, F64, F64, I32, I32, I32], [I32]), // 2 row
    fn([F64], [F64]), // 3 exp, round
    fn([I32], [I32]), // 4
    fn([I64], [I32]), // 5
    fn([], [I32]), // 6
    fn([I32], []), // 7
    fn([], []), // 8
    fn([...Array<number>(14).fill(I32), F64, I32, I32], []), // 9 init
    fn([I32, I32, I32, I32, I32, I32, I32, I32], [I32]), // 10 walk
  ];
  const type = section(1, [types.length, ...types.flat()]);
  const imp = (field: string, kind: number, desc: number[]): number[] => [...name('e'), ...name(field), kind, ...desc];
  const imports = section(2, [
    6,
    ...imp('m', 0x02, [0x00, 1]),
    ...imp('d', 0x00, [0]), ...imp('w', 0x00, [1]), ...imp('r', 0x00, [2]), ...imp('x', 0x00, [3]), ...imp('n', 0x00, [3]),
  ]);
  // digits sc sds lpInt lpStr len intOf str blob buckets dexpand dstep dadd value init walk
  const funcTypes = [4, 4, 4, 5, 4, 6, 1, 6, 6, 4, 7, 8, 8, 4, 9, 10];
  const func = section(3, [funcTypes.length, ...funcTypes]);
  const globals = section(6, [
    GLOBAL_TYPES.length,
    ...GLOBAL_TYPES.flatMap((t) => [t, 0x01, ...(t === I32 ? c(0) : t === I64 ? c64(0) : f64Const(0)), 0x0b]),
  ]);
  const exps: Array<[string, number, number]> = [
    ['i', 0x00, F.init], ['k', 0x00, F.walk],
    ['db', 0x03, G.R_DB], ['o', 0x03, G.R_O], ['rd', 0x03, G.R_READ], ['kp', 0x03, G.R_KEPT], ['ex', 0x03, G.R_EXP],
    ['by', 0x03, G.R_BYTES], ['fu', 0x03, G.R_FULL],
  ];
  const exports = section(7, [exps.length, ...exps.flatMap(([n, k, i]) => [...name(n), k, ...uleb(i)])]);
  const I = (n: number): [number, number] => [n, I32];
  const code = section(10, [
    funcTypes.length,
    ...body(2, digitsFn()),
    ...body(1, scFn()),
    ...body(0, sdsFn()),
    ...body(0, lpIntFn()),
    ...body(1, lpStrFn()),
    ...body(3, lenFn()),
    ...body([I(3), [1, I64], I(1)], intOfFn()),
    ...body(7, strFn()),
    ...body(3, blobFn()),
    ...body(0, bucketsFn()),
    ...body(1, dexpandFn()),
    ...body(1, dstepFn()),
    ...body(0, daddFn()),
    ...body([I(6), [5, I64], I(9)], valueFn()),
    ...body(0, initFn()),
    ...body([I(1), [1, F64], I(10), [2, F64]], walkFn()),
  ]);
  return Uint8Array.from([...HEADER, ...type, ...imports, ...func, ...globals, ...exports, ...code]);
}

// ---- the JavaScript side -----------------------------------------------------------------------

interface Exports {
  i: (...args: number[]) => void;
  k: (p: number, end: number, db: number, o: number, oend: number, scr: number, fa: number, fl: number) => number;
  db: { value: number };
  o: { value: number };
  rd: { value: number };
  kp: { value: number };
  ex: { value: number };
  by: { value: number };
  fu: { value: number };
}

/** What the walks of a span counted (memory-span.ts keeps one per span). */
export interface WalkCounts {
  read: number;
  kept: number;
  bytes: number;
  expired: number;
}

/** The module compiled once per thread (null: not available here), undefined before. */
let compiled: object | null | undefined;

/**
 * One input's span walk in WebAssembly, writing through the thread's CSV rows module. Made by
 * {@link MemoryWalkWasm.create} for an input whose rows it can write: CSV, every key as it is (or
 * `--drop-expired`), a target of RDB 10 or later.
 */
export class MemoryWalkWasm {
  /** The database where the last walk stopped. */
  db = 0;
  /** Keys the module walked, in all (for the tests and the bench). */
  walkedKeys = 0;

  private constructor(private readonly ex: Exports, private readonly rows: CsvRowsWasm, private readonly file: string | undefined) {}

  /**
   * The walk for one input, or null when it cannot run: no WebAssembly, the codec's shared memory
   * or the CSV module not available, a model it does not hold (before RDB 10), a file field too long.
   */
  static create(
    rows: CsvRowsWasm, model: MemoryModel, opts: { dropExpired: boolean; now: number; file: string | undefined; largestElement: boolean },
  ): MemoryWalkWasm | null {
    if (!model.listpackNames || !model.hasQuicklist) return null;
    const lzf = lzfWasmFunctions();
    if (lzf === null) return null;
    if (rows.fileField(opts.file) === null) return null;
    const tab = tableOf(rows);
    if (tab < 0) return null;
    if (compiled === undefined) compiled = compile(moduleBytes());
    if (compiled === null) return null;
    const imports = { e: { m: rows.memory, d: lzf.d, w: lzf.w, r: rows.r, x: Math.exp, n: Math.round } };
    const ex = instantiate(compiled, imports) as Exports | null;
    if (ex === null) return null;
    const m = model;
    const cfg = m.config;
    ex.i(
      m.jemallocQuantum, m.sds72 ? 1 : 0, m.dict, m.quicklistNode, cfg.hashMaxListpackEntries, cfg.hashMaxListpackValue,
      cfg.setMaxIntsetEntries, cfg.setMaxListpackEntries, cfg.setMaxListpackValue, cfg.zsetMaxListpackEntries, m.listNodeBytes,
      m.setListpack ? 1 : 0, m.listListpack ? 1 : 0, opts.dropExpired ? 1 : 0, opts.now, tab, opts.largestElement ? 1 : 0,
    );
    return new MemoryWalkWasm(ex, rows, opts.file);
  }

  /**
   * Writes the rows of `b`'s records from `p` on (b the span lzfWasmPreload preloaded) and returns
   * where it stopped: at `end`, or at the record group the JavaScript walk must take; `db` is then
   * the database there. Adds what it counted to `counts`; hands its rows to `out` (all of them
   * before it returns).
   */
  walk(b: Uint8Array, p: number, end: number, db: number, counts: WalkCounts, out: (rows: Uint8Array) => void): number {
    this.db = db;
    const at = lzfWasmPreloadedAt(b);
    if (at < 0) return p;
    const { ex, rows } = this;
    // The file column's field (the thread's rows module holds one: set again for this input).
    const file = rows.fileField(this.file);
    if (file === null) return p;
    const scr = lzfWasmScratchAt(b, MAX_INFLATE);
    for (;;) {
      const o = rows.cursor;
      const stop = ex.k(at + p, at + end, db, o, rows.rowsEnd, scr, file.at, file.length) - at;
      rows.cursor = ex.o.value;
      db = ex.db.value;
      counts.read += ex.rd.value;
      counts.kept += ex.kp.value;
      counts.expired += ex.ex.value;
      counts.bytes += ex.by.value;
      this.walkedKeys += ex.rd.value;
      p = stop;
      // Out of room for the next row: hand the rows on and go on (unless the area was empty).
      if (ex.fu.value === 1 && rows.cursor !== rows.rowsStart) {
        rows.flush(out);
        continue;
      }
      break;
    }
    // The rows go on before whatever writes the next ones (the JavaScript walk, the reader).
    rows.flush(out);
    this.db = db;
    return p;
  }
}

/** The kinds' and words' table of a thread's rows module, made once (-1: no room). */
const tables = new WeakMap<CsvRowsWasm, number>();

function tableOf(rows: CsvRowsWasm): number {
  const known = tables.get(rows);
  if (known !== undefined) return known;
  let tab = rows.reserve(TABLE_BYTES);
  if (tab >= 0) {
    const mem = new Uint8Array(rows.memory.buffer);
    for (const [type, kind] of TAKEN) mem[tab + type] = kind + 1;
    const dv = new DataView(rows.memory.buffer);
    for (let id = 0; id < WORDS.length && tab >= 0; id++) {
      const at = rows.word(WORDS[id]!);
      if (at < 0) tab = -1;
      else {
        dv.setInt32(tab + 256 + 8 * id, at, true);
        dv.setInt32(tab + 256 + 8 * id + 4, WORDS[id]!.length, true);
      }
    }
  }
  tables.set(rows, tab);
  return tab;
}

/** The module's bytes (for the tests: they must compile). */
export const memoryWalkModuleBytes = moduleBytes;
