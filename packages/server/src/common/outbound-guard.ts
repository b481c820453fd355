import { Logger } from '@nestjs/common';
import type { Server as EngineServer, Socket as EngineSocket } from 'engine.io';
import type { WebSocket } from 'ws';
import type { MetricsService } from '../metrics/metrics.service';

export interface OutboundGuardOptions {
  /** Most bytes queued for one connection (Engine.IO write buffer + WebSocket buffered amount). */
  maxBufferedBytes: number;
  /** A connection whose queued bytes have not been taken by the client for this long is closed, ms. */
  stallTimeoutMs: number;
}

/** Why the guard closed a connection; the `reason` label of `switchboard_forced_disconnects_total`. */
export type OutboundCloseReason = 'slow_consumer' | 'stalled';

/** Where the guard keeps its {@link Tracked} state on an engine socket. */
const kTracked = Symbol('outboundGuard');

type GuardedSocket = EngineSocket & { [kTracked]: Tracked };

/** What Engine.IO's WebSocket transport keeps of its `ws` socket (`transport.socket`, untyped). */
interface WsTransport {
  readonly name: string;
  readonly socket?: WebSocket;
}

/** One connection's outbound state: a small object per socket instead of closures per socket. */
class Tracked {
  /** Bytes created since the engine last handed its write buffer to the transport. */
  pending = 0;
  /** The guard's coarse clock at the last hand-over (see {@link OutboundGuard}). */
  flushedAt: number;
  /** Set once the guard has closed the connection, so it is counted and logged once. */
  closing = false;

  constructor(
    readonly guard: OutboundGuard,
    /** The WebSocket under the engine socket; undefined for a transport without one. */
    readonly ws: WebSocket | undefined,
    now: number,
  ) {
    this.flushedAt = now;
  }

  /** Bytes waiting in this process: the engine's write buffer plus what `ws` and `net` still hold. */
  queued(): number {
    return this.pending + (this.ws === undefined ? 0 : this.ws.bufferedAmount);
  }
}

// Listeners shared by every socket: Engine.IO calls them with the engine socket as `this`, so
// tracking a connection allocates one `Tracked` and no closures. `flush` is heard on the server
// (which emits it with the socket for every socket) rather than registered on each.

/** `packetCreate`: the packet is about to join the write buffer. */
function onPacketCreate(this: GuardedSocket, packet: { data?: unknown }): void {
  const t = this[kTracked];
  const data = packet.data;
  t.pending +=
    typeof data === 'string'
      ? data.length
      : data === undefined
        ? 0
        : ((data as { byteLength?: number }).byteLength ?? 0);
  if (t.queued() > t.guard.maxBufferedBytes && !t.closing) t.guard.forceClose(this, t, 'slow_consumer');
}

/** Server `flush`: a write buffer goes to its transport, which was writable (its last batch was written). */
function onFlush(conn: GuardedSocket): void {
  const t = conn[kTracked];
  // Undefined for the open packet (flushed before `connection` is emitted), and for sockets the
  // guard does not track (connected before it attached).
  if (t === undefined) return;
  t.pending = 0;
  t.flushedAt = t.guard.now;
}

function onClose(this: GuardedSocket): void {
  this[kTracked].guard.untrack(this);
}

function webSocketOf(conn: EngineSocket): WebSocket | undefined {
  const transport = conn.transport as unknown as WsTransport;
  return transport.name === 'websocket' ? transport.socket : undefined;
}

/**
 * Bounds what the server holds for a client that does not read what it is sent.
 *
 * Why: Engine.IO queues without limit. A client that stops reading its socket but keeps the TCP
 * connection open (and answers, or even volunteers, Engine.IO pongs so the heartbeat never fails)
 * while its partner sends it signals made the server buffer everything: RSS went from 94 MB to
 * 5.4 GB in 100 s, then the process died at the heap limit, taking every other call with it.
 *
 * What is counted: when the client stops reading, the kernel's send and receive buffers fill first
 * (not counted: they are kernel memory, a few MiB at most per connection); then `ws`/`net` hold the
 * batch being written (`ws.bufferedAmount`), and Engine.IO keeps everything newer in the socket's
 * `writeBuffer`, because it hands the buffer to the transport only while the transport is
 * writable, i.e. once the previous batch has reached the kernel. The write buffer is counted
 * incrementally (+ on `packetCreate`, 0 on `flush`, string length or byteLength of the data), so the
 * hot path reads two numbers and a getter and allocates nothing. These are wire bytes: the memory
 * behind them is larger (packet objects, and the pre-encoded frame Socket.IO keeps beside each
 * relayed string), measured at 2.8× for 1 KB signals and 5.3× for 200-byte ones.
 *
 * Two rules, both closing the connection with `ws.terminate()`:
 * - `slow_consumer`: a packet would take the queued bytes past `maxBufferedBytes`. Checked on every
 *   packet, so the queue outgrows the cap only by what is sent to the connection before Engine.IO
 *   sees the close, later in the same event-loop iteration.
 * - `stalled`: bytes have been waiting for longer than `stallTimeoutMs` with no batch written in the
 *   meantime (no `flush`). Only the client reading makes progress; pongs and other frames it sends
 *   do not, so a trickle under the cap cannot pin a connection (and its room slot) forever.
 *
 * `terminate()` rather than the graceful close: Engine.IO's close waits for the write buffer to drain
 * and `ws`'s waits up to 30 s for the client's close frame, both with the data still in memory.
 * Destroying the socket frees `net`'s buffer at once; Engine.IO and Socket.IO see a transport close
 * (`"transport close"`), drop the engine socket's buffers, and the peer's resume window starts as
 * for any network loss. The client sees the TCP connection end without a WebSocket close frame.
 *
 * Stalls are found by one shared sweep, not a timer per socket: every `stallTimeoutMs / 4`, at most
 * every second, it walks the tracked connections (a few property reads each: 1.5 to 4 ms per 100k
 * connections, measured), so a stall is closed between `stallTimeoutMs` and `stallTimeoutMs` plus
 * two sweep periods after the last batch was written (20 to 22 s with the default 20 s). The sweep
 * also keeps a coarse clock ({@link now}) for `flush` to stamp, so the hot path reads no clock.
 *
 * Hand-written because no maintained library caps per-connection output for Engine.IO, and
 * Engine.IO has no option for it: its write buffer is an unbounded array (socketio/engine.io#420),
 * and the maintainers' answer to backpressure is application-level acknowledgements or `volatile`
 * emits that drop while the transport is busy (socketio/socket.io#4435) — neither protects the
 * server from a client that simply does not read.
 */
