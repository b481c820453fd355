import { readFileSync } from 'node:fs';
import type { IncomingMessage } from 'node:http';
import type { Server as NetServer, Socket as NetSocket } from 'node:net';
import type { Server as EngineServer, Socket as EngineSocket } from 'engine.io';
import { RateLimiterMemory, RateLimiterRes } from 'rate-limiter-flexible';
import type { MetricsService } from '../metrics/metrics.service';
import { clientIp, limitKey, unmapIPv4 } from './client-ip';
import { releaseClearedIdleTimer } from './http-timeouts';

export interface ConnectionAdmissionOptions {
  /** Allowed browser origins (`true` = any), as `corsOrigin()` returns them. */
  origins: string[] | true;
  /** Concurrent connections per client IP; 0 = no limit. */
  maxPerIp: number;
  /** New connections per client IP per minute; 0 = no limit. */
  ratePerIpPerMinute: number;
  /** Concurrent connections in all (already resolved from the open-file limit when configured 0). */
  maxConnections: number;
  /** Proxies in front whose X-Forwarded-For is trusted; 0 = use the socket's address. */
  trustProxy: number;
  /**
   * How long a client IP's new connections are refused after {@link CUT_OFFS_BEFORE_BLOCK} of its
   * connections were disconnected for exceeding their rate limits within a minute, s; 0 = never.
   */
  blockSeconds: number;
}

/** Rate-limit disconnects from one client IP within a minute that get it blocked. */
export const CUT_OFFS_BEFORE_BLOCK = 3;

/** Why a connection was refused: the `reason` label of `switchboard_connections_refused_total`. */
export type RefusalReason = 'origin' | 'ip_limit' | 'ip_rate' | 'ip_blocked' | 'capacity';

/**
 * The body of the HTTP 400 Engine.IO answers a refused upgrade with. A browser's WebSocket API hides
 * it (the page sees only an `error` event); `socket.io-client` in Node reports `connect_error` with
 * message `websocket error` and `description.message` `Unexpected server response: 400`. It is for
 * curl and for the logs of a proxy in front.
 */
const MESSAGES: Record<RefusalReason, string> = {
  origin: 'origin: Origin not allowed',
  ip_limit: 'ip_limit: too many connections from this address',
  ip_rate: 'ip_rate: too many new connections from this address',
  ip_blocked: 'ip_blocked: this address kept exceeding its rate limits',
  capacity: 'capacity: server at capacity',
};

type Callback = (err: string | null | undefined, success: boolean) => void;

/** Where an engine socket keeps what it was counted under. */
const COUNTED = Symbol('counted');
type CountedSocket = EngineSocket & { [COUNTED]?: { admission: ConnectionAdmission; key: string } };

type CountedTcpSocket = NetSocket & { [COUNTED]?: { admission: ConnectionAdmission; key: string } };

/** A TCP socket's `close`, shared by all sockets (called with the socket as `this`). */
function releaseTcpOnClose(this: CountedTcpSocket): void {
  const counted = this[COUNTED];
  if (counted === undefined) return;
  this[COUNTED] = undefined;
  counted.admission.tcpReleased(counted.key);
}

/** The engine socket's `close`, shared by all sockets (called with the socket as `this`). */
function releaseOnClose(this: CountedSocket): void {
  const counted = this[COUNTED];
  if (counted === undefined) return;
  this[COUNTED] = undefined;
  counted.admission.released(counted.key);
}

/**
 * Decides, before the WebSocket upgrade, whether a new Socket.IO connection may open: its browser
 * origin, the connections its client IP holds and has opened in the last minute, and the connections
 * the process holds in all. Counting is per Engine.IO connection (from `connection` to the socket's
 * `close`), so a connection state recovery or a reconnect counts as a new connection. Client IPs are
 * counted by `limitKey()` (IPv6 by /64). `guardTcp()` adds a looser per-IP cap on raw TCP connections.
 *
 * @example
 * const admission = new ConnectionAdmission({ origins: true, maxPerIp: 200, ratePerIpPerMinute: 300,
 *   maxConnections: resolveMaxConnections(0), trustProxy: 0 }, metrics);
 * const io = new Server(httpServer, { allowRequest: admission.allowRequest });
 * admission.attach(io.engine);
 * admission.guardTcp(httpServer);
 */
