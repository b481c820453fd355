import { createHash } from 'node:crypto';
import { digestText } from './digest-set';
import { ScriptConnection } from './script-connection';
import { Redis } from 'ioredis';
import type { SignalStep, SignalStepResult, StateStore } from './state-store';

export interface RedisStateStoreOptions {
  /** Prepended to every key, so deployments (and test runs) can share a database. Default `switchboard:`. */
  keyPrefix?: string;
  /**
   * Lifetime given to the keys the {@link StateStore} contract keeps without a TTL (a `set` without
   * `ttlMs`, the hashes of `hashSetIfCapacity`), ms; every write to such a key brings its remaining
   * lifetime back up to at least this, so a crashed instance never leaves one behind for longer. A
   * hash nobody writes to for this long goes although its members may still be there: room
   * membership needs a write (or `expire()`) from the services within it. Default 24 hours (the
   * lifetime of a peer session).
   */
  maxKeyTtlMs?: number;
  /**
   * Whether `admitSignal` runs its script over a connection of its own ({@link ScriptConnection},
   * to the client's address, with its credentials, database and TLS) instead of through the ioredis
   * client, whenever that connection is up. Default true (not for a Sentinel client, whose address
   * is not the primary's).
   */
  scriptConnection?: boolean;
}

/**
 * The shared store: every operation is one round trip to Redis (a single command, or a Lua script
 * for the ones that read and write), so decisions that race between instances — the last seat of a
 * room, the first sighting of a message id or a candidate, raising a sequence, holding a signal
 * while another instance drains — are atomic.
 *
 * How the contract maps onto Redis:
 * - values are JSON strings (`SET … PX`); `raiseTo` compares the stored JSON as a number.
 * - `addToSet` sets and `remember` sets are sorted sets scored by each member's expiry, in
 *   microseconds of Redis's own clock (`TIME` inside the scripts, never the Node clock, so instances
 *   whose clocks disagree still agree on what has expired). The cap drops the lowest scores: the
 *   least recently added whenever a key's members share one TTL, as every service's do (with mixed
 *   TTLs it drops the one that expires first). Expired members are purged before the cap is applied,
 *   so they never push out a live one (the in-memory store counts them until its next sweep). The
 *   key itself expires (`PEXPIREAT`) with its latest-expiring member.
 * - `remember` keeps a 64-bit digest of each member, not the member: the in-memory store's
 *   (`DigestSet`), as text of at most 15 characters (`digestText`). A member costs the same whatever
 *   its length (a candidate line is 60-120 bytes), and two members collide with probability about
 *   n / 2^64; the digest is not cryptographic, and a sender who crafts a collision only makes its
 *   own signal look like a repeat (every set belongs to one sending direction). Measured on
 *   Redis 7.0 (`MEMORY USAGE`): an 11-character digest costs about 26 bytes while its set stays
 *   within `zset-max-listpack-entries` (128), about 97 past it (21 and 100 as 8 raw bytes; but one
 *   Buffer argument switches ioredis to building the whole command from buffers, which cost a
 *   cross-instance candidate about a fifth of its instructions: docs/performance.md, "A
 *   cross-instance signal, counted"); the member itself would cost 51 and 135
 *   for a UUID, and about 200 for a candidate line at any count (it is over
 *   `zset-max-listpack-value`, 64 bytes, which forces the larger encoding on the whole set).
 *   The cap makes room before adding, so a set at its cap never goes over it, even for a moment.
 * - hashes and lists are Redis hashes and lists; Redis deletes an empty one by itself.
 *
 * Where it differs from the in-memory store: keys kept there forever live `maxKeyTtlMs` after
 * their last write here; a write to a hash, set or digest set may extend a TTL that `expire()` set
 * (such a key must outlive its members, or the safety TTL); with a cap of 0 nothing is kept
 * (the in-memory store keeps an empty hash, list or set); a `remember` key and an `addToSet` key are
 * both sorted sets, so using one as the other is not an error here; and TTLs are whole
 * milliseconds of at least 1.
 *
 * `admitSignal` is one script over the seven keys a relayed signal reads or writes (room, session,
 * message ids, sequence, candidates, the receiver's delivery log), so a signal costs one round trip
 * whatever it is; with `publish` the script also `SPUBLISH`es it (the channel is not a key).
 *
 * Standalone Redis or Sentinel: `admitSignal`'s script and `delete()` of several keys would need
 * their keys in one hash slot on Redis Cluster.
 */
