import { type CandidateErrorInfo, SwitchboardError } from './errors.js';
import type { Logger } from './logger.js';
import { sdpSessionId } from './sdp.js';
import { SerialQueue } from './serial-queue.js';
import { rebuildWaitMs, StallWatchdog, type StallVerdict } from './stall-watchdog.js';

/** Why an ICE restart started. */
export type IceRestartReason = 'server' | 'local' | 'manual';

/** Counters of one link, for diagnostics and tests. */
export interface PeerLinkDiagnostics {
  /** True when this side rolls back on an offer collision. */
  polite: boolean;
  /** True when this side restarts ICE for the pair. */
  iceRestartSide: boolean;
  offersSent: number;
  answersSent: number;
  /** Remote offers that arrived while this side was making or holding its own offer. */
  collisions: number;
  /** Colliding remote offers this (impolite) side ignored. */
  ignoredOffers: number;
  /** Colliding remote offers this (polite) side accepted by rolling back its own. */
  rollbacks: number;
  /** Answers dropped because no offer of ours was waiting for them. */
  staleAnswers: number;
  /** Offers dropped because they came from the remote's connection that this side replaced. */
  staleOffers: number;
  /** Times the RTCPeerConnection was replaced (stuck in `new`, or the remote replaced its own). */
  recreations: number;
  iceRestarts: number;
  localCandidates: number;
  remoteCandidates: number;
}

/** What a link needs from its owner. */
export interface PeerLinkHooks {
  sendOffer(sdp: string): void;
  sendAnswer(sdp: string): void;
  sendCandidate(candidate: RTCIceCandidateInit | null): void;
  onTrack(track: MediaStreamTrack, stream: MediaStream): void;
  onStateChange(connectionState: RTCPeerConnectionState, iceConnectionState: RTCIceConnectionState): void;
  onDataChannelOpen(): void;
  onDataChannelClose(): void;
  onDataChannelMessage(data: string | ArrayBuffer): void;
  onIceRestart(reason: IceRestartReason, attempt?: number): void;
  onError(error: SwitchboardError): void;
  /** Fresh ICE servers (new TURN credentials) for a restart; `null` keeps the current ones. */
  fetchIceServers(): Promise<RTCIceServer[] | null>;
  /**
   * True while signals reach the server. The watchdogs that judge a negotiation's progress wait
   * while it is false: signals queued during an outage cannot be answered.
   */
  signalingUp(): boolean;
}

export interface PeerLinkOptions {
  selfId: string;
  remoteId: string;
  /** This side sends the first offer (it is the newcomer); the other side waits for it. */
  initiator: boolean;
  polite: boolean;
  iceRestartSide: boolean;
  rtcConfiguration: RTCConfiguration;
  localStream: MediaStream | null;
  dataChannel: boolean;
  /** A connection still `new` after this long is recreated (the polite side waits twice as long). 0 disables. */
  stuckTimeoutMs: number;
  maxRecreations: number;
  /** Spacing of ICE restarts this side starts on its own after `failed`. */
  iceRestartMinIntervalMs: number;
  logger: Logger;
}

/** Label of the data channel every pair shares (negotiated out of band, id 0). */
export const DATA_CHANNEL_LABEL = 'switchboard';
const MAX_HELD_CANDIDATES = 500;
/** A second restart request within this window is the same restart (server and local failure both ask). */
const RESTART_DEDUP_MS = 1500;
/** How long a gathering round that ended with no candidate is given for late ones, or a new round, before it is reported. */
const GATHERING_FAILURE_GRACE_MS = 1000;
/** ICE restarts this side starts for one stretch of `checking` with working pairs (see judgeChecking). */
const MAX_CHECKING_RESTARTS = 2;
/**
 * How long a connection that rolled back its own first offer may gather nothing before it is taken
 * for Chromium's glare stall (see judgeRollbackGathering). Chromium gathers its host candidates
 * within milliseconds of the answer; the stall never gathers any.
 */
const ROLLBACK_GATHERING_STALL_MS = 1500;
/** Longest wait for one incoming signal's browser operations before the next signal is handled. */
const SIGNAL_TASK_TIMEOUT_MS = 10_000;

/**
 * One RTCPeerConnection towards one remote peer, negotiated with the W3C "perfect negotiation"
 * pattern. The link survives its RTCPeerConnection: when Chromium's glare stall leaves it in
 * `new`, or the browser refuses the remote's answer, it builds a new one and offers again; a remote
 * offer from a new SDP session (the remote did the same) makes it rebuild too.
 */
