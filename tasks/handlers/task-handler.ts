import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import middy from '@middy/core';
import type { Context } from 'aws-lambda';
import { logger, metrics, runtimeDeps } from '../../shared/task-wiring.js';
import { taskFileName } from '../../workflows/task-registry.js';
import type { TaskDeps } from '../../shared/deps.js';
import type { LogicTaskName } from './task-logic.js';

/**
 * The Lambda handler of a task in the registry: its logic with the Powertools logger context and
 * metrics via middy, deps built once per container. Errors propagate with their names for Step
 * Functions Retry/Catch. Each handler file passes its own logic, so a function's bundle holds
 * only its own task's code.
 */
export function taskHandler<In, Out>(name: LogicTaskName, logic: (input: In, deps: TaskDeps) => Promise<Out>) {
  // Fail at cold start, not on the first item, when the configuration is wrong.
  const deps = runtimeDeps();
  const dimension = taskFileName(name);
  return middy(async (event: In, _context: Context): Promise<Out> => {
    metrics.addDimension('task', dimension);
    return logic(event, deps);
  })
    .use(injectLambdaContext(logger, { resetKeys: true }))
    .use(logMetrics(metrics));
}
