import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { AdapterTraffic } from '../cluster/cluster-adapter';
import type { Awaitable } from '../common/awaitable';
import type { IceRestartOutcome } from '../webrtc/signaling.service';

/** What the gauges read at scrape time. */
export interface MetricSources {
  sockets: () => number;
  pendingResumes: () => number;
  storeKeys: () => Awaitable<number>;
}

/** Which instance this is and how it shares state; exported as `switchboard_instance_info`. */
export interface InstanceInfo {
  /** Unique per process: `<hostname>:<pid>:<random>`. */
  instanceId: string;
  /** `memory` (one instance) or `redis` (REDIS_URL). */
  stateStore: 'memory' | 'redis';
  /** The Socket.IO adapter: `recovery` (connection state recovery), `memory`, or `redis-sharded`. */
  adapter: 'recovery' | 'memory' | 'redis-sharded';
}

/** Outcome label of an acknowledged client event. */
export type AckOutcome = 'ok' | 'duplicate' | 'queued' | string;

/**
 * Prometheus metrics. Counters are bumped by the gateway from what it sends and acknowledges, so the
 * signaling core stays free of instrumentation; gauges are read at scrape time.
 */
export class MetricsService implements AdapterTraffic {
  readonly registry = new Registry();
  private readonly requests: Counter<'event' | 'outcome'>;
  private readonly sent: Counter<'event'>;
  /**
   * Counts since the last scrape, in plain numbers: the gateway bumps two counters per relayed
   * signal, and prom-client's `inc()` validates and hashes labels each time. They are handed to
   * prom-client when it collects, so a scrape reads the same totals.
   */
  private readonly requestCounts = new Map<string, Map<string, Tally>>();
  private readonly sentCounts = new Map<string, Tally>();

  /** Where `switchboard_deferred_events_total` reads from, and what it has reported so far. */
  private readonly deferred = { source: (): number => 0, reported: 0 };
  private sources: MetricSources = { sockets: () => 0, pendingResumes: () => 0, storeKeys: () => 0 };
  private readonly refusals: Counter<'reason'>;
  private readonly forced: Counter<'reason'>;
  private readonly limited: Counter<'limit'>;
  private readonly authFailures: Counter<'reason'>;
  private readonly webhooks: Counter<'outcome'>;
  private readonly callSetup: Histogram;
  private readonly callPairs: Counter<'local' | 'remote' | 'protocol'>;
  private readonly callFailures: Counter<'reason'>;
  private readonly callRtt: Histogram;
  private readonly iceRestarts: Counter;
  private readonly sizes = new Map<string, () => number>();
  private readonly info: Gauge<'instance_id' | 'state_store' | 'adapter'>;
  /** Adapter messages since the last scrape (one per relayed signal on Redis: kept as plain numbers, like the tallies). */
  private readonly adapterCounts = { published: new Tally(), self: new Tally(), other: new Tally() };

