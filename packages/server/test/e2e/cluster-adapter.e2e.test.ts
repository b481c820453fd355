import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { Server, type Namespace } from 'socket.io';
import type { ClusterMessage } from 'socket.io-adapter';
import { createClusterAdapter, publicationFor } from '../../src/cluster/cluster-adapter';
import { logEntry, payloadIndex } from '../../src/cluster/delivery-log';
import { publishedMessage } from '../../src/webrtc/store/state-store';
import { REDIS_TEST_URL } from '../support/harness';

// The state store publishes a relayed signal in the script that logs it, in a message built from a
// template of the adapter's own encoding (publicationFor). These tests hold that message to what the
// adapter itself publishes for the same emit, byte for byte, so the receiving instances' adapters
// cannot tell the two apart.
describe('publicationFor()', () => {
  let server: Server;
  let nsp: Namespace;
  let pub: Redis;
  let sub: Redis;
  /** What the adapter published, as it encoded it, and on which channel. */
  const published: { channel: string; text: string }[] = [];

  before(async () => {
    pub = new Redis(REDIS_TEST_URL);
    sub = pub.duplicate();
    server = new Server({
      adapter: createClusterAdapter({
        pubClient: pub,
        subClient: sub,
        channelPrefix: `sbtest:${randomBytes(4).toString('hex')}:socket.io`,
      }),
    });
    nsp = server.of('/webrtc');
    const adapter = nsp.adapter as unknown as {
      doPublish(m: ClusterMessage): Promise<string>;
      computeChannel(m: ClusterMessage): string;
      encode(m: ClusterMessage): string;
    };
    const doPublish = adapter.doPublish.bind(adapter);
    adapter.doPublish = (message) => {
      published.push({ channel: adapter.computeChannel(message), text: adapter.encode(message) });
      return doPublish(message);
    };
  });
  after(async () => {
    server.close();
    pub.disconnect();
    sub.disconnect();
  });

  /** The adapter's own message for an emit of `event` with `payload` to room `room`. */
  const adapterMessage = async (room: string, event: string, payload: object) => {
    published.length = 0;
    nsp.to(room).emit(event, payload);
    for (let i = 0; i < 100 && published.length === 0; i++) await new Promise((r) => setTimeout(r, 5));
    assert.equal(published.length, 1);
    return published[0]!;
  };

  it('publicationFor() of an offer to a peer gives the channel and text the adapter publishes for that emit', async () => {
    const payload = {
      roomId: 'r-1',
      from: 'peer-a',
      sdp: 'v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\n"quoted"',
      sequence: 3,
    };
    const publication = publicationFor(nsp.adapter)!('p:peer-b', 'offer');
    const { head, tail } = logEntry('offer', payload);
    const text = publishedMessage({ ...publication, from: payloadIndex('offer') }, head + tail, 17);
    const own = await adapterMessage('p:peer-b', 'offer', { ...payload, seq: 17 });
    assert.equal(publication.channel, own.channel);
    assert.equal(text, own.text);
  });

  it('publicationFor() of a batch gives the message the adapter publishes for it (members in another order)', async () => {
    const candidates = [{ candidate: 'candidate:1 1 udp 1 192.0.2.1 5000 typ host', sdpMid: '0' }, null];
    const payload = { roomId: 'r-2', from: 'peer-a', messageId: 'm-1' };
    const publication = publicationFor(nsp.adapter)!('p:peer-c', 'iceCandidates');
    const { head, items, tail } = logEntry('iceCandidates', payload, candidates);
    const text = publishedMessage(
      { ...publication, from: payloadIndex('iceCandidates') },
      head + items!.join(',') + tail,
      2,
    );
    const own = await adapterMessage('p:peer-c', 'iceCandidates', { ...payload, candidates, seq: 2 });
    assert.equal(publication.channel, own.channel);
    assert.deepEqual(JSON.parse(text), JSON.parse(own.text));
  });

  it('publicationFor() of an adapter that is not the cluster adapter is undefined (one instance)', () => {
    const local = new Server();
    try {
      assert.equal(publicationFor(local.of('/webrtc').adapter), undefined);
    } finally {
      local.close();
    }
  });
});
