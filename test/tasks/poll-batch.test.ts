import { describe, expect, test } from '@jest/globals';
import { InternalServerError } from 'openai';
import { MAX_POLL_TURNS } from '../../shared/limits.js';
import type { BatchState } from '../../shared/workflow-state.js';
import { JobProgress } from '../../shared/store/job-progress.js';
import { pollBatch } from '../../tasks/poll-batch.js';
import { submitBatch } from '../../tasks/submit-batch.js';
import {
  RESPONSE_USAGE,
  TEST_MODEL,
  advanceResponses,
  completeResponse,
  countWrites,
  createJob,
  itemsOf,
  jsonl,
  promptLines,
  requireItem,
  requireJob,
  responseFor,
  submitInput,
  useTaskTestEnv,
  pollState,
} from '../support/deps.js';

const env = useTaskTestEnv();
/** gpt-5-mini list price per 1M tokens: 0.25 in, 2 out. */
const RESPONSE_COST = (RESPONSE_USAGE.input_tokens * 0.25 + RESPONSE_USAGE.output_tokens * 2) / 1e6;

/** A job of `count` items (and `unsent` more that no batch has sent yet), its first `count` submitted as one batch. */
async function submitted(count: number, options: Record<string, unknown> = { model: TEST_MODEL }, unsent = 0) {
  const { job, items } = await createJob(env(), { lines: promptLines(count + unsent), options });
  const state = pollState(await submitBatch(submitInput(job, items.slice(0, count)), env().deps));
  return { job, items, state };
}

/** Mid-job: other items of the job are still to be sent, so the polls follow the usual intervals. */
const MID_JOB = 1;

/** The Step Functions loop of one child: Wait (skipped), Poll batch, Choice pending > 0. */
async function pollUntilDone(state: BatchState, beforeEachTurn: () => void): Promise<BatchState[]> {
  const turns: BatchState[] = [];
  let current = state;
  while (current.pending > 0) {
    if (turns.length >= 20) throw new Error('the poll loop did not end');
    beforeEachTurn();
    current = await pollBatch(current, env().deps);
    turns.push(current);
  }
  return turns;
}

/** A line of a Batch output file, as OpenAI writes it for a /v1/responses request. */
function batchOutputLine(customId: string) {
  return {
    id: `batch_req_${customId}`,
    custom_id: customId,
    response: {
      status_code: 200,
      request_id: `req_${customId}`,
      body: {
        id: `resp_${customId}`,
        object: 'response',
        status: 'completed',
        model: TEST_MODEL,
        output: [
          { type: 'message', role: 'assistant', content: [{ type: 'output_text', text: `answer for ${customId}` }] },
        ],
        usage: { input_tokens: 10, output_tokens: 5, total_tokens: 15 },
      },
    },
    error: null,
  };
}

function batchErrorLine(customId: string) {
  return {
    id: `batch_req_${customId}`,
    custom_id: customId,
    response: {
      status_code: 400,
      request_id: `req_${customId}`,
      body: { error: { code: 'invalid_prompt', message: `prompt ${customId} was rejected` } },
    },
    error: null,
  };
}

describe('poll batch: provider calls', () => {
  test('every poll and cancel the task makes is added to the job, once per turn', async () => {
    // Arrange
    const { job, state } = await submitted(3);
    const before = env().openai.callsOf('responses.retrieve').length;

    // Act: the first turn sees nothing move; then responses advance one step per turn
    let turns = 0;
    await pollUntilDone(state, () => {
      turns++;
      if (turns > 1) advanceResponses(env().openai);
    });

    // Assert
    const retrieves = env().openai.callsOf('responses.retrieve').length - before;
    expect(retrieves).toBeGreaterThan(0);
    expect((await requireJob(env(), job.jobId)).providerPollCalls).toBe(retrieves);
  });
});

