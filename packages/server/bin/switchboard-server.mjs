#!/usr/bin/env node
// `npx @switchboard/server`: the server exactly as `npm start` runs it (environment, ./.env, PORT, HOST).
// A wrapper because the compiled entry point has no shebang.
import '../dist/src/main.js';
