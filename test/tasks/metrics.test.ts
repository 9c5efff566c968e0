import { Metrics } from '@aws-lambda-powertools/metrics';
import { afterEach, beforeEach, describe, expect, jest, test } from '@jest/globals';
import { loadConfig } from '../../shared/config.js';
import type { TaskDeps } from '../../shared/deps.js';
import { JobMetrics, JOB_METRIC, METRICS_NAMESPACE, METRICS_SERVICE } from '../../shared/metrics/job-metrics.js';
import { TimedProvider } from '../../shared/metrics/timed-provider.js';
import { estimateCostUsd } from '../../shared/pricing.js';
import { JobProgress } from '../../shared/store/job-progress.js';
import { createTaskDeps } from '../../shared/task-wiring.js';
import { pollBatch } from '../../tasks/poll-batch.js';
import { recordBatchFailure } from '../../tasks/record-batch-failure.js';
import { submitBatch } from '../../tasks/submit-batch.js';
import {
  RESPONSE_USAGE,
  TEST_MODEL,
  advanceResponses,
  createJob,
  lambdaCause,
  pollState,
  promptLines,
  rateLimitError,
  refuseResponseCreates,
  submitInput,
  useTaskTestEnv,
} from '../support/deps.js';

const env = useTaskTestEnv();

/** One EMF record as Powertools prints it: the CloudWatch directive, then dimensions and values as keys. */
interface EmfRecord {
  _aws: {
    CloudWatchMetrics: { Namespace: string; Dimensions: string[][]; Metrics: { Name: string; Unit: string }[] }[];
  };
  [key: string]: unknown;
}

/** The EMF records printed from now on (taken off stdout); other output passes through. */
function captureEmf(): { records: EmfRecord[]; stop: () => void } {
  const records: EmfRecord[] = [];
  const write = process.stdout.write.bind(process.stdout);
  const spy = jest.spyOn(process.stdout, 'write').mockImplementation((chunk: unknown, ...rest: unknown[]) => {
    const text = String(chunk);
    if (text.startsWith('{"_aws"')) {
      records.push(JSON.parse(text) as EmfRecord);
      return true;
    }
    return (write as (...args: unknown[]) => boolean)(chunk, ...rest);
  });
  return { records, stop: () => spy.mockRestore() };
}

let emf: ReturnType<typeof captureEmf>;
let jobMetrics: JobMetrics;
/** The task deps as the Lambda wiring builds them: job metrics, and a provider timed on the test clock. */
let deps: TaskDeps;

beforeEach(() => {
  emf = captureEmf();
  jobMetrics = new JobMetrics(new Metrics({ namespace: METRICS_NAMESPACE, serviceName: METRICS_SERVICE }));
  const base = env().deps;
  deps = {
    ...base,
    metrics: jobMetrics,
    provider: async () => new TimedProvider(await base.provider(), base.clock, (ms) => jobMetrics.providerLatency(ms)),
  };
});
afterEach(() => emf.stop());

/** Every create call takes 250 ms of the test clock. */
function createsTake250Ms(): void {
  refuseResponseCreates(env().openai, () => {
    env().clock.advance(250);
    return undefined;
  });
}

