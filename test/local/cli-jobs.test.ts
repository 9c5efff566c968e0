import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import type { OutputLine } from '../../shared/types.js';
import { cli, startCli, type RunningCli } from '../support/cli.js';

async function inputFile(count: number): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'llm-batch-cli-'));
  const file = join(dir, 'items.jsonl');
  const lines = Array.from({ length: count }, (_, i) => JSON.stringify({ id: `item-${i}`, prompt: `Say ${i}` }));
  await writeFile(file, lines.map((line) => `${line}\n`).join(''));
  return file;
}

async function resultIds(file: string): Promise<string[]> {
  const text = await readFile(file.replace(/\.jsonl$/, '.results.jsonl'), 'utf8');
  return text
    .trim()
    .split('\n')
    .map((line) => (JSON.parse(line) as OutputLine).custom_id)
    .sort();
}

function lastJsonLine(stdout: string): Record<string, unknown> {
  return JSON.parse(stdout.trim().split('\n').at(-1) ?? '{}') as Record<string, unknown>;
}

const allIds = (count: number) => Array.from({ length: count }, (_, i) => `item-${i}`).sort();
// Slow enough (sequential children, a simulated 4 s per provider call) that a signal lands mid-run.
const SLOW_JOB = ['--json', '--batch-size', '5', '--max-concurrency', '1', '--mock-latency-ms', '4000'];
const STARTED = /job (job-[\w-]+) started/;

describe('llm-batch run: the job id at start', () => {
  test('GIVEN --json WHEN the job starts THEN its id is on stderr and stdout holds only the summary', async () => {
    // Arrange
    const file = await inputFile(3);

    // Act
    const result = await cli(['run', file, '--json']);

    // Assert
    expect(result.code).toBe(0);
    const summary = lastJsonLine(result.stdout);
    expect(result.stderr).toContain(`llm-batch: job ${String(summary.jobId)} started`);
    expect(result.stdout.trim().split('\n')).toHaveLength(1);
  });
});

describe('llm-batch run: SIGTERM and Ctrl-C cancel the job gracefully', () => {
  test('GIVEN a local run WHEN SIGTERM arrives mid-run THEN the job is CANCELLED, every id is written once, exit 3', async () => {
    // Arrange
    const file = await inputFile(40);
    const run = startCli(['run', file, ...SLOW_JOB]);
    const [, jobId] = await run.waitFor(STARTED);

    // Act
    run.kill('SIGTERM');
    const result = await run.done;

    // Assert
    expect(result.stderr).toContain(`SIGTERM: cancelling job ${jobId}`);
    expect(lastJsonLine(result.stdout)).toMatchObject({ jobId, status: 'CANCELLED', total: 40 });
    expect(await resultIds(file)).toEqual(allIds(40));
    expect(result.code).toBe(3);
  });

  test('GIVEN a local run WHEN a second signal arrives THEN it quits at once, saying the job is left as it is', async () => {
    // Arrange
    const file = await inputFile(40);
    const run = startCli(['run', file, ...SLOW_JOB]);
    const [, jobId] = await run.waitFor(STARTED);
    run.kill('SIGTERM');
    await run.waitFor(/cancelling job/);

    // Act
    run.kill('SIGINT');
    const result = await run.done;

    // Assert
    expect(result.stderr).toContain(`SIGINT again: quitting at once; job ${jobId} is left as it is`);
    expect(result.stdout).toBe('');
    expect(result.code).toBe(1);
  });

  describe('on an API (llm-batch serve)', () => {
    let serve: RunningCli;
    let api: string;

    beforeAll(async () => {
      serve = startCli(['serve', '--port', '0']);
      [, api = ''] = await serve.waitFor(/HTTP API\s+(http:\/\/\S+)/);
    });

    afterAll(async () => {
      serve.kill('SIGTERM');
      await serve.done;
    });

    test('GIVEN run --api WHEN Ctrl-C arrives mid-run THEN the remote job is cancelled, results written, exit 3', async () => {
      // Arrange
      const file = await inputFile(40);
      const run = startCli(['run', file, '--api', api, ...SLOW_JOB]);
      const [, jobId] = await run.waitFor(STARTED);

      // Act
      run.kill('SIGINT');
      const result = await run.done;

      // Assert
      expect(lastJsonLine(result.stdout)).toMatchObject({ jobId, status: 'CANCELLED', total: 40 });
      expect(await resultIds(file)).toEqual(allIds(40));
      expect(result.code).toBe(3);
      const status = await cli(['status', jobId ?? '', '--api', api]);
      expect(JSON.parse(status.stdout)).toMatchObject({ status: 'CANCELLED' });
    });

    test('GIVEN an unknown job WHEN status THEN one line names the job and the URL, and --debug adds the stack', async () => {
      // Act
      const plain = await cli(['status', 'job-nobody', '--api', api]);
      const debug = await cli(['status', 'job-nobody', '--api', api, '--debug']);

      // Assert
      expect(plain.code).toBe(1);
      expect(plain.stderr).toBe(
        `llm-batch: GET ${api}/jobs/job-nobody answered 404: JobNotFound: job job-nobody does not exist\n`,
      );
      expect(debug.code).toBe(1);
      expect(debug.stderr).toContain('LlmBatchApiError');
      expect(debug.stderr).toMatch(/\n\s+at /);
    });
  });
});
