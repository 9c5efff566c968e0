/**
 * Errors of the local Step Functions runtime.
 *
 * - `LocalRuntimeError`: the definition asks for something the local runtime cannot honour (thrown
 *   at construction, never a silent no-op), or the runtime was configured wrongly.
 * - `StepFunctionsApiError`: what the Step Functions API answers with a 400 (ExecutionAlreadyExists,
 *   ExecutionDoesNotExist, ...); `name` is the API's error code.
 * - `StatesError`: an error raised inside an execution under a `States.*` name, so Retry/Catch see
 *   it as Step Functions would (the engine reads `isRetryable`/`isCatchable`).
 */

export class LocalRuntimeError extends Error {
  constructor(
    message: string,
    /** The state the problem is in, when there is one. */
    readonly stateName?: string,
    /** The field of that state (or of the definition) that cannot be honoured. */
    readonly field?: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.name = 'LocalRuntimeError';
  }
}

export type StepFunctionsApiErrorName =
  | 'ExecutionAlreadyExists'
  | 'ExecutionDoesNotExist'
  | 'ExecutionNotRedrivable'
  | 'InvalidArn'
  | 'InvalidName'
  | 'InvalidExecutionInput'
  | 'InvalidToken'
  | 'StateMachineDoesNotExist'
  | 'ResourceNotFound'
  | 'ValidationException';

export class StepFunctionsApiError extends Error {
  constructor(name: StepFunctionsApiErrorName, message: string) {
    super(message);
    this.name = name;
  }
}

/**
 * An error with a Step Functions error name. `States.Runtime` (and an execution being stopped) can
 * be neither retried nor caught, as on AWS; the others are ordinary catchable errors.
 */
export class StatesError extends Error {
  readonly isRetryable: boolean;
  readonly isCatchable: boolean;

  constructor(name: string, message: string, options: { terminal?: boolean; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = name;
    this.isRetryable = !options.terminal;
    this.isCatchable = !options.terminal;
  }
}

/** A failure that ends the execution whatever its Retry and Catch say (a bad path, a wrong type). */
export function statesRuntimeError(message: string): StatesError {
  return new StatesError('States.Runtime', message, { terminal: true });
}

/** Thrown into the engine when a stopped execution tries to go on (a retry, a next task). */
export function executionStoppedError(): StatesError {
  return new StatesError('States.Aborted', 'the execution was stopped', { terminal: true });
}

export function errorMessageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
