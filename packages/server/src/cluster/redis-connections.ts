import { Redis } from 'ioredis';
import type { StoreHealth } from '../common/store-health';

export interface RedisConnectionsOptions {
  /** Longest wait for each connection at start, ms. Default 5000. */
  connectTimeoutMs?: number;
  /** Told about connection trouble after start (once per outage and connection), for the log. Default none. */
  onError?: (connection: string, err: Error) => void;
  /**
   * Longest wait for one store command, ms: past it the command fails (and the request it serves is
   * answered `UNAVAILABLE`) instead of waiting for Redis. Default 2000.
   */
  commandTimeoutMs?: number;
}

/** Redis's version as `INFO server` reports it, e.g. `7.0.15`. */
const VERSION = /^redis_version:(\d+)\.(\d+)/m;

/**
 * The three Redis connections an instance holds (the state store opens a fourth for the relay's script:
 * `ScriptConnection`): `commands` for the state store, `pub` for the
 * Socket.IO adapter's publishes (so a publish on the relay path never waits behind a store script
 * or a `SCAN` of a metrics scrape), and `sub`, which subscribing turns into a connection that can
 * do nothing else.
 */
export class RedisConnections implements StoreHealth {
  private closing: Promise<void> | undefined;

  private constructor(
    readonly commands: Redis,
    readonly pub: Redis,
    readonly sub: Redis,
    /** The last error of each connection while it is not ready (for `/ready`). */
    private readonly errors: Map<string, string>,
  ) {}

  /** Which connection is not ready, and its last error; undefined when all three are. */
  trouble(): string | undefined {
    for (const [name, client] of [
      ['commands', this.commands],
      ['pub', this.pub],
      ['sub', this.sub],
    ] as const) {
      if (client.status !== 'ready')
        return `redis ${name} connection ${client.status}${this.errors.has(name) ? `: ${this.errors.get(name)}` : ''}`;
    }
    return undefined;
  }

  /**
   * Connects all three, and checks that the server has sharded pub/sub (Redis 7.0+). Rejects with
   * an error naming the address (never the password) when Redis does not answer in time or is too
   * old; nothing stays open then.
   *
   * @example
   * const redis = await RedisConnections.open('redis://127.0.0.1:6379');
   */
  static async open(url: string, options: RedisConnectionsOptions = {}): Promise<RedisConnections> {
    const timeout = options.connectTimeoutMs ?? 5000;
    // Why a connection failed at start: ioredis rejects connect() with "Connection is closed" and
    // emits the cause (ECONNREFUSED, a TLS or AUTH error) as an event.
    let cause: Error | undefined;
    let started = false;
    const errors = new Map<string, string>();
    const make = (name: string): Redis => {
      const client = new Redis(url, {
        lazyConnect: true,
        connectTimeout: timeout,
        connectionName: `switchboard-${name}`,
        // While Redis is unreachable, a command fails at once rather than waiting in ioredis's
        // queue for a reconnection: a request is answered UNAVAILABLE in bounded time, and the
        // adapter delivers an emit to this instance's own sockets without waiting for its publish.
        // The subscriber keeps the queue: ioredis resubscribes it when Redis is back.
        // Commands issued in the same tick (by different sockets' requests, or a relay's publish
        // and the next one's script) leave in one write, and their replies come back in one read.
        ...(name === 'sub'
          ? {}
          : {
              enableOfflineQueue: false,
              commandTimeout: options.commandTimeoutMs ?? 2000,
              enableAutoPipelining: true,
            }),
      });
      // Without a listener ioredis prints every failed reconnection attempt to stderr; report the
      // first of each outage instead.
      let reported = false;
      client.on('error', (err: Error) => {
        errors.set(name, err.message);
        if (!started) cause ??= err;
        else if (!reported) options.onError?.(name, err);
        reported = true;
      });
      client.on('ready', () => {
        reported = false;
        errors.delete(name);
      });
      return client;
    };
    const connections = new RedisConnections(make('commands'), make('pub'), make('sub'), errors);
    const all = [connections.commands, connections.pub, connections.sub];
    try {
      await Promise.all(all.map((c) => c.connect()));
      const info = await connections.commands.info('server');
      const version = VERSION.exec(info);
      if (!version || Number(version[1]) < 7)
        throw new Error(
          `Redis ${version ? `${version[1]}.${version[2]}` : '(unknown version)'} has no sharded pub/sub; 7.0 or later is needed`,
        );
    } catch (err) {
      for (const c of all) c.disconnect();
      const why = cause ?? err;
      throw new Error(`REDIS_URL: ${redacted(url)}: ${why instanceof Error ? why.message : String(why)}`, {
        cause: why,
      });
    }
    started = true;
    return connections;
  }

  /** Quits the three connections (closing them outright if Redis does not answer). Safe to call twice. */
  close(): Promise<void> {
    return (this.closing ??= Promise.all(
      [this.commands, this.pub, this.sub].map(async (c) => {
        try {
          await c.quit();
        } catch {
          c.disconnect();
        }
      }),
    ).then(() => undefined));
  }
}

/** The URL without its password, for messages and logs. */
export function redacted(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return '(unparsable URL)';
  }
}
