import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import middy from '@middy/core';
import type { Context } from 'aws-lambda';
import { requireSetting } from '../../shared/config.js';
import { logger, metrics, runtimeClients, runtimeConfig, runtimeDeps } from '../../shared/task-wiring.js';
import type { HttpEvent, HttpResult } from '../api/http.js';
import { createApiHandler } from '../api/router.js';

// Built at cold start: a missing setting fails here, loudly, not on the first request.
const config = runtimeConfig();
const api = createApiHandler({
  ...runtimeDeps(),
  sfn: runtimeClients().sfn,
  stateMachineArn: requireSetting(config.stateMachineArn, 'STATE_MACHINE_ARN'),
  region: config.region,
});

export const handler = middy(async (event: HttpEvent, context: Context): Promise<HttpResult> => api(event, context))
  .use(injectLambdaContext(logger, { resetKeys: true }))
  .use(logMetrics(metrics));
