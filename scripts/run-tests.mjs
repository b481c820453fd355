// Runs every compiled test file (`packages/*/dist/test/**/*.test.js`) with node's test runner, one
// file at a time. Node 20's `--test` does not expand globs, so the files are listed here.
//
// Each file runs in its own `node --test` process under two limits, so that one stuck test can never
// stall the whole suite (CI gives the run 90 minutes and reports nothing when that runs out):
// - `--test-timeout` fails a single test that runs longer than TEST_TIMEOUT_MS;
// - `--test-force-exit` ends the file once its tests are done, even if a handle stays open;
// - a file still running after FILE_TIMEOUT_MS is killed (with its process group: browsers and
//   coturn started by the test go too) and counted as failed.
// The summary at the end lists every failed or killed file.
import { spawn } from 'node:child_process';
import { readdirSync, statSync, existsSync } from 'node:fs';
import { join } from 'node:path';

const TEST_TIMEOUT_MS = Number(process.env.TEST_TIMEOUT_MS ?? 180_000);
const FILE_TIMEOUT_MS = Number(process.env.TEST_FILE_TIMEOUT_MS ?? 480_000);

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

/** Runs one file; resolves with its counts and how it ended. */
function runFile(file) {
  return new Promise((resolve) => {
    const child = spawn(
      process.execPath,
      ['--test', '--test-reporter=spec', '--test-force-exit', `--test-timeout=${TEST_TIMEOUT_MS}`, file],
      { stdio: ['ignore', 'pipe', 'inherit'], detached: true },
    );
    const counts = { tests: 0, pass: 0, fail: 0 };
    let tail = '';
    child.stdout.on('data', (chunk) => {
      process.stdout.write(chunk);
      // The spec reporter ends with "ℹ tests N", "ℹ pass N", "ℹ fail N".
      const text = tail + chunk.toString('utf8');
      const lines = text.split('\n');
      tail = lines.pop() ?? '';
      for (const line of lines) {
        const m = /^ℹ (tests|pass|fail) (\d+)/.exec(line.trim());
        if (m) counts[m[1]] = Number(m[2]);
      }
    });
    let killed = false;
    const timer = setTimeout(() => {
      killed = true;
      console.error(`\n✖ ${file} still running after ${FILE_TIMEOUT_MS} ms: killed`);
      try {
        process.kill(-child.pid, 'SIGKILL');
      } catch {
        child.kill('SIGKILL');
      }
    }, FILE_TIMEOUT_MS);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ file, code, signal, killed, ...counts });
    });
  });
}

const started = Date.now();
const results = [];
for (const file of selected) results.push(await runFile(file));

const total = results.reduce(
  (acc, r) => ({ tests: acc.tests + r.tests, pass: acc.pass + r.pass, fail: acc.fail + r.fail }),
  { tests: 0, pass: 0, fail: 0 },
);
const failed = results.filter((r) => r.killed || r.code !== 0);
const minutes = ((Date.now() - started) / 60_000).toFixed(1);
console.log(
  `\n${selected.length} files, ${total.tests} tests: ${total.pass} passed, ${total.fail} failed, in ${minutes} min`,
);
for (const r of failed) {
  const why = r.killed ? 'killed after the file timeout' : `exit ${r.code ?? r.signal}`;
  console.log(`✖ ${r.file} (${why}; ${r.fail} failed of ${r.tests})`);
}
process.exit(failed.length === 0 ? 0 : 1);
