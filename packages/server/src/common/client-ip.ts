import type { IncomingMessage } from 'node:http';
import { isIP } from 'node:net';
import proxyaddr from 'proxy-addr';

/**
 * The client's address: the TCP peer, or with `trustProxy` = N the address N hops back in
 * X-Forwarded-For. It is the rule Express applies to `req.ip` after `app.set('trust proxy', N)`, computed
 * by the same library (proxy-addr), so an HTTP request and a WebSocket upgrade from one client get the
 * same address. IPv4-mapped IPv6 (`::ffff:203.0.113.7`, what a dual-stack listener reports) becomes
 * plain IPv4.
 *
 * With a trusted hop that is not an IP address (a misconfigured TRUST_PROXY lets the client write the
 * header), the TCP peer is used instead, so junk in the header cannot mint fresh identities.
 *
 * @example
 * clientIp(req, 1); // '198.51.100.4' for `X-Forwarded-For: 198.51.100.4` sent by the one proxy in front
 */
export function clientIp(req: IncomingMessage, trustProxy: number): string {
  const peer = req.socket?.remoteAddress ?? '';
  const forwarded = trustProxy > 0 ? proxyaddr(req, (_addr, i) => i < trustProxy) : peer;
  const address = isIP(forwarded) ? forwarded : peer;
  return unmapIPv4(address);
}

/**
 * The key per-client limits count under: an IPv4 address as is, an IPv6 address by its /64. A single
 * IPv6 host is normally given a whole /64 and can use any address in it, so counting per address would
 * let one host pass any per-IP limit by changing addresses; a /64 is one subscriber's network.
 *
 * @example
 * limitKey('2001:db8:1:2:aaaa::1'); // '2001:db8:1:2::/64'
 */
export function limitKey(ip: string): string {
  if (isIP(ip) !== 6) return ip;
  const groups = ipv6Groups(ip);
  if (!groups) return ip;
  return `${groups
    .slice(0, 4)
    .map((g) => g.toString(16))
    .join(':')}::/64`;
}

/** `::ffff:a.b.c.d` (or its hex form) → `a.b.c.d`; any other address unchanged. */
export function unmapIPv4(ip: string): string {
  if (isIP(ip) !== 6) return ip;
  const g = ipv6Groups(ip);
  if (!g || g[0] || g[1] || g[2] || g[3] || g[4] || g[5] !== 0xffff) return ip;
  return `${g[6]! >> 8}.${g[6]! & 0xff}.${g[7]! >> 8}.${g[7]! & 0xff}`;
}

/** The eight 16-bit groups of a valid IPv6 address (zone id dropped, embedded IPv4 tail converted). */
function ipv6Groups(ip: string): number[] | undefined {
  const zone = ip.indexOf('%');
  let text = zone >= 0 ? ip.slice(0, zone) : ip;
  const v4 = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(text);
  if (v4) {
    const [a, b, c, d] = v4.slice(1).map(Number) as [number, number, number, number];
    text = `${text.slice(0, v4.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const halves = text.split('::');
  if (halves.length > 2) return undefined;
  const parse = (s: string) => (s === '' ? [] : s.split(':').map((h) => parseInt(h, 16)));
  const head = parse(halves[0]!);
  const tail = halves.length === 2 ? parse(halves[1]!) : [];
  const fill = 8 - head.length - tail.length;
  if (halves.length === 1 ? fill !== 0 : fill < 0) return undefined;
  const groups = [...head, ...new Array<number>(fill).fill(0), ...tail];
  return groups.every((g) => Number.isInteger(g) && g >= 0 && g <= 0xffff) ? groups : undefined;
}