export class RedisStateStore implements StateStore {
  private readonly redis: Redis;
  private readonly ownsClient: boolean;
  private readonly prefix: string;
  private readonly maxKeyTtlMs: number;
  private closed = false;

  /**
   * @param redis a connected ioredis client without its own `keyPrefix` (the store prefixes keys
   *   itself, so that `size()` can find them), or a `redis://` / `rediss://` URL for a client the
   *   store creates and closes.
   */
  constructor(redis: Redis | string, options: RedisStateStoreOptions = {}) {
    if (typeof redis === 'string') {
      this.redis = new Redis(redis);
      this.ownsClient = true;
    } else {
      if (redis.options.keyPrefix)
        throw new Error('RedisStateStore: pass a client without keyPrefix; use the keyPrefix option');
      this.redis = redis;
      this.ownsClient = false;
    }
    this.prefix = options.keyPrefix ?? 'switchboard:';
    this.maxKeyTtlMs = ttl(options.maxKeyTtlMs ?? 24 * 3600_000);
    const o = this.redis.options;
    if (options.scriptConnection !== false && !o.sentinels?.length)
      this.scripts = new ScriptConnection(o, ADMIT_SIGNAL.lua, ADMIT_SIGNAL.sha, {
        commandTimeoutMs: o.commandTimeout ?? 2000,
        connectTimeoutMs: o.connectTimeout,
      });
  }

  /** The connection `admitSignal` uses while it is up (undefined when turned off). */
  readonly scripts: ScriptConnection | undefined;
  /** `admitSignal` scripts sent through the ioredis client and not answered yet. */
  private viaClient = 0;
  /** Scripts held back until {@link viaClient} is 0, to go over the script connection in order. */
  private readonly held: {
    keys: string[];
    args: (string | number)[];
    resolve(reply: unknown): void;
    reject(err: unknown): void;
  }[] = [];

  async get<T>(key: string): Promise<T | undefined> {
    return decode<T>(await this.redis.get(this.k(key)));
  }

  async set<T>(key: string, value: T, ttlMs?: number): Promise<void> {
    await this.redis.set(
      this.k(key),
      encode(value),
      'PX',
      ttlMs === undefined ? this.maxKeyTtlMs : ttl(ttlMs),
    );
  }

  async compareAndSet<T>(key: string, expected: T, value: T, ttlMs: number): Promise<boolean> {
    // `expected` came from get(), i.e. JSON.parse of the stored text; stringify gives that text back.
    return (
      (await COMPARE_AND_SET.run(this.redis, this.k(key), encode(expected), encode(value), ttl(ttlMs))) === 1
    );
  }

  async delete(...keys: string[]): Promise<void> {
    if (keys.length > 0) await this.redis.del(...keys.map((key) => this.k(key)));
  }

  async raiseTo(key: string, value: number, ttlMs: number): Promise<boolean> {
    if (!Number.isFinite(value)) throw new TypeError(`raiseTo() needs a finite number, not ${value}`);
    return (await RAISE_TO.run(this.redis, this.k(key), encode(value), ttl(ttlMs))) === 1;
  }

  async expire(key: string, ttlMs: number): Promise<void> {
    await this.redis.pexpire(this.k(key), ttl(ttlMs));
  }

  async addToSet(key: string, member: string, ttlMs: number, maxMembers: number): Promise<boolean> {
    return (await ADD_MEMBER.run(this.redis, this.k(key), member, ttlMs, maxMembers)) === 1;
  }

  async removeFromSet(key: string, member: string): Promise<void> {
    await REMOVE_MEMBER.run(this.redis, this.k(key), member);
  }

  async remember(key: string, member: string, ttlMs: number, maxMembers: number): Promise<boolean> {
    return (await ADD_MEMBER.run(this.redis, this.k(key), digestText(member), ttlMs, maxMembers)) === 1;
  }

  async forget(key: string, member: string): Promise<void> {
    await REMOVE_MEMBER.run(this.redis, this.k(key), digestText(member));
  }

