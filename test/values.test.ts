/** The value grammar of CLI.md (src/values.ts) and the option conversion (src/cli-options.ts). */
import tap from 'tap';

const t = tap;
import { globalOptionsFrom, sharedOptionsFrom } from '../src/cli-options.js';
import { EXIT, exitCodeFor, NetworkError, UsageError } from '../src/errors.js';
import {
  parseDbList, parseDbMap, parseDuration, parseSize, parseSnapshotTime, parseTime, parseTypeList, parseUri, redactUri,
} from '../src/values.js';
import { CorruptError, TruncatedError, ChecksumError, UnsupportedError, LimitError } from '../native-free-parser/index.js';

function usage(t: Pick<typeof tap, 'throws' | 'match'>, fn: () => unknown, option: RegExp | string, what: string): void {
  t.throws(fn, UsageError, what);
  try {
    fn();
  } catch (e) {
    t.match((e as Error).message, option, `${what}: names the option`);
  }
}

t.test('DURATION', async (t) => {
  t.equal(parseDuration('3h'), 10_800_000);
  t.equal(parseDuration('-10m'), -600_000);
  t.equal(parseDuration('+10m'), 600_000);
  t.equal(parseDuration('1500ms'), 1500);
  t.equal(parseDuration('2s'), 2000);
  t.equal(parseDuration('1d'), 86_400_000);
  t.equal(parseDuration('0'), 0);
  for (const bad of ['', '10', '1.5h', 'h', '3 hours', '3H', '--3h', '1e3ms', '99999999999999999d']) {
    usage(t, () => parseDuration(bad, '--expire-offset'), /^--expire-offset: /, `bad DURATION ${JSON.stringify(bad)}`);
  }
});

t.test('TIME', async (t) => {
  const now = 1_795_628_673_000;
  t.equal(parseTime('now', '--now', now), now);
  t.equal(parseTime('NOW', '--now', now), now);
  t.equal(parseTime('1795628673000', '--now', now), 1_795_628_673_000);
  t.equal(parseTime('0', '--now', now), 0);
  t.equal(parseTime('2026-11-25T12:00:00Z', '--now', now), Date.UTC(2026, 10, 25, 12));
  t.equal(parseTime('2026-11-25T12:00Z', '--now', now), Date.UTC(2026, 10, 25, 12));
  t.equal(parseTime('2026-11-25T12:00:00.250Z', '--now', now), Date.UTC(2026, 10, 25, 12, 0, 0, 250));
  t.equal(parseTime('2026-11-25T14:00:00+02:00', '--now', now), Date.UTC(2026, 10, 25, 12));
  t.equal(parseTime('2026-11-25T07:30:00-0430', '--now', now), Date.UTC(2026, 10, 25, 12));
  t.equal(parseTime('2026-11-25', '--now', now), Date.UTC(2026, 10, 25));
  for (const bad of ['', 'yesterday', '2026-13-01', '2026-02-30', '2026-11-25T25:00:00Z', '12.5', '2026/11/25']) {
    usage(t, () => parseTime(bad, '--now', now), /^--now: /, `bad TIME ${JSON.stringify(bad)}`);
  }
  t.throws(() => parseTime('2026-11-25T12:00:00', '--now', now), { message: /time zone/, hint: /Z/ }, 'a zone is required');
});

t.test('SIZE', async (t) => {
  t.equal(parseSize('512mb'), 512 * 1024 * 1024);
  t.equal(parseSize('1kb'), 1024);
  t.equal(parseSize('1KB'), 1024);
  t.equal(parseSize('2gb'), 2 * 1024 ** 3);
  t.equal(parseSize('100'), 100);
  t.equal(parseSize('100b'), 100);
  for (const bad of ['', 'mb', '1.5mb', '-1', '1k', '1tb', '12qb']) {
    usage(t, () => parseSize(bad, '--max-value-size'), /^--max-value-size: /, `bad SIZE ${JSON.stringify(bad)}`);
  }
});

t.test('db and type lists, db map, snapshot time', async (t) => {
  t.same(parseDbList('0,1,7'), [0, 1, 7]);
  t.same(parseDbList(['7', '1,0', '1']), [0, 1, 7], 'repeatable, union, sorted');
  usage(t, () => parseDbList('0,,1'), /^--db: /, 'empty item');
  usage(t, () => parseDbList('-1'), /^--db: /, 'negative');
  usage(t, () => parseDbList('a'), /^--db: /, 'not a number');
  t.same(parseTypeList(['hash,string', 'STREAM']), ['string', 'hash', 'stream']);
  usage(t, () => parseTypeList('hll'), /^--type: /, 'unknown type');
  t.same([...parseDbMap('0:3,1:4')], [[0, 3], [1, 4]]);
  t.same([...parseDbMap(['0:3', '0:3'])], [[0, 3]], 'the same mapping twice is fine');
  usage(t, () => parseDbMap('0:3,0:4'), /^--db-map: /, 'a source mapped twice');
  usage(t, () => parseDbMap('0-3'), /^--db-map: /, 'bad pair');
  t.same(parseSnapshotTime('a=b.rdb=2026-01-01T00:00:00Z', '--snapshot-time', 0), { input: 'a=b.rdb', time: Date.UTC(2026, 0, 1) });
  t.same(parseSnapshotTime('x.rdb=now', '--snapshot-time', 42), { input: 'x.rdb', time: 42 });
  usage(t, () => parseSnapshotTime('x.rdb', '--snapshot-time', 0), /^--snapshot-time: /, 'no =');
  usage(t, () => parseSnapshotTime('x.rdb=', '--snapshot-time', 0), /^--snapshot-time: /, 'no TIME');
  usage(t, () => parseSnapshotTime('=now', '--snapshot-time', 0), /^--snapshot-time: /, 'no INPUT');
});