export class ConnectionAdmission {
  private readonly origins: ReadonlySet<string> | true;
  private readonly rate: RateLimiterMemory | undefined;
  /** Rate-limit disconnects per key; past CUT_OFFS_BEFORE_BLOCK in a minute the key is blocked. */
  private readonly cutOffs: RateLimiterMemory | undefined;
  /** Connections held (or admitted and about to open) per limit key; an entry goes at 0. */
  private readonly perKey = new Map<string, number>();
  private total = 0;
  /** Upgrades admitted whose Engine.IO `connection` has not been emitted yet, with their key. */
  private readonly pending = new Map<IncomingMessage, string>();
  private engine: EngineServer | undefined;
  private readonly onConnection = (socket: EngineSocket): void => this.opened(socket);
  /** TCP connections held per limit key (see `guardTcp`); an entry goes at 0. */
  private readonly tcpPerKey = new Map<string, number>();
  private readonly tcpPerIp: number;
  private httpServer: NetServer | undefined;
  private readonly onTcpConnection = (socket: NetSocket): void => this.tcpOpened(socket);

  constructor(
    private readonly options: ConnectionAdmissionOptions,
    private readonly metrics: MetricsService,
  ) {
    this.origins = options.origins === true ? true : new Set(options.origins);
    this.rate =
      options.ratePerIpPerMinute > 0
        ? new RateLimiterMemory({ points: options.ratePerIpPerMinute, duration: 60 })
        : undefined;
    this.cutOffs =
      options.blockSeconds > 0
        ? new RateLimiterMemory({
            points: CUT_OFFS_BEFORE_BLOCK - 1,
            duration: 60,
            blockDuration: options.blockSeconds,
          })
        : undefined;
    // Room above the WebSocket cap for the same clients' HTTP requests and upgrades in flight.
    this.tcpPerIp = options.maxPerIp + Math.max(64, Math.ceil(options.maxPerIp / 2));
    metrics.observeSize('connections_per_ip', () => this.perKey.size);
    metrics.observeSize('tcp_connections_per_ip', () => this.tcpPerKey.size);
  }

  /** The overall cap in force (MAX_CONNECTIONS resolved). */
  get maxConnections(): number {
    return this.options.maxConnections;
  }

  /** Connections currently counted against `ip`'s limit (IPv6: its /64). */
  connectionsFrom(ip: string): number {
    return this.perKey.get(limitKey(ip)) ?? 0;
  }

  /**
   * Engine.IO `allowRequest`: runs once per new connection, before the upgrade. The checks run from the
   * cheapest: origin, then the per-IP rate (every attempt past the origin check spends a point, so a
   * client hammering at its cap is also slowed down), then the per-IP and overall counts.
   */
  readonly allowRequest = (req: IncomingMessage, fn: Callback): void => {
    // Browsers always send Origin on a WebSocket upgrade, and a page cannot forge it: this is what
    // stops a page on another site from opening a connection with the visitor's network position.
    // A request without Origin is not from a browser page. Such a client can send any Origin it likes,
    // so refusing it a missing header would stop nobody; authenticating the peer is what stops it.
    const origin = req.headers.origin;
    if (origin && this.origins !== true && !this.origins.has(origin)) {
      this.refuse('origin', fn);
      return;
    }
    const key = limitKey(clientIp(req, this.options.trustProxy));
    if (this.cutOffs) {
      this.cutOffs.get(key).then(
        (res) => {
          if (res && res.consumedPoints >= CUT_OFFS_BEFORE_BLOCK)
            this.refuse('ip_blocked', fn, res.msBeforeNext);
          else this.checkRate(req, key, fn);
        },
        () => this.checkRate(req, key, fn),
      );
      return;
    }
    this.checkRate(req, key, fn);
  };

