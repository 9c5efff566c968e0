import { S3Client } from '@aws-sdk/client-s3';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { mockClient, type AwsClientStub } from 'aws-sdk-client-mock';
import { randomUUID } from 'node:crypto';
import { RateLimitError } from 'openai';
import { afterAll, afterEach, beforeAll, beforeEach, jest } from '@jest/globals';
import type { TaskDeps, TaskLogger } from '../../shared/deps.js';
import { validateJob, writeJob } from '../../shared/job-intake.js';
import { createDefaultRegistry } from '../../shared/job-types/registry.js';
import { OpenAIProvider } from '../../shared/provider/openai-provider.js';
import type { RateLimiter } from '../../shared/rate-limit/rate-limiter.js';
import { createRateLimiter, type RateLimitSettings } from '../../shared/rate-limit/settings.js';
import { JobStore } from '../../shared/store/job-store.js';
import { ObjectStore, type JsonlLine, type ManifestLine } from '../../shared/store/object-store.js';
import type { ItemRecord, JobRecord, OutputLine } from '../../shared/types.js';
import type { SubmitBatchInput } from '../../tasks/submit-batch.js';
import {
  isQueueRoomWait,
  isRateLimitWait,
  type BatchState,
  type QueueRoomWait,
  type RateLimitWait,
} from '../../shared/workflow-state.js';
import { batchInputOf } from '../../shared/job-lifecycle.js';
import { FakeOpenAI, type StoredResponse } from '../provider/fake-openai.js';
import { startTestTable, type TestTable } from './dynamo.js';
import { InMemoryS3 } from './in-memory-s3.js';

export { InMemoryS3 } from './in-memory-s3.js';

export const TEST_BUCKET = 'llm-batch-test-jobs';
export const TEST_MODEL = 'gpt-5-mini';
/** What the fake charges per completed response (see completeResponse). */
export const RESPONSE_USAGE = { input_tokens: 100, output_tokens: 20 };

// ------------------------------------------------------------------ clock

/** A clock the test moves by hand; the store's leases and the tasks' deadlines read it. */
export class TestClock {
  private time: number;

  constructor(start = '2026-03-02T09:00:00.000Z') {
    this.time = Date.parse(start);
  }

  readonly now = (): Date => new Date(this.time);

  advance(ms: number): void {
    this.time += ms;
  }

  /**
   * A sleep that moves this clock instead of waiting: to the sleeper's wake-up time, unless the
   * clock is past it already (sleepers sleep side by side), then yields so other work runs.
   */
  readonly sleep = async (ms: number): Promise<void> => {
    const wakeAt = this.time + Math.max(0, ms);
    await new Promise((resolve) => setImmediate(resolve));
    this.time = Math.max(this.time, wakeAt);
  };
}

// ------------------------------------------------------------------ logger

export interface LoggedLine {
  level: 'info' | 'warn' | 'error';
  message: string;
  extra: Record<string, unknown>[];
}

/** Prints nothing; keeps what was logged for assertions. */
export class SilentLogger implements TaskLogger {
  readonly lines: LoggedLine[] = [];
  info(message: string, ...extra: Record<string, unknown>[]): void {
    this.lines.push({ level: 'info', message, extra });
  }
  warn(message: string, ...extra: Record<string, unknown>[]): void {
    this.lines.push({ level: 'warn', message, extra });
  }
  error(message: string, ...extra: Record<string, unknown>[]): void {
    this.lines.push({ level: 'error', message, extra });
  }
}

// ------------------------------------------------------------------ the environment

export interface TaskTestEnv {
  deps: TaskDeps;
  store: JobStore;
  objects: ObjectStore;
  openai: FakeOpenAI;
  s3: InMemoryS3;
  s3Mock: AwsClientStub<S3Client>;
  clock: TestClock;
  logger: SilentLogger;
  dynamo: DynamoDBDocumentClient;
  tableName: string;
  /** The provider key's rate limiter deps.rateLimiter() returns (its own bucket for every test). */
  limiter: RateLimiter;
  /** Replaces the rate limiter with one set up as asked (same table, clock and sleep). */
  useRateLimit(settings: RateLimitSettings): RateLimiter;
}

/** Generous enough that a test not about rate limits never waits. */
export const TEST_RATE_LIMIT: RateLimitSettings = { defaultRequestsPerWindow: 60_000 };

/**
 * Registers the hooks of a task test file and returns a getter for the current test's
 * environment: one dynalite server for the file (stopped in afterAll), and for every test a new
 * fake OpenAI, a new in-memory S3 behind a mocked S3Client (reset after each test), a new clock
 * and a new logger. Tests use their own job ids, so they never see each other's records.
 */
