import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { describe, test } from 'node:test';

// `ws` masks and unmasks every frame in JavaScript unless the optional `bufferutil` add-on loads
// (its prebuilt binary needs no install script). The benchmark's figures assume it does here.
describe('ws native add-ons', () => {
  test('bufferutil loads from the ws package and unmasks like the WebSocket spec says', () => {
    const requireFromWs = createRequire(require.resolve('ws'));
    const bufferutil = requireFromWs('bufferutil') as {
      unmask(buffer: Buffer, mask: Buffer): void;
    };
    const data = Buffer.from([0x01, 0x02, 0x03, 0x04, 0x05]);
    bufferutil.unmask(data, Buffer.from([0xff, 0x00, 0xff, 0x00]));
    assert.deepEqual([...data], [0xfe, 0x02, 0xfc, 0x04, 0xfa]);
  });
});
