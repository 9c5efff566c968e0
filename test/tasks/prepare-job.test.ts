import { PutObjectCommand } from '@aws-sdk/client-s3';
import { describe, expect, test } from '@jest/globals';
import { JobNotFoundError, ValidationError } from '../../shared/errors.js';
import { scheduledJobId } from '../../shared/execution-input.js';
import { prepareJob } from '../../tasks/prepare-job.js';
import {
  TEST_BUCKET,
  TEST_MODEL,
  createJob,
  jsonl,
  newJobId,
  promptLines,
  requireJob,
  useTaskTestEnv,
} from '../support/deps.js';

const env = useTaskTestEnv();
const EXECUTION_ARN = 'arn:aws:states:us-east-1:123456789012:execution:llm-batch-job:run-1';

function scheduledInput(name: string, key: string, time = '2026-03-02T09:00:00Z') {
  return {
    schedule: { name, time },
    template: { jobType: 'prompt', options: { model: TEST_MODEL, batchSize: 5 }, input: { key } },
  };
}

function manifestPuts() {
  return env()
    .s3Mock.commandCalls(PutObjectCommand)
    .filter((call) => call.args[0].input.Key?.endsWith('/manifest.jsonl'));
}

describe('prepare job: a job started by the API', () => {
  test('marks the QUEUED job RUNNING with its execution and returns the map context', async () => {
    // Arrange
    const { job } = await createJob(env(), {
      lines: promptLines(3),
      options: { model: TEST_MODEL, batchSize: 2, maxConcurrency: 4 },
    });

    // Act
    const context = await prepareJob({ input: { jobId: job.jobId }, executionArn: EXECUTION_ARN }, env().deps);

    // Assert
    expect(context).toEqual({
      jobId: job.jobId,
      jobType: 'prompt',
      options: {
        mode: 'responses',
        model: TEST_MODEL,
        batchSize: 2,
        maxConcurrency: 4,
        toleratedFailurePercentage: 10,
        maxAttempts: 10,
        params: {},
      },
      paramsInRecord: false,
      manifest: { bucket: TEST_BUCKET, key: `jobs/${job.jobId}/manifest.jsonl` },
      batchSize: 2,
      maxConcurrency: 4,
      toleratedFailurePercentage: 10,
      duplicate: false,
    });
    const stored = await requireJob(env(), job.jobId);
    expect(stored.status).toBe('RUNNING');
    expect(stored.executionArn).toBe(EXECUTION_ARN);
    expect(stored.startedAt).toBe(env().clock.now().toISOString());
  });

  test('run again (a retried task) keeps the job RUNNING with its first start time', async () => {
    // Arrange
    const { job } = await createJob(env(), { lines: promptLines(1) });
    await prepareJob({ input: { jobId: job.jobId }, executionArn: EXECUTION_ARN }, env().deps);
    const firstStart = (await requireJob(env(), job.jobId)).startedAt;
    env().clock.advance(60_000);

    // Act
    const context = await prepareJob({ input: { jobId: job.jobId }, executionArn: EXECUTION_ARN }, env().deps);

    // Assert
    expect(context.jobId).toBe(job.jobId);
    const stored = await requireJob(env(), job.jobId);
    expect(stored.status).toBe('RUNNING');
    expect(stored.startedAt).toBe(firstStart);
  });

  test('a job that does not exist fails with JobNotFoundError', async () => {
    // Arrange
    const jobId = newJobId('missing');

    // Act
    const prepared = prepareJob({ input: { jobId }, executionArn: EXECUTION_ARN }, env().deps);

    // Assert
    await expect(prepared).rejects.toBeInstanceOf(JobNotFoundError);
    await expect(prepared).rejects.toMatchObject({ name: 'JobNotFoundError', jobId });
  });
});

