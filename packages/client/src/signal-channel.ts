import { io, type Socket } from 'socket.io-client';
import type {
  ClientToServerEvents,
  HandshakeAuth,
  IceCandidateMessage,
  IceCandidateRequest,
  IceCandidatesMessage,
  IceCandidatesRequest,
  ResumeFailedEvent,
  ResumedEvent,
  Result,
  SdpSignalMessage,
  SdpSignalRequest,
  ServerToClientEvents,
  SignalAckEvent,
  SignalResponse,
} from '@switchboard/protocol';
import { ErrorCode, TokenBucket, type WireError } from '@switchboard/protocol';
import { SwitchboardError } from './errors.js';
import { InboundSequencer } from './inbound-sequencer.js';
import type { Logger } from './logger.js';
import type { ReconnectPolicy } from './reconnect-policy.js';

/** RATE_LIMITED answers a signal may get before it fails (each waits the server's `retryAfterMs`). */
const MAX_RATE_LIMITED_RETRIES = 20;

/** The Socket.IO client socket of the protocol, events typed in both directions. */
type SignalSocket = Socket<ServerToClientEvents, ClientToServerEvents>;

/**
 * Server events about rooms, handed to the owner as they arrive (`SignalChannel.onRoomEvent`). The
 * channel handles the session and signal events itself.
 */
export type RoomEvent =
  | 'peerJoined'
  | 'peerLeft'
  | 'iceRestartRequired'
  | 'connectionFailed'
  | 'roomClosed'
  | 'serverMessage'
  | 'disconnectReason';

/**
 * Signals relayed to one peer: sent at least once, in order, kept across reconnects. `iceCandidates`
 * is a batch of candidates in one message (see CandidateBatcher).
 */
export type SignalEvent = 'offer' | 'answer' | 'iceCandidate' | 'iceCandidates';
type SignalPayload<E extends SignalEvent> = E extends 'iceCandidate'
  ? IceCandidateRequest
  : E extends 'iceCandidates'
    ? IceCandidatesRequest
    : SdpSignalRequest;
/** A signal as the server relays it. */
export type SignalMessage<E extends SignalEvent> = E extends 'iceCandidate'
  ? IceCandidateMessage
  : E extends 'iceCandidates'
    ? IceCandidatesMessage
    : SdpSignalMessage;

/** An offer or answer (as opposed to candidates, single or batched). */
function isDescription(event: SignalEvent): boolean {
  return event === 'offer' || event === 'answer';
}

/** Requests that are only meaningful on the current connection (not queued across reconnects). */
export type RequestEvent = 'joinRoom' | 'leaveRoom' | 'connectionState' | 'callQuality' | 'refreshToken';

/** The acknowledgement an event's callback receives. */
export type AckOf<E extends keyof ClientToServerEvents> = Parameters<
  Parameters<ClientToServerEvents[E]>[1]
>[0];

/** How the session stood once a (re)connection completed. */
export type SessionOutcome =
  /** First connection, or a reconnection without a resume token: the client must join. */
  | { kind: 'fresh' }
  /** Socket.IO restored the session (same peer id, missed packets replayed). */
  | { kind: 'recovered' }
  /** The server accepted the resume token (same peer id). */
  | { kind: 'resumed'; event: ResumedEvent }
  /** The server refused the token (or never answered it): the client must rejoin with a new peer id. */
  | { kind: 'resume-failed'; error: ResumeFailedEvent['error'] };

export interface SignalChannelOptions {
  /** Server origin, e.g. `https://example.com`. */
  url: string;
  namespace: string;
  ackTimeoutMs: number;
  maxSendAttempts: number;
  connectTimeoutMs: number;
  resumeTimeoutMs: number;
  reconnectPolicy: () => ReconnectPolicy;
  resumeWindowMs?: number;
  /**
   * The access token to present in the handshake (`auth.token`), asked for before every connection
   * attempt so that it is always the latest. A rejection counts as a failed attempt (retried by the
   * policy). None: no token is sent.
   */
  authToken?: () => Promise<string | undefined>;
  /** The server's signal rate limit (`GET /webrtc/config`): signals are paced to stay within it. */
  signalRate?: { perSecond: number; burst: number };
  logger: Logger;
}

