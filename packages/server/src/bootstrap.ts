import 'reflect-metadata';
import { NestFactory } from '@nestjs/core';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { Logger } from 'nestjs-pino';
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { AppModule } from './app.module';
import { SystemClock, type Clock } from './common/clock';
import { corsOrigin, SignalingIoAdapter } from './common/io-adapter';
import type { AppConfig } from './config/config';
import { SignalingService } from './webrtc/signaling.service';
import { MemoryStateStore } from './webrtc/store/memory-state-store';
import type { StateStore } from './webrtc/store/state-store';
import { WebrtcGateway } from './webrtc/webrtc.gateway';

/** Where the client package's build puts the demo page and the SDK bundle. */
export const DEMO_DIR = resolve(__dirname, '../../../client/dist/public');

export interface CreateAppOptions {
  /** Time source. Default the system clock. */
  clock?: Clock;
  /** State store. Default a new in-memory store. */
  store?: StateStore;
}

/** A running Switchboard: the Nest app plus its graceful shutdown. */
export interface SwitchboardApp {
  app: NestExpressApplication;
  /** Listens on `PORT`/`HOST` and returns the base URL. */
  listen(): Promise<string>;
  /** Drains (no new joins, clients told to reconnect), then closes everything. Safe to call twice. */
  shutdown(): Promise<void>;
}

export async function createApp(config: AppConfig, options: CreateAppOptions = {}): Promise<SwitchboardApp> {
  const clock = options.clock ?? new SystemClock();
  const store = options.store ?? new MemoryStateStore(clock);
  const app = await NestFactory.create<NestExpressApplication>(AppModule.register({ config, clock, store }), {
    bufferLogs: true,
  });
  app.useLogger(app.get(Logger));
  app.enableCors({ origin: corsOrigin(config.CORS_ORIGIN) });
  app.useWebSocketAdapter(new SignalingIoAdapter(app, config));
  const logger = app.get(Logger);
  if (config.DEMO_ENABLED) {
    if (existsSync(DEMO_DIR)) app.useStaticAssets(DEMO_DIR, { index: 'index.html' });
    else logger.warn(`DEMO_ENABLED but ${DEMO_DIR} does not exist; run npm run build`);
  }

  let closing: Promise<void> | undefined;
  const shutdown = (): Promise<void> =>
    (closing ??= (async () => {
      const core = app.get(SignalingService);
      const nsp = app.get(WebrtcGateway).namespace;
      core.startDraining();
      if (nsp) {
        nsp.emit('serverShutdown', { reconnectAfterMs: config.RECONNECTION_DELAY });
        // Closing the transport (not disconnecting the socket) makes clients reconnect on their own,
        // to this server's successor or another node; their sessions stay resumable meanwhile.
        for (const socket of nsp.sockets.values()) socket.conn.close();
      }
      await app.close();
      core.close();
      await store.close();
    })());

  return {
    app,
    async listen() {
      await app.listen(config.PORT, config.HOST);
      const address = app.getHttpServer().address();
      const port = typeof address === 'object' && address ? address.port : config.PORT;
      const host = config.HOST === '0.0.0.0' || config.HOST === '::' ? 'localhost' : config.HOST;
      return `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
    },
    shutdown,
  };
}
