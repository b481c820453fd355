// SignalChannel (the SDK's transport layer) against a stub Socket.IO server in this process:
// the outbox's at-least-once delivery and ordering, and the resume outcomes.
import assert from 'node:assert/strict';
import { createServer, type Server as HttpServer } from 'node:http';
import { test } from 'node:test';
import { Server, type Socket } from 'socket.io';
import type { Logger } from '../src/logger.js';
import type { ReconnectPolicy } from '../src/reconnect-policy.js';
import { SignalChannel, type SessionOutcome, type SignalChannelHooks } from '../src/signal-channel.js';
import { sleep, waitFor } from './support/wait.js';

const quiet: Logger = {
  debug: () => undefined,
  info: () => undefined,
  warn: () => undefined,
  error: () => undefined,
};
const SDP = 'v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\n';

interface Stub {
  url: string;
  io: Server;
  http: HttpServer;
  received: { event: string; messageId: string; socketId: string }[];
  sockets: Socket[];
  close(): Promise<void>;
}

/** A stub of the server: acks signals (or not, per `shouldAck`), answers resume tokens 'good' and 'bad'. */
async function startStub(
  shouldAck: (event: string, messageId: string, seen: number) => boolean = () => true,
): Promise<Stub> {
  const http = createServer();
  const io = new Server(http, { transports: ['websocket'] });
  const received: Stub['received'] = [];
  const sockets: Socket[] = [];
  const seen = new Map<string, number>();
  io.of('/webrtc').on('connection', (socket) => {
    sockets.push(socket);
    const token = (socket.handshake.auth as { resumeToken?: string }).resumeToken;
    if (token === 'good')
      socket.emit('resumed', { peerId: 'p1', rooms: [{ roomId: 'r', peers: [] }], resumeToken: 'good' });
    if (token === 'bad') socket.emit('resumeFailed', { error: { code: 'RESUME_REJECTED', message: 'no' } });
    for (const event of ['offer', 'answer', 'iceCandidate']) {
      socket.on(event, (payload: { messageId: string }, ack: (r: unknown) => void) => {
        const count = (seen.get(payload.messageId) ?? 0) + 1;
        seen.set(payload.messageId, count);
        received.push({ event, messageId: payload.messageId, socketId: socket.id });
        if (shouldAck(event, payload.messageId, count))
          ack(count > 1 ? { ok: true, duplicate: true } : { ok: true });
      });
    }
  });
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  const address = http.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return {
    url: `http://127.0.0.1:${port}`,
    io,
    http,
    received,
    sockets,
    close: () => new Promise<void>((resolve) => io.close(() => resolve())),
  };
}

function openChannel(
  url: string,
  policy: ReconnectPolicy = { nextRetryDelayMs: () => 50 },
  ackTimeoutMs = 300,
  onLost: () => void = () => undefined,
) {
  const outcomes: SessionOutcome[] = [];
  let gaveUp: string | null = null;
  const hooks: SignalChannelHooks = {
    onReady: (o) => outcomes.push(o),
    onLost,
    onRetryScheduled: () => undefined,
    onGiveUp: (reason) => (gaveUp = reason),
    onResumedLater: () => undefined,
    onSignalFailed: () => undefined,
  };
  const channel = new SignalChannel(
    {
      url,
      namespace: '/webrtc',
      ackTimeoutMs,
      maxSendAttempts: 5,
      connectTimeoutMs: 2000,
      resumeTimeoutMs: 1000,
      reconnectPolicy: () => policy,
      logger: quiet,
    },
    hooks,
  );
  channel.open();
  return { channel, outcomes, gaveUp: () => gaveUp };
}

const offer = (n: number) => ({ roomId: 'r', to: 'p2', sdp: SDP, sequence: n, messageId: `m${n}` });

test('SignalChannel.send() while the socket is down queues the signals and flushes them in order after the resume token is accepted', async () => {
  const stub = await startStub();
  let sent: Promise<unknown>[] = [];
  // The signals are sent the moment the loss is noticed, before the reconnection.
  const { channel, outcomes } = openChannel(stub.url, undefined, undefined, () => {
    assert.equal(channel.isConnected, false);
    sent = [1, 2, 3].map((n) => channel.send('offer', offer(n)));
  });
  try {
    await waitFor('first connection', () => outcomes.length === 1);
    assert.deepEqual(outcomes[0], { kind: 'fresh' });
    channel.setResumeToken('good');
    stub.sockets[0].conn.close(); // the transport drops (not a voluntary disconnect)
    await waitFor('resumed', () => outcomes.length === 2);
    assert.equal(sent.length, 3);
    assert.equal(outcomes[1].kind, 'resumed');
    await Promise.all(sent);
    assert.deepEqual(
      stub.received.map((r) => r.messageId),
      ['m1', 'm2', 'm3'],
    );
    assert.equal(channel.pendingSignals, 0);
  } finally {
    channel.close();
    await stub.close();
  }
});

test('SignalChannel.send() of a signal whose ack never comes sends it again until one is acknowledged', async () => {
  // The stub drops the first transmission of every message (as if its ack were lost).
  const stub = await startStub((_event, _id, seen) => seen >= 2);
  const { channel, outcomes } = openChannel(stub.url, undefined, 150);
  try {
    await waitFor('connected', () => outcomes.length === 1);
    const response = await channel.send('answer', offer(7));
    assert.equal(response.duplicate, true);
    assert.deepEqual(
      stub.received.map((r) => r.messageId),
      ['m7', 'm7'],
    );
  } finally {
    channel.close();
    await stub.close();
  }
});

test('SignalChannel reconnecting with a refused resume token reports resume-failed and drops the queued signals', async () => {
  const stub = await startStub();
  let queued: Promise<unknown> | undefined;
  const { channel, outcomes } = openChannel(stub.url, undefined, undefined, () => {
    queued = channel.send('offer', offer(1));
  });
  try {
    await waitFor('connected', () => outcomes.length === 1);
    channel.setResumeToken('bad');
    stub.sockets[0].conn.close();
    await waitFor('reconnected', () => outcomes.length === 2);
    assert.equal(outcomes[1].kind, 'resume-failed');
    await queued; // resolved (dropped), never sent from the new identity
    await sleep(100);
    assert.deepEqual(stub.received, []);
  } finally {
    channel.close();
    await stub.close();
  }
});

test('SignalChannel whose reconnect policy returns null gives up and stops retrying', async () => {
  const stub = await startStub();
  let calls = 0;
  const policy: ReconnectPolicy = {
    nextRetryDelayMs: ({ retryCount }) => {
      calls += 1;
      return retryCount < 2 ? 20 : null;
    },
  };
  const { channel, outcomes, gaveUp } = openChannel(stub.url, policy);
  try {
    await waitFor('connected', () => outcomes.length === 1);
    await stub.close(); // the server goes away for good
    await waitFor('gave up', () => gaveUp() !== null, { timeoutMs: 5000 });
    const after = calls;
    await sleep(200);
    assert.equal(calls, after, 'kept retrying after the policy said stop');
    assert.equal(calls, 3);
  } finally {
    channel.close();
  }
});

test('SignalChannel.close() twice is harmless and rejects later sends', async () => {
  const stub = await startStub();
  const { channel, outcomes } = openChannel(stub.url);
  try {
    await waitFor('connected', () => outcomes.length === 1);
    channel.close();
    channel.close();
    await assert.rejects(channel.send('offer', offer(1)), { reason: 'closed' });
  } finally {
    await stub.close();
  }
});
