import { Redis } from 'ioredis';
import { dumpOverResp } from '../src/redis/resp-dump.js';
import { startRedis } from './helpers/redis-server.js';
const h = await startRedis({ args: ['--enable-debug-command', 'yes'] });
try {
  const c = new Redis({ host: h.host, port: h.port });
  await c.call('DEBUG', 'POPULATE', 250000, 'k', 20);
  let p = c.pipeline();
  for (let i = 0; i < 50000; i++) {
    const t = i % 4;
    if (t === 0) p.hset(`h:${i}`, 'a', '1', 'b', String(i));
    else if (t === 1) p.sadd(`s:${i}`, 'x', String(i));
    else if (t === 2) p.zadd(`z:${i}`, i, 'm', 1.5, 'n');
    else p.rpush(`l:${i}`, 'a', 'b', 'c');
    if (i % 10 === 0) p.pexpireat(`h:${i}`, 4102444800000);
    if (p.length >= 5000) { await p.exec(); p = c.pipeline(); }
  }
  await p.exec();
  for (let j = 0; j < 20; j++) {
    await c.sadd('bigset', ...Array.from({ length: 10000 }, (_, i) => `m${j}-${i}`));
    await c.rpush('biglist', ...Array.from({ length: 10000 }, (_, i) => `e${j}-${i}`));
  }
  console.log('dbsize', await c.dbsize());
  c.disconnect();
  const m0 = process.memoryUsage().rss;
  let t0 = Date.now();
  const lines = await dumpOverResp({ host: h.host, port: h.port });
  console.log('keys', lines.length, 'ms', Date.now() - t0, 'rssMB', ((process.memoryUsage().rss - m0) / 1e6).toFixed(0));
} finally { await h.stop(); }
