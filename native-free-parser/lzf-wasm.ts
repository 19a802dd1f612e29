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
 * Memory layout per call: the compressed bytes at 0, then the output at `outAt` (8-aligned, after
 * the input and 8 bytes of padding), then 8 bytes of slack: the copy loops move whole 8-byte
 * words, so they may read up to 7 bytes past an instruction's source and write up to 7 past its
 * destination. Overreads land in the padding or the output area; overwrites land after the
 * current output end, where later instructions write anyway, or in the slack.
 */

// ---- a minimal assembler -----------------------------------------------------------------------

const I32 = 0x7f;
const OP = {
  block: 0x02, loop: 0x03, if: 0x04, else: 0x05, end: 0x0b, br: 0x0c, brIf: 0x0d, return: 0x0f,
  localGet: 0x20, localSet: 0x21, localTee: 0x22,
  i32Load8u: 0x2d, i64Load: 0x29, i32Store8: 0x3a, i64Store: 0x37,
  i32Const: 0x41, i32Eqz: 0x45, i32Eq: 0x46, i32LtU: 0x49, i32GtU: 0x4b, i32GeU: 0x4f,
  i32Add: 0x6a, i32Sub: 0x6b, i32And: 0x71, i32Shl: 0x74, i32ShrU: 0x76,
} as const;
const VOID = 0x40;

function uleb(n: number): number[] {
  const out: number[] = [];
  do {
    let b = n & 0x7f;
    n >>>= 7;
    if (n !== 0) b |= 0x80;
    out.push(b);
  } while (n !== 0);
  return out;
}

function sleb(n: number): number[] {
  const out: number[] = [];
  for (;;) {
    const b = n & 0x7f;
    n >>= 7;
    if ((n === 0 && (b & 0x40) === 0) || (n === -1 && (b & 0x40) !== 0)) {
      out.push(b);
      return out;
    }
    out.push(b | 0x80);
  }
}

function section(id: number, body: number[]): number[] {
  return [id, ...uleb(body.length), ...body];
}

function name(s: string): number[] {
  return [...uleb(s.length), ...Array.from(s, (ch) => ch.charCodeAt(0))];
}

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

const get = (l: number): number[] => [OP.localGet, l];
const set = (l: number): number[] => [OP.localSet, l];
const konst = (v: number): number[] => [OP.i32Const, ...sleb(v)];
/** Memory access immediates: alignment hint (log2) and offset 0. */
const mem = (align: number): number[] => [align, 0];
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
  ...copyWords(IP, OUTP),
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

function moduleBytes(): Uint8Array {
  const type = section(1, [1, 0x60, 4, I32, I32, I32, I32, 1, I32]);
  const func = section(3, [1, 0]);
  const memory = section(5, [1, 0x00, 1]);
  const exports = section(7, [2, ...name('d'), 0x00, 0, ...name('m'), 0x02, 0]);
  const locals = [1, 5, I32];
  const code = [...locals, ...BODY];
  const codeSec = section(10, [1, ...uleb(code.length), ...code]);
  return Uint8Array.from([0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, ...type, ...func, ...memory, ...exports, ...codeSec]);
}

// ---- the decoder --------------------------------------------------------------------------------

/** The parts of the WebAssembly API used here (the project's TypeScript libs do not declare it). */
interface WasmMemory {
  readonly buffer: ArrayBuffer;
  grow(pages: number): number;
}
declare const WebAssembly: {
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports: object) => { exports: Record<string, unknown> };
};

interface Decoder {
  d: (ip: number, iend: number, op: number, oend: number) => number;
  m: WasmMemory;
}

let decoder: Decoder | null | undefined;
let bytes = new Uint8Array(0);

function load(): Decoder | null {
  try {
    const inst = new WebAssembly.Instance(new WebAssembly.Module(moduleBytes()), {});
    const d = inst.exports['d'] as Decoder['d'];
    const m = inst.exports['m'] as WasmMemory;
    bytes = new Uint8Array(m.buffer);
    return { d, m };
  } catch {
    return null; // no WebAssembly here: the JavaScript decoder does everything
  }
}

/** Whether the WebAssembly decoder runs in this process. */
export function lzfWasmAvailable(): boolean {
  if (decoder === undefined) decoder = load();
  return decoder !== null;
}

/**
 * Decodes `src[start..end)` into the module's memory; returns a view of exactly `ulen` bytes
 * there (valid until the next call), or null when the stream breaks a rule or WebAssembly is not
 * available (the caller then decodes with the JavaScript decoder, which reports the error).
 */
export function lzfWasmDecode(src: Uint8Array, start: number, end: number, ulen: number): Uint8Array | null {
  if (decoder === undefined) decoder = load();
  if (decoder === null) return null;
  const inLen = end - start;
  const outAt = (inLen + 15) & ~7; // 8 bytes of padding after the input, 8-aligned
  const need = outAt + ulen + 16;
  if (need > bytes.length) {
    const pages = Math.ceil((need - bytes.length) / 65536);
    decoder.m.grow(pages);
    bytes = new Uint8Array(decoder.m.buffer);
  }
  bytes.set(src.subarray(start, end), 0);
  const got = decoder.d(0, inLen, outAt, outAt + ulen);
  if (got !== outAt + ulen) return null;
  return bytes.subarray(outAt, outAt + ulen);
}
