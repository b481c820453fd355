// Issue 11, test 6: real browsers through the load balancer. Two server processes on Redis behind a
// real haproxy (deploy/haproxy.cfg); two Chromium pages on the demo, served and signaled through
// haproxy, their sockets on different instances. One page's instance dies with SIGKILL: the media
// path never touched it, so video keeps flowing, and the page resumes on the survivor.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Browser } from 'playwright-core';
import {
  allConnected,
  closeAll,
  framesDecoded,
  launchBrowser,
  openPeer,
  recordEvents,
  selfId,
  waitForCall,
  type Peer,
} from './support/browser.js';
import { assertVideoFlowing } from './support/participant.js';
import {
  socketsPerInstance,
  stackDiagnose,
  startClusterStack,
  type ClusterStack,
} from './support/cluster.js';
import { sleep, waitFor } from './support/wait.js';

/** Short, so that the survivor's clean-up of a dead instance's peers falls inside the test. */
const RESUME_WINDOW_MS = 6000;
/**
 * Past the moment the survivor takes the killed instance for dead (silent for 5 s, then its next
 * 1 s poll) and past a resume window counted from the instance's last heartbeat: a page that has
 * resumed must still be in the room then (as in the server's failover-sigkill test).
 */
const PAST_DEAD_INSTANCE_CLEANUP_MS = RESUME_WINDOW_MS + 2000;
/** Gap between two samples of framesDecoded that must show a rise. */
const SAMPLE_MS = 500;

/**
 * Opens the demo through haproxy and waits until the page's client has joined; resolves with the
 * page and the index of the instance its socket landed on (the one whose socket count rose).
 */
async function openCounted(
  browser: Browser,
  stack: ClusterStack,
  room: string,
  name: string,
): Promise<{ peer: Peer; on: number }> {
  const before = await socketsPerInstance(stack.instances);
  const peer = await openPeer(browser, stack.lb.url, { room, name });
  await waitFor(`${name} joined`, () => selfId(peer), { diagnose: () => peer.recentLogs() });
  let now = before;
  await waitFor(
    `${name}'s socket on some instance`,
    async () => {
      now = await socketsPerInstance(stack.instances);
      return now.some((n, i) => n > before[i]!);
    },
    { timeoutMs: 5000 },
  );
  return { peer, on: now.findIndex((n, i) => n > before[i]!) };
}

/**
 * Alice, then Bob: haproxy (`balance leastconn`, deploy/haproxy.cfg) sends Bob's WebSocket to the
 * instance without Alice's. Under `roundrobin`, which counts the page loads' HTTP requests too, his
 * socket landed next to hers 6 times in 6.
 */
async function openSplitPair(browser: Browser, stack: ClusterStack, room: string) {
  const alice = await openCounted(browser, stack, room, 'alice');
  const bob = await openCounted(browser, stack, room, 'bob');
  assert.notEqual(bob.on, alice.on, "bob's socket landed on alice's instance");
  return { alice, bob };
}

/** The local ICE username fragment of the link to `remoteId`: a completed ICE restart changes it. */
function localUfrag(peer: Peer, remoteId: string): Promise<string | null> {
  return peer.evaluate(async (id) => {
    const report = await window.switchboard!.getStats(id);
    let ufrag: string | null = null;
    report.forEach((s: { type: string; iceLocalUsernameFragment?: string }) => {
      if (s.type === 'transport' && s.iceLocalUsernameFragment) ufrag = s.iceLocalUsernameFragment;
    });
    return ufrag;
  }, remoteId);
}

function diagnostics(peer: Peer, remoteId: string): Promise<Record<string, number | boolean>> {
  return peer.evaluate((id) => window.switchboard!.getPeer(id)!.diagnostics, remoteId);
}

function signalingState(peer: Peer, remoteId: string): Promise<string | undefined> {
  return peer.evaluate((id) => window.switchboard!.getPeer(id)?.signalingState, remoteId);
}