export interface SignalChannelHooks {
  /** A connection is usable; `outcome` says whether the old session survived. */
  onReady(outcome: SessionOutcome): void;
  /** The connection was lost (not by `close()`): the channel reconnects on its own. */
  onLost(reason: string): void;
  /** The next attempt is scheduled. */
  onRetryScheduled(info: { attempt: number; delayMs: number; reason: string }): void;
  /** The reconnect policy gave up. */
  onGiveUp(reason: string): void;
  /** A `resumed` event outside a handshake (after a Socket.IO recovery): new token and the room's peers. */
  onResumedLater(event: ResumedEvent): void;
  /** A queued signal failed for good. */
  onSignalFailed(error: SwitchboardError, to: string, event: SignalEvent): void;
  /**
   * The server refused the handshake's token (`connect_error` UNAUTHORIZED). Return true to try
   * again (after the policy's delay, with whatever `authToken` gives next), false to stop
   * connecting (`open()` starts again). Without this hook the policy decides, as for any error.
   */
  onUnauthorized?(error: Error): boolean;
}

interface OutboxEntry {
  event: SignalEvent;
  payload: SdpSignalRequest | IceCandidateRequest | IceCandidatesRequest;
  to: string;
  messageId: string;
  /** Transmissions so far; an ack callback of an older transmission is stale. */
  transmissions: number;
  /** Times the server answered RATE_LIMITED (each retried after its `retryAfterMs`). */
  rateLimited: number;
  /** Not transmitted again before this time (epoch ms): waiting out a BUFFER_FULL or RATE_LIMITED. */
  notBefore: number;
  /** Ack timeouts while connected (disconnections do not count). */
  timeouts: number;
  inFlight: boolean;
  resolve: (response: SignalResponse) => void;
  reject: (error: SwitchboardError) => void;
}

interface Attempt {
  sentToken: boolean;
  connected: boolean;
  finished: boolean;
  early?: SessionOutcome;
  resumeTimer?: ReturnType<typeof setTimeout>;
}

/**
 * The signaling transport: one Socket.IO socket on the protocol namespace (WebSocket only),
 * its reconnect loop driven by a {@link ReconnectPolicy}, session resume (Socket.IO recovery,
 * else the resume token), and an outbox that delivers signals at least once and in order.
 * It knows nothing about rooms or peer connections: room events go to whoever subscribed with
 * `onRoomEvent`, and the socket itself stays inside.
 */
export class SignalChannel {
  private readonly socket: SignalSocket;
  private resumeToken: string | null = null;
  private ready = false;
  private closed = false;
  private attempt: Attempt | null = null;
  private retryCount = 0;
  private lostAt = 0;
  private lastReason = '';
  private serverHintMs: number | undefined;
  private retryTimer: ReturnType<typeof setTimeout> | undefined;
  /** Bumped by every connection attempt, so that a token that arrives late opens nothing. */
  private connectGeneration = 0;
  /** The code of the last `disconnectReason` the server sent, until the disconnect it announced. */
  private serverReason: string | undefined;
  /** Paces signals to the server's published `signalRate`; none when it publishes no limit. */
  private readonly pacer: TokenBucket | undefined;
  private paceTimer: ReturnType<typeof setTimeout> | undefined;
  private outbox: OutboxEntry[] = [];
  /** Incoming signals in the server's order, each once (see InboundSequencer). */
  private readonly inbound: InboundSequencer;

