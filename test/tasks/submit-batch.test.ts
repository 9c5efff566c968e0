import { describe, expect, test, jest } from '@jest/globals';
import { RateLimitedError, SubmissionInProgressError } from '../../shared/errors.js';
import { SUBMIT_LEASE_MS } from '../../shared/limits.js';
import { idempotencyHeaderValue } from '../../shared/provider/openai-client.js';
import { TURN_LATER } from '../../shared/rate-limit/rate-limiter.js';
import { SEND_AHEAD_MS } from '../../shared/modes/responses.js';
import { isRateLimitWait } from '../../shared/workflow-state.js';
import { submitBatch, TURN_LEAD_MS } from '../../tasks/submit-batch.js';
import { badRequest } from '../provider/fake-openai.js';
import {
  TEST_MODEL,
  chatLines,
  countWrites,
  createJob,
  itemsOf,
  promptLines,
  rateLimitError,
  refuseResponseCreates,
  requireItem,
  requireJob,
  submitInput,
  useTaskTestEnv,
} from '../support/deps.js';

const env = useTaskTestEnv();
const BATCH_MODE = { model: TEST_MODEL, mode: 'batch' };

describe('submit batch, responses mode', () => {
  test('submits every item once as a background response and returns the poll state', async () => {
    // Arrange
    const { job, items } = await createJob(env(), { lines: promptLines(5) });

    // Act
    const state = await submitBatch(submitInput(job, items), env().deps);

    // Assert
    expect(state).toEqual({
      BatchInput: submitInput(job, items).BatchInput,
      batchId: 'batch-0000000',
      customIds: items.map((item) => item.customId),
      pending: 5,
      waitSeconds: 5,
      pollTurn: 0,
      deadline: new Date(env().clock.now().getTime() + 6 * 3600 * 1000).toISOString(),
      sentAt: env().clock.now().toISOString(),
    });
    const creates = env().openai.callsOf('responses.create') as [
      Record<string, unknown>,
      { idempotencyKey?: string },
    ][];
    expect(creates).toHaveLength(5);
    expect(creates.map(([body]) => body)).toContainEqual({
      model: TEST_MODEL,
      input: 'say hello to number 3',
      background: true,
      stream: false,
    });
    expect(creates.map(([, options]) => options.idempotencyKey).sort()).toEqual(
      items.map((item) => idempotencyHeaderValue(`${job.jobId}:${item.customId}`)).sort(),
    );
    const records = await itemsOf(env(), job.jobId);
    expect(records.map((item) => item.status)).toEqual(Array(5).fill('SUBMITTED'));
    expect(new Set(records.map((item) => item.providerId)).size).toBe(5);
    expect(records.every((item) => env().openai.storedResponses.has(item.providerId ?? ''))).toBe(true);
    expect((await requireJob(env(), job.jobId)).counts).toMatchObject({
      total: 5,
      submitted: 5,
      succeeded: 0,
      failed: 0,
    });
    expect((await requireJob(env(), job.jobId)).providerSubmitCalls).toBe(5);
  });

  test('a retried submit (the same input again) does not call the provider again', async () => {
    // Arrange
    const { job, items } = await createJob(env(), { lines: promptLines(4) });
    await submitBatch(submitInput(job, items), env().deps);
    const before = await itemsOf(env(), job.jobId);

    // Act
    const state = await submitBatch(submitInput(job, items), env().deps);

    // Assert
    expect(state.pending).toBe(4);
    expect(env().openai.callsOf('responses.create')).toHaveLength(4);
    expect((await itemsOf(env(), job.jobId)).map((item) => item.providerId)).toEqual(
      before.map((item) => item.providerId),
    );
    expect((await requireJob(env(), job.jobId)).counts.submitted).toBe(4);
  });

  test('a provider 400 for one item fails only that item, with the error in its output line', async () => {
    // Arrange
    const { job, items } = await createJob(env(), { lines: promptLines(4) });
    refuseResponseCreates(env().openai, (body) =>
      body.input === 'say hello to number 2'
        ? badRequest('Invalid input: too long', 'context_length_exceeded')
        : undefined,
    );

    // Act
    const state = await submitBatch(submitInput(job, items), env().deps);

    // Assert
    expect(state.pending).toBe(3);
    const failed = await requireItem(env(), job.jobId, 'item-002');
    expect(failed.status).toBe('FAILED');
    expect(failed.error?.code).toBe('context_length_exceeded');
    expect(failed.error?.message).toContain('Invalid input: too long');
    expect(failed.output).toMatchObject({ custom_id: 'item-002', response: null, error: failed.error });
    const others = (await itemsOf(env(), job.jobId)).filter((item) => item.customId !== 'item-002');
    expect(others.map((item) => item.status)).toEqual(['SUBMITTED', 'SUBMITTED', 'SUBMITTED']);
    expect((await requireJob(env(), job.jobId)).counts).toMatchObject({ submitted: 3, failed: 1 });
  });

  test('a 429 mid-batch pauses the shared budget; the item is sent again after retry-after, and nothing twice', async () => {
    // Arrange
    const { job, items } = await createJob(env(), { lines: promptLines(12) });
    const sentAt: number[] = [];
    let refusedAt = Number.NaN;
    const provider = refuseResponseCreates(env().openai, (_body, call) => {
      if (call === 4) {
        refusedAt = env().clock.now().getTime();
        return rateLimitError(2000);
      }
      sentAt.push(env().clock.now().getTime());
      return undefined;
    });

    // Act
    const state = await submitBatch(submitInput(job, items), env().deps);

    // Assert: the task went on, and every item was created exactly once
    expect(state.pending).toBe(12);
    const records = await itemsOf(env(), job.jobId);
    expect(records.every((item) => item.status === 'SUBMITTED')).toBe(true);
    expect(new Set(records.map((item) => item.providerId)).size).toBe(12);
    expect(env().openai.callsOf('responses.create')).toHaveLength(12);
    expect(provider.refused()).toBe(1);
    expect((await requireJob(env(), job.jobId)).counts.submitted).toBe(12);
    // calls sent after the 429 was known waited for retry-after; the bucket is paused for every submitter
    const later = sentAt.filter((at) => at > refusedAt);
    expect(later.length).toBeGreaterThan(0);
    expect(later.every((at) => at >= refusedAt + 2000)).toBe(true);
    expect(env().limiter.snapshot()?.pausedUntil).toBeGreaterThanOrEqual(refusedAt + 2000);
    // the provider calls, added to the job once
    expect(await requireJob(env(), job.jobId)).toMatchObject({ providerSubmitCalls: 13, providerRateLimited: 1 });
  });

  test('when the time budget runs out while rate limited, the task fails with RateLimitedError; the retry sends only the rest', async () => {
    // Arrange: from the 4th call on the provider refuses, asking for 20 s each time
    const { job, items } = await createJob(env(), { lines: promptLines(12) });
    let limited = true;
    const provider = refuseResponseCreates(env().openai, (_body, call) =>
      limited && call >= 4 ? rateLimitError(20_000) : undefined,
    );

    // Act: a budget shorter than SEND_AHEAD_MS (else the pause's turns would be left booked for later, see below)
    const first = submitBatch(submitInput(job, items), env().deps, { timeBudgetMs: SEND_AHEAD_MS - 2_000 });

    // Assert: the task fails with the name Step Functions retries on
    await expect(first).rejects.toBeInstanceOf(RateLimitedError);
    await expect(first).rejects.toMatchObject({ name: 'RateLimitedError' });
    const afterFailure = await itemsOf(env(), job.jobId);
    const submitted = afterFailure.filter((item) => item.status === 'SUBMITTED');
    const queued = afterFailure.filter((item) => item.status === 'QUEUED');
    expect(submitted).toHaveLength(3);
    // the 9 unsent items: claimed (so created) and given back, or never reached (no record yet)
    expect(queued.length + (12 - afterFailure.length)).toBe(9);
    expect(submitted.every((item) => item.providerId)).toBe(true);
    // every claim of an unsent item was given back, so the retry can take it at once
    for (const item of queued) expect((await requireItem(env(), job.jobId, item.customId)).leaseUntil).toBeUndefined();
    expect(await requireJob(env(), job.jobId)).toMatchObject({
      providerSubmitCalls: 3 + provider.refused(),
      providerRateLimited: provider.refused(),
    });

    // Act: the provider recovers; Step Functions retries the task
    limited = false;
    env().clock.advance(60_000);
    const retried = await submitBatch(submitInput(job, items), env().deps);

    // Assert
    expect(retried.pending).toBe(12);
    const afterRetry = await itemsOf(env(), job.jobId);
    expect(afterRetry.every((item) => item.status === 'SUBMITTED')).toBe(true);
    for (const item of submitted) {
      expect(afterRetry.find((record) => record.customId === item.customId)?.providerId).toBe(item.providerId);
    }
    expect(env().openai.callsOf('responses.create')).toHaveLength(12); // every item created exactly once
    expect(new Set(afterRetry.map((item) => item.providerId)).size).toBe(12);
    expect((await requireJob(env(), job.jobId)).counts.submitted).toBe(12);
  });

  test('turns further off than SEND_AHEAD_MS are left for a later invocation: the child waits for them in Step Functions, and the next submit sends on them', async () => {
    // Arrange: one request a second; another process has booked the next 20 s of turns
    const other = env().useRateLimit({ defaultRequestsPerWindow: 60 });
    const start = env().clock.now().getTime();
    for (let chunk = 0; chunk < 2; chunk++) {
      // books a chunk of 10 turns; a turn due now is taken, the first later one is not waited for
      const demand = other.expect(10);
      let turn;
      do turn = await other.take({ tokens: 0, deadline: start + 60_000, demand, maxWaitMs: 0 });
      while (turn !== TURN_LATER);
      demand.done();
      expect(other.releaseBookedTurns()?.at.length).toBeGreaterThan(0);
    }
    env().useRateLimit({ defaultRequestsPerWindow: 60 });
    const { job, items } = await createJob(env(), { lines: promptLines(25) });
    const sentAt: number[] = [];
    refuseResponseCreates(env().openai, () => {
      sentAt.push(env().clock.now().getTime());
      return undefined;
    });

    // Act
    const first = await submitBatch(submitInput(job, items), env().deps);

    // Assert: nothing sent, nothing claimed; the batch's turns are booked after the other's and handed over
    if (!isRateLimitWait(first)) throw new Error('expected a turn wait');
    expect(sentAt).toHaveLength(0);
    expect(await itemsOf(env(), job.jobId)).toHaveLength(0);
    expect(first).toMatchObject({ unsent: 25, pending: 25, Items: items, BatchInput: { jobId: job.jobId } });
    const turns = first.reservation?.at ?? [];
    const firstTurn = turns[0] ?? Number.NaN;
    expect(firstTurn).toBeGreaterThanOrEqual(start + 19_000);
    expect(env().clock.now().getTime() - start).toBeLessThan(1_000); // the task did not wait for them
    expect(first.waitSeconds).toBe(Math.floor((firstTurn - TURN_LEAD_MS - env().clock.now().getTime()) / 1000));

    // Act: the Wait state, then the submit task again on the state it returned
    env().clock.advance(first.waitSeconds * 1000);
    const limiter = env().limiter;
    const take = limiter.take.bind(limiter);
    const given: unknown[] = [];
    jest.spyOn(limiter, 'take').mockImplementation(async (turn) => {
      const at = await take(turn);
      given.push(at);
      return at;
    });
    const writesBefore = limiter.stats.writes;
    const second = await submitBatch(first, env().deps);

    // Assert: requests went out on the booked turns, the rest on turns booked right after (chunks of 10); each item
    // once
    expect(isRateLimitWait(second)).toBe(false);
    expect(second.pending).toBe(25);
    expect(given).toEqual(expect.arrayContaining(turns));
    expect(given.every((at) => typeof at === 'number')).toBe(true);
    expect(limiter.stats.writes - writesBefore).toBe(Math.ceil((25 - turns.length) / 10));
    expect(env().openai.callsOf('responses.create')).toHaveLength(25);
    const after = await itemsOf(env(), job.jobId);
    expect(after.map((item) => item.status)).toEqual(Array(25).fill('SUBMITTED'));
    expect(new Set(after.map((item) => item.providerId)).size).toBe(25);
    expect((await requireJob(env(), job.jobId)).counts.submitted).toBe(25);
  });

  test('requests wait for turns of the shared budget: 25 requests at 600 a minute take 1.5 s after the burst', async () => {
    // Arrange
    env().useRateLimit({ defaultRequestsPerWindow: 600 });
    const { job, items } = await createJob(env(), { lines: promptLines(25) });
    const sentAt: number[] = [];
    refuseResponseCreates(env().openai, () => {
      sentAt.push(env().clock.now().getTime());
      return undefined;
    });
    const start = env().clock.now().getTime();

    // Act
    await submitBatch(submitInput(job, items), env().deps);

    // Assert: a burst of 10, then one every 100 ms
    expect(sentAt).toHaveLength(25);
    expect(Math.max(...sentAt) - start).toBeGreaterThanOrEqual(1500 - 1);
    expect(Math.max(...sentAt) - start).toBeLessThan(1500 + 100);
    expect(env().limiter.stats.writes).toBeLessThanOrEqual(3); // chunks of up to 10: one write each
  });

  test('the job counters (items submitted, provider calls) are added to the job once per invocation, not per item', async () => {
    // Arrange
    const { job, items } = await createJob(env(), { lines: promptLines(6) });
    const add = jest.spyOn(env().store, 'addProgress');

    // Act
    await submitBatch(submitInput(job, items), env().deps);
    await submitBatch(submitInput(job, items), env().deps); // a retry: nothing left to send

    // Assert
    expect(add).toHaveBeenCalledTimes(2);
    expect(add.mock.calls[0]?.[1]).toMatchObject({
      counts: { submitted: 6, succeeded: 0 },
      calls: { submit: 6, poll: 0, rateLimited: 0 },
    });
    expect(add.mock.calls[1]?.[1].isEmpty()).toBe(true);
    expect(await requireJob(env(), job.jobId)).toMatchObject({ providerSubmitCalls: 6, counts: { submitted: 6 } });
    expect((await requireJob(env(), job.jobId)).providerRateLimited).toBeUndefined();
  });

  test('a first submission writes each item twice (the claim creates its record, then SUBMITTED), the job once and no batch record', async () => {
    // Arrange
    const { job, items } = await createJob(env(), { lines: promptLines(20) });
    const writes = countWrites(env());

    // Act
    try {
      await submitBatch(submitInput(job, items), env().deps);
    } finally {
      writes.stop();
    }

    // Assert
    expect(writes.byKind).toMatchObject({ ITEM: 40, JOB: 1 });
    expect(writes.byKind.BATCH).toBeUndefined();
    const records = await itemsOf(env(), job.jobId);
    expect(records.map((item) => [item.status, item.index, item.batchId, item.attempts])).toEqual(
      items.map((item) => ['SUBMITTED', item.index, 'batch-0000000', 1]),
    );
    for (const item of items) expect((await requireItem(env(), job.jobId, item.customId)).leaseUntil).toBeUndefined();
    expect((await requireJob(env(), job.jobId)).counts.submitted).toBe(20);
  });

  test('an item claimed by another live invocation fails the task with SubmissionInProgressError; once its claim expires it is taken over', async () => {
    // Arrange
    const { job, items } = await createJob(env(), { lines: promptLines(3) });
    const otherLease = await env().store.claimItem(job.jobId, 'item-001', SUBMIT_LEASE_MS, {
      index: 1,
      batchId: 'batch-0000000',
    });
    expect(typeof otherLease).toBe('number');

    // Act
    const first = submitBatch(submitInput(job, items), env().deps);

    // Assert
    await expect(first).rejects.toBeInstanceOf(SubmissionInProgressError);
    await expect(first).rejects.toMatchObject({ name: 'SubmissionInProgressError' });
    expect((await requireItem(env(), job.jobId, 'item-001')).status).toBe('QUEUED');
    expect((await requireItem(env(), job.jobId, 'item-000')).status).toBe('SUBMITTED');
    expect(env().openai.callsOf('responses.create')).toHaveLength(2);

    // Act: the holder died; its lease runs out and the retried task takes the item over
    env().clock.advance(SUBMIT_LEASE_MS + 1);
    const retried = await submitBatch(submitInput(job, items), env().deps);

    // Assert
    expect(retried.pending).toBe(3);
    expect((await requireItem(env(), job.jobId, 'item-001')).status).toBe('SUBMITTED');
    expect(env().openai.callsOf('responses.create')).toHaveLength(3);
  });

  test('a job with cancelRequested ends its items CANCELLED without calling the provider', async () => {
    // Arrange
    const { job, items } = await createJob(env(), { lines: promptLines(3) });
    await env().store.requestCancel(job.jobId);

    // Act
    const state = await submitBatch(submitInput(job, items), env().deps);

    // Assert
    expect(state.pending).toBe(0);
    expect(env().openai.calls).toHaveLength(0);
    const records = await itemsOf(env(), job.jobId);
    expect(records.map((item) => item.status)).toEqual(['CANCELLED', 'CANCELLED', 'CANCELLED']);
    expect(records[0]?.error?.code).toBe('job_cancelled');
    expect(records[0]?.output).toMatchObject({
      custom_id: 'item-000',
      response: null,
      error: { code: 'job_cancelled' },
    });
    expect((await requireJob(env(), job.jobId)).counts).toMatchObject({ cancelled: 3, submitted: 0 });
  });

  test('/v1/chat/completions lines finish during submit, with usage, cost and result', async () => {
    // Arrange
    const { job, items } = await createJob(env(), { jobType: 'openai-batch', options: {}, lines: chatLines(3) });

    // Act
    const state = await submitBatch(submitInput(job, items), env().deps);

    // Assert
    expect(state.pending).toBe(0);
    expect(env().openai.callsOf('chat.completions.create')).toHaveLength(3);
    const item = await requireItem(env(), job.jobId, 'chat-001');
    expect(item).toMatchObject({ status: 'SUCCEEDED', result: 'hello', usage: { inputTokens: 12, outputTokens: 3 } });
    expect(item.output).toMatchObject({ custom_id: 'chat-001', error: null, response: { status_code: 200 } });
    expect(item.costUsd).toBeCloseTo((12 * 0.25 + 3 * 2) / 1e6, 12);
    const stored = await requireJob(env(), job.jobId);
    expect(stored.counts).toMatchObject({ submitted: 3, succeeded: 3 });
    expect(stored.usage).toEqual({ inputTokens: 36, outputTokens: 9 });
  });
});

