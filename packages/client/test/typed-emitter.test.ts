import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Logger } from '../src/logger.js';
import { sdpIceUfrag, sdpSessionId } from '../src/sdp.js';
import { TypedEmitter } from '../src/typed-emitter.js';

interface Events {
  ping: { n: number };
}

class Emitter extends TypedEmitter<Events> {
  emitPing(n: number): void {
    this.safeEmit('ping', { n });
  }
}

function recordingLogger(): Logger & { errors: unknown[][] } {
  const errors: unknown[][] = [];
  const noop = () => undefined;
  return { debug: noop, info: noop, warn: noop, error: (...args: unknown[]) => errors.push(args), errors };
}

test('safeEmit with a throwing listener logs the error and still calls the other listeners', () => {
  const logger = recordingLogger();
  const emitter = new Emitter(logger);
  const seen: number[] = [];
  emitter.on('ping', () => {
    throw new Error('user bug');
  });
  emitter.on('ping', ({ n }) => seen.push(n));
  assert.doesNotThrow(() => emitter.emitPing(1));
  assert.deepEqual(seen, [1]);
  assert.equal(logger.errors.length, 1);
});

test('once() listeners run a single time and the function on() returns removes a listener', () => {
  const emitter = new Emitter(recordingLogger());
  const seen: string[] = [];
  emitter.once('ping', ({ n }) => seen.push(`once ${n}`));
  const off = emitter.on('ping', ({ n }) => seen.push(`on ${n}`));
  emitter.emitPing(1);
  off();
  emitter.emitPing(2);
  assert.deepEqual(seen, ['once 1', 'on 1']);
});

test('sdpSessionId() and sdpIceUfrag() read the origin session id and the first ice-ufrag', () => {
  const sdp =
    'v=0\r\no=- 4611731400430051336 2 IN IP4 127.0.0.1\r\ns=-\r\na=ice-ufrag:abcd\r\na=ice-ufrag:efgh\r\n';
  assert.equal(sdpSessionId(sdp), '4611731400430051336');
  assert.equal(sdpIceUfrag(sdp), 'abcd');
  assert.equal(sdpSessionId('v=0\r\n'), null);
});
