import { CreateCounts } from './create-counts.js';

/** Counters for benchmarks and tests. */
export interface MockProviderStats {
  /** Calls by route, e.g. "POST /v1/responses", "GET /v1/batches/{id}". */
  calls: Record<string, number>;
  /** 429 answers (rate limited). */
  rateLimited: number;
  /** 5xx answers (transientErrorRate). */
  serverErrors: number;
  /** 400 answers (permanentErrorRate and malformed calls). */
  badRequests: number;
  /** Responses created (background or not). */
  responsesCreated: number;
  /** Chat completions answered. */
  chatCompletionsCreated: number;
  /** Batches created. */
  batchesCreated: number;
  /** Files uploaded. */
  filesUploaded: number;
  /** Accepted create calls per item (see StatsCounter.sent): how many items, calls, and the most for one item. */
  createsPerItem: { items: number; creates: number; max: number };
}

export { createsKey } from './create-counts.js';

export class StatsCounter {
  private readonly calls = new Map<string, number>();
  rateLimited = 0;
  serverErrors = 0;
  badRequests = 0;
  responsesCreated = 0;
  chatCompletionsCreated = 0;
  batchesCreated = 0;
  filesUploaded = 0;
  /**
   * Accepted create calls per item: a batch line counts under its custom_id, a response or chat
   * completion under its Idempotency-Key header (what the product sends: a hash of job id and
   * item id), else under `content:<hash of its body>`. Refused calls (429, 400, 5xx) do not count.
   */
  readonly createsByItem = new CreateCounts();
  private creates = 0;
  private mostForOneItem = 0;

  sent(itemKey: string): void {
    const count = this.createsByItem.add(itemKey);
    this.creates += 1;
    if (count > this.mostForOneItem) this.mostForOneItem = count;
  }

  call(route: string): void {
    this.calls.set(route, (this.calls.get(route) ?? 0) + 1);
  }

  answered(status: number): void {
    if (status === 429) this.rateLimited += 1;
    else if (status >= 500) this.serverErrors += 1;
    else if (status === 400) this.badRequests += 1;
  }

  snapshot(): MockProviderStats {
    return {
      calls: Object.fromEntries(this.calls),
      rateLimited: this.rateLimited,
      serverErrors: this.serverErrors,
      badRequests: this.badRequests,
      responsesCreated: this.responsesCreated,
      chatCompletionsCreated: this.chatCompletionsCreated,
      batchesCreated: this.batchesCreated,
      filesUploaded: this.filesUploaded,
      createsPerItem: { items: this.createsByItem.size, creates: this.creates, max: this.mostForOneItem },
    };
  }
}
