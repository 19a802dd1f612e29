/**
 * Worker thread of src/pipelines/memory-parallel.ts: runs the spans it is sent (memory-span.ts)
 * and sends back their rows, which the main thread writes in file order.
 *
 * Messages in: an InputMessage (the file's header facts and options), then JobMessages for it.
 * Out: one JobResult per job, in the order received; the rows' buffer is transferred.
 */
import { parentPort } from 'node:worker_threads';
import { serializeError, SpanRunner, type InputMessage, type JobMessage, type JobResult } from './memory-span.js';

let runner: SpanRunner | null = null;

parentPort!.on('message', (m: InputMessage | JobMessage) => {
  if (m.kind === 'input') {
    runner = new SpanRunner(m);
    return;
  }
  let res: JobResult;
  try {
    if (runner === null || runner.msg.id !== m.input) throw new Error(`rdbmerge internal: a span of input ${m.input} before its input message`);
    res = runner.run(m);
  } catch (e) {
    res = { id: m.id, out: new Uint8Array(0), read: 0, kept: 0, bytes: 0, walked: 0, walkedWasm: 0, dropped: { db: 0, type: 0, match: 0, expired: 0 }, crcLo: 0, crcHi: 0, error: serializeError(e) };
  }
  // The input buffer goes back too: the main thread reads the next chunks into it (no fresh
  // pages to fault in, no external memory for the garbage collector to track).
  res.buf = m.buf;
  parentPort!.postMessage(res, [res.out.buffer as ArrayBuffer, m.buf]);
});

// Loaded: spans can come (the main thread runs them itself until then).
parentPort!.postMessage('ready');
