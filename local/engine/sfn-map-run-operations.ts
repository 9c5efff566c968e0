/**
 * The Step Functions API's map run operations over a LocalStepFunctions: DescribeMapRun,
 * ListMapRuns and ListExecutions by mapRunArn (a map run's child executions), in the shapes AWS
 * answers (dates in epoch seconds).
 */
import { StepFunctionsApiError } from './errors.js';
import type { ExecutionStatus, LocalStepFunctions } from './local-step-functions.js';
import { mapRunCounts, type MapRunRecord } from './map-run-records.js';

type Body = Record<string, unknown>;

const epochSeconds = (date: Date | undefined) => (date === undefined ? undefined : date.getTime() / 1000);

function arnField(body: Body, field: string): string {
  const value = body[field];
  if (typeof value !== 'string' || !value)
    throw new StepFunctionsApiError(
      'ValidationException',
      `1 validation error detected: Value at '${field}' failed to satisfy constraint: Member must not be null`,
    );
  return value;
}

const optional = <T>(body: Body, field: string, type: 'string' | 'number'): T | undefined => {
  const value = body[field];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== type)
    throw new StepFunctionsApiError('ValidationException', `Value at '${field}' must be a ${type}`);
  return value as T;
};

/** DescribeMapRun's answer for one map run. */
export function describeMapRun(run: MapRunRecord): Body {
  return {
    mapRunArn: run.mapRunArn,
    executionArn: run.executionArn,
    status: run.status,
    startDate: epochSeconds(run.startDate),
    ...(run.stopDate ? { stopDate: epochSeconds(run.stopDate) } : {}),
    maxConcurrency: run.maxConcurrency,
    toleratedFailurePercentage: run.toleratedFailurePercentage,
    toleratedFailureCount: run.toleratedFailureCount,
    itemCounts: mapRunCounts(run, (child) => child.itemCount),
    executionCounts: mapRunCounts(run, () => 1),
    redriveCount: 0,
  };
}

/** DescribeMapRun and ListMapRuns, by operation name. */
export function mapRunOperations(engine: LocalStepFunctions): Record<string, (body: Body) => Body> {
  return {
    DescribeMapRun: (body) => describeMapRun(engine.mapRuns.get(arnField(body, 'mapRunArn'))),
    ListMapRuns: (body) => {
      const executionArn = arnField(body, 'executionArn');
      engine.describeExecution(executionArn); // ExecutionDoesNotExist for an unknown one
      return {
        mapRuns: engine.mapRuns.ofExecution(executionArn).map((run) => ({
          executionArn: run.executionArn,
          mapRunArn: run.mapRunArn,
          stateMachineArn: run.stateMachineArn,
          startDate: epochSeconds(run.startDate),
          ...(run.stopDate ? { stopDate: epochSeconds(run.stopDate) } : {}),
        })),
      };
    },
  };
}

/** ListExecutions with a mapRunArn: that map run's children, newest first. */
export function listMapRunExecutions(engine: LocalStepFunctions, body: Body): Body {
  const maxResults = optional<number>(body, 'maxResults', 'number');
  const nextToken = optional<string>(body, 'nextToken', 'string');
  const statusFilter = optional<ExecutionStatus>(body, 'statusFilter', 'string');
  const run = engine.mapRuns.get(arnField(body, 'mapRunArn'));
  const page = engine.mapRuns.listChildren(run.mapRunArn, {
    ...(statusFilter === undefined ? {} : { statusFilter }),
    ...(maxResults === undefined ? {} : { maxResults }),
    ...(nextToken === undefined ? {} : { nextToken }),
  });
  return {
    executions: page.children.map((child) => ({
      executionArn: child.executionArn,
      stateMachineArn: run.stateMachineArn,
      name: child.executionArn.slice(child.executionArn.lastIndexOf(':') + 1),
      status: child.status,
      startDate: child.startMs / 1000,
      ...(child.stopMs === undefined ? {} : { stopDate: child.stopMs / 1000 }),
      mapRunArn: run.mapRunArn,
      itemCount: child.itemCount,
      redriveCount: 0,
    })),
    ...(page.nextToken ? { nextToken: page.nextToken } : {}),
  };
}
