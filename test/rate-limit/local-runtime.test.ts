import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { LocalRuntime } from '../../local/local-stack.js';
import { validateJob, writeJob } from '../../shared/job-intake.js';
import { createDefaultRegistry } from '../../shared/job-types/registry.js';
import type { ItemRecord, JobRecord, OutputLine } from '../../shared/types.js';
import { STATE } from '../../workflows/state-names.js';

/** 600 requests a simulated minute, time running 3x faster: 30 requests a real second. */
const RPM = 600;
const TIME_SCALE = 3;
const LIMIT_PER_SECOND = (RPM * TIME_SCALE) / 60;
const ITEMS_PER_JOB = 150;
const JOBS = 2;
const BATCH_SIZE = 20;
const CREATE = 'POST /v1/responses';

interface Sample {
  at: number;
  /** Create calls of the jobs so far (the other consumer's left out), and their 429s. */
  creates: number;
  limited: number;
}

async function createJob(runtime: LocalRuntime, jobId: string): Promise<JobRecord> {
  const lines = Array.from({ length: ITEMS_PER_JOB }, (_, i) => ({
    id: `${jobId}-${String(i).padStart(3, '0')}`,
    prompt: `Tell me about ${i}`,
  }));
  const validated = await validateJob(
    { jobType: 'prompt', options: { model: 'gpt-4.1-mini', batchSize: BATCH_SIZE, maxConcurrency: 10 } },
    lines.map((value, i) => ({ lineNumber: i + 1, value })),
    createDefaultRegistry(),
  );
  return (
    await writeJob({ jobId, jobType: 'prompt', options: validated.options, source: 'api' }, validated, runtime.deps)
  ).job;
}

async function itemsOf(runtime: LocalRuntime, jobId: string): Promise<ItemRecord[]> {
  const items: ItemRecord[] = [];
  for await (const page of runtime.deps.store.allItems(jobId)) items.push(...page);
  return items;
}

async function resultsOf(runtime: LocalRuntime, job: JobRecord | undefined): Promise<OutputLine[]> {
  const lines: OutputLine[] = [];
  if (!job?.results) return lines;
  for await (const line of runtime.deps.objects.readJsonl(job.results)) lines.push(line.value as OutputLine);
  return lines;
}

