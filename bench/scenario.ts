import { parseArgs } from 'node:util';
import { LocalRuntime } from '../local/local-stack.js';
import { STATE } from '../workflows/state-names.js';
import { startMockProvider } from '../local/mock-provider/server.js';
import { validateJob, writeJob, type ValidatedJob } from '../shared/job-intake.js';
import { createDefaultRegistry, type JobTypeRegistry } from '../shared/job-types/registry.js';
import { inputTokensOf } from '../local/mock-provider/answers.js';
import type { ProviderMode } from '../shared/types.js';
import { runBaseline } from './baseline.js';
import { costPerMillionItems, type OrchestrationCounts } from './prices.js';
import { PartitionWriteCounter } from './write-counter.js';

/**
 * One benchmark scenario, in its own process so its peak RSS is its own. Prints one JSON line.
 *   tsx bench/scenario.ts --items 10000 --mode responses --rpm 6000 --latency-ms 2000 --time-scale 10
 *   tsx bench/scenario.ts --baseline --items 10000 ...
 */
const { values } = parseArgs({
  options: {
    items: { type: 'string' },
    mode: { type: 'string', default: 'responses' },
    rpm: { type: 'string' },
    'latency-ms': { type: 'string' },
    'batch-completion-ms': { type: 'string', default: '60000' },
    'time-scale': { type: 'string' },
    'batch-size': { type: 'string' },
    'max-concurrency': { type: 'string' },
    baseline: { type: 'boolean', default: false },
    /** A hostile provider: the batch queue holds this many batches' input tokens (0: no limit). */
    'queue-batches': { type: 'string', default: '0' },
    'expire-rate': { type: 'string', default: '0' },
    'transient-rate': { type: 'string', default: '0' },
    'max-attempts': { type: 'string' },
    /** Simulated seconds between progress lines on stderr (0: none). */
    'progress-every': { type: 'string', default: '0' },
  },
});

const items = Number(values.items);
const rpm = Number(values.rpm);
const latencyMs = Number(values['latency-ms']);
const timeScale = Number(values['time-scale']);
const mode = values.mode as ProviderMode;
const model = 'gpt-4.1-mini';
const mockOptions = {
  rateLimitRpm: rpm,
  latencyMs,
  timeScale,
  seed: 42,
  batchDurationMs: Number(values['batch-completion-ms']),
  batchExpireRate: Number(values['expire-rate']),
  transientErrorRate: Number(values['transient-rate']),
};

let peakRss = process.memoryUsage().rss;
const cpuAtStart = process.cpuUsage();
const wallAtStart = performance.now();
/** CPU time of this process (every thread) over wall time since it started. */
function cpuBusy(): number {
  const used = process.cpuUsage(cpuAtStart);
  return (used.user + used.system) / 1000 / (performance.now() - wallAtStart);
}
const sampler = setInterval(() => (peakRss = Math.max(peakRss, process.memoryUsage().rss)), 100);

async function baseline(): Promise<Record<string, unknown>> {
  const mock = await startMockProvider(mockOptions);
  try {
    const result = await runBaseline({ items, providerUrl: mock.url, timeScale, model });
    const stats = mock.stats();
    return {
      kind: 'baseline',
      items,
      simSeconds: result.simSeconds,
      runs: result.runs,
      lateRuns: result.lateRuns,
      rateLimited: stats.rateLimited,
      cpuBusy: cpuBusy(),
    };
  } finally {
    await mock.close();
  }
}

