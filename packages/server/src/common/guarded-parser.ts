import { DEFAULT_FRAME_LIMIT, ErrorCode, MAX_PAYLOAD_DEPTH } from '@switchboard/protocol';
import { Decoder, Encoder } from 'socket.io-parser';

/**
 * What the guarded decoder puts in place of an event's payload when the frame was refused before
 * parsing. The gateway answers it through the event's acknowledgement like any invalid payload.
 */
export class RefusedFrame {
  constructor(
    readonly code: typeof ErrorCode.PAYLOAD_TOO_LARGE | typeof ErrorCode.VALIDATION_FAILED,
    readonly message: string,
  ) {}
}

// The event name at the start of an event's JSON arguments: `["offer",{...}]`. Any name without
// escapes is taken, so an unknown event is still answered (`VALIDATION_FAILED`, unknown event).
const EVENT_NAME = /^\["([^"\\]{1,128})"/;
const OPEN_BRACKET = 0x5b;
const OPEN_BRACE = 0x7b;
const CLOSE_BRACKET = 0x5d;
const CLOSE_BRACE = 0x7d;
const QUOTE = 0x22;
const BACKSLASH = 0x5c;

/** Whether `json` nests arrays/objects deeper than `max`, without parsing it; stops at the first level past it. */
export function nestsDeeperThan(json: string, max: number): boolean {
  // Fast path: fewer opening brackets than the limit (every valid signal) cannot nest past it.
  let opened = 0;
  for (let i = json.indexOf('['); i !== -1 && opened <= max; i = json.indexOf('[', i + 1)) opened++;
  for (let i = json.indexOf('{'); i !== -1 && opened <= max; i = json.indexOf('{', i + 1)) opened++;
  if (opened <= max) return false;
  let depth = 0;
  let inString = false;
  for (let i = 0; i < json.length; i++) {
    const c = json.charCodeAt(i);
    if (inString) {
      if (c === BACKSLASH) i++;
      else if (c === QUOTE) inString = false;
    } else if (c === QUOTE) inString = true;
    else if (c === OPEN_BRACKET || c === OPEN_BRACE) {
      if (++depth > max) return true;
    } else if (c === CLOSE_BRACKET || c === CLOSE_BRACE) depth--;
  }
  return false;
}

/** Largest JSON of a frame that is not a named event: a namespace connect's `auth` (tokens), an ack. */
export const NON_EVENT_FRAME_LIMIT = 16 * 1024;

type TryParse = (this: Decoder, json: string) => unknown;

/**
 * A Socket.IO parser (`{ Encoder, Decoder }`, the `parser` server option) whose decoder checks an
 * event frame's length against its event's limit and its nesting depth before `JSON.parse` runs.
 * A refused event keeps its name and acknowledgement id, with a {@link RefusedFrame} as its payload,
 * so it is still answered; a refused frame that is not an event (a handshake's auth, an unnamed
 * event) fails to decode and Socket.IO closes that connection.
 *
 * Why a parser: by the time a handler sees a payload it has been parsed, and a 1 MB frame or one
 * nested 100,000 deep costs tens of milliseconds to parse and validate. The hook is the decoder's
 * `tryParse(json)` (socket.io-parser 4.2), which receives exactly an event's JSON arguments;
 * `guarded-parser.test.ts` fails if a socket.io-parser update stops calling it.
 */
export function createGuardedParser(limits: Readonly<Record<string, number>>): {
  Encoder: typeof Encoder;
  Decoder: typeof Decoder;
} {
  const parse = (Decoder.prototype as unknown as { tryParse: TryParse }).tryParse;
  class GuardedDecoder extends Decoder {}
  (GuardedDecoder.prototype as unknown as { tryParse: TryParse }).tryParse = function (json) {
    const event = EVENT_NAME.exec(json.length > 160 ? json.slice(0, 160) : json)?.[1];
    const limit =
      event === undefined
        ? NON_EVENT_FRAME_LIMIT
        : (Object.hasOwn(limits, event) && limits[event]) || DEFAULT_FRAME_LIMIT;
    // Depth first: the scan stops at the first level past the limit, so a deep frame costs a few
    // characters whatever its size, and is answered as the invalid payload it is.
    if (nestsDeeperThan(json, MAX_PAYLOAD_DEPTH)) {
      return event === undefined
        ? false
        : [
            event,
            new RefusedFrame(
              ErrorCode.VALIDATION_FAILED,
              `payload nests deeper than ${MAX_PAYLOAD_DEPTH - 1} levels`,
            ),
          ];
    }
    if (json.length > limit) {
      return event === undefined
        ? false
        : [
            event,
            new RefusedFrame(ErrorCode.PAYLOAD_TOO_LARGE, `${event} frame is larger than ${limit} bytes`),
          ];
    }
    return parse.call(this, json);
  };
  return { Encoder: TextFrameEncoder, Decoder: GuardedDecoder };
}

/**
 * socket.io-parser's encoder without its search for binary data: `Encoder#encode` walks every
 * argument of every event and ack, arrays and objects included, for a Buffer or ArrayBuffer to
 * send as a binary attachment (`hasBinary`: 1.6 % of the server's instructions per call setup,
 * counted with callgrind, as much as the candidate lines' validation). Nothing this server sends
 * holds binary data — every server-to-client event and ack is JSON by the protocol's types — so
 * every packet is encoded as the one text frame `encode` would make of it.
 */
class TextFrameEncoder extends Encoder {
  override encode(obj: Parameters<Encoder['encode']>[0]): ReturnType<Encoder['encode']> {
    return [(this as unknown as { encodeAsString(o: unknown): string }).encodeAsString(obj)];
  }
}
