import { describe, expect, test } from '@jest/globals';
import { ValidationError } from '../../shared/errors.js';
import { createDefaultRegistry } from '../../shared/job-types/registry.js';
import { resolveJobOptions } from '../../shared/job-options.js';
import { queueTokensOf } from '../../shared/modes/batch-queue.js';
import { BatchQueueBudget } from '../../shared/rate-limit/batch-queue-budget.js';
import type { ManifestLine } from '../../shared/store/object-store.js';
import type { JobRecord } from '../../shared/types.js';
import {
  isQueueRoomWait,
  type BatchState,
  type QueueRoomWait,
  type RateLimitWait,
} from '../../shared/workflow-state.js';
import { pollBatch } from '../../tasks/poll-batch.js';
import { submitBatch } from '../../tasks/submit-batch.js';
import {
  TEST_MODEL,
  completeResponse,
  createJob,
  itemsOf,
  jsonl,
  pollState,
  promptLines,
  requireItem,
  responseFor,
  submitInput,
  useTaskTestEnv,
  type TaskTestEnv,
} from '../support/deps.js';

const env = useTaskTestEnv();
const BATCH_MODE = { model: TEST_MODEL, mode: 'batch' };

/** What "Gather items to resend" hands Submit batch: the child's own items, its context and its turn. */
function gathered(job: Pick<JobRecord, 'jobId' | 'jobType' | 'options'>, items: ManifestLine[], state: BatchState) {
  return { ...submitInput(job, items), pollTurn: state.pollTurn };
}

function failResponse(e: TaskTestEnv, providerId: string | undefined, code: string): void {
  if (!providerId) throw new Error('the item has no provider id');
  e.openai.setResponse(providerId, { status: 'failed', error: { code, message: `the response failed: ${code}` } });
}

function outputLine(customId: string) {
  const body = { id: `resp_${customId}`, object: 'response', status: 'completed', model: TEST_MODEL, output: [] };
  return {
    id: `br_${customId}`,
    custom_id: customId,
    response: { status_code: 200, request_id: 'r', body },
    error: null,
  };
}

function errorLine(customId: string, status: number, type: string, code: string) {
  const body = { error: { message: `${code} for ${customId}`, type, code } };
  return {
    id: `br_${customId}`,
    custom_id: customId,
    response: { status_code: status, request_id: 'r', body },
    error: null,
  };
}

function present<T>(value: T | undefined): T {
  if (value === undefined) throw new Error('expected a value');
  return value;
}

/** The provider batches created so far, oldest first. */
function providerBatches(e: TaskTestEnv) {
  return [...e.openai.storedBatches.values()];
}

function requireState(state: BatchState | RateLimitWait | QueueRoomWait): QueueRoomWait {
  if (!isQueueRoomWait(state)) throw new Error('expected a wait for batch queue room');
  return state;
}

describe('responses mode: transient failures are sent again, permanent ones are not', () => {
  test('GIVEN a background response that ends failed with server_error WHEN polled and resent THEN a new response succeeds on attempt 2', async () => {
    const { job, items } = await createJob(env(), { lines: promptLines(2), options: { model: TEST_MODEL } });
    const sent = pollState(await submitBatch(submitInput(job, items), env().deps));
    const [flaky, fine] = await itemsOf(env(), job.jobId);
    failResponse(env(), flaky?.providerId, 'server_error');
    completeResponse(env().openai, responseFor(env().openai, present(fine)).id);

    // WHEN the poll sees the failure
    const polled = await pollBatch(sent, env().deps);

    // THEN the item waits to be sent again, its error kept, one attempt spent
    expect(polled).toMatchObject({ pending: 1, resend: 1, pollTurn: 1 });
    expect(await requireItem(env(), job.jobId, 'item-000')).toMatchObject({
      status: 'QUEUED',
      attempts: 1,
      lastError: { code: 'server_error' },
    });

    // WHEN the child resends it (Gather items to resend -> Submit batch)
    const resent = pollState(await submitBatch(gathered(job, items, polled), env().deps));
    const again = await requireItem(env(), job.jobId, 'item-000');
    completeResponse(env().openai, responseFor(env().openai, again).id);
    const done = await pollBatch(resent, env().deps);

    // THEN only that item went out again, as a new response, and succeeded on its second attempt
    expect(resent).toMatchObject({ pending: 1, pollTurn: 2 });
    expect(env().openai.callsOf('responses.create')).toHaveLength(3);
    expect(again.providerId).not.toBe(flaky?.providerId);
    expect(done.pending).toBe(0);
    expect(await requireItem(env(), job.jobId, 'item-000')).toMatchObject({ status: 'SUCCEEDED', attempts: 2 });
    expect(await requireItem(env(), job.jobId, 'item-001')).toMatchObject({ status: 'SUCCEEDED', attempts: 1 });
  });

  test('GIVEN maxAttempts 2 WHEN the response fails with server_error twice THEN the item ends FAILED saying so', async () => {
    const { job, items } = await createJob(env(), {
      lines: promptLines(1),
      options: { model: TEST_MODEL, maxAttempts: 2 },
    });
    let state = pollState(await submitBatch(submitInput(job, items), env().deps));
    failResponse(env(), (await requireItem(env(), job.jobId, 'item-000')).providerId, 'server_error');
    state = await pollBatch(state, env().deps);
    state = pollState(await submitBatch(gathered(job, items, state), env().deps));
    failResponse(env(), (await requireItem(env(), job.jobId, 'item-000')).providerId, 'server_error');

    const last = await pollBatch(state, env().deps);

    expect(last.pending).toBe(0);
    expect(last.resend).toBeUndefined();
    const item = await requireItem(env(), job.jobId, 'item-000');
    expect(item).toMatchObject({ status: 'FAILED', attempts: 2, error: { code: 'server_error' } });
    expect(item.error?.message).toBe('the response failed: server_error (gave up after 2 attempts)');
    expect(item.output?.error?.message).toContain('gave up after 2 attempts');
  });

  test('GIVEN a response that fails with a 400-class code THEN the item ends FAILED at once, not sent again', async () => {
    const { job, items } = await createJob(env(), { lines: promptLines(1), options: { model: TEST_MODEL } });
    const state = pollState(await submitBatch(submitInput(job, items), env().deps));
    failResponse(env(), (await requireItem(env(), job.jobId, 'item-000')).providerId, 'invalid_prompt');

    const polled = await pollBatch(state, env().deps);

    expect(polled.resend).toBeUndefined();
    expect(await requireItem(env(), job.jobId, 'item-000')).toMatchObject({
      status: 'FAILED',
      attempts: 1,
      error: { code: 'invalid_prompt', message: 'the response failed: invalid_prompt' },
    });
  });
});