  async setMembers(key: string): Promise<string[]> {
    return (await SET_MEMBERS.run(this.redis, this.k(key))) as string[];
  }

  async hashSetIfCapacity<T>(
    key: string,
    field: string,
    value: T,
    maxFields: number,
  ): Promise<'added' | 'exists' | 'full'> {
    const r = await HASH_SET_IF_CAPACITY.run(
      this.redis,
      this.k(key),
      field,
      encode(value),
      maxFields,
      this.maxKeyTtlMs,
    );
    return r === 0 ? 'added' : r === 1 ? 'exists' : 'full';
  }

  async hashGet<T>(key: string, field: string): Promise<T | undefined> {
    return decode<T>(await this.redis.hget(this.k(key), field));
  }

  async hashGetAll<T>(key: string): Promise<Map<string, T>> {
    // `call` skips ioredis's reply transformer, which builds an object and so reorders
    // integer-like field names; the flat reply keeps Redis's order.
    const flat = (await this.redis.call('HGETALL', this.k(key))) as string[];
    const out = new Map<string, T>();
    for (let i = 0; i < flat.length; i += 2) out.set(flat[i], JSON.parse(flat[i + 1]) as T);
    return out;
  }

  async hashDelete(key: string, field: string): Promise<boolean> {
    return (await HASH_DELETE.run(this.redis, this.k(key), field, this.maxKeyTtlMs)) === 1;
  }

  async listPush<T>(key: string, value: T, maxLength: number, ttlMs: number): Promise<boolean> {
    return (await LIST_PUSH.run(this.redis, this.k(key), encode(value), maxLength, ttl(ttlMs))) === 1;
  }

  async admitSignal(step: SignalStep): Promise<SignalStepResult> {
    const { receiver, messageId, sequence, candidates, log, publish } = step;
    const args: (string | number)[] = [
      receiver.peerId,
      messageId ? digestText(messageId.id) : '',
      messageId ? ttl(messageId.ttlMs) : 0,
      messageId?.maxMembers ?? 0,
      sequence.value === undefined ? '' : encode(sequence.value),
      ttl(sequence.ttlMs),
      candidates?.members.length ?? 0,
      candidates ? ttl(candidates.ttlMs) : 0,
      candidates?.maxMembers ?? 0,
      log.maxEntries,
      ttl(log.entryTtlMs),
      ttl(log.sequenceTtlMs),
      log.head,
      log.tail,
      publish?.channel ?? '',
      publish?.head ?? '',
      publish?.tail ?? '',
      publish?.from ?? 0,
    ];
    candidates?.members.forEach((member, i) =>
      args.push(member === null ? '' : digestText(member), log.items?.[i] ?? ''),
    );
    // Keys the step does not use are passed as the bare prefix, which the script never touches.
    const keys = [
      receiver.roomKey,
      receiver.sessionKey,
      messageId?.key ?? '',
      sequence.key,
      candidates?.key ?? '',
      log.seqKey,
      log.listKey,
    ].map((key) => this.k(key));
    const reply = (await this.runAdmit(keys, args)) as string;
    switch (reply[0]) {
      case 'a': {
        const space = reply.indexOf(' ');
        const fresh: boolean[] = [];
        for (let i = space + 2; i < reply.length; i++) fresh.push(reply[i] === '1');
        return {
          verdict: 'accepted',
          seq: Number(reply.slice(1, space)),
          online: reply[space + 1] === '1',
          fresh,
        };
      }
      case 'n':
        return { verdict: 'not-member' };
      case 'f':
        return { verdict: 'buffer-full' };
      case 'd':
        return { verdict: 'duplicate' };
      default:
        return { verdict: 'stale', last: reply.length > 1 ? Number(reply.slice(1)) : undefined };
    }
  }

  /**
   * The script over the script connection when it is up, else through the client. A socket's
   * signals may be in flight together (SocketQueue) and rely on reaching Redis in the order they
   * were sent, so the path changes only while nothing is in flight on the other: the connection
   * fails every script it holds when it goes down; once it is back, new scripts wait (in order)
   * until the client's are answered, then all go over the connection. Without that wait a steady
   * load, which always has one script in flight, would keep the client path for good.
   */
  private runAdmit(keys: string[], args: (string | number)[]): Promise<unknown> {
    if (this.held.length > 0 || (this.scripts?.ready && this.viaClient > 0))
      return new Promise((resolve, reject) => this.held.push({ keys, args, resolve, reject }));
    return this.dispatch(keys, args);
  }