export class PeerLink {
  pc!: RTCPeerConnection;
  private dc: RTCDataChannel | null = null;
  private localStream: MediaStream | null;
  private rtcConfiguration: RTCConfiguration;

  // Perfect negotiation state (https://w3c.github.io/webrtc-pc/#perfect-negotiation-example).
  private makingOffer = false;
  private ignoreOffer = false;
  private settingRemoteAnswerPending = false;
  /** A remote offer is being applied (from setRemoteDescription until its answer is set). */
  private applyingOffer = false;
  /** False on the waiting side until the first remote offer: the newcomer offers, the others answer. */
  private mayOffer: boolean;
  private renegotiateWhenStable = false;

  private heldCandidates: RTCIceCandidateInit[] = [];
  private iceRestartPending = false;
  private lastIceRestartAt = 0;
  private remoteSessionId: string | null = null;
  /** The remote session of the replaced RTCPeerConnection: answers from it are stale. */
  private staleRemoteSessionId: string | null = null;
  /** Resolved when each connection is replaced or closed (see unlessRetired). */
  private readonly retirements = new WeakMap<
    RTCPeerConnection,
    { promise: Promise<void>; retire: () => void }
  >();
  private candidateErrors: CandidateErrorInfo[] = [];
  private gatheringFailureReported = false;
  /** Incoming signals, applied one at a time in arrival order. */
  private readonly incoming: SerialQueue;
  /** A connection still `new` (see judgeStuck). */
  private readonly stuckWatchdog: StallWatchdog;
  /** An explicit renegotiation or ICE restart that does not settle (see judgeNegotiation). */
  private readonly negotiationWatchdog: StallWatchdog;
  /** ICE `checking` for good with working pairs (see judgeChecking). */
  private readonly checkingWatchdog: StallWatchdog;
  /** A first offer rolled back for the remote's, then nothing gathered (see judgeRollbackGathering). */
  private readonly rollbackWatchdog: StallWatchdog;
  /** Local candidates of the current connection's current gathering round. */
  private gatheredThisRound = 0;
  /** ICE restarts the checking watchdog started in the current stretch of `checking`. */
  private checkingRestarts = 0;
  private gatheringCheck: ReturnType<typeof setTimeout> | undefined;
  /** ICE is `checking` (the checking watchdog is armed when it starts to be). */
  private iceChecking = false;
  private lastReported = '';
  private closed = false;
  readonly diagnostics: PeerLinkDiagnostics;

  constructor(
    private readonly options: PeerLinkOptions,
    private readonly hooks: PeerLinkHooks,
  ) {
    this.localStream = options.localStream;
    this.rtcConfiguration = options.rtcConfiguration;
    this.mayOffer = options.initiator;
    this.diagnostics = {
      polite: options.polite,
      iceRestartSide: options.iceRestartSide,
      offersSent: 0,
      answersSent: 0,
      collisions: 0,
      ignoredOffers: 0,
      rollbacks: 0,
      staleAnswers: 0,
      staleOffers: 0,
      recreations: 0,
      iceRestarts: 0,
      localCandidates: 0,
      remoteCandidates: 0,
    };
    this.incoming = new SerialQueue({
      taskTimeoutMs: SIGNAL_TASK_TIMEOUT_MS,
      onTimeout: () =>
        options.logger.warn(
          `a signal from ${this.remoteId} took over ${SIGNAL_TASK_TIMEOUT_MS} ms; moving on`,
        ),
      onError: (error) => options.logger.warn(`signal from ${this.remoteId} failed`, error),
    });
    const rebuildWait = rebuildWaitMs(options.stuckTimeoutMs, options.polite);
    this.stuckWatchdog = new StallWatchdog({
      timeoutMs: rebuildWait,
      judge: () => this.judgeStuck(),
      onStall: () => this.rebuildStalled(`connection to ${this.remoteId} stuck in "new"`),
    });
    this.negotiationWatchdog = new StallWatchdog({
      timeoutMs: rebuildWait,
      judge: () => this.judgeNegotiation(),
      onStall: () =>
        this.rebuildStalled(
          `negotiation with ${this.remoteId} did not settle (${this.pendingNegotiation()})`,
        ),
    });
    this.checkingWatchdog = new StallWatchdog({
      timeoutMs: options.stuckTimeoutMs,
      judge: () => this.judgeChecking(),
      onStall: () => this.restartStuckChecking(),
    });
    this.rollbackWatchdog = new StallWatchdog({
      timeoutMs:
        options.stuckTimeoutMs > 0 ? Math.min(ROLLBACK_GATHERING_STALL_MS, options.stuckTimeoutMs) : 0,
      judge: () => this.judgeRollbackGathering(),
      onStall: () =>
        this.rebuildStalled(
          `connection to ${this.remoteId} gathered nothing after rolling back its first offer (Chromium's glare stall)`,
        ),
    });
    this.createPeerConnection();
  }

