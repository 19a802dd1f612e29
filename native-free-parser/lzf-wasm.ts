/**
 * The LZF decoder again, as a WebAssembly function assembled here from its instructions (no
 * binary file, no toolchain: the bytes below are written out by this module when it loads).
 * WebAssembly has 8-byte loads and stores and no bounds checks on typed-array views, so the copy
 * loops run several times faster than the JavaScript decoder's DataView moves (bench/micro-lzf.ts).
 *
 * It only answers "decoded" or "not": a stream that fails any check (a reference before the
 * output start, output past `ulen`, input ending inside an instruction, output short of `ulen`)
 * makes the caller run the JavaScript decoder (lzf.ts), which throws the precise CorruptError. So
 * both decoders accept exactly the same streams, and errors read the same whichever ran.
 *
 * Memory layout per call: the compressed bytes at IN (copied in, or an array preloaded there),
 * then the output at `outAt` (8-aligned, after the input and 32 bytes of padding), then 40 bytes
 * of slack: the copies move whole 8-byte words (a literal run, at most 32 bytes, always four), so
 * they may read up to 31 bytes past an instruction's source and write up to 31 past its
 * destination. Overreads land in the padding or the output area; overwrites land after the
 * current output end, where later instructions write anyway, or in the slack.
 */

import { body, F64, f64Const, get, HEADER, I32, instantiate, konst, mem, name, OP, section, set, VOID, type WasmMemory } from './wasm-asm.js';

// Locals: the 4 parameters, then 5 more.
const IP = 0;
const IEND = 1;
const OUTP = 2;
const OEND = 3;
const C = 4;
const N = 5;
const REF = 6;
const K = 7;
const OBASE = 8;

/** `return code` when the i32 on the stack is non-zero. */
const failIf = (code: number): number[] => [OP.if, VOID, ...konst(code), OP.return, OP.end];
/** dst[k..k+8) = src[k..k+8) for k = 0, 8, ... while k < N (N >= 1): whole words. */
const copyWords = (src: number, dst: number): number[] => [
  ...konst(0), ...set(K),
  OP.loop, VOID,
  ...get(dst), ...get(K), OP.i32Add,
  ...get(src), ...get(K), OP.i32Add, OP.i64Load, ...mem(0),
  OP.i64Store, ...mem(0),
  ...get(K), ...konst(8), OP.i32Add, OP.localTee, K,
  ...get(N), OP.i32LtU, OP.brIf, 0,
  OP.end,
];

/**
 * (ip, iend, op, oend) -> the output end reached, or a negative number when the stream breaks a
 * rule. Success is a return value equal to oend.
 */
