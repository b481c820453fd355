/**
 * What a {@link StallWatchdog} concludes when its wait is over:
 * - `settled`: the watched operation finished; nothing to do, the watchdog disarms.
 * - `postpone`: it cannot be judged yet (e.g. its signals cannot be delivered); wait again in full.
 * - `stalled`: it is stuck; the watchdog disarms and calls `onStall`.
 */
export type StallVerdict = 'settled' | 'postpone' | 'stalled';

export interface StallWatchdogOptions {
  /** How long the watched operation is given, in ms, from `arm()`. 0 (or less) disables the watchdog. */
  timeoutMs: number;
  /** Looks at the operation when the wait is over. May be async (e.g. reads `getStats()`). */
  judge(): StallVerdict | Promise<StallVerdict>;
  /** Acts on a stall (rebuild, restart, report). */
  onStall(): void;
}

/**
 * A one-shot timer that judges, when it fires, whether an operation that should have finished by
 * then has stalled, and acts on it. Re-arming restarts the wait; a `postpone` verdict waits again.
 *
 * PeerLink runs four: a connection still `new`, one that rolled back its first offer and gathers
 * nothing (Chromium's glare stall), a renegotiation or ICE restart that does not settle, and ICE
 * stuck `checking` with working pairs (a Firefox stall). Browsers give no error for any of these,
 * only the absence of progress.
 *
 * @example
 * const watchdog = new StallWatchdog({
 *   timeoutMs: 5000,
 *   judge: () => (pc.connectionState !== 'new' ? 'settled' : signalingUp() ? 'stalled' : 'postpone'),
 *   onStall: () => rebuild(),
 * });
 * watchdog.arm();
 */
export class StallWatchdog {
  private timer: ReturnType<typeof setTimeout> | undefined;
  /** Bumped by every arm() and disarm(), so that a judgement still running when it changes is ignored. */
  private round = 0;
  private isArmed = false;

  constructor(private readonly options: StallWatchdogOptions) {}

  /** True from `arm()` until the operation is judged settled or stalled, or `disarm()`. */
  get armed(): boolean {
    return this.isArmed;
  }

  /** Starts (or restarts) the wait. Does nothing when the watchdog is disabled (`timeoutMs` 0). */
  arm(): void {
    this.disarm();
    if (this.options.timeoutMs <= 0) return;
    this.isArmed = true;
    const round = this.round;
    this.timer = setTimeout(() => void this.fire(round), this.options.timeoutMs);
  }

  /** Gives an armed watchdog its full wait again, from now (e.g. signaling came back). */
  rearmIfArmed(): void {
    if (this.isArmed) this.arm();
  }

  /** Stops waiting; a judgement in progress is ignored. */
  disarm(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    this.round += 1;
    this.isArmed = false;
  }

  private async fire(round: number): Promise<void> {
    let verdict: StallVerdict;
    try {
      verdict = await this.options.judge();
    } catch {
      verdict = 'postpone';
    }
    if (round !== this.round) return;
    switch (verdict) {
      case 'settled':
        this.disarm();
        return;
      case 'postpone':
        this.arm();
        return;
      case 'stalled':
        this.disarm();
        this.options.onStall();
        return;
    }
  }
}

/**
 * The wait of a watchdog that rebuilds a pair's connection: `baseMs`, twice that on the polite side,
 * so that both sides of a pair rarely rebuild at the same moment (each would drop the other's new
 * connection as stale and offer again).
 */
export function rebuildWaitMs(baseMs: number, polite: boolean): number {
  return polite ? baseMs * 2 : baseMs;
}
