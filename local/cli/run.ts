import { createDefaultRegistry } from '../../shared/job-types/registry.js';
import { readJobInput } from './input.js';
import { checkOutPath, defaultOutPath } from './out-path.js';
import { apiClientFor } from './api-client.js';
import { runOnApi } from './run-api.js';
import { runLocally } from './run-local.js';
import type { RunOptions } from './run-summary.js';

/** `llm-batch run <items.jsonl>`: one job, start to end, with progress; returns the exit code. */
export async function runJob(options: RunOptions): Promise<number> {
  // Check the whole input and the results path before starting anything: bad input creates no job,
  // and a finished job's results always have somewhere to go; bad auth flags neither.
  const client = options.api ? apiClientFor(options.api, options.apiAuth) : undefined;
  const input = await readJobInput(options.file, options.request, createDefaultRegistry());
  const outPath = options.out ?? defaultOutPath(options.file);
  await checkOutPath(outPath, options.file);
  return options.api && client
    ? runOnApi(options, options.api, client, input, outPath)
    : runLocally(options, input, outPath);
}
