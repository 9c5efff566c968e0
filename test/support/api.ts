import { SFNClient, StartExecutionCommand, type StartExecutionCommandInput } from '@aws-sdk/client-sfn';
import { mockClient, type AwsClientStub } from 'aws-sdk-client-mock';
import type { APIGatewayProxyEventV2, Context } from 'aws-lambda';
import { createHash, randomUUID } from 'node:crypto';
import { afterAll, afterEach, beforeEach } from '@jest/globals';
import type { ApiDeps } from '../../tasks/api/api-deps.js';
import type { HttpResult } from '../../tasks/api/http.js';
import { executionArnOf } from '../../tasks/api/jobs-api.js';
import { createApiHandler } from '../../tasks/api/router.js';
import { API_ROUTES } from '../../tasks/api/routes.js';
import { promptLines, TEST_MODEL, useTaskTestEnv, type TaskTestEnv } from './deps.js';

export const TEST_REGION = 'us-east-1';
export const TEST_STATE_MACHINE_ARN = 'arn:aws:states:us-east-1:123456789012:stateMachine:llm-batch-jobs';

/** An API answer with its JSON body parsed (undefined when the body is not JSON). */
export interface ApiResponse {
  status: number;
  headers: Record<string, string>;
  /** The raw body, as API Gateway would send it. */
  text: string;
  json: unknown;
}

export interface RequestOptions {
  /** A value is sent as JSON; a string is sent as it is (to test bodies that are not JSON). */
  body?: unknown;
  query?: Record<string, string>;
  headers?: Record<string, string>;
  /** Sends the body base64-encoded, as API Gateway does for binary media types. */
  base64?: boolean;
}

export interface ApiTestEnv extends TaskTestEnv {
  api: ApiDeps;
  sfnMock: AwsClientStub<SFNClient>;
  /** Sends one request through the Lambda handler, as API Gateway (HTTP API, payload v2) would. */
  request(method: string, path: string, options?: RequestOptions): Promise<ApiResponse>;
}

/**
 * The task test environment (dynalite, in-memory S3, clock, logger) plus the API: ApiDeps over
 * the same store and objects, a mocked SFNClient whose StartExecution answers with the
 * execution's ARN (reset after each test), and the middy handler.
 */
export function useApiTestEnv(): () => ApiTestEnv {
  const task = useTaskTestEnv();
  const sfnMock = mockClient(SFNClient);
  let current: ApiTestEnv | undefined;

  beforeEach(() => {
    sfnMock.reset();
    sfnMock.on(StartExecutionCommand).callsFake(startedExecution);
  });
  afterEach(() => {
    sfnMock.reset();
    current = undefined;
  });
  afterAll(() => {
    sfnMock.restore();
  });

  return () => {
    if (current) return current;
    const env = task();
    const api: ApiDeps = {
      store: env.store,
      objects: env.objects,
      jobTypes: env.deps.jobTypes,
      clock: env.clock,
      logger: env.logger,
      sfn: new SFNClient({ region: TEST_REGION, credentials: { accessKeyId: 'test', secretAccessKey: 'test' } }),
      stateMachineArn: TEST_STATE_MACHINE_ARN,
      region: TEST_REGION,
    };
    const handler = createApiHandler(api);
    const created: ApiTestEnv = {
      ...env,
      api,
      sfnMock,
      request: async (method, path, options = {}) =>
        toResponse(await handler(httpEvent(method, path, options), lambdaContext())),
    };
    current = created;
    return created;
  };
}

/**
 * What StartExecution answers by default. A test that makes it fail first chains this after,
 * since `.on(StartExecutionCommand)` replaces the default: `.rejectsOnce(e).callsFake(startedExecution)`.
 */
export function startedExecution(input: StartExecutionCommandInput): { executionArn: string; startDate: Date } {
  return { executionArn: executionArnOf(input.stateMachineArn ?? '', input.name ?? ''), startDate: new Date() };
}

/** The job id the API derives from an Idempotency-Key. */
export function jobIdForKey(idempotencyKey: string): string {
  return `job-${createHash('sha256').update(idempotencyKey).digest('hex').slice(0, 32)}`;
}

/** The route API Gateway would match, with its path parameters; `$default` when none does. */
function matchRoute(method: string, path: string): { routeKey: string; pathParameters?: Record<string, string> } {
  for (const route of API_ROUTES) {
    if (route.method !== method) continue;
    const names: string[] = [];
    const pattern = route.path.replace(/\{([^}]+)\}/g, (_, name: string) => {
      names.push(name);
      return '([^/]+)';
    });
    const match = new RegExp(`^${pattern}$`).exec(path);
    if (!match) continue;
    const routeKey = `${route.method} ${route.path}`;
    if (names.length === 0) return { routeKey };
    return {
      routeKey,
      pathParameters: Object.fromEntries(names.map((name, i) => [name, decodeURIComponent(match[i + 1] ?? '')])),
    };
  }
  return { routeKey: '$default' };
}

