/**
 * Pipelined connections sharing one window (STYLE.md habit 16): each connection takes at most
 * `depth` commands and `budget` bytes in flight; the producer asks for a connection with room and,
 * when all are full, waits on a promise that the replies resolve. A key's commands all go to the
 * connection it was given, so its replies pair with it through that connection's FIFO.
 */
import type { RespConnection } from './connection.js';

/** Connections with a shared window; the producer waits here when every connection is full. */
export class Pool {
  private rr = 0;
  private waiting: { resolve: (c: RespConnection) => void; reject: (e: Error) => void; bytes: number } | null = null;

  constructor(readonly conns: RespConnection[], readonly depth: number, readonly budget: number) {
    for (const c of conns) c.onReplies = () => this.wake();
  }

  private fits(c: RespConnection, bytes: number): boolean {
    return c.inflight === 0 || (c.inflight < this.depth && c.inflightBytes + bytes <= this.budget);
  }

  /**
   * A full connection takes commands again only once it drained to half its window: the producer
   * then writes half a window in one go, instead of one small write per reply.
   */
  private drained(c: RespConnection, bytes: number): boolean {
    return c.inflight === 0 || (c.inflight <= this.depth >>> 1 && c.inflightBytes + bytes <= this.budget / 2);
  }

  /**
   * A connection with room for a command of `bytes`, or null when all are full. The current one
   * is kept until it is full, so each connection gets its commands in bursts (one socket write).
   */
  pick(bytes: number): RespConnection | null {
    const n = this.conns.length;
    for (let k = 0; k < n; k++) {
      const i = (this.rr + k) % n;
      const c = this.conns[i]!;
      if (c.failure !== null) throw c.failure;
      if (this.fits(c, bytes)) {
        this.rr = i;
        return c;
      }
    }
    return null;
  }

  /** Resolves with a connection that has room, as soon as replies make some. */
  room(bytes: number): Promise<RespConnection> {
    const c = this.pick(bytes);
    if (c !== null) return Promise.resolve(c);
    for (const x of this.conns) x.flush();
    return new Promise((resolve, reject) => {
      this.waiting = { resolve, reject, bytes };
    });
  }

  private wake(): void {
    const w = this.waiting;
    if (w === null) return;
    for (const c of this.conns) {
      if (c.failure !== null) {
        this.waiting = null;
        w.reject(c.failure);
        return;
      }
    }
    const n = this.conns.length;
    for (let k = 0; k < n; k++) {
      const i = (this.rr + k) % n;
      const c = this.conns[i]!;
      if (this.drained(c, w.bytes)) {
        this.rr = i;
        this.waiting = null;
        w.resolve(c);
        return;
      }
    }
  }

  /** Every reply received (rejects when a connection fails). */
  async idle(): Promise<void> {
    for (const c of this.conns) c.flush();
    await Promise.all(this.conns.map((c) => c.idle()));
  }

  close(): void {
    for (const c of this.conns) c.close();
  }
}