  constructor(
    private readonly options: SignalChannelOptions,
    private readonly hooks: SignalChannelHooks,
  ) {
    // Half the burst and a tenth of the rate are kept in hand: network and event-loop jitter bunch
    // signals sent at an even pace, and the server judges them by when it reads them. With only a
    // tenth of the burst in hand, a busy machine got this client cut off for exceeding the limit.
    const rate = options.signalRate;
    this.pacer =
      rate && rate.perSecond > 0
        ? new TokenBucket(Math.max(1, Math.floor(rate.burst / 2)), rate.perSecond * 0.9, Date.now())
        : undefined;
    this.socket = io(options.url + options.namespace, {
      transports: ['websocket'],
      autoConnect: false,
      // The channel runs its own reconnect loop so that the policy object decides the delays.
      reconnection: false,
      timeout: options.connectTimeoutMs,
    });
    this.inbound = new InboundSequencer(1000, 256, (from, to) =>
      options.logger.warn(`signals ${from}-${to} never arrived; going on without them`),
    );
    this.socket.on('connect', () => this.onConnect());
    this.socket.on('disconnect', (reason) => this.onDisconnect(reason));
    this.socket.on('connect_error', (error) => this.onConnectError(error));
    this.socket.on('resumed', (event) => this.onResumed(event));
    this.socket.on('resumeFailed', (event) => this.onResumeFailed(event));
    this.socket.on('serverShutdown', (event) => {
      this.serverHintMs = event.reconnectAfterMs;
      this.options.logger.info(`server is shutting down; reconnecting after ${event.reconnectAfterMs} ms`);
    });
    this.socket.on('signalAck', (event) => this.onSignalAck(event));
    // The server is about to cut this connection off (e.g. RATE_LIMITED): say why in the lost reason.
    this.socket.on('disconnectReason', (event) => {
      this.options.logger.warn(`server is disconnecting this client: ${event.code} (${event.message})`);
      this.serverReason = event.code;
    });
  }

  /**
   * Subscribes to a relayed signal. Each is handed over once and in the order the server sent it,
   * across resumes (where the server replays what the connection lost).
   */
  onSignal<E extends SignalEvent>(event: E, handler: (message: SignalMessage<E>) => void): void {
    const listener = (message: SignalMessage<E>) => this.inbound.accept(message.seq, () => handler(message));
    this.socket.on(event, listener as never);
  }

  /** Subscribes to a server event about rooms (see {@link RoomEvent}). */
  onRoomEvent<E extends RoomEvent>(event: E, listener: ServerToClientEvents[E]): void {
    // Socket.IO's overloads cannot be picked from a generic event name; the listener type is checked above.
    this.socket.on(event, listener as never);
  }

  /** True while the socket is connected (the session may still be settling; see `isReady`). */
  get isConnected(): boolean {
    return this.socket.connected;
  }

  /**
   * Drops the current connection as if the network had: the channel reconnects (and resumes) on its
   * own. For a request the server did not answer, or refused as shutting down.
   */
  dropConnection(): void {
    this.socket.io.engine?.close();
  }

  /** True while connected and the session is settled: signals go out at once. */
  get isReady(): boolean {
    return this.ready && this.socket.connected;
  }

  /** Opens the first connection. */
  open(): void {
    this.lostAt = Date.now();
    this.retryCount = 0;
    this.connectNow();
  }

  /** Stores the token that the next reconnection presents (from the join ack or `resumed`). */
  setResumeToken(token: string | null): void {
    this.resumeToken = token;
  }

  /**
   * Sends a signal to a peer: queued while the socket is down, retried on ack timeout, flushed in
   * order after a resume. Resolves with the server's acknowledgement.
   */
  send<E extends SignalEvent>(
    event: E,
    payload: SignalPayload<E> & { messageId: string },
  ): Promise<SignalResponse> {
    if (this.closed) return Promise.reject(SwitchboardError.closed());
    return new Promise((resolve, reject) => {
      const entry: OutboxEntry = {
        event,
        payload,
        to: payload.to,
        messageId: payload.messageId,
        transmissions: 0,
        timeouts: 0,
        rateLimited: 0,
        notBefore: 0,
        inFlight: false,
        resolve,
        reject,
      };
      this.outbox.push(entry);
      this.flush();
    });
  }

  /** Sends a request on the current connection and waits for its ack (retried on timeout while connected). */
  async request<E extends RequestEvent>(
    event: E,
    payload: Parameters<ClientToServerEvents[E]>[0],
    attempts = this.options.maxSendAttempts,
  ): Promise<AckOf<E>> {
    for (let i = 1; ; i++) {
      if (this.closed) throw SwitchboardError.closed();
      if (!this.socket.connected) throw new Error(`cannot send ${event}: not connected`);
      try {
        // The typed overloads cannot be picked from a union event name; the payload type is checked above.
        const emitter = this.socket.timeout(this.options.ackTimeoutMs) as unknown as {
          emitWithAck(event: string, payload: unknown): Promise<AckOf<E>>;
        };
        return await emitter.emitWithAck(event, payload);
      } catch (error) {
        if (i >= attempts || !this.socket.connected) throw error;
        this.options.logger.debug(`${event} not acknowledged; retrying (${i}/${attempts})`);
      }
    }
  }