describe('batch mode: expired and partial batches keep what finished', () => {
  test('GIVEN a batch that expired with 2 of 4 lines done WHEN resent THEN a new provider batch of the other 2 finishes the child', async () => {
    const { job, items } = await createJob(env(), { lines: promptLines(4), options: BATCH_MODE });
    const sent = pollState(await submitBatch(submitInput(job, items), env().deps));
    const [first] = providerBatches(env());
    env().openai.setBatch(present(first).id, {
      status: 'expired',
      output_file_id: env().openai.addFile(jsonl(['item-002', 'item-000'].map(outputLine))),
    });

    const polled = await pollBatch(sent, env().deps);

    expect(polled).toMatchObject({ pending: 2, resend: 2 });
    const statuses = (await itemsOf(env(), job.jobId)).map((i) => [i.customId, i.status, i.attempts]);
    expect(statuses).toEqual([
      ['item-000', 'SUCCEEDED', 1],
      ['item-001', 'QUEUED', 1],
      ['item-002', 'SUCCEEDED', 1],
      ['item-003', 'QUEUED', 1],
    ]);
    expect(await env().store.getBatch(job.jobId, sent.batchId)).toMatchObject({
      round: 2,
      earlierBatchIds: [present(first).id],
    });

    // WHEN the child resends
    const resent = pollState(await submitBatch(gathered(job, items, polled), env().deps));
    const second = providerBatches(env())[1];
    const file = env().openai.storedFiles.get(String(second?.input_file_id));
    env().openai.setBatch(present(second).id, {
      status: 'completed',
      output_file_id: env().openai.addFile(jsonl(['item-001', 'item-003'].map(outputLine))),
    });
    const done = await pollBatch(resent, env().deps);

    // THEN the new batch held only the unfinished lines, marked as the child's second round
    expect(providerBatches(env())).toHaveLength(2);
    expect(second?.metadata).toMatchObject({ llm_batch_batch_id: sent.batchId, llm_batch_round: '2' });
    expect(
      file?.content
        .split('\n')
        .filter(Boolean)
        .map((line) => (JSON.parse(line) as { custom_id: string }).custom_id),
    ).toEqual(['item-001', 'item-003']);
    expect(done.pending).toBe(0);
    const ended = (await itemsOf(env(), job.jobId)).map((i) => [i.customId, i.status, i.attempts]);
    expect(ended).toEqual([
      ['item-000', 'SUCCEEDED', 1],
      ['item-001', 'SUCCEEDED', 2],
      ['item-002', 'SUCCEEDED', 1],
      ['item-003', 'SUCCEEDED', 2],
    ]);
  });

  test('GIVEN an error file with a 500 server_error line and a 400 line THEN the first is sent again and the second fails', async () => {
    const { job, items } = await createJob(env(), { lines: promptLines(2), options: BATCH_MODE });
    const sent = pollState(await submitBatch(submitInput(job, items), env().deps));
    env().openai.setBatch(present(providerBatches(env())[0]).id, {
      status: 'completed',
      error_file_id: env().openai.addFile(
        jsonl([
          errorLine('item-000', 500, 'server_error', 'server_error'),
          errorLine('item-001', 400, 'invalid_request_error', 'invalid_prompt'),
        ]),
      ),
    });

    const polled = await pollBatch(sent, env().deps);

    expect(polled).toMatchObject({ pending: 1, resend: 1 });
    expect(await requireItem(env(), job.jobId, 'item-000')).toMatchObject({ status: 'QUEUED' });
    expect(await requireItem(env(), job.jobId, 'item-001')).toMatchObject({
      status: 'FAILED',
      error: { code: 'invalid_prompt' },
    });
  });
});

