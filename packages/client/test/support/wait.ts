export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Settles as `promise` does, or rejects after `ms` with the message `describe()` returns. */
export function within<T>(promise: Promise<T>, ms: number, describe: () => string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(describe())), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/**
 * Polls `probe` until it returns a truthy value, or fails after `timeoutMs` with `what` and,
 * when given, `diagnose()`'s text (page logs, server output) in the message.
 */
export async function waitFor<T>(
  what: string,
  probe: () => Promise<T> | T,
  {
    timeoutMs = 15_000,
    intervalMs = 100,
    diagnose,
  }: { timeoutMs?: number; intervalMs?: number; diagnose?: () => string | Promise<string> } = {},
): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await probe();
      if (value) return value as NonNullable<T>;
      last = value;
    } catch (error) {
      last = error;
    }
    if (Date.now() > deadline) {
      const details = diagnose ? `\n--- diagnostics ---\n${await diagnose()}` : '';
      throw new Error(
        `timed out after ${timeoutMs} ms waiting for ${what} (last: ${String(last)})${details}`,
      );
    }
    await sleep(intervalMs);
  }
}