describe('poll batch: job counters', () => {
  test('a turn that ends several items adds them, their usage and cost and its polls to the job in one write', async () => {
    // Arrange: every response completes before the turn
    const { job, state } = await submitted(4);
    advanceResponses(env().openai);
    advanceResponses(env().openai);
    const writes = countWrites(env());

    // Act
    let turn: BatchState;
    try {
      turn = await pollBatch(state, env().deps);
    } finally {
      writes.stop();
    }

    // Assert
    expect(turn.pending).toBe(0);
    expect(writes.byKind).toEqual({ ITEM: 4, JOB: 1 });
    const stored = await requireJob(env(), job.jobId);
    expect(stored.counts).toMatchObject({ submitted: 4, succeeded: 4, failed: 0, cancelled: 0 });
    expect(stored.usage).toEqual({ inputTokens: 400, outputTokens: 80 });
    expect(stored.estimatedCostUsd).toBeCloseTo(4 * RESPONSE_COST, 12);
    expect(stored.providerPollCalls).toBe(4);
  });

  test('the latency a turn sees is kept on the job, and a later batch waits that long before its first poll', async () => {
    // Arrange: two batches of one job; the first batch's responses took 30 s
    const { job, items } = await createJob(env(), { lines: promptLines(8), options: { model: TEST_MODEL } });
    const first = pollState(await submitBatch(submitInput(job, items.slice(0, 4)), env().deps));
    for (const item of await itemsOf(env(), job.jobId)) {
      const response = responseFor(env().openai, item);
      completeResponse(env().openai, response.id);
      env().openai.setResponse(response.id, { created_at: 1_000, completed_at: 1_030 });
    }

    // Act
    await pollBatch(first, env().deps);
    const second = pollState(await submitBatch(submitInput(job, items.slice(4)), env().deps));

    // Assert
    expect(first.waitSeconds).toBe(5); // nothing seen yet: the default
    expect((await requireJob(env(), job.jobId)).latencyEstimateSeconds).toBe(30);
    expect(second.waitSeconds).toBe(30);
  });
});

