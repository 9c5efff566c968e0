import { PutObjectCommand } from '@aws-sdk/client-s3';
import { ExecutionAlreadyExists, SFNServiceException, StartExecutionCommand } from '@aws-sdk/client-sfn';
import { describe, expect, test } from '@jest/globals';
import { executionArnOf } from '../../tasks/api/jobs-api.js';
import {
  TEST_REGION,
  TEST_STATE_MACHINE_ARN,
  errorOf,
  jobIdForKey,
  jobOf,
  postJob,
  promptJobBody,
  startedExecution,
  useApiTestEnv,
  type ApiTestEnv,
} from '../support/api.js';
import { TEST_BUCKET, TEST_MODEL, jsonl, promptLines, requireJob } from '../support/deps.js';
import { manifestOf } from './manifest-of.js';

const env = useApiTestEnv();

function startCalls(e: ApiTestEnv) {
  return e.sfnMock.commandCalls(StartExecutionCommand).map((call) => call.args[0].input);
}

async function manifestIds(e: ApiTestEnv, jobId: string): Promise<string[]> {
  return (await manifestOf(e, jobId)).map((line) => line.customId);
}

function throttled(): SFNServiceException {
  return new SFNServiceException({
    name: 'ThrottlingException',
    $fault: 'client',
    $metadata: { httpStatusCode: 400 },
    message: 'Rate exceeded',
  });
}

describe('POST /jobs', () => {
  test('items: 202 with the job view and Location; the manifest and QUEUED job are written and the execution is started named after the job', async () => {
    // Arrange
    const e = env();

    // Act
    const response = await e.request('POST', '/jobs', { body: promptJobBody(3, { batchSize: 2 }) });

    // Assert
    expect(response.status).toBe(202);
    const job = jobOf(response);
    expect(job.jobId).toMatch(/^job-[0-9a-f-]{36}$/);
    expect(response.headers.location).toBe(`/jobs/${job.jobId}`);
    const arn = executionArnOf(TEST_STATE_MACHINE_ARN, job.jobId);
    expect(job).toMatchObject({
      jobType: 'prompt',
      status: 'QUEUED',
      source: 'api',
      options: { mode: 'responses', model: TEST_MODEL, batchSize: 2 },
      counts: { total: 3, submitted: 0, succeeded: 0, failed: 0, cancelled: 0 },
      progress: { finished: 0, total: 3, percent: 0 },
      createdAt: '2026-03-02T09:00:00.000Z',
      execution: {
        arn,
        consoleUrl: `https://${TEST_REGION}.console.aws.amazon.com/states/home?region=${TEST_REGION}#/v2/executions/details/${arn}`,
      },
      links: {
        self: `/jobs/${job.jobId}`,
        items: `/jobs/${job.jobId}/items`,
        results: `/jobs/${job.jobId}/results`,
        logs: `/jobs/${job.jobId}/logs`,
        cancel: `/jobs/${job.jobId}/cancel`,
      },
    });
    expect(startCalls(e)).toEqual([
      { stateMachineArn: TEST_STATE_MACHINE_ARN, name: job.jobId, input: JSON.stringify({ jobId: job.jobId }) },
    ]);
    expect(await manifestIds(e, job.jobId)).toEqual(['item-000', 'item-001', 'item-002']);
    expect(await requireJob(e, job.jobId)).toMatchObject({
      status: 'QUEUED',
      executionArn: arn,
      manifest: {
        bucket: TEST_BUCKET,
        key: expect.stringMatching(new RegExp(`^jobs/${job.jobId}/manifest-[0-9a-f-]{36}\\.jsonl$`)),
      },
    });
  });

  test('input.key: the items come from a JSONL file in the job bucket', async () => {
    // Arrange
    const e = env();
    e.s3.put(TEST_BUCKET, 'inputs/five.jsonl', jsonl(promptLines(5, 'line')));

    // Act
    const job = await postJob(e, {
      jobType: 'prompt',
      options: { model: TEST_MODEL },
      input: { key: 'inputs/five.jsonl' },
    });

    // Assert
    expect(job.counts.total).toBe(5);
    expect(await manifestIds(e, job.jobId)).toEqual(['line-000', 'line-001', 'line-002', 'line-003', 'line-004']);
    expect(startCalls(e)).toHaveLength(1);
  });

  test('a base64-encoded body (as API Gateway sends binary media types) is read like a plain one', async () => {
    // Arrange
    const e = env();

    // Act
    const response = await e.request('POST', '/jobs', { body: promptJobBody(2), base64: true });

    // Assert
    expect(response.status).toBe(202);
    expect(jobOf(response).counts.total).toBe(2);
  });

  test('the view never shows the request hash kept for Idempotency-Key checks', async () => {
    // Arrange
    const e = env();

    // Act
    const job = await postJob(e, promptJobBody(1), { 'Idempotency-Key': 'hash-hidden' });

    // Assert
    expect((await requireJob(e, job.jobId)).requestHash).toMatch(/^[0-9a-f]{64}$/);
    expect(job).not.toHaveProperty('requestHash');
  });

  test('the manifest is written before the job: if it cannot be written there is no job and no execution', async () => {
    // Arrange
    const e = env();
    e.s3Mock.on(PutObjectCommand).rejects(new Error('S3 is down'));

    // Act
    const response = await e.request('POST', '/jobs', {
      body: promptJobBody(2),
      headers: { 'Idempotency-Key': 'manifest-fails' },
    });

    // Assert
    expect(response.status).toBe(500);
    expect(await e.store.getJob(jobIdForKey('manifest-fails'))).toBeUndefined();
    expect(startCalls(e)).toEqual([]);
  });
});