  /** Forgets queued signals (after a rejoin under a new peer id they would come from a stranger). */
  clearOutbox(): void {
    const dropped = this.outbox;
    this.outbox = [];
    for (const entry of dropped) entry.resolve({ duplicate: false });
  }

  /** Forgets queued signals to one peer (it left). */
  dropSignalsTo(peerId: string): void {
    const keep: OutboxEntry[] = [];
    for (const entry of this.outbox) {
      if (entry.to === peerId) entry.resolve({ duplicate: false });
      else keep.push(entry);
    }
    this.outbox = keep;
  }

  /** Number of signals not yet acknowledged. */
  get pendingSignals(): number {
    return this.outbox.length;
  }

  /** Closes the socket for good; safe to call twice. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.ready = false;
    clearTimeout(this.retryTimer);
    clearTimeout(this.paceTimer);
    if (this.attempt) clearTimeout(this.attempt.resumeTimer);
    this.outbox = [];
    this.inbound.reset();
    this.socket.disconnect();
  }

  // ---- connection lifecycle ----

  private connectNow(): void {
    if (this.closed) return;
    const generation = ++this.connectGeneration;
    const getToken = this.options.authToken;
    if (!getToken) return this.openSocket(undefined);
    getToken().then(
      (token) => {
        if (!this.closed && generation === this.connectGeneration) this.openSocket(token);
      },
      (error: unknown) => {
        if (this.closed || generation !== this.connectGeneration) return;
        const text = error instanceof Error ? error.message : String(error);
        this.options.logger.warn(`no access token for the connection: ${text}`);
        this.scheduleRetry(`getToken failed: ${text}`);
      },
    );
  }

  private openSocket(token: string | undefined): void {
    const auth: HandshakeAuth = {};
    if (token) auth.token = token;
    if (this.resumeToken) {
      auth.resumeToken = this.resumeToken;
      // What the server should send again (a server without a delivery log ignores it).
      auth.lastSeq = this.inbound.lastSeq;
    }
    this.socket.auth = auth as Record<string, unknown>;
    this.attempt = { sentToken: this.resumeToken !== null, connected: false, finished: false };
    this.socket.connect();
  }

  private onConnect(): void {
    const attempt = this.attempt;
    if (!attempt || this.closed) return;
    attempt.connected = true;
    this.retryCount = 0;
    this.serverHintMs = undefined;
    if (this.socket.recovered) return this.finish(attempt, { kind: 'recovered' });
    if (!attempt.sentToken) return this.finish(attempt, { kind: 'fresh' });
    if (attempt.early) return this.finish(attempt, attempt.early);
    attempt.resumeTimer = setTimeout(() => {
      this.options.logger.warn('no answer to the resume token; rejoining');
      this.finish(attempt, {
        kind: 'resume-failed',
        error: { code: ErrorCode.RESUME_REJECTED, message: 'no answer to the resume token' },
      });
    }, this.options.resumeTimeoutMs);
  }

  private onResumed(event: ResumedEvent): void {
    this.resumeToken = event.resumeToken;
    const attempt = this.attempt;
    if (attempt && attempt.sentToken && !attempt.finished) {
      const outcome: SessionOutcome = { kind: 'resumed', event };
      if (attempt.connected) this.finish(attempt, outcome);
      else attempt.early = outcome;
      return;
    }
    this.hooks.onResumedLater(event);
  }

  private onResumeFailed(event: ResumeFailedEvent): void {
    this.resumeToken = null;
    const attempt = this.attempt;
    const outcome: SessionOutcome = { kind: 'resume-failed', error: event.error };
    if (attempt && !attempt.finished) {
      if (attempt.connected) this.finish(attempt, outcome);
      else attempt.early = outcome;
      return;
    }
    // Refused after the session was declared usable (e.g. after a recovery): the identity is gone.
    this.hooks.onReady(outcome);
  }

  private finish(attempt: Attempt, outcome: SessionOutcome): void {
    if (attempt.finished || attempt !== this.attempt) return;
    attempt.finished = true;
    clearTimeout(attempt.resumeTimer);
    if (outcome.kind === 'resume-failed' || outcome.kind === 'fresh') {
      // Queued signals were addressed as the old identity; the client rejoins and renegotiates.
      this.clearOutbox();
      // A new peer identity, numbered from 1 again.
      this.inbound.reset();
    }
    this.ready = true;
    this.options.logger.debug(`signaling ready (${outcome.kind})`);
    this.hooks.onReady(outcome);
    this.flush();
  }

  private onDisconnect(socketReason: string): void {
    const reason = this.serverReason ? `${socketReason}: ${this.serverReason}` : socketReason;
    this.serverReason = undefined;
    const wasReady = this.ready;
    this.ready = false;
    for (const entry of this.outbox) entry.inFlight = false;
    if (this.attempt) clearTimeout(this.attempt.resumeTimer);
    if (this.closed) return;
    this.options.logger.info(`signaling lost (${reason})`);
    this.lostAt = Date.now();
    this.retryCount = 0;
    if (wasReady || this.attempt?.connected) this.hooks.onLost(reason);
    this.scheduleRetry(reason);
  }

  private onConnectError(error: Error): void {
    if (this.closed) return;
    this.options.logger.debug(`connection attempt failed: ${error.message}`);
    if (isUnauthorized(error) && this.hooks.onUnauthorized && !this.hooks.onUnauthorized(error)) {
      // Stopped for good by the owner; `open()` starts a new loop.
      clearTimeout(this.retryTimer);
      return;
    }
    this.scheduleRetry(error.message);
  }

  private scheduleRetry(reason: string): void {
    if (this.closed) return;
    clearTimeout(this.retryTimer);
    this.lastReason = reason;
    const delayMs = this.options.reconnectPolicy().nextRetryDelayMs({
      retryCount: this.retryCount,
      elapsedMs: Date.now() - this.lostAt,
      reason,
      serverHintMs: this.serverHintMs,
      resumeWindowMs: this.options.resumeWindowMs,
    });
    if (delayMs === null) {
      this.options.logger.warn(`giving up reconnecting after ${this.retryCount} attempts (${reason})`);
      this.hooks.onGiveUp(this.lastReason);
      return;
    }
    this.retryCount += 1;
    this.hooks.onRetryScheduled({ attempt: this.retryCount, delayMs, reason });
    this.retryTimer = setTimeout(() => this.connectNow(), delayMs);
  }

  // ---- outbox ----

  /**
   * Transmits every queued signal not in flight, in order, at the pace the server allows
   * (`signalRate`): when the pacer has no token, the rest wait for the next one. An entry waiting
   * out a BUFFER_FULL or RATE_LIMITED answer (`notBefore`) is passed over until its time.
   */
  private flush(): void {
    clearTimeout(this.paceTimer);
    this.paceTimer = undefined;
    if (!this.isReady) return;
    const now = Date.now();
    // Peers with a signal waiting out a RATE_LIMITED or BUFFER_FULL answer: nothing later to them
    // goes first (an offer overtaken by a later one would be refused STALE_SEQUENCE and lost).
    let held: Set<string> | undefined;
    // Peers with an offer or answer in flight: the next one to them waits for its answer, so that a
    // refusal of the first (RATE_LIMITED after a server stall) cannot let the second overtake it.
    // Candidates do not wait for an answer: the receiver keeps early ones until their description arrives.
    let describing: Set<string> | undefined;
    // Peers with an offer or answer left waiting by the rule above: candidates made after it wait
    // too. Sent first, a restart's candidates would reach a receiver still on the old description,
    // whose browser refuses them (their ufrag is the new one) and they would be lost.
    let waiting: Set<string> | undefined;
    for (const entry of this.outbox) {
      const description = isDescription(entry.event);
      if (entry.notBefore > now) (held ??= new Set()).add(entry.to);
      if (entry.inFlight && description) (describing ??= new Set()).add(entry.to);
      if (entry.inFlight || entry.notBefore > now || held?.has(entry.to)) continue;
      if (description && describing?.has(entry.to)) {
        (waiting ??= new Set()).add(entry.to);
        continue;
      }
      if (!description && waiting?.has(entry.to)) continue;
      const wait = this.pacer?.take(now) ?? 0;
      if (wait > 0) {
        this.paceTimer = setTimeout(() => this.flush(), wait);
        return;
      }
      this.transmit(entry);
      if (description) (describing ??= new Set()).add(entry.to);
    }
  }