  private dispatch(keys: string[], args: (string | number)[]): Promise<unknown> {
    if (this.scripts?.ready) return this.scripts.run(keys, args);
    this.viaClient++;
    return ADMIT_SIGNAL.run(this.redis, keys, ...args).finally(() => {
      // The held ones are sent here, in order and before anything else can run, on whichever path
      // is up then. They wait no longer than the client's scripts take to be answered or time out.
      if (--this.viaClient === 0)
        for (const h of this.held.splice(0)) this.dispatch(h.keys, h.args).then(h.resolve, h.reject);
    });
  }

  async listLength(key: string): Promise<number> {
    return this.redis.llen(this.k(key));
  }

  async listDrain<T>(key: string): Promise<T[]> {
    // LPOP with a count is one atomic command: a push from another instance lands either in
    // what this returns or in a new list, never in neither.
    const items = await this.redis.lpop(this.k(key), Number.MAX_SAFE_INTEGER);
    return items ? items.map((item) => JSON.parse(item) as T) : [];
  }

  /**
   * Counts this prefix's keys with SCAN (Redis skips expired keys). It walks the whole database,
   * not just the prefix: O(keys in the database), one round trip per 1,000 keys scanned. For metrics
   * scrapes and tests, not for a hot path.
   */
  async size(): Promise<number> {
    const pattern = `${this.prefix.replace(/[*?[\]\\]/g, '\\$&')}*`;
    // SCAN may return a key twice while the table is rehashed.
    const seen = new Set<string>();
    let cursor = '0';
    do {
      const [next, keys] = await this.redis.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
      for (const key of keys) seen.add(key);
      cursor = next;
    } while (cursor !== '0');
    return seen.size;
  }

  /** Quits the client if the store created it (a client passed in stays open). Safe to call twice. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.scripts?.close();
    if (!this.ownsClient) return;
    try {
      await this.redis.quit();
    } catch {
      this.redis.disconnect();
    }
  }

  private k(key: string): string {
    return this.prefix + key;
  }
}

/** A Lua script run by EVALSHA, loaded with EVAL when the server does not have it yet (NOSCRIPT). */
class Script {
  readonly sha: string;

  constructor(readonly lua: string) {
    this.sha = createHash('sha1').update(lua).digest('hex');
  }

