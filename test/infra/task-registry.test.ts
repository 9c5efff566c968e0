import { readFileSync } from 'node:fs';
import { describe, expect, test } from '@jest/globals';
import { projectPath } from '../../infra/task-function.js';
import { STATE } from '../../workflows/state-names.js';
import {
  TASK_NAMES,
  TASKS,
  taskConstructId,
  taskFileName,
  taskHandlerPath,
  WORKFLOW_TASK_NAMES,
} from '../../workflows/task-registry.js';

describe('task registry', () => {
  test('names every function: construct id, handler file and metrics dimension come from the task name', () => {
    const derived = TASK_NAMES.map((name) => [name, taskConstructId(name), taskFileName(name), taskHandlerPath(name)]);

    expect(derived).toEqual([
      ['prepareJob', 'PrepareJob', 'prepare-job', 'tasks/handlers/prepare-job.ts'],
      ['submitBatch', 'SubmitBatch', 'submit-batch', 'tasks/handlers/submit-batch.ts'],
      ['pollBatch', 'PollBatch', 'poll-batch', 'tasks/handlers/poll-batch.ts'],
      ['recordBatchFailure', 'RecordBatchFailure', 'record-batch-failure', 'tasks/handlers/record-batch-failure.ts'],
      ['finalizeJob', 'FinalizeJob', 'finalize-job', 'tasks/handlers/finalize-job.ts'],
      ['markJobFailed', 'MarkJobFailed', 'mark-job-failed', 'tasks/handlers/mark-job-failed.ts'],
      ['executionEnded', 'ExecutionEnded', 'execution-ended', 'tasks/handlers/execution-ended.ts'],
      ['api', 'Api', 'api', 'tasks/handlers/api.ts'],
    ]);
  });

  test('the workflow tasks are those with a Task state, each state its own', () => {
    const states = WORKFLOW_TASK_NAMES.map((name) => TASKS[name].state);

    expect(WORKFLOW_TASK_NAMES).toEqual([
      'prepareJob',
      'submitBatch',
      'pollBatch',
      'recordBatchFailure',
      'finalizeJob',
      'markJobFailed',
    ]);
    expect(states).toEqual([
      STATE.prepareJob,
      STATE.submitBatch,
      STATE.pollBatch,
      STATE.recordBatchFailure,
      STATE.finalizeJob,
      STATE.markJobFailed,
    ]);
  });

  test("each task's handler file runs that task's logic, imported from its own file only", () => {
    const logicTasks = TASK_NAMES.filter((name) => name !== 'api');
    const wiring = logicTasks.map((name) => {
      const source = readFileSync(projectPath(taskHandlerPath(name)), 'utf8');
      const [, registered, logic] = /taskHandler\('(\w+)', (\w+)\)/.exec(source) ?? [];
      const importedFrom = new RegExp(`import \\{ ${logic} \\} from '([^']+)'`).exec(source)?.[1];
      return [name, registered, importedFrom];
    });

    expect(wiring).toEqual(logicTasks.map((name) => [name, name, `../${taskFileName(name)}.js`]));
  });
});
