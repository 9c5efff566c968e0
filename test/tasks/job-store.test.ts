import {
  ConditionalCheckFailedException,
  DynamoDBClient,
  ProvisionedThroughputExceededException,
  ThrottlingException,
} from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, GetCommand, PutCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, afterEach, describe, expect, test } from '@jest/globals';
import { JobStore } from '../../shared/store/job-store.js';
import type { OutputLine } from '../../shared/types.js';

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
  const client = DynamoDBDocumentClient.from(new DynamoDBClient({ region: 'us-east-1', credentials: { accessKeyId: 'test', secretAccessKey: 'test' } }));
  return new JobStore(client, TABLE, 7, () => NOW);
}

const metadata = { $metadata: { httpStatusCode: 400 } };
const failedOutput: OutputLine = { id: 'llmb_1', custom_id: 'item-1', response: null, error: { code: 'boom', message: 'it broke' } };

describe('job store: errors Step Functions must see', () => {
  test('a throttled finishItem propagates with its name, so the task fails and Step Functions retries it', async () => {
    // Arrange
    dynamoMock.on(UpdateCommand).rejects(new ProvisionedThroughputExceededException({ message: 'The level of configured provisioned throughput for the table was exceeded.', ...metadata }));
    const store = newStore();

    // Act
    const finishing = store.finishItem('job-1', 'item-1', { status: 'FAILED', error: failedOutput.error ?? undefined, output: failedOutput });

    // Assert
    await expect(finishing).rejects.toMatchObject({ name: 'ProvisionedThroughputExceededException' });
    expect(dynamoMock.commandCalls(UpdateCommand)).toHaveLength(1); // nothing counted
  });

  test('a throttled conditional write is not mistaken for a lost condition', async () => {
    // Arrange
    dynamoMock.on(UpdateCommand).rejects(new ThrottlingException({ message: 'Rate of requests exceeds the allowed throughput.', ...metadata }));
    dynamoMock.on(PutCommand).rejects(new ThrottlingException({ message: 'Rate of requests exceeds the allowed throughput.', ...metadata }));
    const store = newStore();

    // Act
    const results = await Promise.allSettled([
      store.claimItem('job-1', 'item-1', 60_000),
      store.markItemSubmitted('job-1', 'item-1', 'resp_1', { lease: 123 }),
      store.markJobRunning('job-1', undefined),
      store.failJob('job-1', { name: 'Error', message: 'x' }),
      store.putQueuedItem('job-1', 'item-1', 0, 'batch-0000000'),
    ]);

    // Assert
    expect(results.map((result) => result.status)).toEqual(Array(5).fill('rejected'));
    for (const result of results) {
      if (result.status === 'rejected') expect(result.reason).toMatchObject({ name: 'ThrottlingException' });
    }
    expect(dynamoMock.commandCalls(GetCommand)).toHaveLength(0); // no fallback read as for a lost condition
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
    expect(itemUpdate?.Key).toEqual({ pk: 'JOB#job-1', sk: 'ITEM#item-1' });
    expect(counterUpdate?.Key).toEqual({ pk: 'JOB#job-1', sk: 'JOB' });
    expect(counterUpdate?.UpdateExpression).toMatch(/^ADD counts\.succeeded :succeeded, #usage\.inputTokens :in, #usage\.outputTokens :out, estimatedCostUsd :cost SET/);
    expect(counterUpdate?.ExpressionAttributeValues).toMatchObject({ ':succeeded': 1, ':in': 10, ':out': 2, ':cost': 0.001 });
  });

  test('finishItem on an item already terminal (conditional check failed) returns false and counts nothing', async () => {
    // Arrange
    dynamoMock.on(UpdateCommand).rejects(new ConditionalCheckFailedException({ message: 'The conditional request failed', ...metadata }));
    const store = newStore();

    // Act
    const finished = await store.finishItem('job-1', 'item-1', { status: 'FAILED', output: failedOutput });

    // Assert
    expect(finished).toBe(false);
    expect(dynamoMock.commandCalls(UpdateCommand)).toHaveLength(1);
  });

  test('a conditional failure recognised by name only (another SDK copy) is treated the same', async () => {
    // Arrange
    const foreign = Object.assign(new Error('The conditional request failed'), { name: 'ConditionalCheckFailedException' });
    dynamoMock.on(UpdateCommand).rejects(foreign);
    const store = newStore();

    // Act
    const submitted = await store.markItemSubmitted('job-1', 'item-1', 'resp_1', { lease: 123 });

    // Assert
    expect(submitted).toBe(false);
    expect(dynamoMock.commandCalls(UpdateCommand)).toHaveLength(1);
  });
});
