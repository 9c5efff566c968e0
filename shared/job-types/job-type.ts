import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { Clock } from '../clock.js';
import type { JobOptions, OutputLine, ProviderRequest } from '../types.js';

/**
 * A job type (strategy pattern): turns one input line into a provider request and a provider
 * response into a result, and may apply that result elsewhere. The job's options (model,
 * params) are parsed and checked once, by `compile`; the compiled form then serves every line
 * of a batch (submit) or of a job (intake) without parsing them again.
 *
 * Validation throws ValidationError whose `where` names the field (for example `custom_id` or
 * `params.labels`); callers prefix the line number.
 */
export interface JobType {
  readonly name: string;
  readonly description: string;
  /** Checks the job's options (model, params) and binds the job type to them. */
  compile(options: JobOptions): CompiledJobType;
  /** Check one input line and return its custom id. */
  parseLine(line: Record<string, unknown>): { customId: string };
  /** Optional: apply a succeeded item's result elsewhere (for example flags on an entity table). */
  apply?(context: ApplyContext, item: AppliedItem): Promise<void>;
}

/** A job type bound to one job's options, checked already. */
export interface CompiledJobType {
  /** The provider request for a line that passed parseLine. */
  toRequest(line: Record<string, unknown>): ProviderRequest;
  /** What the job type makes of a successful response (the text, a label...). */
  toResult?(output: OutputLine): unknown;
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
