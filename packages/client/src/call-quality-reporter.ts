import type { CallQualityReport } from '@switchboard/protocol';
import { ErrorReason, type SwitchboardError } from './errors.js';
import type { Logger } from './logger.js';
import { selectedCandidatePair } from './stats.js';

type CandidateType = NonNullable<CallQualityReport['localCandidateType']>;
type Protocol = NonNullable<CallQualityReport['protocol']>;
type Failure = NonNullable<CallQualityReport['failure']>;

const CANDIDATE_TYPES: readonly string[] = ['host', 'srflx', 'prflx', 'relay'] satisfies CandidateType[];
const PROTOCOLS: readonly string[] = ['udp', 'tcp', 'tls'] satisfies Protocol[];
/** The schema's bounds: a longer setup or RTT is not sent (the server would refuse the report). */
const MAX_SETUP_MS = 600_000;
const MAX_RTT_MS = 60_000;
/**
 * Right at `connected`, Chromium may not have put the selected pair into its stats yet: read them
 * again a few times before giving up on this report.
 */
const STATS_ATTEMPTS = 5;
const STATS_RETRY_MS = 200;
/**
 * An ICE restart of a connected link often changes no state at all (Chromium stays `connected`
 * throughout), yet it may move the link to another pair: read the pair again this long after one.
 */
const RESTART_SETTLE_MS = 2000;
/** STUN/TURN error codes of an allocation the TURN server refused (RFC 8656): bad credentials, forbidden, quota. */
const TURN_REFUSALS = new Set([401, 403, 437, 441, 486]);

export interface CallQualityReporterHooks {
  /** The stats of the link to `peerId`, or `null` when there is no such link (any more). */
  getStats(peerId: string): Promise<RTCStatsReport> | null;
  /** Sends one report; fire and forget (a refused or lost report must not disturb the call). */
  send(report: CallQualityReport): void;
}

interface LinkRecord {
  /** When the first offer of the link was sent or received (epoch ms). */
  firstOfferAt: number | null;
  setupReported: boolean;
  /** The selected pair last reported, as `local/remote/protocol`. */
  lastPair: string | null;
  failures: Set<Failure>;
  /** A stats read is under way; state changes meanwhile are covered by it. */
  sampling: boolean;
  retry: ReturnType<typeof setTimeout> | undefined;
  connectionState: RTCPeerConnectionState;
  afterRestart: ReturnType<typeof setTimeout> | undefined;
}

/**
 * Call-quality telemetry, per peer link: once the link is `connected`, the selected candidate
 * pair's types and protocol, its round-trip time and (in the first report) the setup time; again
 * whenever the pair's types or protocol change (read at each state change of a connected link and
 * shortly after each ICE restart, which may move it to a relay), not on every RTT change; and why a
 * link failed. Only types and numbers leave the browser, never addresses.
 *
 * The setup clock starts at the link's first offer, whichever side made it: the facade calls
 * `offerSeen` for each offer this side sends and each remote offer it receives.
 */
export class CallQualityReporter {
  private readonly links = new Map<string, LinkRecord>();
  private closed = false;

  constructor(
    private readonly roomId: string,
    private readonly hooks: CallQualityReporterHooks,
    private readonly logger: Logger,
  ) {}

  /** An offer was sent to or received from `peerId`: the setup clock starts at the first one. */
  offerSeen(peerId: string): void {
    const link = this.link(peerId);
    link.firstOfferAt ??= Date.now();
  }

  /** The link's state changed; a `connected` link gets its selected pair read and, if new, reported. */
  stateChanged(peerId: string, connectionState: RTCPeerConnectionState): void {
    if (this.closed) return;
    const link = this.link(peerId);
    link.connectionState = connectionState;
    if (connectionState !== 'connected' || link.sampling) return;
    link.sampling = true;
    void this.sample(peerId, link, Date.now(), 1);
  }

  /** An ICE restart of the link started: its pair is read again once it has had time to settle. */
  restarted(peerId: string): void {
    if (this.closed) return;
    const link = this.link(peerId);
    clearTimeout(link.afterRestart);
    link.afterRestart = setTimeout(() => {
      if (this.links.get(peerId) === link) this.stateChanged(peerId, link.connectionState);
    }, RESTART_SETTLE_MS);
  }

