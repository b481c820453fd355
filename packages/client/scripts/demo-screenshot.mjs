// Takes docs/demo-two-peers.png: two demo pages in one room, connected, as the first one sees it.
// Usage (after `npm run build && npm run build:test` in packages/client):
//   node packages/client/scripts/demo-screenshot.mjs [out.png] [width] [height]
import { fileURLToPath } from 'node:url';
import {
  allConnected,
  framesDecoded,
  launchBrowser,
  openPeer,
  selfId,
} from '../dist/test/support/browser.js';
import { startServer } from '../dist/test/support/server.js';
import { sleep, waitFor } from '../dist/test/support/wait.js';

const out = process.argv[2] ?? fileURLToPath(new URL('../../../docs/demo-two-peers.png', import.meta.url));
const width = Number(process.argv[3] ?? 1280);
const height = Number(process.argv[4] ?? 800);

const server = await startServer();
const browser = await launchBrowser();
try {
  const room = 'design-review';
  const ada = await openPeer(browser, server.url, { room, name: 'Ada', viewport: { width, height } });
  const grace = await openPeer(browser, server.url, {
    room,
    name: 'Grace',
    viewport: { width: 640, height: 400 },
  });
  await waitFor('connected', async () => (await allConnected(ada, 1)) && (await allConnected(grace, 1)));
  const graceId = await selfId(grace);
  await waitFor('video', async () => (await framesDecoded(ada, graceId)) > 30);
  await sleep(1500); // let the notices fade and the videos settle
  await ada.page.screenshot({ path: out });
  console.log(`wrote ${out} (${width}x${height})`);
} finally {
  await browser.close();
  await server.stop();
}