  get remoteId(): string {
    return this.options.remoteId;
  }

  get connectionState(): RTCPeerConnectionState {
    return this.pc.connectionState;
  }

  get iceConnectionState(): RTCIceConnectionState {
    return this.pc.iceConnectionState;
  }

  get signalingState(): RTCSignalingState {
    return this.pc.signalingState;
  }

  get dataChannelOpen(): boolean {
    return this.dc?.readyState === 'open';
  }

  // ---- incoming signals (serialised, in arrival order) ----

  /** Applies a remote offer or answer. */
  handleDescription(type: 'offer' | 'answer', sdp: string): Promise<void> {
    return this.enqueue(() => (type === 'offer' ? this.applyOffer(sdp) : this.applyAnswer(sdp)));
  }

  /** Applies a remote candidate, or holds it until it can be applied. */
  handleCandidate(candidate: RTCIceCandidateInit | null): Promise<void> {
    return this.enqueue(async () => {
      // A bare `null` (Chromium's end of gathering) does not say which ICE generation it ends, and
      // one arriving after a restart would end the new one: dropped. Firefox's empty candidate
      // carries its ufrag: applied (a stale one is refused by the browser, harmlessly).
      if (candidate === null || this.closed) return;
      if (candidate.candidate) this.diagnostics.remoteCandidates += 1;
      if (!this.canApplyCandidates()) {
        if (this.heldCandidates.length < MAX_HELD_CANDIDATES) this.heldCandidates.push(candidate);
        return;
      }
      await this.addCandidate(candidate);
    });
  }

  private enqueue(task: () => Promise<void>): Promise<void> {
    return this.incoming.push(task);
  }

  private async applyOffer(sdp: string): Promise<void> {
    if (this.closed) return;
    const sessionId = sdpSessionId(sdp);
    if (sessionId !== null && sessionId === this.staleRemoteSessionId) {
      // An offer from the remote's connection that this side has replaced, sent before the remote
      // saw our new one (both sides acting at once). Applied, it would pair our new connection
      // with the remote's old one; the remote rebuilds its side when our offer arrives.
      this.diagnostics.staleOffers += 1;
      this.options.logger.debug(`dropping an offer from ${this.remoteId}'s replaced connection`);
      return;
    }
    if (this.remoteSessionId !== null && sessionId !== null && sessionId !== this.remoteSessionId) {
      // The remote replaced its RTCPeerConnection: a new DTLS session cannot renegotiate into ours.
      this.options.logger.info(`${this.remoteId} started a new session; recreating the connection`);
      this.recreate(false);
    }
    const pc = this.pc;
    const readyForOffer =
      !this.makingOffer && (pc.signalingState === 'stable' || this.settingRemoteAnswerPending);
    const collision = !readyForOffer;
    if (collision) this.diagnostics.collisions += 1;
    this.ignoreOffer = !this.options.polite && collision;
    if (this.ignoreOffer) {
      this.diagnostics.ignoredOffers += 1;
      this.options.logger.debug(`offer collision with ${this.remoteId}: ignoring theirs (impolite)`);
      return;
    }
    if (collision) {
      this.diagnostics.rollbacks += 1;
      this.options.logger.debug(`offer collision with ${this.remoteId}: rolling back ours (polite)`);
    }
    try {
      this.applyingOffer = true;
      await this.unlessRetired(pc, pc.setRemoteDescription({ type: 'offer', sdp })); // rolls back our own offer if needed
      if (pc !== this.pc) return;
      this.remoteSessionId = sessionId;
      this.mayOffer = true;
      // A colliding offer we rolled back was ours; a restart we had in mind is carried by theirs.
      this.iceRestartPending = false;
      await this.unlessRetired(pc, pc.setLocalDescription());
      if (pc !== this.pc || pc.localDescription?.type !== 'answer') return;
      this.diagnostics.answersSent += 1;
      this.hooks.sendAnswer(pc.localDescription.sdp);
      if (collision && pc.connectionState === 'new') this.rollbackWatchdog.arm();
    } catch (error) {
      if (pc !== this.pc || this.closed) return;
      this.hooks.onError(
        SwitchboardError.negotiationFailed(this.remoteId, 'applying the remote offer', error),
      );
      return;
    } finally {
      if (pc === this.pc) this.applyingOffer = false;
    }
    await this.flushHeldCandidates();
    // An offer held back while this one was applied (see makeOffer): the change to `stable` that
    // would otherwise send it came while the answer was being made.
    if (pc === this.pc && this.renegotiateWhenStable && pc.signalingState === 'stable') {
      this.renegotiateWhenStable = false;
      void this.makeOffer(false);
    }
  }

