// The packages as users receive them (issue 12 §4): `npm pack` the protocol, SDK and server packages,
// then, outside the workspace and from the tarballs only:
// - an app (test/fixtures/consumer-app) installs the SDK and protocol with Vite and TypeScript from
//   the registry, is type-checked against the shipped types and bundled with Vite;
// - a server folder installs the server package and starts it with `npx @switchboard/server`;
// and two real Chromium pages of the built app, served from another origin, make a call through it.
// The two installs run side by side. Nothing is kept between runs: every folder is new each time.
// npm installs with --prefer-offline: package metadata already in npm's cache is used without asking
// the registry whether it changed (that revalidation took 35 of 55 s here); what is missing is fetched.
import assert from 'node:assert/strict';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { rmSync } from 'node:fs';
import { cp, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { extname, join, normalize, sep } from 'node:path';
import { test } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { launchBrowser } from './support/browser.js';
import { track } from './support/children.js';
import { REPO_ROOT } from './support/paths.js';
import { sleep, waitFor } from './support/wait.js';

const FIXTURE = join(REPO_ROOT, 'packages', 'client', 'test', 'fixtures', 'consumer-app');
const PACKAGES = ['@switchboard/protocol', '@switchboard/client', '@switchboard/server'];

/**
 * The environment for npm, tsc, Vite and the server: this process's, without what an enclosing
 * `npm run` or the test runner put there (`npm_config_local_prefix` would point npm back at the
 * workspace).
 */
function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (/^npm_/i.test(key) || key === 'INIT_CWD' || key === 'NODE_TEST_CONTEXT') continue;
    env[key] = value;
  }
  return { ...env, npm_config_update_notifier: 'false', npm_config_fund: 'false', ...extra };
}

/** Commands still running, killed in the test's `finally` (one step failing leaves the other running). */
const running = new Set<ChildProcess>();

/** Runs a command to completion; rejects with its output when it fails or outlives `timeoutMs`. */
function run(
  cmd: string,
  args: string[],
  cwd: string,
  timeoutMs: number,
): Promise<{ stdout: string; stderr: string; ms: number }> {
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const child = execFile(
      cmd,
      args,
      { cwd, env: cleanEnv(), timeout: timeoutMs, killSignal: 'SIGKILL', maxBuffer: 64 * 1024 * 1024 },
      (error, stdout, stderr) => {
        running.delete(child);
        if (error) {
          reject(
            new Error(
              `${cmd} ${args.join(' ')} (in ${cwd}) failed after ${Date.now() - started} ms: ${error.message}\n` +
                `${stdout.slice(-4000)}\n${stderr.slice(-4000)}`,
            ),
          );
        } else resolve({ stdout, stderr, ms: Date.now() - started });
      },
    );
    running.add(child);
    track(child);
  });
}

const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

interface PackResult {
  name: string;
  filename: string;
  size: number;
  files: { path: string }[];
}

/** What each tarball must hold; none may hold tests or TypeScript build info. */
const EXPECTED_FILES: Record<string, string[]> = {
  '@switchboard/protocol': [
    'LICENSE',
    'README.md',
    'dist/cjs/index.js',
    'dist/cjs/index.d.ts',
    'dist/esm/index.js',
    'dist/esm/index.d.ts',
    'dist/esm/package.json',
  ],
  '@switchboard/client': [
    'LICENSE',
    'README.md',
    'dist/index.js',
    'dist/index.js.map',
    'dist/types/index.d.ts',
    'dist/public/index.html',
    'dist/public/switchboard.js',
  ],
  '@switchboard/server': ['LICENSE', 'README.md', 'bin/switchboard-server.mjs', 'dist/src/main.js'],
};

const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.map': 'application/json',
  '.svg': 'image/svg+xml',
};

