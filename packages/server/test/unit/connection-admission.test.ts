import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import type { IncomingMessage } from 'node:http';
import { describe, test } from 'node:test';
import type { Server as EngineServer, Socket as EngineSocket } from 'engine.io';
import {
  ConnectionAdmission,
  FALLBACK_MAX_CONNECTIONS,
  maxConnectionsFor,
  parseOpenFileLimit,
  resolveMaxConnections,
  type ConnectionAdmissionOptions,
} from '../../src/common/connection-admission';
import { MetricsService } from '../../src/metrics/metrics.service';

const LIMITS = `Limit                     Soft Limit           Hard Limit           Units     
Max cpu time              unlimited            unlimited            seconds   
Max file size             unlimited            unlimited            bytes     
Max processes             63457                63457                processes 
Max open files            4096                 524288               files     
Max locked memory         8388608              8388608              bytes     
`;

describe('resolveMaxConnections', () => {
  test('parseOpenFileLimit() reads the soft "Max open files" figure of /proc/self/limits', () => {
    assert.equal(parseOpenFileLimit(LIMITS), 4096);
    assert.equal(parseOpenFileLimit(LIMITS.replace('4096 ', 'unlimited')), undefined);
    assert.equal(parseOpenFileLimit('Max processes 100 100 processes\n'), undefined);
    assert.equal(parseOpenFileLimit(''), undefined);
  });

  test('maxConnectionsFor() keeps max(128, an eighth) of the limit for HTTP', () => {
    assert.equal(maxConnectionsFor(4096), 3584);
    assert.equal(maxConnectionsFor(1024), 896);
    assert.equal(maxConnectionsFor(20_000), 17_500);
    assert.equal(maxConnectionsFor(1_048_576), 917_504);
    assert.equal(maxConnectionsFor(100), 1);
  });

  test('resolveMaxConnections(0) derives the cap from the limits text; unreadable falls back; non-zero is kept', () => {
    assert.equal(
      resolveMaxConnections(0, () => LIMITS),
      3584,
    );
    const unreadable = () => {
      throw Object.assign(new Error('ENOENT'), { code: 'ENOENT' });
    };
    assert.equal(resolveMaxConnections(0, unreadable), FALLBACK_MAX_CONNECTIONS);
    assert.equal(
      resolveMaxConnections(0, () => 'garbage'),
      FALLBACK_MAX_CONNECTIONS,
    );
    assert.equal(resolveMaxConnections(5000, unreadable), 5000);
    assert.ok(resolveMaxConnections(0) >= 1);
  });
});

/** A request as Engine.IO hands it to allowRequest. */
function req(address: string, headers: Record<string, string> = {}): IncomingMessage {
  return { headers, socket: { remoteAddress: address } } as unknown as IncomingMessage;
}

class FakeSocket extends EventEmitter {
  readyState = 'open';
  constructor(readonly request: IncomingMessage) {
    super();
  }
  close(): void {
    this.readyState = 'closed';
    this.emit('close');
  }
}

function admission(options: Partial<ConnectionAdmissionOptions> = {}) {
  const engine = new EventEmitter();
  const a = new ConnectionAdmission(
    {
      origins: true,
      maxPerIp: 2,
      ratePerIpPerMinute: 0,
      maxConnections: 100,
      trustProxy: 0,
      blockSeconds: 0,
      ...options,
    },
    new MetricsService(),
  );
  a.attach(engine as unknown as EngineServer);
  const ask = (r: IncomingMessage) =>
    new Promise<boolean>((resolve) => a.allowRequest(r, (_err, ok) => resolve(ok)));
  const open = (r: IncomingMessage) => {
    const s = new FakeSocket(r);
    engine.emit('connection', s as unknown as EngineSocket);
    return s;
  };
  return { a, engine, ask, open };
}

const tick = () => new Promise((r) => setImmediate(r));

describe('ConnectionAdmission', () => {
  test('an admitted upgrade that never opens hands its slot back after the current turn', async () => {
    const { a, ask } = admission();
    assert.equal(await ask(req('192.0.2.1')), true);
    assert.equal(await ask(req('192.0.2.1')), true);
    assert.equal(await ask(req('192.0.2.1')), false, 'both slots reserved');
    await tick();
    assert.equal(a.connectionsFrom('192.0.2.1'), 0);
    assert.equal(await ask(req('192.0.2.1')), true);
  });

  test('admitted and opened connections keep their slot until close; the entry goes at 0', async () => {
    const { a, ask, open } = admission();
    const r1 = req('192.0.2.1');
    const r2 = req('::ffff:192.0.2.1');
    assert.equal(await ask(r1), true);
    const s1 = open(r1);
    assert.equal(await ask(r2), true);
    const s2 = open(r2);
    await tick();
    assert.equal(a.connectionsFrom('192.0.2.1'), 2, 'IPv4-mapped counts as the IPv4 address');
    assert.equal(await ask(req('192.0.2.1')), false);
    s1.close();
    s2.close();
    assert.equal(a.connectionsFrom('192.0.2.1'), 0);
    assert.equal((a as unknown as { perKey: Map<string, number> }).perKey.size, 0);
  });

  test('admissions decided in one microtask queue (a limiter answering late) never exceed the cap', async () => {
    const { ask } = admission({ maxPerIp: 3, ratePerIpPerMinute: 1000 });
    const answers = await Promise.all(Array.from({ length: 10 }, () => ask(req('192.0.2.7'))));
    assert.equal(answers.filter(Boolean).length, 3);
  });

  test('maxConnections counts every IP together', async () => {
    const { ask } = admission({ maxConnections: 3, maxPerIp: 0 });
    const answers = [];
    for (let i = 1; i <= 5; i++) answers.push(await ask(req(`192.0.2.${i}`)));
    assert.deepEqual(answers, [true, true, true, false, false]);
  });

  test('a socket already closed when connection is emitted is not counted', async () => {
    const { a, engine, ask } = admission();
    const r = req('192.0.2.1');
    assert.equal(await ask(r), true);
    const s = new FakeSocket(r);
    s.readyState = 'closed';
    engine.emit('connection', s);
    await tick();
    assert.equal(a.connectionsFrom('192.0.2.1'), 0);
  });

  test('close() twice is harmless and a close after it does not go negative', async () => {
    const { a, ask, open } = admission();
    const r = req('192.0.2.1');
    await ask(r);
    const s = open(r);
    a.close();
    a.close();
    s.close();
    assert.equal(a.connectionsFrom('192.0.2.1'), 0);
  });
});