  private async applyAnswer(sdp: string): Promise<void> {
    if (this.closed) return;
    const pc = this.pc;
    const sessionId = sdpSessionId(sdp);
    if (
      pc.signalingState !== 'have-local-offer' ||
      (sessionId !== null && sessionId === this.staleRemoteSessionId)
    ) {
      this.diagnostics.staleAnswers += 1;
      this.options.logger.debug(`dropping a stale answer from ${this.remoteId} (${pc.signalingState})`);
      return;
    }
    this.settingRemoteAnswerPending = true;
    try {
      await this.unlessRetired(pc, pc.setRemoteDescription({ type: 'answer', sdp }));
    } catch (error) {
      if (pc !== this.pc || this.closed) return;
      // A refused answer leaves this connection in `have-local-offer` with no way forward: the
      // same offer would be answered the same way. Seen between browsers: Firefox, holding the
      // DTLS server role (it made the first offer), answers an ICE restart from Chromium with
      // `a=setup:active`, and Chromium refuses to switch roles ("Failed to set SSL role for the
      // transport"). A new connection offered by this side gets a fresh DTLS association.
      if (this.options.stuckTimeoutMs > 0 && this.diagnostics.recreations < this.options.maxRecreations) {
        this.options.logger.info(
          `${this.remoteId}'s answer was refused (${errorText(error)}); recreating the connection`,
        );
        this.recreate(true);
        return;
      }
      this.hooks.onError(
        SwitchboardError.negotiationFailed(this.remoteId, 'applying the remote answer', error),
      );
      return;
    } finally {
      this.settingRemoteAnswerPending = false;
    }
    if (pc !== this.pc) return;
    this.remoteSessionId = sessionId;
    this.staleRemoteSessionId = null;
    this.iceRestartPending = false;
    await this.flushHeldCandidates();
  }

  private canApplyCandidates(): boolean {
    return this.pc.remoteDescription !== null && !this.iceRestartPending;
  }

  private async flushHeldCandidates(): Promise<void> {
    if (!this.canApplyCandidates()) return;
    const held = this.heldCandidates;
    this.heldCandidates = [];
    for (const candidate of held) await this.addCandidate(candidate);
  }

  private async addCandidate(candidate: RTCIceCandidateInit): Promise<void> {
    try {
      await this.pc.addIceCandidate(candidate);
    } catch (error) {
      // Candidates of an ignored offer, or of a replaced ICE generation (their ufrag no longer
      // matches), are expected to fail.
      if (!this.ignoreOffer) this.options.logger.debug(`candidate from ${this.remoteId} not added`, error);
    }
  }

  // ---- outgoing negotiation ----

  /**
   * Creates and sends an offer now, or after the current negotiation when one is in progress.
   * With both sides calling it at once this is a glare, which perfect negotiation resolves.
   */
  async renegotiate(): Promise<void> {
    this.mayOffer = true;
    this.negotiationWatchdog.arm();
    await this.makeOffer(true);
  }

  private async makeOffer(explicit: boolean): Promise<void> {
    const pc = this.pc;
    if (this.closed) return;
    if (this.makingOffer || pc.signalingState !== 'stable') {
      // The browser fires negotiationneeded again once stable if still needed; explicit requests are remembered.
      if (explicit) this.renegotiateWhenStable = true;
      return;
    }
    if (this.applyingOffer) {
      // A remote offer is being applied and its answer is not made yet (the state still reads
      // `stable` until setRemoteDescription completes). An implicit setLocalDescription queued now
      // would run in `have-remote-offer` and make that answer, and the answer's own call would
      // then make an offer, sent as the answer. Offer once the answer is out.
      this.renegotiateWhenStable = true;
      return;
    }
    try {
      this.makingOffer = true;
      await this.unlessRetired(pc, pc.setLocalDescription());
      if (pc !== this.pc || !pc.localDescription || pc.localDescription.type !== 'offer') return;
      this.diagnostics.offersSent += 1;
      this.hooks.sendOffer(pc.localDescription.sdp);
    } catch (error) {
      if (pc === this.pc && !this.closed) {
        this.hooks.onError(SwitchboardError.negotiationFailed(this.remoteId, 'creating an offer', error));
      }
    } finally {
      if (pc === this.pc) this.makingOffer = false;
    }
  }

