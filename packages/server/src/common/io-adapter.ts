import type { INestApplicationContext } from '@nestjs/common';
import { IoAdapter } from '@nestjs/platform-socket.io';
import type { Server, ServerOptions } from 'socket.io';
import type { AdapterFactory } from '../cluster/cluster-adapter';
import type { AppConfig } from '../config/config';
import { CorkingWebSocketServer } from './corking-ws-server';
import { createRecoveryAdapter } from './recovery-adapter';
import type { ConnectionAdmission } from './connection-admission';
import type { OutboundGuard } from './outbound-guard';

/** What guards the Socket.IO edge: who may connect, what a frame may hold, what may queue per connection. */
export interface EdgeGuards {
  admission: ConnectionAdmission;
  outbound: OutboundGuard;
  /** A Socket.IO parser (`{ Encoder, Decoder }`) whose decoder checks frames before parsing them. */
  parser: NonNullable<ServerOptions['parser']>;
}

/**
 * Socket.IO server options from configuration: WebSocket only, tuned pings, and either connection
 * state recovery (one instance) or a cluster adapter (several instances on Redis).
 */
export class SignalingIoAdapter extends IoAdapter {
  /**
   * @param cluster the adapter that carries emits between instances (REDIS_URL); Socket.IO's
   *   connection state recovery is off then, whatever CONNECTION_STATE_RECOVERY says: it restores a
   *   socket only on the process that kept its session. Default none (one instance).
   */
  constructor(
    app: INestApplicationContext,
    private readonly config: AppConfig,
    private readonly edge: EdgeGuards,
    private readonly cluster?: AdapterFactory,
  ) {
    super(app);
  }

  override createIOServer(port: number, options?: Partial<ServerOptions>): Server {
    const c = this.config;
    const server = super.createIOServer(port, {
      ...options,
      // Origin, per-IP and overall connection caps, decided before the WebSocket upgrade.
      allowRequest: this.edge.admission.allowRequest,
      // Frame size and nesting depth are checked before JSON is parsed (see GuardedParser).
      parser: this.edge.parser,
      transports: ['websocket'],
      serveClient: false,
      // Frames written in the same event-loop turn leave in one syscall (see CorkingWebSocketServer).
      wsEngine: CorkingWebSocketServer,
      pingInterval: c.PING_INTERVAL,
      pingTimeout: c.PING_TIMEOUT,
      maxHttpBufferSize: c.MAX_HTTP_BUFFER_SIZE,
      cors: { origin: corsOrigin(c.CORS_ORIGIN) },
      // A dropped socket that reconnects inside the window gets its id, rooms, data and missed
      // packets back; the resume token covers the cases recovery cannot (another node, lost session).
      ...(this.cluster ? { adapter: this.cluster } : c.CONNECTION_STATE_RECOVERY ? recoveryOptions(c) : {}),
    }) as Server;
    this.edge.admission.attach(server.engine);
    this.edge.outbound.attach(server.engine);
    return server;
  }

  /**
   * Nest calls this for every connection; with no `@SubscribeMessage` handlers (the signaling
   * gateway dispatches its events itself) the base class would still build and keep an RxJS
   * disconnect stream per socket — about 0.7 KB of every idle peer's heap, for nothing.
   */
  override bindMessageHandlers(...args: Parameters<IoAdapter['bindMessageHandlers']>): void {
    const [, handlers] = args;
    if (handlers.length > 0) super.bindMessageHandlers(...args);
  }
}

/** Connection state recovery on one instance, with its replay log in an off-heap ring. */
function recoveryOptions(c: AppConfig): Partial<ServerOptions> {
  return {
    // Middlewares run for a recovered socket too: with authentication on, it presents its token
    // again (the one it had may have expired while it was away).
    connectionStateRecovery: { maxDisconnectionDuration: c.RESUME_WINDOW_MS, skipMiddlewares: false },
    adapter: createRecoveryAdapter({
      maxDisconnectionMs: c.RESUME_WINDOW_MS,
      // A dead connection is noticed up to one ping interval plus timeout after it died.
      retentionMs: c.RESUME_WINDOW_MS + c.PING_INTERVAL + c.PING_TIMEOUT,
      maxPacketsPerRoom: c.RECOVERY_MAX_PACKETS_PER_PEER,
      bufferBytes: c.RECOVERY_BUFFER_MB * 1024 * 1024,
      // Room for the largest signal (an SDP at the limit, in its JSON envelope) in one chunk.
      chunkBytes: Math.max(1024 * 1024, 2 * c.MAX_SDP_BYTES),
      // Sent to a socket as it connects or resumes; a restored socket gets a fresh one.
      unloggedEvents: new Set(['session', 'resumed']),
    }),
  };
}

export function corsOrigin(value: string): true | string[] {
  if (value === '*') return true;
  return value
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
}
