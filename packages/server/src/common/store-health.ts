/**
 * Whether the shared state is reachable now. One instance's memory always is; with Redis it is not
 * while a connection is down. Read synchronously on every failure and by `/ready`, so it answers
 * from connection state, never with a round trip.
 */
export interface StoreHealth {
  /** Why the shared state is unreachable now, or undefined when it is reachable. */
  trouble(): string | undefined;
}

/** Nest injection token of the {@link StoreHealth}. */
export const STORE_HEALTH = Symbol('STORE_HEALTH');

/** In memory: nothing to lose touch with. */
export const ALWAYS_AVAILABLE: StoreHealth = { trouble: () => undefined };
