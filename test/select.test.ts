/** The shared entry transforms (src/pipelines/select.ts): order, counts, snapshot-time sources. */
import t from 'tap';
import { defaultSharedOptions, type SharedOptions } from '../src/cli-options.js';
import { UsageError } from '../src/errors.js';
import { createSelector, snapshotTimeOption, unmatchedSnapshotTimes } from '../src/pipelines/select.js';
import type { KeyRecord } from '../native-free-parser/index.js';

const te = new TextEncoder();

function rec(db: number, key: string, type: number, expireAt = -1): KeyRecord {
  return {
    kind: 'key', db, key: te.encode(key), type, payload: new Uint8Array(3), expireAt,
    idle: -1, freq: -1, offset: 0, keyOffset: 0, valueOffset: 0, elements: -1,
  };
}

function opts(over: Partial<SharedOptions>): SharedOptions {
  return { ...defaultSharedOptions(1_000_000), ...over };
}

const STRING = 0;
const HASH_LISTPACK = 16;
const ZSET_2 = 5;

t.test('no options: the same records come back', async (t) => {
  const sel = createSelector(defaultSharedOptions(), { name: 'a.rdb', index: 0 });
  const r = rec(3, 'k', STRING, 123);
  t.equal(sel(r), r, 'unchanged record is returned as is');
  t.equal(sel.kept, 1);
  t.same(sel.dropped, { db: 0, type: 0, match: 0, expired: 0 });
  t.equal(sel.expiryShift(), 0);
});

t.test('filters in order, counted per reason', async (t) => {
  const sel = createSelector(opts({ db: [0, 1], type: ['hash', 'zset'], match: 'user:*' }), { name: 'a', index: 0 });
  t.equal(sel(rec(2, 'user:1', HASH_LISTPACK)), null, 'db first');
  t.equal(sel(rec(0, 'user:1', STRING)), null, 'then type');
  t.equal(sel(rec(0, 'order:1', HASH_LISTPACK)), null, 'then match');
  t.ok(sel(rec(1, 'user:2', ZSET_2)), 'zset encodings are zsets');
  t.ok(sel(rec(0, 'user:1', HASH_LISTPACK)));
  t.same(sel.dropped, { db: 1, type: 1, match: 1, expired: 0 });
  t.equal(sel.kept, 2);
});

t.test('db map and into-db happen after the --db filter', async (t) => {
  const map = createSelector(opts({ db: [1, 2], dbMap: new Map([[1, 5]]) }), { name: 'a', index: 0 });
  const r = rec(1, 'k', STRING);
  const out = map(r)!;
  t.equal(out.db, 5);
  t.equal(r.db, 1, 'the original keeps its source db');
  t.equal(map(rec(2, 'k', STRING))!.db, 2, 'unmapped databases stay');
  t.equal(map(rec(5, 'k', STRING)), null, 'the filter sees source databases');
  const into = createSelector(opts({ intoDb: 9 }), { name: 'a', index: 0 });
  t.equal(into(rec(3, 'k', STRING))!.db, 9);
});

t.test('expire offset and drop-expired', async (t) => {
  const now = 1_000_000;
  const sel = createSelector(opts({ expireOffset: 10_000, dropExpired: true, now }), { name: 'a', index: 0 });
  t.equal(sel(rec(0, 'a', STRING, now - 5_000))!.expireAt, now + 5_000, 'shifted, then kept');
  t.equal(sel(rec(0, 'b', STRING, now - 10_000)), null, 'shifted expiry exactly at now: dropped');
  t.equal(sel(rec(0, 'c', STRING, -1))!.expireAt, -1, 'no expiry stays none');
  t.equal(sel.dropped.expired, 1);
  t.equal(sel.expiryShift(), 10_000);
  const neg = createSelector(opts({ expireOffset: -5_000_000 }), { name: 'a', index: 0 });
  t.equal(neg(rec(0, 'a', STRING, 1_000))!.expireAt, 0, 'a shift never turns an expiry into "none"');
});

t.test('rebase: snapshot time from option, ctime, fallbacks', async (t) => {
  const now = 10_000_000;
  const o = opts({ rebaseExpiry: true, now });
  const fromCtime = createSelector(o, { name: 'a', index: 0, snapshotTime: 1, snapshotTimeSource: 'mtime' });
  fromCtime.aux(te.encode('redis-ver'), te.encode('7.4.1'));
  fromCtime.aux(te.encode('ctime'), te.encode('9000'));
  t.same(fromCtime.snapshotTime(), { time: 9_000_000, source: 'ctime' }, 'ctime beats meta.json and mtime');
  t.equal(fromCtime(rec(0, 'k', STRING, 9_500_000))!.expireAt, 10_500_000);
  t.equal(fromCtime.expiryShift(), 1_000_000);
  fromCtime.aux(te.encode('ctime'), te.encode('1'));
  t.equal(fromCtime.expiryShift(), 1_000_000, 'fixed at the first key');

  const fromOption = createSelector(o, { name: 'a', index: 0, snapshotTime: 8_000_000, snapshotTimeSource: 'option' });
  fromOption.aux(te.encode('ctime'), te.encode('9000'));
  t.same(fromOption.snapshotTime(), { time: 8_000_000, source: 'option' }, '--snapshot-time beats ctime');
  t.equal(fromOption.expiryShift(), 2_000_000);

  const fallback = createSelector(o, { name: 'a', index: 0, snapshotTime: 7_000_000, snapshotTimeSource: 'meta.json' });
  t.equal(fallback(rec(0, 'k', STRING, 7_000_001))!.expireAt, 10_000_001);
  t.same(fallback.snapshotTime(), { time: 7_000_000, source: 'meta.json' });

  const none = createSelector(o, { name: '-', index: 0 });
  t.ok(none(rec(0, 'k', STRING)), 'keys without expiry need no snapshot time');
  t.throws(() => none(rec(0, 'k', STRING, 5)), UsageError, 'an expiring key without a snapshot time is a usage error');
});

t.test('--snapshot-time matching', async (t) => {
  const o = opts({ snapshotTimes: [{ input: './dir/a.rdb', time: 5 }, { input: '-', time: 6 }] });
  t.equal(snapshotTimeOption(o, 'dir/a.rdb'), 5, 'by resolved path');
  t.equal(snapshotTimeOption(o, '-'), 6);
  t.equal(snapshotTimeOption(o, 'b.rdb'), undefined);
  t.same(unmatchedSnapshotTimes(o, ['dir/a.rdb']), ['-']);
});
