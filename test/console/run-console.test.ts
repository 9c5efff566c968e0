import { describe, expect, test } from '@jest/globals';
import { cli, startCli } from '../support/cli.js';
import { jsonlFile, promptLines } from './harness.js';

/** `llm-batch run --console`: the console is served while the run lasts, at the URL it prints. */

describe('llm-batch run --console', () => {
  test('GIVEN run --console WHEN the job runs THEN the printed URL serves the console and the job', async () => {
    const file = await jsonlFile('items.jsonl', promptLines(40));
    const run = startCli(['run', file, '--console', '--json', '--batch-size', '2', '--max-concurrency', '1']);

    const [, url, jobId] = await run.waitFor(/console at (http:\/\/127\.0\.0\.1:\d+)\/#\/jobs\/(job-[\w-]+) while/);
    const page = await fetch(`${url}/`);
    const view = await fetch(`${url}/console/api/jobs/${jobId}/run`);
    const job = await fetch(`${url}/jobs/${jobId}`);

    expect(page.headers.get('content-type')).toContain('text/html');
    await expect(page.text()).resolves.toContain('/console/app.js');
    expect(view.status).toBe(200);
    await expect(view.json()).resolves.toMatchObject({
      execution: { executionArn: expect.stringContaining(String(jobId)) },
    });
    await expect(job.json()).resolves.toMatchObject({ jobId, counts: { total: 40 } });
    const result = await run.done;
    expect(result.code).toBe(0);
    expect(JSON.parse(result.stdout.trim())).toMatchObject({ jobId, status: 'COMPLETED', total: 40 });
  }, 120_000);

  test('GIVEN --console with --api WHEN run THEN it is a usage error', async () => {
    const file = await jsonlFile('items.jsonl', promptLines(1));

    const result = await cli(['run', file, '--console', '--api', 'http://127.0.0.1:9']);

    expect(result.code).toBe(2);
    expect(result.stderr).toContain('--console serves the local runtime');
  });
});