const BODY: number[] = [
  ...get(OUTP), ...set(OBASE),
  OP.block, VOID,
  OP.loop, VOID,
  // while (ip < iend)
  ...get(IP), ...get(IEND), OP.i32GeU, OP.brIf, 1,
  // c = in[ip++]
  ...get(IP), OP.i32Load8u, ...mem(0), ...set(C),
  ...get(IP), ...konst(1), OP.i32Add, ...set(IP),
  ...get(C), ...konst(32), OP.i32LtU,
  OP.if, VOID,
  // Literal run of c + 1 bytes.
  ...get(C), ...konst(1), OP.i32Add, ...set(N),
  ...get(IP), ...get(N), OP.i32Add, ...get(IEND), OP.i32GtU, ...failIf(-1),
  ...get(OUTP), ...get(N), OP.i32Add, ...get(OEND), OP.i32GtU, ...failIf(-2),
  // A literal run is at most 32 bytes: four words whatever its length (the padding after the
  // input and the slack after the output take the excess).
  ...[0, 8, 16, 24].flatMap((k) => [...get(OUTP), ...get(IP), OP.i64Load, ...mem(0, k), OP.i64Store, ...mem(0, k)]),
  ...get(IP), ...get(N), OP.i32Add, ...set(IP),
  ...get(OUTP), ...get(N), OP.i32Add, ...set(OUTP),
  OP.else,
  // Back-reference: len = c >> 5 (+ next byte when 7), distance from the low bits and a byte.
  ...get(C), ...konst(5), OP.i32ShrU, ...set(N),
  ...get(N), ...konst(7), OP.i32Eq,
  OP.if, VOID,
  ...get(IP), ...get(IEND), OP.i32GeU, ...failIf(-3),
  ...get(N), ...get(IP), OP.i32Load8u, ...mem(0), OP.i32Add, ...set(N),
  ...get(IP), ...konst(1), OP.i32Add, ...set(IP),
  OP.end,
  ...get(IP), ...get(IEND), OP.i32GeU, ...failIf(-4),
  // ref = op - (((c & 31) << 8) + in[ip] + 1)
  ...get(OUTP),
  ...get(C), ...konst(31), OP.i32And, ...konst(8), OP.i32Shl,
  ...get(IP), OP.i32Load8u, ...mem(0), OP.i32Add, ...konst(1), OP.i32Add,
  OP.i32Sub, ...set(REF),
  ...get(IP), ...konst(1), OP.i32Add, ...set(IP),
  ...get(N), ...konst(2), OP.i32Add, ...set(N),
  // The distance is at most 8192, so op - distance cannot wrap below 0 unless op < 8192: compare
  // as unsigned after checking op - obase >= distance, i.e. ref >= obase without wrap.
  ...get(OUTP), ...get(OBASE), OP.i32Sub, ...get(OUTP), ...get(REF), OP.i32Sub, OP.i32LtU, ...failIf(-5),
  ...get(OUTP), ...get(N), OP.i32Add, ...get(OEND), OP.i32GtU, ...failIf(-6),
  // distance >= 8: whole words (each reads only bytes already final); else byte by byte.
  ...get(OUTP), ...get(REF), OP.i32Sub, ...konst(8), OP.i32GeU,
  OP.if, VOID,
  ...copyWords(REF, OUTP),
  ...get(OUTP), ...get(N), OP.i32Add, ...set(OUTP),
  OP.else,
  OP.loop, VOID,
  ...get(OUTP), ...get(REF), OP.i32Load8u, ...mem(0), OP.i32Store8, ...mem(0),
  ...get(OUTP), ...konst(1), OP.i32Add, ...set(OUTP),
  ...get(REF), ...konst(1), OP.i32Add, ...set(REF),
  ...get(N), ...konst(1), OP.i32Sub, OP.localTee, N,
  OP.brIf, 0,
  OP.end,
  OP.end,
  OP.end,
  OP.br, 0,
  OP.end,
  OP.end,
  ...get(OUTP),
  OP.end,
];

// ---- the listpack walk -----------------------------------------------------------------------

/** digits(v): the length of v's decimal text, its sign included (no division: 9 comparisons). */
const DIGITS: number[] = (() => {
  // Locals: the parameter v, then u (|v|) and n (the count).
  const [V, U, NN] = [0, 1, 2];
  const atLeast = (k: number): number[] => [...get(U), ...konst(k), OP.i32GeU, OP.i32Add];
  return [
    ...konst(1), ...set(NN),
    ...get(V), ...set(U),
    ...get(V), ...konst(0), OP.i32LtS,
    OP.if, VOID,
    ...konst(2), ...set(NN),
    ...konst(0), ...get(V), OP.i32Sub, ...set(U), // as unsigned: -(-2^31) is 2^31
    OP.end,
    ...get(NN),
    ...atLeast(10), ...atLeast(100), ...atLeast(1000), ...atLeast(10000), ...atLeast(100000),
    ...atLeast(1000000), ...atLeast(10000000), ...atLeast(100000000), ...atLeast(1000000000),
    OP.end,
  ];
})();

/**
 * w(s, e): walks the listpack at [s, e) as the memory estimate's JavaScript walk does (entry count,
 * longest entry as text, longest at even and at odd positions; those three stored at bytes 0..12),
 * and returns the count; or a negative number for anything it leaves to that walk (an entry
 * whose header runs past e, an unknown encoding byte).
 */