  /**
   * Restarts ICE: fresh ICE servers (new TURN credentials), `restartIce()`, a new offer.
   * Remote candidates are held until the answer arrives.
   */
  async restartIce(reason: IceRestartReason, attempt?: number): Promise<void> {
    if (this.closed) return;
    const now = Date.now();
    if (reason === 'local' && now - this.lastIceRestartAt < this.options.iceRestartMinIntervalMs) return;
    if (this.iceRestartPending && now - this.lastIceRestartAt < RESTART_DEDUP_MS) return;
    this.lastIceRestartAt = now;
    this.iceRestartPending = true;
    this.negotiationWatchdog.arm();
    this.diagnostics.iceRestarts += 1;
    this.options.logger.info(
      `restarting ICE with ${this.remoteId} (${reason}${attempt ? ` #${attempt}` : ''})`,
    );
    this.hooks.onIceRestart(reason, attempt);
    try {
      const iceServers = await this.hooks.fetchIceServers();
      if (iceServers) this.setIceServers(iceServers);
    } catch (error) {
      this.options.logger.warn('could not refresh ICE servers; restarting with the current ones', error);
    }
    if (this.closed) return;
    this.mayOffer = true;
    this.pc.restartIce();
    await this.makeOffer(true);
  }

  /** Uses new ICE servers from the next gathering on (a restart, or a recreated connection). */
  setIceServers(iceServers: RTCIceServer[]): void {
    this.rtcConfiguration = { ...this.rtcConfiguration, iceServers };
    try {
      this.pc.setConfiguration({ ...this.pc.getConfiguration(), iceServers });
    } catch (error) {
      this.options.logger.warn('setConfiguration refused the new ICE servers', error);
    }
  }

  // ---- media and data ----

  /** Sends `stream`'s tracks instead of the current ones (`null` stops sending). */
  async setLocalStream(stream: MediaStream | null): Promise<void> {
    this.localStream = stream;
    const pc = this.pc;
    for (const kind of ['audio', 'video'] as const) {
      const track = stream?.getTracks().find((t) => t.kind === kind) ?? null;
      const transceiver = pc
        .getTransceivers()
        .find(
          (t) => t.currentDirection !== 'stopped' && (t.sender.track?.kind ?? t.receiver.track.kind) === kind,
        );
      if (transceiver) {
        await transceiver.sender.replaceTrack(track);
        if (stream) transceiver.sender.setStreams(stream);
        if (track && (transceiver.direction === 'recvonly' || transceiver.direction === 'inactive')) {
          transceiver.direction = 'sendrecv';
        }
      } else if (track && stream) {
        pc.addTrack(track, stream);
      }
    }
  }

  /** Sends a message on the pair's data channel; false when it is not open. */
  send(data: string | ArrayBuffer | ArrayBufferView<ArrayBuffer> | Blob): boolean {
    const dc = this.dc;
    if (!dc || dc.readyState !== 'open') return false;
    if (typeof data === 'string') dc.send(data);
    else if (data instanceof Blob) dc.send(data);
    else if (data instanceof ArrayBuffer) dc.send(data);
    else dc.send(data);
    return true;
  }

  getStats(): Promise<RTCStatsReport> {
    return this.pc.getStats();
  }

  /**
   * Signaling is back after an outage: the watchdogs that waited for it give the negotiation their
   * full wait again, from now, for its queued signals to be delivered and answered.
   */
  signalingRestored(): void {
    if (this.closed) return;
    this.negotiationWatchdog.rearmIfArmed();
    if (this.pc.connectionState === 'new') this.stuckWatchdog.arm();
  }