async function scenario(): Promise<Record<string, unknown>> {
  const lines = Array.from({ length: items }, (_, i) => ({
    lineNumber: i + 1,
    value: { id: `item-${i}`, prompt: `Tell me about ${i}` },
  }));
  const options = {
    model,
    mode,
    ...(values['batch-size'] ? { batchSize: Number(values['batch-size']) } : {}),
    ...(values['max-concurrency'] ? { maxConcurrency: Number(values['max-concurrency']) } : {}),
    ...(values['max-attempts'] ? { maxAttempts: Number(values['max-attempts']) } : {}),
  };
  const registry = createDefaultRegistry();
  const validated = await validateJob({ jobType: 'prompt', options }, lines, registry);
  const queue = queueOf(validated, registry, Number(values['queue-batches']));
  const taskMs: number[] = [];
  const taskMsByState: Record<string, number> = {};
  let finalizeMs = 0;
  const runtime = await LocalRuntime.start({
    timeScale,
    mock: { ...mockOptions, batchQueueTokens: queue.limit },
    onTask: (state, ms) => {
      taskMs.push(ms);
      taskMsByState[state] = (taskMsByState[state] ?? 0) + ms;
      if (state === STATE.finalizeJob) finalizeMs += ms;
    },
  });
  const counts = { dynamoWrites: 0, dynamoReads: 0, s3Puts: 0, s3Gets: 0 };
  // Writes per partition key per simulated second (the stack's clock).
  const partitionWrites = new PartitionWriteCounter(() => runtime.clock.now().getTime());
  partitionWrites.attach(runtime.clients.dynamo);
  const WRITES = new Set([
    'PutCommand',
    'UpdateCommand',
    'DeleteCommand',
    'BatchWriteCommand',
    'PutItemCommand',
    'UpdateItemCommand',
  ]);
  runtime.clients.dynamo.middlewareStack.add(
    (next, context) => (args) => {
      if (WRITES.has(context.commandName ?? '')) counts.dynamoWrites++;
      else counts.dynamoReads++;
      return next(args);
    },
    { step: 'initialize', name: 'benchCounter' },
  );
  runtime.clients.s3.middlewareStack.add(
    (next, context) => (args) => {
      if ((context.commandName ?? '').startsWith('Get') || (context.commandName ?? '').startsWith('Head'))
        counts.s3Gets++;
      else counts.s3Puts++;
      return next(args);
    },
    { step: 'initialize', name: 'benchCounter' },
  );
  try {
    const jobId = `bench-${mode}-${items}`;
    await writeJob({ jobId, jobType: 'prompt', options, source: 'api' }, validated, runtime.deps);
    const started = performance.now();
    // On the stack's clock, as the items' finishedAt are.
    const startedAt = runtime.clock.now().getTime();
    // When the provider saw the first and the last create call, sampled every 10 simulated ms.
    const creates = { first: Number.NaN, last: Number.NaN, seen: 0 };
    const sampleCreates = setInterval(() => {
      const stats = runtime.mockProvider?.stats();
      const seen = (stats?.calls['POST /v1/responses'] ?? 0) + (stats?.calls['POST /v1/batches'] ?? 0);
      if (seen === creates.seen) return;
      const at = ((performance.now() - started) / 1000) * timeScale;
      if (creates.seen === 0) creates.first = at;
      creates.last = at;
      creates.seen = seen;
    }, 10 / timeScale);
    const progressEvery = Number(values['progress-every']);
    const progress =
      progressEvery > 0
        ? setInterval(() => void reportProgress(runtime, jobId, started), (progressEvery * 1000) / timeScale)
        : undefined;
    const execution = await runtime.engine.waitForExecution(await runtime.startJob(jobId)).finally(() => {
      clearInterval(progress);
      clearInterval(sampleCreates);
    });
    const wallSeconds = (performance.now() - started) / 1000;
    const job = await runtime.deps.store.getJob(jobId);
    let lastFinished = 0;
    const succeededIds = new Set<string>();
    for await (const page of runtime.deps.store.allItems(jobId)) {
      for (const item of page) {
        if (item.finishedAt) lastFinished = Math.max(lastFinished, Date.parse(item.finishedAt));
        if (item.status === 'SUCCEEDED') succeededIds.add(item.customId);
      }
    }
    const engine = runtime.engine.stats();
    const provider = runtime.mockProvider?.stats();
    const providerCalls = provider ? Object.values(provider.calls).reduce((a, b) => a + b, 0) : 0;
    const createCalls = provider
      ? (provider.calls['POST /v1/responses'] ?? 0) + (provider.calls['POST /v1/batches'] ?? 0)
      : 0;
    const orchestration: OrchestrationCounts = {
      items,
      stateTransitions: engine.stateTransitions,
      taskInvocations: engine.taskInvocations,
      // Simulated seconds, as Lambda would bill them: a task's waits (for its rate-limit turns)
      // run on the simulated clock. (Its CPU time is overstated by the time scale.)
      taskSeconds: (taskMs.reduce((a, b) => a + b, 0) / 1000) * timeScale,
      ...counts,
    };
    return {
      kind: 'job',
      mode,
      items,
      status: job?.status,
      execution: execution.status,
      counts: job?.counts,
      wallSeconds,
      simSeconds: wallSeconds * timeScale,
      idealSimSeconds: items / (rpm / 60),
      // Where the time went (simulated seconds from the start of the execution).
      phases: {
        firstCreate: creates.first,
        lastCreate: creates.last,
        lastItemFinished: (lastFinished - startedAt) / 1000,
        finalize: (finalizeMs / 1000) * timeScale,
      },
      rateLimited: provider?.rateLimited ?? 0,
      partitionWrites: partitionWrites.peaks(),
      // The reducer's own time (wall, not scaled: it never waits on the simulated clock).
      reducerWallMs: finalizeMs,
      createCalls,
      providerCalls,
      stateTransitions: engine.stateTransitions,
      taskInvocations: engine.taskInvocations,
      childExecutions: engine.childExecutions,
      orchestration,
      costPerMillion: costPerMillionItems(orchestration),
      taskSecondsByState: Object.fromEntries(
        Object.entries(taskMsByState).map(([state, ms]) => [state, (ms / 1000) * timeScale]),
      ),
      cpuBusy: cpuBusy(),
      // The hostile provider's figures: distinct ids that succeeded, attempts per item, provider batches.
      succeededIds: succeededIds.size,
      error: job?.error,
      attempts: job?.attempts,
      providerBatches: provider?.batchesCreated ?? 0,
      createsPerItem: provider?.createsPerItem,
      queueTokens: queue.limit,
      totalInputTokens: queue.totalTokens,
      batchDurationMs: mockOptions.batchDurationMs,
    };
  } finally {
    await runtime.stop();
  }
}

