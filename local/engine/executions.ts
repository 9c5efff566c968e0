/** What the local Step Functions API says about executions. */
import { ExecutionAbortedError, ExecutionError, ExecutionTimeoutError } from 'aws-local-stepfunctions';
import { errorMessageOf } from './errors.js';

export type ExecutionStatus = 'RUNNING' | 'SUCCEEDED' | 'FAILED' | 'TIMED_OUT' | 'ABORTED';

export interface ExecutionDescription {
  executionArn: string;
  stateMachineArn: string;
  name: string;
  status: ExecutionStatus;
  startDate: Date;
  stopDate?: Date;
  /** JSON text, as Step Functions returns it. */
  input: string;
  /** JSON text, when SUCCEEDED. */
  output?: string;
  error?: string;
  cause?: string;
  /** How many times it was redriven, and when last. */
  redriveCount: number;
  redriveDate?: Date;
}

/** What ListExecutions shows of an execution. */
export type ExecutionListItem = Pick<
  ExecutionDescription,
  'executionArn' | 'stateMachineArn' | 'name' | 'status' | 'startDate' | 'stopDate'
>;

export interface LocalStepFunctionsStats {
  /** Top-level executions started. */
  executions: number;
  /** Distributed Map child executions started. */
  childExecutions: number;
  /** States entered, in every execution (children and inline Map iterations included). */
  stateTransitions: number;
  /** Calls of the task implementations (retries included). */
  taskInvocations: number;
  /** Distributed Map children running now, and the most there ever were at once. */
  runningChildren: number;
  peakRunningChildren: number;
}

export type ExecutionEndedListener = (execution: ExecutionDescription) => void | Promise<void>;

/** What a finished engine run ended as. */
export function outcomeOf(error: unknown): { status: ExecutionStatus; error?: string; cause?: string } {
  if (error instanceof ExecutionTimeoutError)
    return { status: 'TIMED_OUT', error: 'States.Timeout', cause: 'The execution ran past its TimeoutSeconds' };
  if (error instanceof ExecutionAbortedError) return { status: 'ABORTED' };
  if (error instanceof ExecutionError && error.cause instanceof Error) {
    return { status: 'FAILED', error: error.cause.name, cause: error.cause.message };
  }
  return { status: 'FAILED', error: 'States.Runtime', cause: errorMessageOf(error) };
}
