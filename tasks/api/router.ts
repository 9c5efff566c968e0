import middy from '@middy/core';
import httpHeaderNormalizer from '@middy/http-header-normalizer';
import httpRouterHandler, { type Method } from '@middy/http-router';
import type { Context } from 'aws-lambda';
import type { ApiDeps } from './api-deps.js';
import { errorResponse, HttpError, type HttpEvent, type HttpResult } from './http.js';
import { cancelJob, createJob, getJob, getResults, health, listItems, listJobs, listLogs } from './jobs-api.js';

type RouteLogic = (event: HttpEvent, deps: ApiDeps) => Promise<HttpResult> | HttpResult;

/** Every route of the HTTP API, in one place (the stack adds the same list to API Gateway). */
export const ROUTES: { method: Method; path: string; logic: RouteLogic }[] = [
  { method: 'GET', path: '/health', logic: health },
  { method: 'POST', path: '/jobs', logic: createJob },
  { method: 'GET', path: '/jobs', logic: listJobs },
  { method: 'GET', path: '/jobs/{id}', logic: getJob },
  { method: 'GET', path: '/jobs/{id}/items', logic: listItems },
  { method: 'GET', path: '/jobs/{id}/results', logic: getResults },
  { method: 'GET', path: '/jobs/{id}/logs', logic: listLogs },
  { method: 'POST', path: '/jobs/{id}/cancel', logic: cancelJob },
];

/**
 * The API as one Lambda handler: middy's router picks the route; our errors become JSON answers
 * (400 with what and where, 404, 409), anything unexpected a 500 that is logged, not shown.
 */
export function createApiHandler(deps: ApiDeps) {
  const routes = ROUTES.map(({ method, path, logic }) => ({
    method,
    path,
    handler: async (event: HttpEvent, _context: Context): Promise<HttpResult> => logic(event, deps),
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
