// Bundles the SDK and the demo with esbuild.
//   dist/public/switchboard.js  the SDK as one ES module (socket.io-client included), served by the server's demo
//   dist/public/demo.js|css, index.html  the demo page, which imports ./switchboard.js at run time
//   dist/index.js               the SDK for applications that bundle it (socket.io-client left as a dependency)
import { build } from 'esbuild';
import { copyFile, mkdir, rm, stat } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { readFile } from 'node:fs/promises';

const here = fileURLToPath(new URL('.', import.meta.url));
const out = `${here}dist`;
// The protocol package is CommonJS with zod schemas; the SDK needs only its types and small constants,
// so it is bundled from source as ES modules, which lets esbuild drop the schemas (and zod) entirely.
const protocolAlias = { '@switchboard/protocol': `${here}../protocol/src/index.ts` };
const common = {
  bundle: true,
  format: 'esm',
  platform: 'browser',
  target: ['chrome100', 'firefox100', 'safari15'],
  sourcemap: true,
  alias: protocolAlias,
  logLevel: 'warning',
  legalComments: 'none',
};

await rm(`${out}/public`, { recursive: true, force: true });
await mkdir(`${out}/public`, { recursive: true });

await build({
  ...common,
  entryPoints: [`${here}src/index.ts`],
  outfile: `${out}/public/switchboard.js`,
  minify: true,
});
await build({
  ...common,
  entryPoints: [`${here}src/index.ts`],
  outfile: `${out}/index.js`,
  external: ['socket.io-client'],
});
await build({
  ...common,
  entryPoints: [`${here}demo/demo.ts`],
  outfile: `${out}/public/demo.js`,
  minify: true,
  plugins: [
    {
      // The demo uses the SDK exactly as an app would: the public module the server serves.
      name: 'sdk-as-served-module',
      setup(b) {
        b.onResolve({ filter: /^@switchboard\/client$/ }, () => ({
          path: './switchboard.js',
          external: true,
        }));
      },
    },
  ],
});
await copyFile(`${here}demo/index.html`, `${out}/public/index.html`);
await copyFile(`${here}demo/demo.css`, `${out}/public/demo.css`);

const sdk = await readFile(`${out}/public/switchboard.js`);
if (/\bzod\b|ZodError|_zod/.test(sdk.toString())) throw new Error('zod leaked into the browser bundle');
const size = (await stat(`${out}/public/switchboard.js`)).size;
console.log(
  `dist/public/switchboard.js: ${(size / 1024).toFixed(1)} KiB (${(gzipSync(sdk).length / 1024).toFixed(1)} KiB gzip)`,
);
