import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { accessSync, constants, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createConnection, createServer } from 'node:net';
import { tmpdir, userInfo } from 'node:os';
import { delimiter, join, resolve } from 'node:path';

/** The HAProxy configuration operators use (deploy/haproxy.cfg); the tests load it, not a copy. */
export const HAPROXY_CONFIG = resolve(__dirname, '../../../../../deploy/haproxy.cfg');

/** Backend section of {@link HAPROXY_CONFIG} whose servers the tests fill in. */
const BACKEND = 'switchboard';
const SERVERS_BEGIN = /^\s*# servers:.*$/m;
const SERVERS_END = /^\s*# end servers\s*$/m;

/** One server's line of HAProxy's `show stat`. */
export interface ServerStat {
  /** `sb1`, `sb2`, … in the order of the backends given to {@link startLoadBalancer}. */
  name: string;
  /** `UP`, `DOWN`, `UP 1/2` (failing), `DOWN 1/2` (recovering), `MAINT`, `no check`. */
  status: string;
  /** Outcome of the last health check, e.g. `L7OK`, `L4CON` (connection refused). */
  checkStatus: string;
}

/** A running haproxy in front of test instances, loaded with {@link HAPROXY_CONFIG}. */
export interface LoadBalancer {
  /** Where clients connect: `http://127.0.0.1:<port>`. */
  url: string;
  /** The rendered configuration file haproxy runs (removed by `close`). */
  configFile: string;
  /** Everything haproxy printed so far (request log lines, health-check changes, alerts). */
  output(): string;
  /** The state of every server, from the stats socket. */
  stats(): Promise<ServerStat[]>;
  /** Resolves once `backendUrl` is `UP` (in rotation); rejects after `ms`. */
  waitUntilUp(backendUrl: string, ms?: number): Promise<void>;
  /** Resolves once `backendUrl` is out of rotation (`DOWN…` or `MAINT`); rejects after `ms`. */
  waitUntilDown(backendUrl: string, ms?: number): Promise<void>;
  /** Stops haproxy (SIGTERM, SIGKILL after 1 s) and removes its files. Safe to call twice. */
  close(): Promise<void>;
}

/**
 * The haproxy executable: on PATH, or in /usr/sbin where Debian puts it (not on an unprivileged
 * user's PATH). Throws, saying how to install it, when there is none: a test that needs it fails
 * rather than being skipped.
 */
