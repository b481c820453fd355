import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import {
  closeAll,
  connect,
  deleteRedisKeys,
  join,
  metric,
  REDIS_TEST_URL,
  startServer,
} from '../support/harness';
import { runToExit, spawnServer } from '../support/process';

describe('start-up with and without REDIS_URL', () => {
  it('with REDIS_URL where no Redis answers, the server exits 1 naming REDIS_URL and the cause, never the password', async () => {
    const { code, output } = await runToExit({ REDIS_URL: 'redis://switchboard:hunter2@127.0.0.1:1' });
    assert.equal(code, 1);
    assert.match(output, /REDIS_URL: redis:\/\/switchboard:\*\*\*@127\.0\.0\.1:1.*ECONNREFUSED/);
    assert.doesNotMatch(output, /hunter2/);
    assert.doesNotMatch(output, /listening on/);
  });

  it('with REDIS_URL the server says where its state is and that Socket.IO connection state recovery is off', async () => {
    const prefix = `sbtest:${randomBytes(6).toString('hex')}:`;
    const server = await spawnServer({ REDIS_URL: REDIS_TEST_URL, REDIS_KEY_PREFIX: prefix });
    try {
      assert.match(
        server.output(),
        /state in Redis at redis:\/\/127\.0\.0\.1:6379\/? under sbtest:[0-9a-f]+:/,
      );
      assert.match(server.output(), /connection state recovery off/);
      const res = await fetch(`${server.url}/ready`);
      assert.equal(res.status, 200);
    } finally {
      server.child.kill('SIGKILL');
      await server.exited;
      await deleteRedisKeys(prefix);
    }
  });

  it('without REDIS_URL: state_store memory, the recovery adapter, and adapter counters at 0 after a call', async () => {
    const server = await startServer();
    const a = await connect(server.url);
    const b = await connect(server.url);
    try {
      await join(a, 'solo');
      await join(b, 'solo');
      const text = await (await fetch(`${server.url}/metrics`)).text();
      assert.match(
        text,
        /^switchboard_instance_info\{instance_id="[^"]+",state_store="memory",adapter="recovery"\} 1$/m,
      );
      assert.equal(await metric(server, 'switchboard_adapter_messages_published_total'), 0);
      assert.equal(await metric(server, 'switchboard_adapter_messages_received_total{origin="other"}'), 0);
    } finally {
      closeAll(a, b);
      await server.close();
    }
  });
});
