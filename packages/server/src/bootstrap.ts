import 'reflect-metadata';
import { NestFactory } from '@nestjs/core';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { Logger } from 'nestjs-pino';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import type { Server } from 'node:http';
import { hostname } from 'node:os';
import { resolve } from 'node:path';
import { frameLimits } from '@switchboard/protocol';
import { AppModule } from './app.module';
import { createTokenVerifier } from './auth/token-verifier.factory';
import type { TokenVerifier } from './auth/token-verifier';
import { createClusterAdapter } from './cluster/cluster-adapter';
import { RedisConnections, redacted } from './cluster/redis-connections';
import { SystemClock, type Clock } from './common/clock';
import { ConnectionAdmission, openFileLimit } from './common/connection-admission';
import { createGuardedParser } from './common/guarded-parser';
import { corsOrigin, SignalingIoAdapter, type EdgeGuards } from './common/io-adapter';
import { applyHttpTimeouts } from './common/http-timeouts';
import { OutboundGuard } from './common/outbound-guard';
import { MetricsServer } from './metrics/metrics-server';
import { MetricsService } from './metrics/metrics.service';
import { ConfigError, type AppConfig } from './config/config';
import { SignalingService } from './webrtc/signaling.service';
import { MemoryStateStore } from './webrtc/store/memory-state-store';
import { RedisStateStore } from './webrtc/store/redis-state-store';
import { RedisDeliveryLog } from './cluster/delivery-log';
import { RedisPresence } from './cluster/redis-presence';
import { OPENAPI_PATH, openApiDocument, SERVER_VERSION } from './openapi';
import { EVENT_SINK, WebhookDispatcher, type EventSink } from './webhooks/webhook-dispatcher';
import type { StateStore } from './webrtc/store/state-store';
import { WebrtcGateway } from './webrtc/webrtc.gateway';

/** Where the client package's build puts the demo page and the SDK bundle. */
export const DEMO_DIR = resolve(__dirname, '../../../client/dist/public');

export interface CreateAppOptions {
  /** Time source. Default the system clock. */
  clock?: Clock;
  /** State store. Default a {@link RedisStateStore} with REDIS_URL, else a new in-memory store. */
  store?: StateStore;
  /** Token verifier. Default the one AUTH_* configure (none: authentication off). */
  tokenVerifier?: TokenVerifier;
}

/** A running Switchboard: the Nest app plus its graceful shutdown. */
export interface SwitchboardApp {
  app: NestExpressApplication;
  /** Listens on `PORT`/`HOST` and returns the base URL. */
  listen(): Promise<string>;
  /** Base URL of the separate metrics listener (METRICS_PORT) once listening; undefined without one. */
  metricsUrl(): string | undefined;
  /** This process's id among the instances (`switchboard_instance_info{instance_id}`, logged at start). */
  readonly instanceId: string;
  /** Drains (no new joins, clients told to reconnect), then closes everything. Safe to call twice. */
  shutdown(): Promise<void>;
}

/**
 * Builds the app from validated configuration. Rejects with a `ConfigError` when AUTH_JWT_PUBLIC_KEY
 * is a key jose cannot use (checked here because jose imports keys asynchronously), or when REDIS_URL
 * is set and no Redis 7 answers there.
 */
