import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import middy from '@middy/core';
import type { Context } from 'aws-lambda';
import { logger, metrics, runtimeDeps } from '../../shared/task-wiring.js';
import { taskFileName } from '../../workflows/task-registry.js';
import { TASK_LOGIC, type LogicTaskName } from './task-logic.js';

/**
 * The Lambda handler of a task in the registry: its logic (task-logic.ts) with the Powertools
 * logger context and metrics via middy, deps built once per container. Errors propagate with
 * their names for Step Functions Retry/Catch.
 */
export function taskHandler(name: LogicTaskName) {
  // Fail at cold start, not on the first item, when the configuration is wrong.
  const deps = runtimeDeps();
  const logic = TASK_LOGIC[name];
  const dimension = taskFileName(name);
  return middy(async (event: unknown, _context: Context): Promise<unknown> => {
    metrics.addDimension('task', dimension);
    return logic(event, deps);
  })
    .use(injectLambdaContext(logger, { resetKeys: true }))
    .use(logMetrics(metrics));
}