describe('batch mode: the batch queue is back-pressure, not failure', () => {
  const LIMIT_MESSAGE = (limit: string) =>
    `Enqueued token limit reached for ${TEST_MODEL} in organization org-test. Limit: ${limit} enqueued tokens. ` +
    'Please try submitting fewer tasks or wait for previous ones to finish.';

  test('GIVEN a batch refused with token_limit_exceeded WHEN polled THEN its items wait, no attempt spent, and the limit is learned', async () => {
    const { job, items } = await createJob(env(), { lines: promptLines(4), options: { ...BATCH_MODE, batchSize: 2 } });
    const [firstHalf, secondHalf] = [items.slice(0, 2), items.slice(2)];
    const compiled = env().deps.jobTypes.get('prompt').compile(job.options);
    const tokens = queueTokensOf(firstHalf.map((item) => compiled.toRequest(item.line)));
    const one = pollState(await submitBatch(submitInput(job, firstHalf), env().deps));
    const two = pollState(await submitBatch(submitInput(job, secondHalf), env().deps));
    const [batchOne, batchTwo] = providerBatches(env());
    // The provider fits one batch: the second fails validation.
    const limit = tokens + Math.floor(tokens / 2);
    env().openai.setBatch(present(batchTwo).id, {
      status: 'failed',
      errors: { data: [{ code: 'token_limit_exceeded', message: LIMIT_MESSAGE(limit.toLocaleString('en-US')) }] },
    });

    const refused = await pollBatch(two, env().deps);

    expect(refused).toMatchObject({ pending: 2, resend: 2 });
    expect(await requireItem(env(), job.jobId, 'item-002')).toMatchObject({ status: 'QUEUED', attempts: 0 });
    const budget = new BatchQueueBudget(env().store.table, env().limiter.keyId, () => env().clock.now().getTime());
    const queue = await budget.read(TEST_MODEL);
    expect(queue.limitTokens).toBe(limit);
    expect(Object.keys(queue.holds)).toEqual([`${job.jobId}/${one.batchId}`]);

    // WHEN the child comes back while batch one still runs THEN it waits for room, creating nothing
    const waiting = requireState(await submitBatch(gathered(job, secondHalf, refused), env().deps));
    expect(waiting).toMatchObject({ queueFull: { tokens, enqueued: tokens, limit }, pending: 2, pollTurn: 2 });
    expect(providerBatches(env())).toHaveLength(2);

    // WHEN batch one ends and the refusal's pause is over THEN the wait's submit creates the batch
    env().openai.setBatch(present(batchOne).id, {
      status: 'completed',
      output_file_id: env().openai.addFile(jsonl(['item-000', 'item-001'].map(outputLine))),
    });
    await pollBatch(one, env().deps);
    env().clock.advance(waiting.waitSeconds * 1000 + 60_000);
    const created = pollState(await submitBatch(waiting, env().deps));

    expect(created).toMatchObject({ pending: 2, pollTurn: 3 });
    expect(providerBatches(env())).toHaveLength(3);
    expect(await requireItem(env(), job.jobId, 'item-002')).toMatchObject({ status: 'SUBMITTED', attempts: 1 });
    expect(Object.keys((await budget.read(TEST_MODEL)).holds)).toEqual([`${job.jobId}/${two.batchId}`]);
  });
});

describe('the maxAttempts option', () => {
  const prompt = createDefaultRegistry().get('prompt');

  test('GIVEN no maxAttempts THEN it is 10; GIVEN 1 or 3 THEN it is kept', () => {
    expect(resolveJobOptions({ model: TEST_MODEL }, prompt).maxAttempts).toBe(10);
    expect(resolveJobOptions({ model: TEST_MODEL, maxAttempts: 1 }, prompt).maxAttempts).toBe(1);
    expect(resolveJobOptions({ model: TEST_MODEL, maxAttempts: 3 }, prompt).maxAttempts).toBe(3);
  });

  test.each([0, 11, 2.5, '3'])('GIVEN maxAttempts %j THEN the error names options.maxAttempts', (value) => {
    expect(() => resolveJobOptions({ model: TEST_MODEL, maxAttempts: value }, prompt)).toThrow(
      new ValidationError(`must be an integer from 1 to 10, got ${JSON.stringify(value)}`, 'options.maxAttempts'),
    );
  });
});
