import {
  type AttributeValue,
  ConditionalCheckFailedException,
  DynamoDBClient,
  ProvisionedThroughputExceededException,
  ThrottlingException,
} from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, GetCommand, PutCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, afterEach, describe, expect, test } from '@jest/globals';
import { RECORD_ABSENT, allOf, anyOf, conditionFields } from '../../shared/store/conditions.js';
import { ITEM_QUEUED } from '../../shared/store/item-records.js';
import { ITEM_SHARDS, itemKey } from '../../shared/store/item-shards.js';
import { JobStore } from '../../shared/store/job-store.js';
import { leaseFree, leaseHeld } from '../../shared/store/lease.js';
import type { JobRecord, OutputLine } from '../../shared/types.js';

/**
 * What a real table cannot be made to do on demand: throttle, or lose a condition between a
 * read and a write. The document client is mocked; each test says what DynamoDB answers.
 */
const dynamoMock = mockClient(DynamoDBDocumentClient);
const TABLE = 'jobs';
const NOW = new Date('2026-03-02T09:00:00.000Z');

afterEach(() => {
  dynamoMock.reset();
});
afterAll(() => {
  dynamoMock.restore();
});

function newStore(): JobStore {
  const client = DynamoDBDocumentClient.from(
    new DynamoDBClient({ region: 'us-east-1', credentials: { accessKeyId: 'test', secretAccessKey: 'test' } }),
  );
  return new JobStore(client, TABLE, 7, () => NOW);
}

/** Reads of whole records: not the job's shard count (read once per job and process, item-shards.ts). */
function recordReads() {
  return dynamoMock.commandCalls(GetCommand).filter((call) => call.args[0].input.ProjectionExpression === undefined);
}

const metadata = { $metadata: { httpStatusCode: 400 } };
const queuedJob: JobRecord = {
  jobId: 'job-1',
  jobType: 'prompt',
  status: 'QUEUED',
  options: { model: 'gpt-4.1-mini' } as JobRecord['options'],
  manifest: { bucket: 'jobs-bucket', key: 'jobs/job-1/manifest.jsonl' },
  counts: { total: 1, submitted: 0, succeeded: 0, failed: 0, cancelled: 0 },
  usage: { inputTokens: 0, outputTokens: 0 },
  source: 'api',
  createdAt: NOW.toISOString(),
  updatedAt: NOW.toISOString(),
};

/**
 * A failed condition as DynamoDB answers a write that asked for ReturnValuesOnConditionCheckFailure: the record it met,
 * as attribute values.
 */
function conditionFailedMeeting(item: Record<string, AttributeValue> | undefined) {
  return new ConditionalCheckFailedException({
    message: 'The conditional request failed',
    ...metadata,
    ...(item && { Item: item }),
  });
}
const failedOutput: OutputLine = {
  id: 'llmb_1',
  custom_id: 'item-1',
  response: null,
  error: { code: 'boom', message: 'it broke' },
};

describe('job store: errors Step Functions must see', () => {
  test('a throttled finishItem propagates with its name, so the task fails and Step Functions retries it', async () => {
    // Arrange
    dynamoMock.on(UpdateCommand).rejects(
      new ProvisionedThroughputExceededException({
        message: 'The level of configured provisioned throughput for the table was exceeded.',
        ...metadata,
      }),
    );
    const store = newStore();

    // Act
    const finishing = store.finishItem('job-1', 'item-1', {
      status: 'FAILED',
      error: failedOutput.error ?? undefined,
      output: failedOutput,
    });

    // Assert
    await expect(finishing).rejects.toMatchObject({ name: 'ProvisionedThroughputExceededException' });
    expect(dynamoMock.commandCalls(UpdateCommand)).toHaveLength(1); // nothing counted
  });

  test('a throttled conditional write is not mistaken for a lost condition', async () => {
    // Arrange
    dynamoMock
      .on(UpdateCommand)
      .rejects(new ThrottlingException({ message: 'Rate of requests exceeds the allowed throughput.', ...metadata }));
    dynamoMock
      .on(PutCommand)
      .rejects(new ThrottlingException({ message: 'Rate of requests exceeds the allowed throughput.', ...metadata }));
    const store = newStore();

    // Act
    const results = await Promise.allSettled([
      store.claimItem('job-1', 'item-1', 60_000),
      store.markItemSubmitted('job-1', 'item-1', 'resp_1', { lease: 123 }),
      store.markJobRunning('job-1', undefined),
      store.failJob('job-1', { name: 'Error', message: 'x' }),
      store.createJob(queuedJob),
      store.claimBatch({ jobId: 'job-1', batchId: 'batch-0000000', mode: 'batch' }, 60_000),
    ]);

    // Assert
    expect(results.map((result) => result.status)).toEqual(Array(6).fill('rejected'));
    for (const result of results) {
      if (result.status === 'rejected') expect(result.reason).toMatchObject({ name: 'ThrottlingException' });
    }
    expect(recordReads()).toHaveLength(0); // no fallback read as for a lost condition
  });
});