/** Serves the app's Vite build (`dist/`) on 127.0.0.1, as any static host would. */
async function serveStatic(root: string): Promise<{ url: string; server: Server }> {
  const server = createServer((req, res) => {
    const path = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
    const file = normalize(join(root, path === '/' ? 'index.html' : path));
    if (!file.startsWith(root + sep)) {
      res.writeHead(403).end();
      return;
    }
    readFile(file).then(
      (body) =>
        res
          .writeHead(200, { 'content-type': CONTENT_TYPES[extname(file)] ?? 'application/octet-stream' })
          .end(body),
      () => res.writeHead(404).end('not found'),
    );
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server };
}

interface PackedServer {
  /** Resolves with the URL the server listens on. */
  ready: Promise<string>;
  output(): string;
  /** SIGTERM to the server (then SIGKILL), and npx ended. Safe at any time, and twice. */
  stop(): Promise<void>;
}

/**
 * `npx @switchboard/server` in `dir` (the bin of the installed tarball) on a free port. npm exec does
 * not pass SIGTERM on to the server, so the server's own pid, read from its first log line (pino
 * logs it on every line), is signalled as well.
 */
function startPackedServer(dir: string): PackedServer {
  const child = spawn('npx', ['--no', '@switchboard/server'], {
    cwd: dir,
    env: cleanEnv({ PORT: '0', HOST: '127.0.0.1', LOG_LEVEL: 'info', STUN_URLS: '' }),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  track(child);
  let out = '';
  let serverPid: number | undefined;
  const killServer = () => {
    if (serverPid === undefined) return;
    try {
      process.kill(serverPid, 'SIGKILL');
    } catch {
      // already gone
    }
  };
  process.once('exit', killServer);
  child.stdout?.on('data', (chunk: Buffer) => {
    out = (out + chunk.toString()).slice(-200_000);
    serverPid ??= Number(/"pid":(\d+)/.exec(out)?.[1]) || undefined;
  });
  child.stderr?.on('data', (chunk: Buffer) => (out = (out + chunk.toString()).slice(-200_000)));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const ready = Promise.race([
    exited.then(() => {
      throw new Error(
        `npx @switchboard/server exited (${child.exitCode ?? child.signalCode}):\n${out.slice(-4000)}`,
      );
    }),
    waitFor('the packed server listening', () => /listening on (http:\/\/[^\s"]+)/.exec(out)?.[1], {
      timeoutMs: 60_000,
      diagnose: () => out.slice(-4000),
    }),
  ]);
  ready.catch(() => undefined); // awaited by the caller; this only keeps an early failure handled
  const alive = (pid: number) => {
    try {
      process.kill(pid, 0);
      return true;
    } catch {
      return false;
    }
  };
  let stopping: Promise<void> | undefined;
  return {
    ready,
    output: () => out,
    stop() {
      stopping ??= (async () => {
        const pid = serverPid;
        if (pid !== undefined && alive(pid)) {
          process.kill(pid, 'SIGTERM');
          await waitFor('the packed server gone after SIGTERM', () => !alive(pid), {
            timeoutMs: 10_000,
          }).catch(() => killServer());
        }
        if (child.exitCode === null && child.signalCode === null) {
          child.kill('SIGTERM');
          await Promise.race([exited, sleep(5000).then(() => child.kill('SIGKILL'))]);
        }
        process.removeListener('exit', killServer);
      })();
      return stopping;
    },
  };
}

interface Snapshot {
  state: string;
  peerId: string | null;
  peers: { peerId: string; connectionState: string; framesDecoded: number }[];
  errors: string[];
  roomFullCode: string;
}

const snapshot = (page: Page) =>
  page.evaluate(() =>
    (window as unknown as { consumer?: { snapshot(): Promise<Snapshot> } }).consumer?.snapshot(),
  );

test(
  'the packed packages installed outside the workspace type-check, bundle with Vite and make a call against npx @switchboard/server',
  { timeout: 170_000 },
  async () => {
    const tmp = await mkdtemp(join(tmpdir(), 'switchboard-consumer-'));
    // Removed in `finally`, and also when the process ends first (a timed-out test never gets there).
    const removeTmp = () => rmSync(tmp, { recursive: true, force: true, maxRetries: 3 });
    process.once('exit', removeTmp);
    assert.ok(!tmp.startsWith(REPO_ROOT + sep), `${tmp} is inside the workspace`);
    const tarballs = join(tmp, 'tarballs');
    const appDir = join(tmp, 'app');
    const serverDir = join(tmp, 'server');
    let packed: PackedServer | undefined;
    let web: Server | undefined;
    let browser: Browser | undefined;
    /** Set in `finally`: a step still running after another failed must not start anything more. */
    let ended = false;
    const logs: string[] = [];
    const diagnose = () => [logs.slice(-60).join('\n'), packed?.output().slice(-3000)].join('\n');
    const t0 = Date.now();
    try {
      // 1. Pack the built workspaces (`npm run build` ran before the tests; no scripts run here).
      await mkdir(tarballs);
      const pack = await run(
        'npm',
        [
          'pack',
          '--ignore-scripts',
          '--json',
          '--pack-destination',
          tarballs,
          ...PACKAGES.flatMap((p) => ['-w', p]),
        ],
        REPO_ROOT,
        60_000,
      );
      const results = JSON.parse(pack.stdout) as PackResult[];
      console.log(`npm pack: ${seconds(pack.ms)}`);
      for (const r of results)
        console.log(`  ${r.filename}: ${(r.size / 1024).toFixed(0)} KiB, ${r.files.length} files`);
      for (const [name, files] of Object.entries(EXPECTED_FILES)) {
        const list = results.find((r) => r.name === name)?.files.map((f) => f.path);
        assert.ok(list, `npm pack made no tarball for ${name}`);
        for (const f of files) assert.ok(list.includes(f), `${name} tarball lacks ${f}`);
        const stray = list.filter((f) => /(^|\/)test\/|\.tsbuildinfo$/.test(f));
        assert.deepEqual(stray, [], `${name} tarball holds tests or build info`);
      }
      const tarball = (name: string) => join(tarballs, results.find((r) => r.name === name)!.filename);

      // 2. Side by side: the app (install, type-check, bundle), the server (install, start), Chromium.
      const prepareApp = async () => {
        await cp(FIXTURE, appDir, { recursive: true });
        const install = await run(
          'npm',
          [
            'install',
            '--no-audit',
            '--no-fund',
            '--prefer-offline',
            tarball('@switchboard/client'),
            tarball('@switchboard/protocol'),
            'vite@^8',
            'typescript@~5.9',
          ],
          appDir,
          150_000,
        );
        console.log(`app: npm install (SDK and protocol tarballs, vite, typescript): ${seconds(install.ms)}`);
        const manifest = async (name: string) =>
          JSON.parse(await readFile(join(appDir, 'node_modules', name, 'package.json'), 'utf8')) as {
            version: string;
            private?: boolean;
            license?: string;
          };
        for (const name of ['@switchboard/protocol', '@switchboard/client']) {
          const m = await manifest(name);
          assert.notEqual(m.private, true, `${name} is private`);
          assert.equal(m.license, 'MIT', `${name} license`);
        }
        assert.match((await manifest('vite')).version, /^8\./);

        // Types as users receive them: the page (bundler resolution, as Vite apps check it) and Node
        // ESM/CommonJS imports (NodeNext). src/type-probes.ts fails if a shipped type resolved to `any`.
        const tsc = join(appDir, 'node_modules', 'typescript', 'bin', 'tsc');
        const checks = await Promise.all([
          run(process.execPath, [tsc, '-p', 'tsconfig.json'], appDir, 120_000),
          run(process.execPath, [tsc, '-p', 'tsconfig.node.json'], appDir, 120_000),
        ]);
        console.log(
          `app: tsc --noEmit, bundler and NodeNext: ${seconds(Math.max(...checks.map((c) => c.ms)))}`,
        );

        // The protocol at run time in Node: `import` gets the ESM build, `require` the CommonJS one.
        const [esm, cjs] = await Promise.all([
          run(
            process.execPath,
            [
              '--input-type=module',
              '-e',
              "import * as p from '@switchboard/protocol'; console.log(JSON.stringify([import.meta.resolve('@switchboard/protocol'), Object.keys(p).sort()]))",
            ],
            appDir,
            30_000,
          ),
          run(
            process.execPath,
            [
              '-e',
              "const p = require('@switchboard/protocol'); console.log(JSON.stringify([require.resolve('@switchboard/protocol'), Object.keys(p).sort()]))",
            ],
            appDir,
            30_000,
          ),
        ]);
        const [esmPath, esmKeys] = JSON.parse(esm.stdout) as [string, string[]];
        const [cjsPath, cjsKeys] = JSON.parse(cjs.stdout) as [string, string[]];
        assert.match(esmPath, /\/dist\/esm\/index\.js$/);
        assert.match(cjsPath, /\/dist\/cjs\/index\.js$/);
        assert.deepEqual(esmKeys, cjsKeys, 'the ESM and CommonJS builds export the same names');

        // Vite bundles the page; the protocol's schemas (zod) stay out of it.
        const vite = await run(
          process.execPath,
          [join(appDir, 'node_modules', 'vite', 'bin', 'vite.js'), 'build', '--logLevel', 'warn'],
          appDir,
          120_000,
        );
        const assets = join(appDir, 'dist', 'assets');
        const scripts = (await readdir(assets)).filter((f) => f.endsWith('.js'));
        assert.equal(scripts.length, 1, `one script in the build: ${scripts.join(', ')}`);
        const bundle = await readFile(join(assets, scripts[0]!), 'utf8');
        assert.doesNotMatch(bundle, /ZodError|_zod/, 'zod was bundled into the app');
        console.log(
          `app: vite build: ${seconds(vite.ms)}, ${(bundle.length / 1024).toFixed(1)} KiB of script`,
        );
      };

      const prepareServer = async () => {
        await mkdir(serverDir);
        await writeFile(join(serverDir, 'package.json'), '{ "name": "signaling", "private": true }\n');
        // The server's dependencies on the SDK (its demo page) and the protocol are not on the
        // registry: the tarballs given alongside satisfy them.
        const install = await run(
          'npm',
          ['install', '--no-audit', '--no-fund', '--prefer-offline', ...PACKAGES.map(tarball)],
          serverDir,
          150_000,
        );
        console.log(`server: npm install (the three tarballs): ${seconds(install.ms)}`);
        if (ended) throw new Error('the test ended before the server was started');
        const started = Date.now();
        packed = startPackedServer(serverDir);
        const url = await packed.ready;
        console.log(`server: npx @switchboard/server until listening: ${seconds(Date.now() - started)}`);
        // Its demo page and SDK bundle come from the installed @switchboard/client.
        for (const path of ['/', '/switchboard.js']) {
          const res: Response = await fetch(`${url}${path}`);
          assert.equal(res.status, 200, `GET ${path} on the packed server`);
        }
        return url;
      };

      const [, serverUrl, chromium] = await Promise.all([
        prepareApp(),
        prepareServer(),
        launchBrowser().then((b) => {
          browser = b;
          if (ended) void b.close();
          return b;
        }),
      ]);
      console.log(`ready to call after ${seconds(Date.now() - t0)}`);

      // 3. Two Chromium pages of the built app, served from another origin, call each other.
      const site = await serveStatic(join(appDir, 'dist'));
      web = site.server;
      const callStarted = Date.now();
      const room = `consumer-${Date.now()}`;
      const pages: Page[] = [];
      for (const name of ['alice', 'bob']) {
        const context = await chromium.newContext({ permissions: ['camera', 'microphone'] });
        const page = await context.newPage();
        page.on('console', (m) => logs.push(`[${name}] ${m.type()}: ${m.text()}`));
        page.on('pageerror', (e) => logs.push(`[${name}] pageerror: ${e.message}`));
        await page.goto(`${site.url}/?${new URLSearchParams({ room, name, server: serverUrl })}`);
        pages.push(page);
      }
      const states = await waitFor(
        'both pages connected to each other with video decoded',
        async () => {
          const all = await Promise.all(pages.map(snapshot));
          for (const s of all) if (s?.errors.length) throw new Error(`page errors: ${s.errors.join('; ')}`);
          const done = all.every(
            (s) =>
              s?.state === 'connected' &&
              s.peers.length === 1 &&
              s.peers[0]!.connectionState === 'connected' &&
              s.peers[0]!.framesDecoded > 0,
          );
          return done ? (all as Snapshot[]) : undefined;
        },
        { timeoutMs: 30_000, diagnose },
      );
      assert.equal(states[0]!.peers[0]!.peerId, states[1]!.peerId);
      assert.equal(states[1]!.peers[0]!.peerId, states[0]!.peerId);
      assert.equal(states[0]!.roomFullCode, 'ROOM_FULL', 'the protocol package at run time in the bundle');
      // Video keeps coming, both ways.
      for (const [i, page] of pages.entries()) {
        const first = states[i]!.peers[0]!.framesDecoded;
        await waitFor(
          `page ${i}: framesDecoded rising past ${first}`,
          async () => ((await snapshot(page))?.peers[0]?.framesDecoded ?? 0) > first,
          { timeoutMs: 5000, diagnose },
        );
      }
      console.log(`call (two pages, connected, video both ways): ${seconds(Date.now() - callStarted)}`);
    } finally {
      ended = true;
      for (const child of running) child.kill('SIGKILL');
      await Promise.allSettled([
        browser?.close(),
        new Promise<void>((resolve) => (web ? web.close(() => resolve()) : resolve())),
        packed?.stop(),
      ]);
      await rm(tmp, { recursive: true, force: true, maxRetries: 3 });
      process.removeListener('exit', removeTmp);
      console.log(`whole test, cleanup included: ${seconds(Date.now() - t0)}`);
    }
  },
);
