import { randomUUID } from 'node:crypto';
import { Webhook } from 'standardwebhooks';

/** The events Switchboard sends to webhook receivers. */
export type WebhookEventType =
  | 'room.started'
  | 'room.finished'
  | 'peer.joined'
  | 'peer.left'
  | 'peer.resumed'
  | 'call.connected'
  | 'call.failed'
  | 'ice.restart_requested';

/** Where the signaling core reports what happened (a no-op without webhooks). */
export interface EventSink {
  emit(type: WebhookEventType, data: Record<string, unknown>): void;
}

export const NO_EVENTS: EventSink = { emit: () => undefined };

/** Nest injection token of the {@link EventSink}. */
export const EVENT_SINK = Symbol('EVENT_SINK');

export interface WebhookDispatcherOptions {
  /** Receivers, each with its own queue. */
  urls: readonly string[];
  /** Standard Webhooks secret, `whsec_<base64>`. */
  secret: string;
  /** Events waiting per receiver (besides the one being delivered); beyond, the oldest is dropped (counted). Default 1000. */
  maxQueue?: number;
  /** Deliveries of one event before it is given up (counted). Default 10. */
  maxAttempts?: number;
  /** First retry delay, ms; doubled each attempt up to `maxDelayMs`. Default 500. */
  baseDelayMs?: number;
  /** Longest retry delay, ms. Default 30000. */
  maxDelayMs?: number;
  /** A delivery attempt not answered in this long fails, ms. Default 5000. */
  timeoutMs?: number;
  /** Told each delivery's outcome, for metrics. */
  onOutcome?: (outcome: 'delivered' | 'retried' | 'dropped' | 'failed') => void;
  /** Told a receiver's queue length after it changes, for metrics. */
  onQueue?: (url: string, length: number) => void;
}

interface Pending {
  id: string;
  body: string;
  attempts: number;
}

/**
 * Sends events to webhook receivers per the Standard Webhooks convention (`webhook-id`,
 * `webhook-timestamp`, `webhook-signature` headers; HMAC-SHA256 with the `whsec_` secret, by the
 * `standardwebhooks` package; body `{ type, timestamp, data }`), so receivers verify with the
 * existing libraries. Each receiver has one bounded queue delivered in order, one event at a time:
 * events of one room (of any room) arrive in the order they happened; a failed delivery is retried
 * with exponential backoff before the next is sent (at least once: a receiver that answered 2xx
 * too late may get an event twice; its `webhook-id` tells). A slow or dead receiver only holds up
 * its own queue: the signaling path just appends to it.
 */
export class WebhookDispatcher implements EventSink {
  private readonly webhook: Webhook;
  private readonly queues = new Map<string, Pending[]>();
  private readonly busy = new Set<string>();
  private readonly timers = new Set<ReturnType<typeof setTimeout>>();
  private readonly inFlight = new Set<AbortController>();
  private closed = false;
  private readonly maxQueue: number;
  private readonly maxAttempts: number;
  private readonly baseDelayMs: number;
  private readonly maxDelayMs: number;
  private readonly timeoutMs: number;

  constructor(private readonly options: WebhookDispatcherOptions) {
    this.webhook = new Webhook(options.secret);
    this.maxQueue = options.maxQueue ?? 1000;
    this.maxAttempts = options.maxAttempts ?? 10;
    this.baseDelayMs = options.baseDelayMs ?? 500;
    this.maxDelayMs = options.maxDelayMs ?? 30_000;
    this.timeoutMs = options.timeoutMs ?? 5000;
    for (const url of options.urls) this.queues.set(url, []);
  }

  emit(type: WebhookEventType, data: Record<string, unknown>): void {
    if (this.closed) return;
    const timestamp = new Date();
    const body = JSON.stringify({ type, timestamp: timestamp.toISOString(), data });
    for (const [url, queue] of this.queues) {
      // One id per event and receiver: each receiver de-duplicates its own retries by it.
      queue.push({ id: `msg_${randomUUID()}`, body, attempts: 0 });
      // The head is being delivered while its receiver is busy: the oldest *waiting* one goes.
      const inFlight = this.busy.has(url) ? 1 : 0;
      if (queue.length - inFlight > this.maxQueue) {
        queue.splice(inFlight, 1);
        this.options.onOutcome?.('dropped');
      }
      this.options.onQueue?.(url, queue.length);
      void this.drain(url);
    }
  }

  /** Events waiting for `url` (for tests and metrics). */
  queued(url: string): number {
    return this.queues.get(url)?.length ?? 0;
  }

  /** Stops delivering: pending retries and requests are abandoned. Safe to call twice. */
  close(): void {
    this.closed = true;
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    for (const c of this.inFlight) c.abort();
  }

  private async drain(url: string): Promise<void> {
    if (this.busy.has(url) || this.closed) return;
    const queue = this.queues.get(url)!;
    this.busy.add(url);
    try {
      while (queue.length > 0 && !this.closed) {
        const event = queue[0]!;
        event.attempts += 1;
        if (await this.deliver(url, event)) {
          this.options.onOutcome?.('delivered');
        } else if (event.attempts >= this.maxAttempts) {
          this.options.onOutcome?.('failed');
        } else {
          this.options.onOutcome?.('retried');
          const delay = Math.min(this.maxDelayMs, this.baseDelayMs * 2 ** (event.attempts - 1));
          await new Promise<void>((resolve) => {
            const t = setTimeout(() => {
              this.timers.delete(t);
              resolve();
            }, delay);
            t.unref();
            this.timers.add(t);
          });
          continue;
        }
        // Delivered or given up: the next one. (It may have been dropped by overflow meanwhile.)
        if (queue[0] === event) queue.shift();
        this.options.onQueue?.(url, queue.length);
      }
    } finally {
      this.busy.delete(url);
    }
  }

  private async deliver(url: string, event: Pending): Promise<boolean> {
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), this.timeoutMs);
    this.inFlight.add(controller);
    // Signed at each attempt: receivers refuse a signature timestamp more than 5 minutes off, and a
    // retried event can be older than that (the event's own time is in the body).
    const signedAt = new Date();
    try {
      const res = await fetch(url, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'webhook-id': event.id,
          'webhook-timestamp': String(Math.floor(signedAt.getTime() / 1000)),
          'webhook-signature': this.webhook.sign(event.id, signedAt, event.body),
        },
        body: event.body,
        signal: controller.signal,
        redirect: 'manual',
      });
      await res.arrayBuffer().catch(() => undefined);
      return res.status >= 200 && res.status < 300;
    } catch {
      return false;
    } finally {
      clearTimeout(timer);
      this.inFlight.delete(controller);
    }
  }
}
