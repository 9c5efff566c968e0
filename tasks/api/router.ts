import middy from '@middy/core';
import httpHeaderNormalizer from '@middy/http-header-normalizer';
import httpRouterHandler from '@middy/http-router';
import type { Context } from 'aws-lambda';
import type { ApiDeps } from './api-deps.js';
import { internalErrorResponse, knownErrorResponse, RouteNotFoundError } from './error-responses.js';
import type { HttpEvent, HttpResult } from './http.js';
import { createJob } from './create-job.js';
import { createUpload } from './create-upload.js';
import { cancelJob, getJob, getResults, health, listItems, listJobs, listLogs } from './jobs-api.js';
import { redriveJob } from './redrive-job.js';
import { retryJob } from './retry-job.js';
import { API_ROUTES, type ApiRouteName } from './routes.js';

type RouteLogic = (event: HttpEvent, deps: ApiDeps) => Promise<HttpResult> | HttpResult;

const LOGIC: Record<ApiRouteName, RouteLogic> = {
  health,
  createJob,
  listJobs,
  getJob,
  listItems,
  getResults,
  listLogs,
  cancelJob,
  createUpload,
  redriveJob,
  retryJob,
};

/**
 * The API as one Lambda handler: middy's router picks the route; our errors become JSON answers
 * (400 with what and where, 404, 409), anything unexpected a 500 that is logged, not shown.
 */
export function createApiHandler(deps: ApiDeps) {
  const routes = API_ROUTES.map(({ method, path, name }) => ({
    method,
    path,
    handler: async (event: HttpEvent, _context: Context): Promise<HttpResult> => LOGIC[name](event, deps),
  }));
  return middy<HttpEvent, HttpResult>()
    .use(httpHeaderNormalizer())
    .use({
      onError: (request) => {
        const known = knownErrorResponse(request.error);
        if (!known) {
          deps.logger.error('request failed', {
            error:
              request.error instanceof Error ? (request.error.stack ?? request.error.message) : String(request.error),
          });
        }
        request.response = known ?? internalErrorResponse();
      },
    })
    .handler(
      httpRouterHandler<HttpEvent, HttpResult>({
        routes,
        notFoundResponse: ({ method, path }) => {
          throw new RouteNotFoundError(method, path);
        },
      }),
    );
}
