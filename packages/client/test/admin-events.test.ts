// What the SDK does when the app's backend acts through the server's admin API, against the real
// server process: a serverMessage is an event; removal and room closure end the client for good.
// One peer per room, so no RTCPeerConnection is needed (this runs in Node).
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { SwitchboardClient } from '../src/switchboard-client.js';
import type { SwitchboardError } from '../src/errors.js';
import type { Logger } from '../src/logger.js';
import { startServer, type ServerHandle } from './support/server.js';
import { sleep, waitFor } from './support/wait.js';

const ADMIN_TOKEN = 'admin-token-0123456789-0123456789-abcdef';
const quiet: Logger = {
  debug: () => undefined,
  info: () => undefined,
  warn: () => undefined,
  error: () => undefined,
};

let server: ServerHandle;
before(async () => {
  server = await startServer({ ADMIN_API_TOKEN: ADMIN_TOKEN });
});
after(() => server.stop());

async function admin(method: string, path: string, body?: unknown): Promise<number> {
  const res = await fetch(`${server.url}/admin${path}`, {
    method,
    headers: {
      authorization: `Bearer ${ADMIN_TOKEN}`,
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  await res.arrayBuffer();
  return res.status;
}

async function joinedClient(room: string) {
  const client = new SwitchboardClient({
    url: server.url,
    room,
    logger: quiet,
    reconnectPolicy: { nextRetryDelayMs: ({ retryCount }) => (retryCount < 20 ? 50 : null) },
  });
  const errors: SwitchboardError[] = [];
  const messages: { payload: unknown; to?: string }[] = [];
  client.on('error', (e) => errors.push(e));
  client.on('serverMessage', (m) => messages.push(m));
  const joined = new Promise<string>((resolve) => client.once('joined', (j) => resolve(j.peerId)));
  await client.connect();
  return { client, errors, messages, peerId: await joined };
}

test('SwitchboardClient emits serverMessage for a message to its room and to itself', async () => {
  const { client, messages, peerId } = await joinedClient('adm-sdk-1');
  try {
    assert.equal(await admin('POST', '/rooms/adm-sdk-1/messages', { payload: { notice: 'hi' } }), 202);
    assert.equal(await admin('POST', '/rooms/adm-sdk-1/messages', { payload: 2, to: peerId }), 202);
    await waitFor('two messages', () => messages.length === 2);
    assert.deepEqual(messages, [{ payload: { notice: 'hi' } }, { payload: 2, to: peerId }]);
  } finally {
    await client.close();
  }
});

test('SwitchboardClient removed by an operator closes with a removed error (REMOVED) and does not reconnect', async () => {
  const { client, errors, peerId } = await joinedClient('adm-sdk-2');
  try {
    assert.equal(await admin('DELETE', `/rooms/adm-sdk-2/peers/${peerId}`), 204);
    await waitFor('closed', () => client.state === 'closed');
    await sleep(300);
    assert.equal(client.state, 'closed');
    assert.deepEqual(
      errors.map((e) => [e.reason, e.code]),
      [['removed', 'REMOVED']],
    );
    assert.equal(await admin('GET', '/rooms/adm-sdk-2'), 404, 'nobody came back into the room');
  } finally {
    await client.close();
  }
});

test('SwitchboardClient in a room an operator closes closes with a removed error (ROOM_CLOSED)', async () => {
  const { client, errors } = await joinedClient('adm-sdk-3');
  try {
    assert.equal(await admin('DELETE', '/rooms/adm-sdk-3'), 204);
    await waitFor('closed', () => client.state === 'closed');
    assert.deepEqual(
      errors.map((e) => [e.reason, e.code]),
      [['removed', 'ROOM_CLOSED']],
    );
  } finally {
    await client.close();
  }
});