const WALK: number[] = (() => {
  // Locals: the parameters s and e; then p, the count, the three maxima, the encoding byte, the
  // entry's length as text, its size (encoding + data), and an integer's value.
  const [S, E, PP, CNT, BIG, EVEN, ODD, CC, L, ENT, V] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10];
  /** return `code` unless header bytes p..p+n are inside the listpack. */
  const need = (n: number, code: number): number[] => [...get(PP), ...konst(n), OP.i32Add, ...get(E), OP.i32GtU, ...failIf(code)];
  const byteAt = (k: number): number[] => [...get(PP), ...konst(k), OP.i32Add, OP.i32Load8u, ...mem(0)];
  const digitsOfV = (): number[] => [...get(V), OP.call, 2, ...set(L)];
  /** `else if c == byte`: an integer entry of `size` bytes (encoding included) whose value `load` pushes. */
  const intCase = (byte: number, size: number, load: number[]): number[] => [
    ...get(CC), ...konst(byte), OP.i32Eq,
    OP.if, VOID,
    ...need(size, -3),
    ...load, ...set(V),
    ...digitsOfV(),
    ...konst(size), ...set(ENT),
    OP.else,
  ];
  const max = (into: number): number[] => [...get(L), ...get(into), OP.i32GtU, OP.if, VOID, ...get(L), ...set(into), OP.end];
  return [
    ...get(S), ...konst(6), OP.i32Add, ...set(PP),
    OP.block, VOID,
    OP.loop, VOID,
    ...get(PP), ...get(E), OP.i32GeU, OP.brIf, 1,
    ...get(PP), OP.i32Load8u, ...mem(0), OP.localTee, CC,
    ...konst(0xff), OP.i32Eq, OP.brIf, 1,
    ...get(CC), ...konst(0x80), OP.i32LtU,
    OP.if, VOID, // 7-bit unsigned integer: 1 to 3 digits
    ...konst(1), ...get(CC), ...konst(10), OP.i32GeU, OP.i32Add, ...get(CC), ...konst(100), OP.i32GeU, OP.i32Add, ...set(L),
    ...konst(1), ...set(ENT),
    OP.else,
    ...get(CC), ...konst(0xc0), OP.i32LtU,
    OP.if, VOID, // string of up to 63 bytes
    ...get(CC), ...konst(0x3f), OP.i32And, ...set(L),
    ...get(L), ...konst(1), OP.i32Add, ...set(ENT),
    OP.else,
    ...get(CC), ...konst(0xe0), OP.i32LtU,
    OP.if, VOID, // 13-bit signed integer
    ...need(2, -3),
    ...get(CC), ...konst(0x1f), OP.i32And, ...konst(8), OP.i32Shl, ...byteAt(1), OP.i32Or, OP.localTee, V,
    ...konst(4096), OP.i32GeU,
    OP.if, VOID, ...get(V), ...konst(8192), OP.i32Sub, ...set(V), OP.end,
    ...digitsOfV(),
    ...konst(2), ...set(ENT),
    OP.else,
    ...get(CC), ...konst(0xf0), OP.i32LtU,
    OP.if, VOID, // string of up to 4095 bytes
    ...need(2, -3),
    ...get(CC), ...konst(0x0f), OP.i32And, ...konst(8), OP.i32Shl, ...byteAt(1), OP.i32Or, ...set(L),
    ...get(L), ...konst(2), OP.i32Add, ...set(ENT),
    OP.else,
    ...get(CC), ...konst(0xf0), OP.i32Eq,
    OP.if, VOID, // string with a 32-bit length
    ...need(5, -3),
    ...get(PP), ...konst(1), OP.i32Add, OP.i32Load, ...mem(0), OP.localTee, L,
    ...konst(0), OP.i32LtS, ...failIf(-5),
    ...get(L), ...konst(5), OP.i32Add, ...set(ENT),
    OP.else,
    ...intCase(0xf1, 3, [...get(PP), ...konst(1), OP.i32Add, OP.i32Load16s, ...mem(0)]),
    ...intCase(0xf2, 4, [
      ...byteAt(1), ...byteAt(2), ...konst(8), OP.i32Shl, OP.i32Or, ...byteAt(3), ...konst(16), OP.i32Shl, OP.i32Or,
      ...konst(8), OP.i32Shl, ...konst(8), OP.i32ShrS, // sign-extend 24 bits
    ]),
    ...intCase(0xf3, 5, [...get(PP), ...konst(1), OP.i32Add, OP.i32Load, ...mem(0)]),
    // A 64-bit integer: its digits counted from the double the JavaScript walk makes of it
    // (hi * 2^32 + lo, rounded past 2^53), the same way, so that both give the same length.
    ...get(CC), ...konst(0xf4), OP.i32Eq,
    OP.if, VOID,
    ...need(9, -3),
    ...get(PP), OP.i32Load, ...mem(0, 5), OP.f64ConvertI32S, ...f64Const(4294967296), OP.f64Mul,
    ...get(PP), OP.i32Load, ...mem(0, 1), OP.f64ConvertI32U, OP.f64Add,
    OP.call, 3, ...set(L),
    ...konst(9), ...set(ENT),
    OP.else,
    ...konst(-4), OP.return, // an unknown byte: the JavaScript walk throws
    OP.end, OP.end, OP.end, OP.end, OP.end, OP.end, OP.end, OP.end, OP.end, // the nine ifs
    // Statistics of this entry.
    ...max(BIG),
    ...get(CNT), ...konst(1), OP.i32And, OP.i32Eqz,
    OP.if, VOID, ...max(EVEN), OP.else, ...max(ODD), OP.end,
    ...get(CNT), ...konst(1), OP.i32Add, ...set(CNT),
    // An entry reaching the end (or past it) is the last: the JavaScript walk's p passes e.
    ...get(ENT), ...get(E), ...get(PP), OP.i32Sub, OP.i32GeU, OP.brIf, 1,
    // p += entry + backlen, backlen = 1 + [entry > 127] + [entry >= 16383] + [entry >= 2097151] + [entry >= 268435455]
    ...get(PP), ...get(ENT), OP.i32Add, ...konst(1), OP.i32Add,
    ...get(ENT), ...konst(127), OP.i32GtU, OP.i32Add,
    ...get(ENT), ...konst(16383), OP.i32GeU, OP.i32Add,
    ...get(ENT), ...konst(2097151), OP.i32GeU, OP.i32Add,
    ...get(ENT), ...konst(268435455), OP.i32GeU, OP.i32Add,
    ...set(PP),
    OP.br, 0,
    OP.end,
    OP.end,
    ...konst(0), ...get(BIG), OP.i32Store, ...mem(2),
    ...konst(4), ...get(EVEN), OP.i32Store, ...mem(2),
    ...konst(8), ...get(ODD), OP.i32Store, ...mem(2),
    ...get(CNT),
    OP.end,
  ];
})();

