/**
 * Summarises a V8 .cpuprofile (from `node --cpu-prof`): top functions by self time, and self time
 * per package. Usage: node bench/lib/cpuprofile-summary.mjs FILE.cpuprofile [TOP]
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

function where(url) {
  if (!url) return '(native)';
  const u = url.replace(/^file:\/\//, '');
  const nm = u.lastIndexOf('node_modules/');
  if (nm >= 0) {
    const rest = u.slice(nm + 'node_modules/'.length).split('/');
    return rest[0].startsWith('@') ? `${rest[0]}/${rest[1]}` : rest[0];
  }
  if (u.startsWith('node:')) return 'node:internal';
  const m = /packages\/([^/]+)\//.exec(u);
  if (m) return `@switchboard/${m[1]}`;
  return path.basename(u);
}

/**
 * @param {string} file
 * @param {number} [top]
 * @param {{fromMs?: number, toMs?: number}} [window] only samples taken this long after the
 *   profile started (e.g. one measurement window, found with `busyTimeline`)
 */
export function summarizeProfile(file, top = 20, window = {}) {
  const prof = JSON.parse(fs.readFileSync(file, 'utf8'));
  const byId = new Map(prof.nodes.map((n) => [n.id, n]));
  const selfUs = new Map();
  const from = (window.fromMs ?? 0) * 1000;
  const to = (window.toMs ?? Infinity) * 1000;
  let at = 0;
  for (let i = 0; i < prof.samples.length; i++) {
    at += prof.timeDeltas[i] || 0;
    if (at < from || at > to) continue;
    const id = prof.samples[i];
    selfUs.set(id, (selfUs.get(id) || 0) + (prof.timeDeltas[i] || 0));
  }
  let total = 0;
  let idle = 0;
  const fns = new Map();
  const pkgs = new Map();
  for (const [id, us] of selfUs) {
    const n = byId.get(id);
    if (!n) continue;
    total += us;
    const cf = n.callFrame;
    if (cf.functionName === '(idle)') idle += us;
    const file = cf.url
      ? cf.url.replace(/^.*node_modules\//, '').replace(/^file:\/\/.*?\/packages\//, 'packages/')
      : '';
    const key = `${cf.functionName || '(anonymous)'} ${file}${cf.url ? ':' + (cf.lineNumber + 1) : ''}`;
    fns.set(key, (fns.get(key) || 0) + us);
    const pkg = cf.url ? where(cf.url) : cf.functionName.startsWith('(') ? cf.functionName : '(native)';
    pkgs.set(pkg, (pkgs.get(pkg) || 0) + us);
  }
  // Percentages are of busy time: the servers idle while the other one is measured.
  const busy = total - idle;
  fns.delete('(idle) ');
  pkgs.delete('(idle)');
  const rows = (m) =>
    [...m.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([name, us]) => ({ name, ms: Math.round(us / 1000), pct: +((100 * us) / busy).toFixed(1) }));
  return {
    file,
    totalMs: Math.round(total / 1000),
    idleMs: Math.round(idle / 1000),
    busyMs: Math.round(busy / 1000),
    functions: rows(fns),
    packages: rows(pkgs),
  };
}

/** Busy milliseconds in each second of the profile (to find a measurement window). */
export function busyTimeline(file) {
  const prof = JSON.parse(fs.readFileSync(file, 'utf8'));
  const idleIds = new Set(prof.nodes.filter((n) => n.callFrame.functionName === '(idle)').map((n) => n.id));
  const perSecond = [];
  let at = 0;
  for (let i = 0; i < prof.samples.length; i++) {
    const d = prof.timeDeltas[i] || 0;
    at += d;
    const s = Math.floor(at / 1e6);
    perSecond[s] = (perSecond[s] || 0) + (idleIds.has(prof.samples[i]) ? 0 : d / 1000);
  }
  return Array.from(perSecond, (ms) => Math.round(ms || 0));
}

export function formatProfile(s) {
  const lines = [
    `CPU profile ${s.file}: ${s.busyMs} ms busy of ${s.totalMs} ms sampled; % of busy time`,
    '  top self time:',
  ];
  for (const r of s.functions)
    lines.push(`    ${String(r.pct).padStart(5)}%  ${String(r.ms).padStart(6)} ms  ${r.name}`);
  lines.push('  self time by package:');
  for (const r of s.packages)
    lines.push(`    ${String(r.pct).padStart(5)}%  ${String(r.ms).padStart(6)} ms  ${r.name}`);
  return lines.join('\n');
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const [file, top, range] = process.argv.slice(2);
  if (!file) {
    console.error(
      'usage: node bench/lib/cpuprofile-summary.mjs FILE.cpuprofile [TOP] [FROM_S-TO_S | timeline]',
    );
    process.exit(2);
  }
  if (range === 'timeline')
    console.log(
      busyTimeline(file)
        .map((ms, s) => `${s}s ${ms}ms`)
        .join('\n'),
    );
  else {
    const [fromS, toS] = (range ?? '').split('-').map(Number);
    const window = range ? { fromMs: fromS * 1000, toMs: toS * 1000 } : {};
    console.log(formatProfile(summarizeProfile(file, Number(top || 20), window)));
  }
}
