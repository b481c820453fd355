import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

function findRepoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'packages', 'server', 'package.json'))) {
    const parent = dirname(dir);
    if (parent === dir) throw new Error('repository root not found');
    dir = parent;
  }
  return dir;
}

export const REPO_ROOT = findRepoRoot();
/** The compiled server entry point, as `npm start` runs it. */
export const SERVER_MAIN = join(REPO_ROOT, 'packages', 'server', 'dist', 'src', 'main.js');
/** The demo build the server serves at `/`. */
export const DEMO_INDEX = join(REPO_ROOT, 'packages', 'client', 'dist', 'public', 'index.html');
