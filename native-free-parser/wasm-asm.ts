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
export function body(locals: number | Array<[number, number]>, instr: number[]): number[] {
  const groups = typeof locals === 'number' ? (locals > 0 ? [[locals, I32]] : []) : locals;
  const code = [...uleb(groups.length), ...groups.flat(), ...instr];
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

/**
 * Compiles and instantiates `bytes` with `imports`; null when this runtime has no WebAssembly or
 * refuses the module (the callers then run their JavaScript code).
 */
export function instantiate(bytes: Uint8Array, imports: object = {}): Record<string, unknown> | null {
  try {
    return new WebAssembly.Instance(new WebAssembly.Module(bytes), imports).exports;
  } catch {
    return null;
  }
}
