/**
 * CRC-64/Jones (crc64.ts) again, as a WebAssembly function assembled here from its instructions.
 * WebAssembly has 64-bit integers, so the slicing-by-8 step that JavaScript runs on two 32-bit
 * halves with 16 table lookups takes 8 lookups of 64-bit entries here; and it takes 16 bytes a
 * step, through 16 tables (1.47 against 1.26 GB/s by 8; bench/micro-crc64.ts measures them).
 *
 * Memory: the 16 slicing tables (table k at k * 2048, 256 entries of 8 bytes, little-endian: tables
 * 0..7 are the ones crc64.ts builds, 8..15 are made from them here), the register at STATE, then
 * the bytes to checksum, copied in at most CHUNK at a time. Nothing can fail inside: every range is the caller's own buffer.
 */
import { body, get, HEADER, I32, I64, i64Const, instantiate, konst, mem, name, OP, section, set, uleb, VOID, type WasmMemory } from './wasm-asm.js';

const TABLES = 16 * 256 * 8;
const STATE = TABLES;
const DATA = STATE + 16;
/** Bytes copied in per call of the module's function. */
const CHUNK = 1024 * 1024;
const PAGES = Math.ceil((DATA + CHUNK) / 65536);

/** c(p, end): the register at STATE updated with the bytes [p, end). */
function code(): number[] {
  // Locals: the parameters p and end; then the register (i64), and the 4-byte words of a step.
  const [P, END, CRC, A, B, C2, D2] = [0, 1, 2, 3, 4, 5, 6];
  /** Table k's entry for the byte `byteOf` pushes (0..255). */
  const lookup = (k: number, byteOf: number[]): number[] => [...byteOf, ...konst(3), OP.i32Shl, OP.i64Load, ...mem(3, k * 2048)];
  const byte = (w: number, shift: number): number[] => shift === 24
    ? [...get(w), ...konst(24), OP.i32ShrU]
    : [...get(w), ...(shift > 0 ? [...konst(shift), OP.i32ShrU] : []), ...konst(0xff), OP.i32And];
  /**
   * The table lookups of the bytes in `words` (locals of 4 bytes each, in stream order), XORed:
   * byte j of the n still has n - 1 - j bytes to travel, through table n - 1 - j.
   */
  const fold = (words: number[]): number[] => words.flatMap((w, wi) => [0, 8, 16, 24].flatMap((shift, bi) => {
    const j = 4 * wi + bi;
    return [...lookup(4 * words.length - 1 - j, byte(w, shift)), ...(j > 0 ? [OP.i64Xor] : [])];
  }));
  /** The i64 on the stack into `lo` (its low word) and `hi`, through CRC. */
  const split = (lo: number, hi: number): number[] => [
    OP.localTee, CRC, OP.i32WrapI64, ...set(lo), ...get(CRC), ...i64Const(32), OP.i64ShrU, OP.i32WrapI64, ...set(hi),
  ];
  /** A loop taking 16 or 8 bytes a step while there are that many: the register XOR the first 8, the rest as they are. */
  const steps = (n: 16 | 8): number[] => [
    OP.block, VOID,
    OP.loop, VOID,
    ...get(END), ...get(P), OP.i32Sub, ...konst(n), OP.i32LtU, OP.brIf, 1,
    ...get(CRC), ...get(P), OP.i64Load, ...mem(0), OP.i64Xor, ...split(A, B),
    ...(n === 16 ? [...get(P), OP.i64Load, ...mem(0, 8), ...split(C2, D2)] : []),
    ...fold(n === 16 ? [A, B, C2, D2] : [A, B]),
    ...set(CRC),
    ...get(P), ...konst(n), OP.i32Add, ...set(P),
    OP.br, 0,
    OP.end,
    OP.end,
  ];
  const instr = [
    ...konst(STATE), OP.i64Load, ...mem(3), ...set(CRC),
    ...steps(16),
    ...steps(8),
    // The tail, a byte at a time through table 0.
    OP.block, VOID,
    OP.loop, VOID,
    ...get(P), ...get(END), OP.i32GeU, OP.brIf, 1,
    ...lookup(0, [...get(CRC), OP.i32WrapI64, ...get(P), OP.i32Load8u, ...mem(0), OP.i32Xor, ...konst(0xff), OP.i32And]),
    ...get(CRC), ...i64Const(8), OP.i64ShrU, OP.i64Xor, ...set(CRC),
    ...get(P), ...konst(1), OP.i32Add, ...set(P),
    OP.br, 0,
    OP.end,
    OP.end,
    ...konst(STATE), ...get(CRC), OP.i64Store, ...mem(3),
    OP.end,
  ];
  return body([[1, I64], [4, I32]], instr);
}

