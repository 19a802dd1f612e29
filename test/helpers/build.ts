/**
 * A deliberately naive RDB byte builder for hand-made test inputs. It shares no code with the
 * codec's writer, so a test built with it checks the reader against the format description
 * (RDB-FORMAT.md) rather than against our own writer.
 */
export class Bytes {
  private parts: number[] = [];

  raw(...b: number[]): this {
    for (const x of b) this.parts.push(x & 0xff);
    return this;
  }

  ascii(s: string): this {
    for (let i = 0; i < s.length; i++) this.parts.push(s.charCodeAt(i) & 0xff);
    return this;
  }

  /** RDB length encoding (§3.1). */
  len(n: number | bigint): this {
    const v = BigInt(n);
    if (v < 64n) return this.raw(Number(v));
    if (v < 16384n) return this.raw(0x40 | Number(v >> 8n), Number(v & 0xffn));
    if (v <= 0xffffffffn) return this.raw(0x80, ...beBytes(v, 4));
    return this.raw(0x81, ...beBytes(v, 8));
  }

  /** RDB raw string (§3.2). */
  str(s: string | Uint8Array): this {
    const b = typeof s === 'string' ? [...s].map((c) => c.charCodeAt(0) & 0xff) : [...s];
    this.len(b.length);
    return this.raw(...b);
  }

  i64le(v: number | bigint): this {
    return this.raw(...leBytes(BigInt.asUintN(64, BigInt(v)), 8));
  }

  i32le(v: number): this {
    return this.raw(...leBytes(BigInt.asUintN(32, BigInt(v)), 4));
  }

  u32le(v: number): this {
    return this.raw(...leBytes(BigInt(v), 4));
  }

  u16le(v: number): this {
    return this.raw(v & 0xff, (v >> 8) & 0xff);
  }

  f64le(v: number): this {
    const b = new Uint8Array(8);
    new DataView(b.buffer).setFloat64(0, v, true);
    return this.raw(...b);
  }

  get length(): number {
    return this.parts.length;
  }

  bytes(): Uint8Array {
    return Uint8Array.from(this.parts);
  }
}

export function beBytes(v: bigint, n: number): number[] {
  const out: number[] = [];
  for (let i = n - 1; i >= 0; i--) out.push(Number((v >> BigInt(8 * i)) & 0xffn));
  return out;
}

export function leBytes(v: bigint, n: number): number[] {
  return beBytes(v, n).reverse();
}

/** A listpack (§5.4) of short strings and small ints, built naively. */
export function listpack(items: Array<string | number>): Uint8Array {
  const entries: number[][] = [];
  for (const it of items) {
    let enc: number[];
    if (typeof it === 'number') {
      if (it >= 0 && it <= 127) enc = [it];
      else if (it >= -4096 && it <= 4095) {
        const u = it & 0x1fff;
        enc = [0xc0 | (u >> 8), u & 0xff];
      } else {
        enc = [0xf4, ...leBytes(BigInt.asUintN(64, BigInt(it)), 8)];
      }
    } else {
      const b = [...it].map((c) => c.charCodeAt(0));
      if (b.length > 63) throw new Error('test builder: short strings only');
      enc = [0x80 | b.length, ...b];
    }
    const l = enc.length;
    const back = l <= 127 ? [l] : [l >> 7, 0x80 | (l & 0x7f)];
    if (l > 16382) throw new Error('test builder: small entries only');
    entries.push([...enc, ...back]);
  }
  const body = entries.flat();
  const total = 6 + body.length + 1;
  return Uint8Array.from([...leBytes(BigInt(total), 4), items.length & 0xff, (items.length >> 8) & 0xff, ...body, 0xff]);
}
