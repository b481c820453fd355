import { type IceCandidateInit, iceRestartSide, isPolite } from '@switchboard/protocol';
import { CallQualityReporter } from './call-quality-reporter.js';
import type { ConnectionState } from './connection-state.js';
import { DEFAULT_OPTIONS } from './defaults.js';
import { SwitchboardError } from './errors.js';
import { IceServerCache } from './ice-server-cache.js';
import { createConsoleLogger } from './logger.js';
import { PeerLink } from './peer-link.js';
import { RoomSession } from './room-session.js';
import { selectedCandidatePair } from './stats.js';
import { TypedEmitter } from './typed-emitter.js';
import type {
  JoinResult,
  PeerLeaveReason,
  PeerSnapshot,
  RemotePeer,
  SelectedCandidatePair,
  SwitchboardClientOptions,
  SwitchboardEvents,
} from './types.js';

export type {
  CandidateSummary,
  JoinResult,
  PeerLeaveReason,
  PeerSnapshot,
  RemotePeer,
  SelectedCandidatePair,
  SwitchboardClientOptions,
  SwitchboardEvents,
} from './types.js';

/** The options with every default applied (`DEFAULT_OPTIONS`), once, in the constructor. */
type ResolvedOptions = SwitchboardClientOptions &
  Required<Pick<SwitchboardClientOptions, 'url' | keyof typeof DEFAULT_OPTIONS>>;

interface PeerEntry {
  info: RemotePeer;
  link: PeerLink;
  stream: MediaStream | null;
}

/**
 * A participant of one Switchboard room: connects to the server's `/webrtc` namespace over
 * WebSocket, joins the room and keeps one RTCPeerConnection per remote peer (a full mesh).
 *
 * - Negotiation is W3C perfect negotiation (`isPolite` of the protocol picks the polite side);
 *   a newcomer offers to the peers already in the room and they answer.
 * - Signals are acknowledged, retried, de-duplicated by `messageId`, ordered by `sequence`,
 *   and queued while the socket is down.
 * - Losing the server does not end calls: the client reconnects with backoff, resumes its
 *   session (same peer id) or, when the server has forgotten it, rejoins cleanly.
 * - ICE restarts when the server asks (`iceRestartRequired`) or when the link fails on the
 *   side that owns restarts, with fresh TURN credentials.
 *
 * This class is the facade: options, events, snapshots and the peer links (media and data). The
 * room membership and the signaling connection are its `RoomSession`'s (`room-session.ts`).
 *
 * @example
 * const localStream = await navigator.mediaDevices.getUserMedia({ audio: true, video: true });
 * const client = new SwitchboardClient({ room: 'standup', displayName: 'Ada', localStream });
 * client.on('remoteStream', ({ peerId, stream }) => { videoFor(peerId).srcObject = stream; });
 * client.on('peerLeft', ({ peerId }) => removeVideo(peerId));
 * await client.connect();
 * // later
 * await client.close();
 */
export class SwitchboardClient extends TypedEmitter<SwitchboardEvents> {
  private readonly options: ResolvedOptions;
  private readonly session: RoomSession;
  private readonly iceServers: IceServerCache;
  private readonly quality: CallQualityReporter | null;
  private readonly peers = new Map<string, PeerEntry>();
  private localStream: MediaStream | null;
  private closePromise: Promise<void> | null = null;

