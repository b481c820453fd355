import type { Schemas } from '@switchboard/protocol';
import type { z } from 'zod';

/**
 * `iceCandidate` payload after validation: `{ roomId, to, candidate | null, sequence?, messageId? }`.
 * The schema lives in `@switchboard/protocol` (`createSchemas().iceCandidate`).
 */
export type IceCandidateDto = z.output<Schemas['iceCandidate']>;
