/**
 * Golden files: every fixture written by a real Redis (2.6 .. 8.0) reads back, through the
 * streaming reader and the value decoder, exactly as the server that loaded it reported
 * (JSONL.md's comparison rule), and fed in chunks of 1, 7, 321 and 65,536 bytes it yields the
 * same records.
 */
import t from 'tap';
import { compareJsonl } from '../src/format/compare.js';
import { Crc64, RdbError, readRdb } from '../native-free-parser/index.js';
import type { RdbInput } from '../native-free-parser/index.js';
import { fixtureIndex, fixtureManifest, fixtureMeta, fixturePath } from './helpers/fixtures.js';
import { chunked, readBytes, readToJsonl } from './helpers/read.js';

const fixtures = fixtureIndex();

t.test('every fixture with a manifest reads back equal to it', async (t) => {
  t.ok(fixtures.length >= 40, 'the bundled fixture set is complete');
  for (const f of fixtures) {
    if (f.loadError !== null) continue;
    const bytes = readBytes(fixturePath(f.rdb));
    const { lines, records } = await readToJsonl(bytes, { source: f.rdb });
    const diffs = compareJsonl(fixtureManifest(f), lines);
    t.same(diffs.slice(0, 5), [], `${f.rdb}: equal to its manifest (${lines.length} keys)`);
    const meta = fixtureMeta(f);
    t.equal(lines.length, meta.totalKeys, `${f.rdb}: totalKeys`);
    const header = records[0];
    t.equal(header?.kind === 'header' ? header.version : -1, f.rdbVersion, `${f.rdb}: RDB version`);
    const eof = records[records.length - 1];
    t.equal(eof?.kind, 'eof', `${f.rdb}: ends with EOF`);
    if (eof?.kind === 'eof') {
      const expected = f.rdbVersion < 5 ? 'absent' : f.variant === 'nochecksum' ? 'disabled' : 'ok';
      if (f.variant === 'nochecksum' || (f.writtenBy ?? '').startsWith('redis ')) t.equal(eof.checksum, expected, `${f.rdb}: checksum ${expected}`);
      t.equal(eof.size, bytes.length, `${f.rdb}: size`);
    }
  }
});

t.test('a fixture whose load failed in Redis is rejected as corrupt', async (t) => {
  for (const f of fixtures) {
    if (f.loadError === null) continue;
    const bytes = readBytes(fixturePath(f.rdb));
    const err = await readToJsonl(bytes, { source: f.rdb }).then(() => null, (e: unknown) => e);
    t.ok(err instanceof RdbError, `${f.rdb}: an RdbError`);
    if (err instanceof RdbError) {
      t.equal(err.kind, 'corrupt', `${f.rdb}: corrupt`);
      t.match(err.message, new RegExp(`^corrupt: ${f.rdb}: offset \\d+: `), 'names file and offset');
    }
  }
});

t.test('chunk boundaries do not change what is read', async (t) => {
  for (const f of fixtures) {
    if (f.loadError !== null) continue;
    const bytes = readBytes(fixturePath(f.rdb));
    const ref = await recordDigest(bytes);
    // Byte-by-byte feeding costs ~2 us a byte in async iteration alone: every fixture but the
    // 2 MB ones gets it, which still puts each straddle path through thousands of re-parses.
    const sizes = bytes.length > 300_000 ? [7, 321, 65536] : [1, 7, 321, 65536];
    for (const size of sizes) {
      t.equal(await recordDigest(chunked(bytes, size)), ref, `${f.rdb} in chunks of ${size}`);
    }
  }
  const big = fixtures.find((f) => f.loadError === null && f.sizeBytes > 2_000_000);
  if (big !== undefined) {
    const bytes = readBytes(fixturePath(big.rdb));
    t.equal(await recordDigest(chunked(bytes, 1)), await recordDigest(bytes), `${big.rdb} in chunks of 1`);
  }
});

/** Every record's kind, position and bytes folded into one string (CRC-64 of the byte parts). */
async function recordDigest(input: RdbInput): Promise<string> {
  const crc = new Crc64();
  const parts: string[] = [];
  for await (const batch of readRdb(input)) {
    for (const r of batch) {
      parts.push(`${r.kind}@${r.offset}`);
      if (r.kind === 'key') {
        crc.update(r.key);
        crc.update(r.payload);
        parts.push(`${r.db}/${r.type}/${r.expireAt}/${r.idle}/${r.freq}`);
      }
    }
  }
  return `${parts.length}:${crc.toBigInt().toString(16)}:${parts.join(',')}`;
}
