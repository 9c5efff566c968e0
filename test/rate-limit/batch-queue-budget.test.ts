import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { classifyFailure, classifyOutputLine, queueLimitFromMessage } from '../../shared/item-failures.js';
import {
  BatchQueueBudget,
  QUEUE_HOLD_MS,
  QUEUE_REFUSAL_PAUSE_MS,
  reserveIn,
  type BatchQueueState,
} from '../../shared/rate-limit/batch-queue-budget.js';
import { startTestTable, type TestTable } from '../support/dynamo.js';

const NOW = Date.parse('2026-03-02T09:00:00.000Z');

function state(fields: Partial<BatchQueueState> = {}): BatchQueueState {
  return { version: 1, holds: {}, ...fields };
}

describe('the classification of item failures', () => {
  test.each([
    [{ code: 'server_error', message: '' }, undefined, 'transient'],
    [{ code: 'batch_expired', message: '' }, undefined, 'transient'],
    [{ code: 'batch_cancelled', message: '' }, undefined, 'transient'],
    [{ code: 'rate_limit_exceeded', message: '' }, undefined, 'transient'],
    [{ code: 'http_503', message: '' }, undefined, 'transient'],
    [{ code: 'something_new', message: '' }, 502, 'transient'],
    [{ code: 'token_limit_exceeded', message: '' }, undefined, 'refused'],
    [{ code: 'invalid_prompt', message: '' }, 400, 'permanent'],
    [{ code: 'invalid_result', message: '' }, undefined, 'permanent'],
    [{ code: 'http_422', message: '' }, undefined, 'permanent'],
  ] as const)('GIVEN %j with status %s THEN it is %s', (error, status, kind) => {
    expect(classifyFailure(error, status)).toBe(kind);
  });

  test('GIVEN an error-file line of type server_error with a null code THEN it is transient', () => {
    const line = {
      id: 'br_1',
      custom_id: 'a',
      response: { status_code: 500, request_id: 'r', body: { error: { type: 'server_error', code: null } } },
      error: { code: 'http_500', message: 'the provider answered 500' },
    };

    expect(classifyOutputLine(line)).toBe('transient');
    expect(classifyOutputLine({ ...line, response: null, error: { code: 'invalid_prompt', message: '' } })).toBe(
      'permanent',
    );
  });

  test.each([
    [
      'Enqueued token limit reached for gpt-4o in organization org-x. Limit: 90,000 enqueued tokens. Please try',
      90_000,
    ],
    ['Limit: 2000000 enqueued tokens.', 2_000_000],
    ['Enqueued token limit reached for gpt-4o.', undefined],
  ])('GIVEN the refusal %j THEN the limit read is %s', (message, limit) => {
    expect(queueLimitFromMessage(message)).toBe(limit);
  });
});

describe('reserveIn: the budget decision', () => {
  test('GIVEN no known limit THEN any batch is reserved', () => {
    const { next, answer } = reserveIn(state(), 'job/b1', 1_000_000, NOW);

    expect(answer).toEqual({ outcome: 'reserved' });
    expect(next?.holds).toEqual({ 'job/b1': { tokens: 1_000_000, until: NOW + QUEUE_HOLD_MS } });
  });

  test('GIVEN a limit WHEN the holds plus the batch pass it THEN the queue is full; when they fit THEN reserved', () => {
    const held = state({ limitTokens: 100, holds: { a: { tokens: 60, until: NOW + 1 } } });

    expect(reserveIn(held, 'b', 41, NOW).answer).toEqual({ outcome: 'full', enqueued: 60, limit: 100 });
    expect(reserveIn(held, 'b', 40, NOW).answer).toEqual({ outcome: 'reserved' });
  });

  test('GIVEN a lapsed hold THEN it frees its tokens; GIVEN the holder again THEN its own hold is not counted twice', () => {
    const held = state({
      limitTokens: 100,
      holds: { a: { tokens: 90, until: NOW - 1 }, b: { tokens: 50, until: NOW + 1 } },
    });

    expect(reserveIn(held, 'c', 50, NOW).answer).toEqual({ outcome: 'reserved' });
    expect(reserveIn(held, 'b', 100, NOW).answer).toEqual({ outcome: 'reserved' });
  });

  test('GIVEN a pause after a refusal THEN nothing is reserved until it ends; GIVEN a batch over the limit THEN tooLarge', () => {
    const paused = state({ limitTokens: 100, pausedUntil: NOW + 10 });

    expect(reserveIn(paused, 'a', 1, NOW).answer).toMatchObject({ outcome: 'full' });
    expect(reserveIn(paused, 'a', 1, NOW + 10).answer).toEqual({ outcome: 'reserved' });
    expect(reserveIn(state({ limitTokens: 100 }), 'a', 101, NOW).answer).toEqual({ outcome: 'tooLarge', limit: 100 });
  });
});

