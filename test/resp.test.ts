/**
 * The RESP codec (src/redis/resp.ts) without a server: commands encoded as a naive encoder does
 * (integer edges, ASCII and UTF-8 text, short and long bytes, payload parts), parts handed out
 * never rewritten; replies parsed identically whatever the chunking (every split point of a mixed
 * stream, 1-byte chunks, a multi-megabyte bulk in small chunks), errors with their code.
 */
import t from 'tap';
import { CommandWriter, encodeCommand, ReplyParser, RespError, RespProtocolError, type Arg, type Reply } from '../src/redis/resp.js';

function naive(args: readonly Arg[]): Buffer {
  const parts: Buffer[] = [Buffer.from(`*${args.length}\r\n`)];
  for (const a of args) {
    const b = typeof a === 'number' ? Buffer.from(String(a)) : typeof a === 'string' ? Buffer.from(a, 'utf8')
      : a instanceof Uint8Array ? Buffer.from(a) : Buffer.concat(a.map((p) => Buffer.from(p)));
    parts.push(Buffer.from(`$${b.length}\r\n`), b, Buffer.from('\r\n'));
  }
  return Buffer.concat(parts);
}

t.test('commands are encoded as RESP arrays of bulk strings', async (t) => {
  const big = new Uint8Array(200_000).map((_, i) => i & 0xff);
  const cases: Arg[][] = [
    ['PING'],
    ['SET', 'k', 'v'],
    ['X', 0, 1, 9, 10, 11, 99, 100, 12345, 2 ** 31, 2 ** 32 + 1, Number.MAX_SAFE_INTEGER, -1, -1234, 1.5],
    ['ключ', '日本語', '🔑', ''],
    ['x'.repeat(70), 'é'.repeat(70)],
    [new Uint8Array(0), new Uint8Array([0, 13, 10, 255])],
    ['RESTORE', 'key', 4102444800000, [Uint8Array.of(0), new Uint8Array([1, 2, 3]), new Uint8Array(10)], 'ABSTTL'],
    ['RESTORE', 'big', 0, big, [Uint8Array.of(14), big, Uint8Array.of(10, 0)]],
  ];
  for (const c of cases) {
    t.same(encodeCommand(c), naive(c), `encodes ${JSON.stringify(c.map((a) => (typeof a === 'object' ? 'bytes' : a))).slice(0, 80)}`);
  }
  // Many commands through one writer, taken in several rounds: parts are never rewritten.
  const w = new CommandWriter(1024);
  const want: Buffer[] = [];
  const taken: Array<{ part: Uint8Array; copy: Buffer }> = [];
  for (let round = 0; round < 5; round++) {
    for (let i = 0; i < 300; i++) {
      const c: Arg[] = ['RESTORE', `key:${round}:${i}`, i * 1000, i % 50 === 0 ? big : new Uint8Array(i % 40).fill(i)];
      const n = w.command(c);
      const ref = naive(c);
      if (n !== ref.length) t.fail(`command() returned ${n}, not ${ref.length}`);
      want.push(ref);
    }
    const parts = w.take();
    for (const part of parts) taken.push({ part, copy: Buffer.from(part) });
    t.same(Buffer.concat(parts), Buffer.concat(want.slice(round * 300)), `round ${round}: the parts hold exactly the commands`);
  }
  t.equal(w.pendingBytes, 0);
  t.ok(taken.every(({ part, copy }) => copy.equals(part)), 'parts handed out were never written to again');
});

/** Parses `bytes` delivered in the given chunk sizes. */
function parseAll(bytes: Buffer, sizes: (i: number) => number): Reply[] {
  const out: Reply[] = [];
  const p = new ReplyParser((r) => out.push(r));
  let i = 0;
  let k = 0;
  while (i < bytes.length) {
    const n = Math.max(1, sizes(k++));
    p.feed(Buffer.from(bytes.subarray(i, i + n))); // fresh buffers, as a socket delivers
    i += n;
  }
  return out;
}

function norm(r: Reply): unknown {
  if (Buffer.isBuffer(r)) return { bulk: r.toString('base64') };
  if (r instanceof RespError) return { error: r.code, message: r.message };
  if (Array.isArray(r)) return r.map(norm);
  return r;
}

t.test('replies parse the same however they are chunked', async (t) => {
  const stream = Buffer.concat([
    Buffer.from('+OK\r\n-BUSYKEY Target key name already exists.\r\n:42\r\n:-7\r\n$5\r\nhello\r\n$0\r\n\r\n$-1\r\n'),
    Buffer.from('*3\r\n$3\r\nfoo\r\n:1\r\n*2\r\n+a\r\n$-1\r\n*0\r\n*-1\r\n-ERR unknown command\r\n-NOAUTH\r\n'),
    Buffer.from('$4\r\n\r\n\r\n\r\n+PONG\r\n'),
  ]);
  const want = [
    'OK', { error: 'BUSYKEY', message: 'BUSYKEY Target key name already exists.' }, 42, -7, { bulk: Buffer.from('hello').toString('base64') },
    { bulk: '' }, null, [{ bulk: Buffer.from('foo').toString('base64') }, 1, ['a', null]], [], null,
    { error: 'ERR', message: 'ERR unknown command' }, { error: 'NOAUTH', message: 'NOAUTH' },
    { bulk: Buffer.from('\r\n\r\n').toString('base64') }, 'PONG',
  ];
  t.same(parseAll(stream, () => stream.length).map(norm), want, 'one chunk');
  t.same(parseAll(stream, () => 1).map(norm), want, '1-byte chunks');
  for (let cut = 1; cut < stream.length; cut++) {
    const got = parseAll(stream, (k) => (k === 0 ? cut : stream.length)).map(norm);
    if (JSON.stringify(got) !== JSON.stringify(want)) {
      t.fail(`split at ${cut}`);
      return;
    }
  }
  t.pass('every split point');
  for (const size of [3, 7, 321]) t.same(parseAll(stream, () => size).map(norm), want, `chunks of ${size}`);
});

t.test('a long bulk reply arrives whole from small chunks', async (t) => {
  const body = Buffer.alloc(3 * 1024 * 1024 + 17).map((_, i) => (i * 7) & 0xff);
  const bytes = Buffer.concat([Buffer.from(`+OK\r\n$${body.length}\r\n`), body, Buffer.from('\r\n:1\r\n')]);
  const got = parseAll(bytes, () => 4096);
  t.equal(got.length, 3);
  t.equal(got[0], 'OK');
  t.ok(Buffer.isBuffer(got[1]) && (got[1] as Buffer).equals(body), 'the bulk, byte for byte');
  t.equal(got[2], 1);
});

t.test('bytes that are not RESP are a protocol error', async (t) => {
  const p = new ReplyParser(() => undefined);
  t.throws(() => p.feed(Buffer.from('HTTP/1.1 400 Bad Request\r\n')), RespProtocolError);
  const q = new ReplyParser(() => undefined);
  t.throws(() => q.feed(Buffer.from('$abc\r\n')), RespProtocolError);
});
