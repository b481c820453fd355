import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it, type TestContext } from 'node:test';
import type { PeerLeftEvent, SdpSignalMessage } from '@switchboard/protocol';
import {
  closeAll,
  connect,
  deleteRedisKeys,
  join as joinRoom,
  metric,
  record,
  REDIS_TEST_URL,
  request,
  SDP,
  sleep,
  until,
  type Client,
  type ConnectedClient,
} from '../support/harness';
import { startLoadBalancer, type LoadBalancer } from '../support/load-balancer';
import { spawnServer, type ServerProcess } from '../support/process';

// Issue 11, tests item 4: an instance dies with SIGKILL (no drain, no goodbye) while a peer on it is
// being sent signals from a peer on another instance. Real server processes sharing the test Redis,
// behind a real haproxy loaded with deploy/haproxy.cfg; the clients know only the load balancer's
// address and drive their own reconnection, as the SDK does.

interface Stack {
  instances: ServerProcess[];
  lb: LoadBalancer;
}

/**
 * Two server processes on one fresh Redis key prefix, behind haproxy, both in rotation. Every
 * process, haproxy and the prefix's keys are gone after the test, whatever its outcome.
 */
async function startStack(t: TestContext, env: Record<string, string>): Promise<Stack> {
  const prefix = `sbtest:${randomBytes(6).toString('hex')}:`;
  const instances: ServerProcess[] = [];
  const running: { lb?: LoadBalancer } = {};
  t.after(async () => {
    await running.lb?.close();
    for (const instance of instances) instance.child.kill('SIGKILL');
    await Promise.all(instances.map((i) => i.exited));
    await deleteRedisKeys(prefix);
  });
  const started = await Promise.allSettled(
    [0, 1].map(() =>
      spawnServer({
        REDIS_URL: REDIS_TEST_URL,
        REDIS_KEY_PREFIX: prefix,
        // As docs/operations.md asks behind one proxy (deploy/haproxy.cfg adds X-Forwarded-For).
        TRUST_PROXY: '1',
        LOG_LEVEL: 'warn',
        DEMO_ENABLED: 'false',
        ...env,
      }),
    ),
  );
  for (const s of started) if (s.status === 'fulfilled') instances.push(s.value);
  const failed = started.find((s) => s.status === 'rejected');
  if (failed) throw failed.reason;
  const lb = (running.lb = await startLoadBalancer(instances.map((i) => i.url)));
  for (const instance of instances) await lb.waitUntilUp(instance.url);
  return { instances, lb };
}

/** `switchboard_connected_sockets` of each instance, in order. */
async function socketsPerInstance(instances: ServerProcess[]): Promise<number[]> {
  return Promise.all(instances.map((i) => metric(i, 'switchboard_connected_sockets')));
}

/** Connects through the load balancer; resolves with the client and the index of its instance. */
async function connectCounted(
  t: TestContext,
  { instances, lb }: Stack,
): Promise<{ client: ConnectedClient; on: number }> {
  const before = await socketsPerInstance(instances);
  const client = await connect(lb.url);
  t.after(() => closeAll(client));
  let now = before;
  await until(
    async () => {
      now = await socketsPerInstance(instances);
      return now.some((n, i) => n > before[i]!);
    },
    3000,
    'the new connection on some instance',
  );
  return { client, on: now.findIndex((n, i) => n > before[i]!) };
}

/**
 * A receiver and a sender connected through the load balancer to different instances (round robin
 * does that; a sender that lands with the receiver anyway connects again), both in `roomId`.
 */
async function splitPair(t: TestContext, stack: Stack, roomId: string) {
  const { client: receiver, on: receiverOn } = await connectCounted(t, stack);
  for (let attempt = 1; ; attempt++) {
    const { client: sender, on: senderOn } = await connectCounted(t, stack);
    if (senderOn !== receiverOn) {
      const { resumeToken } = await joinRoom(receiver, roomId);
      await joinRoom(sender, roomId);
      return { receiver, sender, receiverOn, senderOn, resumeToken };
    }
    assert.ok(attempt < 5, 'the load balancer keeps sending new connections to the same instance');
    const crowded = await socketsPerInstance(stack.instances);
    closeAll(sender);
    await until(
      async () => (await socketsPerInstance(stack.instances))[senderOn]! < crowded[senderOn]!,
      3000,
      'the extra sender to be gone',
    );
  }
}

/**
 * What a receiver does with `seq`, as the SDK's InboundSequencer: keeps one message per seq, counts
 * the repeats it drops and how far behind the highest seq seen an early-missing one came in.
 */
