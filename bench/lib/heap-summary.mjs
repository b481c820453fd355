/**
 * Summarises a V8 .heapsnapshot: self size and count per node type and constructor/name, largest
 * first. Usage: node bench/lib/heap-summary.mjs FILE.heapsnapshot [TOP] [PER_N]
 * (PER_N divides sizes and counts, e.g. the number of peers, to read "bytes per peer").
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export function summarizeHeap(file, top = 25) {
  const snap = JSON.parse(fs.readFileSync(file, 'utf8'));
  const meta = snap.snapshot.meta;
  const fields = meta.node_fields;
  const types = meta.node_types[0];
  const nf = fields.length;
  const iType = fields.indexOf('type');
  const iName = fields.indexOf('name');
  const iSize = fields.indexOf('self_size');
  const nodes = snap.nodes;
  const strings = snap.strings;
  const groups = new Map();
  let total = 0;
  for (let i = 0; i < nodes.length; i += nf) {
    const type = types[nodes[i + iType]];
    const size = nodes[i + iSize];
    total += size;
    let name;
    if (type === 'object' || type === 'closure' || type === 'native')
      name = `${type} ${strings[nodes[i + iName]]}`;
    else name = `(${type})`;
    const g = groups.get(name) || { name, size: 0, count: 0 };
    g.size += size;
    g.count += 1;
    groups.set(name, g);
  }
  const rows = [...groups.values()].sort((a, b) => b.size - a.size).slice(0, top);
  return { file, totalBytes: total, rows };
}

export function diffHeaps(a, b) {
  // b - a by group name
  const map = new Map(a.rows.map((r) => [r.name, r]));
  return b.rows.map((r) => ({
    name: r.name,
    size: r.size - (map.get(r.name)?.size || 0),
    count: r.count - (map.get(r.name)?.count || 0),
  }));
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const file = process.argv[2];
  if (!file) {
    console.error('usage: node bench/lib/heap-summary.mjs FILE.heapsnapshot [TOP] [PER_N]');
    process.exit(2);
  }
  const per = Number(process.argv[4] || 1);
  const s = summarizeHeap(file, Number(process.argv[3] || 25));
  console.log(
    `${file}: ${(s.totalBytes / 2 ** 20).toFixed(1)} MB${per > 1 ? `, per ${per}: ${(s.totalBytes / per).toFixed(0)} B` : ''}`,
  );
  for (const r of s.rows) {
    const size =
      per > 1
        ? `${(r.size / per).toFixed(0).padStart(8)} B/n`
        : `${(r.size / 2 ** 20).toFixed(2).padStart(8)} MB`;
    const count = per > 1 ? `${(r.count / per).toFixed(2).padStart(8)} /n` : String(r.count).padStart(9);
    console.log(`  ${size}  ${count}  ${r.name}`);
  }
}