describe('POST /jobs with an Idempotency-Key', () => {
  test('a repeat answers the same job, marked replayed, and starts no second execution', async () => {
    // Arrange
    const e = env();
    const headers = { 'Idempotency-Key': 'nightly-2026-03-02' };
    const first = await e.request('POST', '/jobs', { body: promptJobBody(2), headers });

    // Act
    const repeat = await e.request('POST', '/jobs', {
      body: promptJobBody(2),
      headers: { 'idempotency-key': 'nightly-2026-03-02' },
    });

    // Assert
    expect(first.status).toBe(202);
    expect(first.headers['idempotent-replayed']).toBeUndefined();
    expect(repeat.status).toBe(202);
    expect(repeat.headers['idempotent-replayed']).toBe('true');
    expect(jobOf(repeat).jobId).toBe(jobOf(first).jobId);
    expect(jobOf(repeat).jobId).toBe(jobIdForKey('nightly-2026-03-02'));
    expect(repeat.headers.location).toBe(`/jobs/${jobOf(first).jobId}`);
    expect(jobOf(repeat).execution).toEqual(jobOf(first).execution);
    expect(startCalls(e)).toHaveLength(1);
    expect(e.s3Mock.commandCalls(PutObjectCommand)).toHaveLength(1);
  });

  test('two identical requests at once (a client retrying a slow call) end in one job and one execution name', async () => {
    // Arrange
    const e = env();
    const headers = { 'Idempotency-Key': 'concurrent' };

    // Act
    const [a, b] = await Promise.all([
      e.request('POST', '/jobs', { body: promptJobBody(3), headers }),
      e.request('POST', '/jobs', { body: promptJobBody(3), headers }),
    ]);

    // Assert
    expect([a.status, b.status]).toEqual([202, 202]);
    expect(jobOf(a).jobId).toBe(jobIdForKey('concurrent'));
    expect(jobOf(b).jobId).toBe(jobIdForKey('concurrent'));
    expect(new Set(startCalls(e).map((input) => input.name))).toEqual(new Set([jobIdForKey('concurrent')]));
    expect(await manifestIds(e, jobIdForKey('concurrent'))).toEqual(['item-000', 'item-001', 'item-002']);
    expect(await requireJob(e, jobIdForKey('concurrent'))).toMatchObject({
      counts: { total: 3 },
      executionArn: executionArnOf(TEST_STATE_MACHINE_ARN, jobIdForKey('concurrent')),
    });
  });

  test('the key reused with another body -> 409, and the first job is left as it was', async () => {
    // Arrange
    const e = env();
    const headers = { 'Idempotency-Key': 'reused' };
    const first = await postJob(e, promptJobBody(2), headers);

    // Act
    const reuse = await e.request('POST', '/jobs', { body: promptJobBody(3), headers });

    // Assert
    expect(reuse.status).toBe(409);
    expect(errorOf(reuse)).toEqual({
      code: 'IdempotencyKeyReused',
      message: 'this Idempotency-Key was used for a different request',
    });
    expect((await requireJob(e, first.jobId)).counts.total).toBe(2);
    expect(await manifestIds(e, first.jobId)).toHaveLength(2);
    expect(startCalls(e)).toHaveLength(1);
  });

  test('StartExecution throttled once: 503, then the client retries with the same key and the execution starts', async () => {
    // Arrange
    const e = env();
    const headers = { 'Idempotency-Key': 'throttled-once' };
    const jobId = jobIdForKey('throttled-once');
    e.sfnMock.on(StartExecutionCommand).rejectsOnce(throttled()).callsFake(startedExecution);
    const failed = await e.request('POST', '/jobs', { body: promptJobBody(2), headers });

    // Act
    const retry = await e.request('POST', '/jobs', { body: promptJobBody(2), headers });

    // Assert
    expect(failed.status).toBe(503);
    expect(errorOf(failed).code).toBe('StartFailed');
    expect(errorOf(failed).message).toContain('same Idempotency-Key');
    expect(retry.status).toBe(202);
    expect(retry.headers['idempotent-replayed']).toBe('true');
    const arn = executionArnOf(TEST_STATE_MACHINE_ARN, jobId);
    expect(jobOf(retry)).toMatchObject({ jobId, status: 'QUEUED', execution: { arn } });
    expect(await requireJob(e, jobId)).toMatchObject({ executionArn: arn, counts: { total: 2 } });
    const expected = { stateMachineArn: TEST_STATE_MACHINE_ARN, name: jobId, input: JSON.stringify({ jobId }) };
    expect(startCalls(e)).toEqual([expected, expected]);
    expect(e.s3Mock.commandCalls(PutObjectCommand)).toHaveLength(1);
  });

  test('ExecutionAlreadyExists on a retry (the first start went through, its answer was lost) is a success', async () => {
    // Arrange: the first StartExecution timed out after Step Functions started the execution
    const e = env();
    const headers = { 'Idempotency-Key': 'answer-lost' };
    const jobId = jobIdForKey('answer-lost');
    e.sfnMock
      .on(StartExecutionCommand)
      .rejectsOnce(new Error('socket hang up'))
      .rejectsOnce(
        new ExecutionAlreadyExists({
          message: `Execution Already Exists: '${executionArnOf(TEST_STATE_MACHINE_ARN, jobId)}'`,
          $metadata: {},
        }),
      );
    await e.request('POST', '/jobs', { body: promptJobBody(1), headers });

    // Act
    const retry = await e.request('POST', '/jobs', { body: promptJobBody(1), headers });

    // Assert
    expect(retry.status).toBe(202);
    expect(jobOf(retry).execution?.arn).toBe(executionArnOf(TEST_STATE_MACHINE_ARN, jobId));
    expect((await requireJob(e, jobId)).executionArn).toBe(executionArnOf(TEST_STATE_MACHINE_ARN, jobId));
    expect(startCalls(e)).toHaveLength(2);
  });
});