  constructor() {
    const gauges = (): MetricSources => this.sources;
    collectDefaultMetrics({ register: this.registry, prefix: 'switchboard_' });
    const requestCounts = this.requestCounts;
    const sentCounts = this.sentCounts;
    this.requests = new Counter({
      name: 'switchboard_client_events_total',
      help: 'Client events handled, by event and outcome (ok, duplicate, queued, or an error code)',
      labelNames: ['event', 'outcome'],
      registers: [this.registry],
      collect() {
        for (const [event, byOutcome] of requestCounts)
          for (const [outcome, tally] of byOutcome) tally.flushTo(this.labels(event, outcome));
      },
    });
    this.sent = new Counter({
      name: 'switchboard_server_events_total',
      help: 'Events emitted to peers and rooms, by event (offer, iceCandidate, iceRestartRequired, ...)',
      labelNames: ['event'],
      registers: [this.registry],
      collect() {
        for (const [event, tally] of sentCounts) tally.flushTo(this.labels(event));
      },
    });
    new Gauge({
      name: 'switchboard_connected_sockets',
      help: 'Sockets connected to the /webrtc namespace',
      registers: [this.registry],
      collect() {
        this.set(gauges().sockets());
      },
    });
    new Gauge({
      name: 'switchboard_dropped_peers',
      help: 'Peers whose connection dropped and that are within their resume window',
      registers: [this.registry],
      collect() {
        this.set(gauges().pendingResumes());
      },
    });
    this.refusals = new Counter({
      name: 'switchboard_connections_refused_total',
      help: 'Socket.IO connections refused at the handshake, by reason (origin, ip_limit, ip_rate, capacity)',
      labelNames: ['reason'],
      registers: [this.registry],
    });
    this.forced = new Counter({
      name: 'switchboard_forced_disconnects_total',
      help: 'Connections the server closed on its own, by reason (slow_consumer, stalled, rate_limited, token_expired, session_replaced)',
      labelNames: ['reason'],
      registers: [this.registry],
    });
    this.limited = new Counter({
      name: 'switchboard_rate_limited_total',
      help: 'Requests refused by a rate limit, by limit (signal, join, state_report, ice_servers)',
      labelNames: ['limit'],
      registers: [this.registry],
    });
    this.authFailures = new Counter({
      name: 'switchboard_auth_failures_total',
      help: 'Failed authentications (handshake, refreshToken, GET /webrtc/ice-servers), by reason (missing, invalid, expired, not_yet_valid, forbidden, blocked, key_unavailable)',
      labelNames: ['reason'],
      registers: [this.registry],
    });
    this.webhooks = new Counter({
      name: 'switchboard_webhook_deliveries_total',
      help: 'Webhook delivery attempts by outcome: delivered (2xx), retried (failed, will retry), failed (given up after WEBHOOK_MAX_ATTEMPTS), dropped (queue overflow, oldest first)',
      labelNames: ['outcome'],
      registers: [this.registry],
    });
    this.callSetup = new Histogram({
      name: 'switchboard_call_setup_seconds',
      help: 'Time from the first offer to connected, as the SDK measured it (callQuality reports)',
      buckets: [0.1, 0.25, 0.5, 1, 2, 3, 5, 10, 20, 60],
      registers: [this.registry],
    });
    this.callPairs = new Counter({
      name: 'switchboard_call_pairs_total',
      help: 'Connected links by selected candidate pair: local and remote candidate type (host, srflx, prflx, relay) and protocol (udp, tcp, tls)',
      labelNames: ['local', 'remote', 'protocol'],
      registers: [this.registry],
    });
    this.callFailures = new Counter({
      name: 'switchboard_call_failures_total',
      help: 'Links that failed, by reason reported by the SDK (ice-restart-exhausted, ice-gathering-failed, turn-refused, negotiation-failed)',
      labelNames: ['reason'],
      registers: [this.registry],
    });
    this.iceRestarts = new Counter({
      name: 'switchboard_ice_restarts_total',
      help: 'ICE restarts the server orchestrated, by outcome: requested (one per request to a peer), recovered (a pair connected again after at least one request), exhausted (ICE_RESTART_MAX_ATTEMPTS used up: connectionFailed)',
      labelNames: ['outcome'],
      registers: [this.registry],
    });
    this.callRtt = new Histogram({
      name: 'switchboard_call_rtt_seconds',
      help: "Selected candidate pair's round-trip time when the link connected",
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.4, 1],
      registers: [this.registry],
    });
    const sizes = this.sizes;
    new Gauge({
      name: 'switchboard_internal_entries',
      help: 'Entries in an internal collection (timers, per-IP counters, tracked connections); each returns to its idle value',
      labelNames: ['collection'],
      registers: [this.registry],
      collect() {
        for (const [collection, size] of sizes) this.set({ collection }, size());
      },
    });
    this.info = new Gauge({
      name: 'switchboard_instance_info',
      help: 'Always 1; its labels say which instance this is (instance_id) and how it shares state (state_store, adapter)',
      labelNames: ['instance_id', 'state_store', 'adapter'],
      registers: [this.registry],
    });
    const adapterCounts = this.adapterCounts;
    new Counter({
      name: 'switchboard_adapter_messages_published_total',
      help: "Messages this instance published to Redis for the other instances' Socket.IO adapters (emits to rooms, room changes, relayed signals); 0 without REDIS_URL",
      registers: [this.registry],
      collect() {
        adapterCounts.published.flushTo(this);
      },
    });
    new Counter({
      name: 'switchboard_adapter_messages_received_total',
      help: "Messages Redis delivered to this instance's Socket.IO adapter, by origin: other (another instance's, acted on) or self (its own, echoed back and dropped)",
      labelNames: ['origin'],
      registers: [this.registry],
      collect() {
        adapterCounts.other.flushTo(this.labels('other'));
        adapterCounts.self.flushTo(this.labels('self'));
      },
    });
    const deferred = this.deferred;
    new Counter({
      name: 'switchboard_deferred_events_total',
      help: 'Client events handled in turns because the server was busy (not urgent, see docs/performance.md "New calls first when busy")',
      registers: [this.registry],
      collect() {
        const total = deferred.source();
        this.inc(total - deferred.reported);
        deferred.reported = total;
      },
    });
    new Gauge({
      name: 'switchboard_state_keys',
      help: 'Keys held by the state store (rooms, sessions, pair contexts, buffers)',
      registers: [this.registry],
      async collect() {
        this.set(await gauges().storeKeys());
      },
    });
  }

  /** Counts a connection refused before it was established (`origin`, `ip_limit`, `ip_rate`, `capacity`). */
  refused(reason: string): void {
    this.refusals.inc({ reason });
  }

  /** Counts a connection the server closed on its own (`slow_consumer`, `stalled`, `rate_limited`, `token_expired`, `session_replaced`). */
  forcedDisconnect(reason: string): void {
    this.forced.inc({ reason });
  }

  /** Counts a request refused by a rate limit (`signal`, `join`, `state_report`, `ice_servers`). */
  rateLimited(limit: string): void {
    this.limited.inc({ limit });
  }

  /** Counts a failed authentication (`missing`, `invalid`, `expired`, `not_yet_valid`, `forbidden`, `blocked`, `key_unavailable`). */
  /** One callQuality report (validated): a connected link's figures, or a failure. */
  callQuality(report: {
    setupMs?: number;
    localCandidateType?: string;
    remoteCandidateType?: string;
    protocol?: string;
    rttMs?: number;
    failure?: string;
  }): void {
    if (report.failure) {
      this.callFailures.inc({ reason: report.failure });
      return;
    }
    if (report.setupMs !== undefined) this.callSetup.observe(report.setupMs / 1000);
    if (report.rttMs !== undefined) this.callRtt.observe(report.rttMs / 1000);
    if (report.localCandidateType && report.remoteCandidateType)
      this.callPairs.inc({
        local: report.localCandidateType,
        remote: report.remoteCandidateType,
        protocol: report.protocol ?? 'udp',
      });
  }

  /** Counts an orchestrated ICE restart's step: a request, a recovery after requests, or giving up. */
  iceRestart(outcome: IceRestartOutcome): void {
    this.iceRestarts.inc({ outcome });
  }

  webhookOutcome(outcome: 'delivered' | 'retried' | 'dropped' | 'failed'): void {
    this.webhooks.inc({ outcome });
  }

  authFailed(reason: string): void {
    this.authFailures.inc({ reason });
  }

  /**
   * Exposes the size of an internal collection as `switchboard_internal_entries{collection}`, read at
   * scrape time; leak tests and operators watch these return to their idle values.
   */
  observeSize(collection: string, size: () => number): void {
    this.sizes.set(collection, size);
  }

  /** Where `switchboard_deferred_events_total` reads its running total from. */
  observeDeferred(total: () => number): void {
    this.deferred.source = total;
  }

  /** Where the gauges read from; set once the parts they read are up. */
  observe(sources: MetricSources): void {
    this.sources = sources;
  }

  /** Says which instance this is (`switchboard_instance_info`). */
  describeInstance(info: InstanceInfo): void {
    this.info.reset();
    this.info.set({ instance_id: info.instanceId, state_store: info.stateStore, adapter: info.adapter }, 1);
  }

  /** Counts one message the Socket.IO adapter published to Redis. */
  adapterPublished(): void {
    this.adapterCounts.published.n++;
  }

  /** Counts one message Redis delivered to the Socket.IO adapter. */
  adapterReceived(origin: 'self' | 'other'): void {
    this.adapterCounts[origin].n++;
  }

  /** Counts one acknowledged client event. */
  handled(event: string, outcome: AckOutcome): void {
    let byOutcome = this.requestCounts.get(event);
    if (!byOutcome) {
      byOutcome = new Map();
      this.requestCounts.set(event, byOutcome);
    }
    let tally = byOutcome.get(outcome);
    if (!tally) {
      tally = new Tally();
      byOutcome.set(outcome, tally);
    }
    tally.n++;
  }

  /** Counts one event emitted by the server. */
  emitted(event: string): void {
    let tally = this.sentCounts.get(event);
    if (!tally) {
      tally = new Tally();
      this.sentCounts.set(event, tally);
    }
    tally.n++;
  }
}

/** A count not yet handed to prom-client. */
class Tally {
  n = 0;

  flushTo(counter: { inc(value: number): void }): void {
    // inc(0) still creates the series, so a label pair seen once is exported from then on.
    counter.inc(this.n);
    this.n = 0;
  }
}
