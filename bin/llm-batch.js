#!/usr/bin/env node
// The `llm-batch` command: runs the TypeScript CLI through tsx, so there is no build step.
import { register } from 'tsx/esm/api';

register();
const { main } = await import('../local/cli/main.ts');
const code = await main(process.argv.slice(2));
// Every server the runtime started is closed by now; exit without waiting on idle sockets.
process.exit(code);
