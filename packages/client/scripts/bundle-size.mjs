// What the SDK costs an app: dist/index.js as an app's bundler would ship it (minified, tree-shaken),
// with socket.io-client bundled in and without it, and which inputs the bytes come from.
//   npm run size -w @switchboard/client            a table
//   npm run size -w @switchboard/client -- --json  the same as JSON
// The sizes are of the built dist/index.js (run `npm run build` first), i.e. of the package as
// published; the per-file breakdown bundles the same code from the sources. gzip at its default level
// (as build.mjs and most servers use it).
import { build } from 'esbuild';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { brotliCompressSync, gzipSync } from 'node:zlib';

const here = fileURLToPath(new URL('..', import.meta.url));
const entry = `${here}dist/index.js`;
if (!existsSync(entry)) {
  console.error(`${entry} is missing: run npm run build first`);
  process.exit(1);
}

/** Bundles `entryPoint` minified in memory; returns its sizes and the bytes per origin. */
async function measure(external, entryPoint = entry, alias = {}) {
  const result = await build({
    entryPoints: [entryPoint],
    alias,
    bundle: true,
    minify: true,
    format: 'esm',
    platform: 'browser',
    target: ['chrome100', 'firefox100', 'safari15'],
    external,
    write: false,
    metafile: true,
    legalComments: 'none',
    logLevel: 'warning',
  });
  const code = result.outputFiles[0].contents;
  const output = Object.values(result.metafile.outputs)[0];
  const byOrigin = new Map();
  for (const [path, { bytesInOutput }] of Object.entries(output.inputs)) {
    const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(path)?.[1] ?? path.replace(/^(\.\.\/)+/, '');
    byOrigin.set(pkg, (byOrigin.get(pkg) ?? 0) + bytesInOutput);
  }
  return {
    min: code.length,
    gzip: gzipSync(code).length,
    brotli: brotliCompressSync(code).length,
    byOrigin: [...byOrigin].sort((a, b) => b[1] - a[1]),
  };
}

const kib = (n) => `${(n / 1024).toFixed(1)} KiB`;
const withSocketIo = await measure([]);
const sdkAlone = await measure(['socket.io-client']);
// The same code from the sources (as build.mjs bundles it), to tell the SDK's own files apart.
const bySource = await measure(['socket.io-client'], `${here}src/index.ts`, {
  '@switchboard/protocol': `${here}../protocol/src/index.ts`,
});

if (process.argv.includes('--json')) {
  console.log(JSON.stringify({ withSocketIo, sdkAlone, bySource }, null, 2));
} else {
  for (const [label, m] of [
    ['with socket.io-client', withSocketIo],
    ['SDK alone (socket.io-client external)', sdkAlone],
  ]) {
    console.log(`${label}: ${kib(m.min)} min, ${kib(m.gzip)} gzip, ${kib(m.brotli)} brotli`);
  }
  console.log('\nminified bytes by origin, with socket.io-client:');
  for (const [origin, bytes] of withSocketIo.byOrigin) {
    const share = ((100 * bytes) / withSocketIo.min).toFixed(0).padStart(3);
    console.log(`  ${kib(bytes).padStart(10)} ${share}%  ${origin}`);
  }
  console.log('\nthe SDK alone by source file (minified, before gzip):');
  for (const [origin, bytes] of bySource.byOrigin) console.log(`  ${kib(bytes).padStart(10)}  ${origin}`);
}