describe('job store: each item counted once', () => {
  test('finishItem adds to the job counters only after its conditional update went through', async () => {
    // Arrange
    dynamoMock.on(UpdateCommand).resolves({});
    const store = newStore();

    // Act
    const finished = await store.finishItem('job-1', 'item-1', {
      status: 'SUCCEEDED',
      usage: { inputTokens: 10, outputTokens: 2 },
      costUsd: 0.001,
    });

    // Assert
    expect(finished).toBe(true);
    const [itemUpdate, counterUpdate] = dynamoMock.commandCalls(UpdateCommand).map((call) => call.args[0].input);
    expect(itemUpdate?.ConditionExpression).toBe('#status IN (:queued, :submitted)');
    expect(itemUpdate?.Key).toEqual(itemKey('job-1', 'item-1', ITEM_SHARDS));
    expect(counterUpdate?.Key).toEqual({ pk: 'JOB#job-1', sk: 'JOB' });
    expect(counterUpdate?.UpdateExpression).toMatch(
      /^ADD counts\.succeeded :succeeded, #usage\.inputTokens :in, #usage\.outputTokens :out, estimatedCostUsd :cost SET/,
    );
    expect(counterUpdate?.ExpressionAttributeValues).toMatchObject({
      ':succeeded': 1,
      ':in': 10,
      ':out': 2,
      ':cost': 0.001,
    });
  });

  test('finishItem on an item already terminal (conditional check failed) returns false and counts nothing', async () => {
    // Arrange
    dynamoMock
      .on(UpdateCommand)
      .rejects(new ConditionalCheckFailedException({ message: 'The conditional request failed', ...metadata }));
    const store = newStore();

    // Act
    const finished = await store.finishItem('job-1', 'item-1', { status: 'FAILED', output: failedOutput });

    // Assert
    expect(finished).toBe(false);
    expect(dynamoMock.commandCalls(UpdateCommand)).toHaveLength(1);
  });

  test('a conditional failure recognised by name only (another SDK copy) is treated the same', async () => {
    // Arrange
    const foreign = Object.assign(new Error('The conditional request failed'), {
      name: 'ConditionalCheckFailedException',
    });
    dynamoMock.on(UpdateCommand).rejects(foreign);
    const store = newStore();

    // Act
    const submitted = await store.markItemSubmitted('job-1', 'item-1', 'resp_1', { lease: 123 });

    // Assert
    expect(submitted).toBe(false);
    expect(dynamoMock.commandCalls(UpdateCommand)).toHaveLength(1);
  });
});

