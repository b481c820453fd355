// A two-peer call between SDK clients built in blank pages (any browser), for options the demo page
// does not offer (`candidateBatchWindowMs`), timed from the second peer's `connect()` to both sides
// `connected`; and the server's count of candidate messages from `/metrics`.
import type { Participant } from './participant.js';
import { waitFor } from './wait.js';

export interface SdkClientOptions {
  room: string;
  name: string;
  /** Passed to the client when set; the SDK's default otherwise. */
  candidateBatchWindowMs?: number;
  /** `iceTransportPolicy: 'relay'`. */
  relay?: boolean;
}

interface CallWindow {
  switchboard?: {
    peerId: string | null;
    getPeer(peerId: string): { diagnostics: { localCandidates: number } } | undefined;
  };
  /** When (epoch ms) the link to each peer first reached `connected`. */
  sbConnectedAt?: Record<string, number>;
}

/**
 * Builds a client with the served SDK in `peer`'s blank page and joins. Resolves with the epoch ms
 * just before `connect()` (getUserMedia is done by then), once joined.
 */
export function startSdkClient(peer: Participant, options: SdkClientOptions): Promise<number> {
  return peer.evaluate(async ({ room, name, candidateBatchWindowMs, relay }) => {
    const sdk = (await import(`${location.origin}/switchboard.js`)) as typeof import('../../src/index.js');
    const localStream = await navigator.mediaDevices.getUserMedia({ audio: true, video: true });
    const client = new sdk.SwitchboardClient({
      room,
      displayName: name,
      localStream,
      iceTransportPolicy: relay ? 'relay' : 'all',
      ...(candidateBatchWindowMs === undefined ? {} : { candidateBatchWindowMs }),
    });
    const page = window as unknown as CallWindow & { switchboard: unknown };
    page.switchboard = client;
    const connectedAt: Record<string, number> = {};
    page.sbConnectedAt = connectedAt;
    client.on('connectionStateChange', (e) => {
      if (e.connectionState === 'connected' && !(e.peerId in connectedAt)) connectedAt[e.peerId] = Date.now();
    });
    const startedAt = Date.now();
    await client.connect();
    return startedAt;
  }, options);
}

export interface TimedCall {
  aId: string;
  bId: string;
  /** From the second peer's `connect()` to both links `connected`, ms. */
  connectMs: number;
  /** Local candidates both sides gathered (end-of-candidates not counted). */
  gathered: number;
}

/**
 * `a` joins, then `b` (the newcomer, which offers); resolves when both links are `connected`.
 * The pages must be blank pages of the server's origin.
 */
export async function timedCall(
  a: Participant,
  b: Participant,
  options: Omit<SdkClientOptions, 'name'>,
  diagnose: () => string | Promise<string>,
): Promise<TimedCall> {
  await startSdkClient(a, { ...options, name: a.name });
  const startedAt = await startSdkClient(b, { ...options, name: b.name });
  const aId = await a.evaluate(() => (window as unknown as CallWindow).switchboard?.peerId ?? null);
  const bId = await b.evaluate(() => (window as unknown as CallWindow).switchboard?.peerId ?? null);
  if (!aId || !bId) throw new Error('a client has no peer id after joining');
  const connectedAt = (peer: Participant, remote: string) =>
    peer.evaluate((id) => (window as unknown as CallWindow).sbConnectedAt?.[id] ?? null, remote);
  const both = await waitFor(
    'both links connected',
    async () => {
      const [x, y] = [await connectedAt(a, bId), await connectedAt(b, aId)];
      return x !== null && y !== null ? Math.max(x, y) : null;
    },
    { timeoutMs: 20_000, intervalMs: 20, diagnose },
  );
  return { aId, bId, connectMs: both - startedAt, gathered: await gatheredCandidates(a, bId, b, aId) };
}

/** Local candidates `a` gathered for its link to `bId` plus those `b` gathered for `aId` (ends not counted). */
export async function gatheredCandidates(
  a: Participant,
  bId: string,
  b: Participant,
  aId: string,
): Promise<number> {
  const gatheredBy = (peer: Participant, remote: string) =>
    peer.evaluate(
      (id) => (window as unknown as CallWindow).switchboard?.getPeer(id)?.diagnostics.localCandidates ?? 0,
      remote,
    );
  return (await gatheredBy(a, bId)) + (await gatheredBy(b, aId));
}

/** Candidate messages the server has handled so far (`switchboard_client_events_total`, every outcome). */
export async function candidateMessages(serverUrl: string): Promise<{ single: number; batches: number }> {
  const text = await (await fetch(`${serverUrl}/metrics`)).text();
  const count = (event: string) =>
    text
      .split('\n')
      .filter((line) => line.startsWith(`switchboard_client_events_total{event="${event}"`))
      .reduce((sum, line) => sum + Number(line.slice(line.lastIndexOf(' ') + 1)), 0);
  return { single: count('iceCandidate'), batches: count('iceCandidates') };
}

/** Median and range of `values`, rounded to ms. */
export function describeTimes(values: number[]): { n: number; median: number; min: number; max: number } {
  const sorted = [...values].sort((x, y) => x - y);
  const mid = Math.floor(sorted.length / 2);
  const median = sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
  return { n: sorted.length, median: Math.round(median), min: sorted[0] ?? NaN, max: sorted.at(-1) ?? NaN };
}
