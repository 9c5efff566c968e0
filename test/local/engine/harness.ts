import { setTimeout as delay } from 'node:timers/promises';
import {
  LocalStepFunctions,
  writeMapRunResultFiles,
  type ItemReaderRequest,
  type LocalStepFunctionsOptions,
  type MapRunResults,
  type ResultWriterTarget,
  type TaskImplementation,
} from '../../../local/engine/local-step-functions.js';
import { scaledClock } from '../../../shared/clock.js';
import { renderJobWorkflowAsl } from '../../../workflows/render-asl.js';
import { STATE } from '../../../workflows/state-names.js';

/** Mocked task implementations and in-memory S3 for running the real job workflow locally. */

export const STATE_MACHINE_ARN = 'arn:aws:states:us-east-1:000000000000:stateMachine:llm-batch-jobs';
export const BUCKET = 'llm-batch-local';

let rendered: Record<string, unknown> | undefined;
/** The definition the stack deploys, rendered once per test file (about 0.5 s). */
export function jobDefinition(): Record<string, unknown> {
  rendered ??= renderJobWorkflowAsl({ bucketName: BUCKET });
  return structuredClone(rendered);
}

export interface JobContext {
  jobId: string;
  jobType: string;
  /** The job's fixed options, handed to every child in its BatchInput. */
  options: { mode: string };
  paramsInRecord: boolean;
  batchSize: number;
  maxConcurrency: number;
  toleratedFailurePercentage: number;
  manifest: { bucket: string; key: string };
  duplicate: boolean;
}

export interface BatchState {
  jobId: string;
  items: string[];
  pending: number;
  waitSeconds: number;
}

export interface ChildInput {
  Items: { customId: string; index: number }[];
  BatchInput: { jobId: string; jobType: string; options: { mode: string }; paramsInRecord: boolean };
}

export function makeItems(count: number): { customId: string; index: number }[] {
  return Array.from({ length: count }, (_, index) => ({ customId: `item-${index}`, index }));
}

export interface HarnessOptions {
  items?: unknown[];
  job?: Partial<JobContext>;
  tasks?: Partial<Record<string, TaskImplementation>>;
  definition?: Record<string, unknown>;
  /** Default 10,000: a 5 s wait takes 0.5 ms, the longest retry backoff (300 s) 30 ms. */
  timeScale?: number;
  /** Milliseconds each batch task takes, so children overlap. */
  taskDelayMs?: number;
  /** Items each poll finishes (default 1). */
  finishedPerPoll?: number;
  /** Replaces the in-memory result files (the memory test only counts). */
  writeResults?: LocalStepFunctionsOptions['writeResults'];
}

export class Harness {
  readonly calls = new Map<string, unknown[]>();
  readonly objects = new Map<string, string>();
  readonly readerRequests: ItemReaderRequest[] = [];
  readonly writes: { writer: ResultWriterTarget; run: MapRunResults }[] = [];
  /** Batches between their Submit and the poll that finished them. */
  activeBatches = 0;
  peakActiveBatches = 0;
  itemsRead = 0;
  readonly engine: LocalStepFunctions;
  readonly job: JobContext;

  constructor(options: HarnessOptions = {}) {
    const items = options.items ?? makeItems(10);
    this.job = {
      jobId: 'job-1',
      jobType: 'classify',
      options: { mode: 'responses' },
      paramsInRecord: false,
      batchSize: 3,
      maxConcurrency: 2,
      toleratedFailurePercentage: 0,
      manifest: { bucket: BUCKET, key: 'jobs/job-1/manifest.jsonl' },
      duplicate: false,
      ...options.job,
    };
    const delayMs = options.taskDelayMs ?? 0;
    const finishedPerPoll = options.finishedPerPoll ?? 1;
    const defaults: Record<string, TaskImplementation> = {
      [STATE.prepareJob]: () => this.job,
      [STATE.submitBatch]: async (input) => {
        const { Items, BatchInput } = input as ChildInput;
        this.activeBatches++;
        this.peakActiveBatches = Math.max(this.peakActiveBatches, this.activeBatches);
        if (delayMs) await delay(delayMs);
        const state: BatchState = {
          jobId: BatchInput.jobId,
          items: Items.map((item) => item.customId),
          pending: Items.length,
          waitSeconds: 5,
        };
        return state;
      },
      [STATE.pollBatch]: async (input) => {
        const state = input as BatchState;
        if (delayMs) await delay(delayMs);
        const pending = Math.max(0, state.pending - finishedPerPoll);
        if (pending === 0) this.activeBatches--;
        return { ...state, pending };
      },
      [STATE.recordBatchFailure]: () => {
        this.activeBatches--;
        return { recorded: true };
      },
      [STATE.finalizeJob]: (input) => ({ jobId: (input as { job: JobContext }).job.jobId, status: 'SUCCEEDED' }),
      [STATE.markJobFailed]: () => ({ marked: true }),
    };
    const tasks: Record<string, TaskImplementation> = {};
    for (const [name, implementation] of Object.entries({ ...defaults, ...options.tasks })) {
      if (!implementation) continue;
      tasks[name] = (input) => {
        const list = this.calls.get(name) ?? [];
        list.push(input);
        this.calls.set(name, list);
        return implementation(input);
      };
    }
    const engineOptions: LocalStepFunctionsOptions = {
      definition: options.definition ?? jobDefinition(),
      stateMachineArn: STATE_MACHINE_ARN,
      clock: scaledClock(options.timeScale ?? 10_000),
      tasks,
      readItems: (reader) => this.read(reader, items),
      writeResults:
        options.writeResults ??
        ((writer, run) => {
          this.writes.push({ writer, run });
          return writeMapRunResultFiles(writer, run, (key, pieces) => {
            this.objects.set(`${writer.bucket}/${key}`, Buffer.concat([...pieces]).toString('utf8'));
            return Promise.resolve();
          });
        }),
    };
    this.engine = new LocalStepFunctions(engineOptions);
  }

  /** Like a streamed S3 object: items arrive in chunks of 1,000. */
  private async *read(reader: ItemReaderRequest, items: unknown[]): AsyncGenerator<unknown> {
    this.readerRequests.push(reader);
    for (const item of items) {
      if (this.itemsRead % 1000 === 0) await new Promise((resolve) => setImmediate(resolve));
      this.itemsRead++;
      yield item;
    }
  }

  callsOf(state: string): unknown[] {
    return this.calls.get(state) ?? [];
  }

  object<T>(key: string): T {
    const body = this.objects.get(key);
    if (body === undefined) throw new Error(`no object ${key}; have ${[...this.objects.keys()].join(', ')}`);
    return JSON.parse(body) as T;
  }

  async run(input: unknown = { jobId: 'job-1' }, name?: string) {
    const { executionArn } = this.engine.startExecution({ input: JSON.stringify(input), ...(name ? { name } : {}) });
    const description = await this.engine.waitForExecution(executionArn);
    return {
      executionArn,
      description,
      history: this.engine.getExecutionHistory(executionArn, { maxResults: 1000 }).events,
    };
  }
}

/** An error with a given name, as the task code throws them (Retry/Catch match the name). */
export function namedError(name: string, message: string): Error {
  const error = new Error(message);
  error.name = name;
  return error;
}
