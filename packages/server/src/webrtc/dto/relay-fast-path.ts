import {
  CANDIDATE_LIMITS,
  CANDIDATE_PATTERN,
  MAX_CANDIDATES_PER_BATCH,
  MESSAGE_ID_PATTERN,
  PEER_ID_PATTERN,
  ROOM_ID_PATTERN,
  SDP_PATTERN,
  sdpTooLarge,
  type IceCandidateInit,
  type ProtocolLimits,
} from '@switchboard/protocol';

/**
 * What a relay event's payload becomes once accepted: the fields the schema knows, nothing else
 * (zod strips unknown keys; so does this).
 */
export interface RelayPayload {
  roomId: string;
  to: string;
  sequence?: number;
  messageId?: string;
  sdp?: string;
  candidate?: IceCandidateInit | null;
  candidates?: (IceCandidateInit | null)[];
}

/** Accepts a payload (returning what zod would return) or returns undefined: "ask zod". */
export type FastPath = (payload: unknown) => RelayPayload | undefined;

type Json = Record<string, unknown>;

/**
 * Fast paths for the four relay events (`offer`, `answer`, `iceCandidate`, `iceCandidates`), the
 * server's hot path. Each checks exactly what the protocol's zod schema checks, with the same
 * patterns and bounds imported from `@switchboard/protocol`, and only ever *accepts*: anything it
 * is not sure of — a missing or odd field, a value of another type — returns undefined, and the
 * gateway asks the zod schema, which decides and words the error. So the schema stays the one
 * definition of what is valid; this only skips its generic machinery (parse contexts, issue lists,
 * per-check closures) for the payloads honest clients send, which measured 5-8 % of the server's
 * CPU under relay load (docs/performance.md). `test/unit/relay-fast-path.test.ts` checks, over
 * generated valid and invalid payloads, that whenever this accepts, zod accepts with an equal result.
 */
export function relayFastPaths(
  limits: ProtocolLimits,
): Record<'sdp' | 'iceCandidate' | 'iceCandidates', FastPath> {
  const envelope = (p: unknown): RelayPayload | undefined => {
    if (p === null || typeof p !== 'object' || Array.isArray(p)) return undefined;
    const { roomId, to, sequence, messageId } = p as Json;
    if (typeof roomId !== 'string' || !ROOM_ID_PATTERN.test(roomId)) return undefined;
    if (typeof to !== 'string' || !PEER_ID_PATTERN.test(to)) return undefined;
    const out: RelayPayload = { roomId, to };
    if (sequence !== undefined) {
      if (typeof sequence !== 'number' || !Number.isSafeInteger(sequence) || sequence < 0) return undefined;
      out.sequence = sequence;
    } else if ('sequence' in p) return undefined; // present but undefined (never from JSON): zod keeps the key
    if (messageId !== undefined) {
      if (typeof messageId !== 'string' || !MESSAGE_ID_PATTERN.test(messageId)) return undefined;
      out.messageId = messageId;
    } else if ('messageId' in p) return undefined;
    return out;
  };
  const { maxSdpBytes } = limits;
  return {
    sdp: (p) => {
      const out = envelope(p);
      const sdp = (p as Json | null)?.sdp;
      if (out === undefined || typeof sdp !== 'string' || sdp.length === 0) return undefined;
      if (sdpTooLarge(sdp, maxSdpBytes) || !SDP_PATTERN.test(sdp)) return undefined;
      out.sdp = sdp;
      return out;
    },
    iceCandidate: (p) => {
      const out = envelope(p);
      if (out === undefined) return undefined;
      const c = (p as Json).candidate;
      if (c === null) out.candidate = null;
      else {
        const candidate = iceCandidate(c);
        if (candidate === undefined) return undefined;
        out.candidate = candidate;
      }
      return out;
    },
    iceCandidates: (p) => {
      const out = envelope(p);
      if (out === undefined) return undefined;
      const list = (p as Json).candidates;
      if (!Array.isArray(list) || list.length === 0 || list.length > MAX_CANDIDATES_PER_BATCH)
        return undefined;
      const candidates: (IceCandidateInit | null)[] = [];
      for (const c of list) {
        if (c === null) candidates.push(null);
        else {
          const candidate = iceCandidate(c);
          if (candidate === undefined) return undefined;
          candidates.push(candidate);
        }
      }
      out.candidates = candidates;
      return out;
    },
  };
}

/** `iceCandidateSchema`: the candidate line and its three optional, nullable companions. */
function iceCandidate(c: unknown): IceCandidateInit | undefined {
  if (c === null || typeof c !== 'object' || Array.isArray(c)) return undefined;
  const { candidate, sdpMid, sdpMLineIndex, usernameFragment } = c as Json;
  if (
    typeof candidate !== 'string' ||
    candidate.length > CANDIDATE_LIMITS.candidate ||
    !CANDIDATE_PATTERN.test(candidate)
  )
    return undefined;
  if (
    (sdpMid === undefined && 'sdpMid' in c) ||
    (sdpMLineIndex === undefined && 'sdpMLineIndex' in c) ||
    (usernameFragment === undefined && 'usernameFragment' in c)
  )
    return undefined; // present but undefined (never from JSON): zod keeps the key, so it decides
  const out: IceCandidateInit = { candidate };
  if (sdpMid !== undefined) {
    if (sdpMid !== null && (typeof sdpMid !== 'string' || sdpMid.length > CANDIDATE_LIMITS.sdpMid))
      return undefined;
    out.sdpMid = sdpMid;
  }
  if (sdpMLineIndex !== undefined) {
    if (
      sdpMLineIndex !== null &&
      (typeof sdpMLineIndex !== 'number' ||
        !Number.isSafeInteger(sdpMLineIndex) ||
        sdpMLineIndex < 0 ||
        sdpMLineIndex > CANDIDATE_LIMITS.sdpMLineIndex)
    )
      return undefined;
    out.sdpMLineIndex = sdpMLineIndex;
  }
  if (usernameFragment !== undefined) {
    if (
      usernameFragment !== null &&
      (typeof usernameFragment !== 'string' || usernameFragment.length > CANDIDATE_LIMITS.usernameFragment)
    )
      return undefined;
    out.usernameFragment = usernameFragment;
  }
  return out;
}
