import type { IceServer, IceServersResponse } from '@switchboard/protocol';
import { LIMITS } from './defaults.js';
import { HttpError, fetchJson } from './http.js';
import type { Logger } from './logger.js';

export interface IceServerCacheOptions {
  /** Server origin: `GET {url}/webrtc/ice-servers`. */
  url: string;
  /** The app's own ICE servers (`iceServers` option): used as they are, never fetched nor refreshed. */
  fixed?: RTCIceServer[];
  /** The access token to present, when the server requires one. */
  token(): Promise<string | undefined>;
  /** The server refused the token (401). True: fetch once more (a new token will be presented). */
  onTokenRefused(): boolean;
  /** Fresh servers arrived ahead of the old credentials' expiry: links should switch to them. */
  onRefreshed(servers: RTCIceServer[]): void;
  logger: Logger;
}

/**
 * The STUN/TURN servers for new peer connections and ICE restarts. TURN credentials are short-lived
 * (`expiresAt`): the cache fetches new ones a minute before they expire, when a link restarts ICE,
 * and when a link is created with expired ones.
 */
export class IceServerCache {
  private servers: RTCIceServer[] = [];
  private expiresAt = 0;
  private refreshTimer: ReturnType<typeof setTimeout> | undefined;

  constructor(private readonly options: IceServerCacheOptions) {}

  /** The servers to build a peer connection with now; expired credentials start a refresh for the next one. */
  current(): RTCIceServer[] {
    if (this.options.fixed) return this.options.fixed;
    if (this.expiresAt && Date.now() > this.expiresAt) {
      // This link starts with the expired credentials; its restarts and later links get fresh ones.
      this.expiresAt = 0;
      void this.refresh();
    }
    return this.servers;
  }

  /** Takes the servers of a `joinRoom` ack or `GET /webrtc/ice-servers` and schedules their refresh. */
  use(servers: IceServer[], expiresAt: number): void {
    this.servers = servers.map((s) => ({ urls: s.urls, username: s.username, credential: s.credential }));
    this.expiresAt = expiresAt;
    clearTimeout(this.refreshTimer);
    if (!expiresAt || this.options.fixed) return;
    const delay = Math.min(
      Math.max(expiresAt - Date.now() - LIMITS.iceRefreshAheadMs, LIMITS.iceRefreshMinDelayMs),
      2 ** 31 - 1,
    );
    this.refreshTimer = setTimeout(() => {
      void this.refresh().then((fresh) => {
        if (fresh) this.options.onRefreshed(fresh);
      });
    }, delay);
  }

  /** Fetches fresh servers (new TURN credentials); `null` when the server could not give any. */
  async refresh(): Promise<RTCIceServer[] | null> {
    if (this.options.fixed) return this.options.fixed;
    const url = `${this.options.url}/webrtc/ice-servers`;
    for (let attempt = 1; ; attempt++) {
      try {
        const response = await fetchJson<IceServersResponse>(url, await this.options.token());
        this.use(response.iceServers, response.expiresAt);
        return this.servers;
      } catch (error) {
        if (
          error instanceof HttpError &&
          error.status === 401 &&
          attempt === 1 &&
          this.options.onTokenRefused()
        )
          continue;
        this.options.logger.warn('GET /webrtc/ice-servers failed', error);
        return null;
      }
    }
  }

  /** Stops the refresh timer. */
  close(): void {
    clearTimeout(this.refreshTimer);
  }
}