export function haproxyPath(): string {
  const dirs = [...(process.env.PATH ?? '').split(delimiter), '/usr/sbin', '/usr/local/sbin'];
  for (const dir of dirs.filter((d) => d !== '')) {
    const candidate = join(dir, 'haproxy');
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  throw new Error(
    'haproxy is not installed (not on PATH, nor in /usr/sbin): run ./scripts/setup.sh, which installs ' +
      "Debian's haproxy package (apt-get install haproxy)",
  );
}

/**
 * {@link HAPROXY_CONFIG} with the lines between its `# servers:` and `# end servers` markers
 * replaced by one `server sbN host:port` line per backend URL; everything else as written.
 */
export function renderConfig(backends: string[], template = readFileSync(HAPROXY_CONFIG, 'utf8')): string {
  const begin = SERVERS_BEGIN.exec(template);
  const end = SERVERS_END.exec(template);
  if (!begin || !end || end.index < begin.index)
    throw new Error(`${HAPROXY_CONFIG}: no "# servers:" ... "# end servers" block in backend ${BACKEND}`);
  const indent = /^\s*/.exec(begin[0])![0];
  const lines = backends.map((url, i) => `${indent}server ${serverName(i)} ${address(url)}`);
  const head = template.slice(0, begin.index + begin[0].length);
  const tail = template.slice(end.index);
  return `${head}\n${lines.join('\n')}\n${tail}`;
}

/** Environment the tests start haproxy with: their own port, socket and account (see the file's header). */
export function testEnvironment(port: number, statsSocket: string): Record<string, string> {
  return {
    PATH: process.env.PATH ?? '',
    LB_HOST: '127.0.0.1',
    LB_PORT: String(port),
    LB_STATS_SOCKET: statsSocket,
    // Run as whoever runs the tests: haproxy cannot switch accounts without root.
    LB_USER: userInfo().username,
    LB_GROUP: execFileSync('id', ['-gn'], { encoding: 'utf8' }).trim(),
    // Small enough that an unprivileged haproxy can raise its file limit to match.
    LB_MAXCONN: '1000',
  };
}

/** Runs `haproxy -c` on a configuration file; resolves with its exit code and output. */
export function checkConfig(
  file: string,
  env: Record<string, string> = { PATH: process.env.PATH ?? '' },
): { code: number | null; output: string } {
  const r = spawnSync(haproxyPath(), ['-c', '-f', file], { env, encoding: 'utf8', timeout: 10_000 });
  return { code: r.status, output: `${r.stdout}${r.stderr}` };
}

/**
 * Starts haproxy (`-db`: in the foreground, as a child of the test) with {@link HAPROXY_CONFIG}
 * in front of `backends` (`http://127.0.0.1:PORT` each), on a free port of 127.0.0.1, and resolves
 * once it accepts connections and answers on its stats socket. Register `close` with the test's
 * `after`/`t.after` at once: haproxy is not stopped otherwise (except, as a last resort, when the
 * test process exits).
 */
export async function startLoadBalancer(backends: string[]): Promise<LoadBalancer> {
  if (backends.length === 0) throw new Error('startLoadBalancer: no backends');
  const executable = haproxyPath();
  const dir = mkdtempSync(join(tmpdir(), 'sb-haproxy-'));
  try {
    const configFile = join(dir, 'haproxy.cfg');
    writeFileSync(configFile, renderConfig(backends));
    // A free port can be taken by someone else between our probe and haproxy's bind: try again.
    for (let attempt = 1; ; attempt++) {
      const port = await freePort();
      const statsSocket = join(dir, `stats-${attempt}.sock`);
      try {
        return await launch(executable, configFile, port, statsSocket, backends, dir);
      } catch (err) {
        if (attempt < 3 && err instanceof BindError) continue;
        throw err;
      }
    }
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
}

class BindError extends Error {}

async function launch(
  executable: string,
  configFile: string,
  port: number,
  statsSocket: string,
  backends: string[],
  dir: string,
): Promise<LoadBalancer> {
  const child = spawn(executable, ['-db', '-f', configFile], {
    env: testEnvironment(port, statsSocket),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  let exitCode: number | string | null | undefined;
  const exited = new Promise<void>((r) =>
    child.once('exit', (code, signal) => {
      exitCode = code ?? signal;
      r();
    }),
  );
  // Last resort: a test process that exits without closing must not leave haproxy behind.
  const onExit = () => {
    child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  };
  process.once('exit', onExit);

  let closing: Promise<void> | undefined;
  const close = (): Promise<void> =>
    (closing ??= (async () => {
      process.off('exit', onExit);
      await stop(child, exited);
      rmSync(dir, { recursive: true, force: true });
    })());

  const nameOf = (backendUrl: string): string => {
    const i = backends.findIndex((b) => new URL(b).host === new URL(backendUrl).host);
    if (i < 0) throw new Error(`${backendUrl} is not behind this load balancer (${backends.join(', ')})`);
    return serverName(i);
  };
  const stats = async (): Promise<ServerStat[]> =>
    parseStats(await cli(statsSocket, `show stat ${BACKEND} 4 -1`));
  const waitFor = async (backendUrl: string, want: 'up' | 'down', ms: number): Promise<void> => {
    const name = nameOf(backendUrl);
    const end = Date.now() + ms;
    let last: ServerStat | undefined;
    for (;;) {
      last = (await stats()).find((s) => s.name === name);
      if (last && (want === 'up' ? last.status === 'UP' : /^(DOWN|MAINT)/.test(last.status))) return;
      if (Date.now() > end)
        throw new Error(
          `${name} (${backendUrl}) not ${want} within ${ms} ms: ${last ? `${last.status} ${last.checkStatus}` : 'absent'}\n` +
            `haproxy's output ends with:\n${out.slice(-4000)}`,
        );
      await new Promise((r) => setTimeout(r, 20));
    }
  };

  try {
    const end = Date.now() + 10_000;
    for (;;) {
      if (exitCode !== undefined) {
        const message = `haproxy exited (${exitCode}) at start:\n${out}`;
        throw /cannot bind socket|Address already in use/i.test(out)
          ? new BindError(message)
          : new Error(message);
      }
      if (
        (await accepts(port)) &&
        (await cli(statsSocket, 'show info').then(
          () => true,
          () => false,
        ))
      )
        break;
      if (Date.now() > end) throw new Error(`haproxy did not start within 10 s:\n${out}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  } catch (err) {
    // The directory stays for the next attempt; startLoadBalancer removes it after the last.
    process.off('exit', onExit);
    await stop(child, exited);
    throw err;
  }
  return {
    url: `http://127.0.0.1:${port}`,
    configFile,
    output: () => out,
    stats,
    waitUntilUp: (backendUrl, ms = 5000) => waitFor(backendUrl, 'up', ms),
    waitUntilDown: (backendUrl, ms = 5000) => waitFor(backendUrl, 'down', ms),
    close,
  };
}

/** `host:port` of an http:// URL as haproxy writes it (IPv6 without brackets: `::1:3000`). */
function address(url: string): string {
  const { hostname, port } = new URL(url);
  return `${hostname.replace(/^\[|\]$/g, '')}:${port || '80'}`;
}

function serverName(index: number): string {
  return `sb${index + 1}`;
}

/** SIGTERM (haproxy stops at once, open tunnels included), SIGKILL if still there after 1 s. */
async function stop(child: ChildProcess, exited: Promise<void>): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill('SIGTERM');
  let timer: NodeJS.Timeout | undefined;
  const grace = new Promise<'late'>((r) => (timer = setTimeout(() => r('late'), 1000)));
  if ((await Promise.race([exited, grace])) === 'late') {
    child.kill('SIGKILL');
    await exited;
  }
  clearTimeout(timer);
}

/** A port of 127.0.0.1 free a moment ago: listen on port 0, note it, close. */
function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() =>
        typeof address === 'object' && address ? resolvePort(address.port) : reject(new Error('no port')),
      );
    });
  });
}

