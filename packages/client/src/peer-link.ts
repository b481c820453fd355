import { type CandidateErrorInfo, SwitchboardError } from './errors.js';
import type { Logger } from './logger.js';
import { sdpSessionId } from './sdp.js';

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
/** ICE restarts this side starts for one stretch of `checking` with working pairs (see armCheckingWatchdog). */
const MAX_CHECKING_RESTARTS = 2;
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
  private candidateErrors: CandidateErrorInfo[] = [];
  private gatheringFailureReported = false;
  /** Incoming signals, applied one at a time in arrival order. */
  private incoming: (() => Promise<void>)[] = [];
  private incomingGeneration = 0;
  private draining = false;
  private watchdog: ReturnType<typeof setTimeout> | undefined;
  private negotiationWatchdog: ReturnType<typeof setTimeout> | undefined;
  /** An explicit renegotiation or restart is waiting to be judged by the negotiation watchdog. */
  private negotiationWatchdogArmed = false;
  private gatheringCheck: ReturnType<typeof setTimeout> | undefined;
  private checkingWatchdog: ReturnType<typeof setTimeout> | undefined;
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
    return new Promise<void>((resolve) => {
      this.incoming.push(async () => {
        try {
          await withTimeout(task(), SIGNAL_TASK_TIMEOUT_MS, () =>
            this.options.logger.warn(
              `a signal from ${this.remoteId} took over ${SIGNAL_TASK_TIMEOUT_MS} ms; moving on`,
            ),
          );
        } catch (error) {
          this.options.logger.warn(`signal from ${this.remoteId} failed`, error);
        } finally {
          resolve();
        }
      });
      if (!this.draining) void this.drainIncoming();
    });
  }

  /** Runs queued signal tasks one at a time, in arrival order, until the queue is empty or reset. */
  private async drainIncoming(): Promise<void> {
    const generation = this.incomingGeneration;
    this.draining = true;
    while (this.incoming.length > 0 && generation === this.incomingGeneration && !this.closed) {
      await (this.incoming.shift() as () => Promise<void>)();
    }
    if (generation === this.incomingGeneration) this.draining = false;
  }

  /** Abandons the task in progress (it belongs to a replaced connection) and goes on with the queue. */
  private resetIncoming(): void {
    this.incomingGeneration += 1;
    this.draining = false;
    if (this.incoming.length > 0) void this.drainIncoming();
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
      await pc.setRemoteDescription({ type: 'offer', sdp }); // rolls back our own offer if needed
      if (pc !== this.pc) return;
      this.remoteSessionId = sessionId;
      this.mayOffer = true;
      // A colliding offer we rolled back was ours; a restart we had in mind is carried by theirs.
      this.iceRestartPending = false;
      await pc.setLocalDescription();
      if (pc !== this.pc || pc.localDescription?.type !== 'answer') return;
      this.diagnostics.answersSent += 1;
      this.hooks.sendAnswer(pc.localDescription.sdp);
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
      await pc.setRemoteDescription({ type: 'answer', sdp });
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
    this.armNegotiationWatchdog();
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
      await pc.setLocalDescription();
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
    this.armNegotiationWatchdog();
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
    if (this.negotiationWatchdogArmed) this.armNegotiationWatchdog();
    if (this.pc.connectionState === 'new') this.armWatchdog();
  }

  /** Closes the link for good; safe to call twice. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.watchdog);
    clearTimeout(this.negotiationWatchdog);
    clearTimeout(this.gatheringCheck);
    clearTimeout(this.checkingWatchdog);
    this.teardown(this.pc);
  }

  // ---- RTCPeerConnection lifecycle ----

  private createPeerConnection(): void {
    const pc = new RTCPeerConnection(this.rtcConfiguration);
    this.pc = pc;
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
    let gatheredThisRound = 0;
    let endSentThisRound = false;
    pc.onicecandidate = (event) => {
      if (pc !== this.pc) return;
      const candidate = event.candidate;
      if (candidate && candidate.candidate !== '') {
        gatheredThisRound += 1;
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
        gatheredThisRound = 0;
        endSentThisRound = false;
      } else if (
        pc.iceGatheringState === 'complete' &&
        gatheredThisRound === 0 &&
        !this.gatheringFailureReported
      ) {
        // Judged after a grace: a round abandoned for another reports `complete` with nothing,
        // just before the next round starts gathering. Seen in Firefox rolling back its own ICE
        // restart offer for the remote's (polite side of a glare).
        clearTimeout(this.gatheringCheck);
        this.gatheringCheck = setTimeout(() => {
          if (pc !== this.pc || this.closed || this.gatheringFailureReported) return;
          if (gatheredThisRound > 0 || pc.iceGatheringState !== 'complete') return;
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
    this.armWatchdog();
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
    if (checking && !this.iceChecking) this.armCheckingWatchdog(0);
    if (!checking) clearTimeout(this.checkingWatchdog);
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
  private armCheckingWatchdog(restartsSoFar: number): void {
    clearTimeout(this.checkingWatchdog);
    const base = this.options.stuckTimeoutMs;
    if (base <= 0 || restartsSoFar >= MAX_CHECKING_RESTARTS) return;
    const pc = this.pc;
    this.checkingWatchdog = setTimeout(() => void this.checkChecking(pc, restartsSoFar), base);
  }

  private async checkChecking(pc: RTCPeerConnection, restartsSoFar: number): Promise<void> {
    if (this.closed || pc !== this.pc || pc.iceConnectionState !== 'checking') return;
    let succeeded = false;
    try {
      (await pc.getStats()).forEach((s: { type: string; state?: string }) => {
        if (s.type === 'candidate-pair' && s.state === 'succeeded') succeeded = true;
      });
    } catch {
      return;
    }
    if (this.closed || pc !== this.pc || pc.iceConnectionState !== 'checking') return;
    if (!succeeded) {
      this.armCheckingWatchdog(restartsSoFar);
      return;
    }
    this.options.logger.info(
      `ICE with ${this.remoteId} still checking after ${this.options.stuckTimeoutMs} ms with working candidate pairs; restarting ICE`,
    );
    this.lastIceRestartAt = 0; // not a repeat of an earlier restart: do not let the spacing skip it
    void this.restartIce('local');
    this.armCheckingWatchdog(restartsSoFar + 1);
  }

  private armWatchdog(): void {
    clearTimeout(this.watchdog);
    const base = this.options.stuckTimeoutMs;
    if (base <= 0) return;
    // The polite side waits longer so that both sides rarely rebuild at the same moment.
    this.watchdog = setTimeout(() => this.checkStuck(), this.options.polite ? base * 2 : base);
  }

  private checkStuck(): void {
    const pc = this.pc;
    if (this.closed || pc.connectionState !== 'new') return;
    if (!this.hooks.signalingUp()) {
      this.armWatchdog(); // judged once signaling is back (see signalingRestored)
      return;
    }
    if (pc.iceGatheringState === 'complete' && this.gatheringFailureReported) return; // a configuration problem, reported already
    if (this.diagnostics.recreations >= this.options.maxRecreations) {
      this.hooks.onError(SwitchboardError.connectionStuck(this.remoteId, this.diagnostics.recreations));
      return;
    }
    this.options.logger.info(`connection to ${this.remoteId} stuck in "new"; recreating it`);
    this.recreate(true);
    // A signal still being applied to the stuck connection may never finish: do not wait for it.
    this.resetIncoming();
  }

  /**
   * An explicit renegotiation or ICE restart must settle: back to `stable` with nothing pending.
   * Seen in CI: after both sides restarted ICE at once, neither sent an offer nor changed state
   * again. Like a link stuck in `new`, such a link is rebuilt rather than trusted; the polite side
   * waits twice as long so both rarely rebuild at once.
   */
  private armNegotiationWatchdog(): void {
    clearTimeout(this.negotiationWatchdog);
    const base = this.options.stuckTimeoutMs;
    if (base <= 0) return;
    this.negotiationWatchdogArmed = true;
    this.negotiationWatchdog = setTimeout(
      () => this.checkNegotiation(),
      this.options.polite ? base * 2 : base,
    );
  }

  private checkNegotiation(): void {
    const pc = this.pc;
    if (this.closed) return;
    if (!this.hooks.signalingUp()) {
      // An offer queued while signaling is down cannot settle. Rebuilding would only drop the media
      // and data that still flow (seen when a resume took longer than the watchdog's wait).
      this.armNegotiationWatchdog();
      return;
    }
    this.negotiationWatchdogArmed = false;
    const pending = {
      signalingState: pc.signalingState,
      makingOffer: this.makingOffer,
      renegotiateWhenStable: this.renegotiateWhenStable,
      iceRestartPending: this.iceRestartPending,
    };
    if (
      pc.signalingState === 'stable' &&
      !this.makingOffer &&
      !this.renegotiateWhenStable &&
      !this.iceRestartPending
    ) {
      return;
    }
    if (this.diagnostics.recreations >= this.options.maxRecreations) {
      this.hooks.onError(SwitchboardError.connectionStuck(this.remoteId, this.diagnostics.recreations));
      return;
    }
    this.options.logger.info(
      `negotiation with ${this.remoteId} did not settle (${JSON.stringify(pending)}); recreating the connection`,
    );
    this.recreate(true);
    this.resetIncoming();
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
    clearTimeout(this.checkingWatchdog);
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
    clearTimeout(this.negotiationWatchdog);
    this.negotiationWatchdogArmed = false;
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

/** Settles with `promise`, or after `ms` (calling `onTimeout`) if it has not settled by then. */
function withTimeout(promise: Promise<void>, ms: number, onTimeout: () => void): Promise<void> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<void>((resolve) => {
    timer = setTimeout(() => {
      onTimeout();
      resolve();
    }, ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

function errorText(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error);
}
