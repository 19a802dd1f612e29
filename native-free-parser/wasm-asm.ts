/**
 * A minimal WebAssembly assembler: the opcodes, encodings and sections the codec's modules
 * (lzf-wasm.ts, crc64-wasm.ts) are written with. The modules are assembled from these instruction
 * lists when they load: no binary file, no toolchain.
 */

export const I32 = 0x7f;
export const I64 = 0x7e;
export const F64 = 0x7c;
/** The empty block type. */
export const VOID = 0x40;

export const OP = {
  block: 0x02, loop: 0x03, if: 0x04, else: 0x05, end: 0x0b, br: 0x0c, brIf: 0x0d, return: 0x0f,
  localGet: 0x20, localSet: 0x21, localTee: 0x22,
  i32Load8u: 0x2d, i64Load: 0x29, i32Store8: 0x3a, i64Store: 0x37,
  i32Load: 0x28, i32Load16s: 0x2e, i32Store: 0x36, call: 0x10,
  i32Const: 0x41, i32Eqz: 0x45, i32Eq: 0x46, i32Ne: 0x47, i32LtS: 0x48, i32LtU: 0x49, i32GtU: 0x4b, i32GeU: 0x4f,
  i32Add: 0x6a, i32Sub: 0x6b, i32DivU: 0x6e, i32And: 0x71, i32Or: 0x72, i32Xor: 0x73, i32Shl: 0x74, i32ShrS: 0x75, i32ShrU: 0x76,
  i64Xor: 0x85, i64ShrU: 0x88, i32WrapI64: 0xa7,
  i32GtS: 0x4a, i32LeU: 0x4d, i32GeS: 0x4e, i32Mul: 0x6c, i32RemU: 0x70, select: 0x1b,
  f64Lt: 0x63, f64Ge: 0x66, f64Neg: 0x9a, f64Floor: 0x9c, f64Sub: 0xa1, f64Mul: 0xa2, f64Div: 0xa3,
  i32TruncF64U: 0xab, f64ConvertI32U: 0xb8, f64ConvertI32S: 0xb7, f64Add: 0xa0,
} as const;

export function uleb(n: number): number[] {
  const out: number[] = [];
  do {
    let b = n & 0x7f;
    n >>>= 7;
    if (n !== 0) b |= 0x80;
    out.push(b);
  } while (n !== 0);
  return out;
}

export function sleb(n: number): number[] {
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

export function section(id: number, body: number[]): number[] {
  return [id, ...uleb(body.length), ...body];
}

export function name(s: string): number[] {
  return [...uleb(s.length), ...Array.from(s, (ch) => ch.charCodeAt(0))];
}

export const get = (l: number): number[] => [OP.localGet, l];
export const set = (l: number): number[] => [OP.localSet, l];
export const konst = (v: number): number[] => [OP.i32Const, ...sleb(v)];
export const i64Const = (v: number): number[] => [0x42, ...sleb(v)];
/** f64.const v (8 bytes, little-endian). */
export const f64Const = (v: number): number[] => {
  const b = new Uint8Array(8);
  new DataView(b.buffer).setFloat64(0, v, true);
  return [0x44, ...b];
};
/** Memory access immediates: alignment hint (log2) and a constant offset. */
export const mem = (align: number, offset = 0): number[] => [align, ...uleb(offset)];

/**
 * A function body: its locals besides the parameters, as [count, type] groups in order (a number:
 * that many i32 locals), then the instructions.
 */
export function body(locals: number | Array<[number, number]>, instr: Code): number[] {
  const groups = typeof locals === 'number' ? (locals > 0 ? [[locals, I32]] : []) : locals;
  const code = [...uleb(groups.length), ...groups.flat(), ...flatten(instr)];
  return [...uleb(code.length), ...code];
}

/** The module header: magic and version. */
export const HEADER = [0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00];

/** A memory as exported by a module. */
export interface WasmMemory {
  readonly buffer: ArrayBuffer;
  grow(pages: number): number;
}

/** The parts of the WebAssembly API used here (the project's TypeScript libs do not declare it). */
declare const WebAssembly: {
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports: object) => { exports: Record<string, unknown> };
};

/** Compiles `bytes`, for several instances; null when this runtime has no WebAssembly or refuses them. */
export function compile(bytes: Uint8Array): object | null {
  try {
    return new WebAssembly.Module(bytes);
  } catch {
    return null;
  }
}

/**
 * Instantiates a module (its bytes, compiled here, or a module `compile` made) with `imports`;
 * null when this runtime has no WebAssembly or refuses it (the callers then run their JavaScript
 * code).
 */
export function instantiate(module: Uint8Array | object, imports: object = {}): Record<string, unknown> | null {
  try {
    return new WebAssembly.Instance(module instanceof Uint8Array ? new WebAssembly.Module(module) : module, imports).exports;
  } catch {
    return null;
  }
}

// ---- expression builders (memory-walk-wasm.ts, skim-wasm.ts) ----------------------------------

/**
 * Instructions as a tree: builders nest their operands instead of copying them (a module of a few
 * thousand instructions is assembled in about a millisecond), and `body` flattens the tree once.
 */
export type Code = Array<number | Code>;

/** The tree's bytes in order. */
export function flatten(code: Code, out: number[] = []): number[] {
  for (const x of code) {
    if (typeof x === 'number') out.push(x);
    else flatten(x, out);
  }
  return out;
}