/** Whether something accepts TCP connections on 127.0.0.1:`port`. */
function accepts(port: number): Promise<boolean> {
  return new Promise((r) => {
    const socket = createConnection({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      r(true);
    });
    socket.once('error', () => r(false));
  });
}

/** Sends one command to haproxy's runtime API (the stats socket) and resolves with its answer. */
function cli(path: string, command: string): Promise<string> {
  return new Promise((resolveAnswer, reject) => {
    const socket = createConnection({ path });
    let answer = '';
    socket.setTimeout(2000, () => socket.destroy(new Error(`no answer to "${command}" on ${path}`)));
    // Without "prompt", haproxy answers one command and closes the connection.
    socket.once('connect', () => socket.write(`${command}\n`));
    socket.on('data', (d: Buffer) => (answer += d.toString()));
    socket.once('error', reject);
    socket.once('close', (hadError) => {
      if (!hadError) resolveAnswer(answer);
    });
  });
}

/** The server lines of `show stat` (CSV whose first line, after `# `, names the columns). */
function parseStats(csv: string): ServerStat[] {
  const [header, ...rows] = csv.split('\n').filter((l) => l.trim() !== '');
  if (!header?.startsWith('# ')) throw new Error(`unexpected answer to show stat: ${csv}`);
  const columns = header.slice(2).split(',');
  const col = (name: string): number => {
    const i = columns.indexOf(name);
    if (i < 0) throw new Error(`show stat has no ${name} column: ${header}`);
    return i;
  };
  const [px, sv, status, check] = [col('pxname'), col('svname'), col('status'), col('check_status')];
  return rows
    .map((row) => row.split(','))
    .filter((f) => f[px] === BACKEND && f[sv] !== 'BACKEND' && f[sv] !== 'FRONTEND')
    .map((f) => ({ name: f[sv] ?? '', status: f[status] ?? '', checkStatus: f[check] ?? '' }));
}
