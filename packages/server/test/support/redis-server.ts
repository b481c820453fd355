import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';

/** A redis-server of the test's own on a free port, which the test may stop and start again. */
export interface OwnRedis {
  url: string;
  /** Kills the server (SIGKILL: no save, no goodbye); resolves once it is gone. */
  kill(): Promise<void>;
  /** Starts it again on the same port; with `persistent`, on what its append-only file kept. */
  start(): Promise<void>;
  /** Kills it and removes its directory. Safe to call twice. */
  close(): Promise<void>;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
    });
  });
}

/**
 * Starts `redis-server` (installed by scripts/setup.sh) on 127.0.0.1 and a free port. With
 * `persistent`, every write goes to an append-only file first (`appendfsync always`), so a killed
 * server comes back with its data; without, it comes back empty.
 */
export async function startOwnRedis(persistent: boolean): Promise<OwnRedis> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'sb-redis-'));
  let child: ChildProcess | undefined;
  const args = ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', ''];
  if (persistent) args.push('--appendonly', 'yes', '--appendfsync', 'always');
  else args.push('--appendonly', 'no');
  const url = `redis://127.0.0.1:${port}`;
  const start = async (): Promise<void> => {
    child = spawn('redis-server', args, { stdio: 'ignore' });
    // Until it listens and has loaded its append-only file (LOADING errors meanwhile).
    const deadline = Date.now() + 10_000;
    for (;;) {
      const probe = new Redis(url, { lazyConnect: true, retryStrategy: () => null, maxRetriesPerRequest: 0 });
      probe.on('error', () => undefined);
      try {
        await probe.connect();
        if ((await probe.ping()) === 'PONG') return;
      } catch {
        if (Date.now() > deadline) throw new Error(`redis-server on ${url} did not start`);
        await new Promise((r) => setTimeout(r, 50));
      } finally {
        probe.disconnect();
      }
    }
  };
  const kill = async (): Promise<void> => {
    const c = child;
    child = undefined;
    if (!c || c.exitCode !== null) return;
    const gone = new Promise<void>((resolve) => c.once('exit', () => resolve()));
    c.kill('SIGKILL');
    await gone;
  };
  let closed = false;
  await start();
  return {
    url,
    kill,
    start,
    async close() {
      if (closed) return;
      closed = true;
      await kill();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
