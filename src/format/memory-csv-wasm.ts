/**
 * Memory CSV rows (MemoryCsvWriter's bytes) written by a WebAssembly function, for the span walk
 * (src/pipelines/memory-span.ts): the walk's keys are in the span the codec preloaded into its
 * LZF module's memory (lzfWasmPreload), and this module imports that memory, so a row's key is
 * checked and copied there without a byte of it passing through JavaScript. Numbers, the two
 * words and the expiry time are written there too; JavaScript copies the rows out in blocks.
 *
 * It writes exactly what MemoryCsvWriter.fieldsAt writes, or nothing: a key that needs quoting or
 * escapes makes the function answer -1 and the caller writes that row in JavaScript. The caller
 * passes only what the function handles: a database number, integral numbers below 2^53 in
 * magnitude, an expiry that is none (-1) or an integral time in years 1970..9999.
 */
import { lzfWasmShare } from '../../native-free-parser/lzf-wasm.js';
import { csvField } from './memory.js';
import {
  body, F64, f64Const, get, HEADER, I32, instantiate, konst, mem, name, OP, section, set, uleb, VOID, type WasmMemory,
} from '../../native-free-parser/wasm-asm.js';

const COMMA = 0x2c;

/** Pushes '0' + the i32 on the stack... as instructions: `store8(o + k, 48 + <value>)`. */
const digitAt = (o: number, k: number, value: number[]): number[] => [...get(o), ...konst(48), ...value, OP.i32Add, OP.i32Store8, ...mem(0, k)];
const byteAt = (o: number, k: number, b: number): number[] => [...get(o), ...konst(b), OP.i32Store8, ...mem(0, k)];
const inc = (l: number, n: number): number[] => [...get(l), ...konst(n), OP.i32Add, ...set(l)];
const call = (f: number): number[] => [OP.call, ...uleb(f)];

/** Function 0, u32(v, o): the decimal text of unsigned v at o; returns the end. */
function u32Body(): number[] {
  const [V, O, N, P] = [0, 1, 2, 3];
  const atLeast = (k: number): number[] => [...get(V), ...konst(k), OP.i32GeU, OP.i32Add];
  return [
    ...konst(1),
    ...atLeast(10), ...atLeast(100), ...atLeast(1000), ...atLeast(10000), ...atLeast(100000),
    ...atLeast(1000000), ...atLeast(10000000), ...atLeast(100000000), ...atLeast(1000000000),
    ...set(N),
    ...get(O), ...get(N), OP.i32Add, ...set(P),
    OP.loop, VOID,
    ...get(P), ...konst(1), OP.i32Sub, OP.localTee, P,
    ...konst(48), ...get(V), ...konst(10), OP.i32RemU, OP.i32Add, OP.i32Store8, ...mem(0),
    ...get(V), ...konst(10), OP.i32DivU, OP.localTee, V,
    OP.brIf, 0,
    OP.end,
    ...get(O), ...get(N), OP.i32Add,
    OP.end,
  ];
}

/** Function 1, num(v, o): the integer v (|v| < 2^53, as a double) at o, a sign first when negative. */
function numBody(): number[] {
  const [V, O, HI, LO, K] = [0, 1, 2, 3, 4];
  return [
    ...get(V), ...f64Const(0), OP.f64Lt,
    OP.if, VOID,
    ...byteAt(O, 0, 0x2d),
    ...inc(O, 1),
    ...get(V), OP.f64Neg, ...set(V),
    OP.end,
    ...get(V), ...f64Const(4294967296), OP.f64Lt,
    OP.if, VOID,
    ...get(V), OP.i32TruncF64U, ...get(O), ...call(0), OP.return,
    OP.end,
    // Above 2^32: the billions, then nine digits.
    ...get(V), ...f64Const(1e9), OP.f64Div, OP.f64Floor, OP.i32TruncF64U, OP.localTee, HI,
    OP.f64ConvertI32U, ...f64Const(1e9), OP.f64Mul, ...get(V), OP.f64Sub, OP.f64Neg, OP.i32TruncF64U, ...set(LO),
    ...get(HI), ...get(O), ...call(0), ...set(O),
    ...konst(9), ...set(K),
    OP.loop, VOID,
    ...get(K), ...konst(1), OP.i32Sub, ...set(K),
    ...get(O), ...get(K), OP.i32Add,
    ...konst(48), ...get(LO), ...konst(10), OP.i32RemU, OP.i32Add, OP.i32Store8, ...mem(0),
    ...get(LO), ...konst(10), OP.i32DivU, ...set(LO),
    ...get(K), OP.brIf, 0,
    OP.end,
    ...get(O), ...konst(9), OP.i32Add,
    OP.end,
  ];
}

