// Minimal reproduction, without the SDK or signaling server logic: a bare RTCPeerConnection in
// Firefox ESR and one in Chromium. Firefox offers first (so it holds the DTLS server role), then
// Chromium restarts ICE: Firefox answers `a=setup:active` and Chromium refuses the answer
// ("Failed to set SSL role for the transport"). Chromium offering first, nothing fails.
// Usage (after `npm run build && npm run build:test` in packages/client, and the server built):
//   node packages/client/scripts/firefox-restart-dtls-role.mjs
/* global window, navigator, RTCPeerConnection -- the page functions run in the browsers */
import { launchBrowsers } from '../dist/test/support/browsers.js';
import { startServer } from '../dist/test/support/server.js';

const server = await startServer(); // only to serve a page of an origin with camera permission
const browsers = await launchBrowsers({ origins: [server.url] });
try {
  for (const firstOfferer of ['firefox', 'chromium']) {
    const fx = await (await browsers.firefox.createBrowserContext()).newPage();
    const cr = await (await browsers.chromium.newContext({ permissions: ['camera'] })).newPage();
    const pages = { firefox: fx, chromium: cr };
    for (const page of [fx, cr]) {
      await page.goto(`${server.url}/`);
      await page.evaluate(async () => {
        const pc = new RTCPeerConnection();
        const stream = await navigator.mediaDevices.getUserMedia({ video: true });
        for (const track of stream.getTracks()) pc.addTrack(track, stream);
        window.pc = pc;
        // Whole descriptions, candidates included (no trickle), as plain JSON.
        window.local = async () => {
          await new Promise((resolve) => {
            if (pc.iceGatheringState === 'complete') resolve();
            else
              pc.addEventListener(
                'icegatheringstatechange',
                () => pc.iceGatheringState === 'complete' && resolve(),
              );
          });
          return { type: pc.localDescription.type, sdp: pc.localDescription.sdp };
        };
      });
    }
    const offer = (page, restart) =>
      page.evaluate(async (restart) => {
        if (restart) window.pc.restartIce();
        await window.pc.setLocalDescription();
        return window.local();
      }, restart);
    const answer = (page, description) =>
      page.evaluate(async (description) => {
        await window.pc.setRemoteDescription(description);
        await window.pc.setLocalDescription();
        return window.local();
      }, description);
    const apply = (page, description) =>
      page.evaluate(
        (description) =>
          window.pc.setRemoteDescription(description).then(
            () => 'applied',
            (error) => `refused: ${error.name}: ${error.message}`,
          ),
        description,
      );
    const setup = (description) => /a=setup:(\S+)/.exec(description.sdp)[1];

    const second = firstOfferer === 'firefox' ? 'chromium' : 'firefox';
    let o = await offer(pages[firstOfferer], false);
    let a = await answer(pages[second], o);
    console.log(
      `${firstOfferer} offers first: answer a=setup:${setup(a)}, ${await apply(pages[firstOfferer], a)}`,
    );
    await new Promise((resolve) => setTimeout(resolve, 1500));
    o = await offer(cr, true);
    a = await answer(fx, o);
    console.log(`  chromium restarts ICE: firefox answers a=setup:${setup(a)}, ${await apply(cr, a)}`);
  }
} finally {
  await browsers.close();
  await server.stop();
}
