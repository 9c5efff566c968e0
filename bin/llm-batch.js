#!/usr/bin/env node
// The `llm-batch` command. Installed from the package, it runs the compiled CLI (dist/, built by
// `npm pack`); in the repository, the TypeScript sources through tsx, so there is no build step.
import { existsSync } from 'node:fs';
import { setFlagsFromString } from 'node:v8';

// A long local job allocates fast and keeps little (about 150 MB live at 100,000 items): V8's
// default lets the heap grow to four times that before a full collection. Growing it by half
// keeps peak RSS near 600 MB at 100,000 items for no measurable CPU (docs/benchmarks.md).
setFlagsFromString('--heap-growing-percent=50');

const compiled = new URL('../dist/local/cli/main.js', import.meta.url);
let main;
if (existsSync(compiled)) {
  ({ main } = await import(compiled.href));
} else {
  const { register } = await import('tsx/esm/api');
  register();
  ({ main } = await import('../local/cli/main.ts'));
}
const code = await main(process.argv.slice(2));
// Every server the runtime started is closed by now; exit without waiting on idle sockets.
process.exit(code);
