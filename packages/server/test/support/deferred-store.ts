import type { StateStore } from '../../src/webrtc/store/state-store';

/**
 * A store that answers every operation with a promise, as a store over the network does: each
 * operation runs on a later turn of the event loop, in the order it was called (like commands on
 * one Redis connection). It wraps a real in-memory store; only the delivery of answers changes, so
 * tests run the server's promise paths, which the synchronous in-memory store never takes.
 */
export function deferredStore(inner: StateStore): StateStore {
  return new Proxy(inner, {
    get(target, prop, receiver) {
      const value: unknown = Reflect.get(target, prop, receiver);
      if (typeof value !== 'function') return value;
      return (...args: unknown[]) =>
        new Promise((resolve, reject) =>
          setImmediate(() => {
            try {
              resolve((value as (...a: unknown[]) => unknown).apply(target, args));
            } catch (err) {
              reject(err);
            }
          }),
        );
    },
  });
}
