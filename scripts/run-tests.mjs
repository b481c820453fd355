// Runs every compiled test file (`packages/*/dist/test/**/*.test.js`) with node's test runner, one
// file at a time. Node 20's `--test` does not expand globs, so the files are listed here.
//
// Each file runs in its own node process, run directly (`node --test-force-exit file`, not `node --test
// file`), under limits, so that one stuck test can never stall the whole suite (CI gives the run 90
// minutes and reports nothing when that runs out):
// - `--test-force-exit` ends the file once its tests are done, even if a handle stays open. Not with
//   `--test`: there Node 20 runs the file in a second process, whose results reach the first through a
//   pipe, and force-exit drops the last ones now and then. Measured: the 45 tests of
//   test/unit/config reported as 33-37 in 4 of 30 runs, exit code 0, the rest silently missing (one
//   clean-clone run counted 728 tests instead of 739 that way); run directly, 40 of 40 complete;
// - `--test-timeout` (TEST_TIMEOUT_MS) is passed too, but Node 20 applies it only under `--test`: a
//   single stuck test now runs into the file limit below;
// - a file still running after FILE_TIMEOUT_MS is killed (with its process group: browsers and
//   coturn started by the test go too) and counted as failed;
// - a process the file leaves running after its test process ended is killed (see killOrphans).
// The summary at the end lists every failed or killed file.
import { execFileSync, spawn } from 'node:child_process';
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

const ORPHAN_CHECK_MS = 3_000;

/** Kills the processes of process group `pgid` (but its leader) whose parent is outside the group. */
function killOrphans(pgid, file) {
  let table;
  try {
    table = execFileSync('ps', ['-e', '-o', 'pid=,ppid=,pgid=,comm='], { encoding: 'utf8' });
  } catch {
    return;
  }
  const rows = table
    .split('\n')
    .map((line) => line.trim().split(/\s+/))
    .filter((r) => r.length >= 4 && Number(r[2]) === pgid)
    .map(([pid, ppid, , comm]) => ({ pid: Number(pid), ppid: Number(ppid), comm }));
  const inGroup = new Set(rows.map((r) => r.pid));
  for (const r of rows) {
    if (r.pid === pgid || inGroup.has(r.ppid)) continue;
    try {
      process.kill(r.pid, 'SIGKILL');
      console.error(`\n⚠ ${file} left ${r.comm} (pid ${r.pid}) running after its test process ended: killed`);
    } catch {
      // already gone
    }
  }
}

/** Runs one file; resolves with its counts and how it ended. */
function runFile(file) {
  return new Promise((resolve) => {
    const child = spawn(
      process.execPath,
      ['--test-reporter=spec', '--test-force-exit', `--test-timeout=${TEST_TIMEOUT_MS}`, file],
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
    // A process the test file left behind (a browser or coturn its test forgot; `--test-force-exit`
    // ends the file's node process, not its children) keeps the file's output pipe open, and
    // `node --test` waits for that pipe before it reports and exits: the file would hang until the
    // file timeout. Such a process is recognisable as one in the file's process group whose parent
    // is no longer in it; it is killed.
    const reaper = setInterval(() => killOrphans(child.pid, file), ORPHAN_CHECK_MS);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      clearInterval(reaper);
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
