import { HttpError } from './http-error.js';
import type { Outcomes } from './outcomes.js';
import type { RateLimiter } from './request-limits.js';
import { apiError, permanentErrorBody, serverErrorBody } from './shapes.js';

export interface AdmissionRequest {
  /** Tokens charged against the TPM limit (0 for a batch create). */
  tokens: number;
  /** The request's content key (outcomes.ts). */
  key: string;
  /** Whether permanentErrorRate applies (it does to model requests, not to batch creation). */
  canFailPermanently: boolean;
}

/**
 * The gate every create call passes, in order: the rate limits (429), the permanent fate of the
 * request (400, same on every attempt), then this attempt's transient fate (500/503). Returns the
 * x-ratelimit-* headers for the answer; throws the HttpError to answer otherwise.
 */
export function admit(limiter: RateLimiter, outcomes: Outcomes, request: AdmissionRequest): Record<string, string> {
  const verdict = limiter.admit(request.tokens);
  if (!verdict.ok) {
    throw new HttpError(429, apiError(verdict.message, verdict.kind, 'rate_limit_exceeded'), verdict.headers);
  }
  if (request.canFailPermanently && outcomes.failsPermanently(request.key)) {
    throw new HttpError(400, permanentErrorBody(), verdict.headers);
  }
  const transient = outcomes.transientFailure(request.key);
  if (transient !== undefined) throw new HttpError(transient, serverErrorBody(transient), verdict.headers);
  return verdict.headers;
}
