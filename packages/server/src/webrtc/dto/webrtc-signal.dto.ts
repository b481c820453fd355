import type { Schemas } from '@switchboard/protocol';
import type { z } from 'zod';

/**
 * `offer` / `answer` payload after validation: `{ roomId, to, sdp, sequence?, messageId? }`.
 * The schema lives in `@switchboard/protocol` (`createSchemas().offer`) so the SDK shares it.
 */
export type WebrtcSignalDto = z.output<Schemas['offer']>;

/** `joinRoom` payload after validation. */
export type JoinRoomDto = z.output<Schemas['joinRoom']>;

/** `leaveRoom` payload after validation. */
export type LeaveRoomDto = z.output<Schemas['leaveRoom']>;

/** `connectionState` payload after validation. */
export type ConnectionStateDto = z.output<Schemas['connectionState']>;
