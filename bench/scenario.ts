import { parseArgs } from 'node:util';
import { LocalRuntime } from '../local/runtime.js';
import { startMockProvider } from '../local/mock-provider/server.js';
import { validateJob, writeJob } from '../shared/job-intake.js';
import { createDefaultRegistry } from '../shared/job-types/registry.js';
import type { ProviderMode } from '../shared/types.js';
import { runBaseline } from './baseline.js';
import { costPerMillionItems, type OrchestrationCounts } from './prices.js';

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
  },
});

const items = Number(values.items);
const rpm = Number(values.rpm);
const latencyMs = Number(values['latency-ms']);
const timeScale = Number(values['time-scale']);
const mode = values.mode as ProviderMode;
const model = 'gpt-4.1-mini';
const mockOptions = { rateLimitRpm: rpm, latencyMs, timeScale, seed: 42, batchCompletionMs: Number(values['batch-completion-ms']) };

let peakRss = process.memoryUsage().rss;
const sampler = setInterval(() => (peakRss = Math.max(peakRss, process.memoryUsage().rss)), 100);

async function baseline(): Promise<Record<string, unknown>> {
  const mock = await startMockProvider(mockOptions);
  try {
    const result = await runBaseline({ items, providerUrl: mock.url, timeScale, model });
    const stats = mock.stats();
    return { kind: 'baseline', items, simSeconds: result.simSeconds, runs: result.runs, rateLimited: stats.rateLimited };
  } finally {
    await mock.close();
  }
}

async function scenario(): Promise<Record<string, unknown>> {
  const taskMs: number[] = [];
  const runtime = await LocalRuntime.start({ timeScale, mock: mockOptions, onTask: (_state, ms) => taskMs.push(ms) });
  const counts = { dynamoWrites: 0, dynamoReads: 0, s3Puts: 0, s3Gets: 0 };
  const WRITES = new Set(['PutCommand', 'UpdateCommand', 'DeleteCommand', 'BatchWriteCommand', 'PutItemCommand', 'UpdateItemCommand']);
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
      if ((context.commandName ?? '').startsWith('Get') || (context.commandName ?? '').startsWith('Head')) counts.s3Gets++;
      else counts.s3Puts++;
      return next(args);
    },
    { step: 'initialize', name: 'benchCounter' },
  );
  try {
    const lines = Array.from({ length: items }, (_, i) => ({ lineNumber: i + 1, value: { id: `item-${i}`, prompt: `Tell me about ${i}` } }));
    const options = {
      model,
      mode,
      ...(values['batch-size'] ? { batchSize: Number(values['batch-size']) } : {}),
      ...(values['max-concurrency'] ? { maxConcurrency: Number(values['max-concurrency']) } : {}),
    };
    const validated = await validateJob({ jobType: 'prompt', options }, lines, createDefaultRegistry());
    const jobId = `bench-${mode}-${items}`;
    await writeJob({ jobId, jobType: 'prompt', options, source: 'api' }, validated, runtime.deps);
    const started = performance.now();
    const execution = await runtime.engine.waitForExecution(await runtime.startJob(jobId));
    const wallSeconds = (performance.now() - started) / 1000;
    const job = await runtime.deps.store.getJob(jobId);
    const engine = runtime.engine.stats();
    const provider = runtime.mockProvider?.stats();
    const providerCalls = provider ? Object.values(provider.calls).reduce((a, b) => a + b, 0) : 0;
    const createCalls = provider ? (provider.calls['POST /v1/responses'] ?? 0) + (provider.calls['POST /v1/batches'] ?? 0) : 0;
    const orchestration: OrchestrationCounts = {
      items,
      stateTransitions: engine.stateTransitions,
      taskInvocations: engine.taskInvocations,
      taskSeconds: taskMs.reduce((a, b) => a + b, 0) / 1000,
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
      rateLimited: provider?.rateLimited ?? 0,
      createCalls,
      providerCalls,
      stateTransitions: engine.stateTransitions,
      taskInvocations: engine.taskInvocations,
      childExecutions: engine.childExecutions,
      orchestration,
      costPerMillion: costPerMillionItems(orchestration),
    };
  } finally {
    await runtime.stop();
  }
}

try {
  const result = values.baseline ? await baseline() : await scenario();
  clearInterval(sampler);
  process.stdout.write(`${JSON.stringify({ ...result, peakRssBytes: Math.max(peakRss, process.resourceUsage().maxRSS * 1024) })}\n`);
  process.exit(0);
} catch (error) {
  process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
}
