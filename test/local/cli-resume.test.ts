import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, test } from '@jest/globals';
import type { OutputLine } from '../../shared/types.js';
import { cli, startCli } from '../support/cli.js';

const ITEMS = 40;
// A job that cannot end while the test looks at it: each request takes a minute of wall time.
const SLOW = ['--batch-size', '5', '--max-concurrency', '1', '--time-scale', '1', '--mock-latency-ms', '60000'];
// The same job options (batch size, concurrency): only the mock's latency, a runtime knob, differs.
const FAST = ['--batch-size', '5', '--max-concurrency', '1', '--mock-latency-ms', '50'];
const STARTED = /job (job-[\w-]+) started/;

async function setUp(): Promise<{ file: string; dataDir: string; results: string }> {
  const dir = await mkdtemp(join(tmpdir(), 'llm-batch-cli-resume-'));
  const file = join(dir, 'items.jsonl');
  const lines = Array.from({ length: ITEMS }, (_, i) => JSON.stringify({ id: `item-${i}`, prompt: `Say ${i}` }));
  await writeFile(file, lines.map((line) => `${line}\n`).join(''));
  return { file, dataDir: join(dir, 'data'), results: join(dir, 'items.results.jsonl') };
}

async function resultIds(file: string): Promise<string[]> {
  const text = await readFile(file, 'utf8');
  return text
    .trim()
    .split('\n')
    .map((line) => (JSON.parse(line) as OutputLine).custom_id)
    .sort();
}

const allIds = Array.from({ length: ITEMS }, (_, i) => `item-${i}`).sort();
const lastJson = <T>(stdout: string) => JSON.parse(stdout.trim().split('\n').at(-1) ?? '{}') as T;

describe('llm-batch and a data dir: one process at a time, jobs, --new, resume by re-running', () => {
  test('GIVEN a run holding a data dir WHEN others open it, it is killed, and the same run comes again THEN they are refused, the job is listed resumable, --new makes another job, and the re-run resumes the first', async () => {
    // Arrange
    const { file, dataDir, results } = await setUp();
    const first = startCli(['run', file, '--data-dir', dataDir, '--json', ...SLOW]);
    const [, firstJob] = await first.waitFor(STARTED);

    // Act
    const jobsWhileHeld = await cli(['jobs', '--data-dir', dataDir]);
    const serveWhileHeld = await cli(['serve', '--data-dir', dataDir, '--port', '0'], 60_000);
    first.kill('SIGKILL');
    await first.done;
    const fresh = await cli(['run', file, '--data-dir', dataDir, '--json', '--new', ...FAST]);
    const listed = await cli(['jobs', '--data-dir', dataDir, '--json']);
    const again = await cli(['run', file, '--data-dir', dataDir, '--json', ...FAST]);

    // Assert
    const held = new RegExp(
      `^llm-batch: data dir ${dataDir} is in use by another llm-batch process \\(pid \\d+: llm-batch run ${file} .*\\); ` +
        'wait for it to end or stop it, or use another --data-dir\\n$',
    );
    expect(jobsWhileHeld).toMatchObject({ code: 2, stdout: '' });
    expect(jobsWhileHeld.stderr).toMatch(held);
    expect(serveWhileHeld.code).toBe(2);
    expect(serveWhileHeld.stderr).toMatch(held);
    expect(fresh.code).toBe(0);
    const freshJob = lastJson<{ jobId: string }>(fresh.stdout).jobId;
    expect(freshJob).not.toBe(firstJob);
    expect(lastJson<unknown[]>(listed.stdout)).toMatchObject([
      { jobId: freshJob, status: 'COMPLETED', resumable: false, done: ITEMS, total: ITEMS },
      { jobId: firstJob, status: 'RUNNING', resumable: true, total: ITEMS, input: file },
    ]);
    expect(again.stderr).toMatch(new RegExp(`llm-batch: resuming job ${firstJob} \\(\\d+ of ${ITEMS} items done\\)`));
    expect(again.code).toBe(0);
    expect(lastJson(again.stdout)).toMatchObject({ jobId: firstJob, status: 'COMPLETED', succeeded: ITEMS });
    expect(await resultIds(results)).toEqual(allIds);
  }, 180_000);
});

describe('llm-batch resume: a job left by a second signal', () => {
  test('GIVEN a data-dir run quit by a second SIGTERM WHEN resumed by id THEN the job ends, with every id once in the results', async () => {
    // Arrange
    const { file, dataDir, results } = await setUp();
    const run = startCli(['run', file, '--data-dir', dataDir, '--json', ...SLOW]);
    const [, jobId] = await run.waitFor(STARTED);
    run.kill('SIGTERM');
    await run.waitFor(/cancelling job/);
    run.kill('SIGTERM');
    const quit = await run.done;

    // Act
    const resumed = await cli(['resume', jobId as string, '--data-dir', dataDir, '--json', ...FAST]);
    const unknown = await cli(['resume', 'job-nobody', '--data-dir', dataDir]);

    // Assert
    expect(quit.code).toBe(1);
    expect(quit.stderr).toContain(`resume it with: llm-batch resume ${jobId} --data-dir ${dataDir}`);
    expect(resumed.stderr).toMatch(new RegExp(`resuming job ${jobId} \\(\\d+ of ${ITEMS} items done\\)`));
    const summary = lastJson<{ status: string; succeeded: number; failed: number; cancelled: number }>(resumed.stdout);
    // Ends its cancel if the first signal's cancel was recorded before the second quit, else runs to the end.
    expect([
      { status: 'CANCELLED', code: 3 },
      { status: 'COMPLETED', code: 0 },
    ]).toContainEqual({ status: summary.status, code: resumed.code });
    expect(summary).toMatchObject({ jobId, total: ITEMS });
    expect(summary.succeeded + summary.failed + summary.cancelled).toBe(ITEMS);
    expect(await resultIds(results)).toEqual(allIds);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toBe(
      `llm-batch: job job-nobody is not in data dir ${dataDir}; llm-batch jobs --data-dir ${dataDir} lists the jobs there\n`,
    );
  }, 120_000);
});
