import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { errorMessageOf, StepFunctionsApiError } from './errors.js';
import type { ExecutionStatus, LocalStepFunctions } from './local-step-functions.js';
import { listMapRunExecutions, mapRunOperations } from './sfn-map-run-operations.js';

/**
 * The Step Functions API over a LocalStepFunctions, on 127.0.0.1, in the service's JSON protocol
 * (POST /, `x-amz-target: AWSStepFunctions.<Operation>`, `application/x-amz-json-1.0`), so an
 * unchanged SFNClient with `endpoint` set talks to it. Operations: StartExecution,
 * DescribeExecution, StopExecution, ListExecutions, GetExecutionHistory, RedriveExecution, and the
 * map run ones (DescribeMapRun, ListMapRuns, ListExecutions by mapRunArn). Dates are epoch seconds.
 * Errors are 400 `{ "__type": "<Code>", "message" }`, which the SDK turns into its modelled
 * exceptions (ExecutionAlreadyExists, ExecutionDoesNotExist, ...).
 */

export interface StepFunctionsApi {
  /** e.g. http://127.0.0.1:41234 */
  url: string;
  close(): Promise<void>;
}

const TARGET_PREFIX = 'AWSStepFunctions.';
const MAX_BODY_BYTES = 1024 * 1024;
const STATUSES: ExecutionStatus[] = ['RUNNING', 'SUCCEEDED', 'FAILED', 'TIMED_OUT', 'ABORTED'];

class ApiError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly status = 400,
  ) {
    super(message);
  }
}

type Body = Record<string, unknown>;

function epochSeconds(date: Date | undefined): number | undefined {
  return date === undefined ? undefined : date.getTime() / 1000;
}

function requiredString(body: Body, field: string): string {
  const value = body[field];
  if (typeof value !== 'string' || !value)
    throw new ApiError(
      'ValidationException',
      `1 validation error detected: Value at '${field}' failed to satisfy constraint: Member must not be null`,
    );
  return value;
}

function optionalString(body: Body, field: string): string | undefined {
  const value = body[field];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string') throw new ApiError('ValidationException', `Value at '${field}' must be a string`);
  return value;
}

function optionalNumber(body: Body, field: string): number | undefined {
  const value = body[field];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'number') throw new ApiError('ValidationException', `Value at '${field}' must be a number`);
  return value;
}

function withoutUndefined(value: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined));
}

/** Drops input/output (and their details) from history event details, for includeExecutionData: false. */
function withoutData(details: unknown): unknown {
  if (typeof details !== 'object' || details === null) return details;
  return Object.fromEntries(
    Object.entries(details).filter(
      ([key]) => !['input', 'output', 'inputDetails', 'outputDetails', 'parameters'].includes(key),
    ),
  );
}