/** An API Gateway HTTP API (payload v2) event for one request. */
export function httpEvent(method: string, path: string, options: RequestOptions = {}): APIGatewayProxyEventV2 {
  const { routeKey, pathParameters } = matchRoute(method, path);
  const query = options.query;
  const rawQueryString = query ? new URLSearchParams(query).toString() : '';
  const text =
    options.body === undefined
      ? undefined
      : typeof options.body === 'string'
        ? options.body
        : JSON.stringify(options.body);
  const headers: Record<string, string> = {
    host: 'api.example.test',
    'user-agent': 'jest',
    ...(text !== undefined ? { 'content-type': 'application/json' } : {}),
    ...options.headers,
  };
  return {
    version: '2.0',
    routeKey,
    rawPath: path,
    rawQueryString,
    headers,
    ...(query ? { queryStringParameters: { ...query } } : {}),
    ...(pathParameters ? { pathParameters } : {}),
    requestContext: {
      accountId: '123456789012',
      apiId: 'api123',
      domainName: 'api.example.test',
      domainPrefix: 'api',
      http: { method, path, protocol: 'HTTP/1.1', sourceIp: '203.0.113.7', userAgent: 'jest' },
      requestId: randomUUID(),
      routeKey,
      stage: '$default',
      time: '02/Mar/2026:09:00:00 +0000',
      timeEpoch: Date.parse('2026-03-02T09:00:00Z'),
    },
    ...(text !== undefined
      ? {
          body: options.base64 ? Buffer.from(text, 'utf8').toString('base64') : text,
          isBase64Encoded: options.base64 ?? false,
        }
      : { isBase64Encoded: false }),
  };
}

/** Enough of a Lambda context for middy; the remaining time is long, so middy's early timeout never fires. */
export function lambdaContext(): Context {
  return {
    callbackWaitsForEmptyEventLoop: false,
    functionName: 'llm-batch-api',
    functionVersion: '$LATEST',
    invokedFunctionArn: 'arn:aws:lambda:us-east-1:123456789012:function:llm-batch-api',
    memoryLimitInMB: '512',
    awsRequestId: randomUUID(),
    logGroupName: '/aws/lambda/llm-batch-api',
    logStreamName: '2026/03/02/[$LATEST]test',
    getRemainingTimeInMillis: () => 60_000,
    done: () => undefined,
    fail: () => undefined,
    succeed: () => undefined,
  };
}

function toResponse(result: HttpResult): ApiResponse {
  const headers = Object.fromEntries(
    Object.entries(result.headers ?? {}).map(([key, value]) => [key.toLowerCase(), String(value)]),
  );
  const text = result.body ?? '';
  let json: unknown;
  if (headers['content-type']?.startsWith('application/json')) json = JSON.parse(text) as unknown;
  return { status: result.statusCode ?? 200, headers, text, json };
}

// ------------------------------------------------------------------ shapes of answers

export interface ApiIssue {
  where: string;
  message: string;
}

export interface ApiError {
  error: { code: string; message: string; issues?: ApiIssue[]; registered?: string[] };
}

/** The error of a non-2xx answer. */
export function errorOf(response: ApiResponse): ApiError['error'] {
  const body = response.json as Partial<ApiError> | undefined;
  if (!body?.error) throw new Error(`expected an error answer, got ${response.status}: ${response.text}`);
  return body.error;
}

/** The job view GET /jobs/{id}, POST /jobs and POST /jobs/{id}/cancel answer with (the parts tests read). */
export interface JobView {
  jobId: string;
  jobType: string;
  status: string;
  cancelRequested?: boolean;
  counts: { total: number; submitted: number; succeeded: number; failed: number; cancelled: number };
  progress: { finished: number; total: number; percent: number };
  execution: { arn: string; consoleUrl: string } | null;
  links: Record<string, string>;
  createdAt: string;
  updatedAt: string;
  [field: string]: unknown;
}

export function jobOf(response: ApiResponse): JobView {
  const body = response.json as JobView | undefined;
  if (!body?.jobId) throw new Error(`expected a job, got ${response.status}: ${response.text}`);
  return body;
}

// ------------------------------------------------------------------ requests

/** A POST /jobs body for a `prompt` job of `count` items. */
export function promptJobBody(count: number, options: Record<string, unknown> = {}): Record<string, unknown> {
  return { jobType: 'prompt', options: { model: TEST_MODEL, ...options }, items: promptLines(count) };
}

/** Creates a job through POST /jobs and returns its view; fails the test on anything but 202. */
export async function postJob(env: ApiTestEnv, body: unknown, headers: Record<string, string> = {}): Promise<JobView> {
  const response = await env.request('POST', '/jobs', { body, headers });
  if (response.status !== 202) throw new Error(`POST /jobs answered ${response.status}: ${response.text}`);
  return jobOf(response);
}