/**
 * The batch queue limit that holds `fits` of the job's batches (the largest of them, counted as
 * the mock counts input tokens), and the input tokens of every item once: their ratio times the
 * batch duration is the queue-bound ideal.
 */
function queueOf(validated: ValidatedJob, registry: JobTypeRegistry, fits: number) {
  const compiled = registry.get(validated.jobType).compile(validated.options);
  const tokens = validated.items.map((item) => {
    const request = compiled.toRequest(item.line);
    return inputTokensOf(request.body, request.url);
  });
  const size = validated.options.batchSize;
  let largest = 0;
  for (let start = 0; start < tokens.length; start += size) {
    largest = Math.max(largest, sum(tokens.slice(start, start + size)));
  }
  return { limit: fits > 0 ? fits * largest : 0, totalTokens: sum(tokens) };
}

function sum(values: number[]): number {
  return values.reduce((a, b) => a + b, 0);
}

/** One line on stderr: simulated time, creates sent, items finished, 429s, CPU use of this process. */
let lastCpu = { at: performance.now(), usage: process.cpuUsage() };
async function reportProgress(runtime: LocalRuntime, jobId: string, started: number): Promise<void> {
  const job = await runtime.deps.store.getJob(jobId);
  const stats = runtime.mockProvider?.stats();
  const now = { at: performance.now(), usage: process.cpuUsage() };
  const cpu =
    (now.usage.user + now.usage.system - lastCpu.usage.user - lastCpu.usage.system) / 1000 / (now.at - lastCpu.at);
  lastCpu = now;
  const counts = job?.counts;
  const finished = counts ? counts.succeeded + counts.failed + counts.cancelled : 0;
  process.stderr.write(
    `  t=${(((now.at - started) / 1000) * timeScale).toFixed(0)}s creates=${(stats?.calls['POST /v1/responses'] ?? 0) + (stats?.calls['POST /v1/batches'] ?? 0)} submitted=${counts?.submitted ?? 0} finished=${finished} 429s=${stats?.rateLimited ?? 0} cpu=${(cpu * 100).toFixed(0)}%\n`,
  );
}

try {
  const result = values.baseline ? await baseline() : await scenario();
  clearInterval(sampler);
  process.stdout.write(
    `${JSON.stringify({ ...result, peakRssBytes: Math.max(peakRss, process.resourceUsage().maxRSS * 1024) })}\n`,
  );
  process.exit(0);
} catch (error) {
  process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
}