describe('job store: a failed condition reports the record it met', () => {
  test('GIVEN DynamoDB returns the job a start met WHEN markJobRunning fails its condition THEN that job is returned, not owned, without a read', async () => {
    // Arrange
    dynamoMock.on(UpdateCommand).rejects(
      conditionFailedMeeting({
        pk: { S: 'JOB#job-1' },
        sk: { S: 'JOB' },
        jobId: { S: 'job-1' },
        status: { S: 'RUNNING' },
        executionArn: { S: 'arn:other' },
        counts: { M: { total: { N: '2' }, submitted: { N: '1' } } },
        cancelRequested: { BOOL: false },
      }),
    );
    const store = newStore();

    // Act
    const started = await store.markJobRunning('job-1', 'arn:mine');

    // Assert
    expect(started).toEqual({
      owned: false,
      job: {
        jobId: 'job-1',
        status: 'RUNNING',
        executionArn: 'arn:other',
        counts: { total: 2, submitted: 1 },
        cancelRequested: false,
      },
    });
    expect(dynamoMock.commandCalls(UpdateCommand)[0]?.args[0].input.ReturnValuesOnConditionCheckFailure).toBe(
      'ALL_OLD',
    );
    expect(dynamoMock.commandCalls(GetCommand)).toHaveLength(0);
  });

  test('GIVEN a failure without the record (dynalite never returns it) WHEN createJob meets an existing job THEN it reads the job once', async () => {
    // Arrange
    dynamoMock.on(PutCommand).rejects(conditionFailedMeeting(undefined));
    dynamoMock.on(GetCommand).resolves({ Item: { pk: 'JOB#job-1', sk: 'JOB', ...queuedJob, status: 'RUNNING' } });
    const store = newStore();

    // Act
    const created = await store.createJob(queuedJob);

    // Assert
    expect(created).toEqual({ created: false, job: { ...queuedJob, status: 'RUNNING' } });
    expect(dynamoMock.commandCalls(GetCommand)).toHaveLength(1);
  });

  test.each([
    ['QUEUED', 'busy'],
    ['SUBMITTED', 'done'],
    ['SUCCEEDED', 'done'],
  ])('GIVEN the claim of an item met it %s THEN claimItem answers %s without a read', async (status, answer) => {
    // Arrange
    dynamoMock
      .on(UpdateCommand)
      .rejects(conditionFailedMeeting({ customId: { S: 'item-1' }, status: { S: status }, leaseUntil: { N: '1' } }));
    const store = newStore();

    // Act
    const claim = await store.claimItem('job-1', 'item-1', 60_000);

    // Assert
    expect(claim).toBe(answer);
    expect(recordReads()).toHaveLength(0);
  });

  test('GIVEN a batch already submitted WHEN the batch lease is claimed THEN LeaseUnavailableError carries the batch it met', async () => {
    // Arrange
    dynamoMock.on(UpdateCommand).rejects(
      conditionFailedMeeting({
        batchId: { S: 'batch-0000000' },
        providerBatchId: { S: 'batch_abc' },
        customIds: { L: [{ S: 'item-1' }] },
      }),
    );
    const store = newStore();

    // Act
    const claiming = store.batchLease.claim({ jobId: 'job-1', batchId: 'batch-0000000', mode: 'batch' }, 60_000);

    // Assert
    await expect(claiming).rejects.toMatchObject({
      name: 'LeaseUnavailableError',
      message: 'batch batch-0000000 of job job-1 is submitted as batch_abc',
      record: { batchId: 'batch-0000000', providerBatchId: 'batch_abc', customIds: ['item-1'] },
    });
  });
});

describe('job store: one condition for a job that has not ended', () => {
  test('finishJob, failJob and requestCancel each require the job to exist and not be terminal', async () => {
    // Arrange
    dynamoMock.on(UpdateCommand).resolves({});
    const store = newStore();

    // Act
    await store.finishJob('job-1', { status: 'COMPLETED', counts: queuedJob.counts, usage: queuedJob.usage });
    await store.failJob('job-1', { name: 'Error', message: 'x' });
    await store.requestCancel('job-1');

    // Assert
    const updates = dynamoMock.commandCalls(UpdateCommand).map((call) => call.args[0].input);
    for (const update of updates) {
      expect(update.ConditionExpression).toBe('attribute_exists(pk) AND NOT #status IN (:t0, :t1, :t2, :t3)');
      expect(update.ExpressionAttributeValues).toMatchObject({
        ':t0': 'COMPLETED',
        ':t1': 'COMPLETED_WITH_ERRORS',
        ':t2': 'FAILED',
        ':t3': 'CANCELLED',
      });
    }
    expect(updates).toHaveLength(3);
  });
});

describe('job store: condition fragments', () => {
  test('fragments combine into one expression with the names and values of each', () => {
    // Act
    const condition = anyOf(RECORD_ABSENT, allOf(ITEM_QUEUED, leaseFree(5)));

    // Assert
    expect(conditionFields(condition, { values: { ':at': 'now' } })).toEqual({
      ConditionExpression:
        '(attribute_not_exists(pk) OR (#status = :queued AND (attribute_not_exists(leaseUntil) OR leaseUntil < :nowMs)))',
      ExpressionAttributeNames: { '#status': 'status' },
      ExpressionAttributeValues: { ':queued': 'QUEUED', ':nowMs': 5, ':at': 'now' },
    });
  });

  test('a placeholder given two different values is refused, not silently overwritten', () => {
    // Act / Assert
    expect(() => allOf(leaseHeld(1), leaseHeld(2))).toThrow('expression placeholder :lease is given two values');
  });
});
