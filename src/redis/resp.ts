/**
 * RESP2, both halves, knowing nothing of sockets (STYLE.md: reader and writer that know nothing of
 * the transport, like pg-protocol):
 *
 *  - CommandWriter: commands as RESP arrays of bulk strings, appended to one growable buffer.
 *    Arguments of 64 KiB and more are not copied: the buffer so far is sealed as a part and the
 *    argument's own bytes become the next part, so a 500 MB RESTORE payload costs no second copy.
 *  - ReplyParser: replies from the bytes a socket delivers, in order, as plain values. It copies
 *    only what straddles chunks (habit 4); a long bulk reply waits until enough chunks arrived and
 *    is then joined once, never "leftover + new chunk" per arrival.
 *
 * Error replies are values (RespError), not thrown, and carry their code (the first word:
 * `BUSYKEY`, `NOAUTH`, `ERR`), which callers match on, never on the text.
 */
import { Buffer } from 'node:buffer';

/** An error reply: `-CODE message`. Not an Error subclass: no stack capture per failed key. */
export class RespError {
  /** The first word of the reply (`BUSYKEY`, `ERR`, `WRONGPASS`, ...). */
  readonly code: string;
  /** The whole reply text after the `-`. */
  readonly message: string;

  constructor(text: string) {
    this.message = text;
    const sp = text.indexOf(' ');
    this.code = sp < 0 ? text : text.slice(0, sp);
  }
}

/** A parsed reply: simple string, integer, bulk string (bytes), nil, error, array. */
export type Reply = string | number | Buffer | null | RespError | Reply[];

/**
 * A command argument: bytes as they are, text as UTF-8, integers as decimal text, or one bulk
 * string made of several byte parts (a DUMP payload: type byte, value, footer) written in a row.
 */
export type Arg = Uint8Array | string | number | readonly Uint8Array[];

/** True when every UTF-16 unit of `s` is ASCII (then its UTF-8 bytes are its char codes). */
function isAscii(s: string): boolean {
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) > 0x7f) return false;
  return true;
}

/** Arguments at least this long are passed by reference instead of copied. */
const NO_COPY_MIN = 64 * 1024;
const INITIAL = 256 * 1024;

/**
 * Encodes commands into parts ready for a socket or a file. Parts handed out by `take()` are never
 * written to again (a socket may still hold them).
 */
export class CommandWriter {
  private buf: Buffer;
  private start = 0;
  private len = 0;
  private parts: Uint8Array[] = [];
  private partBytes = 0;

  constructor(private readonly initial = INITIAL) {
    this.buf = Buffer.allocUnsafe(initial);
  }

  /** Bytes appended since the last take(). */
  get pendingBytes(): number {
    return this.partBytes + (this.len - this.start);
  }

  private ensure(n: number): void {
    if (this.len + n <= this.buf.length) return;
    this.seal();
    // The old buffer may be referenced by parts: start a fresh one.
    this.buf = Buffer.allocUnsafe(Math.max(this.initial, n));
    this.start = 0;
    this.len = 0;
  }

  private seal(): void {
    if (this.len > this.start) {
      this.parts.push(this.buf.subarray(this.start, this.len));
      this.partBytes += this.len - this.start;
      this.start = this.len;
    }
  }

  /** Writes a non-negative integer's decimal digits (the caller ensured 20 bytes of room). */
  private digits(n: number): void {
    const b = this.buf;
    if (n < 10) {
      b[this.len++] = 0x30 + n;
      return;
    }
    let w = 1;
    for (let x = n; x >= 10; x = Math.floor(x / 10)) w++;
    let i = this.len + w;
    this.len = i;
    for (let x = n; ; ) {
      const q = Math.floor(x / 10);
      b[--i] = 0x30 + (x - q * 10);
      if (q === 0) break;
      x = q;
    }
  }

  private head(prefix: number, n: number): void {
    // `*N\r\n` or `$N\r\n`: at most 1 + 20 + 2 bytes.
    this.ensure(24);
    this.buf[this.len++] = prefix;
    this.digits(n);
    this.buf[this.len++] = 0x0d;
    this.buf[this.len++] = 0x0a;
  }

