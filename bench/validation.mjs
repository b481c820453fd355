/**
 * Micro-benchmark of relay payload validation: the protocol's zod schemas against the server's
 * fast paths (packages/server/src/webrtc/dto/relay-fast-path.ts), on the payloads our SDK sends.
 * Usage: npm run build && node bench/validation.mjs   (prints ns per payload, median of 7 rounds)
 */
import { createRequire } from 'node:module';
import { performance } from 'node:perf_hooks';
import { SDP, makeCandidate } from './lib/payloads.mjs';

const require = createRequire(import.meta.url);
const { createSchemas } = require('@switchboard/protocol');
const { relayFastPaths } = require('../packages/server/dist/src/webrtc/dto/relay-fast-path.js');

const limits = { maxSdpBytes: 64 * 1024, maxMetadataBytes: 2048 };
const schemas = createSchemas(limits);
const fast = relayFastPaths(limits);
const base = { roomId: 'room-1', to: 'Zx8pQ2mN7vK4sT1w', messageId: 'a1.17.1732960000000' };
const cases = [
  ['offer (SDP ~3 KB)', schemas.offer, fast.sdp, { ...base, sdp: SDP, sequence: 1 }],
  ['iceCandidate', schemas.iceCandidate, fast.iceCandidate, { ...base, candidate: makeCandidate(7) }],
  [
    'iceCandidates (6)',
    schemas.iceCandidates,
    fast.iceCandidates,
    { ...base, candidates: [1, 2, 3, 4, 5].map(makeCandidate).concat([null]) },
  ],
];

function nsPer(fn, payload, n) {
  const rounds = [];
  for (let r = 0; r < 7; r++) {
    const t0 = performance.now();
    for (let i = 0; i < n; i++) if (fn(payload) === undefined) throw new Error('refused');
    rounds.push(((performance.now() - t0) * 1e6) / n);
  }
  return rounds.sort((a, b) => a - b)[3];
}

console.log('payload                zod (ns)   fast path (ns)   ratio');
for (const [name, schema, fp, payload] of cases) {
  const z = nsPer((p) => (schema.safeParse(p).success ? 1 : undefined), payload, 20000);
  const f = nsPer(fp, payload, 20000);
  console.log(
    `${name.padEnd(22)} ${z.toFixed(0).padStart(8)} ${f.toFixed(0).padStart(16)} ${(f / z).toFixed(2).padStart(7)}×`,
  );
}
