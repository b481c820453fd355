import { spawn, type ChildProcess } from 'node:child_process';
import { tmpdir } from 'node:os';
import { track } from './children.js';
import { SERVER_MAIN } from './paths.js';

export interface ServerHandle {
  url: string;
  port: number;
  child: ChildProcess;
  /** The process's recent stdout and stderr. */
  output(): string;
  /** SIGTERM (graceful drain), then SIGKILL after `graceMs`; resolves when the process is gone. Safe twice. */
  stop(graceMs?: number): Promise<void>;
}

const OUTPUT_LIMIT = 200_000;

/**
 * Starts the real server (`node packages/server/dist/src/main.js`) and waits for its
 * "listening on" line. `PORT=0` unless `env.PORT` is given; STUN off (no internet here).
 * The line is logged at `info`, so `LOG_LEVEL=warn` would hide it.
 */
export async function startServer(env: Record<string, string> = {}): Promise<ServerHandle> {
  const child = spawn(process.execPath, [SERVER_MAIN], {
    cwd: tmpdir(), // no stray .env
    env: {
      PATH: process.env.PATH ?? '',
      PORT: '0',
      HOST: '127.0.0.1',
      LOG_LEVEL: 'info',
      STUN_URLS: '',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  track(child);
  let out = '';
  const append = (chunk: Buffer) => {
    out += chunk.toString();
    if (out.length > OUTPUT_LIMIT) out = out.slice(-OUTPUT_LIMIT / 2);
  };
  child.stdout?.on('data', append);
  child.stderr?.on('data', append);
  const exited = new Promise<void>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve();
    else child.once('exit', () => resolve());
  });
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`server did not start in 20 s:\n${out}`));
    }, 20_000);
    const check = () => {
      const match = /listening on (http:\/\/[^\s"]+)/.exec(out);
      if (match) {
        clearTimeout(timer);
        child.stdout?.off('data', check);
        resolve(match[1]);
      }
    };
    child.stdout?.on('data', check);
    void exited.then(() => {
      clearTimeout(timer);
      reject(new Error(`server exited (${child.exitCode ?? child.signalCode}) before listening:\n${out}`));
    });
  });
  let stopping: Promise<void> | undefined;
  return {
    url,
    port: Number(new URL(url).port),
    child,
    output: () => out,
    stop(graceMs = 5000) {
      stopping ??= (async () => {
        if (child.exitCode !== null || child.signalCode !== null) return;
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
        await exited;
        clearTimeout(timer);
      })();
      return stopping;
    },
  };
}