describe('BatchQueueBudget on DynamoDB', () => {
  let table: TestTable | undefined;
  let now = NOW;
  const budget = () => {
    if (!table) throw new Error('no table');
    return new BatchQueueBudget(
      { dynamo: table.dynamo, name: table.tableName },
      `key-${randomUUID().slice(0, 8)}`,
      () => now,
    );
  };

  beforeAll(async () => {
    table = await startTestTable(`queue-${randomUUID().slice(0, 8)}`);
  });
  afterAll(async () => {
    await table?.close();
  });

  test('GIVEN two jobs on one key WHEN a refusal teaches the limit THEN the second waits until the first releases', async () => {
    const queue = budget();
    now = NOW;
    expect(await queue.reserve('gpt-4o', 'job-1/b1', 60_000)).toEqual({ outcome: 'reserved' });
    expect(await queue.reserve('gpt-4o', 'job-2/b1', 60_000)).toEqual({ outcome: 'reserved' });

    // WHEN the provider refuses job 2's batch
    await queue.refused('gpt-4o', 'job-2/b1', 90_000);
    now += QUEUE_REFUSAL_PAUSE_MS;

    // THEN the limit holds job 2 back while job 1 runs, on this model only
    expect(await queue.read('gpt-4o')).toMatchObject({
      limitTokens: 90_000,
      holds: { 'job-1/b1': { tokens: 60_000 } },
    });
    expect(await queue.reserve('gpt-4o', 'job-2/b1', 60_000)).toEqual({
      outcome: 'full',
      enqueued: 60_000,
      limit: 90_000,
    });
    expect(await queue.reserve('gpt-4o-mini', 'job-2/b1', 60_000)).toEqual({ outcome: 'reserved' });
    await queue.release('gpt-4o', 'job-1/b1');
    expect(await queue.reserve('gpt-4o', 'job-2/b1', 60_000)).toEqual({ outcome: 'reserved' });
    expect(Object.keys((await queue.read('gpt-4o')).holds)).toEqual(['job-2/b1']);
  });

  test('GIVEN many submits at once THEN the version condition lets no more than the limit in', async () => {
    const queue = budget();
    now = NOW;
    await queue.refused('m', 'nobody', 100);
    now += QUEUE_REFUSAL_PAUSE_MS;

    const answers = await Promise.all(Array.from({ length: 6 }, (_, i) => queue.reserve('m', `job/b${i}`, 30)));

    expect(answers.filter((a) => a.outcome === 'reserved')).toHaveLength(3);
    const held = Object.values((await queue.read('m')).holds).reduce((sum, hold) => sum + hold.tokens, 0);
    expect(held).toBe(90);
  });

  test('GIVEN 40 batches ending at once WHEN each releases its hold THEN every release lands', async () => {
    const queue = budget();
    now = NOW;
    const holders = Array.from({ length: 40 }, (_, i) => `job/b${i}`);
    for (const holder of holders) await queue.reserve('m', holder, 10);

    const releases = await Promise.allSettled(holders.map((holder) => queue.release('m', holder)));

    expect(releases.filter((release) => release.status === 'rejected')).toEqual([]);
    expect((await queue.read('m')).holds).toEqual({});
    await expect(queue.release('m', 'job/b0')).resolves.toBeUndefined(); // a second release changes nothing
  });
});