/** Function 2, cp(a, n, o): n bytes from a to o; returns o + n. */
function cpBody(): number[] {
  const [A, N, O] = [0, 1, 2];
  return [
    OP.block, VOID,
    OP.loop, VOID,
    ...get(N), OP.i32Eqz, OP.brIf, 1,
    ...get(O), ...get(A), OP.i32Load8u, ...mem(0), OP.i32Store8, ...mem(0),
    ...inc(A, 1), ...inc(O, 1),
    ...get(N), ...konst(1), OP.i32Sub, ...set(N),
    OP.br, 0,
    OP.end,
    OP.end,
    ...get(O),
    OP.end,
  ];
}

/**
 * Function 3, key(s, e, o): the key [s, e) copied to o as it is, returning the end; or -1 when it
 * needs quoting or escapes (empty, a space first or last, a byte outside 0x20..0x7e, `\`, `,`, `"`).
 */
function keyBody(): number[] {
  const [S, E, O, B] = [0, 1, 2, 3];
  const is = (v: number): number[] => [...get(B), ...konst(v), OP.i32Eq];
  return [
    ...get(S), ...get(E), OP.i32GeU,
    ...get(S), OP.i32Load8u, ...mem(0), ...konst(0x20), OP.i32Eq, OP.i32Or,
    ...get(E), ...konst(1), OP.i32Sub, OP.i32Load8u, ...mem(0), ...konst(0x20), OP.i32Eq, OP.i32Or,
    OP.if, VOID, ...konst(-1), OP.return, OP.end,
    OP.block, VOID,
    OP.loop, VOID,
    ...get(S), ...get(E), OP.i32GeU, OP.brIf, 1,
    ...get(S), OP.i32Load8u, ...mem(0), ...set(B),
    ...get(B), ...konst(0x20), OP.i32LtU,
    ...get(B), ...konst(0x7e), OP.i32GtU, OP.i32Or,
    ...is(0x5c), OP.i32Or, ...is(COMMA), OP.i32Or, ...is(0x22), OP.i32Or,
    OP.if, VOID, ...konst(-1), OP.return, OP.end,
    ...get(O), ...get(B), OP.i32Store8, ...mem(0),
    ...inc(S, 1), ...inc(O, 1),
    OP.br, 0,
    OP.end,
    OP.end,
    ...get(O),
    OP.end,
  ];
}

/**
 * Function 4, time(ms, o): ISO 8601 in UTC with milliseconds (Date#toISOString's text) at o, for
 * an integral ms in years 1970..9999; returns o + 24. The date from the day number by the civil
 * calendar's eras of 400 years (days from 0000-03-01).
 */
