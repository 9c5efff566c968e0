import type { TaskDeps } from '../../shared/deps.js';
import { TASKS, WORKFLOW_TASK_NAMES, type TaskName } from '../../workflows/task-registry.js';
import { onExecutionEnded } from '../execution-ended.js';
import { finalizeJob } from '../finalize-job.js';
import { markJobFailed } from '../mark-job-failed.js';
import { pollBatch } from '../poll-batch.js';
import { prepareJob } from '../prepare-job.js';
import { recordBatchFailure } from '../record-batch-failure.js';
import { submitBatch } from '../submit-batch.js';

/** The tasks whose logic is a plain function of (input, deps); the API function routes requests instead. */
export type LogicTaskName = Exclude<TaskName, 'api'>;

/** A task as its trigger calls it: Lambda and the local engine both hand over the JSON event as it arrives. */
export type TaskEntry = (event: unknown, deps: TaskDeps) => Promise<unknown>;

/**
 * The one place where an event becomes a task's typed input. The workflow's states shape that
 * JSON (Parameters, ResultPath), the EventBridge rule its event; neither is checked at run time,
 * on AWS or locally.
 */
function entry<In, Out>(logic: (input: In, deps: TaskDeps) => Promise<Out>): TaskEntry {
  return (event, deps) => logic(event as In, deps);
}

/**
 * Each task's logic (tasks/*.ts), by its name in the task registry (workflows/task-registry.ts): the local runtime runs
 * them all in one process; each Lambda handler imports only its own.
 */
export const TASK_LOGIC: Record<LogicTaskName, TaskEntry> = {
  prepareJob: entry(prepareJob),
  submitBatch: entry(submitBatch),
  pollBatch: entry(pollBatch),
  recordBatchFailure: entry(recordBatchFailure),
  finalizeJob: entry(finalizeJob),
  markJobFailed: entry(markJobFailed),
  executionEnded: entry(onExecutionEnded),
};

/**
 * The workflow's Task states, by state name, each running its task's logic with `deps` (the local engine's task map).
 */
export function workflowStateTasks(deps: TaskDeps): Record<string, (input: unknown) => Promise<unknown>> {
  return Object.fromEntries(
    WORKFLOW_TASK_NAMES.map((name) => [TASKS[name].state, (input: unknown) => TASK_LOGIC[name](input, deps)]),
  );
}
