import { createHash, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { MetricsService } from './metrics.service';

/** Body of the 401 a scrape without the right token gets, on either port. */
export const UNAUTHORIZED_BODY = {
  error: { code: 'UNAUTHORIZED', message: 'GET /metrics needs Authorization: Bearer <METRICS_TOKEN>' },
} as const;

/**
 * Whether an `Authorization` header carries `Bearer <token>`; always true without a token. Both sides
 * are hashed first so the comparison takes the same time whatever the length or content of the guess.
 *
 * @example
 * scrapeAuthorized('Bearer s3cret-s3cret-s3cret', 's3cret-s3cret-s3cret'); // true
 */
export function scrapeAuthorized(authorization: string | undefined, token: string | undefined): boolean {
  if (token === undefined) return true;
  const presented = /^Bearer +(.+)$/i.exec(authorization ?? '')?.[1] ?? '';
  const digest = (s: string) => createHash('sha256').update(s).digest();
  return timingSafeEqual(digest(presented), digest(token));
}

export interface MetricsServerOptions {
  /** Interface to listen on (METRICS_HOST). */
  host: string;
  /** Port (METRICS_PORT); 0 picks a free one. */
  port: number;
  /** Bearer token a scrape must carry (METRICS_TOKEN); none = open. */
  token: string | undefined;
}

/**
 * `GET /metrics` on its own plain HTTP listener (METRICS_PORT), so the scrape endpoint can sit on an
 * internal interface while the public port answers 404 for it. Nothing else is served here.
 *
 * @example
 * const server = new MetricsServer(metrics, { host: '127.0.0.1', port: 9464, token: undefined });
 * await server.listen(); // 'http://127.0.0.1:9464'
 */
export class MetricsServer {
  private readonly server: Server;
  private closing: Promise<void> | undefined;

  constructor(
    private readonly metrics: MetricsService,
    private readonly options: MetricsServerOptions,
  ) {
    this.server = createServer((req, res) => void this.handle(req, res));
    // A scraper asks once every few seconds; a connection that sends nothing is not one.
    this.server.headersTimeout = 10_000;
    this.server.requestTimeout = 15_000;
    this.server.timeout = 30_000;
  }

  /** Starts listening and returns the base URL (with the bound port when `port` was 0). */
  async listen(): Promise<string> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(this.options.port, this.options.host, () => {
        this.server.off('error', reject);
        resolve();
      });
    });
    return this.url()!;
  }

  /** The base URL while listening, e.g. `http://127.0.0.1:9464`. */
  url(): string | undefined {
    const address = this.server.address() as AddressInfo | null;
    if (!address) return undefined;
    const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
    return `http://${host}:${address.port}`;
  }

  /** Stops listening and drops kept-alive scrape connections. Safe to call twice. */
  close(): Promise<void> {
    return (this.closing ??= new Promise<void>((resolve) => {
      if (!this.server.listening) return resolve();
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    }));
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = (req.url ?? '').split('?')[0];
    if (path !== '/metrics' || (req.method !== 'GET' && req.method !== 'HEAD')) {
      send(
        res,
        404,
        'application/json; charset=utf-8',
        JSON.stringify({ error: { code: 'NOT_FOUND', message: 'Not found' } }),
      );
      return;
    }
    if (!scrapeAuthorized(req.headers.authorization, this.options.token)) {
      res.setHeader('WWW-Authenticate', 'Bearer');
      send(res, 401, 'application/json; charset=utf-8', JSON.stringify(UNAUTHORIZED_BODY));
      return;
    }
    try {
      const text = await this.metrics.registry.metrics();
      send(res, 200, this.metrics.registry.contentType, text); // Node sends no body to HEAD
    } catch {
      send(res, 500, 'text/plain; charset=utf-8', 'metrics collection failed');
    }
  }
}

function send(res: ServerResponse, status: number, contentType: string, body: string): void {
  res.writeHead(status, { 'Content-Type': contentType, 'Cache-Control': 'no-store' });
  res.end(body);
}
