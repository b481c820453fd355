import type { INestApplicationContext } from '@nestjs/common';
import { IoAdapter } from '@nestjs/platform-socket.io';
import type { Server, ServerOptions } from 'socket.io';
import type { AppConfig } from '../config/config';
import { createRecoveryAdapter } from './recovery-adapter';

/** Socket.IO server options from configuration: WebSocket only, tuned pings, connection state recovery. */
export class SignalingIoAdapter extends IoAdapter {
  constructor(
    app: INestApplicationContext,
    private readonly config: AppConfig,
  ) {
    super(app);
  }

  override createIOServer(port: number, options?: Partial<ServerOptions>): Server {
    const c = this.config;
    return super.createIOServer(port, {
      ...options,
      transports: ['websocket'],
      serveClient: false,
      pingInterval: c.PING_INTERVAL,
      pingTimeout: c.PING_TIMEOUT,
      maxHttpBufferSize: c.MAX_HTTP_BUFFER_SIZE,
      cors: { origin: corsOrigin(c.CORS_ORIGIN) },
      // A dropped socket that reconnects inside the window gets its id, rooms, data and missed
      // packets back; the resume token covers the cases recovery cannot (another node, lost session).
      ...(c.CONNECTION_STATE_RECOVERY
        ? {
            connectionStateRecovery: { maxDisconnectionDuration: c.RESUME_WINDOW_MS, skipMiddlewares: true },
            adapter: createRecoveryAdapter({
              maxDisconnectionMs: c.RESUME_WINDOW_MS,
              // A dead connection is noticed up to one ping interval plus timeout after it died.
              retentionMs: c.RESUME_WINDOW_MS + c.PING_INTERVAL + c.PING_TIMEOUT,
              maxPacketsPerRoom: c.RECOVERY_MAX_PACKETS_PER_PEER,
            }),
          }
        : {}),
    }) as Server;
  }
}

export function corsOrigin(value: string): string | string[] | boolean {
  if (value === '*') return true;
  return value
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
}