t.test('URI', async (t) => {
  t.same(parseUri('redis://localhost', '--to'), {
    tls: false, host: 'localhost', port: 6379, username: undefined, password: undefined, passwordFrom: undefined,
  });
  t.same(parseUri('rediss://ada:s%40cret@cache.example.com:6380/', '--to'), {
    tls: true, host: 'cache.example.com', port: 6380, username: 'ada', password: 's@cret', passwordFrom: 'uri',
  });
  t.same(parseUri('redis://:pw@[::1]:7000', '--to'), {
    tls: false, host: '::1', port: 7000, username: undefined, password: 'pw', passwordFrom: 'uri',
  });
  const env = parseUri('redis://ada@host', '--to', { REDISCLI_AUTH: 'fromenv' });
  t.equal(env.password, 'fromenv');
  t.equal(env.passwordFrom, 'env');
  t.equal(parseUri('redis://:inuri@host', '--to', { REDISCLI_AUTH: 'fromenv' }).password, 'inuri', 'the URI wins');
  for (const bad of ['localhost:6379', 'http://host', 'redis://', 'redis://host:99999', 'redis://host?db=1', 'redis://host:port']) {
    usage(t, () => parseUri(bad, '--to'), /^--to: /, `bad URI ${bad}`);
  }
  t.throws(() => parseUri('redis://u:secret@host:6379/2', '--to'), { message: /database path/, hint: /--db-map/ });
  try {
    parseUri('redis://u:secret@host:6379/2', '--to');
  } catch (e) {
    t.notMatch((e as Error).message, /secret/, 'the error never shows the password');
  }
  try {
    parseUri('redis://u:secret@/x', '--to');
  } catch (e) {
    t.notMatch((e as Error).message, /secret/, 'not even for an unparseable URI');
  }
});

t.test('redactUri never shows a password', async (t) => {
  t.equal(redactUri(parseUri('redis://ada:secret@host:1234', '--to')), 'redis://ada:***@host:1234');
  t.equal(redactUri(parseUri('redis://host', '--to', { REDISCLI_AUTH: 'secret' })), 'redis://:***@host:6379');
  t.equal(redactUri(parseUri('rediss://[::1]', '--to')), 'rediss://[::1]:6379');
  t.equal(redactUri('redis://ada:secret@host:1234'), 'redis://ada:***@host:1234');
  t.equal(redactUri('redis://ada:p@ss/w@rd@host'), 'redis://ada:***@host');
  t.equal(redactUri('redis://host:6379'), 'redis://host:6379');
  t.equal(redactUri('ada:secret@host'), 'ada:***@host');
  for (const s of ['redis://a:secret@h', 'rediss://:secret@h:1/0', 'redis://a:se:cret@h']) t.notMatch(redactUri(s), /secret|cret/);
});

t.test('options from commander values', async (t) => {
  const g = globalOptionsFrom({ json: true, maxValueSize: '1kb' });
  t.same(g, { json: true, quiet: false, debug: false, maxValueSize: 1024 });
  t.equal(globalOptionsFrom({}).maxValueSize, 512 * 1024 * 1024, 'default 512mb');
  const s = sharedOptionsFrom(
    { db: ['0,1'], type: ['hash'], match: 'a*', dbMap: ['1:2'], now: '2026-01-01', expireOffset: '-1h', snapshotTime: ['x=now'], dropExpired: true },
    5,
  );
  t.same(s.db, [0, 1]);
  t.same(s.type, ['hash']);
  t.equal(s.match, 'a*');
  t.same([...s.dbMap!], [[1, 2]]);
  t.equal(s.now, Date.UTC(2026, 0, 1));
  t.equal(s.expireOffset, -3_600_000);
  t.same(s.snapshotTimes, [{ input: 'x', time: Date.UTC(2026, 0, 1) }], '`now` in a TIME is the --now instant');
  t.equal(s.dropExpired, true);
  t.equal(s.rebaseExpiry, false);
  t.equal(sharedOptionsFrom({}, 77).now, 77, '--now defaults to the start');
  t.throws(() => sharedOptionsFrom({ dbMap: ['1:2'], intoDb: '3' }, 0), UsageError);
});

t.test('exit codes per error', async (t) => {
  const info = { offset: 1, expected: 'x' };
  t.equal(exitCodeFor(new CorruptError(info)), EXIT.corrupt);
  t.equal(exitCodeFor(new TruncatedError(info)), EXIT.truncated);
  t.equal(exitCodeFor(new ChecksumError(info)), EXIT.checksum);
  t.equal(exitCodeFor(new UnsupportedError(info)), EXIT.unsupported);
  t.equal(exitCodeFor(new LimitError(info)), EXIT.limit);
  t.equal(exitCodeFor(new UsageError('u')), 2);
  t.equal(exitCodeFor(new NetworkError('n')), 8);
  t.equal(exitCodeFor(new Error('bug')), 1);
  t.equal(exitCodeFor('thrown string'), 1);
});