export async function createApp(config: AppConfig, options: CreateAppOptions = {}): Promise<SwitchboardApp> {
  const clock = options.clock ?? new SystemClock();
  // Before anything is built: a bad key stops start-up the way a bad variable does.
  const tokenVerifier = options.tokenVerifier ?? (await createTokenVerifier(config, clock));
  const instanceId = `${hostname()}:${process.pid}:${randomBytes(3).toString('hex')}`;
  let redisTrouble: (connection: string, err: Error) => void = () => undefined;
  const redis = config.REDIS_URL
    ? await RedisConnections.open(config.REDIS_URL, { onError: (c, err) => redisTrouble(c, err) }).catch(
        (err: unknown) => {
          throw new ConfigError(err instanceof Error ? err.message : String(err));
        },
      )
    : undefined;
  const store =
    options.store ??
    (redis
      ? new RedisStateStore(redis.commands, { keyPrefix: config.REDIS_KEY_PREFIX })
      : new MemoryStateStore(clock));
  const deliveryLog = redis
    ? new RedisDeliveryLog(redis.commands, {
        keyPrefix: config.REDIS_KEY_PREFIX,
        maxEntries: config.DELIVERY_LOG_LENGTH,
        // A log is needed while its peer may still resume; the sequence as long as the peer lives.
        entryTtlMs: config.RESUME_WINDOW_MS + 60_000,
        sequenceTtlMs: 24 * 3600_000,
      })
    : undefined;
  // Resume windows end on time whichever instance is left, and the peers of a killed instance
  // expire too (see RedisPresence). Its errors go to the log once the logger exists.
  let presenceTrouble: (err: Error) => void = () => undefined;
  const presence = redis
    ? new RedisPresence(redis.commands, {
        keyPrefix: config.REDIS_KEY_PREFIX,
        instanceId,
        onError: (err) => presenceTrouble(err),
      })
    : undefined;
  let app: NestExpressApplication;
  try {
    app = await NestFactory.create<NestExpressApplication>(
      AppModule.register({ config, clock, store, tokenVerifier, deliveryLog, presence, storeHealth: redis }),
      { bufferLogs: true },
    );
  } catch (err) {
    await redis?.close();
    throw err;
  }
  app.useLogger(app.get(Logger));
  app.enableCors({ origin: corsOrigin(config.CORS_ORIGIN) });
  // req.ip by the same rule the WebSocket caps and the HTTP rate limits use (see clientIp()).
  app.set('trust proxy', config.TRUST_PROXY);
  const httpServer = app.getHttpServer() as Server;
  applyHttpTimeouts(httpServer);
  const logger = app.get(Logger);
  const metrics = app.get(MetricsService);
  presenceTrouble = (err) => logger.warn(`presence poll failed: ${err.message}`, 'Presence');
  redisTrouble = (connection, err) =>
    logger.error(`Redis connection ${connection} failed: ${err.message}; reconnecting`, 'Redis');
  const adapter = redis ? 'redis-sharded' : config.CONNECTION_STATE_RECOVERY ? 'recovery' : 'memory';
  metrics.describeInstance({ instanceId, stateStore: redis ? 'redis' : 'memory', adapter });
  logger.log(
    redis
      ? `instance ${instanceId}: state in Redis at ${redacted(config.REDIS_URL!)} under ${config.REDIS_KEY_PREFIX}, ` +
          'emits between instances by sharded pub/sub; Socket.IO connection state recovery off ' +
          '(it is per process): dropped peers come back with their resume tokens, on any instance'
      : `instance ${instanceId}: one instance, state in memory`,
    'Scaling',
  );
  // Built by WebrtcModule (the gateway reports rate-limit disconnects to it).
  const admission = app.get(ConnectionAdmission);
  const maxConnections = admission.maxConnections;
  const fdLimit = openFileLimit();
  logger.log(
    `WebSocket connections: at most ${maxConnections} in all ` +
      (config.MAX_CONNECTIONS > 0
        ? '(MAX_CONNECTIONS)'
        : fdLimit === undefined
          ? '(MAX_CONNECTIONS=0, open-file limit unreadable: fixed fallback)'
          : `(MAX_CONNECTIONS=0: open-file limit ${fdLimit} less ${fdLimit - maxConnections} kept for HTTP)`) +
      `, ${config.MAX_CONNECTIONS_PER_IP || 'unlimited'} per client IP, ` +
      `${config.CONNECTION_RATE_PER_IP || 'unlimited'} new per client IP per minute`,
    'ConnectionAdmission',
  );
  if (tokenVerifier)
    logger.log(
      `authentication on: tokens verified with ${tokenVerifier.description}, algorithms ${tokenVerifier.algorithms.join(', ')}` +
        (config.AUTH_JWT_ISSUER ? `, issuer ${config.AUTH_JWT_ISSUER}` : '') +
        (config.AUTH_JWT_AUDIENCE ? `, audience ${config.AUTH_JWT_AUDIENCE}` : ''),
      'Authenticator',
    );
  else
    logger.warn(
      'authentication is off (none of AUTH_JWT_SECRET, AUTH_JWT_PUBLIC_KEY, AUTH_JWKS_URL is set): ' +
        'anyone who can reach this server can join any room and get TURN credentials',
      'Authenticator',
    );
  const edge: EdgeGuards = {
    admission,
    outbound: new OutboundGuard(
      {
        maxBufferedBytes: config.MAX_OUTBOUND_BUFFER_BYTES,
        stallTimeoutMs: config.OUTBOUND_STALL_TIMEOUT_MS,
      },
      metrics,
    ),
    parser: createGuardedParser(frameLimits({ maxSdpBytes: config.MAX_SDP_BYTES, maxMetadataBytes: 2048 })),
  };
  const cluster = redis
    ? createClusterAdapter({
        pubClient: redis.pub,
        subClient: redis.sub,
        // Pub/sub channels ignore the database number: the prefix is what keeps deployments apart.
        channelPrefix: `${config.REDIS_KEY_PREFIX}socket.io`,
        traffic: metrics,
      })
    : undefined;
  app.useWebSocketAdapter(new SignalingIoAdapter(app, config, edge, cluster));
  edge.admission.guardTcp(httpServer);
  const metricsServer =
    config.METRICS_ENABLED && config.METRICS_PORT !== undefined
      ? new MetricsServer(metrics, {
          host: config.METRICS_HOST,
          port: config.METRICS_PORT,
          token: config.METRICS_TOKEN,
        })
      : undefined;
  // Generated once the controllers exist, served as JSON (no UI: nothing extra to serve or secure).
  const openApi = openApiDocument(app, SERVER_VERSION);
  const http = app.getHttpAdapter();
  http.get(OPENAPI_PATH, (_req: unknown, res: unknown) => http.reply(res, openApi, 200));
  if (config.DEMO_ENABLED) {
    if (existsSync(DEMO_DIR)) app.useStaticAssets(DEMO_DIR, { index: 'index.html' });
    else logger.warn(`DEMO_ENABLED but ${DEMO_DIR} does not exist; run npm run build`);
  }

  let closing: Promise<void> | undefined;
  const shutdown = (): Promise<void> =>
    (closing ??= (async () => {
      const core = app.get(SignalingService);
      const gateway = app.get(WebrtcGateway);
      const nsp = gateway.namespace;
      core.startDraining();
      if (nsp) {
        // Local: on Redis a namespace-wide emit would reach every instance's clients.
        nsp.local.emit('serverShutdown', { reconnectAfterMs: config.RECONNECTION_DELAY });
        // Closing the transport (not disconnecting the socket) makes clients reconnect on their own,
        // to this server's successor or another node; their sessions stay resumable meanwhile.
        for (const socket of nsp.sockets.values()) socket.conn.close();
      }
      await app.close();
      // The closed sockets' disconnects mark their peers dropped in the store (resumable elsewhere);
      // on Redis that takes round trips, which must not meet a closed connection.
      await gateway.settled();
      await metricsServer?.close();
      // Events still queued for webhook receivers are abandoned (at-least-once holds only while
      // the instance runs).
      const events = app.get<symbol, EventSink>(EVENT_SINK);
      if (events instanceof WebhookDispatcher) events.close();
      edge.admission.close();
      edge.outbound.close();
      await core.close();
      await store.close();
      await redis?.close();
    })());

  return {
    app,
    async listen() {
      await app.listen(config.PORT, config.HOST);
      const address = app.getHttpServer().address();
      const port = typeof address === 'object' && address ? address.port : config.PORT;
      const host = config.HOST === '0.0.0.0' || config.HOST === '::' ? 'localhost' : config.HOST;
      await metricsServer?.listen();
      return `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
    },
    metricsUrl: () => metricsServer?.url(),
    instanceId,
    shutdown,
  };
}