  /** Appends one command; returns its size in bytes. */
  command(args: readonly Arg[]): number {
    const before = this.pendingBytes;
    this.head(0x2a, args.length); // '*'
    for (const a of args) this.arg(a);
    return this.pendingBytes - before;
  }

  private arg(a: Arg): void {
    if (typeof a === 'number') {
      if (Number.isSafeInteger(a) && a >= 0) {
        // The usual case (TTLs, counts, databases): `$W\r\n` then the digits, straight into
        // the buffer; W (at most 16) is counted first, so nothing moves afterwards.
        this.ensure(48);
        const b = this.buf;
        let w = 1;
        for (let x = a; x >= 10; x = Math.floor(x / 10)) w++;
        let j = this.len;
        b[j++] = 0x24;
        if (w < 10) b[j++] = 0x30 + w;
        else {
          b[j++] = 0x31;
          b[j++] = 0x30 + (w - 10);
        }
        b[j++] = 0x0d;
        b[j++] = 0x0a;
        let i = j + w;
        for (let x = a; ; ) {
          const q = Math.floor(x / 10);
          b[--i] = 0x30 + (x - q * 10);
          if (q === 0) break;
          x = q;
        }
        j += w;
        b[j++] = 0x0d;
        b[j++] = 0x0a;
        this.len = j;
        return;
      }
      a = String(a);
    }
    if (typeof a === 'string') {
      const n = a.length <= 64 && isAscii(a) ? a.length : Buffer.byteLength(a, 'utf8');
      this.head(0x24, n); // '$'
      this.ensure(n + 2);
      if (n === a.length) {
        const b = this.buf;
        for (let i = 0; i < n; i++) b[this.len + i] = a.charCodeAt(i);
        this.len += n;
      } else {
        this.len += this.buf.write(a, this.len, 'utf8');
      }
    } else if (a instanceof Uint8Array) {
      this.head(0x24, a.length);
      this.bytes(a);
    } else {
      let n = 0;
      for (const p of a) n += p.length;
      this.head(0x24, n);
      for (const p of a) this.bytes(p);
    }
    this.ensure(2);
    this.buf[this.len++] = 0x0d;
    this.buf[this.len++] = 0x0a;
  }

  /** Raw bytes: copied when short, passed by reference when long. */
  private bytes(a: Uint8Array): void {
    const n = a.length;
    if (n <= 32) {
      // A type byte, a DUMP footer, most keys: a loop costs less than TypedArray#set's call.
      this.ensure(n);
      const b = this.buf;
      let j = this.len;
      for (let i = 0; i < n; i++) b[j++] = a[i]!;
      this.len = j;
      return;
    }
    if (n >= NO_COPY_MIN) {
      this.seal();
      this.parts.push(a);
      this.partBytes += n;
    } else {
      this.ensure(n);
      this.buf.set(a, this.len);
      this.len += n;
    }
  }

  /** Everything appended since the last call, as parts in order (empty when nothing). */
  take(): Uint8Array[] {
    this.seal();
    const out = this.parts;
    this.parts = [];
    this.partBytes = 0;
    // Keep using the rest of the buffer: the parts handed out end at `start`.
    if (this.buf.length - this.len < 1024) {
      this.buf = Buffer.allocUnsafe(this.initial);
      this.start = 0;
      this.len = 0;
    }
    return out;
  }
}

/** One command as bytes (tests, one-off writes). */
export function encodeCommand(args: readonly Arg[]): Buffer {
  const w = new CommandWriter(1024);
  w.command(args);
  return Buffer.concat(w.take());
}

/** The parser could not finish a reply: more bytes are needed (at least `need` in all, when known). */
const NEED_MORE = -1;

/** Protocol violation by the peer (not RESP, or a length out of range). */
export class RespProtocolError extends Error {
  override name = 'RespProtocolError';
}

/**
 * Streaming reply parser. `feed` each chunk as it arrives; `onReply` is called once per complete
 * reply, in order. Bulk replies are views into the delivered chunks (no copy unless straddling).
 */
export class ReplyParser {
  private buf: Buffer = Buffer.alloc(0);
  private pos = 0;
  /** Chunks waiting until a known-long reply is complete (joined once). */
  private waiting: Buffer[] = [];
  private waitingBytes = 0;
  /** Bytes the current reply needs from `pos` on, when a bulk header told us; else 0. */
  private need = 0;
  private value: Reply = null;
  private bulkNeed = 0;