  /**
   * Records that a connection from `req`'s client IP was disconnected for exceeding its rate limits:
   * a flooder reconnecting to get a fresh allowance each time is blocked after a few rounds.
   */
  penalize(req: IncomingMessage): void {
    this.cutOffs?.consume(limitKey(clientIp(req, this.options.trustProxy))).catch(() => undefined);
  }

  private checkRate(req: IncomingMessage, key: string, fn: Callback): void {
    if (!this.rate) {
      this.admit(req, key, fn);
      return;
    }
    this.rate.consume(key).then(
      () => this.admit(req, key, fn),
      (res: unknown) => {
        if (res instanceof RateLimiterRes) this.refuse('ip_rate', fn, res.msBeforeNext);
        // The limiter's store failed (not possible in memory; a Redis store can): the count caps still
        // hold, and refusing everyone would turn a store fault into an outage.
        else this.admit(req, key, fn);
      },
    );
  }

  /** Counts the connections `engine` opens and closes. */
  attach(engine: EngineServer): void {
    this.engine = engine;
    engine.on('connection', this.onConnection);
  }

  /**
   * Also caps the TCP connections one IP holds on `server` (MAX_CONNECTIONS_PER_IP plus half again, at
   * least 64 more), closing the excess as it is accepted, before it can send a byte. The upgrade-time
   * caps only see a connection once its request arrives; a flood of connections that are slow to send
   * (or never do) would otherwise fill the open-file limit first, and at EMFILE Node drops every new
   * connection, `/health` included. Off behind a proxy (TRUST_PROXY), where every connection comes
   * from the proxy and the proxy is the place for such a limit, and when MAX_CONNECTIONS_PER_IP is 0.
   */
  guardTcp(server: NetServer): void {
    if (this.options.trustProxy > 0 || this.options.maxPerIp === 0) return;
    this.httpServer = server;
    server.prependListener('connection', this.onTcpConnection);
  }

  /** Stops counting and forgets every count. Safe to call twice. */
  close(): void {
    this.engine?.off('connection', this.onConnection);
    this.engine = undefined;
    this.httpServer?.off('connection', this.onTcpConnection);
    this.httpServer = undefined;
    this.tcpPerKey.clear();
    this.perKey.clear();
    this.pending.clear();
    this.total = 0;
  }

  /**
   * The counts are checked and the slot taken in one synchronous step, right before calling back, so two
   * upgrades can never both take the last slot. What follows is not quite synchronous in Engine.IO 6.6:
   * `fn` → `ws.handleUpgrade` → `onWebSocket` → `handshake()`, which `await`s `generateId()` before it
   * emits `connection` — one microtask hop. So the slot is reserved here rather than at `connection`,
   * and handed back at `setImmediate` (after every microtask of this turn) if the upgrade failed before
   * Engine.IO emitted `connection` (a bad WebSocket key, the client gone). That keeps the count exact
   * even when the rate limiter's answer arrives later (a Redis store), when several admissions can run
   * in the same microtask queue.
   */
  private admit(req: IncomingMessage, key: string, fn: Callback): void {
    const { maxPerIp, maxConnections } = this.options;
    if (maxPerIp > 0 && (this.perKey.get(key) ?? 0) >= maxPerIp) {
      this.refuse('ip_limit', fn);
      return;
    }
    if (maxConnections > 0 && this.total >= maxConnections) {
      this.refuse('capacity', fn);
      return;
    }
    this.acquire(key);
    this.pending.set(req, key);
    setImmediate(() => {
      if (this.pending.delete(req)) this.release(key);
    });
    fn(null, true);
  }

  private opened(socket: EngineSocket): void {
    releaseClearedIdleTimer(socket.request.socket);
    let key = this.pending.get(socket.request);
    if (key !== undefined) this.pending.delete(socket.request);
    else {
      // Admitted without a reservation (one that outlived its setImmediate): count it now.
      key = limitKey(clientIp(socket.request, this.options.trustProxy));
      this.acquire(key);
    }
    // A listener registered before this one may already have closed it; `close` will not come again.
    if (socket.readyState === 'closed') {
      this.release(key);
      return;
    }
    // A shared listener and the key on the socket, not a closure per socket: every idle peer has one.
    (socket as CountedSocket)[COUNTED] = { admission: this, key };
    socket.on('close', releaseOnClose);
  }

