import type { ProviderAnswer } from '../provider/rate-limit-headers.js';
import { learn, penalize, type BucketParams, type BucketState } from './bucket.js';
import type { SharedBucket } from './shared-bucket.js';

/** The latest limits read from the provider's x-ratelimit-limit-* headers in this process. */
export interface ObservedLimits {
  requests?: number;
  tokens?: number;
}

export interface LimitLearningOptions {
  params: BucketParams;
  clock: () => number;
  /** Shared by every limiter of the key in the process (see RateLimiterOptions.observed). */
  observed: ObservedLimits;
  /** Told about a failed background write; learning carries on. */
  onError: (message: string, error: unknown) => void;
}

/**
 * What the provider's answers teach the shared bucket: the limits in the x-ratelimit-limit-*
 * headers, and the pace cut and pause of a 429 (AIMD: bucket.ts computes both). The writes are
 * best effort: a failure is reported and the limiter carries on.
 */
export class LimitLearning {
  /** The writes of the 429s seen so far, one after the other. */
  private penalties: Promise<void> = Promise.resolve();
  /** How long the shared bucket is paused by this process's own writes. */
  private sharedPauseUntil = 0;
  /** The limits ("requests/tokens") a background write is recording now. */
  private limitsBeingWritten: string | undefined;
  private readonly background = new Set<Promise<void>>();

  constructor(
    private readonly bucket: SharedBucket,
    private readonly options: LimitLearningOptions,
  ) {}

  /**
   * A 429: pauses the shared bucket until `resumeAt` and voids every reservation, so every
   * process backs off, and cuts the pace. The 429s of one burst share one write.
   */
  pauseSharedBucket(resumeAt: number): Promise<void> {
    const { params, clock, onError } = this.options;
    const previous = this.penalties.catch(() => undefined);
    this.penalties = previous.then(async () => {
      // The write for an earlier 429 of the same burst covers this one (the restart margin absorbs it).
      if (resumeAt <= this.sharedPauseUntil + params.marginMs) return;
      try {
        await this.bucket.update((state) => {
          const at = clock();
          return penalize(state, at, resumeAt - at, params);
        });
        this.sharedPauseUntil = Math.max(this.sharedPauseUntil, resumeAt);
      } catch (error) {
        // Best effort: this process pauses anyway, and the next 429 elsewhere pauses the rest.
        onError('could not pause the shared rate limit after a 429', error);
      }
    });
    return this.penalties;
  }

  /**
   * Learns the limits from an answer's x-ratelimit-limit-* headers. Writes only when they differ
   * from what the bucket holds, in the background.
   */
  observe(answer: ProviderAnswer): void {
    const { limitRequests, limitTokens } = answer.rateLimit;
    if (limitRequests === undefined && limitTokens === undefined) return;
    const { observed, params, clock, onError } = this.options;
    if (limitRequests !== undefined) observed.requests = limitRequests;
    if (limitTokens !== undefined) observed.tokens = limitTokens;
    const known = this.bucket.snapshot();
    if (
      known?.learned &&
      (limitRequests ?? known.limitRequests) === known.limitRequests &&
      (limitTokens ?? known.limitTokens) === known.limitTokens
    ) {
      return;
    }
    const key = `${limitRequests}/${limitTokens}`;
    if (this.limitsBeingWritten === key) return;
    this.limitsBeingWritten = key;
    const limits = {
      ...(limitRequests !== undefined && { requests: limitRequests }),
      ...(limitTokens !== undefined && { tokens: limitTokens }),
    };
    const work = this.bucket
      .update((state) => learn(state, clock(), limits, params))
      .catch((error: unknown) => onError('could not record the provider rate limit', error))
      .finally(() => {
        if (this.limitsBeingWritten === key) this.limitsBeingWritten = undefined;
        this.background.delete(work);
      });
    this.background.add(work);
  }

  /**
   * The state with the limits this process has seen but the bucket may not hold yet: a booking
   * writes them along, since a background write can lose every race to the bookings of many
   * submitters.
   */
  withObservedLimits(state: BucketState, now: number): BucketState {
    const { requests, tokens } = this.options.observed;
    if (requests === undefined && tokens === undefined) return state;
    const limits = { ...(requests !== undefined && { requests }), ...(tokens !== undefined && { tokens }) };
    return learn(state, now, limits, this.options.params) ?? state;
  }

  /** Resolves once the background writes started so far have ended. */
  async settled(): Promise<void> {
    await Promise.all([...this.background, this.penalties.catch(() => undefined)]);
  }
}