export class OutboundGuard {
  /** Coarse clock, ms: `Date.now()` at the last sweep. Stamps `flush` without a clock read per batch. */
  now = Date.now();
  readonly maxBufferedBytes: number;

  private readonly logger = new Logger(OutboundGuard.name);
  private readonly sockets = new Set<GuardedSocket>();
  private readonly engines: EngineServer[] = [];
  private readonly sweepMs: number;
  private timer: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(
    private readonly options: OutboundGuardOptions,
    private readonly metrics: MetricsService,
  ) {
    this.maxBufferedBytes = options.maxBufferedBytes;
    // A quarter of the timeout keeps the lateness of a stall close to a fraction of it; capping at
    // 1 s keeps it under a second or two at the default 20 s, for a sweep cost that stays negligible.
    this.sweepMs = Math.max(50, Math.min(1000, Math.floor(options.stallTimeoutMs / 4)));
    metrics.observeSize('outbound_tracked', () => this.sockets.size);
  }

  /** Connections being watched; returns to 0 once they have all closed. */
  get tracked(): number {
    return this.sockets.size;
  }

  /** Watches every connection of `engine` from now on. */
  attach(engine: EngineServer): void {
    if (this.closed) return;
    this.engines.push(engine);
    engine.on('connection', this.onConnection);
    engine.on('flush', onFlush);
    if (this.timer === undefined) {
      this.timer = setInterval(this.sweep, this.sweepMs);
      this.timer.unref();
    }
  }

  /** Stops the sweep and forgets every connection; closes none. Safe to call twice. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.timer);
    for (const engine of this.engines) {
      engine.off('connection', this.onConnection);
      engine.off('flush', onFlush);
    }
    this.engines.length = 0;
    for (const conn of this.sockets) this.stopWatching(conn);
    this.sockets.clear();
  }

  /**
   * Closes `conn` because of `reason`: counts it, logs it once and terminates its WebSocket.
   * @internal called by the shared listeners and the sweep.
   */
  forceClose(conn: GuardedSocket, t: Tracked, reason: OutboundCloseReason): void {
    t.closing = true;
    const queuedBytes = t.queued();
    const ws = webSocketOf(conn);
    if (ws !== undefined) ws.terminate();
    // No `ws` to destroy (a transport this server does not enable): Engine.IO's close discards it.
    else conn.close(true);
    this.metrics.forcedDisconnect(reason);
    this.logger.warn(
      {
        // The engine id: Socket.IO's socket id and the peer id are not known at this layer.
        connectionId: (conn as unknown as { id: string }).id,
        remoteAddress: conn.remoteAddress,
        reason,
        queuedBytes,
      },
      reason === 'slow_consumer'
        ? `closing a connection that does not read: more than ${this.maxBufferedBytes} bytes queued`
        : `closing a connection that does not read: nothing written for ${this.options.stallTimeoutMs} ms`,
    );
  }

  /** @internal called when the engine socket closes. */
  untrack(conn: GuardedSocket): void {
    if (this.sockets.delete(conn)) this.stopWatching(conn);
  }

  private readonly onConnection = (conn: EngineSocket): void => {
    const guarded = conn as GuardedSocket;
    // The open packet was flushed before `connection` was emitted; it counts as the last batch.
    // The `ws` is taken once: the adapter allows only the WebSocket transport, so there are no
    // upgrades (were polling enabled, an upgraded connection would be capped on its write buffer
    // alone, and still closed through its current transport).
    guarded[kTracked] = new Tracked(this, webSocketOf(conn), this.now);
    this.sockets.add(guarded);
    conn.on('packetCreate', onPacketCreate);
    // `on`, not `once`: an engine socket closes once, and `once` would allocate a wrapper per socket.
    conn.on('close', onClose);
  };

  private stopWatching(conn: GuardedSocket): void {
    conn.off('packetCreate', onPacketCreate);
    conn.off('close', onClose);
  }

  private readonly sweep = (): void => {
    const now = (this.now = Date.now());
    // `flushedAt` was stamped with this clock, up to one period before the flush itself: waiting one
    // more period guarantees the client has really not read for `stallTimeoutMs`.
    const stalledBefore = now - this.options.stallTimeoutMs - this.sweepMs;
    for (const conn of this.sockets) {
      const t = conn[kTracked];
      if (t.flushedAt > stalledBefore || t.closing) continue;
      // Nothing written for that long is fine as long as nothing is waiting (an idle connection).
      if (t.queued() > 0) this.forceClose(conn, t, 'stalled');
    }
  };
}