function timeBody(): number[] {
  const [MS, O, DAY, TOD, Z, ERA, DOE, YOE, Y, DOY, MP, D, M, H, MI, SEC] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15];
  const div = (l: number, k: number): number[] => [...get(l), ...konst(k), OP.i32DivU];
  const rem = (l: number, k: number): number[] => [...get(l), ...konst(k), OP.i32RemU];
  const two = (l: number, at: number): number[] => [...digitAt(O, at, div(l, 10)), ...digitAt(O, at + 1, rem(l, 10))];
  return [
    ...get(MS), ...f64Const(86400000), OP.f64Div, OP.f64Floor, OP.i32TruncF64U, OP.localTee, DAY,
    OP.f64ConvertI32U, ...f64Const(86400000), OP.f64Mul, ...get(MS), OP.f64Sub, OP.f64Neg, OP.i32TruncF64U, ...set(TOD),
    ...get(DAY), ...konst(719468), OP.i32Add, ...set(Z),
    ...div(Z, 146097), ...set(ERA),
    ...get(Z), ...get(ERA), ...konst(146097), OP.i32Mul, OP.i32Sub, ...set(DOE),
    ...get(DOE), ...div(DOE, 1460), OP.i32Sub, ...div(DOE, 36524), OP.i32Add, ...div(DOE, 146096), OP.i32Sub,
    ...konst(365), OP.i32DivU, ...set(YOE),
    ...get(YOE), ...get(ERA), ...konst(400), OP.i32Mul, OP.i32Add, ...set(Y),
    ...get(DOE), ...get(YOE), ...konst(365), OP.i32Mul, ...div(YOE, 4), OP.i32Add, ...div(YOE, 100), OP.i32Sub, OP.i32Sub, ...set(DOY),
    ...get(DOY), ...konst(5), OP.i32Mul, ...konst(2), OP.i32Add, ...konst(153), OP.i32DivU, ...set(MP),
    ...get(DOY), ...get(MP), ...konst(153), OP.i32Mul, ...konst(2), OP.i32Add, ...konst(5), OP.i32DivU, OP.i32Sub, ...konst(1), OP.i32Add, ...set(D),
    ...get(MP), ...konst(3), OP.i32Add, ...get(MP), ...konst(9), OP.i32Sub, ...get(MP), ...konst(10), OP.i32LtU, OP.select, ...set(M),
    ...get(Y), ...get(M), ...konst(2), OP.i32LeU, OP.i32Add, ...set(Y),
    ...div(TOD, 3600000), ...set(H),
    ...get(TOD), ...get(H), ...konst(3600000), OP.i32Mul, OP.i32Sub, ...set(TOD),
    ...div(TOD, 60000), ...set(MI),
    ...get(TOD), ...get(MI), ...konst(60000), OP.i32Mul, OP.i32Sub, ...set(TOD),
    ...div(TOD, 1000), ...set(SEC),
    ...get(TOD), ...get(SEC), ...konst(1000), OP.i32Mul, OP.i32Sub, ...set(TOD),
    // YYYY-MM-DDTHH:MM:SS.mmmZ
    ...digitAt(O, 0, div(Y, 1000)),
    ...digitAt(O, 1, [...div(Y, 100), ...konst(10), OP.i32RemU]),
    ...digitAt(O, 2, [...div(Y, 10), ...konst(10), OP.i32RemU]),
    ...digitAt(O, 3, rem(Y, 10)),
    ...byteAt(O, 4, 0x2d), ...two(M, 5), ...byteAt(O, 7, 0x2d), ...two(D, 8), ...byteAt(O, 10, 0x54),
    ...two(H, 11), ...byteAt(O, 13, 0x3a), ...two(MI, 14), ...byteAt(O, 16, 0x3a), ...two(SEC, 17), ...byteAt(O, 19, 0x2e),
    ...digitAt(O, 20, div(TOD, 100)),
    ...digitAt(O, 21, [...div(TOD, 10), ...konst(10), OP.i32RemU]),
    ...digitAt(O, 22, rem(TOD, 10)),
    ...byteAt(O, 23, 0x5a),
    ...get(O), ...konst(24), OP.i32Add,
    OP.end,
  ];
}

/**
 * Function 5, row(db, tw, twl, ks, ke, size, ew, ewl, elements, largest, expiry, fa, fl, o): one
 * CSV line at o (database,type,key,size_in_bytes,encoding,num_elements,len_largest_element,expiry,
 * then `,file` when fl > 0, then \n); returns its end, or -1 when the key needs the JavaScript
 * writer.
 */
