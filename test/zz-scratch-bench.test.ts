import { execFileSync } from 'node:child_process';
import { startRedis } from './helpers/redis-server.js';
import { Redis } from 'ioredis';
const h = await startRedis({ args: ['--enable-debug-command', 'yes'] });
try {
  const c = new Redis({ host: h.host, port: h.port });
  await c.call('DEBUG', 'POPULATE', 300000, 'key', 20);
  c.disconnect();
  console.log(execFileSync('node', ['--cpu-prof', '--cpu-prof-dir=/tmp/rdscratch/prof', '/tmp/rdscratch/io.mjs', String(h.port)], { encoding: 'utf8' }));
} finally { await h.stop(); }
