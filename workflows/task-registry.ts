import { STATE } from './state-names.js';

/**
 * The task registry: every Lambda function of llm-batch, what runs it and what it may touch.
 * Plain data (no CDK, no runtime clients), read by the workflow, the stack (functions, grants,
 * alarms, cdk-nag), the Lambda handlers and the local runtime. The logic of each task is mapped
 * by name in tasks/handlers/task-logic.ts. Adding a task: an entry here, its logic there, and its
 * handler file tasks/handlers/<kebab-name>.ts.
 */

/**
 * Where in the job bucket a grant applies: the job files (jobs/), the API's input files (inputs/),
 * the uploads the API presigns (inputs/uploads/) or any key.
 */
export type BucketKeys = 'jobFiles' | 'inputs' | 'uploads' | 'anyKey';

export type TableAccess = 'read' | 'readWrite';
export type ObjectAccess = 'read' | 'write' | 'readWrite';

export interface BucketGrant {
  access: ObjectAccess;
  keys: BucketKeys;
}

/** What a task's code uses; the stack grants exactly this and sets the matching environment. */
export interface TaskAccess {
  table: TableAccess;
  /**
   * Grants on the job bucket, in this order. With none the function still gets BUCKET_NAME: the
   * runtime configuration requires it at cold start.
   */
  bucket: readonly BucketGrant[];
  /** Calls the provider, so reads the secret that holds the OpenAI key. @default false */
  provider?: boolean;
  /** Starts executions of the job state machine. @default false */
  startsJobs?: boolean;
  /** Writes results into the tables named by the applyTableNames context (classify's params.apply). @default false */
  applyTables?: boolean;
  /** Reads scheduled templates' inputs from the buckets named by the inputBucketNames context. @default false */
  inputBuckets?: boolean;
}

export interface TaskDescriptor {
  /** The Lambda function's description. */
  description: string;
  /** The job workflow's Task state that invokes it; absent for functions invoked otherwise. */
  state?: string;
  access: TaskAccess;
}

export const TASKS = {
  prepareJob: {
    description: 'llm-batch: create a scheduled job, mark the job RUNNING',
    state: STATE.prepareJob,
    // A scheduled template's items may sit anywhere in the bucket; the manifest goes under jobs/.
    access: {
      table: 'readWrite',
      bucket: [
        { access: 'read', keys: 'anyKey' },
        { access: 'write', keys: 'jobFiles' },
      ],
      inputBuckets: true,
    },
  },
  submitBatch: {
    description: 'llm-batch: submit one batch of items to the provider',
    state: STATE.submitBatch,
    // Large outputs are stored under jobs/.
    access: { table: 'readWrite', bucket: [{ access: 'write', keys: 'jobFiles' }], provider: true, applyTables: true },
  },
  pollBatch: {
    description: "llm-batch: poll the provider for a batch's items",
    state: STATE.pollBatch,
    access: { table: 'readWrite', bucket: [{ access: 'write', keys: 'jobFiles' }], provider: true, applyTables: true },
  },
  recordBatchFailure: {
    description: 'llm-batch: withdraw a failed batch, fail its items',
    state: STATE.recordBatchFailure,
    // The provider withdraws the batch; no S3.
    access: { table: 'readWrite', bucket: [], provider: true },
  },
  finalizeJob: {
    description: 'llm-batch: write the results file, count, end the job',
    state: STATE.finalizeJob,
    // Reads the manifest and large outputs, writes the results file.
    access: { table: 'readWrite', bucket: [{ access: 'readWrite', keys: 'jobFiles' }] },
  },
  markJobFailed: {
    description: 'llm-batch: mark the job FAILED',
    state: STATE.markJobFailed,
    // Ending the unfinished items reads the manifest (items never recorded) and withdraws submitted work.
    access: { table: 'readWrite', bucket: [{ access: 'read', keys: 'jobFiles' }], provider: true },
  },
  /** The target of the rule on execution status changes (an execution ended past every Catch). */
  executionEnded: {
    description: 'llm-batch: mark the job FAILED when its execution ends unhandled',
    // Ends the unfinished items as Mark job failed does: the manifest and the provider.
    access: { table: 'readWrite', bucket: [{ access: 'read', keys: 'jobFiles' }], provider: true },
  },
  /**
   * The HTTP API (tasks/api/router.ts): POST /jobs writes the manifest or reads input.key under
   * inputs/, GET results reads and presigns the results file, POST /uploads presigns PUTs under
   * inputs/uploads/ (a presigned URL carries the signer's permissions); it never calls the provider.
   */
  api: {
    description: 'llm-batch: the HTTP API (create, list, read and cancel jobs)',
    access: {
      table: 'readWrite',
      bucket: [
        { access: 'readWrite', keys: 'jobFiles' },
        { access: 'read', keys: 'inputs' },
        { access: 'write', keys: 'uploads' },
      ],
      startsJobs: true,
    },
  },
} as const satisfies Record<string, TaskDescriptor>;

export type TaskName = keyof typeof TASKS;

/** The tasks the job workflow invokes from a Task state. */
export type WorkflowTaskName = { [N in TaskName]: (typeof TASKS)[N] extends { state: string } ? N : never }[TaskName];

export const TASK_NAMES = Object.keys(TASKS) as TaskName[];

export const WORKFLOW_TASK_NAMES: readonly WorkflowTaskName[] = TASK_NAMES.filter(
  (name): name is WorkflowTaskName => 'state' in TASKS[name],
);

/** A record with one value per task of `names`, built from each name. */
export function taskRecord<N extends TaskName, T>(names: readonly N[], build: (name: N) => T): Record<N, T> {
  return Object.fromEntries(names.map((name) => [name, build(name)])) as Record<N, T>;
}

/** The task's construct id and the name its alarms use, e.g. `PrepareJob`. */
export function taskConstructId(name: TaskName): string {
  return name.charAt(0).toUpperCase() + name.slice(1);
}

/** The task's name in kebab case, e.g. `prepare-job`: its handler file and its metrics dimension. */
export function taskFileName(name: TaskName): string {
  return name.replace(/[A-Z]/g, (letter) => `-${letter.toLowerCase()}`);
}

/** The task's Lambda entry point, relative to the repository root. */
export function taskHandlerPath(name: TaskName): string {
  return `tasks/handlers/${taskFileName(name)}.ts`;
}
