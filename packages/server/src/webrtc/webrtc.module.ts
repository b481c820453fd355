import { Module } from '@nestjs/common';
import { AuthThrottle } from '../auth/auth-throttle';
import { Authenticator } from '../auth/authenticator';
import { BearerAuthGuard } from '../auth/bearer-auth.guard';
import { TOKEN_VERIFIER, type TokenVerifier } from '../auth/token-verifier';
import { ConnectionAdmission, resolveMaxConnections } from '../common/connection-admission';
import { corsOrigin } from '../common/io-adapter';
import { CLOCK, type Clock } from '../common/clock';
import { APP_CONFIG, type AppConfig } from '../config/config';
import { IceCandidateBufferService } from './services/ice-candidate-buffer.service';
import { IceServerManagerService } from './services/ice-server-manager.service';
import { PeerConnectionTrackerService } from './services/peer-connection-tracker.service';
import { PeerSessionService } from './services/peer-session.service';
import { RoomRegistryService } from './services/room-registry.service';
import { SignalingStateMachineService } from './services/signaling-state-machine.service';
import { SignalingService } from './signaling.service';
import { DELIVERY_LOG, type DeliveryLog } from '../cluster/delivery-log';
import { PRESENCE, type Presence } from './presence';
import { MetricsController } from '../metrics/metrics.controller';
import { MetricsService } from '../metrics/metrics.service';
import { STATE_STORE, type StateStore } from './store/state-store';
import { WebrtcController } from './webrtc.controller';
import { WebrtcGateway } from './webrtc.gateway';
import { AdminController } from '../admin/admin.controller';
import { AdminGuard } from '../admin/admin.guard';
import { EVENT_SINK, NO_EVENTS, WebhookDispatcher, type EventSink } from '../webhooks/webhook-dispatcher';

