import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import type { Awaitable } from '../common/awaitable';

/** What the gauges read at scrape time. */
export interface MetricSources {
  sockets: () => number;
  pendingResumes: () => number;
  storeKeys: () => Awaitable<number>;
}

/** Outcome label of an acknowledged client event. */
export type AckOutcome = 'ok' | 'duplicate' | 'queued' | string;

/**
 * Prometheus metrics. Counters are bumped by the gateway from what it sends and acknowledges, so the
 * signaling core stays free of instrumentation; gauges are read at scrape time.
 */
export class MetricsService {
  readonly registry = new Registry();
  private readonly requests: Counter<'event' | 'outcome'>;
  private readonly sent: Counter<'event'>;
  // Label children cached per (event, outcome): prom-client's label lookup hashes on every call.
  private readonly requestChildren = new Map<string, Map<string, { inc(): void }>>();
  private readonly sentChildren = new Map<string, { inc(): void }>();

  private sources: MetricSources = { sockets: () => 0, pendingResumes: () => 0, storeKeys: () => 0 };

  constructor() {
    const gauges = (): MetricSources => this.sources;
    collectDefaultMetrics({ register: this.registry, prefix: 'switchboard_' });
    this.requests = new Counter({
      name: 'switchboard_client_events_total',
      help: 'Client events handled, by event and outcome (ok, duplicate, queued, or an error code)',
      labelNames: ['event', 'outcome'],
      registers: [this.registry],
    });
    this.sent = new Counter({
      name: 'switchboard_server_events_total',
      help: 'Events emitted to peers and rooms, by event (offer, iceCandidate, iceRestartRequired, ...)',
      labelNames: ['event'],
      registers: [this.registry],
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
    new Gauge({
      name: 'switchboard_state_keys',
      help: 'Keys held by the state store (rooms, sessions, pair contexts, buffers)',
      registers: [this.registry],
      async collect() {
        this.set(await gauges().storeKeys());
      },
    });
  }

  /** Where the gauges read from; set once the parts they read are up. */
  observe(sources: MetricSources): void {
    this.sources = sources;
  }

  /** Counts one acknowledged client event. */
  handled(event: string, outcome: AckOutcome): void {
    let byOutcome = this.requestChildren.get(event);
    if (!byOutcome) {
      byOutcome = new Map();
      this.requestChildren.set(event, byOutcome);
    }
    let child = byOutcome.get(outcome);
    if (!child) {
      child = this.requests.labels(event, outcome);
      byOutcome.set(outcome, child);
    }
    child.inc();
  }

  /** Counts one event emitted by the server. */
  emitted(event: string): void {
    let child = this.sentChildren.get(event);
    if (!child) {
      child = this.sent.labels(event);
      this.sentChildren.set(event, child);
    }
    child.inc();
  }
}
