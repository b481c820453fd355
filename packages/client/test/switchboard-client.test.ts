// The facade's own contract in Node, without a server or peer connections: what its methods
// reject with for a peer that is not in the room.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SwitchboardError } from '../src/errors.js';
import { SwitchboardClient } from '../src/switchboard-client.js';

const silent = { debug() {}, info() {}, warn() {}, error() {} };

test('SwitchboardClient methods given an unknown peer id reject with a SwitchboardError unknown-peer, not a RangeError', async () => {
  const client = new SwitchboardClient({ url: 'http://127.0.0.1:9', room: 'r', logger: silent });
  try {
    for (const call of [
      () => client.getStats('nobody'),
      () => client.getSelectedCandidatePair('nobody'),
      () => client.renegotiate('nobody'),
      () => client.restartIce('nobody'),
    ]) {
      await assert.rejects(call(), (error: unknown) => {
        assert.ok(error instanceof SwitchboardError);
        assert.equal(error.reason, 'unknown-peer');
        assert.equal(error.peerId, 'nobody');
        return true;
      });
    }
    // Without a peer id they address every link, of which there are none.
    await client.renegotiate();
    await client.restartIce();
  } finally {
    await client.close();
  }
});