  /** Sends `entry` again after `delayMs` (through the pacer). */
  private retryLater(entry: OutboxEntry, delayMs: number): void {
    entry.inFlight = false;
    entry.notBefore = Date.now() + delayMs;
    setTimeout(() => {
      if (this.outbox.includes(entry) && !entry.inFlight) this.flush();
    }, delayMs);
  }

  private transmit(entry: OutboxEntry): void {
    if (!this.isReady) return;
    entry.transmissions += 1;
    entry.inFlight = true;
    const transmission = entry.transmissions;
    const emitter = this.socket.timeout(this.options.ackTimeoutMs) as unknown as {
      emit(
        event: string,
        payload: unknown,
        ack: (error: Error | null, result?: Result<SignalResponse>) => void,
      ): void;
    };
    emitter.emit(entry.event, entry.payload, (error, result) =>
      this.onAck(entry, transmission, error, result),
    );
  }

  private onAck(
    entry: OutboxEntry,
    transmission: number,
    error: Error | null,
    result?: Result<SignalResponse>,
  ): void {
    if (!this.outbox.includes(entry)) return;
    if (error || !result) {
      if (transmission !== entry.transmissions) return;
      entry.inFlight = false;
      if (!this.isReady) return; // disconnected: flushed again after the resume
      entry.timeouts += 1;
      if (entry.timeouts >= this.options.maxSendAttempts) {
        this.remove(entry);
        const failure = SwitchboardError.signalTimeout(entry.event, entry.to, entry.timeouts, error);
        entry.reject(failure);
        this.hooks.onSignalFailed(failure, entry.to, entry.event);
        return;
      }
      this.options.logger.debug(`${entry.event} ${entry.messageId} not acknowledged; retrying`);
      this.flush();
      return;
    }
    if (!result.ok && result.error.code === 'RATE_LIMITED') {
      // Over the connection's signal rate (a burst larger than the server's allowance): send it
      // again when the server says a token is back. Not an ack timeout, but bounded all the same.
      entry.inFlight = false;
      entry.rateLimited += 1;
      if (entry.rateLimited <= MAX_RATE_LIMITED_RETRIES) {
        this.retryLater(entry, Math.max(1, result.error.retryAfterMs ?? this.options.ackTimeoutMs));
        return;
      }
    }
    if (!result.ok && result.error.code === 'BUFFER_FULL') {
      // The addressee is reconnecting and its held-signal buffer is full: try again a little later.
      entry.inFlight = false;
      entry.timeouts += 1;
      if (entry.timeouts < this.options.maxSendAttempts) {
        this.retryLater(entry, this.options.ackTimeoutMs);
        return;
      }
    }
    this.settle(entry, result);
  }

