import type { CandidateSummary, SelectedCandidatePair } from './types.js';

// Reading an `RTCStatsReport`. The DOM typings lag behind the stats spec (and differ between
// browsers), so entries are read as plain records and every field is checked before use.

type Stat = Record<string, unknown> & { id: string; type: string };

function entries(report: RTCStatsReport): Stat[] {
  const all: Stat[] = [];
  report.forEach((value: Stat) => all.push(value));
  return all;
}

function text(value: unknown): string | undefined {
  return typeof value === 'string' && value.length > 0 ? value : undefined;
}

function num(value: unknown): number | undefined {
  return typeof value === 'number' && Number.isFinite(value) ? value : undefined;
}

/**
 * The candidate pair the connection uses: the `transport` stat's `selectedCandidatePairId`
 * (Chromium; Firefox ESR 153 too), else the pair flagged `selected` (older Firefox), else a
 * nominated, succeeded one (Firefox may list two nominated pairs, so that comes last).
 * `null` before one is selected.
 */
export function selectedCandidatePair(report: RTCStatsReport): SelectedCandidatePair | null {
  const stats = entries(report);
  const transport = stats.find((s) => s.type === 'transport' && text(s.selectedCandidatePairId));
  let pair = transport
    ? (report.get(transport.selectedCandidatePairId as string) as Stat | undefined)
    : undefined;
  pair ??=
    stats.find((s) => s.type === 'candidate-pair' && s.selected === true) ??
    stats.find((s) => s.type === 'candidate-pair' && s.nominated === true && s.state === 'succeeded');
  if (!pair) return null;
  const summary = (id: unknown): CandidateSummary => {
    const c = (typeof id === 'string' ? report.get(id) : undefined) as Record<string, unknown> | undefined;
    const candidate: CandidateSummary = { candidateType: text(c?.candidateType) ?? 'unknown' };
    const protocol = text(c?.protocol);
    if (protocol) candidate.protocol = protocol;
    const relayProtocol = text(c?.relayProtocol);
    if (relayProtocol) candidate.relayProtocol = relayProtocol;
    const address = text(c?.address) ?? text(c?.ip);
    if (address) candidate.address = address;
    const port = num(c?.port);
    if (port !== undefined) candidate.port = port;
    return candidate;
  };
  const selected: SelectedCandidatePair = {
    local: summary(pair.localCandidateId),
    remote: summary(pair.remoteCandidateId),
  };
  const rtt = num(pair.currentRoundTripTime);
  if (rtt !== undefined) selected.currentRoundTripTime = rtt;
  return selected;
}