export function useTaskTestEnv(): () => TaskTestEnv {
  const s3Mock = mockClient(S3Client);
  let table: TestTable | undefined;
  let current: TaskTestEnv | undefined;

  beforeAll(async () => {
    table = await startTestTable(`jobs-${randomUUID().slice(0, 8)}`);
  });
  afterAll(async () => {
    s3Mock.restore();
    await table?.close();
  });
  beforeEach(() => {
    if (!table) throw new Error('the test table did not start');
    s3Mock.reset();
    const s3 = new InMemoryS3();
    s3.install(s3Mock);
    const clock = new TestClock();
    const logger = new SilentLogger();
    const openai = new FakeOpenAI();
    const provider = new OpenAIProvider({ client: openai });
    const store = new JobStore(table.dynamo, table.tableName, 30, clock.now);
    const objects = new ObjectStore(
      new S3Client({ region: 'us-east-1', credentials: { accessKeyId: 'test', secretAccessKey: 'test' } }),
      TEST_BUCKET,
    );
    const { dynamo, tableName } = table;
    const keyId = `test-${randomUUID().slice(0, 8)}`;
    const limiterWith = (settings: RateLimitSettings) =>
      createRateLimiter({ dynamo, tableName, keyId, settings, clock: () => clock.now().getTime(), sleep: clock.sleep });
    let limiter = limiterWith(TEST_RATE_LIMIT);
    const deps: TaskDeps = {
      store,
      objects,
      provider: () => Promise.resolve(provider),
      rateLimiter: () => Promise.resolve(limiter),
      jobTypes: createDefaultRegistry(),
      dynamo,
      clock,
      logger,
    };
    const env: TaskTestEnv = {
      deps,
      store,
      objects,
      openai,
      s3,
      s3Mock,
      clock,
      logger,
      dynamo,
      tableName,
      limiter,
      useRateLimit: (settings) => {
        limiter = limiterWith(settings);
        env.limiter = limiter;
        return limiter;
      },
    };
    current = env;
  });
  afterEach(() => {
    s3Mock.reset();
    current = undefined;
  });

  return () => {
    if (!current) throw new Error('the task test environment exists only inside a test');
    return current;
  };
}

// ------------------------------------------------------------------ jobs and items

export function newJobId(prefix = 'job'): string {
  return `${prefix}-${randomUUID().slice(0, 8)}`;
}

/** Lines of a `prompt` job: {"id": "item-000", "prompt": "..."}. */
export function promptLines(count: number, prefix = 'item'): Record<string, unknown>[] {
  return Array.from({ length: count }, (_, i) => ({
    id: `${prefix}-${String(i).padStart(3, '0')}`,
    prompt: `say hello to number ${i}`,
  }));
}

/** Lines of an `openai-batch` job calling /v1/chat/completions. */
export function chatLines(count: number, prefix = 'chat'): Record<string, unknown>[] {
  return Array.from({ length: count }, (_, i) => ({
    custom_id: `${prefix}-${String(i).padStart(3, '0')}`,
    method: 'POST',
    url: '/v1/chat/completions',
    body: { model: TEST_MODEL, messages: [{ role: 'user', content: `hello ${i}` }] },
  }));
}

export function jsonl(lines: readonly unknown[]): string {
  return lines.map((line) => JSON.stringify(line)).join('\n') + '\n';
}

export function asJsonlLines(lines: readonly unknown[]): JsonlLine[] {
  return lines.map((value, i) => ({ lineNumber: i + 1, value }));
}

export interface CreatedJob {
  job: JobRecord;
  /** The manifest, as the Distributed Map would read it. */
  items: ManifestLine[];
}

/** Writes a QUEUED job and its manifest, as the API does before it starts the execution. */
export async function createJob(
  env: TaskTestEnv,
  spec: {
    jobType?: string;
    options?: Record<string, unknown>;
    lines: readonly Record<string, unknown>[];
    jobId?: string;
  },
): Promise<CreatedJob> {
  const jobType = spec.jobType ?? 'prompt';
  const options = spec.options ?? { model: TEST_MODEL };
  const validated = await validateJob({ jobType, options }, asJsonlLines(spec.lines), env.deps.jobTypes);
  const { job } = await writeJob(
    { jobId: spec.jobId ?? newJobId(), jobType, options, source: 'api' },
    validated,
    env.deps,
  );
  return { job, items: validated.items };
}

/** A child's input as the Map builds it: the items and the job's context. */
export function submitInput(
  job: Pick<JobRecord, 'jobId' | 'jobType' | 'options'>,
  items: readonly ManifestLine[],
): SubmitBatchInput {
  return { Items: [...items], BatchInput: batchInputOf(job) };
}

/** The poll state of a submit that sent its whole batch (a RateLimitWait goes back to submit, never to a poll). */
export function pollState(state: BatchState | RateLimitWait | QueueRoomWait): BatchState {
  if (isRateLimitWait(state)) throw new Error(`the submit left ${state.unsent} item(s) for later rate-limit turns`);
  if (isQueueRoomWait(state)) throw new Error('the submit found no room in the batch queue');
  return state;
}

export async function itemsOf(env: TaskTestEnv, jobId: string): Promise<ItemRecord[]> {
  const all: ItemRecord[] = [];
  for await (const page of env.store.allItems(jobId)) all.push(...page);
  // In custom id order: the store reads a job's shards in parallel.
  return all.sort((a, b) => (a.customId < b.customId ? -1 : a.customId > b.customId ? 1 : 0));
}

