import net from 'node:net';
import tls from 'node:tls';
import type { RedisOptions } from 'ioredis';

/** Where and how {@link ScriptConnection} connects: the fields of an ioredis client's options it uses. */
export type ScriptConnectionTarget = Pick<
  RedisOptions,
  'host' | 'port' | 'path' | 'username' | 'password' | 'db' | 'tls'
>;

export interface ScriptConnectionOptions {
  /** Longest wait for one script's reply, ms: past it the connection is dropped and its scripts fail. Default 2000. */
  commandTimeoutMs?: number;
  /** Longest wait to connect and authenticate, ms. Default 5000. */
  connectTimeoutMs?: number;
  /** Name shown by `CLIENT LIST`. Default `switchboard-scripts`. */
  name?: string;
}

interface Pending {
  resolve(reply: string | number | null): void;
  reject(err: Error): void;
  /** When it was written, ms (the timeout's start). */
  at: number;
  /**
   * A script's keys and arguments as RESP (the number of keys first) and how many there are: to
   * send it again as EVAL when Redis answers NOSCRIPT. Absent for the handshake's commands.
   */
  script?: { argv: string; count: number };
}

const CRLF = 0x0d;

/**
 * Why a script sent over a {@link ScriptConnection} got no answer: the connection was lost, timed
 * out or closed (Redis may have run it). The gateway answers such a request `UNAVAILABLE`.
 */
export class StoreConnectionError extends Error {
  override readonly name = 'StoreConnectionError';
}

/**
 * A second connection to Redis that does one thing: run one Lua script with `EVALSHA`, pipelined —
 * the state store's decision on a relayed signal, the cluster's hot path. Why not ioredis, which
 * every other command goes through: per script, ioredis's command objects, auto-pipelining,
 * argument conversion and reply decoding cost the sending instance about 85k of its 310k
 * instructions per cross-instance candidate, and measured at saturation the instances' CPU per
 * signal fell from 214-268 to 153-210 µs with this connection (docs/performance.md, "A lean
 * connection for the relay's script"). It writes each tick's scripts in one write and reads their
 * replies (bulk strings, integers, errors) in order; nothing else.
 *
 * It is an optimisation the store may use when {@link ready} and fall back from: it never queues
 * while disconnected ({@link run} rejects), reconnects by itself after a loss (100 ms doubling to
 * 2 s), and a script whose reply is late by `commandTimeoutMs` drops the connection, failing every
 * script still waiting (Redis may have run them, as with a timed-out command of ioredis).
 */
export class ScriptConnection {
  private socket: net.Socket | undefined;
  private isReady = false;
  private closed = false;
  private readonly pending: Pending[] = [];
  private out = '';
  private flushing = false;
  private input: Buffer = Buffer.alloc(0);
  private backoffMs = 100;
  private reconnectTimer: NodeJS.Timeout | undefined;
  private readonly watchdog: NodeJS.Timeout;
  private readonly commandTimeoutMs: number;
  private readonly connectTimeoutMs: number;
  private readonly name: string;
  private readyWaiters: (() => void)[] = [];
  private lastError: string | undefined;

  /**
   * @param target the ioredis client's options (its address, credentials, database and TLS)
   * @param lua the script; `sha` its SHA-1, as `EVALSHA` names it
   */
  constructor(
    private readonly target: ScriptConnectionTarget,
    private readonly lua: string,
    private readonly sha: string,
    options: ScriptConnectionOptions = {},
  ) {
    this.commandTimeoutMs = options.commandTimeoutMs ?? 2000;
    this.connectTimeoutMs = options.connectTimeoutMs ?? 5000;
    this.name = options.name ?? 'switchboard-scripts';
    this.watchdog = setInterval(() => this.checkTimeouts(), Math.min(250, this.commandTimeoutMs / 2));
    this.watchdog.unref();
    this.connect();
  }

  /** Whether scripts can be sent now (connected, authenticated, database selected). */
  get ready(): boolean {
    return this.isReady;
  }

  /** Resolves once the connection is ready (for tests). */
  whenReady(): Promise<void> {
    if (this.isReady) return Promise.resolve();
    return new Promise((resolve) => this.readyWaiters.push(resolve));
  }

  /** Runs the script over `keys` and `args`; rejects at once when not {@link ready}. */
  run(keys: readonly string[], args: readonly (string | number)[]): Promise<string | number | null> {
    if (!this.isReady) return Promise.reject(new StoreConnectionError('script connection not ready'));
    let argv = bulk(String(keys.length));
    for (const k of keys) argv += bulk(k);
    for (const a of args) argv += bulk(typeof a === 'string' ? a : String(a));
    const script = { argv, count: 3 + keys.length + args.length };
    return new Promise((resolve, reject) => {
      this.send(`*${script.count}\r\n$7\r\nEVALSHA\r\n${bulk(this.sha)}${argv}`, {
        resolve,
        reject,
        at: 0,
        script,
      });
    });
  }

