import type { Redis } from 'ioredis';
import type { Presence, PresenceHandlers } from '../webrtc/presence';

export interface RedisPresenceOptions {
  /** Prepended to every key. */
  keyPrefix: string;
  /** This instance's id (unique among the instances). */
  instanceId: string;
  /** How often this instance says it is alive and looks for due expiries and dead instances, ms. Default 1000. */
  heartbeatMs?: number;
  /** An instance silent for this long is taken for dead and its peers for dropped, ms. Default 5000. */
  deadAfterMs?: number;
  /** Told about a failed poll (Redis trouble; once per outage) or a failed callback, for the log. */
  onError?: (err: Error) => void;
}

/** Flat pairs: member, then how long ago its score was (ms), for each claimed member. */
type ClaimCommand = (key: string, olderThanMs: number, limit: number) => Promise<(string | number)[]>;
type BeatCommand = (key: string, member: string) => Promise<number>;
type EpochCommand = (key: string, candidate: string, ttlMs: number) => Promise<string>;

// Redis's clock (TIME), in ms: every instance judges "due" and "silent" by the same clock.
const NOW_MS = `local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
`;

// Removes and returns the members whose score is at most now - ARGV[1], each with its age (now -
// score): each goes to exactly one caller, however many instances poll at once.
const CLAIM = `${NOW_MS}
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now - tonumber(ARGV[1]), 'WITHSCORES', 'LIMIT', 0, tonumber(ARGV[2]))
local out = {}
for i = 1, #due, 2 do
  redis.call('ZREM', KEYS[1], due[i])
  out[#out + 1] = due[i]
  out[#out + 1] = now - tonumber(due[i + 1])
end
return out
`;

// The cluster's state epoch: created by the first instance to look, read by all. A different value
// from the one an instance knew means Redis lost everything since (restarted without persistence).
const EPOCH = `redis.call('SET', KEYS[1], ARGV[1], 'NX')
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return redis.call('GET', KEYS[1])
`;

// ZADD with Redis's own time as the score; ARGV[2] (optional) is added to it (a deadline).
const STAMP = `${NOW_MS}
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2] or '0'), ARGV[1])
return now
`;

/**
 * Presence shared by the instances of a cluster, in Redis:
 * - `expiries`, a sorted set of dropped peers scored by the end of their resume window; every
 *   instance polls it and claims what is due (each peer once), so a window ends on time whichever
 *   instance is left, with no timer that dies with its process;
 * - `instances`, a sorted set of instance ids scored by their last heartbeat, and per instance a
 *   hash of the peers connected to it and their socket ids (`ipeers:<id>`). An instance silent for `deadAfterMs` was
 *   killed (a shut-down one leaves the set): a survivor claims it, and treats each of its peers as
 *   dropped then (`orphaned`), unless it has since resumed elsewhere.
 * Per peer this costs one hash field while connected and one sorted-set member while dropped.
 */
export class RedisPresence implements Presence {
  private readonly claim$: ClaimCommand;
  private readonly epoch$: EpochCommand;
  /** The state epoch this instance knows (undefined before its first poll). */
  private epoch: string | undefined;
  private readonly stamp$: BeatCommand & ((key: string, member: string, addMs: number) => Promise<number>);
  private readonly heartbeatMs: number;
  private readonly deadAfterMs: number;
  private handlers: PresenceHandlers | undefined;
  private timer: ReturnType<typeof setInterval> | undefined;
  private polling = false;
  /** The last poll failed: the next failures of the same outage are not reported again. */
  private failing = false;
  private closed = false;
  private pending = 0;

