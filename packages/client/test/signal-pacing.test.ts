// SignalChannel against the real server process: the SDK paces its signals to the rate the server
// publishes at GET /webrtc/config, so a burst larger than the server's allowance is delivered whole,
// in order, without a single RATE_LIMITED refusal (which would count towards being cut off).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { io } from 'socket.io-client';
import type { ClientConfigResponse, JoinRoomResponse, Result } from '@switchboard/protocol';
import type { Logger } from '../src/logger.js';
import { SignalChannel, type SessionOutcome } from '../src/signal-channel.js';
import { startServer } from './support/server.js';
import { sleep, waitFor } from './support/wait.js';

const quiet: Logger = {
  debug: () => undefined,
  info: () => undefined,
  warn: () => undefined,
  error: () => undefined,
};
const SDP = 'v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\n';

test('SignalChannel.send() of 300 signals at once to a server allowing a burst of 20 at 200/s delivers all in order, none refused', async () => {
  const server = await startServer({
    SIGNAL_RATE_PER_SEC: '200',
    SIGNAL_BURST: '20',
    // Not cut off at the first refusal: a refusal is told apart below (see the end of the test).
    RATE_LIMIT_DISCONNECT_AFTER: '1000',
  });
  const receiver = io(`${server.url}/webrtc`, { transports: ['websocket'], forceNew: true });
  let channel: SignalChannel | undefined;
  // Listened for before anything is awaited: the server sends `session` as soon as it connects.
  const session = new Promise<string>((resolve) =>
    receiver.once('session', (e: { peerId: string }) => resolve(e.peerId)),
  );
  try {
    const config = (await (await fetch(`${server.url}/webrtc/config`)).json()) as ClientConfigResponse;
    assert.deepEqual(config.signalRate, { perSecond: 200, burst: 20 });
    const receiverId = await waitFor('the receiver session', () =>
      Promise.race([session, sleep(100).then(() => undefined)]),
    );
    const received: number[] = [];
    receiver.on('offer', (m: { sequence: number }) => received.push(m.sequence));
    const outcomes: SessionOutcome[] = [];
    channel = new SignalChannel(
      {
        url: server.url,
        namespace: '/webrtc',
        ackTimeoutMs: 4000,
        maxSendAttempts: 5,
        connectTimeoutMs: 2000,
        resumeTimeoutMs: 1000,
        reconnectPolicy: () => ({ nextRetryDelayMs: () => null }),
        signalRate: config.signalRate,
        logger: quiet,
      },
      {
        onReady: (o) => outcomes.push(o),
        onLost: (reason) => assert.fail(`connection lost: ${reason}`),
        onRetryScheduled: () => undefined,
        onGiveUp: () => undefined,
        onResumedLater: () => undefined,
        onSignalFailed: (error) => assert.fail(error),
      },
    );
    channel.open();
    await waitFor('ready', () => outcomes.length === 1);
    const joined = (await channel.request('joinRoom', { roomId: 'pace' })) as Result<JoinRoomResponse>;
    assert.equal(joined.ok, true);
    const ack = await receiver.timeout(2000).emitWithAck('joinRoom', { roomId: 'pace' });
    assert.equal((ack as { ok: boolean }).ok, true);
    // A scrape resets the server's event-loop delay histogram: what is read at the end covers the burst.
    await (await fetch(`${server.url}/metrics`)).text();
    const sends = Array.from({ length: 300 }, (_, i) =>
      channel!.send('offer', {
        roomId: 'pace',
        to: receiverId,
        sdp: SDP,
        sequence: i + 1,
        messageId: `m${i}`,
      }),
    );
    const results = await Promise.all(sends);
    assert.ok(results.every((r) => !r.duplicate && !r.queued));
    await waitFor('all offers received', () => received.length === 300, { timeoutMs: 5000 });
    assert.deepEqual(
      received,
      Array.from({ length: 300 }, (_, i) => i + 1),
    );
    const metrics = await (await fetch(`${server.url}/metrics`)).text();
    const refused = Number(/switchboard_rate_limited_total\{limit="signal"\} (\d+)/.exec(metrics)?.[1] ?? 0);
    // The server judges a signal by when it reads it: when its event loop stalls for longer than its
    // burst lasts (20 at 200/s: 100 ms), it then reads more at once than its bucket holds, however
    // evenly they were sent. Only then is a refusal not the pacer's fault (seen with a load average
    // of 21 on 2 cores); the SDK then retries after retryAfterMs, as the in-order delivery shows.
    const maxLagSeconds = Number(
      /switchboard_nodejs_eventloop_lag_max_seconds (\S+)/.exec(metrics)?.[1] ?? 0,
    );
    if (refused > 0)
      assert.ok(
        maxLagSeconds > 0.1,
        `${refused} signals refused RATE_LIMITED although the server's event loop never stalled past ${maxLagSeconds * 1000} ms`,
      );
  } finally {
    channel?.close();
    receiver.close();
    await server.stop();
  }
});