  /** Closes the connection and stops reconnecting; scripts still waiting fail. Safe to call twice. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.watchdog);
    clearTimeout(this.reconnectTimer);
    this.drop(new StoreConnectionError('script connection closed'));
  }

  private send(command: string, pending: Pending): void {
    pending.at = Date.now();
    this.pending.push(pending);
    this.out += command;
    if (this.flushing) return;
    this.flushing = true;
    // The scripts of one tick leave in one write, as ioredis's auto-pipelining sends them.
    process.nextTick(() => {
      this.flushing = false;
      const out = this.out;
      this.out = '';
      this.socket?.write(out);
    });
  }

  private connect(): void {
    if (this.closed) return;
    const { host = '127.0.0.1', port = 6379, path, tls: tlsOptions } = this.target;
    const socket = path
      ? net.connect({ path })
      : tlsOptions
        ? tls.connect({ host, port, servername: host, ...tlsOptions })
        : net.connect({ host, port });
    this.socket = socket;
    socket.setNoDelay(true);
    const connectTimer = setTimeout(
      () => socket.destroy(new Error('connect timed out')),
      this.connectTimeoutMs,
    );
    socket.once(tlsOptions && !path ? 'secureConnect' : 'connect', () => {
      clearTimeout(connectTimer);
      this.handshake();
    });
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('error', (err) => (this.lastError = err.message));
    socket.on('close', () => {
      clearTimeout(connectTimer);
      if (this.socket !== socket) return;
      this.socket = undefined;
      this.drop(
        new StoreConnectionError(`script connection lost${this.lastError ? `: ${this.lastError}` : ''}`),
      );
      if (this.closed) return;
      this.reconnectTimer = setTimeout(() => this.connect(), this.backoffMs);
      this.reconnectTimer.unref();
      this.backoffMs = Math.min(2000, this.backoffMs * 2);
    });
  }

  /** AUTH, SELECT and CLIENT SETNAME, pipelined; ready once all three are answered OK. */
  private handshake(): void {
    const steps: string[][] = [];
    const { username, password, db } = this.target;
    if (password) steps.push(username ? ['AUTH', username, password] : ['AUTH', password]);
    if (db) steps.push(['SELECT', String(db)]);
    steps.push(['CLIENT', 'SETNAME', this.name]);
    let left = steps.length;
    const fail = (err: Error) => this.socket?.destroy(err);
    for (const argv of steps) {
      this.send(encode(argv), {
        at: 0,
        resolve: () => {
          if (--left > 0) return;
          this.isReady = true;
          this.backoffMs = 100;
          this.lastError = undefined;
          for (const w of this.readyWaiters.splice(0)) w();
        },
        reject: fail,
      });
    }
  }

  private onData(chunk: Buffer): void {
    this.input = this.input.length === 0 ? chunk : Buffer.concat([this.input, chunk]);
    let pos = 0;
    for (;;) {
      const parsed = parseReply(this.input, pos);
      if (parsed === undefined) break;
      if (parsed === PROTOCOL_ERROR) {
        this.socket?.destroy(new Error('unexpected reply from Redis'));
        return;
      }
      pos = parsed.end;
      const p = this.pending.shift();
      if (!p) continue;
      if (parsed.error === undefined) p.resolve(parsed.value);
      else if (parsed.error.startsWith('NOSCRIPT') && p.script) {
        // Redis lost its scripts (a restart, SCRIPT FLUSH): the same script as EVAL, which loads it.
        const { argv, count } = p.script;
        this.send(`*${count}\r\n$4\r\nEVAL\r\n${bulk(this.lua)}${argv}`, { ...p, script: undefined });
      } else p.reject(new Error(parsed.error));
    }
    this.input = pos === this.input.length ? Buffer.alloc(0) : this.input.subarray(pos);
  }

  private checkTimeouts(): void {
    const oldest = this.pending[0];
    if (oldest && Date.now() - oldest.at > this.commandTimeoutMs)
      this.socket?.destroy(new Error(`no reply within ${this.commandTimeoutMs} ms`));
  }

  /** Not ready; every script waiting fails with `err`. */
  private drop(err: Error): void {
    this.isReady = false;
    this.out = '';
    this.input = Buffer.alloc(0);
    for (const p of this.pending.splice(0)) p.reject(err);
    this.socket?.destroy();
  }
}

/** A command as RESP: an array of bulk strings. */
function encode(argv: string[]): string {
  let s = `*${argv.length}\r\n`;
  for (const a of argv) s += bulk(a);
  return s;
}

/** One RESP bulk string (its length in bytes, then the text). */
function bulk(text: string): string {
  return `$${Buffer.byteLength(text)}\r\n${text}\r\n`;
}

const PROTOCOL_ERROR = Symbol('protocol error');

/**
 * One RESP2 reply at `pos`: a simple string, error, integer or bulk string (what the script and the
 * handshake answer); undefined when incomplete; PROTOCOL_ERROR for anything else.
 */
function parseReply(
  buf: Buffer,
  pos: number,
): { value: string | number | null; error?: string; end: number } | undefined | typeof PROTOCOL_ERROR {
  const eol = buf.indexOf(CRLF, pos + 1);
  if (eol < 0 || eol + 1 >= buf.length) return undefined;
  const type = buf[pos];
  const line = buf.toString('latin1', pos + 1, eol);
  switch (type) {
    case 0x2b: // +
      return { value: line, end: eol + 2 };
    case 0x2d: // -
      return { value: null, error: line, end: eol + 2 };
    case 0x3a: // :
      return { value: Number(line), end: eol + 2 };
    case 0x24: {
      // $
      const length = Number(line);
      if (length < 0) return { value: null, end: eol + 2 };
      const start = eol + 2;
      if (buf.length < start + length + 2) return undefined;
      return { value: buf.toString('utf8', start, start + length), end: start + length + 2 };
    }
    default:
      return PROTOCOL_ERROR;
  }
}
