import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, it } from 'node:test';
import { envSchema, loadConfig } from '../../src/config/config';

const root = resolve(__dirname, '../../../../..');
const read = (p: string) => readFileSync(resolve(root, p), 'utf8');

function parseEnvFile(text: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const m = /^([A-Z0-9_]+)=(.*)$/.exec(line);
    if (m) env[m[1]!] = m[2]!;
  }
  return env;
}

// Operators configure from .env.example and the README; both must list what the server reads.
describe('configuration docs', () => {
  const variables = Object.keys(envSchema.shape).sort();

  it('.env.example lists every variable the server reads, and nothing else', () => {
    assert.deepEqual(Object.keys(parseEnvFile(read('.env.example'))).sort(), variables);
  });

  it('.env.example values are the defaults', () => {
    assert.deepEqual(loadConfig(parseEnvFile(read('.env.example'))), loadConfig({}));
  });

  it('the README configuration table lists every variable', () => {
    const readme = read('README.md');
    const inTable = [...readme.matchAll(/^\| `([A-Z0-9_]+)` \|/gm)].map((m) => m[1]).sort();
    assert.deepEqual(inTable, variables);
  });

  it('docs/protocol.md documents every error code', async () => {
    const { ERROR_CODES } = await import('@switchboard/protocol');
    const doc = read('docs/protocol.md');
    for (const code of ERROR_CODES) assert.match(doc, new RegExp('`' + code + '`'), code);
  });
});
