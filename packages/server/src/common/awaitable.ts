/**
 * A value now, or a promise of it. The state store answers with plain values when it is in
 * memory and with promises when it is remote; code on the relay path passes results on with
 * {@link after} so the in-memory case runs synchronously, without a promise and a microtask per
 * store operation (each `await` costs both, even on a value that is already there).
 */
export type Awaitable<T> = T | Promise<T>;

/** `f(value)`: now when `value` is a plain value, once it settles when it is a promise. */
export function after<T, R>(value: Awaitable<T>, f: (v: T) => Awaitable<R>): Awaitable<R> {
  return value instanceof Promise ? value.then(f) : f(value);
}