  /** Closes the link for good; safe to call twice. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.incoming.close();
    this.stuckWatchdog.disarm();
    this.rollbackWatchdog.disarm();
    this.negotiationWatchdog.disarm();
    this.checkingWatchdog.disarm();
    clearTimeout(this.gatheringCheck);
    this.teardown(this.pc);
  }

  // ---- RTCPeerConnection lifecycle ----

  /**
   * `operation` on `pc`, or nothing once `pc` is replaced or closed. Chromium 156 and Firefox ESR 153
   * both leave an operation that was pending when its connection closed unsettled for good, so
   * without this a `restartIce()` whose offer was being made when the connection was recreated (a
   * glare with Chromium rebuilding after a refused answer) never returned (firefox-glare, about 1
   * run in 10; peer-link.test.ts closes a link mid-offer).
   * Callers check `pc !== this.pc` afterwards.
   */
  private unlessRetired(pc: RTCPeerConnection, operation: Promise<void>): Promise<void> {
    return Promise.race([operation, this.retirements.get(pc)?.promise ?? Promise.resolve()]);
  }

  private createPeerConnection(): void {
    const pc = new RTCPeerConnection(this.rtcConfiguration);
    this.pc = pc;
    let retire!: () => void;
    const promise = new Promise<void>((resolve) => (retire = resolve));
    this.retirements.set(pc, { promise, retire });
    const stream = this.localStream;
    const sentKinds = new Set<string>();
    if (stream) {
      for (const track of stream.getTracks()) {
        pc.addTrack(track, stream);
        sentKinds.add(track.kind);
      }
    }
    if (this.mayOffer) {
      // The offering side asks to receive both kinds even when it sends none, so the answerer's
      // tracks flow without a second negotiation. (An answerer's addTrack transceivers pair with
      // the offer's sections; recvonly ones added before the offer would not.)
      for (const kind of ['audio', 'video']) {
        if (!sentKinds.has(kind)) pc.addTransceiver(kind, { direction: 'recvonly' });
      }
    }
    if (this.options.dataChannel) {
      const dc = pc.createDataChannel(DATA_CHANNEL_LABEL, { negotiated: true, id: 0, ordered: true });
      dc.binaryType = 'arraybuffer';
      this.dc = dc;
      dc.onopen = () => {
        if (pc === this.pc && !this.closed) this.hooks.onDataChannelOpen();
      };
      dc.onclose = () => {
        if (pc === this.pc && !this.closed) this.hooks.onDataChannelClose();
      };
      dc.onmessage = (event: MessageEvent<string | ArrayBuffer>) => {
        if (pc === this.pc && !this.closed) this.hooks.onDataChannelMessage(event.data);
      };
    }
    pc.onnegotiationneeded = () => {
      if (pc !== this.pc || !this.mayOffer) return;
      void this.makeOffer(false);
    };
    // Candidates of the current gathering round: none at its end means nothing can connect.
    this.gatheredThisRound = 0;
    let endSentThisRound = false;
    pc.onicecandidate = (event) => {
      if (pc !== this.pc) return;
      const candidate = event.candidate;
      if (candidate && candidate.candidate !== '') {
        this.gatheredThisRound += 1;
        this.diagnostics.localCandidates += 1;
        this.hooks.sendCandidate(candidate.toJSON());
      } else if (candidate) {
        // Firefox ends each gathering round with an empty candidate (it names the ICE generation
        // by its ufrag) before the `null` event; Chromium only fires `null`. The empty one is an
        // end-of-candidates, not a candidate: counting it would hide a round that gathered nothing.
        endSentThisRound = true;
        this.hooks.sendCandidate(candidate.toJSON());
      } else if (!endSentThisRound) {
        this.hooks.sendCandidate(null);
      }
    };
    pc.onicecandidateerror = (event) => {
      if (pc !== this.pc) return;
      const e = event as RTCPeerConnectionIceErrorEvent;
      this.candidateErrors.push({ url: e.url, errorCode: e.errorCode, errorText: e.errorText });
      if (this.candidateErrors.length > 20) this.candidateErrors.shift();
      this.options.logger.debug(
        `candidate error with ${this.remoteId}: ${e.url} ${e.errorCode} ${e.errorText}`,
      );
    };
    pc.onicegatheringstatechange = () => {
      if (pc !== this.pc) return;
      if (pc.iceGatheringState === 'gathering') {
        this.gatheredThisRound = 0;
        endSentThisRound = false;
      } else if (
        pc.iceGatheringState === 'complete' &&
        this.gatheredThisRound === 0 &&
        !this.gatheringFailureReported
      ) {
        // Judged after a grace: a round abandoned for another reports `complete` with nothing,
        // just before the next round starts gathering. Seen in Firefox rolling back its own ICE
        // restart offer for the remote's (polite side of a glare).
        clearTimeout(this.gatheringCheck);
        this.gatheringCheck = setTimeout(() => {
          if (pc !== this.pc || this.closed || this.gatheringFailureReported) return;
          if (this.gatheredThisRound > 0 || pc.iceGatheringState !== 'complete') return;
          this.gatheringFailureReported = true;
          const policy = this.rtcConfiguration.iceTransportPolicy ?? 'all';
          this.hooks.onError(
            SwitchboardError.iceGatheringFailed(this.remoteId, policy, [...this.candidateErrors]),
          );
        }, GATHERING_FAILURE_GRACE_MS);
      } else if (pc.iceGatheringState === 'complete') {
        this.gatheringFailureReported = false;
        this.candidateErrors = [];
      }
    };
    pc.ontrack = (event) => {
      if (pc !== this.pc) return;
      this.hooks.onTrack(event.track, event.streams[0] ?? new MediaStream([event.track]));
    };
    pc.onconnectionstatechange = () => {
      if (pc === this.pc) this.onStateChange();
    };
    pc.oniceconnectionstatechange = () => {
      if (pc === this.pc) this.onStateChange();
    };
    pc.onsignalingstatechange = () => {
      if (pc !== this.pc || pc.signalingState !== 'stable' || !this.renegotiateWhenStable) return;
      this.renegotiateWhenStable = false;
      void this.makeOffer(false);
    };
    this.stuckWatchdog.arm();
  }