function operations(engine: LocalStepFunctions): Record<string, (body: Body) => Body> {
  const checkStateMachine = (arn: string | undefined) => {
    if (arn !== undefined && arn !== engine.stateMachineArn)
      throw new ApiError('StateMachineDoesNotExist', `State Machine Does Not Exist: '${arn}'`);
  };
  return {
    ...mapRunOperations(engine),
    StartExecution: (body) => {
      checkStateMachine(requiredString(body, 'stateMachineArn'));
      const name = optionalString(body, 'name');
      const input = optionalString(body, 'input');
      const started = engine.startExecution({
        ...(name === undefined ? {} : { name }),
        ...(input === undefined ? {} : { input }),
      });
      return { executionArn: started.executionArn, startDate: epochSeconds(started.startDate) };
    },
    DescribeExecution: (body) => {
      const d = engine.describeExecution(requiredString(body, 'executionArn'));
      return withoutUndefined({
        executionArn: d.executionArn,
        stateMachineArn: d.stateMachineArn,
        name: d.name,
        status: d.status,
        startDate: epochSeconds(d.startDate),
        stopDate: epochSeconds(d.stopDate),
        input: d.input,
        inputDetails: { included: true },
        output: d.output,
        outputDetails: d.output === undefined ? undefined : { included: true },
        error: d.error,
        cause: d.cause,
        redriveCount: d.redriveCount,
        redriveDate: epochSeconds(d.redriveDate),
        redriveStatus: d.redriveStatusReason === undefined ? 'REDRIVABLE' : 'NOT_REDRIVABLE',
        redriveStatusReason: d.redriveStatusReason,
      });
    },
    RedriveExecution: (body) => {
      const redriven = engine.redriveExecution(requiredString(body, 'executionArn'));
      return { redriveDate: epochSeconds(redriven.redriveDate) };
    },
    StopExecution: (body) => {
      const error = optionalString(body, 'error');
      const cause = optionalString(body, 'cause');
      const stopped = engine.stopExecution(requiredString(body, 'executionArn'), {
        ...(error === undefined ? {} : { error }),
        ...(cause === undefined ? {} : { cause }),
      });
      return { stopDate: epochSeconds(stopped.stopDate) };
    },
    ListExecutions: (body) => {
      if (body.mapRunArn !== undefined) return listMapRunExecutions(engine, body);
      checkStateMachine(requiredString(body, 'stateMachineArn'));
      const statusFilter = optionalString(body, 'statusFilter');
      if (statusFilter !== undefined && !STATUSES.includes(statusFilter as ExecutionStatus)) {
        throw new ApiError(
          'ValidationException',
          `Value '${statusFilter}' at 'statusFilter' failed to satisfy constraint: Member must satisfy enum value set: [${STATUSES.join(', ')}]`,
        );
      }
      const maxResults = optionalNumber(body, 'maxResults');
      const nextToken = optionalString(body, 'nextToken');
      const page = engine.listExecutions({
        ...(statusFilter === undefined ? {} : { statusFilter: statusFilter as ExecutionStatus }),
        ...(maxResults === undefined ? {} : { maxResults }),
        ...(nextToken === undefined ? {} : { nextToken }),
      });
      return withoutUndefined({
        executions: page.executions.map((e) =>
          withoutUndefined({ ...e, startDate: epochSeconds(e.startDate), stopDate: epochSeconds(e.stopDate) }),
        ),
        nextToken: page.nextToken,
      });
    },
    GetExecutionHistory: (body) => {
      const maxResults = optionalNumber(body, 'maxResults');
      const nextToken = optionalString(body, 'nextToken');
      const page = engine.getExecutionHistory(requiredString(body, 'executionArn'), {
        ...(maxResults === undefined ? {} : { maxResults }),
        ...(nextToken === undefined ? {} : { nextToken }),
        reverseOrder: body.reverseOrder === true,
      });
      const includeData = body.includeExecutionData !== false;
      return withoutUndefined({
        events: page.events.map((event) =>
          Object.fromEntries(
            Object.entries(event).map(([key, value]) => [
              key,
              key === 'timestamp'
                ? epochSeconds(value as Date)
                : key.endsWith('EventDetails') && !includeData
                  ? withoutData(value)
                  : value,
            ]),
          ),
        ),
        nextToken: page.nextToken,
      });
    },
  };
}

async function readBody(request: IncomingMessage): Promise<Body> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of request) {
    const buffer = chunk as Buffer;
    size += buffer.length;
    if (size > MAX_BODY_BYTES) throw new ApiError('ValidationException', 'the request body is too large');
    chunks.push(buffer);
  }
  const text = Buffer.concat(chunks).toString('utf8');
  if (!text) return {};
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    throw new ApiError('SerializationException', 'the request body is not JSON');
  }
  if (typeof body !== 'object' || body === null || Array.isArray(body))
    throw new ApiError('SerializationException', 'the request body must be a JSON object');
  return body as Body;
}

function send(response: ServerResponse, status: number, body: unknown, errorType?: string): void {
  const text = JSON.stringify(body);
  response.writeHead(status, {
    'content-type': 'application/x-amz-json-1.0',
    'content-length': Buffer.byteLength(text),
    'x-amzn-requestid': randomUUID(),
    ...(errorType ? { 'x-amzn-errortype': errorType } : {}),
  });
  response.end(text);
}

export async function startStepFunctionsApi(
  engine: LocalStepFunctions,
  options: { port?: number } = {},
): Promise<StepFunctionsApi> {
  const handlers = operations(engine);
  const server = createServer((request, response) => {
    void (async () => {
      try {
        if (request.method !== 'POST')
          throw new ApiError(
            'UnknownOperationException',
            `${request.method ?? 'GET'} is not an operation: POST to /`,
            400,
          );
        const target = request.headers['x-amz-target'];
        const operation =
          typeof target === 'string' && target.startsWith(TARGET_PREFIX)
            ? target.slice(TARGET_PREFIX.length)
            : undefined;
        const handler = operation === undefined ? undefined : handlers[operation];
        if (!handler)
          throw new ApiError('UnknownOperationException', `Unknown operation ${JSON.stringify(target ?? null)}`);
        const body = await readBody(request);
        send(response, 200, handler(body));
      } catch (error) {
        if (error instanceof ApiError)
          return send(response, error.status, { __type: error.code, message: error.message }, error.code);
        if (error instanceof StepFunctionsApiError)
          return send(response, 400, { __type: error.name, message: error.message }, error.name);
        send(response, 500, { __type: 'InternalFailure', message: errorMessageOf(error) }, 'InternalFailure');
      }
    })();
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((error) => (error ? reject(error) : resolve()));
        server.closeAllConnections();
      }),
  };
}
