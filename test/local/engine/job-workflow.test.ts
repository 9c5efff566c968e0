import { describe, expect, test } from '@jest/globals';
import type { MapRunChildResult } from '../../../local/engine/local-step-functions.js';
import { InvalidRequestError, ProviderUnavailableError, RateLimitedError } from '../../../shared/errors.js';
import { STATE } from '../../../workflows/state-names.js';
import {
  BUCKET,
  Harness,
  jobDefinition,
  makeItems,
  namedError,
  type BatchState,
  type ChildInput,
  type JobContext,
} from './harness.js';

/** The real rendered job workflow, run locally with mocked task implementations. */

interface FinalizeInput {
  job: JobContext;
  mapRun?: { MapRunArn: string; ResultWriterDetails: { Bucket: string; Key: string } };
  mapError?: { Error: string; Cause: string };
}

interface Manifest {
  DestinationBucket: string;
  MapRunArn: string;
  ResultFiles: Record<'SUCCEEDED' | 'FAILED' | 'PENDING', { Key: string; Size: number }[]>;
}

function batchOf(input: unknown): ChildInput {
  return input as ChildInput;
}

function hasItem0(input: unknown): boolean {
  return batchOf(input).Items.some((item) => item.customId === 'item-0');
}

function resultFiles(h: Harness, finalize: FinalizeInput) {
  const details = finalize.mapRun?.ResultWriterDetails;
  if (!details) throw new Error('the map wrote no results');
  const manifest = h.object<Manifest>(`${details.Bucket}/${details.Key}`);
  const read = (status: 'SUCCEEDED' | 'FAILED') =>
    manifest.ResultFiles[status].flatMap((file) =>
      h.object<MapRunChildResult[]>(`${manifest.DestinationBucket}/${file.Key}`),
    );
  return { manifest, succeeded: read('SUCCEEDED'), failed: read('FAILED') };
}