class Inbox {
  readonly bySeq = new Map<number, SdpSignalMessage>();
  /** Messages received, repeats included. */
  arrivals = 0;
  repeats = 0;
  /** A repeated seq that carried another message (never expected). */
  readonly conflicts: string[] = [];
  /** Largest `highest seq seen - seq` of a message arriving after a later one. */
  maxOutOfOrder = 0;
  private highest = 0;
  private contiguous = 0;

  /** The highest seq up to which every message has arrived: what a resume presents as `lastSeq`. */
  get lastSeq(): number {
    return this.contiguous;
  }

  readonly accept = (m: SdpSignalMessage): void => {
    this.arrivals++;
    const seq = m.seq;
    if (seq === undefined || !Number.isSafeInteger(seq) || seq < 1) {
      this.conflicts.push(`no valid seq on message ${m.messageId}: ${seq}`);
      return;
    }
    const had = this.bySeq.get(seq);
    if (had) {
      this.repeats++;
      if (had.messageId !== m.messageId)
        this.conflicts.push(`seq ${seq}: ${had.messageId} and ${m.messageId}`);
      return;
    }
    this.bySeq.set(seq, m);
    this.maxOutOfOrder = Math.max(this.maxOutOfOrder, this.highest - seq);
    this.highest = Math.max(this.highest, seq);
    while (this.bySeq.has(this.contiguous + 1)) this.contiguous++;
  };

  /** The messages in seq order, repeats dropped. */
  ordered(): SdpSignalMessage[] {
    return [...this.bySeq.entries()].sort(([a], [b]) => a - b).map(([, m]) => m);
  }
}

/** One offer the sender streamed and how it was answered. */
interface Sent {
  n: number;
  /** When it was sent, and how long its ack took, ms. */
  at: number;
  ackMs: number;
  ok: boolean;
  queued: boolean;
  error?: string;
}

/**
 * Streams offers numbered 1, 2, 3 … (`sequence: n`, `messageId: m<n>`) from `sender` to `to`, each
 * awaiting its ack, one every ~6 ms, until `stop()`; resolves with what was sent.
 */
async function stream(sender: Client, roomId: string, to: string, stop: () => boolean): Promise<Sent[]> {
  const sent: Sent[] = [];
  for (let n = 1; !stop(); n++) {
    const at = Date.now();
    try {
      const ack = await request(sender, 'offer', { roomId, to, sdp: SDP, sequence: n, messageId: `m${n}` });
      const ackMs = Date.now() - at;
      sent.push(
        ack.ok
          ? { n, at, ackMs, ok: true, queued: 'queued' in ack && ack.queued === true }
          : { n, at, ackMs, ok: false, queued: false, error: ack.error.code },
      );
    } catch (err) {
      sent.push({ n, at, ackMs: Date.now() - at, ok: false, queued: false, error: String(err) });
    }
    await sleep(6);
  }
  return sent;
}

/** Connects through the load balancer, again until a handshake succeeds or `ms` pass. */
async function reconnect(
  url: string,
  opts: Parameters<typeof connect>[1],
  ms = 5000,
): Promise<ConnectedClient> {
  const end = Date.now() + ms;
  for (;;) {
    try {
      return await connect(url, opts);
    } catch (err) {
      if (Date.now() > end) throw err;
      await sleep(50);
    }
  }
}

/** Resume window of the tests whose receiver comes back. */
const RESUME_WINDOW_MS = 6000;
/**
 * Past the moment the survivor takes the killed instance for dead (silent for 5 s, docs/operations.md,
 * then its next 1 s poll) and past the end of a resume window counted from the instance's last
 * heartbeat: a receiver that has resumed must be left alone by both.
 */
const PAST_DEAD_INSTANCE_CLEANUP_MS = RESUME_WINDOW_MS + 2000;

/**
 * Variant A of issue 11's failover test: the receiver's instance is SIGKILLed while the sender, on
 * the other instance, streams offers to it; the receiver resumes through the load balancer
 * `reconnectWhen` and must end up with every offer exactly once, in order, and stay in the room.
 * The sender streams on for at least 1.5 s after the resume and `streamAfterKillMs` after the kill.
 */
