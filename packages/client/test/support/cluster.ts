// Several real server processes on the test Redis behind a real haproxy with deploy/haproxy.cfg, for
// browser tests. The haproxy and Redis helpers are the server tests' own (packages/server/test/
// support), loaded from their build: this package is ESM and its tests compile on their own, so
// they are required at run time (the server package builds first) and only their types imported.
import { randomBytes } from 'node:crypto';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import type * as LoadBalancerModule from '../../../server/dist/test/support/load-balancer.js';
import type * as RedisServerModule from '../../../server/dist/test/support/redis-server.js';
import { REPO_ROOT } from './paths.js';
import { startServer, type ServerHandle } from './server.js';

export type LoadBalancer = LoadBalancerModule.LoadBalancer;

const SERVER_TEST_SUPPORT = join(REPO_ROOT, 'packages', 'server', 'dist', 'test', 'support');
const require = createRequire(import.meta.url);

function loadBalancerModule(): typeof LoadBalancerModule {
  return require(join(SERVER_TEST_SUPPORT, 'load-balancer.js')) as typeof LoadBalancerModule;
}

/** A redis-server of a test's own, to stop and start (the server tests' helper). */
export function startOwnRedis(persistent: boolean): Promise<RedisServerModule.OwnRedis> {
  const { startOwnRedis: start } = require(
    join(SERVER_TEST_SUPPORT, 'redis-server.js'),
  ) as typeof RedisServerModule;
  return start(persistent);
}

/**
 * The part of the server tests' harness used here. Typed by hand: its declarations would bring the
 * whole server's into this compilation, and loading it loads the server, so only at clean-up.
 */
function harnessModule(): { deleteRedisKeys(prefix: string): Promise<number> } {
  return require(join(SERVER_TEST_SUPPORT, 'harness.js')) as {
    deleteRedisKeys(prefix: string): Promise<number>;
  };
}

/** Server processes sharing one fresh Redis key prefix, behind haproxy. */
export interface ClusterStack {
  /** REDIS_KEY_PREFIX of this stack alone. */
  prefix: string;
  instances: ServerHandle[];
  lb: LoadBalancer;
  /** Stops haproxy and every instance still running, deletes the prefix's keys. Safe to call twice. */
  close(): Promise<void>;
}

/**
 * Starts `count` server processes (demo page on, TRUST_PROXY=1 as behind one proxy) on the Redis at
 * `redisUrl` (default REDIS_TEST_URL) under a fresh key prefix, and haproxy in front of them with
 * every instance in rotation. Pages open `lb.url`: the demo and its signaling go through haproxy.
 */
export async function startClusterStack(
  count: number,
  env: Record<string, string> = {},
  redisUrl = process.env.REDIS_TEST_URL ?? 'redis://127.0.0.1:6379',
): Promise<ClusterStack> {
  const { startLoadBalancer } = loadBalancerModule();
  const prefix = `sbtest:${randomBytes(6).toString('hex')}:`;
  const instances: ServerHandle[] = [];
  let lb: LoadBalancer | undefined;
  let closing: Promise<void> | undefined;
  const close = () =>
    (closing ??= (async () => {
      await lb?.close();
      await Promise.all(instances.map((i) => i.stop(1000)));
      await harnessModule().deleteRedisKeys(prefix);
    })());
  try {
    const started = await Promise.allSettled(
      Array.from({ length: count }, () =>
        startServer({
          REDIS_URL: redisUrl,
          REDIS_KEY_PREFIX: prefix,
          // As docs/operations.md asks behind one proxy (deploy/haproxy.cfg adds X-Forwarded-For).
          TRUST_PROXY: '1',
          ...env,
        }),
      ),
    );
    for (const s of started) if (s.status === 'fulfilled') instances.push(s.value);
    const failed = started.find((s) => s.status === 'rejected');
    if (failed) throw failed.reason;
    lb = await startLoadBalancer(instances.map((i) => i.url));
    for (const instance of instances) await lb.waitUntilUp(instance.url);
    return { prefix, instances, lb, close };
  } catch (error) {
    await close();
    throw error;
  }
}

/**
 * A `diagnose` for waits on a cluster stack: the pages' recent logs (`peers()` read when it runs,
 * so pages opened later count), each instance's last output and haproxy's.
 */
export function stackDiagnose(
  stack: ClusterStack,
  peers: () => ({ recentLogs(): string } | undefined)[],
): () => string {
  return () =>
    [
      ...peers().map((p) => p?.recentLogs()),
      ...stack.instances.map((i, n) => `--- sb${n + 1}\n${i.output().slice(-1500)}`),
      `--- haproxy\n${stack.lb.output().slice(-1500)}`,
    ].join('\n');
}

/** `switchboard_connected_sockets` of each instance (asked directly, not through haproxy); -1 if it does not answer. */
export async function socketsPerInstance(instances: ServerHandle[]): Promise<number[]> {
  return Promise.all(
    instances.map(async (instance) => {
      try {
        const text = await (await fetch(`${instance.url}/metrics`)).text();
        const line = text.split('\n').find((l) => l.startsWith('switchboard_connected_sockets '));
        return line ? Number(line.slice(line.lastIndexOf(' ') + 1)) : 0;
      } catch {
        return -1;
      }
    }),
  );
}
