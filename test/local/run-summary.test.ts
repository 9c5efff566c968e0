import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, test } from '@jest/globals';
import { summaryOf } from '../../local/cli/run-summary.js';
import { cli } from '../support/cli.js';

const COUNTS = { total: 10, submitted: 10, succeeded: 9, failed: 1, cancelled: 0 };

describe('the run summary', () => {
  test("GIVEN an ended job record WHEN summarized THEN it carries the items' attempts and the job's provider calls", () => {
    const summary = summaryOf(
      {
        jobId: 'job-1',
        status: 'COMPLETED_WITH_ERRORS',
        counts: COUNTS,
        attempts: { mean: 1.3, max: 3 },
        providerSubmitCalls: 14,
        providerPollCalls: 40,
        providerRateLimited: 2,
      },
      Date.now(),
    );

    expect(summary).toMatchObject({
      attempts: { mean: 1.3, max: 3 },
      providerCalls: { submit: 14, poll: 40, rateLimited: 2 },
    });
  });

  test('GIVEN a job that ended without its reducer WHEN summarized THEN attempts is null and the calls are zero', () => {
    const summary = summaryOf({ jobId: 'job-2', status: 'FAILED', counts: COUNTS }, Date.now());

    expect(summary).toMatchObject({ attempts: null, providerCalls: { submit: 0, poll: 0, rateLimited: 0 } });
  });

  test('GIVEN a batch-mode run WHEN --json THEN the line has attempts per item and the provider calls', async () => {
    // Arrange
    const dir = await mkdtemp(join(tmpdir(), 'llm-batch-summary-'));
    const file = join(dir, 'items.jsonl');
    const lines = Array.from({ length: 12 }, (_, i) => JSON.stringify({ id: `item-${i}`, prompt: `About ${i}` }));
    await writeFile(file, `${lines.join('\n')}\n`);

    // Act
    const result = await cli([
      'run',
      file,
      '--json',
      '--mode',
      'batch',
      '--batch-size',
      '5',
      // Time scale 20, not faster: a task's claim lasts its timeout in simulated time, and on a
      // loaded machine a faster clock let claims lapse, so takeovers' look-ups counted as creates.
      '--time-scale',
      '20',
      '--mock-batch-duration-ms',
      '20000',
    ]);

    // Assert: 3 provider batches, each created once and polled at least once; every item sent once.
    const summary = JSON.parse(result.stdout.trim().split('\n').at(-1) ?? '{}') as Record<string, unknown>;
    expect(result.code).toBe(0);
    expect(summary).toMatchObject({ status: 'COMPLETED', total: 12, attempts: { mean: 1, max: 1 } });
    const calls = summary.providerCalls as { submit: number; poll: number; rateLimited: number };
    expect(calls.submit).toBe(3);
    expect(calls.poll).toBeGreaterThanOrEqual(3);
    expect(calls.rateLimited).toBe(0);
  }, 120_000);
});