  private settle(entry: OutboxEntry, result: Result<SignalResponse> | SignalAckEvent): void {
    this.remove(entry);
    if (result.ok) {
      entry.resolve({ duplicate: result.duplicate, queued: result.queued });
      return;
    }
    const wire: WireError = result.error ?? { code: ErrorCode.INTERNAL, message: 'refused without a reason' };
    if (wire.code === 'STALE_SEQUENCE' && entry.transmissions > 1) {
      // A retransmission of something the server already took (it checked the sequence first).
      entry.resolve({ duplicate: true });
      return;
    }
    const failure = SwitchboardError.signalRejected(entry.event, entry.to, wire.code, wire.message);
    entry.reject(failure);
    this.hooks.onSignalFailed(failure, entry.to, entry.event);
  }

  private onSignalAck(event: SignalAckEvent): void {
    const entry = this.outbox.find((e) => e.messageId === event.messageId);
    if (entry) this.settle(entry, event);
  }

  private remove(entry: OutboxEntry): void {
    const index = this.outbox.indexOf(entry);
    if (index >= 0) this.outbox.splice(index, 1);
    // The next description to the same peer may have been waiting for this one's answer.
    if (isDescription(entry.event) && this.outbox.length > 0) queueMicrotask(() => this.flush());
  }
}

/** A `connect_error` of a handshake the server refused for its token (`message` and `data.code` are `UNAUTHORIZED`). */
function isUnauthorized(error: Error): boolean {
  const data = (error as Error & { data?: { code?: unknown } }).data;
  return error.message === 'UNAUTHORIZED' || data?.code === 'UNAUTHORIZED';
}