describe('poll batch, responses mode', () => {
  test('loops until nothing is pending as responses move queued -> in_progress -> completed, recording usage and cost', async () => {
    // Arrange
    const { job, state } = await submitted(4);

    // Act
    const turns = await pollUntilDone(state, () => advanceResponses(env().openai));

    // Assert
    expect(turns.map((turn) => turn.pending)).toEqual([4, 0]);
    expect(turns.at(-1)?.pollTurn).toBe(2);
    const items = await itemsOf(env(), job.jobId);
    expect(items.map((item) => item.status)).toEqual(Array(4).fill('SUCCEEDED'));
    const first = await requireItem(env(), job.jobId, 'item-000');
    expect(first.result).toBe(`answer from ${first.providerId}`);
    expect(first.usage).toEqual({ inputTokens: 100, outputTokens: 20 });
    expect(first.costUsd).toBeCloseTo(RESPONSE_COST, 12);
    expect(first.output).toMatchObject({
      id: first.providerId,
      custom_id: 'item-000',
      error: null,
      response: { status_code: 200 },
    });
    const stored = await requireJob(env(), job.jobId);
    expect(stored.counts).toMatchObject({ total: 4, submitted: 4, succeeded: 4, failed: 0, cancelled: 0 });
    expect(stored.usage).toEqual({ inputTokens: 400, outputTokens: 80 });
    expect(stored.estimatedCostUsd).toBeCloseTo(4 * RESPONSE_COST, 12);
  });

  test('the wait grows while nothing finishes and shrinks when something did', async () => {
    // Arrange
    const { job, state } = await submitted(3, { model: TEST_MODEL }, MID_JOB);
    const [target] = await itemsOf(env(), job.jobId);
    if (!target) throw new Error('no item');

    // Act
    const quiet1 = await pollBatch(state, env().deps);
    const quiet2 = await pollBatch(quiet1, env().deps);
    completeResponse(env().openai, responseFor(env().openai, target).id);
    const moved = await pollBatch(quiet2, env().deps);

    // Assert
    expect([state.waitSeconds, quiet1.waitSeconds, quiet2.waitSeconds, moved.waitSeconds]).toEqual([5, 8, 12, 8]);
    expect([quiet1.pending, quiet2.pending, moved.pending]).toEqual([3, 3, 2]);
    expect([quiet1.pollTurn, quiet2.pollTurn, moved.pollTurn]).toEqual([1, 2, 3]);
  });

  test('at the end of a job (every item sent) stragglers are polled every quarter latency until overdue, then the waits grow', async () => {
    // Arrange: the whole job is this batch; the job has seen 8 s latencies
    const { job, state } = await submitted(3);
    await env().store.addProgress(job.jobId, Object.assign(new JobProgress(), { latencySeconds: 8 }));

    // Act: nothing finishes; the clock moves with each wait
    const waits: number[] = [];
    let current = state;
    for (let turn = 0; turn < 12; turn++) {
      env().clock.advance(current.waitSeconds * 1000);
      current = await pollBatch(current, env().deps);
      waits.push(current.waitSeconds);
    }

    // Assert: every 2 s while the requests are under 3 x 8 s old (polls at 5, 7, ... 23 s), then 1.5x more each turn
    expect(waits).toEqual([...Array<number>(10).fill(2), 3, 5]);
    expect(current.pending).toBe(3);
  });

  test('failed and cancelled responses end FAILED and CANCELLED with their errors', async () => {
    // Arrange
    const { job, state } = await submitted(3);
    const [failing, cancelled, completing] = await itemsOf(env(), job.jobId);
    if (!failing || !cancelled || !completing) throw new Error('missing items');
    env().openai.setResponse(responseFor(env().openai, failing).id, {
      status: 'failed',
      error: { code: 'content_filter', message: 'The model failed to answer' },
    });
    env().openai.setResponse(responseFor(env().openai, cancelled).id, { status: 'cancelled' });
    completeResponse(env().openai, responseFor(env().openai, completing).id);

    // Act
    const next = await pollBatch(state, env().deps);

    // Assert
    expect(next.pending).toBe(0);
    const failed = await requireItem(env(), job.jobId, failing.customId);
    expect(failed).toMatchObject({
      status: 'FAILED',
      error: { code: 'content_filter', message: 'The model failed to answer' },
    });
    expect(failed.output).toMatchObject({
      custom_id: failing.customId,
      response: null,
      error: { code: 'content_filter' },
    });
    expect(await requireItem(env(), job.jobId, cancelled.customId)).toMatchObject({
      status: 'CANCELLED',
      error: { code: 'cancelled' },
    });
    expect((await requireItem(env(), job.jobId, completing.customId)).status).toBe('SUCCEEDED');
    expect((await requireJob(env(), job.jobId)).counts).toMatchObject({ succeeded: 1, failed: 1, cancelled: 1 });
  });

  test('at the poll-turn bound the remaining responses are cancelled at the provider and fail with the reason', async () => {
    // Arrange
    const { job, state } = await submitted(3);
    const [done] = await itemsOf(env(), job.jobId);
    if (!done) throw new Error('no item');
    completeResponse(env().openai, responseFor(env().openai, done).id);
    const afterOne = await pollBatch(state, env().deps);

    // Act
    const last = await pollBatch({ ...afterOne, pollTurn: MAX_POLL_TURNS }, env().deps);

    // Assert
    expect(last.pending).toBe(0);
    const items = await itemsOf(env(), job.jobId);
    const stopped = items.filter((item) => item.customId !== done.customId);
    expect(stopped.map((item) => item.status)).toEqual(['FAILED', 'FAILED']);
    expect(stopped[0]?.error?.code).toBe('poll_limit_reached');
    expect(stopped[0]?.error?.message).toContain(`${MAX_POLL_TURNS} poll turns`);
    expect(
      env()
        .openai.callsOf('responses.cancel')
        .map(([id]) => id)
        .sort(),
    ).toEqual(stopped.map((item) => item.providerId).sort());
    expect(stopped.every((item) => responseFor(env().openai, item).status === 'cancelled')).toBe(true);
    expect((await requireItem(env(), job.jobId, done.customId)).status).toBe('SUCCEEDED');
    expect((await requireJob(env(), job.jobId)).counts).toMatchObject({ succeeded: 1, failed: 2 });
  });

  test('past the batch deadline the remaining responses are cancelled and fail with deadline_exceeded', async () => {
    // Arrange
    const { job, state } = await submitted(2);
    env().clock.advance(Date.parse(state.deadline) - env().clock.now().getTime() + 1);

    // Act
    const next = await pollBatch(state, env().deps);

    // Assert
    expect(next.pending).toBe(0);
    const items = await itemsOf(env(), job.jobId);
    expect(items.map((item) => [item.status, item.error?.code])).toEqual([
      ['FAILED', 'deadline_exceeded'],
      ['FAILED', 'deadline_exceeded'],
    ]);
    expect(env().openai.callsOf('responses.cancel')).toHaveLength(2);
  });

  test('GIVEN the provider refuses the cancel WHEN the deadline stops the batch THEN its items end FAILED all the same and the refusal is logged', async () => {
    // Arrange
    const { job, state } = await submitted(2);
    env().openai.failNext(
      'responses.cancel',
      new InternalServerError(502, { message: 'bad gateway' }, 'bad gateway', new Headers()),
    );

    // Act
    const last = await pollBatch({ ...state, deadline: env().clock.now().toISOString() }, env().deps);

    // Assert
    expect(last.pending).toBe(0);
    expect((await itemsOf(env(), job.jobId)).map((item) => [item.status, item.error?.code])).toEqual(
      Array(2).fill(['FAILED', 'deadline_exceeded']),
    );
    expect(
      env().logger.lines.filter((line) => line.message === 'could not withdraw work from the provider'),
    ).toHaveLength(1);
  });

  test('a cancel request cancels the responses at the provider and ends the items CANCELLED', async () => {
    // Arrange
    const { job, state } = await submitted(3);
    await env().store.requestCancel(job.jobId);

    // Act
    const next = await pollBatch(state, env().deps);

    // Assert
    expect(next.pending).toBe(0);
    const items = await itemsOf(env(), job.jobId);
    expect(items.map((item) => [item.status, item.error?.code])).toEqual(Array(3).fill(['CANCELLED', 'job_cancelled']));
    expect(env().openai.callsOf('responses.cancel')).toHaveLength(3);
    expect(items.every((item) => responseFor(env().openai, item).status === 'cancelled')).toBe(true);
    expect((await requireJob(env(), job.jobId)).counts.cancelled).toBe(3);
  });
});