// The services are plain classes built by factories from validated config, so tests can
// construct them directly with a fake clock and store, exactly as wired here.
@Module({
  controllers: [WebrtcController, MetricsController, AdminController],
  providers: [
    { provide: MetricsService, useFactory: () => new MetricsService() },
    {
      provide: ConnectionAdmission,
      inject: [APP_CONFIG, MetricsService],
      useFactory: (c: AppConfig, metrics: MetricsService) =>
        new ConnectionAdmission(
          {
            origins: corsOrigin(c.CORS_ORIGIN),
            maxPerIp: c.MAX_CONNECTIONS_PER_IP,
            ratePerIpPerMinute: c.CONNECTION_RATE_PER_IP,
            maxConnections: resolveMaxConnections(c.MAX_CONNECTIONS),
            trustProxy: c.TRUST_PROXY,
            blockSeconds: c.RATE_LIMIT_IP_BLOCK_SECONDS,
          },
          metrics,
        ),
    },
    {
      provide: Authenticator,
      inject: [TOKEN_VERIFIER, APP_CONFIG, MetricsService],
      useFactory: (verifier: TokenVerifier | null, c: AppConfig, metrics: MetricsService) =>
        new Authenticator(
          verifier ?? undefined,
          new AuthThrottle({ failuresPerMinute: c.AUTH_FAILURES_PER_IP, blockSeconds: c.AUTH_BLOCK_SECONDS }),
          metrics,
          { trustProxy: c.TRUST_PROXY },
        ),
    },
    BearerAuthGuard,
    AdminGuard,
    {
      provide: EVENT_SINK,
      inject: [APP_CONFIG, MetricsService],
      useFactory: (c: AppConfig, metrics: MetricsService): EventSink => {
        if (c.WEBHOOK_URLS.length === 0 || !c.WEBHOOK_SECRET) return NO_EVENTS;
        const dispatcher = new WebhookDispatcher({
          urls: c.WEBHOOK_URLS,
          secret: c.WEBHOOK_SECRET,
          maxQueue: c.WEBHOOK_QUEUE_SIZE,
          maxAttempts: c.WEBHOOK_MAX_ATTEMPTS,
          timeoutMs: c.WEBHOOK_TIMEOUT_MS,
          onOutcome: (outcome) => metrics.webhookOutcome(outcome),
        });
        c.WEBHOOK_URLS.forEach((url, i) =>
          metrics.observeSize(`webhook_queue_${i}`, () => dispatcher.queued(url)),
        );
        return dispatcher;
      },
    },
    {
      provide: IceServerManagerService,
      inject: [APP_CONFIG, CLOCK],
      useFactory: (c: AppConfig, clock: Clock) =>
        new IceServerManagerService(
          {
            stunUrls: c.STUN_URLS,
            turnUrls: c.TURN_URL,
            turnUsername: c.TURN_USERNAME,
            turnPassword: c.TURN_PASSWORD,
            turnSecret: c.TURN_SECRET,
            turnTtlSeconds: c.TURN_TTL,
          },
          clock,
        ),
    },
    {
      provide: SignalingStateMachineService,
      inject: [STATE_STORE, APP_CONFIG],
      useFactory: (store: StateStore, c: AppConfig) =>
        new SignalingStateMachineService(store, {
          windowMs: c.SIGNAL_DEDUP_WINDOW_MS,
          maxIdsPerDirection: 1024,
        }),
    },
    {
      provide: IceCandidateBufferService,
      inject: [STATE_STORE, APP_CONFIG],
      useFactory: (store: StateStore, c: AppConfig) =>
        new IceCandidateBufferService(store, {
          maxPerPair: c.MAX_BUFFERED_SIGNALS_PER_PAIR,
          holdTtlMs: c.RESUME_WINDOW_MS,
          maxSeenPerPair: 512,
          seenTtlMs: 120_000,
        }),
    },
    {
      provide: PeerConnectionTrackerService,
      inject: [STATE_STORE, CLOCK, APP_CONFIG],
      useFactory: (store: StateStore, clock: Clock, c: AppConfig) =>
        new PeerConnectionTrackerService(
          store,
          clock,
          {
            maxAttempts: c.ICE_RESTART_MAX_ATTEMPTS,
            minIntervalMs: c.ICE_RESTART_MIN_INTERVAL_MS,
            restartTimeoutMs: c.ICE_RESTART_TIMEOUT_MS,
            disconnectedTimeoutMs: c.DISCONNECTED_TIMEOUT_MS,
            recordTtlMs: 10 * 60_000,
          },
          { requestRestart: () => undefined, connectionFailed: () => undefined },
        ),
    },
    {
      provide: RoomRegistryService,
      inject: [STATE_STORE, APP_CONFIG],
      useFactory: (store: StateStore, c: AppConfig) =>
        new RoomRegistryService(store, { maxPeersPerRoom: c.MAX_PEERS_PER_ROOM }),
    },
    {
      provide: PeerSessionService,
      inject: [STATE_STORE, CLOCK, APP_CONFIG],
      useFactory: (store: StateStore, clock: Clock, c: AppConfig) =>
        new PeerSessionService(store, clock, { resumeWindowMs: c.RESUME_WINDOW_MS }),
    },
    {
      provide: SignalingService,
      inject: [
        CLOCK,
        APP_CONFIG,
        RoomRegistryService,
        PeerSessionService,
        SignalingStateMachineService,
        IceCandidateBufferService,
        PeerConnectionTrackerService,
        IceServerManagerService,
        PRESENCE,
        DELIVERY_LOG,
        EVENT_SINK,
        MetricsService,
      ],
      useFactory: (
        clock: Clock,
        c: AppConfig,
        rooms: RoomRegistryService,
        sessions: PeerSessionService,
        sm: SignalingStateMachineService,
        cb: IceCandidateBufferService,
        tracker: PeerConnectionTrackerService,
        ice: IceServerManagerService,
        presence: Presence,
        log: DeliveryLog | null,
        events: EventSink,
        metrics: MetricsService,
      ) =>
        new SignalingService(
          clock,
          { resumeWindowMs: c.RESUME_WINDOW_MS, maxRoomsPerPeer: c.MAX_ROOMS_PER_PEER },
          rooms,
          sessions,
          sm,
          cb,
          tracker,
          ice,
          presence,
          log ?? undefined,
          events,
          (outcome) => metrics.iceRestart(outcome),
        ),
    },
    WebrtcGateway,
  ],
  exports: [SignalingService, WebrtcGateway, ConnectionAdmission],
})
export class WebrtcModule {}
