/**
 * Public AWS list prices (us-east-1, late 2026) used to estimate orchestration cost.
 * Estimates only: free tiers, data transfer and the provider's own bill are left out.
 */
export const AWS_PRICES = {
  /** Step Functions Standard, per state transition (Distributed Map children included). */
  stateTransition: 0.025 / 1000,
  /** Lambda, per request. */
  lambdaRequest: 0.2 / 1_000_000,
  /** Lambda arm64, per GB-second. */
  lambdaGbSecond: 0.0000133334,
  /** DynamoDB on-demand, per write and per read request unit. */
  dynamoWrite: 0.625 / 1_000_000,
  dynamoRead: 0.125 / 1_000_000,
  /** S3 Standard, per PUT/LIST and per GET request. */
  s3Put: 0.005 / 1000,
  s3Get: 0.0004 / 1000,
} as const;

/** Memory of the task functions (infra/task-function.ts). */
export const TASK_MEMORY_GB = 1;

export interface OrchestrationCounts {
  items: number;
  stateTransitions: number;
  taskInvocations: number;
  /** Total time spent in task code, in seconds (a proxy for Lambda duration). */
  taskSeconds: number;
  dynamoWrites: number;
  dynamoReads: number;
  s3Puts: number;
  s3Gets: number;
}

/** Estimated AWS cost of orchestrating one million items at the counted rates. */
export function costPerMillionItems(counts: OrchestrationCounts): { total: number; parts: Record<string, number> } {
  const perItem = (n: number) => (n / counts.items) * 1_000_000;
  const parts = {
    stepFunctions: perItem(counts.stateTransitions) * AWS_PRICES.stateTransition,
    lambdaRequests: perItem(counts.taskInvocations) * AWS_PRICES.lambdaRequest,
    lambdaCompute: perItem(counts.taskSeconds) * TASK_MEMORY_GB * AWS_PRICES.lambdaGbSecond,
    dynamo: perItem(counts.dynamoWrites) * AWS_PRICES.dynamoWrite + perItem(counts.dynamoReads) * AWS_PRICES.dynamoRead,
    s3: perItem(counts.s3Puts) * AWS_PRICES.s3Put + perItem(counts.s3Gets) * AWS_PRICES.s3Get,
  };
  return { total: Object.values(parts).reduce((a, b) => a + b, 0), parts };
}