describe('job metrics of a task invocation', () => {
  test('GIVEN a submit of 3 items WHEN it runs THEN one EMF record counts them by job type and mode, with each call timed', async () => {
    // Arrange
    const { job, items } = await createJob(env(), { lines: promptLines(3) });
    createsTake250Ms();

    // Act
    await submitBatch(submitInput(job, items), deps);

    // Assert
    expect(emf.records).toHaveLength(1);
    const [record] = emf.records;
    expect(record?._aws.CloudWatchMetrics).toEqual([
      {
        Namespace: 'LlmBatch',
        Dimensions: [['service', 'jobType', 'mode']],
        Metrics: [
          { Name: 'ItemsSubmitted', Unit: 'Count' },
          { Name: 'ProviderSubmitCalls', Unit: 'Count' },
          { Name: 'ProviderLatency', Unit: 'Milliseconds' },
        ],
      },
    ]);
    expect(record).toMatchObject({
      service: 'llm-batch',
      jobType: 'prompt',
      mode: 'responses',
      ItemsSubmitted: 3,
      ProviderSubmitCalls: 3,
      ProviderLatency: [250, 250, 250],
    });
    expect(record).not.toHaveProperty('jobId');
  });

  test('GIVEN submitted items that finished WHEN a poll ends them THEN it emits succeeded items, tokens, cost and poll calls', async () => {
    // Arrange
    const { job, items } = await createJob(env(), { lines: promptLines(3) });
    const state = pollState(await submitBatch(submitInput(job, items), env().deps));
    advanceResponses(env().openai);
    advanceResponses(env().openai);

    // Act
    await pollBatch(state, deps);

    // Assert
    expect(emf.records).toHaveLength(1);
    const record = emf.records[0];
    const usage = { inputTokens: RESPONSE_USAGE.input_tokens, outputTokens: RESPONSE_USAGE.output_tokens };
    expect(record).toMatchObject({
      jobType: 'prompt',
      mode: 'responses',
      ItemsSucceeded: 3,
      InputTokens: 3 * usage.inputTokens,
      OutputTokens: 3 * usage.outputTokens,
      ProviderPollCalls: 3,
    });
    expect(record?.ProviderLatency).toHaveLength(3);
    expect(record?.EstimatedCostUsd).toBeCloseTo(3 * (estimateCostUsd(TEST_MODEL, usage, 1) ?? Number.NaN), 12);
    expect(record?._aws.CloudWatchMetrics[0]?.Metrics).toContainEqual({ Name: 'EstimatedCostUsd', Unit: 'None' });
    expect(record).not.toHaveProperty('ItemsSubmitted');
  });

  test('GIVEN the provider answers 429 once WHEN a submit runs THEN ProviderRateLimited counts it', async () => {
    // Arrange
    const { job, items } = await createJob(env(), { lines: promptLines(3) });
    refuseResponseCreates(env().openai, (_body, call) => (call === 2 ? rateLimitError(1000) : undefined));

    // Act
    await submitBatch(submitInput(job, items), deps);

    // Assert
    expect(emf.records).toHaveLength(1);
    expect(emf.records[0]).toMatchObject({ ItemsSubmitted: 3, ProviderSubmitCalls: 4, ProviderRateLimited: 1 });
  });

  test('GIVEN a batch-mode job WHEN its batch is submitted THEN the mode dimension is batch', async () => {
    // Arrange
    const { job, items } = await createJob(env(), {
      lines: promptLines(2),
      options: { model: TEST_MODEL, mode: 'batch' },
    });

    // Act
    await submitBatch(submitInput(job, items), deps);

    // Assert
    expect(emf.records).toHaveLength(1);
    expect(emf.records[0]).toMatchObject({
      jobType: 'prompt',
      mode: 'batch',
      ItemsSubmitted: 2,
      ProviderSubmitCalls: 1,
    });
  });

  test('GIVEN a batch task out of retries WHEN its failure is recorded THEN the failed items are emitted once', async () => {
    // Arrange
    const { job, items } = await createJob(env(), { lines: promptLines(4) });
    const input = {
      ...submitInput(job, items),
      error: { Error: 'ProviderUnavailableError', Cause: lambdaCause('ProviderUnavailableError', 'down') },
    };

    // Act
    await recordBatchFailure(input, deps);

    // Assert
    expect(emf.records).toHaveLength(1);
    expect(emf.records[0]).toMatchObject({ jobType: 'prompt', mode: 'responses', ItemsFailed: 4 });
    const stored = await env().store.getJob(job.jobId);
    expect(stored?.counts.failed).toBe(4);
  });

  test('GIVEN deps without metrics (the local runtime, the other tests) WHEN a task runs THEN nothing is printed', async () => {
    // Arrange
    const { job, items } = await createJob(env(), { lines: promptLines(3) });

    // Act
    await submitBatch(submitInput(job, items), env().deps);

    // Assert
    expect(emf.records).toEqual([]);
  });
});

describe('JobMetrics', () => {
  const labels = { jobType: 'classify', options: { mode: 'responses' as const } };

  test('GIVEN an invocation that changed nothing WHEN it emits THEN nothing is printed', () => {
    // Act
    jobMetrics.emit(labels, new JobProgress());

    // Assert
    expect(emf.records).toEqual([]);
  });

  test('GIVEN items re-sent and more calls than Powertools keeps values of WHEN it emits THEN one record has the latest 99 latencies and ItemsResent', () => {
    // Arrange
    const progress = new JobProgress();
    progress.resentItems(2);
    for (let ms = 1; ms <= 150; ms++) jobMetrics.providerLatency(ms);

    // Act
    jobMetrics.emit(labels, progress);

    // Assert
    expect(emf.records).toHaveLength(1);
    const latencies = emf.records[0]?.[JOB_METRIC.providerLatency] as number[];
    expect(latencies).toHaveLength(99);
    expect([...latencies].sort((a, b) => a - b)).toEqual(Array.from({ length: 99 }, (_, i) => 52 + i));
    expect(emf.records[0]).toMatchObject({ jobType: 'classify', ItemsResent: 2 });
  });

  test('GIVEN a failed provider call WHEN it is timed THEN its duration is recorded and the error passes through', async () => {
    // Arrange
    const seen: number[] = [];
    const failing = { pollBatch: () => Promise.reject(new Error('down')) } as unknown as ConstructorParameters<
      typeof TimedProvider
    >[0];
    const times = [1_000, 1_040];
    const clock = { now: () => new Date(times.shift() ?? Number.NaN) };
    const timed = new TimedProvider(failing, clock, (ms) => seen.push(ms));

    // Act
    const call = timed.pollBatch('batch_1');

    // Assert
    await expect(call).rejects.toThrow('down');
    expect(seen).toEqual([40]);
  });
});

describe('the wiring of the job metrics', () => {
  const config = loadConfig({ TABLE_NAME: 'jobs', BUCKET_NAME: 'bucket', OPENAI_API_KEY: 'sk-test' });

  test('GIVEN job metrics WHEN the deps are built THEN the tasks get them and every provider call is timed', async () => {
    // Act
    const wired = createTaskDeps(config, undefined, undefined, { metrics: jobMetrics });

    // Assert
    expect(wired.metrics).toBe(jobMetrics);
    expect(await wired.provider()).toBeInstanceOf(TimedProvider);
  });

  test('GIVEN no job metrics (the local runtime) WHEN the deps are built THEN there is nothing to emit and nothing timed', async () => {
    // Act
    const wired = createTaskDeps(config);

    // Assert
    expect(wired.metrics).toBeUndefined();
    expect(await wired.provider()).not.toBeInstanceOf(TimedProvider);
  });
});