export async function requireJob(env: TaskTestEnv, jobId: string): Promise<JobRecord> {
  const job = await env.store.getJob(jobId);
  if (!job) throw new Error(`job ${jobId} does not exist`);
  return job;
}

export async function requireItem(
  env: TaskTestEnv,
  jobId: string,
  customId: string,
): Promise<ItemRecord & { leaseUntil?: number }> {
  const item = await env.store.getItem(jobId, customId);
  if (!item) throw new Error(`item ${customId} of job ${jobId} does not exist`);
  return item;
}

const WRITE_COMMANDS = new Set(['PutCommand', 'UpdateCommand', 'DeleteCommand']);

/**
 * Counts the single-record writes sent to the table from now on, by record kind: the sort key's
 * prefix (JOB, ITEM, BATCH, LOG) or RATE for the rate-limit bucket. `stop()` ends the count.
 */
export function countWrites(env: TaskTestEnv): { byKind: Record<string, number>; stop: () => void } {
  const byKind: Record<string, number> = {};
  const send = env.dynamo.send.bind(env.dynamo) as (command: unknown) => Promise<unknown>;
  const spy = jest.spyOn(env.dynamo, 'send').mockImplementation(((command: {
    constructor: { name: string };
    input: { Key?: { pk?: string; sk?: string }; Item?: { pk?: string; sk?: string } };
  }) => {
    if (WRITE_COMMANDS.has(command.constructor.name)) {
      const key = command.input.Key ?? command.input.Item;
      const kind = key?.pk?.startsWith('RATE#') ? 'RATE' : ((key?.sk ?? '?').split('#')[0] ?? '?');
      byKind[kind] = (byKind[kind] ?? 0) + 1;
    }
    return send(command);
  }) as never);
  return { byKind, stop: () => spy.mockRestore() };
}

/** The job's results file, parsed. */
export function resultsOf(env: TaskTestEnv, jobId: string): OutputLine[] {
  const location = env.objects.resultsLocation(jobId);
  const text = env.s3.text(location.bucket, location.key);
  if (text === undefined) throw new Error(`no results file at ${location.key}`);
  return text
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => JSON.parse(line) as OutputLine);
}

// ------------------------------------------------------------------ the fake provider's lifecycle

/** A finished background response, as GET /v1/responses/{id} returns it. */
export function completeResponse(openai: FakeOpenAI, id: string, text = `answer from ${id}`): void {
  openai.setResponse(id, {
    status: 'completed',
    output: [{ type: 'message', role: 'assistant', content: [{ type: 'output_text', text, annotations: [] }] }],
    usage: { ...RESPONSE_USAGE, total_tokens: RESPONSE_USAGE.input_tokens + RESPONSE_USAGE.output_tokens },
  });
}

/** Moves every running response one step along: queued -> in_progress -> completed. */
export function advanceResponses(openai: FakeOpenAI): void {
  for (const [id, response] of openai.storedResponses) {
    if (response.status === 'queued') openai.setResponse(id, { status: 'in_progress' });
    else if (response.status === 'in_progress') completeResponse(openai, id);
  }
}

/** The response the fake provider holds for a submitted item (by the item's provider id). */
export function responseFor(openai: FakeOpenAI, item: ItemRecord): StoredResponse {
  const response = item.providerId ? openai.storedResponses.get(item.providerId) : undefined;
  if (!response) throw new Error(`item ${item.customId} has no response at the fake provider`);
  return response;
}

/**
 * Makes `responses.create` refuse some calls: `decide` sees the request body and the call's
 * number (1-based, counting every call) and returns the error to throw, or undefined to let the
 * fake create the response. Refused calls are not in `openai.calls`; their count is returned.
 */
export function refuseResponseCreates(
  openai: FakeOpenAI,
  decide: (body: { input?: unknown; model?: unknown }, call: number) => Error | undefined,
): { refused: () => number } {
  const create = openai.responses.create;
  let calls = 0;
  let refused = 0;
  openai.responses.create = async (body, options) => {
    calls++;
    const error = decide(body, calls);
    if (error !== undefined) {
      refused++;
      await Promise.resolve();
      throw error;
    }
    return create(body, options);
  };
  return { refused: () => refused };
}

export function rateLimitError(retryAfterMs = 2000): RateLimitError {
  return new RateLimitError(
    429,
    { message: 'Rate limit reached for requests', type: 'requests', code: 'rate_limit_exceeded', param: null },
    'Rate limit reached for requests',
    new Headers({ 'retry-after-ms': String(retryAfterMs) }),
  );
}

/** The Cause Step Functions hands a Catch for a Lambda error: the Lambda's JSON error. */
export function lambdaCause(errorType: string, errorMessage: string): string {
  return JSON.stringify({
    errorType,
    errorMessage,
    trace: [`${errorType}: ${errorMessage}`, '    at handler (index.mjs:1:1)'],
  });
}