describe('a failure of ours', () => {
  test('-> 500 that says nothing internal, and the error is logged with its stack', async () => {
    // Arrange
    const e = env();
    const secret = 'User: arn:aws:sts::123456789012:assumed-role/api-role is not authorized to perform: s3:PutObject';
    e.s3Mock.on(PutObjectCommand).rejects(new Error(secret));

    // Act
    const response = await e.request('POST', '/jobs', { body: promptJobBody(1) });

    // Assert
    expect(response.status).toBe(500);
    expect(response.json).toEqual({
      error: { code: 'InternalError', message: 'the request failed; see the API logs' },
    });
    expect(response.text).not.toContain('arn:aws');
    const logged = e.logger.lines.filter((line) => line.level === 'error');
    expect(logged).toHaveLength(1);
    expect(logged[0]?.message).toBe('request failed');
    expect(String(logged[0]?.extra[0]?.error)).toContain(secret);
  });

  test('a job that cannot be started, sent without an Idempotency-Key, ends FAILED rather than staying QUEUED: 503', async () => {
    // Arrange
    const e = env();
    e.sfnMock.on(StartExecutionCommand).rejects(
      new SFNServiceException({
        name: 'AccessDeniedException',
        $fault: 'client',
        $metadata: { httpStatusCode: 400 },
        message: 'not authorized',
      }),
    );

    // Act
    const response = await e.request('POST', '/jobs', { body: promptJobBody(1) });

    // Assert
    expect(response.status).toBe(503);
    expect(errorOf(response)).toMatchObject({ code: 'StartFailed' });
    const page = await e.deps.store.listJobs({ limit: 1000 });
    const notStarted = page.items.filter((job) => job.error?.name === 'StartExecutionFailed');
    expect(notStarted).toHaveLength(1);
    expect(notStarted[0]).toMatchObject({ status: 'FAILED', source: 'api' });
    expect(response.headers.location).toBeUndefined();
  });
});
