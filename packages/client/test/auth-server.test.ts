// SwitchboardClient (in Node, no peers, so no RTCPeerConnection) against the real server with
// authentication on: the answers the SDK's token handling relies on, from the server itself.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { io } from 'socket.io-client';
import type { Logger } from '../src/logger.js';
import type { SwitchboardError } from '../src/errors.js';
import { SwitchboardClient, type SwitchboardClientOptions } from '../src/switchboard-client.js';
import { startServer } from './support/server.js';
import { TEST_AUTH_SECRET, mintToken } from './support/tokens.js';
import { sleep, waitFor } from './support/wait.js';

const quiet: Logger = {
  debug: () => undefined,
  info: () => undefined,
  warn: () => undefined,
  error: () => undefined,
};

function newClient(url: string, options: Partial<SwitchboardClientOptions>) {
  const client = new SwitchboardClient({
    url,
    room: 'r',
    dataChannel: false,
    reconnectPolicy: { nextRetryDelayMs: ({ retryCount }) => (retryCount < 10 ? 100 : null) },
    logger: quiet,
    ...options,
  });
  const errors: SwitchboardError[] = [];
  client.on('error', (error) => errors.push(error));
  return { client, errors };
}

test('SwitchboardClient whose session another connection resumes gets SESSION_REPLACED from the server and closes without reconnecting', async () => {
  const server = await startServer({ AUTH_JWT_SECRET: TEST_AUTH_SECRET });
  const token = await mintToken({ sub: 'dana', room: 'r' });
  const { client, errors } = newClient(server.url, { getToken: async () => token });
  const closed: string[] = [];
  client.on('closed', ({ reason }) => closed.push(reason));
  const other = io(`${server.url}/webrtc`, {
    transports: ['websocket'],
    autoConnect: false,
    reconnection: false,
  });
  try {
    const joined = await client.connect();
    // The resume token the SDK holds, as another tab or device of the same user would present it.
    const resumeToken = (client as unknown as { session: { channel: { resumeToken: string } } }).session
      .channel.resumeToken;
    assert.ok(resumeToken);
    other.auth = { token: await mintToken({ sub: 'dana', room: 'r' }), resumeToken };
    const resumed = new Promise<{ peerId: string }>((resolve) => other.once('resumed', resolve));
    other.connect();
    assert.equal((await resumed).peerId, joined.peerId);

    await waitFor('closed', () => closed.length === 1, { timeoutMs: 5000 });
    assert.deepEqual(
      errors.map((e) => [e.reason, e.code]),
      [['session-replaced', 'SESSION_REPLACED']],
    );
    assert.equal(client.state, 'closed');
    await sleep(500);
    assert.ok(other.connected, 'the new connection was disturbed');
    assert.doesNotMatch(server.output(), /resume token is unknown/);
  } finally {
    other.disconnect();
    await client.close();
    await server.stop();
  }
});

test('SwitchboardClient whose first token the server refuses gets a good one from getToken and joins', async () => {
  const server = await startServer({ AUTH_JWT_SECRET: TEST_AUTH_SECRET });
  const wrong = await mintToken({ sub: 'erin', room: 'r' }, 'x'.repeat(40));
  let calls = 0;
  const { client, errors } = newClient(server.url, {
    token: wrong,
    getToken: () => {
      calls += 1;
      return mintToken({ sub: 'erin', room: 'r' });
    },
  });
  try {
    const joined = await client.connect();
    assert.ok(joined.peerId);
    assert.equal(calls, 1);
    assert.deepEqual(errors, []);
  } finally {
    await client.close();
    await server.stop();
  }
});

test("SwitchboardClient whose getToken renews with another user's token reports the FORBIDDEN refreshToken and keeps its connection", async () => {
  const server = await startServer({ AUTH_JWT_SECRET: TEST_AUTH_SECRET });
  let calls = 0;
  const { client, errors } = newClient(server.url, {
    getToken: () => {
      calls += 1;
      // The first token lives 3 s (renewed at ~2 s); the renewal is someone else's.
      return calls === 1
        ? mintToken({ sub: 'fay', room: 'r', ttlSeconds: 3 })
        : mintToken({ sub: 'mallory', room: 'r' });
    },
  });
  try {
    await client.connect();
    const error = await waitFor('the FORBIDDEN error', () => errors[0], { timeoutMs: 5000 });
    assert.equal(error.reason, 'unauthorized');
    assert.equal(error.code, 'FORBIDDEN');
    assert.equal(client.state, 'connected');
  } finally {
    await client.close();
    await server.stop();
  }
});

test('SwitchboardClient whose renewed token no longer grants its room is told leftRooms, reports FORBIDDEN and ends the call', async () => {
  const server = await startServer({ AUTH_JWT_SECRET: TEST_AUTH_SECRET });
  let calls = 0;
  const { client, errors } = newClient(server.url, {
    getToken: () => {
      calls += 1;
      return calls === 1
        ? mintToken({ sub: 'gus', room: 'r', ttlSeconds: 3 })
        : mintToken({ sub: 'gus', room: 'another-room' });
    },
  });
  try {
    await client.connect();
    const error = await waitFor('the FORBIDDEN error', () => errors[0], { timeoutMs: 5000 });
    assert.equal(error.reason, 'unauthorized');
    assert.equal(error.code, 'FORBIDDEN');
    assert.match(error.message, /does not grant room "r"/);
    assert.equal(client.state, 'disconnected');
    assert.equal(client.peerId, null);
  } finally {
    await client.close();
    await server.stop();
  }
});