describe('draining jobs at the provider rate limit, on the local runtime with the mock provider', () => {
  let runtime: LocalRuntime;
  /** Submit task invocations, over both jobs. */
  let submits = 0;

  beforeAll(async () => {
    runtime = await LocalRuntime.start({
      timeScale: TIME_SCALE,
      onTask: (state) => {
        if (state === STATE.submitBatch) submits++;
      },
      mock: { rateLimitRpm: RPM, latencyMs: 2000, latencySpread: 0.3, seed: 11 },
    });
  });
  afterAll(async () => {
    await runtime.stop();
  });

  test('two jobs share one budget: throughput at the limit, 429s under 1 % once settled, every item once', async () => {
    // Arrange: another consumer of the key has used up the provider's budget when the jobs start
    const mock = runtime.mockProvider;
    if (!mock) throw new Error('the mock provider is not running');
    let ownCalls = 0;
    let ownOk = 0;
    let hammering = true;
    const hammer = (async () => {
      while (hammering) {
        ownCalls++;
        const answer = await fetch(`${mock.url}/responses`, {
          method: 'POST',
          headers: { authorization: 'Bearer other-consumer', 'content-type': 'application/json' },
          body: JSON.stringify({ model: 'gpt-4.1-mini', input: 'x', background: true }),
        });
        await answer.arrayBuffer();
        if (answer.status === 200) ownOk++;
      }
    })();
    const jobs = await Promise.all(Array.from({ length: JOBS }, (_, i) => createJob(runtime, `drain-${i}`)));
    const jobCalls = (): Omit<Sample, 'at'> => {
      const stats = mock.stats();
      return { creates: (stats.calls[CREATE] ?? 0) - ownCalls, limited: stats.rateLimited - (ownCalls - ownOk) };
    };
    while (ownCalls - ownOk < 3) await new Promise((resolve) => setTimeout(resolve, 5)); // drained
    const samples: Sample[] = [];
    const start = performance.now();
    const sampler = setInterval(() => {
      const sample = { at: performance.now() - start, ...jobCalls() };
      if (sample.creates > 0) hammering = false; // the jobs have started: the other consumer stops
      samples.push(sample);
    }, 20);

    // Act
    const executions = await Promise.all(
      jobs.map(async (job) => runtime.engine.waitForExecution(await runtime.startJob(job.jobId))),
    );
    clearInterval(sampler);
    hammering = false;
    await hammer;

    // Assert: every item ended once, and was created at the provider once
    expect(executions.map((execution) => execution.status)).toEqual(['SUCCEEDED', 'SUCCEEDED']);
    const finished = await Promise.all(jobs.map((job) => runtime.deps.store.getJob(job.jobId)));
    for (const job of finished) {
      expect(job).toMatchObject({
        status: 'COMPLETED',
        counts: { total: ITEMS_PER_JOB, submitted: ITEMS_PER_JOB, succeeded: ITEMS_PER_JOB, failed: 0 },
      });
      const items = await itemsOf(runtime, job?.jobId ?? '');
      expect(items).toHaveLength(ITEMS_PER_JOB);
      expect(items.every((item) => item.status === 'SUCCEEDED' && item.providerId)).toBe(true);
      expect(new Set(items.map((item) => item.providerId)).size).toBe(ITEMS_PER_JOB);
      const lines = await resultsOf(runtime, job);
      expect(new Set(lines.map((line) => line.custom_id)).size).toBe(ITEMS_PER_JOB);
    }
    const { creates, limited } = jobCalls();
    expect(mock.stats().responsesCreated - ownOk).toBe(JOBS * ITEMS_PER_JOB); // nothing created twice
    // the jobs counted their own calls: every create attempt and every 429
    expect(finished.reduce((sum, job) => sum + (job?.providerSubmitCalls ?? 0), 0)).toBe(creates);
    expect(finished.reduce((sum, job) => sum + (job?.providerRateLimited ?? 0), 0)).toBe(limited);

    // 429s: a few while the drained provider and the shared bucket fall into step, then under 1 %
    const first = samples.find((sample) => sample.creates > 0);
    const settled = samples.find((sample) => first && sample.at >= first.at + 2000);
    const nearlyAll = samples.find((sample) => sample.creates >= creates * 0.9);
    const last = samples.find((sample) => sample.creates >= creates);
    if (!first || !settled || !nearlyAll || !last) throw new Error('too few samples');
    expect((limited - settled.limited) / (creates - settled.creates)).toBeLessThan(0.01);
    // throughput: at the limit once settled, never above it; the whole drain close to N / R
    const steady = (nearlyAll.creates - settled.creates) / ((nearlyAll.at - settled.at) / 1000);
    const ideal = (JOBS * ITEMS_PER_JOB) / LIMIT_PER_SECOND;
    const drained = (last.at - first.at) / 1000;
    console.info(
      `rate-limit drain: ${creates} creates (${limited} answered 429, ${limited - settled.limited} after the first 2 s), ` +
        `steady ${steady.toFixed(2)}/s of ${LIMIT_PER_SECOND}/s, drained in ${drained.toFixed(2)} s (N/R = ${ideal.toFixed(2)} s)`,
    );
    expect(steady).toBeGreaterThan(LIMIT_PER_SECOND * 0.9);
    expect(steady).toBeLessThan(LIMIT_PER_SECOND * 1.03);
    expect(drained).toBeLessThan(ideal * 1.25);

    // 20 batches share 10 requests a second, 2 s each: those queued further back than SEND_AHEAD_MS
    // waited for their turns in Step Functions and were submitted again
    expect(submits).toBeGreaterThan(JOBS * Math.ceil(ITEMS_PER_JOB / BATCH_SIZE));
  }, 90_000);
});