/**
 * digitsF(v): the length of the double v's decimal text as report/memory.ts digits() counts it:
 * comparisons below 10^6, then divisions by 10 (floored) of v / 10^6.
 */
const DIGITS_F64: number[] = (() => {
  // Locals: the parameter v, then neg, n (i32) and a (f64).
  const [V, NEG, NN, A] = [0, 1, 2, 3];
  const atLeast = (k: number): number[] => [...get(V), ...f64Const(k), OP.f64Ge, OP.i32Add];
  return [
    ...get(V), ...f64Const(0), OP.f64Lt, OP.localTee, NEG,
    OP.if, VOID, ...get(V), OP.f64Neg, ...set(V), OP.end,
    ...get(V), ...f64Const(1000000), OP.f64Lt,
    OP.if, VOID,
    ...konst(1), ...atLeast(10), ...atLeast(100), ...atLeast(1000), ...atLeast(10000), ...atLeast(100000),
    ...get(NEG), OP.i32Add, OP.return,
    OP.end,
    ...konst(7), ...set(NN),
    ...get(V), ...f64Const(1000000), OP.f64Div, OP.f64Floor, ...set(A),
    OP.block, VOID,
    OP.loop, VOID,
    ...get(A), ...f64Const(10), OP.f64Lt, OP.brIf, 1,
    ...get(A), ...f64Const(10), OP.f64Div, OP.f64Floor, ...set(A),
    ...get(NN), ...konst(1), OP.i32Add, ...set(NN),
    OP.br, 0,
    OP.end,
    OP.end,
    ...get(NN), ...get(NEG), OP.i32Add,
    OP.end,
  ];
})();

function moduleBytes(): Uint8Array {
  const type = section(1, [4, 0x60, 4, I32, I32, I32, I32, 1, I32, 0x60, 2, I32, I32, 1, I32, 0x60, 1, I32, 1, I32, 0x60, 1, F64, 1, I32]);
  const func = section(3, [4, 0, 1, 2, 3]);
  const memory = section(5, [1, 0x00, 1]);
  const exports = section(7, [3, ...name('d'), 0x00, 0, ...name('w'), 0x00, 1, ...name('m'), 0x02, 0]);
  const codeSec = section(10, [4, ...body(5, BODY), ...body(9, WALK), ...body(2, DIGITS), ...body([[2, I32], [1, F64]], DIGITS_F64)]);
  return Uint8Array.from([...HEADER, ...type, ...func, ...memory, ...exports, ...codeSec]);
}