async function killWhileStreaming(
  t: TestContext,
  reconnectWhen: 'at once' | 'once out of rotation',
  streamAfterKillMs = 0,
) {
  const stack = await startStack(t, { RESUME_WINDOW_MS: String(RESUME_WINDOW_MS) });
  const { instances, lb } = stack;
  const roomId = 'failover-a';
  const { receiver, sender, receiverOn, senderOn, resumeToken } = await splitPair(t, stack, roomId);
  const victim = instances[receiverOn]!;
  const survivor = instances[senderOn]!;

  const inbox = new Inbox();
  receiver.on('offer', inbox.accept);
  const left: (PeerLeftEvent & { at: number })[] = [];
  sender.on('peerLeft', (e) => left.push({ ...e, at: Date.now() }));

  // The receiver reconnects as soon as it notices its connection is gone (or once haproxy has taken
  // the dead instance out of rotation), presenting what it has.
  let killedAt = 0;
  let resumedAt = 0;
  let lastSeqAtDrop = -1;
  let victimStatus = '';
  const comeBack = new Promise<string>((r) => receiver.once('disconnect', r)).then(async (reason) => {
    if (killedAt === 0) throw new Error(`the receiver was disconnected before the kill (${reason})`);
    lastSeqAtDrop = inbox.lastSeq;
    if (reconnectWhen === 'once out of rotation') await lb.waitUntilDown(victim.url);
    victimStatus = (await lb.stats())[receiverOn]?.status ?? '?';
    const back = await reconnect(lb.url, {
      auth: { resumeToken, lastSeq: lastSeqAtDrop },
      setup: (c) => {
        t.after(() => closeAll(c));
        c.on('offer', inbox.accept);
        c.once('resumed', () => (resumedAt = Date.now()));
      },
    });
    return { reason, back, resumed: (await back.resumeOutcome).resumed };
  });
  comeBack.catch(() => undefined); // awaited below

  let stopping = false;
  const streaming = stream(sender, roomId, receiver.peerId, () => stopping);
  streaming.catch(() => undefined); // awaited below
  try {
    // Kill while signals flow: some are on their way to the victim, some in its socket buffers.
    await until(() => inbox.bySeq.size >= 40, 5000, '40 offers before the kill');
    killedAt = Date.now();
    victim.child.kill('SIGKILL');
    await victim.exited;

    const { reason, back, resumed } = await comeBack;
    assert.equal(reason, 'transport close');
    assert.ok(resumed, 'the resume token is honoured on the survivor');
    assert.equal(resumed.peerId, receiver.peerId);
    assert.deepEqual(
      resumed.rooms.map((r) => [r.roomId, r.peers.map((p) => p.peerId)]),
      [[roomId, [sender.peerId]]],
    );
    assert.equal(back.connected, true);
    assert.equal(await metric(survivor, 'switchboard_connected_sockets'), 2, 'both on the survivor');

    // The sender's instance never went away: it keeps streaming to the resumed receiver.
    await sleep(Math.max(1500, killedAt + streamAfterKillMs - Date.now()));
  } finally {
    stopping = true;
  }
  const sent = await streaming;

  const acked = sent.filter((s) => s.ok);
  const ackedSet = new Set(acked.map((s) => s.n));
  const sentSet = new Set(sent.map((s) => s.n));
  const has = () => new Set(inbox.ordered().map((m) => m.sequence));
  // Quiet: everything acknowledged is in, and nothing more comes for a while.
  await until(() => [...ackedSet].every((n) => has().has(n)), 5000, 'every acknowledged offer').catch(
    () => undefined, // the assertions below say which are missing
  );
  let arrivals = -1;
  while (arrivals !== inbox.arrivals) {
    arrivals = inbox.arrivals;
    await sleep(500);
  }

  const ordered = inbox.ordered();
  const ns = ordered.map((m) => m.sequence!);
  const duringOutage = sent.filter((s) => s.at >= killedAt && s.at < resumedAt);
  const refused = sent.filter((s) => !s.ok);
  const refusals = [...new Set(refused.map((s) => s.error))];
  const queuedAfterResume = sent.filter((s) => s.queued && s.at >= resumedAt);
  const since = (at: number | undefined) => (at === undefined ? '-' : `+${at - killedAt} ms`);
  const ackMs = sent.map((s) => s.ackMs).sort((a, b) => a - b);
  console.log(
    [
      `receiver on sb${receiverOn + 1} (killed), sender on sb${senderOn + 1}`,
      `sent ${sent.length}, acked ok ${acked.length}, queued ${acked.filter((s) => s.queued).length}, ` +
        `refused ${sent.length - acked.length}${refusals.length ? ` (${refusals.join(', ')})` : ''}; ` +
        `ack p50 ${ackMs[ackMs.length >> 1]} ms, max ${ackMs.at(-1)} ms`,
      `received ${inbox.arrivals} (${ordered.length} distinct seqs), repeats dropped ${inbox.repeats}, ` +
        `max out-of-order ${inbox.maxOutOfOrder}`,
      `kill → resumed ${resumedAt - killedAt} ms (reconnecting ${reconnectWhen}: the killed instance ${victimStatus} in haproxy), lastSeq ${lastSeqAtDrop}; ` +
        `${duringOutage.length} offers sent meanwhile` +
        (duringOutage.length <= 10
          ? ` (n@ms after the kill/ack ms): ${duringOutage.map((s) => `${s.n}@${s.at - killedAt}/${s.ackMs}`).join(' ')}`
          : `, acks up to ${Math.max(...duringOutage.map((s) => s.ackMs))} ms`),
      `since the kill: first queued ack after the resume ${since(queuedAfterResume[0]?.at)}, first refusal ` +
        `${since(refused[0]?.at)}, peerLeft ${since(left[0]?.at)}; stream ended ${since(sent.at(-1)?.at)}`,
    ].join('\n  '),
  );

  assert.deepEqual(inbox.conflicts, [], 'one message per seq');
  assert.deepEqual(
    ordered.map((m) => m.seq),
    ordered.map((_, i) => i + 1),
    'seqs 1, 2, 3 … with no gap',
  );
  assert.deepEqual(
    ns.filter((n) => !sentSet.has(n)),
    [],
    'nothing arrives that was not sent',
  );
  assert.deepEqual(
    ns.filter((n, i) => i > 0 && n <= ns[i - 1]!),
    [],
    'in increasing order of n, each once',
  );
  assert.deepEqual(
    [...ackedSet].filter((n) => !ns.includes(n)),
    [],
    'every offer acknowledged ok arrives',
  );
  // The receiver is back and stays in the room: nothing is held for it, refused, or announced.
  assert.deepEqual(
    left.map(({ at, ...e }) => ({ ...e, msAfterKill: at - killedAt })),
    [],
    'the sender sees no peerLeft',
  );
  assert.deepEqual(
    queuedAfterResume.map((s) => s.n),
    [],
    'no offer is acknowledged queued once the receiver has resumed',
  );
  assert.deepEqual(
    refused.map((s) => `${s.n}: ${s.error}`),
    [],
    'every offer is accepted',
  );
  // The run exercised what it is about: signals the dead instance never passed on, and a live
  // stream after the resume.
  assert.ok(duringOutage.length > 0, 'offers were sent between the kill and the resume');
  assert.ok(ns.at(-1)! > duringOutage.at(-1)!.n, 'offers streamed on after the resume');
}