describe('prepare job: a scheduled start', () => {
  test('creates the job once from the template file, with its manifest, and starts it', async () => {
    // Arrange
    const name = newJobId('nightly');
    env().s3.put(TEST_BUCKET, 'templates/nightly.jsonl', jsonl(promptLines(4)));
    const input = scheduledInput(name, 'templates/nightly.jsonl');

    // Act
    const context = await prepareJob({ input, executionArn: EXECUTION_ARN }, env().deps);

    // Assert
    const jobId = scheduledJobId(name, '2026-03-02T09:00:00Z');
    expect(context).toMatchObject({ jobId, batchSize: 5 });
    const job = await requireJob(env(), jobId);
    expect(job).toMatchObject({
      jobType: 'prompt',
      status: 'RUNNING',
      source: 'schedule',
      scheduleName: name,
      executionArn: EXECUTION_ARN,
    });
    expect(job.counts.total).toBe(4);
    const manifest = [];
    for await (const line of env().objects.readManifest(job.manifest)) manifest.push(line);
    expect(manifest.map((line) => line.customId)).toEqual(['item-000', 'item-001', 'item-002', 'item-003']);
    expect(manifest.map((line) => line.index)).toEqual([0, 1, 2, 3]);
  });

  test('a second start for the same schedule and time finds the same job, writes no second manifest, and is a duplicate', async () => {
    // Arrange
    const name = newJobId('hourly');
    env().s3.put(TEST_BUCKET, 'templates/hourly.jsonl', jsonl(promptLines(2)));
    const input = scheduledInput(name, 'templates/hourly.jsonl');
    const first = await prepareJob({ input, executionArn: EXECUTION_ARN }, env().deps);
    const createdAt = (await requireJob(env(), first.jobId)).createdAt;
    env().clock.advance(5_000);

    // Act
    const second = await prepareJob({ input, executionArn: `${EXECUTION_ARN}-again` }, env().deps);

    // Assert
    expect(first.duplicate).toBe(false);
    expect(second).toEqual({ ...first, duplicate: true });
    expect(manifestPuts()).toHaveLength(1);
    expect((await requireJob(env(), first.jobId)).executionArn).toBe(EXECUTION_ARN);
    expect((await requireJob(env(), first.jobId)).createdAt).toBe(createdAt);
  });

  test('a template with invalid lines fails with a ValidationError naming each line, and creates nothing', async () => {
    // Arrange
    const name = newJobId('broken');
    const lines = [
      JSON.stringify({ id: 'a', prompt: 'fine' }),
      JSON.stringify({ id: 'b' }),
      '{not json',
      JSON.stringify({ id: 'a', prompt: 'again' }),
    ];
    env().s3.put(TEST_BUCKET, 'templates/broken.jsonl', lines.join('\n') + '\n');
    const input = scheduledInput(name, 'templates/broken.jsonl');

    // Act
    const prepared = prepareJob({ input, executionArn: EXECUTION_ARN }, env().deps);

    // Assert
    const error = await prepared.then(
      () => undefined,
      (caught: unknown) => caught,
    );
    expect(error).toBeInstanceOf(ValidationError);
    const validation = error as ValidationError;
    expect(validation.name).toBe('ValidationError');
    expect(validation.issues.map((issue) => issue.where)).toEqual(['line 2: prompt', 'line 3', 'line 4']);
    expect(validation.message).toContain('line 2: prompt');
    expect(validation.message).toContain('line 4: duplicate id "a" (first seen at line 1)');
    expect(await env().store.getJob(scheduledJobId(name, '2026-03-02T09:00:00Z'))).toBeUndefined();
    expect(manifestPuts()).toHaveLength(0);
  });
  test('a template replaced between its check and its manifest fails as changed, and creates nothing', async () => {
    // Arrange: the file is read twice (checked, then streamed into the manifest); it changes after the first read.
    const name = newJobId('moving');
    const key = 'templates/moving.jsonl';
    env().s3.put(TEST_BUCKET, key, jsonl(promptLines(3)));
    env().s3.onGet = () => env().s3.put(TEST_BUCKET, key, jsonl(promptLines(4)));

    // Act
    const prepared = prepareJob({ input: scheduledInput(name, key), executionArn: EXECUTION_ARN }, env().deps);

    // Assert
    await expect(prepared).rejects.toThrow(`s3://${TEST_BUCKET}/${key} changed while it was read`);
    expect(await env().store.getJob(scheduledJobId(name, '2026-03-02T09:00:00Z'))).toBeUndefined();
    expect(manifestPuts()).toHaveLength(0);
  });
});

describe('prepare job: a second execution of a job', () => {
  test('is a duplicate when another execution owns the job, and changes nothing', async () => {
    // Arrange
    const { job } = await createJob(env(), { lines: promptLines(1) });
    await prepareJob({ input: { jobId: job.jobId }, executionArn: EXECUTION_ARN }, env().deps);
    const before = await requireJob(env(), job.jobId);

    // Act
    const context = await prepareJob(
      { input: { jobId: job.jobId }, executionArn: `${EXECUTION_ARN}-other` },
      env().deps,
    );

    // Assert
    expect(context.duplicate).toBe(true);
    expect(await requireJob(env(), job.jobId)).toEqual(before);
  });

  test('is a duplicate when the job has already ended', async () => {
    // Arrange
    const { job } = await createJob(env(), { lines: promptLines(1) });
    await env().deps.store.failJob(job.jobId, { name: 'Error', message: 'ended earlier' });

    // Act
    const context = await prepareJob({ input: { jobId: job.jobId }, executionArn: EXECUTION_ARN }, env().deps);

    // Assert
    expect(context.duplicate).toBe(true);
    expect((await requireJob(env(), job.jobId)).status).toBe('FAILED');
  });
});
