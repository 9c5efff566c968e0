import { Duration } from 'aws-cdk-lib';
import { Errors, JitterType, type RetryProps, type TaskStateBase } from 'aws-cdk-lib/aws-stepfunctions';
import { RETRYABLE_ERROR_NAMES } from '../shared/errors.js';

/** Lambda service hiccups, as Step Functions names them. */
export const LAMBDA_SERVICE_ERRORS = [
  'Lambda.ServiceException',
  'Lambda.AWSLambdaException',
  'Lambda.SdkClientException',
  'Lambda.TooManyRequestsException',
  'Lambda.ClientExecutionTimeoutException',
];

/** AWS SDK errors a task lets through when DynamoDB or S3 throttles it. */
export const AWS_THROTTLING_ERRORS = [
  'ProvisionedThroughputExceededException',
  'ThrottlingException',
  'RequestLimitExceeded',
  'SlowDown',
  'InternalServerError',
];

/**
 * Retries every task gets, matched by error name (see shared/errors.ts). Jitter spreads the
 * retries of thousands of concurrent children so they do not hit the provider in waves.
 */
export const TASK_RETRIES: readonly RetryProps[] = [
  {
    errors: [RETRYABLE_ERROR_NAMES.rateLimited],
    interval: Duration.seconds(5),
    backoffRate: 2,
    maxAttempts: 8,
    maxDelay: Duration.minutes(2),
    jitterStrategy: JitterType.FULL,
  },
  {
    errors: [RETRYABLE_ERROR_NAMES.providerUnavailable],
    interval: Duration.seconds(10),
    backoffRate: 2,
    maxAttempts: 6,
    maxDelay: Duration.minutes(5),
    jitterStrategy: JitterType.FULL,
  },
  {
    // Another invocation holds a submit claim; it finishes or its lease (Lambda timeout + 1 min) runs out.
    errors: [RETRYABLE_ERROR_NAMES.submissionInProgress],
    interval: Duration.seconds(30),
    backoffRate: 2,
    maxAttempts: 5,
    jitterStrategy: JitterType.FULL,
  },
  {
    errors: [...LAMBDA_SERVICE_ERRORS, ...AWS_THROTTLING_ERRORS],
    interval: Duration.seconds(2),
    backoffRate: 2,
    maxAttempts: 6,
    jitterStrategy: JitterType.FULL,
  },
  {
    // The function ran out of time (a slow provider); the retry resumes where it stopped.
    errors: ['Sandbox.Timedout', Errors.TIMEOUT],
    interval: Duration.seconds(5),
    backoffRate: 2,
    maxAttempts: 2,
  },
];

export function addTaskRetries<T extends TaskStateBase>(task: T): T {
  for (const retry of TASK_RETRIES) task.addRetry(retry);
  return task;
}