function moduleBytes(): Uint8Array {
  const type = section(1, [1, 0x60, 2, I32, I32, 0]);
  const func = section(3, [1, 0]);
  const memory = section(5, [1, 0x00, ...uleb(PAGES)]);
  const exports = section(7, [2, ...name('c'), 0x00, 0, ...name('m'), 0x02, 0]);
  const codeSec = section(10, [1, ...code()]);
  return Uint8Array.from([...HEADER, ...type, ...func, ...memory, ...exports, ...codeSec]);
}

/** The CRC-64 step in WebAssembly: `update` leaves the new register in `lo` / `hi`. */
export interface CrcWasm {
  update(lo: number, hi: number, buf: Uint8Array, start: number, end: number): void;
  lo: number;
  hi: number;
}

/**
 * Instantiates the module with the slicing tables `LO` / `HI` (low and high words, table k at
 * k * 256, as crc64.ts builds them); null when WebAssembly is not available.
 */
export function loadCrcWasm(LO: Uint32Array, HI: Uint32Array): CrcWasm | null {
  const ex = instantiate(moduleBytes());
  if (ex === null) return null;
  const c = ex['c'] as (p: number, end: number) => void;
  const m = ex['m'] as WasmMemory;
  const bytes = new Uint8Array(m.buffer);
  const words = new Uint32Array(m.buffer);
  // Little-endian i64 entries: low word first (WebAssembly memory is little-endian everywhere).
  const view = new DataView(m.buffer);
  for (let i = 0; i < 8 * 256; i++) {
    view.setUint32(i * 8, LO[i]!, true);
    view.setUint32(i * 8 + 4, HI[i]!, true);
  }
  // Tables 8..15 for the 16-byte step: table k is table k - 1 moved one more byte.
  for (let k = 8; k < 16; k++) {
    for (let i = 0; i < 256; i++) {
      const lo = view.getUint32((k - 1) * 2048 + i * 8, true);
      const hi = view.getUint32((k - 1) * 2048 + i * 8 + 4, true);
      const t = lo & 0xff;
      // (v >>> 8) ^ table0[v & 0xff], on 32-bit halves
      const nlo = ((lo >>> 8) | (hi << 24)) ^ LO[t]!;
      const nhi = (hi >>> 8) ^ HI[t]!;
      view.setUint32(k * 2048 + i * 8, nlo >>> 0, true);
      view.setUint32(k * 2048 + i * 8 + 4, nhi >>> 0, true);
    }
  }
  const s = STATE >>> 2;
  const w: CrcWasm = {
    lo: 0,
    hi: 0,
    update(lo, hi, buf, start, end) {
      view.setUint32(STATE, lo >>> 0, true);
      view.setUint32(STATE + 4, hi >>> 0, true);
      for (let at = start; at < end; at += CHUNK) {
        const n = Math.min(CHUNK, end - at);
        bytes.set(buf.subarray(at, at + n), DATA);
        c(DATA, DATA + n);
      }
      w.lo = words[s]! | 0;
      w.hi = words[s + 1]! | 0;
    },
  };
  return w;
}

/** The module's bytes (for the tests). */
export const crcModuleBytes = moduleBytes;
