import { Global, Module, type DynamicModule } from '@nestjs/common';
import { LoggerModule } from 'nestjs-pino';
import type { IncomingMessage } from 'node:http';
import { TOKEN_VERIFIER, type TokenVerifier } from './auth/token-verifier';
import { CLOCK, type Clock } from './common/clock';
import { APP_CONFIG, type AppConfig } from './config/config';
import { HealthController } from './health/health.controller';
import { STATE_STORE, type StateStore } from './webrtc/store/state-store';
import { DELIVERY_LOG, type DeliveryLog } from './cluster/delivery-log';
import { LocalPresence, PRESENCE, type Presence } from './webrtc/presence';
import { ALWAYS_AVAILABLE, STORE_HEALTH, type StoreHealth } from './common/store-health';
import { WebrtcModule } from './webrtc/webrtc.module';

/** What the application is built from; tests pass a fake clock or their own store. */
export interface AppDependencies {
  config: AppConfig;
  clock: Clock;
  store: StateStore;
  /** Verifies client tokens; undefined when authentication is off. */
  tokenVerifier?: TokenVerifier;
  /** The delivery log (shared state); undefined on one instance. */
  deliveryLog?: DeliveryLog;
  /** Presence and resume expiry; default timers on `clock` (one instance). */
  presence?: Presence;
  /** Whether the shared state is reachable; default always (in memory). */
  storeHealth?: StoreHealth;
}

@Global()
@Module({})
class CoreModule {
  static register(deps: AppDependencies): DynamicModule {
    return {
      module: CoreModule,
      providers: [
        { provide: APP_CONFIG, useValue: deps.config },
        { provide: CLOCK, useValue: deps.clock },
        { provide: STATE_STORE, useValue: deps.store },
        // null, not undefined: Nest does not take undefined as a value.
        { provide: TOKEN_VERIFIER, useValue: deps.tokenVerifier ?? null },
        { provide: DELIVERY_LOG, useValue: deps.deliveryLog ?? null },
        { provide: PRESENCE, useValue: deps.presence ?? new LocalPresence(deps.clock) },
        { provide: STORE_HEALTH, useValue: deps.storeHealth ?? ALWAYS_AVAILABLE },
      ],
      exports: [APP_CONFIG, CLOCK, STATE_STORE, TOKEN_VERIFIER, DELIVERY_LOG, PRESENCE, STORE_HEALTH],
    };
  }
}

@Module({})
export class AppModule {
  static register(deps: AppDependencies): DynamicModule {
    return {
      module: AppModule,
      imports: [
        CoreModule.register(deps),
        LoggerModule.forRoot({
          pinoHttp: {
            level: deps.config.LOG_LEVEL,
            autoLogging: { ignore: (req: IncomingMessage) => req.url === '/health' || req.url === '/ready' },
          },
        }),
        WebrtcModule,
      ],
      controllers: [HealthController],
    };
  }
}
