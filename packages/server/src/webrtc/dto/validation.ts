import { ErrorCode, failure, type Failure } from '@switchboard/protocol';
import type { z } from 'zod';

/** Validates a payload against its schema; a failure names the fields and never echoes the input. */
export function validate<S extends z.ZodType>(
  schema: S,
  payload: unknown,
): { ok: true; data: z.output<S> } | Failure {
  if (payload === null || typeof payload !== 'object' || Array.isArray(payload)) {
    return failure(ErrorCode.VALIDATION_FAILED, 'payload must be an object');
  }
  const parsed = schema.safeParse(payload);
  if (parsed.success) return { ok: true, data: parsed.data };
  const issues = parsed.error.issues;
  // The protocol's size checks (SDP bytes, metadata JSON) mark their issues; other bounds are shape errors.
  const tooLarge = issues.some((i) => (i as { params?: { tooLarge?: boolean } }).params?.tooLarge === true);
  const text = issues
    .slice(0, 3)
    .map((i) => `${i.path.join('.') || 'payload'}: ${i.message}`)
    .join('; ');
  return failure(tooLarge ? ErrorCode.PAYLOAD_TOO_LARGE : ErrorCode.VALIDATION_FAILED, text);
}