function rowBody(): number[] {
  const [DB, TW, TWL, KS, KE, SIZE, EW, EWL, EL, LG, EXP, FA, FL, O, K] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14];
  const comma = (): number[] => [...byteAt(O, 0, COMMA), ...inc(O, 1)];
  return [
    ...get(DB), ...get(O), ...call(0), ...set(O), ...comma(),
    ...get(TW), ...get(TWL), ...get(O), ...call(2), ...set(O), ...comma(),
    ...get(KS), ...get(KE), ...get(O), ...call(3), OP.localTee, K,
    ...konst(0), OP.i32LtS,
    OP.if, VOID, ...konst(-1), OP.return, OP.end,
    ...get(K), ...set(O), ...comma(),
    ...get(SIZE), ...get(O), ...call(1), ...set(O), ...comma(),
    ...get(EW), ...get(EWL), ...get(O), ...call(2), ...set(O), ...comma(),
    ...get(EL), ...get(O), ...call(1), ...set(O), ...comma(),
    ...get(LG), ...get(O), ...call(1), ...set(O), ...comma(),
    ...get(EXP), ...f64Const(0), OP.f64Ge,
    OP.if, VOID, ...get(EXP), ...get(O), ...call(4), ...set(O), OP.end,
    // The file column, when there are several inputs (its CSV field's bytes at FA).
    ...get(FL),
    OP.if, VOID, ...comma(), ...get(FA), ...get(FL), ...get(O), ...call(2), ...set(O), OP.end,
    ...byteAt(O, 0, 0x0a),
    ...get(O), ...konst(1), OP.i32Add,
    OP.end,
  ];
}

function moduleBytes(): Uint8Array {
  const type = section(1, [
    4,
    0x60, 2, I32, I32, 1, I32, // u32
    0x60, 2, F64, I32, 1, I32, // num, time
    0x60, 3, I32, I32, I32, 1, I32, // cp, key
    0x60, 14, I32, I32, I32, I32, I32, F64, I32, I32, F64, F64, F64, I32, I32, I32, 1, I32, // row
  ]);
  const imports = section(2, [1, ...name('e'), ...name('m'), 0x02, 0x00, 1]);
  const func = section(3, [6, 0, 1, 2, 2, 1, 3]);
  const exports = section(7, [1, ...name('r'), 0x00, 5]);
  const code = section(10, [
    6,
    ...body(2, u32Body()),
    ...body(3, numBody()),
    ...body(0, cpBody()),
    ...body(1, keyBody()),
    ...body(14, timeBody()),
    ...body(1, rowBody()),
  ]);
  return Uint8Array.from([...HEADER, ...type, ...imports, ...func, ...exports, ...code]);
}

/** Bytes of the shared region: words first, then the file column's field, then rows. */
const WORDS = 4096;
const FILE = 4096;
const ROWS = 256 * 1024;
/** A row's bytes besides its key, at most: 5 numbers of 21, 24 of expiry, separators, 2 words of 64. */
export const ROW_ROOM = 5 * 21 + 24 + 8 + 2 * 64;

type RowFn = (
  db: number, tw: number, twl: number, ks: number, ke: number, size: number, ew: number, ewl: number,
  elements: number, largest: number, expiry: number, fa: number, fl: number, o: number,
) => number;

const utf8 = new TextEncoder();

/** This thread's writer once made (null: none can be), undefined before. */
let instance: CsvRowsWasm | null | undefined;

/**
 * The rows of one thread's spans, written in WebAssembly into the region the codec shares; `flush`
 * hands them on in blocks. One per thread (the codec's module is per thread).
 */
export class CsvRowsWasm {
  private readonly words = new Map<string, number>();
  private wordsEnd: number;
  private o: number;
  /** The rows' area in the shared memory: [rowsStart, rowsEnd). */
  readonly rowsStart: number;
  readonly rowsEnd: number;

  /** The file column's text last set, where its field's bytes are, and their length (-1: too long). */
  private file: string | undefined;
  private readonly fileAt: number;
  private fileLen = 0;

  /**
   * @param memory the codec's memory, shared
   * @param r the module's row function, which the span walk's module imports too (memory-walk-wasm.ts)
   */
  private constructor(readonly memory: WasmMemory, region: number, readonly r: RowFn) {
    this.wordsEnd = region;
    this.fileAt = region + WORDS;
    this.rowsStart = region + WORDS + FILE;
    this.rowsEnd = this.rowsStart + ROWS;
    this.o = this.rowsStart;
  }