// ---- the decoder --------------------------------------------------------------------------------

interface Decoder {
  d: (ip: number, iend: number, op: number, oend: number) => number;
  w: (s: number, e: number) => number;
  m: WasmMemory;
}

let decoder: Decoder | null | undefined;
let bytes = new Uint8Array(0);
let words = new Int32Array(0);
/**
 * Bytes 0..12 hold the walk's results; then the region lzfWasmShare keeps for another module
 * sharing this memory; the compressed input (or the preloaded array) starts at IN.
 */
const SHARED_AT = 16;
let IN = 16;
/**
 * Largest output taken here: the module's memory never shrinks, so one huge value would keep
 * that much allocated for the life of the process. Bigger ones go to the JavaScript decoder.
 */
export const LZF_WASM_MAX_OUTPUT = 1024 * 1024;
const MAX_OUTPUT = LZF_WASM_MAX_OUTPUT;

/** Where output goes after input ending at `inputEnd`: 32 bytes of padding, 8-aligned. */
function outputAfter(inputEnd: number): number {
  return (inputEnd + 39) & ~7;
}

function load(): Decoder | null {
  const ex = instantiate(moduleBytes());
  if (ex === null) return null; // no WebAssembly here: the JavaScript decoder does everything
  const m = ex['m'] as WasmMemory;
  bytes = new Uint8Array(m.buffer);
  words = new Int32Array(m.buffer);
  return { d: ex['d'] as Decoder['d'], w: ex['w'] as Decoder['w'], m };
}

/** Whether the WebAssembly decoder runs in this process. */
export function lzfWasmAvailable(): boolean {
  if (decoder === undefined) decoder = load();
  return decoder !== null;
}

/** Where the last decode put its output; -1 when it failed. */
let outAt = -1;

/** The array copied into the module's memory at IN by lzfWasmPreload, or null. */
let preloaded: Uint8Array | null = null;
/** Largest array preloaded: the module's memory never shrinks. */
const MAX_PRELOAD = 8 * 1024 * 1024;

/**
 * Copies `src` into the module's memory once, so that the decodes of its streams that follow
 * (`src` passed again, the same array) copy nothing in: a caller about to inflate many values of
 * one buffer (a span of records) saves a copy per value. Decodes of other arrays still work (their
 * streams are copied in after it); `null` forgets it. Arrays over 8 MiB are not preloaded. The
 * array must not change while it is preloaded.
 */
export function lzfWasmPreload(src: Uint8Array | null): void {
  preloaded = null;
  if (src === null || src.length > MAX_PRELOAD) return;
  if (decoder === undefined) decoder = load();
  if (decoder === null) return;
  grow(IN + src.length + 40);
  bytes.set(src, IN);
  preloaded = src;
}

function grow(need: number): void {
  if (need <= bytes.length) return;
  const pages = Math.ceil((need - bytes.length) / 65536);
  decoder!.m.grow(pages);
  bytes = new Uint8Array(decoder!.m.buffer);
  words = new Int32Array(decoder!.m.buffer);
}

function decode(src: Uint8Array, start: number, end: number, ulen: number): boolean {
  if (decoder === undefined) decoder = load();
  if (decoder === null || ulen > MAX_OUTPUT) return false;
  if (src === preloaded) {
    // The input is in place: the output goes after the whole array (and 32 bytes of padding).
    outAt = outputAfter(IN + src.length);
    grow(outAt + ulen + 40);
    return decoder.d(IN + start, IN + end, outAt, outAt + ulen) === outAt + ulen;
  }
  // Another array: its stream is copied in (after the preloaded one, which stays).
  const at = preloaded === null ? IN : outputAfter(IN + preloaded.length);
  const inLen = end - start;
  outAt = outputAfter(at + inLen);
  grow(outAt + ulen + 40);
  bytes.set(src.subarray(start, end), at);
  return decoder.d(at, at + inLen, outAt, outAt + ulen) === outAt + ulen;
}

