import assert from 'node:assert/strict';
import type { IncomingMessage } from 'node:http';
import { describe, test } from 'node:test';
import { clientIp, limitKey, unmapIPv4 } from '../../src/common/client-ip';

function req(remoteAddress: string, xff?: string): IncomingMessage {
  return {
    headers: xff === undefined ? {} : { 'x-forwarded-for': xff },
    socket: { remoteAddress },
  } as unknown as IncomingMessage;
}

describe('client IP', () => {
  test('clientIp() with trustProxy 0 is the socket address, X-Forwarded-For ignored', () => {
    assert.equal(clientIp(req('10.0.0.5', '198.51.100.1'), 0), '10.0.0.5');
    assert.equal(clientIp(req('::ffff:10.0.0.5'), 0), '10.0.0.5');
  });

  test('clientIp() with trustProxy N is the address N hops back, as Express computes req.ip', () => {
    assert.equal(clientIp(req('10.0.0.5', '198.51.100.1'), 1), '198.51.100.1');
    assert.equal(clientIp(req('10.0.0.5', 'spoofed, 198.51.100.1'), 1), '198.51.100.1');
    assert.equal(clientIp(req('10.0.0.5', '198.51.100.1, 10.0.0.4'), 2), '198.51.100.1');
    assert.equal(clientIp(req('10.0.0.5'), 1), '10.0.0.5', 'no header: the socket address');
    assert.equal(clientIp(req('10.0.0.5', '::ffff:198.51.100.1'), 1), '198.51.100.1');
  });

  test('clientIp() falls back to the socket address when the trusted hop is not an IP address', () => {
    assert.equal(clientIp(req('10.0.0.5', 'not-an-ip'), 1), '10.0.0.5');
    assert.equal(clientIp(req('10.0.0.5', ''), 1), '10.0.0.5');
  });

  test('unmapIPv4() turns IPv4-mapped IPv6 into IPv4 and leaves the rest', () => {
    assert.equal(unmapIPv4('::ffff:192.0.2.1'), '192.0.2.1');
    assert.equal(unmapIPv4('::FFFF:c000:0201'), '192.0.2.1');
    assert.equal(unmapIPv4('192.0.2.1'), '192.0.2.1');
    assert.equal(unmapIPv4('2001:db8::1'), '2001:db8::1');
    assert.equal(unmapIPv4('::1'), '::1');
  });

  test('limitKey() keeps IPv4 and groups IPv6 by /64', () => {
    assert.equal(limitKey('192.0.2.1'), '192.0.2.1');
    assert.equal(limitKey('2001:db8:1:2::1'), '2001:db8:1:2::/64');
    assert.equal(limitKey('2001:0db8:0001:0002:ffff:ffff:ffff:ffff'), '2001:db8:1:2::/64');
    assert.equal(limitKey('fe80::1%eth0'), 'fe80:0:0:0::/64');
    assert.equal(limitKey('::1'), '0:0:0:0::/64');
    assert.equal(limitKey('64:ff9b::192.0.2.1'), '64:ff9b:0:0::/64');
  });
});
