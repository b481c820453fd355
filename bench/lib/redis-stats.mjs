/**
 * The Redis side of the cluster scenario: a fresh key prefix per run, its keys' memory by kind,
 * the server's CPU and memory from INFO, and deleting the prefix's keys afterwards.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import { Redis } from 'ioredis';
import { cpuMicros } from './server-proc.mjs';

/** A prefix no other run uses: `sbbench:<8 hex>:`. */
export function freshPrefix() {
  return `sbbench:${randomBytes(4).toString('hex')}:`;
}

/** Connects to `url` (rejects within `timeoutMs` when nobody answers). */
export async function openRedis(url, timeoutMs = 3000) {
  const redis = new Redis(url, { lazyConnect: true, connectTimeout: timeoutMs, maxRetriesPerRequest: 1 });
  redis.on('error', () => undefined);
  await redis.connect();
  const info = await redis.info('server');
  const version = /^redis_version:(\S+)/m.exec(info)?.[1];
  const pid = Number(/^process_id:(\d+)/m.exec(info)?.[1]);
  // The server's CPU can be read from /proc when it runs on this machine: synchronously, so a
  // phase reads it at the same instants as the instances' CPU.
  let comm = '';
  try {
    comm = fs.readFileSync(`/proc/${pid}/comm`, 'utf8');
  } catch {
    /* not on this machine, or not visible */
  }
  const local =
    /^rediss?:\/\/(?:[^@/]*@)?(127\.0\.0\.1|localhost|\[::1\])[:/]?/i.test(url) &&
    comm.startsWith('redis') &&
    cpuMicros(pid) >= 0;
  return { redis, version, pid, local };
}

function infoField(text, key) {
  const m = new RegExp(`^${key}:([0-9.]+)`, 'm').exec(text);
  return m ? Number(m[1]) : NaN;
}

/** Redis's CPU time (user + system), µs, from INFO. */
export async function redisCpuMicros(redis) {
  const info = await redis.info('cpu');
  return (infoField(info, 'used_cpu_user') + infoField(info, 'used_cpu_sys')) * 1e6;
}

/** `used_memory` and a few related INFO fields (bytes), and the connected clients. */
export async function redisMemory(redis) {
  const [mem, clients] = await Promise.all([redis.info('memory'), redis.info('clients')]);
  return {
    usedMemory: infoField(mem, 'used_memory'),
    usedMemoryDataset: infoField(mem, 'used_memory_dataset'),
    usedMemoryOverhead: infoField(mem, 'used_memory_overhead'),
    connectedClients: infoField(clients, 'connected_clients'),
    pubsubClients: infoField(clients, 'pubsub_clients'),
  };
}

/** Every key under `prefix` (SCAN). */
export async function prefixKeys(redis, prefix) {
  const keys = [];
  let cursor = '0';
  do {
    const [next, batch] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
    keys.push(...batch);
    cursor = next;
  } while (cursor !== '0');
  return keys;
}

/**
 * The kind of a key: its name after the prefix up to the first `:` or `{` (e.g. `dlog`, `session`),
 * so that per-peer keys add up by kind.
 */
export function keyKind(key, prefix) {
  const rest = key.slice(prefix.length);
  const m = /^[^:{]*/.exec(rest);
  return m[0] || rest.slice(0, 12);
}

/** `MEMORY USAGE` (all samples) of every key under `prefix`: total, count, and by kind. */
export async function prefixMemory(redis, prefix) {
  const keys = await prefixKeys(redis, prefix);
  const byKind = {};
  let bytes = 0;
  for (let i = 0; i < keys.length; i += 500) {
    const batch = keys.slice(i, i + 500);
    const pipe = redis.pipeline();
    for (const k of batch) pipe.memory('USAGE', k, 'SAMPLES', '0');
    const res = await pipe.exec();
    batch.forEach((k, j) => {
      const b = Number(res[j][1]) || 0;
      const kind = keyKind(k, prefix);
      const e = (byKind[kind] ||= { keys: 0, bytes: 0 });
      e.keys++;
      e.bytes += b;
      bytes += b;
    });
  }
  return { keys: keys.length, bytes, byKind };
}

/** Deletes every key under `prefix`; answers how many there were. */
export async function deletePrefix(redis, prefix) {
  const keys = await prefixKeys(redis, prefix);
  for (let i = 0; i < keys.length; i += 500) await redis.unlink(...keys.slice(i, i + 500));
  return keys.length;
}