/**
 * Decodes `src[start..end)` into the module's memory; returns a view of exactly `ulen` bytes
 * there (valid until the next call), or null when the stream breaks a rule, `ulen` is over 1 MiB
 * or WebAssembly is not available (the caller then decodes with the JavaScript decoder, which
 * reports the error).
 */
export function lzfWasmDecode(src: Uint8Array, start: number, end: number, ulen: number): Uint8Array | null {
  if (!decode(src, start, end, ulen)) return null;
  return bytes.subarray(outAt, outAt + ulen);
}

/** The last lzfWalkListpack's longest entry (as text), and longest at even and odd positions. */
export const listpackWalk = { largest: 0, maxEven: 0, maxOdd: 0 };

/**
 * Inflates an LZF-compressed listpack of `ulen` bytes and walks its entries, both in WebAssembly:
 * returns the entry count and fills `listpackWalk`; or -1 when the caller must inflate and walk it
 * in JavaScript (a stream the decoder refuses, `ulen` over 1 MiB, an entry header past the end, an
 * unknown encoding byte: the JavaScript walk then gives the answer or the error).
 */
export function lzfWalkListpack(src: Uint8Array, start: number, end: number, ulen: number): number {
  if (!decode(src, start, end, ulen)) return -1;
  return walk(outAt, outAt + ulen);
}

/** The module's walk of [s, e) in its memory: the count and `listpackWalk` filled, or -1. */
function walk(s: number, e: number): number {
  const n = decoder!.w(s, e);
  if (n < 0) return -1;
  listpackWalk.largest = words[0]!;
  listpackWalk.maxEven = words[1]!;
  listpackWalk.maxOdd = words[2]!;
  return n;
}

/**
 * Walks the listpack at `src[start..end)` in WebAssembly, as lzfWalkListpack does once inflated,
 * when `src` is the preloaded array (lzfWasmPreload); else, or when the walk leaves it to the
 * JavaScript walk, returns -1.
 */
export function listpackWalkPreloaded(src: Uint8Array, start: number, end: number): number {
  if (src !== preloaded) return -1; // (a preloaded array means the module is loaded)
  return walk(IN + start, IN + end);
}

/**
 * Keeps `length` bytes of this module's memory, from the returned offset, for another WebAssembly module
 * that imports the memory (src/format/memory-csv-wasm.ts writes memory rows there, reading keys
 * straight from a preloaded span). The same region for every call asking no more than the first;
 * null when WebAssembly is not available or a bigger region is asked for later. Forgets any
 * preloaded array. The memory may grow (never shrink) with later decodes: views of it must be
 * made again when its buffer changes.
 */
export function lzfWasmShare(length: number): { memory: WasmMemory; offset: number } | null {
  if (decoder === undefined) decoder = load();
  if (decoder === null) return null;
  const size = (length + 15) & ~15;
  if (IN === SHARED_AT) {
    IN = SHARED_AT + size;
    preloaded = null;
    grow(IN + 16);
  } else if (size > IN - SHARED_AT) {
    return null;
  }
  return { memory: decoder.m, offset: SHARED_AT };
}

/** Where lzfWasmPreload put the array in the module's memory (valid while it is preloaded). */
export function lzfWasmPreloadedAt(src: Uint8Array): number {
  return src === preloaded ? IN : -1;
}

/**
 * The module's two functions, for another WebAssembly module that imports them with the memory
 * (src/pipelines/memory-walk-wasm.ts): `d(ip, iend, op, oend)` inflates and answers oend when the
 * stream is sound; `w(s, e)` walks a listpack (count returned, longest entries at bytes 0..12) or
 * answers a negative number. Null when WebAssembly is not available.
 */
export function lzfWasmFunctions(): { d: (ip: number, iend: number, op: number, oend: number) => number; w: (s: number, e: number) => number } | null {
  if (decoder === undefined) decoder = load();
  if (decoder === null) return null;
  return { d: decoder.d, w: decoder.w };
}

/**
 * Where a module sharing this memory may inflate values of up to `room` bytes while `src` is
 * preloaded: just after it (and its padding), the memory grown to hold them and the decoder's
 * slack. -1 when `src` is not the preloaded array.
 */
export function lzfWasmScratchAt(src: Uint8Array, room: number): number {
  if (src !== preloaded) return -1;
  const at = outputAfter(IN + src.length);
  grow(at + room + 40);
  return at;
}
