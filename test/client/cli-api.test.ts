import { mkdtemp, readFile, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import type { OutputLine } from '../../shared/types.js';
import { LAMBDA_EVENT_MAX_BYTES } from '../../tasks/api/request-limits.js';
import { cli, startCli, type RunningCli } from '../support/cli.js';

const ITEMS = 30;
/** 30 prompts of about 216 KB: a file over Lambda's 6 MB request limit, with few items to run. */
async function bigInput(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'llm-batch-client-cli-'));
  const file = join(dir, 'big.jsonl');
  const padding = 'lorem ipsum '.repeat(18_000);
  const lines = Array.from({ length: ITEMS }, (_, i) => JSON.stringify({ id: `big-${i}`, prompt: `${i}: ${padding}` }));
  await writeFile(file, lines.map((line) => `${line}\n`).join(''));
  return file;
}

describe('llm-batch run --api (on llm-batch serve)', () => {
  let serve: RunningCli;
  let api: string;

  beforeAll(async () => {
    serve = startCli(['serve', '--port', '0', '--mock-latency-ms', '200'], 300_000);
    [, api = ''] = await serve.waitFor(/HTTP API\s+(http:\/\/\S+)/);
  });
  afterAll(async () => {
    serve.kill('SIGTERM');
    await serve.done;
  });

  test('GIVEN a file over the 6 MB request limit WHEN run --api THEN it goes through POST /uploads and every item runs', async () => {
    // GIVEN
    const file = await bigInput();
    expect((await stat(file)).size).toBeGreaterThan(LAMBDA_EVENT_MAX_BYTES);

    // WHEN
    // Batch mode: one provider batch per item, which the mock finishes in a simulated minute.
    const result = await cli(['run', file, '--api', api, '--json', '--mode', 'batch', '--max-concurrency', '30']);

    // THEN
    expect(result.stderr).toMatch(
      new RegExp(
        `llm-batch: ${ITEMS} items are over one request's limit: uploaded to inputs/uploads/[0-9a-f-]{36}/items\\.jsonl\\n`,
      ),
    );
    const summary = JSON.parse(result.stdout.trim()) as { jobId: string };
    // The job's error, if any, shows in the failure message.
    const job = JSON.parse((await cli(['status', summary.jobId, '--api', api])).stdout) as { error?: unknown };
    const results = (await readFile(file.replace(/\.jsonl$/, '.results.jsonl'), 'utf8')).trim().split('\n');
    // A failed item's error line, if any, shows in the failure message too.
    const failedLines = results.filter((line) => (JSON.parse(line) as OutputLine).error);
    expect({ ...summary, error: job.error, failedLines }).toMatchObject({
      status: 'COMPLETED',
      total: ITEMS,
      succeeded: ITEMS,
      failedLines: [],
    });
    expect(results.map((line) => (JSON.parse(line) as OutputLine).custom_id).sort()).toEqual(
      Array.from({ length: ITEMS }, (_, i) => `big-${i}`).sort(),
    );
    expect(result.code).toBe(0);
  }, 180_000);

  test('GIVEN --auth jwt --token WHEN status THEN the flags are taken (serve ignores auth, as API Gateway would not)', async () => {
    const result = await cli(['status', 'job-nobody', '--api', api, '--auth', 'jwt', '--token', 'tok']);

    expect(result.stderr).toBe(
      `llm-batch: GET ${api}/jobs/job-nobody answered 404: JobNotFound: job job-nobody does not exist\n`,
    );
    expect(result.code).toBe(1);
  });
});

describe('llm-batch --api auth flags: a wrong combination is a usage error, before any request', () => {
  test.each([
    [['--auth', 'basic'], '--auth must be iam, jwt or none, got "basic"'],
    [['--auth', 'jwt'], '--auth jwt needs --token <token> (or LLM_BATCH_TOKEN)'],
    [['--token', 'tok'], '--token goes with --auth jwt (auth is none)'],
    [['--auth', 'none', '--profile', 'dev'], '--profile and --region go with --auth iam (auth is none)'],
  ])('GIVEN %j on an http URL THEN exit 2: %s', async (flags, message) => {
    const result = await cli(['status', 'job-1', '--api', 'http://127.0.0.1:9', ...flags]);

    expect(result.stderr).toBe(`llm-batch: ${message}\n`);
    expect(result.code).toBe(2);
  });

  test('GIVEN an https URL that is not an execute-api host and no --region THEN exit 2 asking for the region', async () => {
    const result = await cli(['status', 'job-1', '--api', 'https://api.example.com']);

    expect(result.stderr).toBe(
      'llm-batch: cannot tell the AWS region of api.example.com (not an execute-api host name): pass the region (--region)\n',
    );
    expect(result.code).toBe(2);
  });
});
