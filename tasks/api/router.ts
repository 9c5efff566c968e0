import middy from '@middy/core';
import httpHeaderNormalizer from '@middy/http-header-normalizer';
import httpRouterHandler from '@middy/http-router';
import type { Context } from 'aws-lambda';
import type { ApiDeps } from './api-deps.js';
import { errorResponse, HttpError, type HttpEvent, type HttpResult } from './http.js';
import { cancelJob, createJob, getJob, getResults, health, listItems, listJobs, listLogs } from './jobs-api.js';
import { API_ROUTES, type ApiRouteName } from './routes.js';

type RouteLogic = (event: HttpEvent, deps: ApiDeps) => Promise<HttpResult> | HttpResult;

const LOGIC: Record<ApiRouteName, RouteLogic> = { health, createJob, listJobs, getJob, listItems, getResults, listLogs, cancelJob };

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
        if (!(request.error instanceof HttpError) && errorResponse(request.error).statusCode === 500) {
          deps.logger.error('request failed', { error: request.error instanceof Error ? request.error.stack ?? request.error.message : String(request.error) });
        }
        request.response = errorResponse(request.error);
      },
    })
    .handler(
      httpRouterHandler<HttpEvent, HttpResult>({
        routes,
        notFoundResponse: ({ method, path }) => {
          throw new HttpError(404, 'RouteNotFound', `no route for ${method} ${path}`);
        },
      }),
    );
}
