import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { Clock } from '../clock.js';
import type { JobOptions, OutputLine, ProviderRequest } from '../types.js';

/**
 * A job type (strategy pattern): turns one input line into a provider request and a provider
 * response into a result, and may apply that result elsewhere.
 *
 * Validation throws ValidationError whose `where` names the field (for example `custom_id` or
 * `params.labels`); callers prefix the line number.
 */
export interface JobType {
  readonly name: string;
  readonly description: string;
  /** Check the job's options (model, params) once, before anything is written. */
  validateOptions(options: JobOptions): void;
  /** Check one input line and return its custom id. */
  parseLine(line: Record<string, unknown>): { customId: string };
  /** The provider request for a line that passed parseLine. */
  toRequest(line: Record<string, unknown>, options: JobOptions): ProviderRequest;
  /** What the job type makes of a successful response (the text, a label...). */
  toResult?(output: OutputLine, options: JobOptions): unknown;
  /** Optional: apply a succeeded item's result elsewhere (for example flags on an entity table). */
  apply?(context: ApplyContext, item: AppliedItem): Promise<void>;
}

export interface ApplyContext {
  options: JobOptions;
  dynamo: DynamoDBDocumentClient;
  /** The process's one clock, for the times apply writes (default: the wall clock). */
  clock?: Clock;
}

export interface AppliedItem {
  jobId: string;
  customId: string;
  result: unknown;
  output: OutputLine;
}