  private onStateChange(): void {
    const { connectionState, iceConnectionState } = this.pc;
    const key = `${connectionState}/${iceConnectionState}`;
    if (key === this.lastReported) return;
    this.lastReported = key;
    this.options.logger.debug(`${this.remoteId}: ${key}`);
    if (connectionState === 'connected') this.candidateErrors = [];
    if (connectionState === 'failed' && this.options.iceRestartSide) void this.restartIce('local');
    const checking = iceConnectionState === 'checking';
    if (checking && !this.iceChecking) {
      this.checkingRestarts = 0;
      this.checkingWatchdog.arm();
    }
    if (!checking) this.checkingWatchdog.disarm();
    this.iceChecking = checking;
    this.hooks.onStateChange(connectionState, iceConnectionState);
  }

  /**
   * ICE still `checking` after `stuckTimeoutMs` although some candidate pair has succeeded: the
   * checks work but ICE never completes. Seen in Firefox as the answerer of an ICE restart from
   * Chromium (more often when both had just offered at once): Chromium `connected` over a pair it
   * nominated, Firefox's pairs `succeeded` but none selected, for good; further restarts from
   * Chromium did not help, one from Firefox did. The remote may think all is well, so this side
   * restarts ICE itself, whichever side of the pair it is (a collision is resolved as any other).
   * Not while checks fail (an outage): that is the iceRestartSide's and the server's business.
   */
  private async judgeChecking(): Promise<StallVerdict> {
    const pc = this.pc;
    const stillChecking = () => !this.closed && pc === this.pc && pc.iceConnectionState === 'checking';
    if (!stillChecking()) return 'settled';
    let succeeded = false;
    try {
      (await pc.getStats()).forEach((s: { type: string; state?: string }) => {
        if (s.type === 'candidate-pair' && s.state === 'succeeded') succeeded = true;
      });
    } catch {
      return 'settled';
    }
    if (!stillChecking()) return 'settled';
    return succeeded ? 'stalled' : 'postpone';
  }

  private restartStuckChecking(): void {
    this.options.logger.info(
      `ICE with ${this.remoteId} still checking after ${this.options.stuckTimeoutMs} ms with working candidate pairs; restarting ICE`,
    );
    this.lastIceRestartAt = 0; // not a repeat of an earlier restart: do not let the spacing skip it
    this.checkingRestarts += 1;
    void this.restartIce('local');
    if (this.checkingRestarts < MAX_CHECKING_RESTARTS) this.checkingWatchdog.arm();
  }

  /**
   * Chromium's glare stall: a connection that rolled back its own first offer for the remote's and
   * answered it sometimes never gathers a candidate (`new`, gathering `gathering`, none gathered,
   * still so 5 s later) although both descriptions are set. Reproduced with two bare
   * RTCPeerConnections and the W3C perfect negotiation example, no SDK
   * (scripts/chromium-glare-stall.mjs: 5 of 1,300 initial glares). Judged from that signature,
   * soon after the answer, rather than by the stuck watchdog's longer wait; like it, the link is
   * rebuilt (restartIce() did not cure it).
   */
  private judgeRollbackGathering(): StallVerdict {
    const pc = this.pc;
    if (this.closed || pc.connectionState !== 'new') return 'settled';
    if (this.gatheredThisRound > 0 || pc.iceGatheringState !== 'gathering') return 'settled';
    if (!this.hooks.signalingUp()) return 'postpone';
    return 'stalled';
  }