  constructor(
    private readonly redis: Redis,
    private readonly options: RedisPresenceOptions,
  ) {
    redis.defineCommand('switchboardClaim', { numberOfKeys: 1, lua: CLAIM });
    redis.defineCommand('switchboardStamp', { numberOfKeys: 1, lua: STAMP });
    redis.defineCommand('switchboardEpoch', { numberOfKeys: 1, lua: EPOCH });
    const commands = redis as unknown as {
      switchboardClaim: ClaimCommand;
      switchboardStamp: RedisPresence['stamp$'];
      switchboardEpoch: EpochCommand;
    };
    this.epoch$ = commands.switchboardEpoch.bind(redis);
    this.claim$ = commands.switchboardClaim.bind(redis);
    this.stamp$ = commands.switchboardStamp.bind(redis);
    this.heartbeatMs = options.heartbeatMs ?? 1000;
    this.deadAfterMs = options.deadAfterMs ?? 5000;
  }

  start(handlers: PresenceHandlers): void {
    this.handlers = handlers;
    if (this.timer || this.closed) return;
    void this.poll();
    this.timer = setInterval(() => void this.poll(), this.heartbeatMs);
    this.timer.unref();
  }

  async online(peerId: string, socketId: string): Promise<void> {
    await this.redis.hset(this.peersKey(this.options.instanceId), peerId, socketId);
  }

  async offline(peerId: string): Promise<void> {
    await this.redis.hdel(this.peersKey(this.options.instanceId), peerId);
  }

  async scheduleExpiry(peerId: string, delayMs: number): Promise<void> {
    await this.stamp$(this.key('expiries'), peerId, delayMs);
  }

  async cancelExpiry(peerId: string): Promise<void> {
    await this.redis.zrem(this.key('expiries'), peerId);
  }

  get pendingExpiries(): number {
    return this.pending;
  }

  /** Stops polling and leaves the instance set (a shut-down instance is not a dead one). Safe twice. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.timer);
    try {
      await this.redis
        .multi()
        .zrem(this.key('instances'), this.options.instanceId)
        .del(this.peersKey(this.options.instanceId))
        .exec();
    } catch {
      // Redis is gone: the others will take this instance for dead, which is the truth.
    }
  }

  /** One round: heartbeat, then due expiries, then dead instances. Never two at once. */
  private async poll(): Promise<void> {
    if (this.polling || this.closed || !this.handlers) return;
    this.polling = true;
    const handlers = this.handlers;
    try {
      const { instanceId } = this.options;
      const epoch = await this.epoch$(this.key('epoch'), `${instanceId}:${Date.now()}`, 24 * 3600_000);
      const known = this.epoch;
      this.epoch = epoch;
      if (known !== undefined && epoch !== known) {
        // Everything this instance's peers had in Redis is gone; its own peer list too.
        await handlers.stateLost().catch((err: unknown) => this.report(err));
      }
      await this.stamp$(this.key('instances'), instanceId, 0);
      // No key lives forever: a peer set outlives its instance's last beat by a day at most.
      await this.redis.pexpire(this.peersKey(instanceId), 24 * 3600_000);
      const due = await this.claim$(this.key('expiries'), 0, 500);
      for (let i = 0; i < due.length; i += 2)
        await handlers.expire(String(due[i])).catch((err: unknown) => this.report(err));
      const dead = await this.claim$(this.key('instances'), this.deadAfterMs, 10);
      for (let i = 0; i < dead.length; i += 2) {
        const instance = String(dead[i]);
        // Its peers are dropped since its last beat, not since it was found out.
        const silentForMs = Number(dead[i + 1]);
        const peers = await this.redis.hgetall(this.peersKey(instance));
        for (const [peerId, socketId] of Object.entries(peers))
          await handlers.orphaned(peerId, socketId, silentForMs).catch((err: unknown) => this.report(err));
        await this.redis.del(this.peersKey(instance));
      }
      this.pending = await this.redis.zcard(this.key('expiries'));
      this.failing = false;
    } catch (err) {
      if (!this.failing) this.report(err);
      this.failing = true;
    } finally {
      this.polling = false;
    }
  }

  private report(err: unknown): void {
    this.options.onError?.(err instanceof Error ? err : new Error(String(err)));
  }

  private key(name: string): string {
    return `${this.options.keyPrefix}${name}`;
  }

  private peersKey(instanceId: string): string {
    return `${this.options.keyPrefix}ipeers:${instanceId}`;
  }
}
