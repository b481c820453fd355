import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createSocket } from 'node:dgram';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { track } from './children.js';
import { freeLowPortBlock } from './ports.js';
import { sleep } from './wait.js';

export const TURNSERVER =
  ['/usr/bin/turnserver', '/usr/sbin/turnserver'].find((p) => existsSync(p)) ?? 'turnserver';

export interface CoturnHandle {
  port: number;
  secret: string;
  /** `turn:127.0.0.1:PORT?transport=udp` */
  url: string;
  /** Kills the process (SIGKILL by default, like a crash) and waits for it to exit. Safe twice. */
  stop(signal?: NodeJS.Signals): Promise<void>;
  /** Starts it again with the same ports and secret, and waits until it answers STUN. */
  restart(): Promise<void>;
  /** Stops it and removes its temporary files. */
  dispose(): Promise<void>;
  log(): string;
}

/**
 * Starts a local coturn with TURN REST credentials (`use-auth-secret`) on loopback, on ports
 * below 32768, and waits until it answers a STUN Binding request.
 */
export async function startCoturn(secret = randomBytes(12).toString('hex')): Promise<CoturnHandle> {
  // One listening port plus a relay range of 100 ports right after it.
  const base = await freeLowPortBlock(101);
  const port = base;
  const dir = mkdtempSync(join(tmpdir(), 'sb-coturn-'));
  let child: ChildProcess | null = null;
  let exited: Promise<void> = Promise.resolve();

  const launch = async () => {
    const args = [
      '-n',
      '--listening-ip=127.0.0.1',
      '--relay-ip=127.0.0.1',
      `--listening-port=${port}`,
      `--min-port=${base + 1}`,
      `--max-port=${base + 100}`,
      '--use-auth-secret',
      `--static-auth-secret=${secret}`,
      '--realm=switchboard.test',
      '--fingerprint',
      '--allow-loopback-peers',
      '--no-tls',
      '--no-dtls',
      '--no-cli',
      '--no-tcp-relay',
      `--log-file=${join(dir, 'turn.log')}`,
      '--simple-log',
      `--pidfile=${join(dir, 'turn.pid')}`,
      `--userdb=${join(dir, 'turn.db')}`,
    ];
    const proc = spawn(TURNSERVER, args, { stdio: 'ignore' });
    track(proc);
    child = proc;
    exited = new Promise((resolve) => proc.once('exit', () => resolve()));
    const ok = await Promise.race([stunReachable(port, 10_000), exited.then(() => false)]);
    if (!ok) {
      proc.kill('SIGKILL');
      throw new Error(`turnserver did not answer STUN on ${port}:\n${readLog()}`);
    }
  };
  const readLog = () => {
    try {
      return readFileSync(join(dir, 'turn.log'), 'utf8').slice(-5000);
    } catch {
      return '(no log)';
    }
  };
  const stop = async (signal: NodeJS.Signals = 'SIGKILL') => {
    const proc = child;
    if (!proc || proc.exitCode !== null || proc.signalCode !== null) return;
    proc.kill(signal);
    const timer = setTimeout(() => proc.kill('SIGKILL'), 3000);
    await exited;
    clearTimeout(timer);
  };

  await launch();
  return {
    port,
    secret,
    url: `turn:127.0.0.1:${port}?transport=udp`,
    stop,
    restart: async () => {
      await stop();
      await launch();
    },
    dispose: async () => {
      await stop('SIGTERM');
      rmSync(dir, { recursive: true, force: true });
    },
    log: readLog,
  };
}

/** Sends STUN Binding requests (RFC 5389) until one is answered, or `timeoutMs` passes. */
export async function stunReachable(port: number, timeoutMs: number): Promise<boolean> {
  const socket = createSocket('udp4');
  const transactionId = randomBytes(12);
  const request = Buffer.alloc(20);
  request.writeUInt16BE(0x0001, 0); // Binding request
  request.writeUInt16BE(0, 2); // no attributes
  request.writeUInt32BE(0x2112a442, 4); // magic cookie
  transactionId.copy(request, 8);
  let answered = false;
  socket.on('message', (msg) => {
    if (msg.length >= 20 && msg.readUInt16BE(0) === 0x0101 && msg.subarray(8, 20).equals(transactionId))
      answered = true;
  });
  socket.on('error', () => undefined);
  const deadline = Date.now() + timeoutMs;
  try {
    while (!answered && Date.now() < deadline) {
      socket.send(request, port, '127.0.0.1');
      await sleep(100);
    }
  } finally {
    socket.close();
  }
  return answered;
}
