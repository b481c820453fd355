import { z } from 'zod';

/**
 * Runtime schemas for every client → server payload. The TypeScript types in `events.ts` are
 * derived from these, so the server's validation and the SDK's types cannot drift apart.
 */

/** Limits that the server configures; the schemas are built from them. */
export interface ProtocolLimits {
  /** Largest SDP accepted, in UTF-8 bytes. Default 65536 (64 KiB). */
  maxSdpBytes: number;
  /** Largest `metadata` object accepted on `joinRoom`, in bytes of its JSON. Default 2048. */
  maxMetadataBytes: number;
}

export const DEFAULT_LIMITS: ProtocolLimits = { maxSdpBytes: 64 * 1024, maxMetadataBytes: 2048 };

/** Room ids: 1-64 characters, letters, digits and `_ - . :`, starting with a letter or digit. */
export const ROOM_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$/;
/** Peer ids are assigned by the server; clients may only name ones of this shape. */
export const PEER_ID_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;
/** Message ids: 1-128 printable ASCII characters without spaces. */
export const MESSAGE_ID_PATTERN = /^[\x21-\x7e]{1,128}$/;
/** An SDP is a sequence of `<type>=<value>` lines starting with `v=0` (RFC 8866 §5). */
export const SDP_PATTERN = /^v=0\r?\n(?:[a-z]=[^\r\n]*(?:\r?\n|$))+$/;
/** RFC 8839 §5.1 candidate-attribute, with or without the `a=` prefix; '' means end-of-candidates. */
export const CANDIDATE_PATTERN = /^(?:(?:a=)?candidate:[^\r\n]+)?$/;

/** Longest token (JWT) accepted in the handshake or `refreshToken`. */
export const MAX_TOKEN_LENGTH = 8192;

export const PEER_CONNECTION_STATES = [
  'new',
  'connecting',
  'connected',
  'disconnected',
  'failed',
  'closed',
] as const;
export const ICE_CONNECTION_STATES = [
  'new',
  'checking',
  'connected',
  'completed',
  'disconnected',
  'failed',
  'closed',
] as const;

/** UTF-8 length of a string without allocating; exact, and cheap for ASCII SDP. */
export function utf8Length(s: string): number {
  let bytes = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) bytes += 1;
    else if (c < 0x800) bytes += 2;
    else if (c >= 0xd800 && c <= 0xdbff) {
      bytes += 4;
      i++;
    } else bytes += 3;
  }
  return bytes;
}

export const roomIdSchema = z.string().regex(ROOM_ID_PATTERN, 'roomId must be 1-64 of [A-Za-z0-9_.:-]');
export const peerIdSchema = z.string().regex(PEER_ID_PATTERN, 'peer id must be 1-64 of [A-Za-z0-9_-]');
export const messageIdSchema = z
  .string()
  .regex(MESSAGE_ID_PATTERN, 'messageId must be 1-128 printable ASCII characters');
export const sequenceSchema = z
  .number()
  .int('sequence must be an integer')
  .nonnegative('sequence must be >= 0')
  .max(Number.MAX_SAFE_INTEGER);

/** Bounds of a candidate's fields (UTF-16 code units for strings). */
export const CANDIDATE_LIMITS = {
  candidate: 1024,
  sdpMid: 64,
  sdpMLineIndex: 65535,
  usernameFragment: 256,
} as const;

/**
 * Whether an SDP is over `maxBytes` in UTF-8. Characters are a lower bound on bytes, so the bytes
 * are only counted when that can matter.
 */
export function sdpTooLarge(sdp: string, maxBytes: number): boolean {
  return sdp.length > maxBytes || (sdp.length * 3 > maxBytes && utf8Length(sdp) > maxBytes);
}

export const iceCandidateSchema = z.object({
  candidate: z
    .string()
    .max(CANDIDATE_LIMITS.candidate)
    .regex(CANDIDATE_PATTERN, 'candidate must be an RFC 8839 candidate line'),
  sdpMid: z.string().max(CANDIDATE_LIMITS.sdpMid).nullable().optional(),
  sdpMLineIndex: z.number().int().min(0).max(CANDIDATE_LIMITS.sdpMLineIndex).nullable().optional(),
  usernameFragment: z.string().max(CANDIDATE_LIMITS.usernameFragment).nullable().optional(),
});

