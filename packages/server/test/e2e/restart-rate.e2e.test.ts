import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { closeAll, connect, fire, join, metric, record, sleep, startServer } from '../support/harness';

describe('ICE restart request rate', () => {
  it('alternating failed/connected reports for 2 s ask the partner to restart at most once per ICE_RESTART_MIN_INTERVAL_MS', async () => {
    // The report rate limit is off here, so only the tracker's own interval stands between the
    // reports and the victim.
    const server = await startServer({
      STATE_REPORT_RATE_PER_SEC: '0',
      ICE_RESTART_MIN_INTERVAL_MS: '1000',
      ICE_RESTART_MAX_ATTEMPTS: '2',
    });
    const attacker = await connect(server.url);
    const victim = await connect(server.url);
    try {
      await join(attacker, 'alt');
      await join(victim, 'alt');
      const atVictim = record(victim, 'iceRestartRequired');
      const atAttacker = record(attacker, 'iceRestartRequired');
      const end = Date.now() + 2000;
      let reports = 0;
      while (Date.now() < end) {
        for (let i = 0; i < 50; i++, reports++) {
          const state = reports % 2 === 0 ? 'failed' : 'connected';
          fire(attacker, 'connectionState', {
            roomId: 'alt',
            peerId: victim.peerId,
            connectionState: state,
            iceConnectionState: state,
          });
        }
        await sleep(5);
      }
      await sleep(200);
      const requests = atVictim.length + atAttacker.length;
      assert.ok(reports > 1000, `only ${reports} reports sent`);
      // 2 s at one request per second: the first at once, one more per elapsed interval.
      assert.ok(requests >= 1 && requests <= 3, `${requests} restart requests for ${reports} reports`);
      assert.equal(
        await metric(server, 'switchboard_server_events_total{event="iceRestartRequired"}'),
        requests,
      );
    } finally {
      closeAll(attacker, victim);
      await server.close();
    }
  });
});