  /** The link to `peerId` failed for `error`'s reason: reported once per reason and link. */
  failed(peerId: string, error: SwitchboardError): void {
    const failure = failureOf(error);
    if (this.closed || !failure) return;
    const link = this.link(peerId);
    if (link.failures.has(failure)) return;
    link.failures.add(failure);
    this.hooks.send({ roomId: this.roomId, peerId, failure });
  }

  /** The link is gone: a new link to the same peer id starts over. */
  forget(peerId: string): void {
    const link = this.links.get(peerId);
    if (link) {
      clearTimeout(link.retry);
      clearTimeout(link.afterRestart);
    }
    this.links.delete(peerId);
  }

  close(): void {
    this.closed = true;
    for (const peerId of [...this.links.keys()]) this.forget(peerId);
  }

  private link(peerId: string): LinkRecord {
    let link = this.links.get(peerId);
    if (!link) {
      link = {
        firstOfferAt: null,
        setupReported: false,
        lastPair: null,
        failures: new Set(),
        sampling: false,
        retry: undefined,
        connectionState: 'new',
        afterRestart: undefined,
      };
      this.links.set(peerId, link);
    }
    return link;
  }

  private async sample(
    peerId: string,
    link: LinkRecord,
    connectedAt: number,
    attempt: number,
  ): Promise<void> {
    let report: CallQualityReport | null = null;
    try {
      const stats = await this.hooks.getStats(peerId);
      report = stats ? this.reportFrom(peerId, stats) : null;
    } catch (error) {
      this.logger.debug(`call quality: getStats for ${peerId} failed`, error);
    }
    if (this.closed || this.links.get(peerId) !== link) return;
    if (!report && attempt < STATS_ATTEMPTS) {
      link.retry = setTimeout(() => void this.sample(peerId, link, connectedAt, attempt + 1), STATS_RETRY_MS);
      return;
    }
    link.sampling = false;
    if (!report) return;
    const pair = `${report.localCandidateType}/${report.remoteCandidateType}/${report.protocol ?? ''}`;
    if (pair === link.lastPair) return;
    link.lastPair = pair;
    if (!link.setupReported && link.firstOfferAt !== null) {
      link.setupReported = true;
      const setupMs = Math.round(connectedAt - link.firstOfferAt);
      if (setupMs >= 0 && setupMs <= MAX_SETUP_MS) report.setupMs = setupMs;
    }
    this.hooks.send(report);
  }

  /** The report of a connected link, or `null` while no pair with known candidate types is selected. */
  private reportFrom(peerId: string, stats: RTCStatsReport): CallQualityReport | null {
    const pair = selectedCandidatePair(stats);
    if (!pair) return null;
    const local = pair.local.candidateType;
    const remote = pair.remote.candidateType;
    if (!CANDIDATE_TYPES.includes(local) || !CANDIDATE_TYPES.includes(remote)) return null;
    const report: CallQualityReport = {
      roomId: this.roomId,
      peerId,
      localCandidateType: local as CandidateType,
      remoteCandidateType: remote as CandidateType,
    };
    // For a relayed pair, what crosses this side's network is the leg to the TURN server.
    const protocol = (local === 'relay' && pair.local.relayProtocol) || pair.local.protocol;
    if (protocol && PROTOCOLS.includes(protocol)) report.protocol = protocol as Protocol;
    const rtt = pair.currentRoundTripTime;
    if (rtt !== undefined && rtt >= 0 && rtt * 1000 <= MAX_RTT_MS)
      report.rttMs = Math.round(rtt * 1000 * 10) / 10;
    return report;
  }
}

/** The telemetry reason of an SDK error about a link, or `null` when it is not a link failure. */
function failureOf(error: SwitchboardError): Failure | null {
  switch (error.reason) {
    case ErrorReason.IceFailed:
      return 'ice-restart-exhausted';
    case ErrorReason.IceGatheringFailed: {
      const refused = error.extra.candidateErrors?.some(
        (e) => /^turns?:/.test(e.url) && TURN_REFUSALS.has(e.errorCode),
      );
      return refused ? 'turn-refused' : 'ice-gathering-failed';
    }
    case ErrorReason.NegotiationFailed:
    case ErrorReason.ConnectionStuck:
      return 'negotiation-failed';
    default:
      return null;
  }
}