  constructor(options: SwitchboardClientOptions) {
    super(options.logger ?? createConsoleLogger(options.logLevel ?? DEFAULT_OPTIONS.logLevel));
    const url = (options.url ?? globalThis.location?.origin ?? '').replace(/\/+$/, '');
    if (!url) throw new TypeError('options.url is required outside a browser page');
    if (!options.room) throw new TypeError('options.room is required');
    const defined = Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined));
    this.options = { ...DEFAULT_OPTIONS, ...defined, url } as ResolvedOptions;
    this.localStream = options.localStream ?? null;
    const o = this.options;
    this.session = new RoomSession(
      {
        url,
        room: o.room,
        displayName: o.displayName,
        metadata: o.metadata,
        ackTimeoutMs: o.ackTimeoutMs,
        maxSendAttempts: o.maxSendAttempts,
        connectTimeoutMs: o.connectTimeoutMs,
        resumeTimeoutMs: o.resumeTimeoutMs,
        candidateBatchWindowMs: o.candidateBatchWindowMs,
        reconnectPolicy: o.reconnectPolicy,
        token: o.token ?? o.authToken,
        getToken: o.getToken,
        logger: this.logger,
      },
      {
        onStateChange: (state, previous) => this.safeEmit('stateChange', { state, previous }),
        onJoined: (result) => this.safeEmit('joined', result),
        onReconnected: (event) => this.onReconnected(event),
        onReconnecting: (info) => this.safeEmit('reconnecting', info),
        onPeerJoined: (peer, initiator) => this.addPeer(peer, initiator),
        onPeerLeft: (peerId, reason) => this.removePeer(peerId, reason),
        onDescription: (peerId, type, sdp) => {
          if (type === 'offer') this.quality?.offerSeen(peerId);
          void this.peers.get(peerId)?.link.handleDescription(type, sdp);
        },
        onCandidate: (peerId, candidate) => void this.peers.get(peerId)?.link.handleCandidate(candidate),
        onIceRestartRequired: (peerId, attempt) =>
          void this.peers.get(peerId)?.link.restartIce('server', attempt),
        onConnectionFailed: (peerId, reason) => this.linkError(SwitchboardError.iceFailed(peerId, reason)),
        onServerMessage: (event) => this.safeEmit('serverMessage', event),
        onIceServers: (servers, expiresAt) => this.iceServers.use(servers, expiresAt),
        onError: (error) => this.safeEmit('error', error),
        onClosing: () => this.closeLinks(),
        onClosed: (reason) => this.safeEmit('closed', { reason }),
      },
    );
    this.iceServers = new IceServerCache({
      url,
      fixed: o.iceServers,
      token: () => this.session.token.forHandshake(),
      onTokenRefused: () => {
        if (!this.session.token.renewable) return false;
        this.session.token.markStale(); // refused: once more with a new token
        return true;
      },
      onRefreshed: (servers) => {
        for (const { link } of this.peers.values()) link.setIceServers(servers);
      },
      logger: this.logger,
    });
    this.quality = o.callQualityReports
      ? new CallQualityReporter(
          o.room,
          {
            getStats: (peerId) => this.peers.get(peerId)?.link.getStats() ?? null,
            send: (report) => this.session.report('callQuality', report),
          },
          this.logger,
        )
      : null;
  }

  /** The client's own state. */
  get state(): ConnectionState {
    return this.session.state;
  }

  /** Our peer id in the room, once joined. */
  get peerId(): string | null {
    return this.session.peerId;
  }

  get roomId(): string {
    return this.options.room;
  }

  /**
   * Fetches the server's settings, connects and joins the room. Resolves once joined; rejects
   * when the server refuses the join or the reconnect policy gives up. Calling it while
   * connecting or connected returns the same result.
   */
  connect(): Promise<JoinResult> {
    return this.session.connect();
  }

  /**
   * Leaves the room, closes every peer connection and the socket. Safe to call more than once;
   * the client cannot be reused afterwards.
   */
  close(): Promise<void> {
    this.closePromise ??= this.session.close('closed by the application', true);
    return this.closePromise;
  }

  // ---- peers ----

  /** The one place a PeerLink is made: for each peer the room session announces. */
  private addPeer(info: RemotePeer, initiator: boolean): void {
    const selfId = this.session.peerId;
    if (!selfId || this.peers.has(info.peerId)) return;
    const peerId = info.peerId;
    const o = this.options;
    const link = new PeerLink(
      {
        selfId,
        remoteId: peerId,
        initiator,
        polite: isPolite(selfId, peerId),
        iceRestartSide: iceRestartSide(selfId, peerId) === selfId,
        rtcConfiguration: {
          iceServers: this.iceServers.current(),
          iceTransportPolicy: o.iceTransportPolicy,
          bundlePolicy: 'max-bundle',
          rtcpMuxPolicy: 'require',
        },
        localStream: this.localStream,
        dataChannel: o.dataChannel,
        stuckTimeoutMs: o.stuckConnectionTimeoutMs,
        maxRecreations: o.maxRecreations,
        iceRestartMinIntervalMs: o.iceRestartMinIntervalMs,
        logger: this.logger,
      },
      {
        sendOffer: (sdp) => {
          this.quality?.offerSeen(peerId);
          this.session.signal('offer', peerId, { sdp });
        },
        sendAnswer: (sdp) => this.session.signal('answer', peerId, { sdp }),
        sendCandidate: (candidate) =>
          this.session.signal('iceCandidate', peerId, { candidate: toWireCandidate(candidate) }),
        onTrack: (track, stream) => {
          const entry = this.peers.get(peerId);
          if (entry) entry.stream = stream;
          this.safeEmit('remoteStream', { peerId, stream, track });
        },
        onStateChange: (connectionState, iceConnectionState) => {
          this.reportState(peerId);
          this.quality?.stateChanged(peerId, connectionState);
          this.safeEmit('connectionStateChange', { peerId, connectionState, iceConnectionState });
        },
        onDataChannelOpen: () => this.safeEmit('dataChannelOpen', { peerId }),
        onDataChannelClose: () => this.safeEmit('dataChannelClose', { peerId }),
        onDataChannelMessage: (data) => this.safeEmit('dataChannelMessage', { peerId, data }),
        onIceRestart: (reason, attempt) => {
          this.quality?.restarted(peerId);
          this.safeEmit('iceRestart', { peerId, reason, attempt });
        },
        onError: (error) => this.linkError(error),
        fetchIceServers: () => this.iceServers.refresh(),
        signalingUp: () => this.session.signalingUp,
      },
    );
    this.peers.set(peerId, { info, link, stream: null });
    this.safeEmit('peerJoined', info);
  }

  private removePeer(peerId: string, reason: PeerLeaveReason): void {
    const entry = this.peers.get(peerId);
    if (!entry) return;
    this.peers.delete(peerId);
    entry.link.close();
    this.quality?.forget(peerId);
    this.safeEmit('peerLeft', { peerId, reason });
  }

  private closeLinks(): void {
    this.iceServers.close();
    this.quality?.close();
    for (const { link } of this.peers.values()) link.close();
    this.peers.clear();
  }

  private onReconnected(event: SwitchboardEvents['reconnected']): void {
    this.safeEmit('reconnected', event);
    if (!event.resumed) return;
    // Same identity: the server's view of each link may be stale, and links waited for signaling.
    for (const [peerId, entry] of this.peers) {
      this.reportState(peerId);
      entry.link.signalingRestored();
    }
  }

  /** An error about one link: told to the app, and (as a failure reason) to the server's telemetry. */
  private linkError(error: SwitchboardError): void {
    if (error.peerId !== undefined) this.quality?.failed(error.peerId, error);
    this.safeEmit('error', error);
  }

  private reportState(peerId: string): void {
    const link = this.peers.get(peerId)?.link;
    if (!link) return;
    this.session.report('connectionState', {
      roomId: this.options.room,
      peerId,
      connectionState: link.connectionState,
      iceConnectionState: link.iceConnectionState,
    });
  }

  private entry(peerId: string): PeerEntry {
    const entry = this.peers.get(peerId);
    if (!entry) throw SwitchboardError.unknownPeer(peerId);
    return entry;
  }

  // ---- snapshots ----

  /** The remote peers and the state of each link. */
  getPeers(): PeerSnapshot[] {
    return [...this.peers.keys()].map((peerId) => this.getPeer(peerId) as PeerSnapshot);
  }

  /** One remote peer and its link, or `undefined`. */
  getPeer(peerId: string): PeerSnapshot | undefined {
    const entry = this.peers.get(peerId);
    if (!entry) return undefined;
    return {
      ...entry.info,
      connectionState: entry.link.connectionState,
      iceConnectionState: entry.link.iceConnectionState,
      signalingState: entry.link.signalingState,
      dataChannelOpen: entry.link.dataChannelOpen,
      diagnostics: { ...entry.link.diagnostics },
    };
  }

  /** The last stream received from a peer, or `null`. */
  getRemoteStream(peerId: string): MediaStream | null {
    return this.peers.get(peerId)?.stream ?? null;
  }

  /**
   * The `RTCStatsReport` of the link to a peer.
   * @throws SwitchboardError `unknown-peer` (as a rejection) when there is no such peer.
   */
  async getStats(peerId: string): Promise<RTCStatsReport> {
    return this.entry(peerId).link.getStats();
  }

  /**
   * The ICE candidate pair the link to a peer uses, or `null` before one is selected.
   * @throws SwitchboardError `unknown-peer` (as a rejection) when there is no such peer.
   */
  async getSelectedCandidatePair(peerId: string): Promise<SelectedCandidatePair | null> {
    return selectedCandidatePair(await this.getStats(peerId));
  }

  // ---- media and data ----

  /**
   * Sends a small message to a peer over the pair's data channel.
   * @returns false when the channel is not open (yet).
   */
  send(peerId: string, data: string | ArrayBuffer | Blob): boolean {
    return this.peers.get(peerId)?.link.send(data) ?? false;
  }

  /** Sends a message to every peer whose data channel is open; returns how many got it. */
  broadcast(data: string | ArrayBuffer | Blob): number {
    let sent = 0;
    for (const { link } of this.peers.values()) if (link.send(data)) sent += 1;
    return sent;
  }

  /** Sends `stream` to every peer instead of the current local stream (`null` stops sending). */
  async setLocalStream(stream: MediaStream | null): Promise<void> {
    this.localStream = stream;
    await Promise.all([...this.peers.values()].map(({ link }) => link.setLocalStream(stream)));
  }

  /** The stream sent to peers. */
  getLocalStream(): MediaStream | null {
    return this.localStream;
  }

  /**
   * Mutes or unmutes the local tracks of one kind (the tracks keep flowing, as silence/black).
   * @returns false when the local stream has no track of that kind.
   */
  setTrackEnabled(kind: 'audio' | 'video', enabled: boolean): boolean {
    const tracks = this.localStream?.getTracks().filter((t) => t.kind === kind) ?? [];
    for (const track of tracks) track.enabled = enabled;
    return tracks.length > 0;
  }

  /**
   * Starts a new offer/answer exchange with one peer (or all). Safe while another is running:
   * simultaneous offers from both sides (glare) are resolved by perfect negotiation.
   * @throws SwitchboardError `unknown-peer` (as a rejection) when `peerId` is not in the room.
   */
  async renegotiate(peerId?: string): Promise<void> {
    await Promise.all(this.linksFor(peerId).map((link) => link.renegotiate()));
  }

  /**
   * Restarts ICE with one peer (or all) with fresh ICE servers.
   * @throws SwitchboardError `unknown-peer` (as a rejection) when `peerId` is not in the room.
   */
  async restartIce(peerId?: string): Promise<void> {
    await Promise.all(this.linksFor(peerId).map((link) => link.restartIce('manual')));
  }

  private linksFor(peerId: string | undefined): PeerLink[] {
    if (peerId === undefined) return [...this.peers.values()].map((e) => e.link);
    return [this.entry(peerId).link];
  }
}

function toWireCandidate(candidate: RTCIceCandidateInit | null): IceCandidateInit | null {
  if (candidate === null) return null;
  return {
    candidate: candidate.candidate ?? '',
    sdpMid: candidate.sdpMid ?? null,
    sdpMLineIndex: candidate.sdpMLineIndex ?? null,
    usernameFragment: candidate.usernameFragment ?? null,
  };
}