  /** The file column's field bytes for `file` (several inputs), or none; false when too long for the region. */
  private setFile(file: string | undefined): boolean {
    if (file === this.file) return this.fileLen >= 0;
    this.file = file;
    if (file === undefined) {
      this.fileLen = 0;
      return true;
    }
    const b = utf8.encode(csvField(file));
    if (b.length > FILE || b.length === 0) {
      // Too long, or an empty name (whose column the JavaScript writer writes as nothing).
      this.fileLen = -1;
      return false;
    }
    new Uint8Array(this.memory.buffer).set(b, this.fileAt);
    this.fileLen = b.length;
    return true;
  }

  /**
   * This thread's writer (one per thread: it writes into the one region the codec's module shares;
   * the spans of every input run one after the other on it), or null when WebAssembly or the
   * codec's shared memory is not available.
   */
  static create(): CsvRowsWasm | null {
    if (instance !== undefined) return instance;
    instance = null;
    const shared = lzfWasmShare(WORDS + FILE + ROWS);
    if (shared === null) return null;
    const ex = instantiate(moduleBytes(), { e: { m: shared.memory } });
    // Without it, the JavaScript writer writes every row.
    if (ex !== null) instance = new CsvRowsWasm(shared.memory, shared.offset, ex['r'] as RowFn);
    return instance;
  }

  /** Where the next row goes; a module writing rows itself (memory-walk-wasm.ts) moves it on. */
  get cursor(): number {
    return this.o;
  }

  set cursor(o: number) {
    this.o = o;
  }

  /** The file column's field for `file` in the region: its address and length (0: none), or null when too long. */
  fileField(file: string | undefined): { at: number; length: number } | null {
    if (!this.setFile(file)) return null;
    return { at: this.fileAt, length: this.fileLen };
  }

  /** `n` bytes of the words' area, 8-aligned, for another module's tables; -1 when the area is full. */
  reserve(n: number): number {
    const at = (this.wordsEnd + 7) & ~7;
    if (at + n > this.fileAt) return -1;
    this.wordsEnd = at + n;
    return at;
  }

  /** A word's address in the region (its length is the caller's: ASCII words only), or -1 when the area is full. */
  word(s: string): number {
    const at = this.words.get(s);
    if (at !== undefined) return at;
    const b = utf8.encode(s);
    if (b.length !== s.length || b.length > 64 || this.wordsEnd + b.length > this.fileAt) return -1;
    new Uint8Array(this.memory.buffer).set(b, this.wordsEnd);
    this.words.set(s, this.wordsEnd);
    this.wordsEnd += b.length;
    return this.wordsEnd - b.length;
  }

  /**
   * Writes a row whose key is the module memory's bytes [ks, ke); false when the caller must write
   * it itself (the key needs quoting, a word is not ASCII, the file name is empty or too long, the
   * row would not fit). The rows stay in the module's memory until `flush`, which the caller runs
   * before it writes a row itself (so rows keep their order) and when its walk ends. The numbers
   * must be integers below 2^53 in magnitude, the database one below 2^32, the expiry -1 or a time
   * in years 1970..9999 (the module traps on anything else).
   */
  row(
    db: number, type: string, ks: number, ke: number, size: number, encoding: string,
    elements: number, largest: number, expiry: number, file: string | undefined, out: (rows: Uint8Array) => void,
  ): boolean {
    if (file !== this.file && !this.setFile(file)) return false;
    if (this.fileLen < 0) return false;
    const room = (ke - ks) + ROW_ROOM + this.fileLen + 1;
    if (this.o + room > this.rowsEnd) {
      this.flush(out);
      if (this.o + room > this.rowsEnd) return false;
    }
    const tw = this.word(type);
    const ew = this.word(encoding);
    if (tw < 0 || ew < 0) return false;
    const end = this.r(db, tw, type.length, ks, ke, size, ew, encoding.length, elements, largest, expiry, this.fileAt, this.fileLen, this.o);
    if (end < 0) return false;
    this.o = end;
    return true;
  }

  /** Hands the rows written so far to `out` (a view, valid during the call). */
  flush(out: (rows: Uint8Array) => void): void {
    if (this.o === this.rowsStart) return;
    out(new Uint8Array(this.memory.buffer, this.rowsStart, this.o - this.rowsStart));
    this.o = this.rowsStart;
  }
}
