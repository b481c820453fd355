import { MAX_TOKEN_LENGTH, type ProtocolLimits } from './schemas.js';

/**
 * Deepest nesting of arrays and objects a client → server event payload may have (the event's
 * argument list counts as the first level). Checked before the frame is parsed: JSON.parse of deeply
 * nested input is slow (~80 ns per level) and recursive validation of it overflows the stack.
 */
export const MAX_PAYLOAD_DEPTH = 16;

/**
 * Largest JSON text, in UTF-16 code units (bytes, for ASCII), of one client → server event's
 * arguments as Socket.IO frames them, by event. The server checks a frame's length against its
 * event's limit before parsing it, so an oversized frame costs nothing but its reception.
 * SDPs count twice: JSON escapes each CR LF to four characters.
 */
export function frameLimits(limits: ProtocolLimits): Readonly<Record<string, number>> {
  return Object.freeze({
    joinRoom: 2 * limits.maxMetadataBytes + 1024,
    leaveRoom: 512,
    offer: 2 * limits.maxSdpBytes + 2048,
    answer: 2 * limits.maxSdpBytes + 2048,
    iceCandidate: 4096,
    iceCandidates: 32 * 1024,
    connectionState: 512,
    callQuality: 1024,
    refreshToken: MAX_TOKEN_LENGTH + 512,
  });
}

/** Limit of an event not in {@link frameLimits} (it is answered `VALIDATION_FAILED` as unknown). */
export const DEFAULT_FRAME_LIMIT = 1024;