/** Most candidates in one `iceCandidates` batch. */
export const MAX_CANDIDATES_PER_BATCH = 32;

/** Builds the schemas for the given limits (the server builds them once at start-up). */
export function createSchemas(limits: ProtocolLimits = DEFAULT_LIMITS) {
  const sdp = z
    .string()
    .min(1)
    .check((ctx) => {
      const s = ctx.value;
      if (sdpTooLarge(s, limits.maxSdpBytes)) {
        ctx.issues.push({
          code: 'too_big',
          origin: 'string',
          maximum: limits.maxSdpBytes,
          input: s,
          message: `sdp is larger than ${limits.maxSdpBytes} bytes`,
          params: { tooLarge: true },
        });
        return;
      }
      if (!SDP_PATTERN.test(s)) {
        ctx.issues.push({
          code: 'custom',
          input: s,
          message: 'sdp must be a session description starting with v=0',
        });
      }
    });

  const metadata = z.record(z.string().max(64), z.json()).check((ctx) => {
    if (utf8Length(JSON.stringify(ctx.value)) > limits.maxMetadataBytes) {
      ctx.issues.push({
        code: 'custom',
        input: ctx.value,
        message: `metadata is larger than ${limits.maxMetadataBytes} bytes`,
        params: { tooLarge: true },
      });
    }
  });

  const joinRoom = z.object({
    roomId: roomIdSchema,
    displayName: z.string().trim().min(1).max(64).optional(),
    metadata: metadata.optional(),
  });
  const leaveRoom = z.object({ roomId: roomIdSchema });
  const sdpSignal = z.object({
    roomId: roomIdSchema,
    to: peerIdSchema,
    sdp,
    sequence: sequenceSchema.optional(),
    messageId: messageIdSchema.optional(),
  });
  const iceCandidate = z.object({
    roomId: roomIdSchema,
    to: peerIdSchema,
    candidate: iceCandidateSchema.nullable(),
    sequence: sequenceSchema.optional(),
    messageId: messageIdSchema.optional(),
  });
  const iceCandidates = z.object({
    roomId: roomIdSchema,
    to: peerIdSchema,
    candidates: z.array(iceCandidateSchema.nullable()).min(1).max(MAX_CANDIDATES_PER_BATCH),
    sequence: sequenceSchema.optional(),
    messageId: messageIdSchema.optional(),
  });
  const connectionState = z.object({
    roomId: roomIdSchema,
    peerId: peerIdSchema,
    connectionState: z.enum(PEER_CONNECTION_STATES),
    iceConnectionState: z.enum(ICE_CONNECTION_STATES),
  });
  const refreshToken = z.object({ token: z.string().min(1).max(MAX_TOKEN_LENGTH) });
  // Call-quality telemetry: types and numbers only, never addresses.
  const candidateType = z.enum(['host', 'srflx', 'prflx', 'relay']);
  const callQuality = z.strictObject({
    roomId: roomIdSchema,
    peerId: peerIdSchema,
    /** ms from this side's first offer or the first remote offer to `connected`. */
    setupMs: z.number().int().min(0).max(600_000).optional(),
    localCandidateType: candidateType.optional(),
    remoteCandidateType: candidateType.optional(),
    protocol: z.enum(['udp', 'tcp', 'tls']).optional(),
    /** The selected pair's current round-trip time, ms. */
    rttMs: z.number().min(0).max(60_000).optional(),
    /** Why the link failed, when it did. */
    failure: z
      .enum(['ice-restart-exhausted', 'ice-gathering-failed', 'turn-refused', 'negotiation-failed'])
      .optional(),
  });
  return {
    joinRoom,
    leaveRoom,
    offer: sdpSignal,
    answer: sdpSignal,
    iceCandidate,
    iceCandidates,
    connectionState,
    refreshToken,
    callQuality,
  };
}

export type Schemas = ReturnType<typeof createSchemas>;