  private tcpOpened(socket: NetSocket): void {
    const key = limitKey(unmapIPv4(socket.remoteAddress ?? ''));
    const held = this.tcpPerKey.get(key) ?? 0;
    if (held >= this.tcpPerIp) {
      // Counted with the upgrade-time refusals of the same limit; the client sees a reset connection.
      this.metrics.refused('ip_limit');
      socket.destroy();
      return;
    }
    this.tcpPerKey.set(key, held + 1);
    (socket as CountedTcpSocket)[COUNTED] = { admission: this, key };
    socket.on('close', releaseTcpOnClose);
  }

  /** @internal a TCP connection counted under `key` closed. */
  tcpReleased(key: string): void {
    const n = this.tcpPerKey.get(key);
    if (n === undefined) return;
    if (n <= 1) this.tcpPerKey.delete(key);
    else this.tcpPerKey.set(key, n - 1);
  }

  private refuse(reason: RefusalReason, fn: Callback, retryAfterMs?: number): void {
    this.metrics.refused(reason);
    const retry = retryAfterMs === undefined ? '' : `; retry in ${Math.ceil(retryAfterMs / 1000)} s`;
    fn(MESSAGES[reason] + retry, false);
  }

  private acquire(key: string): void {
    this.perKey.set(key, (this.perKey.get(key) ?? 0) + 1);
    this.total++;
  }

  /** @internal the counted socket `key` closed. */
  released(key: string): void {
    this.release(key);
  }

  private release(key: string): void {
    const n = this.perKey.get(key);
    if (n === undefined) return; // counted before close()
    if (n <= 1) this.perKey.delete(key);
    else this.perKey.set(key, n - 1);
    this.total--;
  }
}

/** Where /proc is not available (macOS, Windows): about what Node gets there (macOS caps it at 10240). */
export const FALLBACK_MAX_CONNECTIONS = 8192;

/**
 * MAX_CONNECTIONS, with 0 resolved from the process's open-file limit: the soft limit less an eighth
 * (at least 128) kept for HTTP requests, refused upgrades, logs and the store. Past the limit `accept()`
 * fails with EMFILE and Node drops every new TCP connection, `/health` included; refusing WebSocket
 * upgrades before that keeps the rest answering. Node raises its soft limit to the hard limit at start,
 * so /proc/self/limits shows what applies (not what the shell's `ulimit -n` showed).
 *
 * @example
 * resolveMaxConnections(0); // 3584 with a limit of 4096
 * resolveMaxConnections(5000); // 5000
 */
export function resolveMaxConnections(configured: number, limits: () => string = readProcLimits): number {
  if (configured > 0) return configured;
  let soft: number | undefined;
  try {
    soft = parseOpenFileLimit(limits());
  } catch {
    soft = undefined;
  }
  return soft === undefined ? FALLBACK_MAX_CONNECTIONS : maxConnectionsFor(soft);
}

/** Connections allowed under an open-file limit: `soft − max(128, soft / 8)`, at least 1. */
export function maxConnectionsFor(softLimit: number): number {
  return Math.max(1, Math.floor(softLimit - Math.max(128, softLimit / 8)));
}

/**
 * The soft "Max open files" limit from the text of /proc/<pid>/limits; undefined when absent or
 * `unlimited` (then there is nothing to derive a figure from).
 *
 * @example
 * parseOpenFileLimit('Max open files            4096                 524288               files'); // 4096
 */
export function parseOpenFileLimit(text: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith('Max open files'));
  const soft = line?.slice('Max open files'.length).trim().split(/\s+/)[0];
  return soft !== undefined && /^\d+$/.test(soft) ? Number(soft) : undefined;
}

/** The open-file limit that applies now, for the start-up log line; undefined where it cannot be read. */
export function openFileLimit(limits: () => string = readProcLimits): number | undefined {
  try {
    return parseOpenFileLimit(limits());
  } catch {
    return undefined;
  }
}

function readProcLimits(): string {
  return readFileSync('/proc/self/limits', 'utf8');
}
