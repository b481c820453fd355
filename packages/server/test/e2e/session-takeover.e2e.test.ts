import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { DisconnectReasonEvent } from '@switchboard/protocol';
import {
  closeAll,
  connect,
  join,
  metric,
  once,
  record,
  request,
  SDP,
  sleep,
  startServer,
  type Client,
  type ConnectedClient,
  type TestServer,
} from '../support/harness';
import { SECRET, signHs256 } from '../support/tokens';

/** What the old socket sees, in order: its events and how it was closed. */
function watch(socket: Client): {
  seen: string[];
  notices: DisconnectReasonEvent[];
  closed: Promise<string>;
} {
  const seen: string[] = [];
  const notices: DisconnectReasonEvent[] = [];
  socket.on('disconnectReason', (e) => {
    seen.push(`disconnectReason:${e.code}`);
    notices.push(e);
  });
  const closed = new Promise<string>((resolve) =>
    socket.once('disconnect', (reason) => {
      seen.push(`disconnect:${reason}`);
      resolve(reason);
    }),
  );
  return { seen, notices, closed };
}

/**
 * A and B are in a room; B2 presents B's resume token while B is still connected. B is told
 * SESSION_REPLACED, then disconnected; B2 is B's peer; A notices nothing.
 */
async function takeOver(server: TestServer, auth: (sub: string) => Promise<Record<string, unknown>>) {
  const a = await connect(server.url, { auth: await auth('user-a') });
  const b = await connect(server.url, { auth: await auth('user-b') });
  let b2: ConnectedClient | undefined;
  try {
    await join(a, 'takeover');
    const { resumeToken } = await join(b, 'takeover');
    const aSaw = { left: record(a, 'peerLeft'), joined: record(a, 'peerJoined') };
    const old = watch(b);
    b2 = await connect(server.url, { auth: { ...(await auth('user-b')), resumeToken } });
    const resumed = (await b2.resumeOutcome).resumed;
    assert.equal(resumed?.peerId, b.peerId);
    assert.equal(b2.peerId, b.peerId);
    assert.equal(await old.closed, 'io server disconnect');
    // The notice came first, and says why; the client is not to reconnect on its own.
    assert.deepEqual(old.seen, ['disconnectReason:SESSION_REPLACED', 'disconnect:io server disconnect']);
    assert.match(old.notices[0]!.message, /another connection resumed this peer/);
    assert.equal(b.active, false);
    // The peer lives on in B2: A's signals reach it, and A saw no one leave or arrive.
    const offer = once(b2, 'offer');
    assert.deepEqual(await request(a, 'offer', { roomId: 'takeover', to: b.peerId, sdp: SDP }), { ok: true });
    assert.equal((await offer).from, a.peerId);
    await sleep(100);
    assert.deepEqual(aSaw, { left: [], joined: [] });
    assert.equal(await metric(server, 'switchboard_forced_disconnects_total{reason="session_replaced"}'), 1);
  } finally {
    closeAll(a, b, b2);
  }
}

describe('session takeover', () => {
  it('resuming with a live peer’s resume token (no authentication): the old socket gets SESSION_REPLACED, the new one the same peerId, others see nothing', async () => {
    const server = await startServer({ RESUME_WINDOW_MS: '5000' });
    try {
      await takeOver(server, async () => ({}));
    } finally {
      await server.close();
    }
  });

  it('resuming with a live peer’s resume token and the same user’s token: the old socket gets SESSION_REPLACED, the new one the same peerId, others see nothing', async () => {
    const server = await startServer({ AUTH_JWT_SECRET: SECRET, RESUME_WINDOW_MS: '5000' });
    try {
      await takeOver(server, async (sub) => ({ token: await signHs256({ sub, room: 'takeover' }) }));
    } finally {
      await server.close();
    }
  });

  it('another user presenting a live peer’s resume token gets resumeFailed RESUME_REJECTED and a new peer; the owner is untouched and its token still works', async () => {
    const server = await startServer({ AUTH_JWT_SECRET: SECRET, RESUME_WINDOW_MS: '5000' });
    const token = (sub: string) => signHs256({ sub, room: 'r' });
    const b = await connect(server.url, { auth: { token: await token('user-b') } });
    let thief: ConnectedClient | undefined;
    let b2: ConnectedClient | undefined;
    try {
      const { resumeToken } = await join(b, 'r');
      const old = watch(b);
      thief = await connect(server.url, { auth: { token: await token('mallory'), resumeToken } });
      const outcome = await thief.resumeOutcome;
      assert.equal(outcome.failed?.error.code, 'RESUME_REJECTED');
      assert.notEqual(thief.peerId, b.peerId);
      await sleep(100);
      assert.deepEqual(old.seen, []);
      assert.equal(b.connected, true);
      // Refused without being spent: its owner can still use it.
      b2 = await connect(server.url, { auth: { token: await token('user-b'), resumeToken } });
      assert.equal((await b2.resumeOutcome).resumed?.peerId, b.peerId);
    } finally {
      closeAll(b, thief, b2);
      await server.close();
    }
  });
});