  /** `keys`: one key, or all of them (a script over several needs them on one Redis, not a Cluster). */
  async run(redis: Redis, keys: string | string[], ...args: (string | number)[]): Promise<unknown> {
    const all = typeof keys === 'string' ? [keys] : keys;
    try {
      return await redis.evalsha(this.sha, all.length, ...all, ...args);
    } catch (err) {
      if (!(err instanceof Error) || !err.message.startsWith('NOSCRIPT')) throw err;
      return redis.eval(this.lua, all.length, ...all, ...args);
    }
  }
}

// Redis's clock in microseconds. Scripts call TIME rather than take the time from the caller, so
// every instance judges expiry by the same clock as PEXPIRE does. (Redis 5+ replicates a script's
// effects, not the script, so a script may write after calling TIME.)
const NOW = `local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
`;

// Makes the key expire with its latest-expiring member.
const EXPIRE_WITH_LAST_MEMBER = `local last = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
if last[2] then redis.call('PEXPIREAT', KEYS[1], math.ceil(tonumber(last[2]) / 1000)) end
`;

/** KEYS[1]; ARGV: JSON number, ttl ms. Returns 1 when it raised the value. */
const COMPARE_AND_SET = new Script(`if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
return 1`);

const RAISE_TO = new Script(`local cur = tonumber(redis.call('GET', KEYS[1]) or '')
if cur and cur >= tonumber(ARGV[1]) then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 0
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1`);

/**
 * KEYS[1]: sorted set of member → expiry (µs); ARGV: member, ttl ms, max members.
 * Returns 1 when the member was not held unexpired.
 */
const ADD_MEMBER = new Script(`${NOW}local old = redis.call('ZSCORE', KEYS[1], ARGV[1])
local fresh = not old or tonumber(old) <= now
local max = tonumber(ARGV[3])
if fresh then
  -- Make room before adding, so the set never holds more than max (past
  -- zset-max-listpack-entries, Redis would convert it for good to the larger encoding).
  redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
  local excess = redis.call('ZCARD', KEYS[1]) - max + 1
  if excess > 0 then redis.call('ZPOPMIN', KEYS[1], excess) end
end
if max >= 1 or not fresh then redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]) * 1000, ARGV[1]) end
${EXPIRE_WITH_LAST_MEMBER}if fresh then return 1 end
return 0`);

/** KEYS[1]; ARGV: member. */
const REMOVE_MEMBER = new Script(`if redis.call('ZREM', KEYS[1], ARGV[1]) == 1 then
${EXPIRE_WITH_LAST_MEMBER}end
return 0`);

/** KEYS[1]. The unexpired members, earliest-expiring first. */
const SET_MEMBERS = new Script(
  `${NOW}return redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. string.format('%.17g', now), '+inf')`,
);

/**
 * KEYS[1]; ARGV: field, JSON value, max fields, safety ttl ms. Returns 0 added, 1 exists, 2 full.
 * A write lifts the hash's remaining lifetime to at least the safety TTL.
 */
const HASH_SET_IF_CAPACITY = new Script(`local result = 0
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 1 then
  result = 1
elseif redis.call('HLEN', KEYS[1]) >= tonumber(ARGV[3]) then
  return 2
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
if redis.call('PTTL', KEYS[1]) < tonumber(ARGV[4]) then redis.call('PEXPIRE', KEYS[1], ARGV[4]) end
return result`);

/** KEYS[1]; ARGV: field, safety ttl ms. Returns 1 when the field was there. */
const HASH_DELETE = new Script(`if redis.call('HDEL', KEYS[1], ARGV[1]) == 0 then return 0 end
local left = redis.call('PTTL', KEYS[1])
if left ~= -2 and left < tonumber(ARGV[2]) then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 1`);

/** KEYS[1]; ARGV: JSON value, max length, ttl ms. Returns 1 when pushed; refreshes the TTL either way. */
const LIST_PUSH = new Script(`local pushed = 0
if redis.call('LLEN', KEYS[1]) < tonumber(ARGV[2]) then
  redis.call('RPUSH', KEYS[1], ARGV[1])
  pushed = 1
end
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return pushed`);

/**
 * StateStore.admitSignal (its JSDoc has the order of the checks). Answers one string: `a<seq>
 * <online 0|1><fresh '1'/'0' per candidate>` accepted, `n` not a member, `f` buffer full, `d`
 * duplicate, `s<last sequence>` stale (a bulk string costs the instance a third of what decoding an
 * array did).
 * KEYS: room hash, receiver's session, message ids, sequence, seen candidates, log seq, log list.
 * ARGV: 1 receiver, 2 message id digest ('' none), 3 its ttl ms, 4 ids kept, 5 sequence ('' none),
 * 6 its ttl ms, 7 candidate count, 8 their ttl ms, 9 candidates kept, 10 log entries kept, 11 log
 * ttl ms, 12 log seq ttl ms, 13 entry head, 14 entry tail, 15 channel to publish on ('' none),
 * 16 message head, 17 message tail, 18 index of the payload in the entry (0-based; see
 * `publishedMessage`), then per candidate its digest ('' for end-of-candidates, always fresh) and
 * its entry item ('' when the entry lists none).
 *
 * Remembering is ADD_MEMBER's, in fewer commands (every command a script runs costs Redis about
 * as much as the script's own start; this one ran 23 for a candidate and runs 17): expired members
 * are purged only when the set is at its cap, which is the only time they could push out a live
 * one; and the key's expiry is raised to the new member's (`PEXPIREAT … GT`; plain for a new key,
 * which has none) instead of read back from the latest-expiring member, which is the new one
 * whenever a key's members share one TTL, as each of these keys' do. A batch's candidates get
 * scores a microsecond apart, so the cap drops them in the order they came.
 */
const ADMIT_SIGNAL = new Script(`${NOW}if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 0 then return 'n' end
local online = 0
local session = redis.call('GET', KEYS[2])
if session then
  session = cjson.decode(session)
  if type(session.socketId) == 'string' then
    online = 1
  elseif type(session.droppedSeq) == 'number' then
    if tonumber(redis.call('GET', KEYS[6]) or '0') - session.droppedSeq >= tonumber(ARGV[10]) then return 'f' end
  end
end
-- old: the member's score before (ZSCORE), false when it had none.
local function remember(key, member, old, score, max)
  local fresh = not old or tonumber(old) <= now
  local count = redis.call('ZCARD', key)
  if fresh and count >= max then
    redis.call('ZREMRANGEBYSCORE', key, '-inf', now)
    local excess = redis.call('ZCARD', key) - max + 1
    if excess > 0 then redis.call('ZPOPMIN', key, excess) end
  end
  if max >= 1 or not fresh then
    redis.call('ZADD', key, score, member)
    local at = math.ceil(score / 1000)
    if count == 0 then redis.call('PEXPIREAT', key, at) else redis.call('PEXPIREAT', key, at, 'GT') end
  end
  return fresh
end
local id = ARGV[2]
local idScore = false
if id ~= '' then
  idScore = redis.call('ZSCORE', KEYS[3], id)
  if idScore and tonumber(idScore) > now then
    remember(KEYS[3], id, idScore, now + tonumber(ARGV[3]) * 1000, tonumber(ARGV[4]))
    return 'd'
  end
end
if ARGV[5] == '' then
  redis.call('PEXPIRE', KEYS[4], ARGV[6])
else
  local last = redis.call('GET', KEYS[4])
  local cur = tonumber(last or '')
  if cur and cur >= tonumber(ARGV[5]) then
    redis.call('PEXPIRE', KEYS[4], ARGV[6])
    return 's' .. last
  end
  redis.call('SET', KEYS[4], ARGV[5], 'PX', ARGV[6])
end
if id ~= '' then remember(KEYS[3], id, idScore, now + tonumber(ARGV[3]) * 1000, tonumber(ARGV[4])) end
local n = tonumber(ARGV[7])
local entry = ARGV[13]
local fresh = ''
if n > 0 then
  local score = now + tonumber(ARGV[8]) * 1000
  local max = tonumber(ARGV[9])
  local any = false
  for i = 0, n - 1 do
    local member = ARGV[19 + 2 * i]
    if member == '' or remember(KEYS[5], member, redis.call('ZSCORE', KEYS[5], member), score + i, max) then
      fresh = fresh .. '1'
      local item = ARGV[20 + 2 * i]
      if item ~= '' then
        if any then entry = entry .. ',' end
        entry = entry .. item
      end
      any = true
    else
      fresh = fresh .. '0'
    end
  end
  if not any then return 'd' end
end
entry = entry .. ARGV[14]
local seq = redis.call('INCR', KEYS[6])
redis.call('PEXPIRE', KEYS[6], ARGV[12])
local kept = tonumber(ARGV[10])
if redis.call('RPUSH', KEYS[7], seq .. ' ' .. entry) > kept then redis.call('LTRIM', KEYS[7], -kept, -1) end
redis.call('PEXPIRE', KEYS[7], ARGV[11])
if ARGV[15] ~= '' then
  local body = string.sub(entry, tonumber(ARGV[18]) + 1, -3)
  local sep = ','
  if string.sub(body, -1) == '{' then sep = '' end
  redis.call('SPUBLISH', ARGV[15], ARGV[16] .. body .. sep .. '"seq":' .. seq .. '}' .. ARGV[17])
end
return 'a' .. seq .. ' ' .. online .. fresh`);

/** Whole milliseconds, at least 1 (PX and PEXPIRE refuse 0). */
function ttl(ms: number): number {
  return Math.max(1, Math.ceil(ms));
}

function encode(value: unknown): string {
  const text = JSON.stringify(value) as string | undefined;
  if (text === undefined) throw new TypeError('RedisStateStore: values must be JSON data, not undefined');
  return text;
}

function decode<T>(text: string | null): T | undefined {
  return text === null ? undefined : (JSON.parse(text) as T);
}
