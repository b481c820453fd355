import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, test } from 'node:test';
import { PEER_ID_PATTERN } from '@switchboard/protocol';
import { FakeClock } from '../../src/common/fake-clock';
import { PeerSessionService } from '../../src/webrtc/services/peer-session.service';
import { MemoryStateStore } from '../../src/webrtc/store/memory-state-store';

const WINDOW_MS = 30_000;

describe('PeerSessionService', () => {
  let clock: FakeClock;
  let store: MemoryStateStore;
  let sessions: PeerSessionService;

  beforeEach(() => {
    clock = new FakeClock();
    store = new MemoryStateStore(clock);
    sessions = new PeerSessionService(store, clock, { resumeWindowMs: WINDOW_MS });
  });

  afterEach(async () => {
    await store.close();
  });

  test('create() returns distinct peer ids that the protocol accepts as peer ids', async () => {
    const one = await sessions.create('s1');
    const two = await sessions.create('s2');
    assert.notEqual(one.peerId, two.peerId);
    for (const s of [one, two]) assert.match(s.peerId, PEER_ID_PATTERN);
    assert.equal(await sessions.isOnline(one.peerId), true);
  });

  describe('resume tokens', () => {
    test('consumeToken() of an issued token returns the session once; the second call returns undefined', async () => {
      const { peerId } = await sessions.create('s1');
      const token = await sessions.issueToken(peerId);
      assert.equal((await sessions.consumeToken(token))?.peerId, peerId);
      assert.equal(await sessions.consumeToken(token), undefined);
      // Spent means deleted, not just refused: only the session is left.
      assert.equal(await store.size(), 1);
    });

    test('consumeToken() of a forged token returns undefined and does not burn the real one', async () => {
      const { peerId } = await sessions.create('s1');
      const token = await sessions.issueToken(peerId);
      const forged = [
        'A'.repeat(token.length),
        `${token.slice(0, -1)}${token.endsWith('A') ? 'B' : 'A'}`,
        '',
        'x'.repeat(129),
        peerId,
      ];
      for (const f of forged) assert.equal(await sessions.consumeToken(f), undefined, `forged: ${f}`);
      // A non-string from the wire must not throw.
      assert.equal(await sessions.consumeToken(42 as unknown as string), undefined);
      assert.equal((await sessions.consumeToken(token))?.peerId, peerId);
    });

    test('consumeToken() by another user returns undefined without spending the token; its owner can still use it', async () => {
      const { peerId } = await sessions.create('s1', 'alice');
      const token = await sessions.issueToken(peerId);
      assert.equal(await sessions.consumeToken(token, 'mallory'), undefined);
      assert.equal(await sessions.consumeToken(token), undefined); // no user at all is another user too
      assert.equal((await sessions.consumeToken(token, 'alice'))?.peerId, peerId);
    });

    test('issueToken() again invalidates the previous token', async () => {
      const { peerId } = await sessions.create('s1');
      const first = await sessions.issueToken(peerId);
      const second = await sessions.issueToken(peerId);
      assert.notEqual(first, second);
      // The session plus one token: re-issuing on every join/resume must not pile up tokens.
      assert.equal(await store.size(), 2);
      assert.equal(await sessions.consumeToken(first), undefined);
      assert.equal((await sessions.consumeToken(second))?.peerId, peerId);
    });

    test('consumeToken() at the end of the resume window after markDropped returns the session', async () => {
      const { peerId } = await sessions.create('s1');
      const token = await sessions.issueToken(peerId);
      assert.equal(await sessions.markDropped(peerId, 's1'), true);
      await clock.advance(WINDOW_MS);
      const session = await sessions.consumeToken(token);
      assert.equal(session?.peerId, peerId);
      assert.equal(session?.socketId, null);
    });

    test('consumeToken() after the resume window (markDropped, advance 30 001 ms) returns undefined', async () => {
      const { peerId } = await sessions.create('s1');
      const token = await sessions.issueToken(peerId);
      await sessions.markDropped(peerId, 's1');
      await clock.advance(WINDOW_MS + 1);
      assert.equal(await sessions.consumeToken(token), undefined);
    });

    test('issueToken() for an unknown peer throws', async () => {
      await assert.rejects(sessions.issueToken('nobody'), /no session/);
    });
  });

  describe('presence', () => {
    test('markDropped() with a stale socket id returns false and leaves the peer online', async () => {
      const { peerId } = await sessions.create('s1');
      // The peer resumed on s2 before the server noticed s1 was gone.
      await sessions.markOnline(peerId, 's2');
      assert.equal(await sessions.markDropped(peerId, 's1'), false);
      assert.equal(await sessions.isOnline(peerId), true);
      assert.equal((await sessions.get(peerId))?.socketId, 's2');
    });

    test('markDropped() with the current socket id returns true and takes the peer offline', async () => {
      const { peerId } = await sessions.create('s1');
      assert.equal(await sessions.markDropped(peerId, 's1'), true);
      assert.equal(await sessions.isOnline(peerId), false);
      assert.equal((await sessions.get(peerId))?.droppedAt, clock.now());
    });

    test('markOnline() after a drop clears droppedAt', async () => {
      const { peerId } = await sessions.create('s1');
      await sessions.markDropped(peerId, 's1');
      await sessions.markOnline(peerId, 's2');
      const s = await sessions.get(peerId);
      assert.equal(s?.socketId, 's2');
      assert.equal(s?.droppedAt, null);
    });

    test('a dropped session that never resumes is gone from the store a minute after the window', async () => {
      const { peerId } = await sessions.create('s1');
      await sessions.markDropped(peerId, 's1');
      await clock.advance(WINDOW_MS + 60_000);
      assert.equal(await sessions.get(peerId), undefined);
      assert.equal(await store.size(), 0);
    });

    test('remove() deletes the session and its token (store.size() 0)', async () => {
      const { peerId } = await sessions.create('s1');
      const token = await sessions.issueToken(peerId);
      await sessions.remove(peerId);
      assert.equal(await store.size(), 0);
      assert.equal(await sessions.consumeToken(token), undefined);
    });
  });
});
