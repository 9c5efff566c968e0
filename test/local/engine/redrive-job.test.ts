import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { LocalRuntime } from '../../../local/local-stack.js';
import type { ResponsesProvider } from '../../../shared/provider/provider.js';
import type { ItemRecord, JobRecord, LogEntry } from '../../../shared/types.js';
import { cli } from '../../support/cli.js';
import { promptLines, TEST_MODEL } from '../../support/deps.js';

/**
 * Redrive end to end on the local runtime, through its HTTP API and its Step Functions API: a job
 * whose execution is stopped by hand mid-run, then redriven, ends with exact counts and sends no
 * item twice.
 */

const ITEMS = 12;
/** Items in batches of 4: the first two batches are answered before the stop, the last one's sends are held. */
const SENT_BEFORE_THE_STOP = 8;
const HELD = new Set(
  promptLines(ITEMS)
    .slice(SENT_BEFORE_THE_STOP)
    .map((line) => String(line.id)),
);

/**
 * Counts the requests that reach the provider, by item. The last batch's sends wait at a gate;
 * when the execution is stopped they fail without being sent (their process died with it), and so
 * does any later send of that task, until the redrive.
 */
class GatedSends {
  readonly perItem = new Map<string, number>();
  private stopped = false;
  private released = false;
  waiting = 0;
  private open: () => void = () => undefined;
  private readonly gate = new Promise<void>((resolve) => (this.open = resolve));

  wrap(real: ResponsesProvider): ResponsesProvider {
    const gated = Object.create(real) as ResponsesProvider;
    gated.submitRequest = async (request, idempotencyKey) => {
      const customId = idempotencyKey.slice(idempotencyKey.indexOf(':') + 1);
      if (HELD.has(customId) && !this.released) {
        this.waiting++;
        if (!this.stopped) await this.gate;
        // The process died with the stop: nothing it held is sent, and it does not retry (a
        // connection error would be retried in the task, which a dead process does not do).
        throw new Error('the process died before the request was sent');
      }
      this.perItem.set(customId, (this.perItem.get(customId) ?? 0) + 1);
      return real.submitRequest(request, idempotencyKey);
    };
    return gated;
  }

  /** The execution was stopped: the held sends fail unsent. */
  stop(): void {
    this.stopped = true;
    this.open();
  }

  /** The job is redriven: sends go through. */
  release(): void {
    this.released = true;
  }
}

let runtime: LocalRuntime;
const sends = new GatedSends();

beforeAll(async () => {
  runtime = await LocalRuntime.start({ timeScale: 100, apiPort: 0, mock: { latencyMs: 200, seed: 3 } });
  const { provider } = runtime.deps;
  Object.assign(runtime.deps, {
    provider: async () => sends.wrap((await provider()) as ResponsesProvider),
  });
});
afterAll(async () => {
  await runtime.stop();
});

async function api(method: string, path: string): Promise<{ status: number; body: Record<string, unknown> }> {
  const response = await fetch(`${runtime.apiUrl}${path}`, { method });
  const text = await response.text();
  return { status: response.status, body: text.startsWith('{') ? (JSON.parse(text) as Record<string, unknown>) : {} };
}