  constructor(private readonly onReply: (r: Reply) => void, private readonly maxBulk = 1024 * 1024 * 1024) {}

  /** True when bytes of an unfinished reply are held. */
  get partial(): boolean {
    return this.pos < this.buf.length || this.waitingBytes > 0;
  }

  /** @throws RespProtocolError when the bytes are not RESP */
  feed(chunk: Buffer): void {
    if (this.need > 0) {
      this.waiting.push(chunk);
      this.waitingBytes += chunk.length;
      if (this.buf.length - this.pos + this.waitingBytes < this.need) return;
      this.buf = Buffer.concat([this.buf.subarray(this.pos), ...this.waiting]);
      this.pos = 0;
      this.waiting = [];
      this.waitingBytes = 0;
      this.need = 0;
    } else if (this.pos >= this.buf.length) {
      this.buf = chunk;
      this.pos = 0;
    } else {
      // A short straddling remainder: copy it once with the new chunk.
      this.buf = Buffer.concat([this.buf.subarray(this.pos), chunk]);
      this.pos = 0;
    }
    for (;;) {
      if (this.pos >= this.buf.length) break;
      this.bulkNeed = 0;
      const end = this.parse(this.pos);
      if (end === NEED_MORE) {
        if (this.bulkNeed > 0) this.need = this.bulkNeed - this.pos;
        break;
      }
      this.pos = end;
      const v = this.value;
      this.value = null;
      this.onReply(v);
    }
    if (this.pos >= this.buf.length) {
      this.buf = Buffer.alloc(0);
      this.pos = 0;
    }
  }

  /** Index of the CR of the line starting at `at`, or -1. */
  private lineEnd(at: number): number {
    const i = this.buf.indexOf(0x0d, at);
    if (i < 0 || i + 1 >= this.buf.length) return -1;
    if (this.buf[i + 1] !== 0x0a) throw new RespProtocolError('a reply line not ended by CRLF');
    return i;
  }

  private int(from: number, to: number): number {
    const s = this.buf.toString('latin1', from, to);
    if (!/^-?\d+$/.test(s)) throw new RespProtocolError(`a reply length or integer that is not a number: ${JSON.stringify(s.slice(0, 40))}`);
    return Number(s);
  }

  /** Parses one reply at `at` into this.value; returns the offset after it, or NEED_MORE. */
  private parse(at: number): number {
    const b = this.buf;
    const t = b[at];
    const le = this.lineEnd(at + 1);
    if (le < 0) return NEED_MORE;
    switch (t) {
      case 0x2b: // '+'
        // +OK is most replies of a replay: no string decoding for it.
        this.value = le === at + 3 && b[at + 1] === 0x4f && b[at + 2] === 0x4b ? 'OK' : b.toString('utf8', at + 1, le);
        return le + 2;
      case 0x2d: // '-'
        this.value = new RespError(b.toString('utf8', at + 1, le));
        return le + 2;
      case 0x3a: // ':'
        this.value = this.int(at + 1, le);
        return le + 2;
      case 0x24: { // '$'
        const n = this.int(at + 1, le);
        if (n < 0) {
          this.value = null;
          return le + 2;
        }
        if (n > this.maxBulk) throw new RespProtocolError(`a bulk reply of ${n} bytes`);
        const start = le + 2;
        if (start + n + 2 > b.length) {
          this.bulkNeed = start + n + 2;
          return NEED_MORE;
        }
        this.value = b.subarray(start, start + n);
        return start + n + 2;
      }
      case 0x2a: { // '*'
        const n = this.int(at + 1, le);
        if (n < 0) {
          this.value = null;
          return le + 2;
        }
        const arr: Reply[] = new Array<Reply>(n);
        let p = le + 2;
        for (let i = 0; i < n; i++) {
          if (p >= b.length) return NEED_MORE;
          const e = this.parse(p);
          if (e === NEED_MORE) {
            // Only the outermost bulk's need is meaningful to the caller; drop it for arrays.
            this.bulkNeed = 0;
            return NEED_MORE;
          }
          arr[i] = this.value;
          p = e;
        }
        this.value = arr;
        return p;
      }
      default:
        throw new RespProtocolError(`a reply starting with byte ${t}`);
    }
  }
}
