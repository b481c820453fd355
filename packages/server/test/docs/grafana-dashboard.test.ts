import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { test } from 'node:test';
import { startServer } from '../support/harness';

const DASHBOARD = resolve(__dirname, '../../../../../docs/grafana/switchboard-dashboard.json');

interface Panel {
  title: string;
  type: string;
  targets?: { expr: string }[];
}

// The dashboard operators import must only query series the server exports: a renamed metric
// would otherwise leave an empty panel nobody notices.
test('every metric the Grafana dashboard queries exists on /metrics', async () => {
  const dashboard = JSON.parse(readFileSync(DASHBOARD, 'utf8')) as { panels: Panel[]; __inputs: unknown[] };
  assert.ok(dashboard.__inputs.length > 0, 'importable: it asks for its Prometheus data source');
  const queried = new Set<string>();
  for (const panel of dashboard.panels.filter((p) => p.type !== 'row')) {
    assert.ok(panel.targets && panel.targets.length > 0, `${panel.title} has a query`);
    for (const { expr } of panel.targets)
      for (const [name] of expr.matchAll(/switchboard_[a-z0-9_]+/g))
        queried.add(name.replace(/_(bucket|sum|count)$/, ''));
  }
  const server = await startServer();
  try {
    const text = await (await fetch(`${server.url}/metrics`)).text();
    const exported = new Set([...text.matchAll(/^# TYPE (\S+) /gm)].map((m) => m[1]!));
    const missing = [...queried].filter((name) => !exported.has(name));
    assert.deepEqual(missing, [], 'queried but not exported');
    assert.ok(queried.size >= 15, `the dashboard covers ${queried.size} metrics`);
  } finally {
    await server.close();
  }
});