describe('the job workflow on the local engine', () => {
  test('prepares, maps the items in batches under MaxConcurrency, and finalizes with the map run', async () => {
    const h = new Harness({ items: makeItems(10), job: { batchSize: 3, maxConcurrency: 2 }, taskDelayMs: 10 });

    const { description, history } = await h.run();

    expect(description.status).toBe('SUCCEEDED');
    expect(h.readerRequests).toEqual([{ bucket: BUCKET, key: 'jobs/job-1/manifest.jsonl', inputType: 'JSONL' }]);
    const batches = h.callsOf(STATE.submitBatch).map(batchOf);
    expect(batches.map((b) => b.Items.length).sort()).toEqual([1, 3, 3, 3]);
    expect(batches.flatMap((b) => b.Items.map((item) => item.customId)).sort()).toEqual(
      makeItems(10)
        .map((i) => i.customId)
        .sort(),
    );
    // Every child gets the job's fixed context, so its tasks need not read the job record for it.
    for (const batch of batches)
      expect(batch.BatchInput).toEqual({
        jobId: 'job-1',
        jobType: 'classify',
        options: { mode: 'responses' },
        paramsInRecord: false,
      });
    // Two children at a time, never more: measured by the tasks and by the engine.
    expect(h.peakActiveBatches).toBe(2);
    expect(h.engine.stats().peakRunningChildren).toBe(2);

    const [finalize] = h.callsOf(STATE.finalizeJob) as FinalizeInput[];
    expect(finalize?.mapError).toBeUndefined();
    expect(finalize?.mapRun?.MapRunArn).toMatch(
      /^arn:aws:states:us-east-1:000000000000:mapRun:llm-batch-jobs\/Batches:[0-9a-f-]{36}$/,
    );
    const mapRunId = finalize?.mapRun?.MapRunArn.split(':').pop() ?? '';
    expect(finalize?.mapRun?.ResultWriterDetails).toEqual({
      Bucket: BUCKET,
      Key: `map-runs/${mapRunId}/manifest.json`,
    });
    const { manifest, succeeded, failed } = resultFiles(h, finalize as FinalizeInput);
    expect(manifest.MapRunArn).toBe(finalize?.mapRun?.MapRunArn);
    expect(manifest.ResultFiles.SUCCEEDED[0]?.Key).toBe(`map-runs/${mapRunId}/SUCCEEDED_0.json`);
    expect(failed).toEqual([]);
    expect(succeeded).toHaveLength(4);
    for (const child of succeeded) {
      expect(child.Status).toBe('SUCCEEDED');
      expect(child.ExecutionArn).toMatch(/:execution:llm-batch-jobs\/Batches:/);
      expect((JSON.parse(child.Output ?? 'null') as BatchState).pending).toBe(0);
    }

    const types = history.map((event) => event.type);
    expect(types[0]).toBe('ExecutionStarted');
    expect(types.at(-1)).toBe('ExecutionSucceeded');
    expect(types).toEqual(
      expect.arrayContaining([
        'MapStateEntered',
        'MapRunStarted',
        'MapRunSucceeded',
        'MapStateExited',
        'LambdaFunctionScheduled',
      ]),
    );
    const mapEntered = types.indexOf('MapStateEntered');
    expect(types.slice(mapEntered, mapEntered + 6)).toEqual([
      'MapStateEntered',
      'MapStateStarted',
      'MapRunStarted',
      'MapRunSucceeded',
      'MapStateSucceeded',
      'MapStateExited',
    ]);
    expect(h.engine.stats()).toMatchObject({ executions: 1, childExecutions: 4, taskInvocations: 2 + 4 + 10 });
  });

  test('waits are slept, divided by timeScale', async () => {
    // 4 polls of one batch, each after a 5 s wait: 20 s at timeScale 200 is 100 ms.
    const h = new Harness({ items: makeItems(4), job: { batchSize: 4 }, timeScale: 200 });
    const started = Date.now();
    const { description } = await h.run();
    expect(description.status).toBe('SUCCEEDED');
    expect(Date.now() - started).toBeGreaterThanOrEqual(95);
  });

  test('the poll loop turns until nothing is pending', async () => {
    const h = new Harness({ items: makeItems(4), job: { batchSize: 4 } });
    const { description } = await h.run();
    expect(description.status).toBe('SUCCEEDED');
    expect(h.callsOf(STATE.submitBatch)).toHaveLength(1);
    expect(h.callsOf(STATE.pollBatch).map((input) => (input as BatchState).pending)).toEqual([4, 3, 2, 1]);
  });

  test('a RateLimitedError from Submit batch is retried by name until the batch completes', async () => {
    let throttled = 0;
    const h = new Harness({
      items: makeItems(6),
      tasks: {
        [STATE.submitBatch]: (input) => {
          const { Items, BatchInput } = batchOf(input);
          if (hasItem0(input) && throttled < 2) {
            throttled++;
            throw new RateLimitedError('429 from the provider', 1000);
          }
          return { jobId: BatchInput.jobId, items: Items.map((i) => i.customId), pending: 0, waitSeconds: 5 };
        },
      },
    });

    const { description } = await h.run();

    expect(description.status).toBe('SUCCEEDED');
    expect(h.callsOf(STATE.submitBatch).filter(hasItem0)).toHaveLength(3);
    expect(h.callsOf(STATE.recordBatchFailure)).toHaveLength(0);
    const { failed, succeeded } = resultFiles(h, h.callsOf(STATE.finalizeJob)[0] as FinalizeInput);
    expect(failed).toHaveLength(0);
    expect(succeeded).toHaveLength(2);
  });

  test('Poll batch failing for good is retried, then caught: the failure is recorded and the child fails', async () => {
    const h = new Harness({
      items: makeItems(3),
      job: { toleratedFailurePercentage: 100 },
      tasks: {
        [STATE.pollBatch]: () => {
          throw new ProviderUnavailableError('the provider is down');
        },
      },
    });

    const { description } = await h.run();

    // 1 call + 6 retries (MaxAttempts of the ProviderUnavailableError retrier).
    expect(h.callsOf(STATE.pollBatch)).toHaveLength(7);
    const [recorded] = h.callsOf(STATE.recordBatchFailure) as (BatchState & {
      error: { Error: string; Cause: string };
    })[];
    expect(recorded?.error.Error).toBe('ProviderUnavailableError');
    expect(JSON.parse(recorded?.error.Cause ?? '{}')).toMatchObject({
      errorType: 'ProviderUnavailableError',
      errorMessage: 'the provider is down',
    });
    expect(recorded?.items).toEqual(['item-0', 'item-1', 'item-2']);
    const { failed } = resultFiles(h, h.callsOf(STATE.finalizeJob)[0] as FinalizeInput);
    expect(failed).toHaveLength(1);
    expect(failed[0]).toMatchObject({ Status: 'FAILED', Error: 'ProviderUnavailableError' });
    expect(description.status).toBe('SUCCEEDED');
  });

  test('with 0 % tolerated, one failed child fails the map; the Catch still finalizes the job with the map error', async () => {
    const h = new Harness({
      items: makeItems(12),
      job: { toleratedFailurePercentage: 0, maxConcurrency: 1 },
      tasks: {
        [STATE.submitBatch]: (input) => {
          if (hasItem0(input)) throw new InvalidRequestError('the provider refused the batch');
          return { pending: 0 };
        },
      },
    });

    const { description, history } = await h.run();

    // The failing batch is the first: once over the threshold no other child starts.
    expect(h.callsOf(STATE.submitBatch)).toHaveLength(1);
    expect(h.callsOf(STATE.recordBatchFailure)).toHaveLength(1);
    const [finalize] = h.callsOf(STATE.finalizeJob) as FinalizeInput[];
    expect(finalize?.mapError?.Error).toBe('States.ExceedToleratedFailureThreshold');
    expect(finalize?.mapRun).toBeUndefined();
    expect(history.map((event) => event.type)).toEqual(expect.arrayContaining(['MapRunFailed', 'MapStateFailed']));
    expect(description.status).toBe('SUCCEEDED');
  });

  test('with 50 % tolerated, one failed child of four leaves the map succeeded', async () => {
    const h = new Harness({
      items: makeItems(12),
      job: { toleratedFailurePercentage: 50, maxConcurrency: 4 },
      tasks: {
        [STATE.submitBatch]: (input) => {
          if (hasItem0(input)) throw new InvalidRequestError('the provider refused the batch');
          return { pending: 0 };
        },
      },
    });

    const { description } = await h.run();

    const [finalize] = h.callsOf(STATE.finalizeJob) as FinalizeInput[];
    expect(finalize?.mapError).toBeUndefined();
    const { succeeded, failed } = resultFiles(h, finalize as FinalizeInput);
    expect(succeeded).toHaveLength(3);
    expect(failed).toHaveLength(1);
    expect(failed[0]?.Error).toBe('InvalidRequestError');
    expect(description.status).toBe('SUCCEEDED');
  });

  test('Finalize job reporting FAILED ends the execution FAILED with JobFailed', async () => {
    const h = new Harness({
      tasks: {
        [STATE.finalizeJob]: () => ({
          status: 'FAILED',
          error: { name: 'AllItemsFailed', message: 'all 10 item(s) failed' },
        }),
      },
    });
    const { description, history } = await h.run();
    expect(description).toMatchObject({ status: 'FAILED', error: 'JobFailed', cause: 'all 10 item(s) failed' });
    expect(history.at(-1)).toMatchObject({
      type: 'ExecutionFailed',
      executionFailedEventDetails: { error: 'JobFailed' },
    });
  });

  test('Prepare job throwing marks the job failed and fails the execution with its error', async () => {
    const h = new Harness({
      tasks: {
        [STATE.prepareJob]: () => {
          throw namedError('ValidationError', 'template.jobType: must be a non-empty string');
        },
      },
    });
    const { description } = await h.run();
    const [marked] = h.callsOf(STATE.markJobFailed) as { error: { Error: string; Cause: string } }[];
    expect(marked?.error.Error).toBe('ValidationError');
    expect(h.callsOf(STATE.prepareJob)).toHaveLength(1); // not a retried error
    expect(h.callsOf(STATE.submitBatch)).toHaveLength(0);
    expect(description.status).toBe('FAILED');
    expect(description.error).toBe('ValidationError');
    expect(JSON.parse(description.cause ?? '{}')).toMatchObject({
      errorMessage: 'template.jobType: must be a non-empty string',
    });
  });

  test('a duplicate start is ignored: no map', async () => {
    const h = new Harness({ job: { duplicate: true } });
    const { description, history } = await h.run();
    expect(description.status).toBe('SUCCEEDED');
    expect(h.callsOf(STATE.submitBatch)).toHaveLength(0);
    expect(h.readerRequests).toHaveLength(0);
    const types = history.map((event) => event.type);
    expect(types).not.toContain('MapStateEntered');
    const succeeded = history.find((event) => event.type === 'SucceedStateEntered');
    expect(succeeded?.stateEnteredEventDetails).toMatchObject({ name: STATE.duplicateIgnored });
  });

  test('a task TimeoutSeconds past the 32-bit timer is clamped, not fired at once', async () => {
    const definition = jobDefinition() as { States: Record<string, Record<string, unknown>> };
    const prepare = definition.States[STATE.prepareJob] as Record<string, unknown>;
    prepare.TimeoutSeconds = 99_999_999;
    const h = new Harness({ definition, job: { duplicate: true } });
    const { description } = await h.run();
    expect(description.status).toBe('SUCCEEDED');
  });
});
