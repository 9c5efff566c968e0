import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import middy from '@middy/core';
import type { Context } from 'aws-lambda';
import type { TaskDeps } from '../../shared/deps.js';
import { logger, metrics, runtimeDeps } from '../../shared/task-wiring.js';

/**
 * Wraps task logic as a Lambda handler: Powertools logger context and metrics via middy, deps
 * built once per container. Errors propagate with their names for Step Functions Retry/Catch.
 */
export function taskHandler<In, Out>(name: string, logic: (input: In, deps: TaskDeps) => Promise<Out>) {
  // Fail at cold start, not on the first item, when the configuration is wrong.
  const deps = runtimeDeps();
  return middy(async (event: In, _context: Context): Promise<Out> => {
    metrics.addDimension('task', name);
    return logic(event, deps);
  })
    .use(injectLambdaContext(logger, { resetKeys: true }))
    .use(logMetrics(metrics));
}
