import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { settleSubmitCalls, takeOverJob } from '../../local/data-dir/take-over.js';
import { SUBMIT_LEASE_MS } from '../../shared/limits.js';
import { JobStore } from '../../shared/store/job-store.js';
import type { JobRecord } from '../../shared/types.js';
import { startTestTable, type TestTable } from '../support/dynamo.js';

const NOW = Date.parse('2026-03-02T09:00:00.000Z');

function jobRecord(jobId: string): JobRecord {
  return {
    jobId,
    jobType: 'prompt',
    status: 'RUNNING',
    options: {
      mode: 'responses',
      model: 'gpt-5-mini',
      batchSize: 10,
      maxConcurrency: 1,
      toleratedFailurePercentage: 10,
      params: {},
    },
    manifest: { bucket: 'b', key: `jobs/${jobId}/manifest.jsonl` },
    counts: { total: 4, submitted: 0, succeeded: 0, failed: 0, cancelled: 0 },
    usage: { inputTokens: 0, outputTokens: 0 },
    providerSubmitCalls: 2,
    source: 'api',
    createdAt: new Date(NOW).toISOString(),
    updatedAt: new Date(NOW).toISOString(),
  };
}

describe('takeOverJob: a job left by a dead process, in a data dir only this process opens', () => {
  let table: TestTable;
  let store: JobStore;

  beforeAll(async () => {
    table = await startTestTable();
    // The store's clock stands still: every lease the dead process took is still live by the clock.
    store = new JobStore(table.dynamo, table.tableName, 7, () => new Date(NOW));
  });
  afterAll(() => table.close());

  /** A job as a process killed mid-run leaves it: items claimed, submitted, done and untouched; a batch claimed. */
  async function leftByADeadProcess(jobId: string): Promise<void> {
    await store.createJob(jobRecord(jobId));
    const at = (index: number) => ({ index, batchId: 'b0' });
    expect(typeof (await store.claimItem(jobId, 'claimed', SUBMIT_LEASE_MS, at(0)))).toBe('number');
    const lease = await store.claimItem(jobId, 'submitted', SUBMIT_LEASE_MS, at(1));
    await store.markItemSubmitted(jobId, 'submitted', 'resp_1', { lease: lease as number });
    const done = await store.claimItem(jobId, 'done', SUBMIT_LEASE_MS, at(2));
    await store.markItemSubmitted(jobId, 'done', 'resp_2', { lease: done as number });
    await store.finishItem(jobId, 'done', { status: 'SUCCEEDED', usage: { inputTokens: 10, outputTokens: 3 } });
    expect(await store.claimBatch({ jobId, batchId: 'b1', mode: 'batch' }, SUBMIT_LEASE_MS)).toBeDefined();
  }

  test('GIVEN live leases of a dead process WHEN the job is taken over THEN they are claimable at once, submitted items stay submitted, and the counters come from the items', async () => {
    // Arrange
    await leftByADeadProcess('job-real');

    // Act
    const taken = await takeOverJob(table.dynamo, table.tableName, 'job-real', { providerLost: false });

    // Assert
    expect(taken).toEqual({ done: 1, leasesTaken: 2, requeued: 0 });
    expect(typeof (await store.claimItem('job-real', 'claimed', SUBMIT_LEASE_MS))).toBe('number');
    expect(await store.claimItem('job-real', 'submitted', SUBMIT_LEASE_MS)).toBe('done');
    expect(await store.getItem('job-real', 'submitted')).toMatchObject({ status: 'SUBMITTED', providerId: 'resp_1' });
    // A takeover: the claim looks for the provider batch the dead holder may have made before making one.
    expect(await store.claimBatch({ jobId: 'job-real', batchId: 'b1', mode: 'batch' }, SUBMIT_LEASE_MS)).toMatchObject({
      takeover: true,
    });
    expect(await store.getJob('job-real')).toMatchObject({
      counts: { total: 4, submitted: 2, succeeded: 1, failed: 0, cancelled: 0 },
      usage: { inputTokens: 10, outputTokens: 3 },
    });
  });

  test('GIVEN a job moved from the built-in mock to a real provider, which never saw its requests, WHEN the job is taken over THEN its submitted items are queued to be sent again', async () => {
    // Arrange
    await leftByADeadProcess('job-mock');

    // Act
    const taken = await takeOverJob(table.dynamo, table.tableName, 'job-mock', { providerLost: true });

    // Assert
    expect(taken).toEqual({ done: 1, leasesTaken: 2, requeued: 1 });
    const submitted = await store.getItem('job-mock', 'submitted');
    expect(submitted?.status).toBe('QUEUED');
    expect(submitted?.providerId).toBeUndefined();
    expect(typeof (await store.claimItem('job-mock', 'submitted', SUBMIT_LEASE_MS))).toBe('number');
    expect(await store.getItem('job-mock', 'done')).toMatchObject({ status: 'SUCCEEDED', providerId: 'resp_2' });
    expect((await store.getJob('job-mock'))?.counts).toMatchObject({ submitted: 1, succeeded: 1 });
  });

  test('GIVEN create calls a dead process never recorded WHEN the total is settled, twice THEN the job counts them once', async () => {
    // Arrange
    await store.createJob(jobRecord('job-calls'));

    // Act
    await settleSubmitCalls(table.dynamo, table.tableName, 'job-calls', 7);
    await settleSubmitCalls(table.dynamo, table.tableName, 'job-calls', 7);
    await settleSubmitCalls(table.dynamo, table.tableName, 'job-calls', 5);

    // Assert
    expect((await store.getJob('job-calls'))?.providerSubmitCalls).toBe(7);
  });
});
