import { createHmac, randomBytes } from 'node:crypto';
import type { IceServer, IceServersResponse } from '@switchboard/protocol';
import type { Clock } from '../../common/clock';

export interface IceServerManagerOptions {
  /** STUN URLs handed to clients. Default Google's public STUN (set by config). */
  stunUrls: string[];
  /** TURN URLs. Empty: no TURN. */
  turnUrls: string[];
  /** Static TURN username, used when `turnSecret` is not set. */
  turnUsername?: string;
  /** Static TURN password. */
  turnPassword?: string;
  /** coturn `static-auth-secret`: when set, each caller gets freshly minted credentials. */
  turnSecret?: string;
  /** Lifetime of minted credentials and how long clients may cache the list, seconds. */
  turnTtlSeconds: number;
}

/**
 * Builds the ICE server list. With a shared secret it mints TURN REST API credentials
 * (draft-uberti-behave-turn-rest-00, as coturn's `use-auth-secret` verifies them):
 * username `<unix expiry>:<user id>`, credential `base64(HMAC-SHA1(secret, username))`.
 */
export class IceServerManagerService {
  constructor(
    private readonly options: IceServerManagerOptions,
    private readonly clock: Clock,
  ) {}

  get hasTurn(): boolean {
    return this.options.turnUrls.length > 0;
  }

  /**
   * Returns the list for one caller.
   * @param userId identifies the caller inside minted usernames: the token's `sub` when authentication
   *   is on, else the peer id; random when absent. Characters other than `A-Za-z0-9_.@+-` become `_`.
   */
  getIceServers(userId?: string): IceServersResponse {
    const { stunUrls, turnUrls, turnSecret, turnTtlSeconds } = this.options;
    const nowMs = this.clock.now();
    const iceServers: IceServer[] = [];
    if (stunUrls.length > 0) iceServers.push({ urls: [...stunUrls] });
    if (turnUrls.length > 0) {
      if (turnSecret) {
        const expiry = Math.floor(nowMs / 1000) + turnTtlSeconds;
        const username = `${expiry}:${sanitizeUserId(userId ?? randomBytes(9).toString('base64url'))}`;
        iceServers.push({
          urls: [...turnUrls],
          username,
          credential: turnRestCredential(turnSecret, username),
        });
      } else {
        iceServers.push({
          urls: [...turnUrls],
          username: this.options.turnUsername,
          credential: this.options.turnPassword,
        });
      }
    }
    return {
      iceServers,
      hasTurn: this.hasTurn,
      ttl: turnTtlSeconds,
      expiresAt: nowMs + turnTtlSeconds * 1000,
    };
  }
}

/** `base64(HMAC-SHA1(secret, username))`, the TURN REST API password. */
export function turnRestCredential(secret: string, username: string): string {
  return createHmac('sha1', secret).update(username).digest('base64');
}

// coturn splits the username at ':'; keep the user id free of it (and of anything but plain ASCII an
// e-mail-like `sub` uses), at most 128 characters like a token's `sub`.
function sanitizeUserId(id: string): string {
  return id.replace(/[^A-Za-z0-9_.@+-]/g, '_').slice(0, 128);
}
