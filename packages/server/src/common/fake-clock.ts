import type { Clock, TimerHandle } from './clock';

interface FakeTimer extends TimerHandle {
  at: number;
  seq: number;
  fn: () => void;
}

/** A clock whose time only moves when a test calls {@link FakeClock.advance}. */
export class FakeClock implements Clock {
  private timers = new Set<FakeTimer>();
  private seq = 0;

  constructor(private current = 1_700_000_000_000) {}

  now(): number {
    return this.current;
  }

  setTimeout(fn: () => void, ms: number): TimerHandle {
    const t = { __timer: true, at: this.current + Math.max(0, ms), seq: this.seq++, fn } as FakeTimer;
    this.timers.add(t);
    return t;
  }

  clearTimeout(handle: TimerHandle): void {
    this.timers.delete(handle as FakeTimer);
  }

  /** Number of timers still pending. */
  get pendingTimers(): number {
    return this.timers.size;
  }

  /** Moves time forward by `ms`, firing due timers in order; awaits between them so async work settles. */
  async advance(ms: number): Promise<void> {
    const target = this.current + ms;
    for (;;) {
      let next: FakeTimer | undefined;
      for (const t of this.timers) {
        if (t.at <= target && (!next || t.at < next.at || (t.at === next.at && t.seq < next.seq))) next = t;
      }
      if (!next) break;
      this.timers.delete(next);
      this.current = next.at;
      next.fn();
      await flushMicrotasks();
    }
    this.current = target;
    await flushMicrotasks();
  }
}

/** Lets pending promise chains run to completion. */
export async function flushMicrotasks(): Promise<void> {
  for (let i = 0; i < 20; i++) await Promise.resolve();
  await new Promise<void>((r) => setImmediate(r));
}