describe('an instance killed with SIGKILL behind haproxy', () => {
  it('a receiver whose instance is killed while signals flow resumes at once through the load balancer, gets every signal exactly once, in order, and stays in the room (no peerLeft, nothing queued or refused) after the survivor has found the instance dead', (t) =>
    killWhileStreaming(t, 'at once', PAST_DEAD_INSTANCE_CLEANUP_MS));

  it('a receiver that resumes only once haproxy has taken its dead instance out of rotation gets every signal exactly once, in order, and stays in the room', (t) =>
    killWhileStreaming(t, 'once out of rotation'));

  it('a peer whose instance was killed and who never returns leaves with peerLeft timeout', async (t) => {
    const resumeWindowMs = 3000;
    const marginMs = 5000;
    const stack = await startStack(t, { RESUME_WINDOW_MS: String(resumeWindowMs) });
    const roomId = 'failover-b';
    const { receiver, sender, receiverOn } = await splitPair(t, stack, roomId);
    const victim = stack.instances[receiverOn]!;
    const left: PeerLeftEvent[] = record(sender, 'peerLeft');
    const dropped = new Promise<string>((r) => receiver.once('disconnect', r));

    const killedAt = Date.now();
    victim.child.kill('SIGKILL');
    await victim.exited;
    assert.equal(await dropped, 'transport close');
    // The receiver stays away. Only the surviving instance is left to notice its resume window pass.
    await until(() => left.length > 0, resumeWindowMs + marginMs, 'peerLeft at the sender').catch(() => {
      throw new Error(
        `no peerLeft at the sender within RESUME_WINDOW_MS (${resumeWindowMs} ms) + ${marginMs} ms of ` +
          'the SIGKILL: no surviving instance expires the peers of a dead one',
      );
    });
    const ms = Date.now() - killedAt;
    console.log(`kill → peerLeft ${ms} ms (RESUME_WINDOW_MS ${resumeWindowMs})`);
    assert.deepEqual(left, [{ roomId, peerId: receiver.peerId, reason: 'timeout' }]);
  });
});