test(
  "two Chromium pages on different instances behind haproxy keep decoding each other's video when one page's instance is SIGKILLed; that page resumes on the survivor with the same peer id, the other sees no peerLeft, and an ICE restart afterwards completes",
  { timeout: 150_000 },
  async () => {
    const stack = await startClusterStack(2, { RESUME_WINDOW_MS: String(RESUME_WINDOW_MS) });
    const browser = await launchBrowser();
    let a: Peer | undefined;
    let b: Peer | undefined;
    const diagnose = stackDiagnose(stack, () => [a, b]);
    try {
      const room = `cluster-${Date.now()}`;
      const split = await openSplitPair(browser, stack, room);
      a = split.alice.peer;
      b = split.bob.peer;
      const [alice, bob] = [a, b];
      const victim = stack.instances[split.alice.on]!;
      const survivor = stack.instances[split.bob.on]!;
      assert.notEqual(split.alice.on, split.bob.on);
      assert.deepEqual(
        await socketsPerInstance([victim, survivor]),
        [1, 1],
        "alice's socket on one instance, bob's on the other",
      );

      const { aId: aliceId, bId: bobId } = await waitForCall(alice, bob, { timeoutMs: 30_000, diagnose });
      await assertVideoFlowing(alice, bobId, diagnose);
      await assertVideoFlowing(bob, aliceId, diagnose);
      const aliceEvents = await recordEvents(alice, ['reconnecting', 'reconnected', 'peerLeft', 'error']);
      const bobEvents = await recordEvents(bob, ['peerLeft', 'peerJoined', 'reconnecting', 'error']);

      // Frames decoded on both pages, sampled from just before the kill until well after it, at
      // least SAMPLE_MS apart: a shorter gap may hold no new frame (~20 frames/s here).
      const samples: { at: number; alice: number; bob: number }[] = [];
      const sample = async () => {
        if (Date.now() - (samples.at(-1)?.at ?? 0) < SAMPLE_MS) return;
        samples.push({
          at: Date.now(),
          alice: await framesDecoded(alice, bobId),
          bob: await framesDecoded(bob, aliceId),
        });
      };
      await sample();
      const killedAt = Date.now();
      victim.child.kill('SIGKILL');
      await victim.stop(); // resolves once the process is gone

      const reconnected = await waitFor(
        'alice reconnected',
        async () => {
          await sample();
          return aliceEvents.find((e) => e.event === 'reconnected');
        },
        { timeoutMs: 20_000, intervalMs: 50, diagnose },
      );
      console.log(
        `alice reconnected ${reconnected.at - killedAt} ms after the kill (resumed: ${String(reconnected.payload.resumed)}, via ${String(reconnected.payload.via)})`,
      );
      assert.equal(reconnected.payload.resumed, true);
      assert.equal(reconnected.payload.peerId, aliceId);
      assert.equal(await selfId(alice), aliceId);
      assert.ok(
        aliceEvents.some((e) => e.event === 'reconnecting'),
        'alice noticed the loss',
      );
      // Through haproxy, onto the only instance left.
      assert.deepEqual(await socketsPerInstance([survivor]), [2], 'both sockets on the survivor');

      // Keep watching until the survivor has found the instance dead and dealt with its peers.
      while (Date.now() < killedAt + PAST_DEAD_INSTANCE_CLEANUP_MS) {
        await sleep(50);
        await sample();
      }
      const stalls = (key: 'alice' | 'bob') =>
        samples
          .slice(1)
          .filter((s, i) => s[key] <= samples[i]![key])
          .map((s) => `+${s.at - killedAt} ms`);
      console.log(
        `frames decoded in ${samples.at(-1)!.at - killedAt} ms after the kill: alice +${samples.at(-1)!.alice - samples[0]!.alice}, bob +${samples.at(-1)!.bob - samples[0]!.bob} (${samples.length} samples)`,
      );
      assert.deepEqual(stalls('alice'), [], 'alice: samples at which framesDecoded from bob did not rise');
      assert.deepEqual(stalls('bob'), [], 'bob: samples at which framesDecoded from alice did not rise');
      // haproxy took the dead instance out of rotation long before now (about 1.25 s after the kill).
      await stack.lb.waitUntilDown(victim.url);
      assert.ok(await allConnected(alice, 1), "alice's link stayed connected");
      assert.ok(await allConnected(bob, 1), "bob's link stayed connected");
      assert.deepEqual(
        bobEvents.map((e) => `${e.event} ${JSON.stringify(e.payload)}`),
        [],
        'bob saw no peerLeft (nor anything else)',
      );
      assert.deepEqual(
        aliceEvents.filter((e) => e.event === 'peerLeft' || e.event === 'error'),
        [],
      );
      assert.equal(aliceEvents.filter((e) => e.event === 'reconnected').length, 1);

      // A renegotiation after the resume: Alice restarts ICE, her offer and Bob's answer now both
      // pass through the survivor.
      const before = {
        ufrag: await localUfrag(alice, bobId),
        offers: Number((await diagnostics(alice, bobId)).offersSent),
        answers: Number((await diagnostics(bob, aliceId)).answersSent),
        frames: { alice: await framesDecoded(alice, bobId), bob: await framesDecoded(bob, aliceId) },
      };
      assert.ok(before.ufrag, 'a transport stat with the local ICE ufrag');
      const restartAt = Date.now();
      await alice.evaluate((id) => window.switchboard!.restartIce(id), bobId);
      await waitFor(
        'the ICE restart to complete',
        async () =>
          Number((await diagnostics(bob, aliceId)).answersSent) > before.answers &&
          (await signalingState(alice, bobId)) === 'stable' &&
          (await signalingState(bob, aliceId)) === 'stable' &&
          (await localUfrag(alice, bobId)) !== before.ufrag &&
          (await allConnected(alice, 1)) &&
          (await allConnected(bob, 1)),
        { timeoutMs: 20_000, diagnose },
      );
      console.log(`ICE restart after the failover completed in ${Date.now() - restartAt} ms`);
      assert.ok(Number((await diagnostics(alice, bobId)).offersSent) > before.offers);
      await waitFor(
        'video decoded both ways after the restart',
        async () =>
          (await framesDecoded(alice, bobId)) > before.frames.alice + 10 &&
          (await framesDecoded(bob, aliceId)) > before.frames.bob + 10,
        { timeoutMs: 15_000, diagnose },
      );
      assert.deepEqual(
        [...aliceEvents, ...bobEvents].filter((e) => e.event === 'peerLeft' || e.event === 'error'),
        [],
      );
      assert.deepEqual(await socketsPerInstance([survivor]), [2]);
    } finally {
      await closeAll(a, b, browser);
      await stack.close();
    }
  },
);