export const cat = (...xs: Code[]): Code => xs;
export const c = (v: number): number[] => konst(v);
export const c64 = (v: number): number[] => i64Const(v);
export const lg = (l: number): number[] => [0x20, ...uleb(l)];
export const ls = (l: number, e: Code): Code => [e, 0x21, ...uleb(l)];
export const gg = (g: number): number[] => [0x23, ...uleb(g)];
export const gs = (g: number, e: Code): Code => [e, 0x24, ...uleb(g)];
export const bin = (code: number) => (a: Code, b: Code): Code => [a, b, code];
export const add = bin(0x6a);
export const sub = bin(0x6b);
export const mul = bin(0x6c);
export const and = bin(0x71);
export const or = bin(0x72);
export const shl = bin(0x74);
export const shrU = bin(0x76);
export const eq = bin(0x46);
export const ne = bin(0x47);
export const ltS = bin(0x48);
export const ltU = bin(0x49);
export const gtS = bin(0x4a);
export const gtU = bin(0x4b);
export const leU = bin(0x4d);
export const geU = bin(0x4f);
export const geS = bin(0x4e);
export const add64 = bin(0x7c);
export const sub64 = bin(0x7d);
export const mul64 = bin(0x7e);
export const ne64 = bin(0x52);
export const ltS64 = bin(0x53);
export const gtS64 = bin(0x55);
export const leS64 = bin(0x57);
export const geS64 = bin(0x59);
export const addF = bin(0xa0);
export const mulF = bin(0xa2);
export const divF = bin(0xa3);
export const subF = bin(0xa1);
export const ltF = bin(0x63);
export const leF = bin(0x65);
export const geF = bin(0x66);
export const eqz = (a: Code): Code => [a, 0x45];
export const clz = (a: Code): Code => [a, 0x67];
export const ext = (a: Code): Code => [a, 0xac]; // i64.extend_i32_s
export const extU = (a: Code): Code => [a, 0xad]; // i64.extend_i32_u
export const negF = (a: Code): Code => [a, 0x9a];
export const f64OfI32 = (a: Code): Code => [a, 0xb7];
export const f64OfU32 = (a: Code): Code => [a, 0xb8];
export const f64OfI64 = (a: Code): Code => [a, 0xb9];
export const i32OfF64 = (a: Code): Code => [a, 0xaa]; // i32.trunc_f64_s
export const ld8 = (a: Code, off = 0): Code => [a, 0x2d, 0, ...uleb(off)];
export const ld8s = (a: Code, off = 0): Code => [a, 0x2c, 0, ...uleb(off)];
export const ld16s = (a: Code, off = 0): Code => [a, 0x2e, 0, ...uleb(off)];
export const ld16u = (a: Code, off = 0): Code => [a, 0x2f, 0, ...uleb(off)];
export const ld32 = (a: Code, off = 0): Code => [a, 0x28, 0, ...uleb(off)];
export const ld64 = (a: Code, off = 0): Code => [a, 0x29, 0, ...uleb(off)];
/** `if (cond) { then } else { els }` without a value. */
export const iff = (cond: Code, then: Code, els?: Code): Code => [cond, 0x04, 0x40, then, els !== undefined ? [0x05, els] : [], 0x0b];
/** `cond ? a : b` as an i32 (both evaluated). */
export const sel = (a: Code, b: Code, cond: Code): Code => [a, b, cond, 0x1b];
export const ret = (e: Code): Code => [e, 0x0f];
export const call = (f: number, ...args: Code[]): Code => [args, 0x10, ...uleb(f)];
export const drop = (e: Code): Code => [e, 0x1a];
export const inc = (l: number, by: Code = c(1)): Code => ls(l, add(lg(l), by));
/** A loop run while `cond` holds; `body` may `continue` with br 0 at its own top level (depth + ifs). */
export const whileDo = (cond: Code, b: Code): Code => [0x02, 0x40, 0x03, 0x40, eqz(cond), 0x0d, 1, b, 0x0c, 0, 0x0b, 0x0b];
/** max into local `l` of an i32 value (unsigned). */
export const maxInto = (l: number, v: Code): Code => iff(gtU(v, lg(l)), ls(l, v));
/** A big-endian 32-bit number at a. */
export const be32 = (a: Code): Code => or(or(shl(ld8(a, 1), c(24)), shl(ld8(a, 2), c(16))), or(shl(ld8(a, 3), c(8)), ld8(a, 4)));

/**
 * An RDB length read at local `at` (the 6-, 14- and 32-bit forms; any other form, a length past
 * `max`, or bytes past `end` give -1): `done(next)` stores where it ends, then the length is
 * returned. B and V are i32 locals of the caller's. Without the function's final `end`.
 */
export function rdbLength(at: number, end: Code, done: (next: Code) => Code, max: number, B: number, V: number): Code {
  return cat(
    iff(geU(lg(at), end), ret(c(-1))),
    ls(B, ld8(lg(at))),
    iff(ltU(lg(B), c(0x40)), cat(done(add(lg(at), c(1))), ret(lg(B)))),
    iff(ltU(lg(B), c(0x80)), cat(
      iff(gtU(add(lg(at), c(2)), end), ret(c(-1))),
      done(add(lg(at), c(2))),
      ret(or(shl(and(lg(B), c(0x3f)), c(8)), ld8(lg(at), 1))),
    )),
    iff(or(ne(lg(B), c(0x80)), gtU(add(lg(at), c(5)), end)), ret(c(-1))),
    ls(V, be32(lg(at))),
    iff(gtU(lg(V), c(max)), ret(c(-1))),
    done(add(lg(at), c(5))),
    lg(V),
  );
}