  private judgeStuck(): StallVerdict {
    const pc = this.pc;
    if (this.closed || pc.connectionState !== 'new') return 'settled';
    // Judged once signaling is back (see signalingRestored): queued signals cannot be answered.
    if (!this.hooks.signalingUp()) return 'postpone';
    // A configuration problem, reported already: a new connection would gather nothing either.
    if (pc.iceGatheringState === 'complete' && this.gatheringFailureReported) return 'settled';
    return 'stalled';
  }

  /**
   * An explicit renegotiation or ICE restart must settle: back to `stable` with nothing pending.
   * Seen in CI: after both sides restarted ICE at once, neither sent an offer nor changed state
   * again. That was ours (an offer made while a remote offer was applied, see makeOffer) and is
   * fixed there; the watchdog stays as the net for what is not known yet (e.g. a lost signal). Like
   * a link stuck in `new`, such a link is rebuilt rather than trusted.
   */
  private judgeNegotiation(): StallVerdict {
    if (this.closed) return 'settled';
    // An offer queued while signaling is down cannot settle. Rebuilding would only drop the media
    // and data that still flow (seen when a resume took longer than the watchdog's wait).
    if (!this.hooks.signalingUp()) return 'postpone';
    const settled =
      this.pc.signalingState === 'stable' &&
      !this.makingOffer &&
      !this.renegotiateWhenStable &&
      !this.iceRestartPending;
    return settled ? 'settled' : 'stalled';
  }

  /** What an unsettled negotiation is waiting for, for the log. */
  private pendingNegotiation(): string {
    return JSON.stringify({
      signalingState: this.pc.signalingState,
      makingOffer: this.makingOffer,
      renegotiateWhenStable: this.renegotiateWhenStable,
      iceRestartPending: this.iceRestartPending,
    });
  }

  /** A watchdog found the link stalled: rebuild it, or report it once the rebuilds are used up. */
  private rebuildStalled(what: string): void {
    if (this.closed) return;
    if (this.diagnostics.recreations >= this.options.maxRecreations) {
      this.hooks.onError(SwitchboardError.connectionStuck(this.remoteId, this.diagnostics.recreations));
      return;
    }
    this.options.logger.info(`${what}; recreating the connection`);
    this.recreate(true);
    // A signal still being applied to the stalled connection may never finish: do not wait for it.
    this.incoming.reset();
  }

  /** Replaces the RTCPeerConnection; with `offer`, this side sends the fresh offer. */
  private recreate(offer: boolean): void {
    const old = this.pc;
    this.staleRemoteSessionId = this.remoteSessionId ?? this.staleRemoteSessionId;
    this.remoteSessionId = null;
    this.makingOffer = false;
    this.ignoreOffer = false;
    this.settingRemoteAnswerPending = false;
    this.applyingOffer = false;
    this.iceChecking = false;
    this.checkingWatchdog.disarm();
    this.rollbackWatchdog.disarm();
    this.renegotiateWhenStable = false;
    this.iceRestartPending = false;
    this.heldCandidates = [];
    this.candidateErrors = [];
    this.gatheringFailureReported = false;
    this.lastReported = '';
    this.mayOffer = offer;
    this.diagnostics.recreations += 1;
    const hadOpenChannel = this.dc?.readyState === 'open';
    this.createPeerConnection();
    this.teardown(old);
    if (hadOpenChannel) this.hooks.onDataChannelClose();
    this.hooks.onStateChange(this.pc.connectionState, this.pc.iceConnectionState);
    if (offer) void this.makeOffer(false);
  }

  private teardown(pc: RTCPeerConnection): void {
    this.retirements.get(pc)?.retire();
    this.negotiationWatchdog.disarm();
    pc.onnegotiationneeded = null;
    pc.onicecandidate = null;
    pc.onicecandidateerror = null;
    pc.onicegatheringstatechange = null;
    pc.ontrack = null;
    pc.onconnectionstatechange = null;
    pc.oniceconnectionstatechange = null;
    pc.onsignalingstatechange = null;
    try {
      pc.close();
    } catch {
      // already closed
    }
  }
}

function errorText(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error);
}
