/**
 * The pieces of cluster and TLS support that need no server: the hash tag chosen for each slot
 * (a rebuilt value's temporary key must share its key's slot), the --cluster / redis_mode check,
 * and the TLS option rules of the shared option module.
 */
import t from 'tap';
import { tlsOptionsFrom } from '../src/cli-options.js';
import { UsageError } from '../src/errors.js';
import { keySlot, SLOTS } from '../src/merge/slots.js';
import { checkClusterMode } from '../src/pipelines/replay.js';
import { slotOf, slotTag } from '../src/redis/cluster.js';
import { parseUri } from '../src/values.js';

t.test('slotTag: a hash tag for every slot, short, hashing to that slot', async (t) => {
  const bad: number[] = [];
  let longest = 0;
  for (let s = 0; s < SLOTS; s++) {
    const tag = slotTag(s);
    longest = Math.max(longest, tag.length);
    if (keySlot(Buffer.from(`rdbmerge:rebuild:{${tag}}:abc:1`)) !== s) bad.push(s);
  }
  t.same(bad, [], 'a temporary key tagged {slotTag(s)} is in slot s, for all 16384 slots');
  t.ok(longest <= 4, `tags are short (at most ${longest} characters)`);
  const key = Buffer.from('user:{42}:profile');
  t.equal(slotOf(`x{${slotTag(slotOf(key))}}y`), keySlot(key), 'a key with its own hash tag: the temporary key follows its slot');
  t.equal(slotOf('abc'), keySlot(Buffer.from('abc')), 'slotOf takes text or bytes');
});

t.test('checkClusterMode: --cluster must match the server\'s redis_mode', async (t) => {
  const uri = parseUri('redis://:secret@10.0.0.1:7000', '--target');
  t.doesNotThrow(() => checkClusterMode(uri, 'cluster', true), 'a cluster node with --cluster');
  t.doesNotThrow(() => checkClusterMode(uri, 'standalone', false), 'a standalone server without');
  const e1 = t.throws(() => checkClusterMode(uri, 'cluster', false)) as UsageError;
  t.ok(e1 instanceof UsageError && /add --cluster/.test(e1.message), 'a cluster node without --cluster: a usage error saying to add it');
  t.notMatch(e1.message, /secret/, 'the password is not in the message');
  const e2 = t.throws(() => checkClusterMode(uri, 'standalone', true)) as UsageError;
  t.ok(e2 instanceof UsageError && /not a cluster node/.test(e2.message), '--cluster against a standalone server: a usage error');
});

t.test('tlsOptionsFrom: the TLS options and their rules', async (t) => {
  const tls = parseUri('rediss://h:6380', '--target');
  const plain = parseUri('redis://h:6379', '--target');
  t.equal(tlsOptionsFrom({}, [tls]), undefined, 'none given: undefined');
  t.same(tlsOptionsFrom({ tlsCa: 'ca.pem' }, [tls]), { ca: 'ca.pem' }, '--tls-ca');
  t.same(tlsOptionsFrom({ tlsCert: 'c.pem', tlsKey: 'k.pem' }, [tls]), { cert: 'c.pem', key: 'k.pem' }, '--tls-cert with --tls-key');
  t.same(tlsOptionsFrom({ tlsInsecure: true }, [tls]), { insecure: true }, '--tls-insecure');
  t.throws(() => tlsOptionsFrom({ tlsCert: 'c.pem' }, [tls]), UsageError, '--tls-cert without --tls-key');
  t.throws(() => tlsOptionsFrom({ tlsKey: 'k.pem' }, [tls]), UsageError, '--tls-key without --tls-cert');
  t.throws(() => tlsOptionsFrom({ tlsCa: 'ca.pem', tlsInsecure: true }, [tls]), UsageError, '--tls-ca with --tls-insecure');
  t.throws(() => tlsOptionsFrom({ tlsCa: 'ca.pem' }, [plain]), UsageError, 'TLS options with only redis:// URIs');
  t.same(tlsOptionsFrom({ tlsCa: 'ca.pem' }, [plain, tls]), { ca: 'ca.pem' }, 'one rediss:// URI among several is enough');
  t.same(tlsOptionsFrom({ tlsCa: 'ca.pem' }), { ca: 'ca.pem' }, 'no URI known yet: accepted');
});