describe('poll batch, batch mode', () => {
  const BATCH_MODE = { model: TEST_MODEL, mode: 'batch' };

  test('a completed batch ends each item from the output and error files, matched by custom_id whatever their order', async () => {
    // Arrange
    const { job, state } = await submitted(5, BATCH_MODE, MID_JOB);
    const [batch] = [...env().openai.storedBatches.values()];
    if (!batch) throw new Error('no batch');
    env().openai.setBatch(batch.id, { status: 'in_progress' });
    const waiting = await pollBatch(state, env().deps);
    env().openai.setBatch(batch.id, {
      status: 'completed',
      output_file_id: env().openai.addFile(jsonl(['item-003', 'item-000', 'item-004'].map(batchOutputLine))),
      error_file_id: env().openai.addFile(jsonl([batchErrorLine('item-001')])),
      request_counts: { total: 5, completed: 3, failed: 1 },
    });

    // Act
    const done = await pollBatch(waiting, env().deps);

    // Assert
    expect(waiting).toMatchObject({ pending: 5, waitSeconds: 90 });
    expect(done.pending).toBe(0);
    for (const customId of ['item-000', 'item-003', 'item-004']) {
      const item = await requireItem(env(), job.jobId, customId);
      expect(item).toMatchObject({
        status: 'SUCCEEDED',
        result: `answer for ${customId}`,
        usage: { inputTokens: 10, outputTokens: 5 },
      });
      expect(item.output?.custom_id).toBe(customId);
      expect(item.costUsd).toBeCloseTo(((10 * 0.25 + 5 * 2) / 1e6) * 0.5, 12); // the Batch API bills half
    }
    expect(await requireItem(env(), job.jobId, 'item-001')).toMatchObject({
      status: 'FAILED',
      error: { code: 'invalid_prompt', message: 'prompt item-001 was rejected' },
    });
    expect(await requireItem(env(), job.jobId, 'item-002')).toMatchObject({
      status: 'FAILED',
      error: { code: 'missing_from_output' },
    });
    expect((await requireJob(env(), job.jobId)).counts).toMatchObject({ submitted: 5, succeeded: 3, failed: 2 });
  });

  test("a running batch is polled next when its request counts say it should be done; its duration becomes the job's first wait", async () => {
    // Arrange: a quarter of the requests finished in the first 60 s
    const { job, state } = await submitted(4, BATCH_MODE, MID_JOB);
    const [batch] = [...env().openai.storedBatches.values()];
    if (!batch) throw new Error('no batch');
    env().clock.advance(60_000);
    env().openai.setBatch(batch.id, { status: 'in_progress', request_counts: { total: 4, completed: 1, failed: 0 } });

    // Act
    const running = await pollBatch(state, env().deps);
    env().clock.advance(running.waitSeconds * 1000);
    env().openai.setBatch(batch.id, {
      status: 'completed',
      output_file_id: env().openai.addFile(
        jsonl(['item-000', 'item-001', 'item-002', 'item-003'].map(batchOutputLine)),
      ),
      request_counts: { total: 4, completed: 4, failed: 0 },
    });
    await pollBatch(running, env().deps);

    // Assert: 3 more quarters at 60 s a quarter; the job remembers the 240 s the batch took
    expect(running).toMatchObject({ pending: 4, waitSeconds: 180 });
    expect((await requireJob(env(), job.jobId)).latencyEstimateSeconds).toBe(240);
  });

  test('an expired batch keeps the finished results and, with no attempts left, fails the rest with batch_expired', async () => {
    // Arrange: one attempt allowed (test/tasks/recovery.test.ts sends the rest again)
    const { job, state } = await submitted(4, { ...BATCH_MODE, maxAttempts: 1 });
    const [batch] = [...env().openai.storedBatches.values()];
    if (!batch) throw new Error('no batch');
    env().openai.setBatch(batch.id, {
      status: 'expired',
      output_file_id: env().openai.addFile(jsonl(['item-002', 'item-000'].map(batchOutputLine))),
    });

    // Act
    const next = await pollBatch(state, env().deps);

    // Assert
    expect(next.pending).toBe(0);
    const items = await itemsOf(env(), job.jobId);
    expect(items.map((item) => [item.customId, item.status, item.error?.code])).toEqual([
      ['item-000', 'SUCCEEDED', undefined],
      ['item-001', 'FAILED', 'batch_expired'],
      ['item-002', 'SUCCEEDED', undefined],
      ['item-003', 'FAILED', 'batch_expired'],
    ]);
    expect(items[1]?.error?.message).toBe('batch expired before this request finished (gave up after 1 attempts)');
    expect(items[1]?.output).toMatchObject({ custom_id: 'item-001', response: null });
  });

  test('a cancel request cancels the provider batch once and ends the items CANCELLED', async () => {
    // Arrange
    const { job, state } = await submitted(2, BATCH_MODE);
    await env().store.requestCancel(job.jobId);

    // Act
    const next = await pollBatch(state, env().deps);

    // Assert
    expect(next.pending).toBe(0);
    expect(env().openai.callsOf('batches.cancel')).toHaveLength(1);
    expect([...env().openai.storedBatches.values()][0]?.status).toBe('cancelling');
    expect((await env().store.getBatch(job.jobId, state.batchId))?.cancelSent).toBe(true);
    expect((await itemsOf(env(), job.jobId)).map((item) => item.status)).toEqual(['CANCELLED', 'CANCELLED']);
  });
});
