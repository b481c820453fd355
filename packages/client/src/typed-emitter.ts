import type { Logger } from './logger.js';

/** A map from event name to the payload its listeners receive. */
export type EventMap<E> = { [K in keyof E]: object };

/** A listener of event `K`. */
export type Listener<E extends EventMap<E>, K extends keyof E> = (payload: E[K]) => void;

/**
 * A small typed event emitter. Listeners run synchronously; one that throws is logged and the
 * others still run, so user code can never break the SDK's state machine (`safeEmit`).
 */
export class TypedEmitter<E extends EventMap<E>> {
  private readonly listeners = new Map<keyof E, Set<Listener<E, keyof E>>>();

  constructor(protected readonly logger: Logger) {}

  /**
   * Adds a listener; returns a function that removes it.
   * @example
   * const off = client.on('peerJoined', ({ peerId }) => console.log(peerId));
   * off();
   */
  on<K extends keyof E>(event: K, listener: Listener<E, K>): () => void {
    let set = this.listeners.get(event);
    if (!set) {
      set = new Set();
      this.listeners.set(event, set);
    }
    set.add(listener as Listener<E, keyof E>);
    return () => this.off(event, listener);
  }

  /** Adds a listener that is removed after its first call. */
  once<K extends keyof E>(event: K, listener: Listener<E, K>): () => void {
    const off = this.on(event, (payload) => {
      off();
      listener(payload);
    });
    return off;
  }

  /** Removes a listener added with `on`. */
  off<K extends keyof E>(event: K, listener: Listener<E, K>): void {
    this.listeners.get(event)?.delete(listener as Listener<E, keyof E>);
  }

  /** Removes every listener (of one event, or of all). */
  removeAllListeners(event?: keyof E): void {
    if (event === undefined) this.listeners.clear();
    else this.listeners.delete(event);
  }

  protected safeEmit<K extends keyof E>(event: K, payload: E[K]): void {
    const set = this.listeners.get(event);
    if (!set) return;
    for (const listener of [...set]) {
      try {
        listener(payload);
      } catch (error) {
        this.logger.error(`a "${String(event)}" listener threw; ignored`, error);
      }
    }
  }
}