describe('submit batch, batch mode', () => {
  test('creates one provider batch holding every line and marks the items SUBMITTED with its id', async () => {
    // Arrange
    const { job, items } = await createJob(env(), { options: BATCH_MODE, lines: promptLines(4) });

    // Act
    const state = await submitBatch(submitInput(job, items), env().deps);

    // Assert
    expect(state).toMatchObject({ pending: 4, waitSeconds: 60, pollTurn: 0 });
    const [upload] = [...env().openai.storedFiles.values()];
    expect(upload?.purpose).toBe('batch');
    const uploaded = (upload?.content ?? '')
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as unknown);
    expect(uploaded).toEqual(
      items.map((item) => ({
        custom_id: item.customId,
        method: 'POST',
        url: '/v1/responses',
        body: { model: TEST_MODEL, input: `say hello to number ${item.index}` },
      })),
    );
    const [batch] = [...env().openai.storedBatches.values()];
    expect(env().openai.storedBatches.size).toBe(1);
    expect(batch).toMatchObject({
      endpoint: '/v1/responses',
      completion_window: '24h',
      metadata: { llm_batch_job_id: job.jobId, llm_batch_batch_id: 'batch-0000000' },
    });
    const records = await itemsOf(env(), job.jobId);
    expect(records.every((item) => item.status === 'SUBMITTED' && item.providerId === batch?.id)).toBe(true);
    expect((await env().store.getBatch(job.jobId, 'batch-0000000'))?.providerBatchId).toBe(batch?.id);
    expect((await requireJob(env(), job.jobId)).counts).toMatchObject({ total: 4, submitted: 4 });
  });

  test('a retried submit does not create a second batch', async () => {
    // Arrange
    const { job, items } = await createJob(env(), { options: BATCH_MODE, lines: promptLines(3) });
    await submitBatch(submitInput(job, items), env().deps);

    // Act
    const state = await submitBatch(submitInput(job, items), env().deps);

    // Assert
    expect(state.pending).toBe(3);
    expect(env().openai.callsOf('batches.create')).toHaveLength(1);
    expect(env().openai.callsOf('files.create')).toHaveLength(1);
    expect((await requireJob(env(), job.jobId)).counts.submitted).toBe(3);
  });

  test('a takeover after an expired lease finds the batch the dead holder created, by its metadata', async () => {
    // Arrange: an earlier invocation claimed the batch, created it at the provider and died before recording it
    const { job, items } = await createJob(env(), { options: BATCH_MODE, lines: promptLines(3) });
    await env().store.claimBatch({ jobId: job.jobId, batchId: 'batch-0000000', mode: 'batch' }, SUBMIT_LEASE_MS);
    const provider = await env().deps.provider();
    const requests = env().deps.jobTypes.get('prompt').compile(job.options);
    const { providerBatchId } = await provider.submitBatch(
      items.map((item) => requests.toRequest(item.line)),
      { jobId: job.jobId, batchId: 'batch-0000000' },
    );
    // while its lease lives, nobody else submits
    await expect(submitBatch(submitInput(job, items), env().deps)).rejects.toBeInstanceOf(SubmissionInProgressError);
    env().clock.advance(SUBMIT_LEASE_MS + 1);

    // Act
    const state = await submitBatch(submitInput(job, items), env().deps);

    // Assert
    expect(state.pending).toBe(3);
    expect(env().openai.callsOf('batches.create')).toHaveLength(1);
    expect(env().openai.callsOf('batches.list')).toHaveLength(1);
    const records = await itemsOf(env(), job.jobId);
    expect(records.every((item) => item.status === 'SUBMITTED' && item.providerId === providerBatchId)).toBe(true);
    expect((await env().store.getBatch(job.jobId, 'batch-0000000'))?.providerBatchId).toBe(providerBatchId);
  });

  test('a 429 on batch creation waits for retry-after and creates the batch once, from the file uploaded once', async () => {
    // Arrange
    const { job, items } = await createJob(env(), { options: BATCH_MODE, lines: promptLines(3) });
    env().openai.failNext('batches.create', rateLimitError(5000));
    const start = env().clock.now().getTime();

    // Act
    const state = await submitBatch(submitInput(job, items), env().deps);

    // Assert
    expect(state.pending).toBe(3);
    expect(env().clock.now().getTime() - start).toBeGreaterThanOrEqual(5000);
    expect(env().openai.callsOf('files.create')).toHaveLength(1);
    expect(env().openai.callsOf('batches.create')).toHaveLength(2);
    expect(env().openai.storedBatches.size).toBe(1);
    const [batch] = [...env().openai.storedBatches.values()];
    const records = await itemsOf(env(), job.jobId);
    expect(records.every((item) => item.status === 'SUBMITTED' && item.providerId === batch?.id)).toBe(true);
    expect(await requireJob(env(), job.jobId)).toMatchObject({
      counts: { submitted: 3 },
      providerSubmitCalls: 2,
      providerRateLimited: 1,
    });
  });

  test('when batch creation stays rate limited past the time budget, the task fails with RateLimitedError and the retry creates the batch once', async () => {
    // Arrange
    const { job, items } = await createJob(env(), { options: BATCH_MODE, lines: promptLines(3) });
    for (let i = 0; i < 5; i++) env().openai.failNext('batches.create', rateLimitError(20_000));

    // Act
    const first = submitBatch(submitInput(job, items), env().deps, { timeBudgetMs: 30_000 });

    // Assert
    await expect(first).rejects.toBeInstanceOf(RateLimitedError);
    expect(await itemsOf(env(), job.jobId)).toEqual([]); // an item's record is made once its provider batch exists
    expect((await env().store.getBatch(job.jobId, 'batch-0000000'))?.leaseUntil).toBeUndefined(); // claim released
    expect(env().openai.storedBatches.size).toBe(0);

    // Act: Step Functions retries the task later
    env().clock.advance(120_000);
    env().openai.clearFailures('batches.create'); // the provider has recovered
    const retried = await submitBatch(submitInput(job, items), env().deps);

    // Assert
    expect(retried.pending).toBe(3);
    expect(env().openai.storedBatches.size).toBe(1);
    const [batch] = [...env().openai.storedBatches.values()];
    const records = await itemsOf(env(), job.jobId);
    expect(records.every((item) => item.status === 'SUBMITTED' && item.providerId === batch?.id)).toBe(true);
    expect((await requireJob(env(), job.jobId)).counts.submitted).toBe(3);
  });

  test('a first submission writes each item once (created SUBMITTED with the batch id) and the job once', async () => {
    // Arrange
    const { job, items } = await createJob(env(), { options: BATCH_MODE, lines: promptLines(30) });
    const writes = countWrites(env());

    // Act
    try {
      await submitBatch(submitInput(job, items), env().deps);
    } finally {
      writes.stop();
    }

    // Assert
    expect(writes.byKind).toMatchObject({ ITEM: 30, JOB: 1 });
    const [batch] = [...env().openai.storedBatches.values()];
    const records = await itemsOf(env(), job.jobId);
    expect(records.map((item) => [item.status, item.providerId, item.index, item.batchId])).toEqual(
      items.map((item) => ['SUBMITTED', batch?.id, item.index, 'batch-0000000']),
    );
    expect((await requireJob(env(), job.jobId)).counts.submitted).toBe(30);
  });

  test('a retry after a holder died between creating the batch and recording its items records them and polls the batch', async () => {
    // Arrange: the dead holder claimed the batch, created it at the provider and recorded its id, then died
    const { job, items } = await createJob(env(), { options: BATCH_MODE, lines: promptLines(3) });
    const customIds = items.map((item) => item.customId);
    const claim = await env().store.claimBatch(
      { jobId: job.jobId, batchId: 'batch-0000000', mode: 'batch' },
      SUBMIT_LEASE_MS,
    );
    if (!claim) throw new Error('the batch could not be claimed');
    await env().store.recordProviderBatch(job.jobId, 'batch-0000000', 'batch_from_the_dead_holder', claim.lease);

    // Act
    const retried = await submitBatch(submitInput(job, items), env().deps);

    // Assert
    expect(retried.pending).toBe(3);
    expect(env().openai.storedBatches.size).toBe(0); // nothing created twice
    const records = await itemsOf(env(), job.jobId);
    expect(records.map((item) => [item.customId, item.status, item.providerId])).toEqual(
      customIds.map((id) => [id, 'SUBMITTED', 'batch_from_the_dead_holder']),
    );
  });

  test('a job with cancelRequested ends its items CANCELLED without creating a batch', async () => {
    // Arrange
    const { job, items } = await createJob(env(), { options: BATCH_MODE, lines: promptLines(2) });
    await env().store.requestCancel(job.jobId);

    // Act
    const state = await submitBatch(submitInput(job, items), env().deps);

    // Assert
    expect(state.pending).toBe(0);
    expect(env().openai.calls).toHaveLength(0);
    expect((await itemsOf(env(), job.jobId)).map((item) => item.status)).toEqual(['CANCELLED', 'CANCELLED']);
  });
});
