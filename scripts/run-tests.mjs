// Runs every compiled test file (`packages/*/dist/test/**/*.test.js`) with node's test runner.
// Node 20's `--test` does not expand globs, so the files are listed here.
import { spawnSync } from 'node:child_process';
import { readdirSync, statSync, existsSync } from 'node:fs';
import { join } from 'node:path';

const only = process.argv.slice(2); // optional substrings to filter files
const files = [];
const walk = (dir) => {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) walk(p);
    else if (name.endsWith('.test.js')) files.push(p);
  }
};
for (const pkg of readdirSync('packages')) {
  const dir = join('packages', pkg, 'dist', 'test');
  if (existsSync(dir)) walk(dir);
}
const selected = files.filter((f) => only.length === 0 || only.some((o) => f.includes(o))).sort();
if (selected.length === 0) {
  console.error('no test files found; run npm run build first');
  process.exit(1);
}
const r = spawnSync(
  process.execPath,
  ['--test', '--test-reporter=spec', '--test-concurrency=1', ...selected],
  {
    stdio: 'inherit',
  },
);
process.exit(r.status ?? 1);