async function until<T>(what: string, read: () => Promise<T>, done: (value: T) => boolean): Promise<T> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    const value = await read();
    if (done(value)) return value;
    if (Date.now() > deadline) throw new Error(`${what}: not seen within 60 s`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

async function itemsOf(jobId: string): Promise<ItemRecord[]> {
  const items: ItemRecord[] = [];
  for await (const page of runtime.deps.store.allItems(jobId)) items.push(...page);
  return items;
}

const jobOf = async (jobId: string) => (await runtime.deps.store.getJob(jobId)) as JobRecord;

describe('a job whose execution was stopped, redriven through the API', () => {
  test('GIVEN two of three batches answered and the last one with its sends held when the execution is stopped WHEN the job is redriven THEN only that batch runs again, the job ends COMPLETED with exact counts, and each item was sent exactly once', async () => {
    // GIVEN a running job: 8 items answered, the last batch's sends held
    const created = await fetch(`${runtime.apiUrl}/jobs`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        jobType: 'prompt',
        options: { model: TEST_MODEL, batchSize: 4, maxConcurrency: 3 },
        items: promptLines(ITEMS),
      }),
    });
    const { jobId } = (await created.json()) as { jobId: string };
    await until(
      "eight items answered and the last batch's sends held",
      () => itemsOf(jobId),
      (items) =>
        items.filter((item) => item.status === 'SUCCEEDED').length === SENT_BEFORE_THE_STOP &&
        !items.some((item) => item.status === 'SUBMITTED') &&
        sends.waiting > 0 &&
        // The two answered batches' child executions have ended; only the held one runs.
        runtime.engine.stats().runningChildren === 1,
    );

    // WHEN its execution is stopped by hand: the safety net ends the job FAILED and the open items FAILED
    const { executionArn } = await jobOf(jobId);
    runtime.engine.stopExecution(executionArn ?? '', { error: 'Stopped', cause: 'by an operator' });
    sends.stop();
    await until(
      'the safety net to end the job',
      () => runtime.deps.store.listLogs(jobId, { limit: 100 }),
      (page) => page.items.some((log: LogEntry) => log.message.includes('the job was marked FAILED')),
    );
    expect(await jobOf(jobId)).toMatchObject({
      status: 'FAILED',
      counts: { succeeded: SENT_BEFORE_THE_STOP, failed: ITEMS - SENT_BEFORE_THE_STOP },
    });
    const childrenBefore = runtime.engine.stats().childExecutions;

    // ... and it is redriven
    sends.release();
    const redrive = await api('POST', `/jobs/${jobId}/redrive`);
    expect(redrive.status).toBe(202);
    expect(redrive.body).toMatchObject({ status: 'RUNNING', redriveCount: 1 });
    const again = await api('POST', `/jobs/${jobId}/redrive`);
    expect(again.status).toBe(409);
    expect((again.body.error as { reason: string }).reason).toBe(
      'it is RUNNING; only a job whose execution failed, timed out or was stopped can be redriven',
    );
    const ended = await runtime.engine.waitForExecution(executionArn ?? '');

    // THEN
    expect(ended).toMatchObject({ status: 'SUCCEEDED', redriveCount: 1 });
    // The map run kept its two succeeded children and redrove the stopped one.
    expect(runtime.engine.stats().childExecutions - childrenBefore).toBe(1);
    const job = await until(
      'the job to end',
      () => jobOf(jobId),
      (current) => current.status !== 'RUNNING',
    );
    expect(job).toMatchObject({
      status: 'COMPLETED',
      counts: { total: ITEMS, succeeded: ITEMS, failed: 0, cancelled: 0 },
      redriveCount: 1,
    });
    const results = await fetch(`${runtime.apiUrl}/jobs/${jobId}/results`);
    const ids = (await results.text())
      .trim()
      .split('\n')
      .map((line) => (JSON.parse(line) as { custom_id: string }).custom_id);
    expect(ids.sort()).toEqual(
      promptLines(ITEMS)
        .map((line) => String(line.id))
        .sort(),
    );
    expect([...sends.perItem.keys()].sort()).toEqual(ids);
    expect(Object.fromEntries([...sends.perItem].filter(([, count]) => count !== 1))).toEqual({});
    const logs = await runtime.deps.store.listLogs(jobId, { limit: 100 });
    expect(logs.items.map((log: LogEntry) => log.message)).toContain(
      `job redriven: ${ITEMS - SENT_BEFORE_THE_STOP} items reopened`,
    );
  });

  test('GIVEN a job stopped before any item was sent WHEN `llm-batch retry` runs against the API THEN a linked job of every item runs with the option given; `llm-batch redrive` of a finished job prints one line and exits 1', async () => {
    // GIVEN
    const created = await fetch(`${runtime.apiUrl}/jobs`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        jobType: 'prompt',
        options: { model: TEST_MODEL, batchSize: 4 },
        items: promptLines(ITEMS),
      }),
    });
    const { jobId, execution } = (await created.json()) as { jobId: string; execution: { arn: string } };
    runtime.engine.stopExecution(execution.arn);
    await until(
      'the safety net to end the job',
      () => runtime.deps.store.listLogs(jobId, { limit: 100 }),
      (page) => page.items.some((log: LogEntry) => log.message.includes('the job was marked FAILED')),
    );

    // WHEN
    const retry = await cli(['retry', jobId, '--api', runtime.apiUrl ?? '', '--batch-size', '6']);
    const redrive = await cli(['redrive', jobId, '--api', runtime.apiUrl ?? '']);

    // THEN
    expect(retry.code).toBe(0);
    const retried = JSON.parse(retry.stdout) as { jobId: string; parentJobId: string; options: { batchSize: number } };
    expect(retried).toMatchObject({ parentJobId: jobId, options: { batchSize: 6 }, counts: { total: ITEMS } });
    const done = await until(
      'the retry to end',
      () => jobOf(retried.jobId),
      (current) => current.status !== 'QUEUED' && current.status !== 'RUNNING',
    );
    expect(done).toMatchObject({ status: 'COMPLETED', counts: { total: ITEMS, succeeded: ITEMS } });
    // The original stopped job can be redriven too (its items were never sent); once it has run, it cannot.
    expect(redrive.code).toBe(0);
    await runtime.engine.waitForExecution(execution.arn);
    await until(
      'the redriven job to end',
      () => jobOf(jobId),
      (current) => current.status !== 'RUNNING',
    );
    const refused = await cli(['redrive', jobId, '--api', runtime.apiUrl ?? '']);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toBe(
      `llm-batch: POST ${runtime.apiUrl}/jobs/${jobId}/redrive answered 409: JobNotRedrivable: job ${jobId} cannot be redriven: it ended COMPLETED and its execution succeeded\n`,
    );
  }, 120_000);
});
